"""Sign-up: the number, the code and an optional (or required) password."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from flask_sms_otp.testing import outbox

from ..helpers import (
    PASSWORD,
    PLAIN_HTTP,
    AppFactory,
    csrf_of,
    last_code,
    sign_in_with_password,
    signed_in,
    submit,
)
from .helpers import UNKNOWN, Page, error_text


def test_sign_up_with_a_password_signs_in_and_goes_to_next(
    site: Flask, visitor: FlaskClient
) -> None:
    response = submit(visitor, "/auth/sign-up?next=/welcome", {"phone": "(201) 555-0124"})
    assert response.status_code == 400  # a national number needs SMS_OTP_DEFAULT_REGION
    response = submit(visitor, "/auth/sign-up?next=/welcome", {"phone": "+1 201 555 0124"})
    assert response.status_code == 302
    assert response.location == "/auth/sign-up/verify?next=/welcome"
    assert [(sms.to, sms.usage) for sms in outbox] == [(UNKNOWN, "Register")]
    page = visitor.get(response.location)
    assert "+1 201-555-0124" in page.text
    done = visitor.post(
        response.location,
        data={"csrf_token": csrf_of(page.text), "code": last_code(), "password": PASSWORD},
    )
    assert done.status_code == 302
    assert done.location == "/welcome"
    assert signed_in(visitor)
    visitor.post("/auth/sign-out", data={"csrf_token": csrf_of(visitor.get("/auth/account").text)})
    assert sign_in_with_password(visitor, UNKNOWN).status_code == 302


def test_sign_up_without_a_password_when_optional(visitor: FlaskClient) -> None:
    response = submit(visitor, "/auth/sign-up", {"phone": UNKNOWN})
    done = submit(visitor, response.location, {"code": last_code(), "password": ""})
    assert done.location == "/"
    assert "Not set" in visitor.get("/auth/account").text


def test_sign_up_needs_a_password_when_required(make_app: AppFactory) -> None:
    visitor = make_app(SMS_OTP_PASSWORD_REQUIRED=True, **PLAIN_HTTP).test_client()
    response = submit(visitor, "/auth/sign-up", {"phone": UNKNOWN})
    page = visitor.get(response.location)
    assert "Choose a password (optional)" not in page.text
    assert Page(page.text).field("password").get("autocomplete") == "new-password"
    failed = visitor.post(
        response.location,
        data={"csrf_token": csrf_of(page.text), "code": last_code(), "password": ""},
    )
    assert failed.status_code == 400
    assert error_text(failed.text, "password") == "Choose a password."
    short = submit(visitor, response.location, {"code": last_code(), "password": "short"})
    assert short.status_code == 400
    assert "at least 8 characters" in error_text(short.text, "password")
    assert not signed_in(visitor)
