"""A provider that fails (security.md §9, check 29): a calm 503 where the user is known, a
202 where the answer must not reveal an account, and in every case a closed challenge, a
counted send and a log line with the number masked and no code."""

from __future__ import annotations

import logging

import pytest
from flask import Flask

from flask_sms_otp import DeliveryError, ProviderRejected, ProviderUnavailable
from flask_sms_otp.testing import SentSms, fail_next_send, wait_for_sends

from ..helpers import (
    MASKED,
    OTHER_PHONE,
    PASSWORD,
    PHONE,
    ApiClient,
    AppFactory,
    FakeClock,
    challenges_for,
    create_user,
    error_code,
)

CODE = "271828"
FAILURES = [
    pytest.param(None, id="outage"),
    pytest.param(
        ProviderUnavailable("read timeout after 5 s", connector="memory", retryable=True),
        id="timeout",
    ),
    pytest.param(
        ProviderRejected(
            "prefix blocked",
            connector="memory",
            status_code=400,
            provider_code="60410",
            provider_message="Verification delivery attempt blocked",
        ),
        id="fraud-block",
    ),
]


@pytest.fixture
def failing_app(make_app: AppFactory, clock: FakeClock) -> Flask:
    app = make_app(clock=clock, code_generator=lambda n: CODE)
    create_user(app, PHONE)
    return app


def signed_in(app: Flask) -> ApiClient:
    client = ApiClient(app)
    assert client.sign_in_password(PHONE).status_code == 200
    return client


def assert_logged_safely(caplog: pytest.LogCaptureFixture, reason: str) -> None:
    text = caplog.text
    assert MASKED in text
    assert reason in text
    assert PHONE.removeprefix("+") not in text
    assert CODE not in text


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("usage", ["UserPermissionValidation", "BindMfa"])
def test_a_failed_send_for_the_signed_in_user_is_a_calm_503(
    failing_app: Flask,
    sms_outbox: list[SentSms],
    caplog: pytest.LogCaptureFixture,
    usage: str,
    failure: DeliveryError | None,
) -> None:
    client = signed_in(failing_app)
    caplog.set_level(logging.DEBUG)
    fail_next_send(failure, app=failing_app)
    response = client.send_code(None, usage)

    assert response.status_code == 503
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        "error": {
            "code": "delivery_failed",
            "message": "The text message could not be sent. Please try again later.",
        }
    }
    assert "Traceback" not in response.get_data(as_text=True)
    assert sms_outbox == []
    # The challenge is closed: its code can never be used.
    (challenge,) = challenges_for(failing_app, PHONE)
    assert challenge.closed_at is not None
    late = client.post("/verify-identity", {"verification_id": challenge.id, "code": CODE})
    assert (late.status_code, error_code(late)) == (400, "invalid_code")
    reason = "simulated provider outage" if failure is None else failure.describe()
    assert_logged_safely(caplog, reason)
    assert client.signed_in_phone() == PHONE  # still signed in


@pytest.mark.real_limits
def test_a_failed_send_still_counts_toward_the_limits(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app(SMS_OTP_SEND_LIMIT_PER_NUMBER="1/hour")
    create_user(app, PHONE)
    client = signed_in(app)
    fail_next_send(app=app)
    failed = client.send_code(None, "UserPermissionValidation")
    assert (failed.status_code, error_code(failed)) == (503, "delivery_failed")
    again = client.send_code(None, "UserPermissionValidation")
    assert (again.status_code, error_code(again)) == (429, "rate_limited")
    assert sms_outbox == []


def test_a_failed_resend_closes_the_challenge(
    failing_app: Flask, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    client = signed_in(failing_app)
    vid = client.request_code(None, "UserPermissionValidation")
    clock.advance(60)
    fail_next_send(app=failing_app)
    failed = client.post(f"/verification-codes/{vid}/resend")
    assert (failed.status_code, error_code(failed)) == (503, "delivery_failed")
    # Neither the first code nor the one that never left works now.
    answer = client.post("/verify-identity", {"verification_id": vid, "code": CODE})
    assert (answer.status_code, error_code(answer)) == (400, "invalid_code")
    assert len(sms_outbox) == 1


FREE_PHONE = "+8613800018000"


@pytest.mark.parametrize(
    ("usage", "delivered", "silent"),
    [
        ("SignIn", PHONE, FREE_PHONE),
        ("ForgotPassword", PHONE, FREE_PHONE),
        ("Register", FREE_PHONE, OTHER_PHONE),
        ("BindNewIdentifier", FREE_PHONE, OTHER_PHONE),
    ],
)
def test_a_failed_send_that_must_not_reveal_an_account_still_answers_202(
    failing_app: Flask,
    sms_outbox: list[SentSms],
    caplog: pytest.LogCaptureFixture,
    usage: str,
    delivered: str,
    silent: str,
) -> None:
    """A 503 only for numbers that get an SMS would tell who has an account: the failed
    send answers like a number that gets nothing at all."""
    create_user(failing_app, OTHER_PHONE)
    client = ApiClient(failing_app)
    if usage == "BindNewIdentifier":
        client = signed_in(failing_app)
        assert client.post("/verify-identity", {"password": PASSWORD}).status_code == 200
    caplog.set_level(logging.DEBUG)

    fail_next_send(app=failing_app)
    failed = client.send_code(delivered, usage)
    nothing_to_send = client.send_code(silent, usage)

    assert failed.status_code == nothing_to_send.status_code == 202
    assert set(failed.get_json()) == set(nothing_to_send.get_json())
    assert sms_outbox == []
    (challenge,) = challenges_for(failing_app, delivered)
    assert challenge.closed_at is not None
    assert "Traceback" not in failed.get_data(as_text=True)
    assert "simulated provider outage" in caplog.text
    assert delivered.removeprefix("+") not in caplog.text
    assert CODE not in caplog.text


def test_after_a_failed_send_the_resend_works_as_for_any_number(
    failing_app: Flask, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    """The user saw "code sent" and got nothing: "send again" must send again, and answer
    as it would for a number without an account (whose silent challenge is never closed)."""
    client = ApiClient(failing_app)
    fail_next_send(app=failing_app)
    known = client.request_code(PHONE, "ForgotPassword")
    unknown = client.request_code(FREE_PHONE, "ForgotPassword")
    assert sms_outbox == []
    clock.advance(60)
    known_again = client.post(f"/verification-codes/{known}/resend")
    unknown_again = client.post(f"/verification-codes/{unknown}/resend")
    assert known_again.status_code == unknown_again.status_code == 202
    assert set(known_again.get_json()) == set(unknown_again.get_json())
    assert [m.to for m in sms_outbox] == [PHONE]
    reset = client.post(
        "/reset-password",
        {"verification_id": known, "code": CODE, "password": "a brand new passphrase"},
    )
    assert reset.status_code == 204


def test_a_failed_background_send_closes_the_challenge(
    make_app: AppFactory,
    slow_connector: str,
    sms_outbox: list[SentSms],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With a real provider, protected sends run on the background sender."""
    app = make_app(SMS_OTP_CONNECTOR=slow_connector, code_generator=lambda n: CODE)
    create_user(app, PHONE)
    client = ApiClient(app)
    caplog.set_level(logging.DEBUG)
    fail_next_send(app=app)
    response = client.send_code(PHONE, "SignIn")
    assert response.status_code == 202
    wait_for_sends(app)
    (challenge,) = challenges_for(app, PHONE)
    assert challenge.closed_at is not None
    assert sms_outbox == []
    answer = client.post(
        "/sign-in/code", {"verification_id": response.get_json()["verification_id"], "code": CODE}
    )
    assert (answer.status_code, error_code(answer)) == (400, "invalid_code")
    assert_logged_safely(caplog, "simulated provider outage")


def test_mfa_send_failure_is_a_503_and_signs_nobody_in(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app()
    create_user(app, PHONE, mfa=True)
    client = ApiClient(app)
    fail_next_send(app=app)
    response = client.sign_in_password(PHONE, PASSWORD)
    assert (response.status_code, error_code(response)) == (503, "delivery_failed")
    assert client.signed_in_phone() is None
    assert sms_outbox == []
