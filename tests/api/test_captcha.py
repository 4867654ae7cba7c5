"""The bot check through the JSON API, end to end: real requests through the test client,
real SQL, the memory connector's outbox, and a local fake of Turnstile's siteverify that
accepts one token. ``when``: always, guard (with a test double of the pumping guard), never;
the send limits are untouched by refused checks; holders and resends are never asked."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from pytest_httpserver import HTTPServer
from werkzeug.test import TestResponse

from flask_sms_otp import SmsOtp
from flask_sms_otp.connectors.memory import SentSms
from flask_sms_otp.errors import CaptchaFailed
from flask_sms_otp.state import get_state
from flask_sms_otp.testing import wait_for_sends

from ..helpers import (
    PASSWORD,
    PHONE,
    PLAIN_HTTP,
    US_PHONE,
    ApiClient,
    AppFactory,
    Siteverify,
    create_user,
    error_code,
    last_code,
    sent_to,
)

SITE_KEY = "0x4AAAAAAAsitekey"
SECRET = "0x4AAAAAAAsecret-never-shown"
GOOD = "a-token-the-fake-accepts"
NEW = "+447400123458"

#: What every answer is checked for.
answers: list[TestResponse] = []


@pytest.fixture
def siteverify(httpserver: HTTPServer) -> Siteverify:
    return Siteverify(httpserver, SECRET, GOOD)


@pytest.fixture
def captcha_app(
    make_app: AppFactory, siteverify: Siteverify, database_uri: str
) -> Callable[..., Flask]:
    """``captcha_app(when=..., **config)``: an app whose bot check is the fake's, on SQLite
    and on PostgreSQL."""

    def make(when: str = "always", **config: Any) -> Flask:
        captcha = {
            "provider": "turnstile",
            "site_key": SITE_KEY,
            "secret": SECRET,
            "when": when,
            "endpoint": siteverify.url,
        }
        return make_app(
            SQLALCHEMY_DATABASE_URI=database_uri,
            SMS_OTP_CAPTCHA=captcha,
            SMS_OTP_RESEND_COOLDOWN=0,
            **PLAIN_HTTP,
            **config,
        )

    return make


@pytest.fixture(autouse=True)
def no_secret_in_any_answer() -> Any:
    answers.clear()
    yield
    for response in answers:
        assert SECRET not in response.get_data(as_text=True)
        assert SECRET not in str(response.headers)


def send(
    client: ApiClient, phone: Any, usage: str = "Register", token: Any = None, **extra: Any
) -> TestResponse:
    body: dict[str, Any] = {"phone": phone, "usage": usage, **extra}
    if token is not None:
        body["captcha_token"] = token
    response = client.post("/verification-codes", body)
    answers.append(response)
    return response


def assert_captcha_failed(response: TestResponse) -> None:
    assert response.status_code == 400, response.get_json()
    assert response.get_json() == {
        "error": {
            "code": "captcha_failed",
            "message": "Please complete the check that you are not a robot.",
            "provider": "turnstile",
            "site_key": SITE_KEY,
        }
    }


class Held:
    """The pumping guard's test double: it holds every number, or none."""

    def __init__(self, seconds: int | None = 600) -> None:
        self.seconds = seconds
        self.asked: list[str] = []

    def retry_after(self, e164: str, now: datetime) -> int | None:
        self.asked.append(e164)
        return self.seconds


# when = "always" --------------------------------------------------------------------------


def test_always_no_token_no_sms_a_good_token_one(
    captcha_app: Callable[..., Flask], siteverify: Siteverify, sms_outbox: list[SentSms]
) -> None:
    app = captcha_app()
    client = ApiClient(app, ip="198.51.100.4")

    assert_captcha_failed(send(client, NEW))
    assert siteverify.forms == []  # no token: the provider is not asked
    assert_captcha_failed(send(client, NEW, token="a-token-the-fake-refuses"))
    assert len(siteverify.forms) == 1
    wait_for_sends(app)
    assert sms_outbox == []

    response = send(client, NEW, token=GOOD)
    assert response.status_code == 202, response.get_json()
    wait_for_sends(app)
    assert [m.to for m in sms_outbox] == [NEW]
    assert siteverify.forms[-1] == {
        "secret": [SECRET],
        "response": [GOOD],
        "remoteip": ["198.51.100.4"],
    }


@pytest.mark.parametrize("token", [42, True, ["a-token"], {"token": GOOD}, ""])
def test_a_token_that_is_not_text_is_no_token(
    captcha_app: Callable[..., Flask],
    siteverify: Siteverify,
    sms_outbox: list[SentSms],
    token: Any,
) -> None:
    app = captcha_app()
    response = ApiClient(app).post(
        "/verification-codes", {"phone": NEW, "usage": "Register", "captcha_token": token}
    )
    answers.append(response)
    assert_captcha_failed(response)
    assert siteverify.forms == []
    wait_for_sends(app)
    assert sms_outbox == []


@pytest.mark.real_limits
def test_refused_checks_spend_no_send_budget(
    captcha_app: Callable[..., Flask], siteverify: Siteverify, sms_outbox: list[SentSms]
) -> None:
    app = captcha_app(
        SMS_OTP_SEND_LIMIT_PER_NUMBER="2/hour",
        SMS_OTP_SEND_LIMIT_PER_IP="2/hour",
        SMS_OTP_SEND_LIMIT_PER_PREFIX="2/hour",
    )
    client = ApiClient(app)
    for attempt in range(6):
        assert_captcha_failed(send(client, NEW, token=None if attempt % 2 else "refused"))
    response = send(client, NEW, token=GOOD)
    assert response.status_code == 202, response.get_json()
    wait_for_sends(app)
    assert [m.to for m in sms_outbox] == [NEW]
    # The limits still hold for sends that passed the check.
    assert send(client, NEW, token=GOOD).status_code == 202
    assert error_code(send(client, NEW, token=GOOD)) == "rate_limited"


@pytest.mark.parametrize("usage", ["Register", "SignIn", "ForgotPassword"])
def test_every_usage_anyone_may_name_is_checked(
    captcha_app: Callable[..., Flask],
    siteverify: Siteverify,
    sms_outbox: list[SentSms],
    usage: str,
) -> None:
    app = captcha_app()
    create_user(app, PHONE)
    phone = NEW if usage == "Register" else PHONE
    client = ApiClient(app)
    assert_captcha_failed(send(client, phone, usage))
    wait_for_sends(app)
    assert sms_outbox == []
    assert send(client, phone, usage, token=GOOD).status_code == 202
    wait_for_sends(app)
    assert [m.usage for m in sent_to(sms_outbox, phone)] == [usage]


def test_a_new_phone_number_is_checked_but_the_accounts_own_are_not(
    captcha_app: Callable[..., Flask], siteverify: Siteverify, sms_outbox: list[SentSms]
) -> None:
    app = captcha_app()
    create_user(app, PHONE, mfa=True)
    client = ApiClient(app)
    # The second step of a password sign-in (MfaVerification) asks nothing.
    signed = client.sign_in_password(PHONE, PASSWORD)
    answers.append(signed)
    assert signed.get_json()["mfa_required"] is True
    mfa = client.post(
        "/mfa",
        {"verification_id": signed.get_json()["verification_id"], "code": last_code(PHONE)},
    )
    assert mfa.status_code == 200, mfa.get_json()
    for usage in ("UserPermissionValidation", "BindMfa"):
        response = send(client, None, usage)
        assert response.status_code == 202, response.get_json()
    assert [m.usage for m in sms_outbox] == [
        "MfaVerification",
        "UserPermissionValidation",
        "BindMfa",
    ]
    assert siteverify.forms == []
    assert client.verify_identity(sms_outbox).status_code == 200

    assert_captcha_failed(send(client, NEW, "BindNewIdentifier"))
    assert send(client, NEW, "BindNewIdentifier", token=GOOD).status_code == 202
    wait_for_sends(app)
    assert [m.usage for m in sent_to(sms_outbox, NEW)] == ["BindNewIdentifier"]


def test_a_resend_asks_no_check(
    captcha_app: Callable[..., Flask], siteverify: Siteverify, sms_outbox: list[SentSms]
) -> None:
    app = captcha_app()
    create_user(app, US_PHONE)
    client = ApiClient(app)
    first = send(client, US_PHONE, "SignIn", token=GOOD)
    assert first.status_code == 202
    vid = first.get_json()["verification_id"]
    resent = client.post(f"/verification-codes/{vid}/resend")
    answers.append(resent)
    assert resent.status_code == 202, resent.get_json()
    assert len(siteverify.forms) == 1
    wait_for_sends(app)
    assert len(sent_to(sms_outbox, US_PHONE)) == 2


def test_a_verification_endpoint_that_is_down_sends_nothing(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app(
        SMS_OTP_CAPTCHA={
            "provider": "hcaptcha",
            "site_key": SITE_KEY,
            "secret": SECRET,
            "endpoint": "http://127.0.0.1:1/siteverify",
        }
    )
    response = send(ApiClient(app), NEW, token=GOOD)
    assert response.status_code == 400
    assert response.get_json()["error"]["provider"] == "hcaptcha"
    wait_for_sends(app)
    assert sms_outbox == []


# when = "guard" and "never" --------------------------------------------------------------


def test_guard_asks_only_while_the_number_is_held(
    captcha_app: Callable[..., Flask], siteverify: Siteverify, sms_outbox: list[SentSms]
) -> None:
    app = captcha_app("guard")
    client = ApiClient(app)
    assert send(client, NEW).status_code == 202  # no hold: nothing asked
    assert siteverify.forms == []

    held = Held()
    get_state(app).challenges.guard = held
    other = "+447400123459"
    assert_captcha_failed(send(client, other))
    assert_captcha_failed(send(client, other, token="refused"))
    assert held.asked == [other, other]
    response = send(client, other, token=GOOD)
    assert response.status_code == 202, response.get_json()
    wait_for_sends(app)
    assert [m.to for m in sms_outbox] == [NEW, other]


def test_never_asks_and_leaves_holds_to_the_guard(
    captcha_app: Callable[..., Flask], siteverify: Siteverify, sms_outbox: list[SentSms]
) -> None:
    app = captcha_app("never")
    assert get_state(app).challenges.bot_check is None
    client = ApiClient(app)
    assert send(client, NEW).status_code == 202
    get_state(app).challenges.guard = Held()
    held = send(client, "+447400123459", token=GOOD)
    assert held.status_code == 429
    assert error_code(held) == "sends_held"
    assert siteverify.forms == []
    wait_for_sends(app)
    assert [m.to for m in sms_outbox] == [NEW]


def test_without_a_captcha_nothing_is_asked_and_the_token_is_ignored(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app()
    assert get_state(app).challenges.bot_check is None
    assert send(ApiClient(app), NEW, token="anything").status_code == 202


def test_the_openapi_document_has_the_token_and_the_errors_fields(
    captcha_app: Callable[..., Flask], siteverify: Siteverify
) -> None:
    app = captcha_app()
    client = ApiClient(app)
    doc = client.get("/openapi.json").get_json()
    operation = doc["paths"]["/verification-codes"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["captcha_token"]["type"] == "string"
    assert "captcha_token" not in body["required"]
    error = doc["components"]["schemas"]["Error"]["properties"]["error"]
    assert error["required"] == ["code", "message"]
    assert error["additionalProperties"] is False
    assert error["properties"]["provider"]["enum"] == ["turnstile", "hcaptcha", "recaptcha"]
    # A real refusal holds the documented fields and no others.
    refused = send(client, NEW).get_json()["error"]
    assert set(refused) == set(error["properties"])
    assert "captcha_failed" in operation["responses"]["400"]["description"]


def test_the_apps_own_send_code_passes_the_token_on(
    captcha_app: Callable[..., Flask], siteverify: Siteverify, sms_outbox: list[SentSms]
) -> None:
    app = captcha_app()
    sms_otp = app.extensions["sms_otp"]
    with app.test_request_context(environ_base={"REMOTE_ADDR": "192.0.2.9"}):
        with pytest.raises(CaptchaFailed):
            SmsOtp().send_code(NEW, "Register")
        SmsOtp().send_code(NEW, "Register", captcha_token=GOOD)
    wait_for_sends(app)
    assert [m.to for m in sms_outbox] == [NEW]
    assert siteverify.forms[-1]["remoteip"] == ["192.0.2.9"]
    assert sms_otp.challenges.bot_check is not None
