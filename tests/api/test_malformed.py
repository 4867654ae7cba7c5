"""Malformed bodies are ``400 invalid_request`` before any flow runs: a string JSON can spell
but UTF-8 cannot hold (a lone surrogate), nesting deeper than the parser's recursion limit.
Nothing is spent: no code, no attempt, no password attempt."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from flask_sms_otp.testing import SentSms

from ..conftest import AppFactory, FakeClock
from .conftest import PASSWORD, PHONE, RELAXED_LIMITS, ApiClient, create_user, error_code, last_code
from .test_endpoints import BODIES, BODY_ENDPOINTS

#: A password JSON can carry (``"\ud800aaaaaaaa"``) but no password hash can read.
LONE_SURROGATE = "\ud800aaaaaaaa"
NEW_PASSWORD = "staple battery horse"
#: Room for one password attempt per address: a second one in the same minute is a 429.
ONE_PASSWORD_ATTEMPT = {**RELAXED_LIMITS, "SMS_OTP_PASSWORD_LIMIT_PER_IP": "1/minute"}


def raw_json(client: ApiClient, method: str, path: str, text: str, **kwargs: Any) -> TestResponse:
    """Send ``text`` as the JSON body, byte for byte (``\\ud800`` stays an escape)."""
    return client.open(method, path, data=text.encode(), content_type="application/json", **kwargs)


def as_json(body: dict[str, Any]) -> str:
    """JSON text in ASCII: a lone surrogate becomes the escape ``\\udXXX`` (valid JSON)."""
    return json.dumps(body)


def assert_invalid_request(response: TestResponse) -> None:
    assert (response.status_code, error_code(response)) == (400, "invalid_request")


@pytest.fixture
def app(make_app: AppFactory, clock: FakeClock) -> Flask:
    app = make_app(clock=clock, **ONE_PASSWORD_ATTEMPT)
    create_user(app, PHONE)
    return app


def test_a_lone_surrogate_password_at_sign_in_counts_no_attempt(app: Flask) -> None:
    client = ApiClient(app)
    body = as_json({"phone": PHONE, "password": LONE_SURROGATE})
    assert_invalid_request(raw_json(client, "POST", "/sign-in", body))
    # The address's one password attempt of the minute is still there.
    assert client.sign_in_password(PHONE).status_code == 200


def test_a_lone_surrogate_password_at_sign_up_spends_no_code(
    app: Flask, sms_outbox: list[SentSms]
) -> None:
    client = ApiClient(app)
    new_phone = "+447400123456"
    vid = client.request_code(new_phone, "Register")
    code = last_code(sms_outbox)
    body = as_json({"verification_id": vid, "code": code, "password": LONE_SURROGATE})
    assert_invalid_request(raw_json(client, "POST", "/sign-up", body))
    signed_up = client.post(
        "/sign-up", {"verification_id": vid, "code": code, "password": NEW_PASSWORD}
    )
    assert signed_up.status_code == 201, signed_up.get_json()
    assert client.signed_in_phone() == new_phone


def test_a_lone_surrogate_password_at_reset_spends_no_code(
    app: Flask, sms_outbox: list[SentSms]
) -> None:
    client = ApiClient(app)
    vid = client.request_code(PHONE, "ForgotPassword")
    code = last_code(sms_outbox)
    body = as_json({"verification_id": vid, "code": code, "password": LONE_SURROGATE})
    assert_invalid_request(raw_json(client, "POST", "/reset-password", body))
    reset = client.post(
        "/reset-password", {"verification_id": vid, "code": code, "password": NEW_PASSWORD}
    )
    assert reset.status_code == 204
    assert client.sign_in_password(PHONE, NEW_PASSWORD).status_code == 200


def test_a_lone_surrogate_password_at_verify_identity_counts_no_attempt(app: Flask) -> None:
    client = ApiClient(app)
    assert client.sign_in_password(PHONE).status_code == 200
    # From another address, whose one password attempt of the minute is untouched.
    elsewhere = "10.0.0.2"
    body = as_json({"password": LONE_SURROGATE})
    assert_invalid_request(raw_json(client, "POST", "/verify-identity", body, ip=elsewhere))
    verified = client.post("/verify-identity", {"password": PASSWORD}, ip=elsewhere)
    assert verified.status_code == 200, verified.get_json()


def test_a_lone_surrogate_new_password_changes_nothing(app: Flask) -> None:
    client = ApiClient(app)
    assert client.sign_in_password(PHONE).status_code == 200
    assert client.post("/verify-identity", {"password": PASSWORD}, ip="10.0.0.2").status_code == 200
    body = as_json({"password": LONE_SURROGATE})
    assert_invalid_request(raw_json(client, "PUT", "/account/password", body))
    assert client.signed_in_phone() == PHONE
    assert client.put("/account/password", {"password": NEW_PASSWORD}).status_code == 204
    assert ApiClient(app, ip="10.0.0.3").sign_in_password(PHONE, NEW_PASSWORD).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"phone": "+86138001\udfff38000", "usage": "SignIn"}, id="in-a-value"),
        pytest.param({"phone": PHONE, "usage": "SignIn", "\udc80": 1}, id="in-a-key"),
        pytest.param({"phone": PHONE, "usage": "SignIn", "x": [{"y": ["\ud83d"]}]}, id="nested"),
    ],
)
def test_a_lone_surrogate_anywhere_in_the_body_sends_nothing(
    app: Flask, sms_outbox: list[SentSms], body: dict[str, Any]
) -> None:
    client = ApiClient(app)
    assert_invalid_request(raw_json(client, "POST", "/verification-codes", as_json(body)))
    assert sms_outbox == []


def test_a_surrogate_pair_is_a_character_like_any_other(app: Flask) -> None:
    """``"\\ud83d\\ude00"`` is one emoji, which UTF-8 holds: a password like any other."""
    client = ApiClient(app)
    body = as_json({"phone": PHONE, "password": "\ud83d\ude00 " + PASSWORD})
    assert "\\ud83d\\ude00" in body
    response = raw_json(client, "POST", "/sign-in", body)
    assert (response.status_code, error_code(response)) == (401, "invalid_credentials")


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
def test_a_deeply_nested_body_is_invalid_request(
    app: Flask, sms_outbox: list[SentSms], method: str, path: str
) -> None:
    client = ApiClient(app)
    assert client.sign_in_password(PHONE).status_code == 200
    assert_invalid_request(raw_json(client, method, path, "[" * 100_000))
    assert_invalid_request(raw_json(client, method, path, '{"a": ' * 100_000))
    assert sms_outbox == []
    assert client.signed_in_phone() == PHONE  # nothing changed


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
def test_nesting_the_parser_can_read_is_just_a_wrong_field(
    app: Flask, method: str, path: str
) -> None:
    """Deep but readable: each field is judged as usual (a list is no phone or password)."""
    client = ApiClient(app)
    assert client.sign_in_password(PHONE).status_code == 200
    body = {**BODIES[path], "extra": [[[[[[[[[[[]]]]]]]]]]]}
    body = {key: [[[["x"]]]] if key != "extra" else value for key, value in body.items()}
    response = client.open(method, path, body)
    assert 400 <= response.status_code < 500
    error_code(response)
