"""The account pages: the phone number (change, remove), two-step verification on and off,
the password."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from flask_sms_otp.testing import fail_next_send, outbox

from ..helpers import (
    FakeClock,
    add_user,
    last_code,
    sign_in_with_password,
    signed_in,
    submit,
    verify_with_password,
)
from .helpers import KNOWN, NEW_PASSWORD, OTHER, error_text, user_row


def test_account_page_shows_phone_and_mfa(visitor: FlaskClient, member: Any) -> None:
    sign_in_with_password(visitor)
    page = visitor.get("/auth/account").text
    assert "+1 201-555-0123" in page
    assert "Two-step verification" in page
    assert "Off" in page


def test_change_phone(site: Flask, visitor: FlaskClient, member: Any) -> None:
    sign_in_with_password(visitor)
    first = visitor.get("/auth/account/phone")
    assert first.location == "/auth/verify-identity?next=/auth/account/phone"
    assert verify_with_password(visitor).status_code == 302
    step = submit(visitor, "/auth/account/phone", {"phone": OTHER})
    assert step.location == "/auth/account/phone/verify"
    assert [(sms.to, sms.usage) for sms in outbox] == [(OTHER, "BindNewIdentifier")]
    assert user_row(site, member).phone == KNOWN  # the old number holds until the code
    assert submit(visitor, step.location, {"code": "000000"}).status_code == 400
    done = submit(visitor, step.location, {"code": last_code(OTHER)})
    assert done.location == "/auth/account"
    assert "Your phone number was changed." in visitor.get("/auth/account").text
    assert user_row(site, member).phone == OTHER


def test_change_phone_to_a_taken_number_reveals_nothing(
    site: Flask, visitor: FlaskClient, member: Any
) -> None:
    add_user(site, OTHER)
    sign_in_with_password(visitor)
    verify_with_password(visitor)
    taken = submit(visitor, "/auth/account/phone", {"phone": OTHER})
    assert taken.location == "/auth/account/phone/verify"
    assert outbox == []
    assert submit(visitor, taken.location, {"code": "000000"}).status_code == 400


def test_remove_phone_needs_verification_and_a_password(site: Flask, visitor: FlaskClient) -> None:
    code_only = add_user(site, password=None)
    step = submit(visitor, "/auth/sign-in/code", {"phone": KNOWN}).location
    submit(visitor, step, {"code": last_code()})
    assert visitor.get("/auth/account/phone/remove").location == (
        "/auth/verify-identity?next=/auth/account/phone/remove"
    )
    sent = submit(visitor, "/auth/verify-identity", {}, to="/auth/verify-identity/send")
    submit(visitor, sent.location, {"code": last_code()})
    refused = submit(visitor, "/auth/account/phone/remove", {})
    assert refused.status_code == 409
    assert "Set a password before removing" in refused.text
    assert user_row(site, code_only).phone == KNOWN


def test_remove_phone(site: Flask, visitor: FlaskClient, member: Any) -> None:
    sign_in_with_password(visitor)
    verify_with_password(visitor)
    done = submit(visitor, "/auth/account/phone/remove", {})
    assert done.location == "/auth/account"
    assert user_row(site, member).phone is None
    assert "Add a phone number" in visitor.get("/auth/account").text


def test_mfa_on_with_a_code_then_off_after_verification(
    site: Flask, visitor: FlaskClient, member: Any, clock: FakeClock
) -> None:
    sign_in_with_password(visitor)
    step = submit(visitor, "/auth/account/mfa/enable", {})
    assert step.location == "/auth/account/mfa/verify"
    assert [(sms.to, sms.usage) for sms in outbox] == [(KNOWN, "BindMfa")]
    assert submit(visitor, step.location, {"code": "000000"}).status_code == 400
    assert submit(visitor, step.location, {"code": last_code()}).location == "/auth/account"
    assert user_row(site, member).mfa_enabled
    clock.advance(301)
    assert visitor.get("/auth/account/mfa/disable").location == (
        "/auth/verify-identity?next=/auth/account/mfa/disable"
    )
    verify_with_password(visitor)
    assert submit(visitor, "/auth/account/mfa/disable", {}).location == "/auth/account"
    assert not user_row(site, member).mfa_enabled


def test_mfa_enable_delivery_failure_is_a_503(
    site: Flask, visitor: FlaskClient, member: Any
) -> None:
    sign_in_with_password(visitor)
    with site.app_context():
        fail_next_send(app=site)
    failed = submit(visitor, "/auth/account/mfa/enable", {})
    assert failed.status_code == 503
    assert "could not be sent" in failed.text


def test_change_password(site: Flask, visitor: FlaskClient, member: Any) -> None:
    sign_in_with_password(visitor)
    assert visitor.get("/auth/account/password").status_code == 302
    verify_with_password(visitor)
    short = submit(visitor, "/auth/account/password", {"password": "short"})
    assert short.status_code == 400
    assert "at least 8 characters" in error_text(short.text, "password")
    done = submit(visitor, "/auth/account/password", {"password": NEW_PASSWORD})
    assert done.location == "/auth/account"
    assert signed_in(visitor)
    assert sign_in_with_password(site.test_client()).status_code == 401
    assert sign_in_with_password(site.test_client(), password=NEW_PASSWORD).status_code == 302
