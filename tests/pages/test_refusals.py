"""Asking for a code refused: send limits, invalid numbers, a provider or the rate-limit
storage down. Each is a calm page with the right status, never a traceback."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_sms_otp.testing import fail_next_send, outbox

from ..helpers import PLAIN_HTTP, AppFactory, add_user, sign_in_with_password, submit
from .helpers import UNKNOWN, error_text


@pytest.mark.real_limits
def test_send_rate_limit_is_a_429_with_retry_after(make_app: AppFactory) -> None:
    config = {**PLAIN_HTTP, "SMS_OTP_SEND_LIMIT_PER_NUMBER": "2/hour"}
    visitor = make_app(**config).test_client()
    for _ in range(2):
        assert submit(visitor, "/auth/sign-up", {"phone": UNKNOWN}).status_code == 302
    limited = submit(visitor, "/auth/sign-up", {"phone": UNKNOWN})
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert "Too many requests. Try again in" in limited.text
    assert 'role="alert"' in limited.text
    assert len(outbox) == 2


@pytest.mark.parametrize(
    "phone",
    ["", "not a number", "+1" * 40, "+12001230101", "+449012345678", "+1 201 555 0123 ext 5"],
)
def test_invalid_numbers_are_shown_on_the_phone_field(visitor: FlaskClient, phone: str) -> None:
    for url in ("/auth/sign-up", "/auth/sign-in/code", "/auth/reset-password"):
        failed = submit(visitor, url, {"phone": phone})
        assert failed.status_code == 400
        assert error_text(failed.text, "phone") == "Enter a valid mobile phone number."
    assert outbox == []


def test_delivery_failure_outside_the_protected_usages_is_a_calm_503(
    site: Flask, visitor: FlaskClient
) -> None:
    add_user(site, mfa_enabled=True)
    with site.app_context():
        fail_next_send(app=site)
    failed = sign_in_with_password(visitor)
    assert failed.status_code == 503
    assert "could not be sent. Please try again later." in failed.text
    assert "Traceback" not in failed.text


@pytest.mark.real_limits
def test_rate_limit_storage_down_fails_closed_with_a_503(make_app: AppFactory) -> None:
    visitor = make_app(RATELIMIT_STORAGE_URI="redis://127.0.0.1:1", **PLAIN_HTTP).test_client()
    failed = submit(visitor, "/auth/sign-up", {"phone": UNKNOWN})
    assert failed.status_code == 503
    assert "The service is busy. Please try again later." in failed.text
    assert outbox == []
