"""SMS_OTP_TEST_NUMBERS: numbers with a fixed code until a date, for app-store review and
CI. They never reach a provider, spend no send limits, keep every other rule, and are
ordinary numbers again once their day is over."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from flask_sms_otp import ConfigurationError
from flask_sms_otp.connectors.memory import SentSms
from flask_sms_otp.state import get_state

from .helpers import (
    PASSWORD,
    PLAIN_HTTP,
    ApiClient,
    AppFactory,
    FakeClock,
    challenges_for,
    error_code,
    signed_in,
    submit,
    wrong,
)

#: Fictional (+1 555-0100): the number policy refuses it unless it is a test number.
TEST_PHONE = "+15555550100"
CODE = "246810"
UNTIL = "2026-01-02"  # the fake clock starts on 2026-01-01 at noon
TEST_NUMBERS = {TEST_PHONE: {"code": CODE, "until": UNTIL}}


def _app(make: AppFactory, clock: FakeClock, database_uri: str | None, **config: Any) -> Flask:
    if database_uri is not None:
        config["SQLALCHEMY_DATABASE_URI"] = database_uri
    return make(
        clock=clock,
        SMS_OTP_TEST_NUMBERS=TEST_NUMBERS,
        **PLAIN_HTTP,
        **config,
    )


def _deliveries(app: Flask) -> int:
    with app.app_context():
        state = get_state(app)
        count = state.db.session.scalar(
            sa.select(sa.func.count()).select_from(state.models.DeliveryRecord)
        )
        return int(count or 0)


def test_sign_up_and_sign_in_through_the_api_send_nothing(
    make_app: AppFactory, clock: FakeClock, database_uri: str, sms_outbox: list[SentSms]
) -> None:
    app = _app(make_app, clock, database_uri)
    client = ApiClient(app)
    vid = client.request_code("+1 555 555 0100", "Register")
    signed_up = client.post("/sign-up", {"verification_id": vid, "code": CODE, "password": ""})
    assert signed_up.status_code == 201
    assert signed_up.get_json()["user"]["phone"] == TEST_PHONE
    assert client.post("/sign-out").status_code == 204

    vid = client.request_code(TEST_PHONE, "SignIn")
    assert client.post("/sign-in/code", {"verification_id": vid, "code": CODE}).status_code == 200
    assert client.signed_in_phone() == TEST_PHONE
    # No provider, no delivery record pretending one was sent.
    assert sms_outbox == []
    assert _deliveries(app) == 0
    # The fixed code is stored as a digest, like any other.
    codes = get_state(app).challenges.codes
    rows = challenges_for(app, TEST_PHONE)
    assert len(rows) == 2
    for row in rows:
        assert row.digest == codes.digest(row.id, row.usage, row.phone, CODE)


def test_sign_up_and_sign_in_through_the_pages(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    visitor = _app(make_app, clock, None).test_client()
    step = submit(visitor, "/auth/sign-up", {"phone": TEST_PHONE})
    assert step.status_code == 302
    done = submit(visitor, step.location, {"code": CODE, "password": PASSWORD})
    assert done.status_code == 302
    assert signed_in(visitor)
    visitor.delete_cookie("session")
    assert not signed_in(visitor)
    step = submit(visitor, "/auth/sign-in/code", {"phone": TEST_PHONE})
    assert submit(visitor, step.location, {"code": CODE}).status_code == 302
    assert signed_in(visitor)
    assert sms_outbox == []


def test_the_attempt_cap_and_single_use_still_hold(
    make_app: AppFactory, clock: FakeClock, database_uri: str
) -> None:
    app = _app(make_app, clock, database_uri, SMS_OTP_MAX_ATTEMPTS=3)
    client = ApiClient(app)
    vid = client.request_code(TEST_PHONE, "Register")
    for _ in range(3):
        refused = client.post("/sign-up", {"verification_id": vid, "code": wrong(CODE)})
        assert error_code(refused) == "invalid_code"
    spent = client.post("/sign-up", {"verification_id": vid, "code": CODE})
    assert spent.status_code != 201

    vid = client.request_code(TEST_PHONE, "Register")
    assert client.post("/sign-up", {"verification_id": vid, "code": CODE}).status_code == 201
    assert client.post("/sign-out").status_code == 204
    vid = client.request_code(TEST_PHONE, "SignIn")
    assert client.post("/sign-in/code", {"verification_id": vid, "code": CODE}).status_code == 200
    replay = ApiClient(app).post("/sign-in/code", {"verification_id": vid, "code": CODE})
    assert error_code(replay) == "invalid_code"


def test_after_its_day_a_fictional_test_number_is_refused(
    make_app: AppFactory, clock: FakeClock, database_uri: str, sms_outbox: list[SentSms]
) -> None:
    app = _app(make_app, clock, database_uri)
    client = ApiClient(app)
    clock.now = clock.now.replace(hour=23, minute=59)  # 2026-01-01 23:59; a day on: still UNTIL
    clock.advance(24 * 3600)
    assert client.send_code(TEST_PHONE, "Register").status_code == 202
    clock.advance(60)  # 2026-01-03: an ordinary number again
    refused = client.send_code(TEST_PHONE, "Register")
    assert (refused.status_code, error_code(refused)) == (400, "invalid_phone")
    assert sms_outbox == []


def test_a_code_asked_just_before_the_day_ends_cannot_be_resent_to_a_provider_after(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = _app(make_app, clock, None)
    client = ApiClient(app)
    clock.now = clock.now.replace(hour=23, minute=59)
    clock.advance(24 * 3600)  # 2026-01-02 23:59, the last minute of UNTIL
    vid = client.request_code(TEST_PHONE, "Register")
    clock.advance(120)  # an ordinary, fictional number now: the policy refuses it
    resent = client.post(f"/verification-codes/{vid}/resend")
    assert (resent.status_code, error_code(resent)) == (400, "invalid_code")
    assert sms_outbox == []


def test_after_its_day_a_real_test_number_gets_real_codes(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    real = "+12015550123"
    app = make_app(
        clock=clock,
        code_generator=lambda length: "1" * length,
        SMS_OTP_TEST_NUMBERS={real: {"code": CODE, "until": "2025-12-31"}},
    )
    client = ApiClient(app)
    vid = client.request_code(real, "Register")
    assert [(m.to, m.code) for m in sms_outbox] == [(real, "111111")]
    refused = client.post("/sign-up", {"verification_id": vid, "code": CODE})
    assert error_code(refused) == "invalid_code"
    assert client.post("/sign-up", {"verification_id": vid, "code": "111111"}).status_code == 201


def test_answers_do_not_tell_a_test_number_apart(make_app: AppFactory, clock: FakeClock) -> None:
    real = "+12015550123"
    app = make_app(clock=clock, SMS_OTP_TEST_NUMBERS=TEST_NUMBERS)
    answers = []
    for phone in (TEST_PHONE, real):
        sent = ApiClient(app).send_code(phone, "SignIn")
        body = sent.get_json()
        body.pop("verification_id")
        answers.append((sent.status_code, body, sorted(sent.headers.keys())))
    assert answers[0] == answers[1]


@pytest.mark.real_limits
def test_the_send_limits_are_not_spent(make_app: AppFactory, clock: FakeClock) -> None:
    app = make_app(
        clock=clock,
        SMS_OTP_TEST_NUMBERS=TEST_NUMBERS,
        SMS_OTP_SEND_LIMIT_PER_NUMBER="2/hour",
        SMS_OTP_SEND_LIMIT_PER_IP="2/hour",
        SMS_OTP_RESEND_COOLDOWN=0,
    )
    client = ApiClient(app)
    for _ in range(5):
        vid = client.request_code(TEST_PHONE, "Register")
        assert client.post(f"/verification-codes/{vid}/resend").status_code == 202
    # The IP's budget is whole: two real sends still go out, the third is limited.
    assert client.send_code("+12015550123", "Register").status_code == 202
    assert client.send_code("+12015550124", "Register").status_code == 202
    assert client.send_code("+12015550125", "Register").status_code == 429


def test_the_lockout_still_holds(make_app: AppFactory, clock: FakeClock) -> None:
    app = make_app(
        clock=clock,
        SMS_OTP_TEST_NUMBERS=TEST_NUMBERS,
        SMS_OTP_MAX_ATTEMPTS=2,
        SMS_OTP_LOCKOUT_THRESHOLD=4,
    )
    client = ApiClient(app)
    for _ in range(2):
        vid = client.request_code(TEST_PHONE, "Register")
        for _ in range(2):
            client.post("/sign-up", {"verification_id": vid, "code": wrong(CODE)})
    locked = client.send_code(TEST_PHONE, "Register")
    assert (locked.status_code, error_code(locked)) == (429, "too_many_attempts")


def test_start_up_warns_while_any_is_active(
    make_app: AppFactory, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    numbers = {
        TEST_PHONE: {"code": CODE, "until": UNTIL},
        "+15555550199": {"code": CODE, "until": "2025-12-31"},
    }
    with caplog.at_level(logging.WARNING, logger="flask_sms_otp"):
        make_app(clock=clock, SMS_OTP_TEST_NUMBERS=numbers)
    warnings = [r.getMessage() for r in caplog.records if "SMS_OTP_TEST_NUMBERS" in r.getMessage()]
    assert len(warnings) == 1
    assert "+*******0100 until 2026-01-02" in warnings[0]
    assert "0199" not in warnings[0]  # expired: not active
    assert TEST_PHONE not in warnings[0]
    caplog.clear()
    clock.advance(timedelta(days=2).total_seconds())
    with caplog.at_level(logging.WARNING, logger="flask_sms_otp"):
        make_app(clock=clock, SMS_OTP_TEST_NUMBERS=numbers)
    assert not [r for r in caplog.records if "SMS_OTP_TEST_NUMBERS" in r.getMessage()]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"5555550100": {"code": CODE, "until": UNTIL}}, "E.164"),
        ({"+1 555 555 0100": {"code": CODE, "until": UNTIL}}, "E.164"),
        ({"+1555": {"code": CODE, "until": UNTIL}}, "E.164"),
        ({TEST_PHONE: {"code": "12345", "until": UNTIL}}, "6 digits"),
        ({TEST_PHONE: {"code": "12a456", "until": UNTIL}}, "digits"),
        ({TEST_PHONE: {"code": 246810, "until": UNTIL}}, "digits"),
        ({TEST_PHONE: {"code": CODE, "until": "2026-13-01"}}, "date"),
        ({TEST_PHONE: {"code": CODE}}, "until"),
        ([TEST_PHONE], "map"),
        ("{not json", "JSON"),
    ],
)
def test_bad_config_is_refused_at_init_app_with_the_key_named(
    make_app: AppFactory, value: Any, problem: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        make_app(SMS_OTP_TEST_NUMBERS=value)
    assert raised.value.key == "SMS_OTP_TEST_NUMBERS"
    assert problem in raised.value.problem


def test_json_text_from_the_environment_is_read(make_app: AppFactory, clock: FakeClock) -> None:
    app = make_app(
        clock=clock,
        SMS_OTP_TEST_NUMBERS='{"+15555550100": {"code": "246810", "until": "2026-01-02"}}',
    )
    assert get_state(app).settings.test_numbers[TEST_PHONE].code == CODE


def test_send_test_refuses_a_test_number(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = make_app(clock=clock, SMS_OTP_TEST_NUMBERS=TEST_NUMBERS)
    result = app.test_cli_runner().invoke(args=["sms-otp", "send-test", TEST_PHONE])
    assert result.exit_code == 2
    assert "test number" in result.output
    assert sms_outbox == []


def test_a_reset_sends_no_notice_to_a_test_number(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = make_app(clock=clock, SMS_OTP_TEST_NUMBERS=TEST_NUMBERS)
    client = ApiClient(app)
    vid = client.request_code(TEST_PHONE, "Register")
    assert client.post("/sign-up", {"verification_id": vid, "code": CODE}).status_code == 201
    vid = client.request_code(TEST_PHONE, "ForgotPassword")
    body = {"verification_id": vid, "code": CODE, "password": PASSWORD}
    assert client.post("/reset-password", body).status_code == 204
    assert sms_outbox == []  # no PasswordChanged notice either


def test_queued_delivery_queues_nothing_for_a_test_number(
    make_app: AppFactory, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(clock=clock, SMS_OTP_TEST_NUMBERS=TEST_NUMBERS, SMS_OTP_DELIVERY="celery")
    queued: list[tuple[Any, ...]] = []
    monkeypatch.setattr(get_state(app).dispatcher, "enqueue", lambda *a: queued.append(a))
    client = ApiClient(app)
    vid = client.request_code(TEST_PHONE, "Register")
    assert client.post("/sign-up", {"verification_id": vid, "code": CODE}).status_code == 201
    client.request_code("+12015550123", "Register")
    assert len(queued) == 1  # the real number's, not the test number's
