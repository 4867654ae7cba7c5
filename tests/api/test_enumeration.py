"""Enumeration (security.md §9, checks 14-16): nothing the API answers, nor how fast, tells
whether a number has an account."""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest
from werkzeug.test import TestResponse

from flask_sms_otp.testing import SentSms, wait_for_sends

from ..helpers import (
    PASSWORD,
    PHONE,
    ApiClient,
    AppFactory,
    FakeClock,
    SlowConnector,
    create_user,
    error_code,
    sent_to,
)

UNKNOWN = "+447400123456"


def cookie_names(response: TestResponse) -> set[str]:
    return {h.split("=", 1)[0] for h in response.headers.getlist("Set-Cookie")}


def comparable(response: TestResponse) -> tuple[int, Any, set[str], str | None]:
    """What an observer can compare, less the random ``verification_id``."""
    body = dict(response.get_json())
    vid = body.pop("verification_id", None)
    assert vid is None or (isinstance(vid, str) and len(vid) >= 22)  # >= 128 bits
    return response.status_code, body, cookie_names(response), response.headers.get("Location")


# 14 -------------------------------------------------------------------------------------------


def test_reset_request_is_uniform(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = make_app(clock=clock)
    create_user(app, PHONE)
    known_client, unknown_client = ApiClient(app), ApiClient(app)
    known_client.fetch_csrf()
    unknown_client.fetch_csrf()

    known = known_client.send_code(PHONE, "ForgotPassword")
    unknown = unknown_client.send_code(UNKNOWN, "ForgotPassword")

    assert known.status_code == 202
    assert comparable(known) == comparable(unknown)
    assert sorted(known.headers.keys()) == sorted(unknown.headers.keys())
    assert len(sent_to(sms_outbox, PHONE)) == 1
    assert sent_to(sms_outbox, UNKNOWN) == []
    # A resend of either answers alike too, and still sends nothing to the unknown number.
    clock.advance(60)
    known_again = known_client.post(
        f"/verification-codes/{known.get_json()['verification_id']}/resend"
    )
    unknown_again = unknown_client.post(
        f"/verification-codes/{unknown.get_json()['verification_id']}/resend"
    )
    assert comparable(known_again) == comparable(unknown_again)
    assert (len(sent_to(sms_outbox, PHONE)), len(sent_to(sms_outbox, UNKNOWN))) == (2, 0)


# 15 -------------------------------------------------------------------------------------------

ROUNDS = 30
MAX_MEDIAN_GAP = 0.025


def timed(send: Any) -> float:
    """Seconds until the answer is there; the connection then closes (and protected sends run)."""
    start = time.perf_counter()
    response = send()
    elapsed = time.perf_counter() - start
    assert response.status_code in (200, 202, 401), response.get_json()
    response.close()
    return elapsed


@pytest.mark.parametrize(
    ("usage", "delivered_to_known"),
    [
        ("SignIn", True),
        ("ForgotPassword", True),
        ("Register", False),
    ],
)
def test_code_requests_take_as_long_for_known_and_unknown_numbers(
    make_app: AppFactory,
    slow_connector: str,
    sms_outbox: list[SentSms],
    usage: str,
    delivered_to_known: bool,
) -> None:
    app = make_app(SMS_OTP_CONNECTOR=slow_connector)
    create_user(app, PHONE)
    client = ApiClient(app)
    timed(lambda: client.send_code(PHONE, usage))  # warm up both paths
    timed(lambda: client.send_code(UNKNOWN, usage))
    known, unknown = [], []
    for _ in range(ROUNDS):
        known.append(timed(lambda: client.send_code(PHONE, usage)))
        unknown.append(timed(lambda: client.send_code(UNKNOWN, usage)))

    gap = abs(statistics.median(known) - statistics.median(unknown))
    assert gap < MAX_MEDIAN_GAP, (statistics.median(known), statistics.median(unknown))
    # The sends did happen, on the background sender: 150 ms each, never inside the timing.
    wait_for_sends(app)
    delivered = PHONE if delivered_to_known else UNKNOWN
    silent = UNKNOWN if delivered_to_known else PHONE
    assert len(sent_to(sms_outbox, delivered)) == ROUNDS + 1
    assert sent_to(sms_outbox, silent) == []
    assert min(known + unknown) < SlowConnector.delay


def test_password_sign_in_takes_as_long_for_unknown_numbers(make_app: AppFactory) -> None:
    # A hash that costs real time, so that skipping it for unknown numbers would show.
    app = make_app(SMS_OTP_PASSWORD_HASH_METHOD="pbkdf2:sha256:60000")
    create_user(app, PHONE)
    client = ApiClient(app)

    def attempt(phone: str) -> float:
        return timed(lambda: client.sign_in_password(phone, "not the password"))

    attempt(PHONE)
    attempt(UNKNOWN)
    known, unknown = [], []
    for _ in range(ROUNDS):
        known.append(attempt(PHONE))
        unknown.append(attempt(UNKNOWN))
    gap = abs(statistics.median(known) - statistics.median(unknown))
    assert gap < MAX_MEDIAN_GAP, (statistics.median(known), statistics.median(unknown))


# 16 -------------------------------------------------------------------------------------------


def test_sign_up_with_a_registered_number_looks_like_a_new_one(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = make_app(clock=clock)
    create_user(app, PHONE)
    attacker, newcomer = ApiClient(app), ApiClient(app)
    taken = attacker.send_code(PHONE, "Register")
    free = newcomer.send_code(UNKNOWN, "Register")
    assert comparable(taken) == comparable(free)
    # The owner gets no usable code; whatever the attacker tries is just "invalid".
    assert sent_to(sms_outbox, PHONE) == []
    assert len(sent_to(sms_outbox, UNKNOWN)) == 1
    for guess in ("000000", "123456", sent_to(sms_outbox, UNKNOWN)[0].code):
        answer = attacker.post(
            "/sign-up",
            {"verification_id": taken.get_json()["verification_id"], "code": guess},
        )
        assert (answer.status_code, error_code(answer)) == (400, "invalid_code")


def test_sign_in_by_code_for_an_unknown_number_looks_the_same(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = make_app(clock=clock)
    create_user(app, PHONE)
    known = ApiClient(app).send_code(PHONE, "SignIn")
    unknown_client = ApiClient(app)
    unknown = unknown_client.send_code(UNKNOWN, "SignIn")
    assert comparable(known) == comparable(unknown)
    assert sent_to(sms_outbox, UNKNOWN) == []
    answer = unknown_client.post(
        "/sign-in/code",
        {"verification_id": unknown.get_json()["verification_id"], "code": sms_outbox[-1].code},
    )
    assert (answer.status_code, error_code(answer)) == (400, "invalid_code")


@pytest.mark.real_limits
def test_wrong_password_unknown_number_and_locked_account_answer_alike(
    make_app: AppFactory,
) -> None:
    app = make_app()
    create_user(app, PHONE)
    client = ApiClient(app)
    wrong_password = client.sign_in_password(PHONE, "not the password")
    unknown_number = client.sign_in_password(UNKNOWN, "not the password")
    no_password = client.sign_in_password(UNKNOWN, PASSWORD)
    assert wrong_password.status_code == 401
    assert error_code(wrong_password) == "invalid_credentials"
    assert wrong_password.get_json() == unknown_number.get_json() == no_password.get_json()
    assert cookie_names(wrong_password) == cookie_names(unknown_number)

    # Failures count for unknown numbers too, so the lock after five says nothing either.
    for _ in range(4):
        assert client.sign_in_password(PHONE, "not the password").status_code == 401
    for _ in range(3):
        assert client.sign_in_password(UNKNOWN, "not the password").status_code == 401
    locked_known = client.sign_in_password(PHONE, PASSWORD)  # even the right password
    locked_unknown = client.sign_in_password(UNKNOWN, PASSWORD)
    for locked in (locked_known, locked_unknown):
        assert (locked.status_code, error_code(locked)) == (429, "rate_limited")
        assert int(locked.headers["Retry-After"]) > 0
    assert locked_known.get_json() == locked_unknown.get_json()
    assert client.signed_in_phone() is None
