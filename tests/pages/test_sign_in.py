"""Sign-in with a password or a code, the second step (two-step verification), and a fresh
session at each sign-in."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_sms_otp.sessions import FLOW
from flask_sms_otp.testing import outbox

from ..helpers import (
    PASSWORD,
    PLAIN_HTTP,
    AppFactory,
    FakeClock,
    add_user,
    last_code,
    sign_in_with_password,
    signed_in,
    submit,
)
from .helpers import KNOWN, NEW_PASSWORD, UNKNOWN, check_accessible, error_text, session_cookie


def test_missing_password_is_shown_on_its_field(visitor: FlaskClient) -> None:
    failed = submit(visitor, "/auth/sign-in", {"phone": KNOWN, "password": ""})
    assert failed.status_code == 400
    assert error_text(failed.text, "password") == "Enter your password."


@pytest.mark.parametrize("method", ["password", "code"])
def test_signing_in_starts_a_fresh_session(visitor: FlaskClient, member: Any, method: str) -> None:
    visitor.get("/auth/sign-in")
    with visitor.session_transaction() as session:
        session["planted_before_login"] = "attacker"
    before = session_cookie(visitor)
    if method == "password":
        assert sign_in_with_password(visitor).status_code == 302
    else:
        step = submit(visitor, "/auth/sign-in/code", {"phone": KNOWN}).location
        assert submit(visitor, step, {"code": last_code()}).status_code == 302
    with visitor.session_transaction() as session:
        assert "planted_before_login" not in session
        assert FLOW not in session
        assert "_user_id" in session
    assert session_cookie(visitor) != before


def test_sign_in_by_code(visitor: FlaskClient, member: Any) -> None:
    page = visitor.get("/auth/sign-in")
    assert 'href="/auth/sign-in/code"' in page.text
    step = submit(visitor, "/auth/sign-in/code?next=/after", {"phone": "+1 (201) 555-0123"})
    assert step.location == "/auth/sign-in/code/verify?next=/after"
    assert [(sms.to, sms.usage) for sms in outbox] == [(KNOWN, "SignIn")]
    done = submit(visitor, step.location, {"code": last_code()})
    assert done.location == "/after"
    assert signed_in(visitor)


def test_a_stranger_cannot_sign_in_by_code(visitor: FlaskClient) -> None:
    step = submit(visitor, "/auth/sign-in/code", {"phone": UNKNOWN}).location
    for code in ("000000", "123456"):
        assert submit(visitor, step, {"code": code}).status_code == 400
    assert outbox == []
    assert not signed_in(visitor)


def test_sign_in_methods_follow_the_config(make_app: AppFactory) -> None:
    code_only = make_app(SMS_OTP_SIGN_IN_METHODS=["code"], **PLAIN_HTTP).test_client()
    assert code_only.get("/auth/sign-in?next=/x").location == "/auth/sign-in/code?next=/x"
    password_only = make_app(SMS_OTP_SIGN_IN_METHODS=["password"], **PLAIN_HTTP).test_client()
    assert password_only.get("/auth/sign-in/code").status_code == 404
    assert "/auth/sign-in/code" not in password_only.get("/auth/sign-in").text


@pytest.fixture
def mfa_member(site: Flask) -> Any:
    return add_user(site, mfa_enabled=True)


def test_mfa_sign_in_needs_the_code(visitor: FlaskClient, mfa_member: Any) -> None:
    response = submit(visitor, "/auth/sign-in?next=/after", {"phone": KNOWN, "password": PASSWORD})
    assert response.location == "/auth/mfa?next=/after"
    assert [(sms.to, sms.usage) for sms in outbox] == [(KNOWN, "MfaVerification")]
    assert not signed_in(visitor)  # check 28: half signed in is not signed in
    page = visitor.get("/auth/mfa?next=/after")
    assert "your phone ending in 0123" in page.text
    assert KNOWN not in page.text
    check_accessible(page.text)
    assert submit(visitor, "/auth/mfa?next=/after", {"code": "000000"}).status_code == 400
    done = submit(visitor, "/auth/mfa?next=/after", {"code": last_code()})
    assert done.location == "/after"
    assert signed_in(visitor)


def test_too_many_mfa_failures_end_the_pending_sign_in(
    visitor: FlaskClient, mfa_member: Any
) -> None:
    sign_in_with_password(visitor)
    right = last_code()
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(5):
        assert submit(visitor, "/auth/mfa", {"code": wrong}).status_code == 400
    ended = submit(visitor, "/auth/mfa", {"code": right})
    assert ended.status_code == 429
    assert "Please sign in again." in ended.text
    assert 'href="/auth/sign-in"' in ended.text
    assert visitor.get("/auth/mfa").location == "/auth/sign-in"
    assert not signed_in(visitor)


def test_mfa_pending_state_expires(visitor: FlaskClient, mfa_member: Any, clock: FakeClock) -> None:
    sign_in_with_password(visitor)
    clock.advance(601)
    assert visitor.get("/auth/mfa").location == "/auth/sign-in"


def test_a_password_reset_meanwhile_ends_the_second_step(
    site: Flask, visitor: FlaskClient, mfa_member: Any
) -> None:
    sign_in_with_password(visitor)
    code = last_code()
    elsewhere = site.test_client()
    step = submit(elsewhere, "/auth/reset-password", {"phone": KNOWN}).location
    submit(elsewhere, step, {"code": last_code(), "password": NEW_PASSWORD})
    ended = submit(visitor, "/auth/mfa", {"code": code})
    assert ended.status_code == 400
    assert "The code is invalid or has expired." in ended.text
    assert 'href="/auth/sign-in"' in ended.text
    assert 'name="code"' not in ended.text  # no form for a code that can no longer work
    assert visitor.get("/auth/mfa").location == "/auth/sign-in"
    assert not signed_in(visitor)
