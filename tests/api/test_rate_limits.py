"""Send and password limits through the API (security.md §9, checks 17-21 and 30), on the
default in-process storage, on a dead Redis, and on a live one."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import limits.storage.memory
import pytest
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from flask_sms_otp import ConfigurationError
from flask_sms_otp.state import get_state
from flask_sms_otp.testing import SentSms

from ..helpers import (
    PASSWORD,
    PHONE,
    US_PHONE,
    ApiClient,
    AppFactory,
    FakeClock,
    create_user,
    error_code,
    last_code,
    require_redis,
    sent_to,
    valid_mobile,
    wrong,
)

REDIS_URI = os.environ.get("SMS_OTP_TEST_LIMITS_REDIS_URL", "redis://127.0.0.1:6379")
DEAD_REDIS_URI = "redis://127.0.0.1:1"
LOOSE = "1000/hour"

#: Every test here is about the limits: the package's defaults, not the relaxed ones.
pytestmark = pytest.mark.real_limits


def refused(response: Any) -> bool:
    """A 429 from the send limits, with a Retry-After."""
    if response.status_code != 429:
        return False
    assert error_code(response) == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1
    return True


class ShiftedTime:
    """The ``time`` module as the limits' in-memory storage sees it, ``offset`` seconds ahead."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def limiter_time(monkeypatch: pytest.MonkeyPatch) -> ShiftedTime:
    """Moves the clock of Flask-Limiter's in-memory storage (it reads ``time.time()``)."""
    shifted = ShiftedTime()
    module: ModuleType = limits.storage.memory
    monkeypatch.setattr(module, "time", shifted)
    return shifted


# 17 ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "spellings"),
    [
        ("US", ["+12015550123", "(201) 555-0123", "＋１ ２０１ ５５５ ０１２３", "1-201-555-0123"]),
        (
            "GB",
            [
                "+12015550123",
                "001 201 555 0123",
                "＋１（２０１）５５５－０１２３",
                "00 1 201.555.0123",
            ],
        ),
    ],
)
def test_every_spelling_of_a_number_fills_one_bucket(
    make_app: AppFactory, sms_outbox: list[SentSms], region: str, spellings: list[str]
) -> None:
    app = make_app(
        SMS_OTP_DEFAULT_REGION=region,
        SMS_OTP_SEND_LIMIT_PER_NUMBER="3/hour",
        SMS_OTP_SEND_LIMIT_PER_IP=LOOSE,
        SMS_OTP_SEND_LIMIT_PER_PREFIX=LOOSE,
    )
    client = ApiClient(app)
    answers = [client.send_code(spelling, "Register") for spelling in spellings]
    assert [a.status_code for a in answers[:3]] == [202, 202, 202]
    assert refused(answers[3])
    assert [m.to for m in sms_outbox] == [US_PHONE] * 3


def test_sixth_send_in_an_hour_and_eleventh_in_a_day_are_refused(
    make_app: AppFactory, limiter_time: ShiftedTime, sms_outbox: list[SentSms]
) -> None:
    app = make_app(
        SMS_OTP_SEND_LIMIT_PER_NUMBER="5/hour;10/day",
        SMS_OTP_SEND_LIMIT_PER_IP=LOOSE,
        SMS_OTP_SEND_LIMIT_PER_PREFIX=LOOSE,
    )
    client = ApiClient(app)
    for _ in range(5):
        assert client.send_code(US_PHONE, "Register").status_code == 202
    sixth = client.send_code(US_PHONE, "Register")
    assert refused(sixth)
    assert 3500 < int(sixth.headers["Retry-After"]) <= 3600
    limiter_time.offset = 3601  # an hour later
    for _ in range(5):
        assert client.send_code(US_PHONE, "Register").status_code == 202
    eleventh = client.send_code(US_PHONE, "Register")
    assert refused(eleventh)
    assert int(eleventh.headers["Retry-After"]) > 3600  # the day's limit, not the hour's
    assert len(sms_outbox) == 10


def test_resends_count_toward_the_number_limit(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = make_app(clock=clock, SMS_OTP_SEND_LIMIT_PER_NUMBER="2/hour")
    client = ApiClient(app)
    vid = client.request_code(US_PHONE, "Register")
    clock.advance(60)
    assert client.post(f"/verification-codes/{vid}/resend").status_code == 202
    clock.advance(60)
    assert refused(client.post(f"/verification-codes/{vid}/resend"))
    assert len(sms_outbox) == 2


def test_mfa_codes_count_toward_the_number_limit(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    """A right password sends an MFA code; knowing the password must not allow an SMS flood."""
    app = make_app(SMS_OTP_SEND_LIMIT_PER_NUMBER="2/hour")
    create_user(app, PHONE, mfa=True)
    client = ApiClient(app)
    for _ in range(2):
        first_step = client.sign_in_password(PHONE)
        assert first_step.get_json()["mfa_required"] is True
    assert refused(client.sign_in_password(PHONE))
    assert len(sms_outbox) == 2
    assert client.signed_in_phone() is None


# 18 ---------------------------------------------------------------------------------------------


def test_per_ip_limit_across_numbers(make_app: AppFactory, sms_outbox: list[SentSms]) -> None:
    app = make_app()  # defaults: 10/hour per IP
    # Eleven numbers in eleven different prefixes, so only the IP bucket is shared.
    numbers = [valid_mobile(f"+86138{i:04d}8000") for i in range(11)]
    client = ApiClient(app, ip="198.51.100.7")
    for number in numbers[:10]:
        assert client.send_code(number, "Register").status_code == 202
    assert refused(client.send_code(numbers[10], "Register"))
    assert len(sms_outbox) == 10
    # The same number from another address goes through: it was the IP's bucket.
    assert client.send_code(numbers[10], "Register", ip="198.51.100.8").status_code == 202
    assert len(sms_outbox) == 11


def test_per_prefix_limit_across_addresses_behind_a_proxy(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app()  # defaults: 10/hour per prefix (E.164 less its last four digits)
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)  # type: ignore[method-assign]
    numbers = [valid_mobile(f"+4474001234{i:02d}") for i in range(11)]
    client = ApiClient(app)

    def send(number: str, ip: str) -> Any:
        return client.send_code(number, "Register", headers={"X-Forwarded-For": ip})

    for i, number in enumerate(numbers[:10]):
        assert send(number, f"203.0.113.{i + 1}").status_code == 202
    assert refused(send(numbers[10], "203.0.113.11"))
    assert len(sms_outbox) == 10
    # The same address reaches a number in another block: it was the prefix's bucket.
    assert send(valid_mobile("+447400223456"), "203.0.113.11").status_code == 202


# 19 ---------------------------------------------------------------------------------------------

GARBAGE: list[Any] = [
    "",
    "   ",
    "abc",
    "12",
    "+",
    "+1",
    None,
    12015550123,
    ["+12015550123"],
    {"number": "+12015550123"},
    "+1 201 555 0123 ext 5",
    "+12001230101",
    "9" * 40,
    "x" * 10_000,
    "\u0000",
]


def test_garbage_phones_fill_one_bucket_and_send_nothing(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app(
        SMS_OTP_SEND_LIMIT_PER_NUMBER="5/hour",
        SMS_OTP_SEND_LIMIT_PER_IP=LOOSE,
        SMS_OTP_SEND_LIMIT_PER_PREFIX=LOOSE,
    )
    client = ApiClient(app)
    statuses = []
    for i in range(50):
        if i % 4 == 0:
            response = client.post("/verification-codes", {"usage": "Register"})  # no phone
        else:
            response = client.send_code(GARBAGE[i % len(GARBAGE)], "Register")
        if response.status_code == 400:
            assert error_code(response) == "invalid_phone"
        else:
            assert refused(response)
        statuses.append(response.status_code)
    # Five answers "invalid", then the shared bucket for unreadable input is full.
    assert statuses == [400] * 5 + [429] * 45
    assert sms_outbox == []
    # No real number's bucket was touched.
    assert client.send_code(US_PHONE, "Register").status_code == 202


# 20 ---------------------------------------------------------------------------------------------


def test_spoofed_forwarded_for_does_not_reset_the_ip_limit(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app(
        SMS_OTP_SEND_LIMIT_PER_IP="3/hour",
        SMS_OTP_SEND_LIMIT_PER_NUMBER=LOOSE,
        SMS_OTP_SEND_LIMIT_PER_PREFIX=LOOSE,
    )
    client = ApiClient(app, ip="198.51.100.7")
    answers = [
        client.send_code(US_PHONE, "Register", headers={"X-Forwarded-For": f"10.0.0.{i}"})
        for i in range(4)
    ]
    assert [a.status_code for a in answers[:3]] == [202] * 3
    assert refused(answers[3])
    assert len(sms_outbox) == 3


def test_behind_proxy_fix_only_the_last_hop_counts(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app(
        SMS_OTP_SEND_LIMIT_PER_IP="3/hour",
        SMS_OTP_SEND_LIMIT_PER_NUMBER=LOOSE,
        SMS_OTP_SEND_LIMIT_PER_PREFIX=LOOSE,
    )
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)  # type: ignore[method-assign]
    client = ApiClient(app)

    def send(forwarded_for: str) -> Any:
        return client.send_code(US_PHONE, "Register", headers={"X-Forwarded-For": forwarded_for})

    # The client makes up the first entries; the proxy appends the address it saw.
    answers = [send(f"10.0.0.{i}, 203.0.113.9") for i in range(4)]
    assert [a.status_code for a in answers[:3]] == [202] * 3
    assert refused(answers[3])
    assert send("10.0.0.1, 203.0.113.10").status_code == 202
    assert len(sms_outbox) == 4


# 21 ---------------------------------------------------------------------------------------------


def test_password_attempts_are_throttled_per_account(make_app: AppFactory) -> None:
    app = make_app()  # defaults: 5 failures per account in 5 minutes
    create_user(app, PHONE)
    create_user(app, US_PHONE)
    client = ApiClient(app)
    for _ in range(5):
        assert client.sign_in_password(PHONE, "not the password").status_code == 401
    locked = client.sign_in_password(PHONE, PASSWORD)
    assert refused(locked)
    assert 1 <= int(locked.headers["Retry-After"]) <= 300
    assert client.signed_in_phone() is None
    # Another account, from the same address, is not affected.
    assert client.sign_in_password(US_PHONE, PASSWORD).status_code == 200


def test_password_attempts_are_throttled_per_ip(make_app: AppFactory) -> None:
    app = make_app()  # defaults: 10 attempts per IP a minute
    create_user(app, PHONE)
    client = ApiClient(app, ip="198.51.100.7")
    numbers = [valid_mobile(f"+86138{i:04d}8000") for i in range(10)]
    for number in numbers:
        assert client.sign_in_password(number, "guess").status_code == 401
    assert refused(client.sign_in_password(PHONE, PASSWORD))
    assert client.signed_in_phone() is None
    other = ApiClient(app, ip="198.51.100.8")
    assert other.sign_in_password(PHONE, PASSWORD).status_code == 200


def test_password_limit_per_account_allows_at_most_100_an_hour(make_app: AppFactory) -> None:
    # An hour may see the tightest limit's amount times the windows that fit in it.
    for too_many in ("101/hour", "30/5minutes", "5/minute", "200/day"):
        with pytest.raises(ConfigurationError) as error:
            make_app(SMS_OTP_PASSWORD_LIMIT_PER_ACCOUNT=too_many)
        assert error.value.key == "SMS_OTP_PASSWORD_LIMIT_PER_ACCOUNT"
    for allowed in ("100/hour", "5/5minutes;100/hour", "8/5minutes", "5/5minutes;200/hour"):
        make_app(SMS_OTP_PASSWORD_LIMIT_PER_ACCOUNT=allowed)


# 30 ---------------------------------------------------------------------------------------------


@pytest.fixture
def dead_storage_app(make_app: AppFactory, clock: FakeClock) -> Flask:
    return make_app(RATELIMIT_STORAGE_URI=DEAD_REDIS_URI, clock=clock)


def test_sends_fail_closed_when_the_limit_storage_is_down(
    dead_storage_app: Flask,
    sms_outbox: list[SentSms],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = dead_storage_app
    create_user(app, PHONE)
    client = ApiClient(app)
    for usage in ("Register", "SignIn", "ForgotPassword"):
        response = client.send_code(PHONE, usage)
        assert (response.status_code, error_code(response)) == (503, "rate_limit_unavailable")
        assert "Traceback" not in response.get_data(as_text=True)
    # A challenge made behind the API's back: its resend is refused the same way.
    with app.app_context():
        issued = get_state(app).dispatcher.issue(PHONE, "SignIn")
    clock.advance(60)
    resent = client.post(f"/verification-codes/{issued.id}/resend")
    assert (resent.status_code, error_code(resent)) == (503, "rate_limit_unavailable")
    # Password attempts are metered too: no unlimited guessing while the storage is down.
    guess = client.sign_in_password(PHONE, PASSWORD)
    assert (guess.status_code, error_code(guess)) == (503, "rate_limit_unavailable")
    assert len(sms_outbox) == 1  # the one sent behind the API's back
    assert "rate-limit storage failed" in caplog.text


def test_verification_still_caps_attempts_when_the_limit_storage_is_down(
    dead_storage_app: Flask, sms_outbox: list[SentSms]
) -> None:
    app = dead_storage_app
    create_user(app, PHONE)
    with app.app_context():
        issued = get_state(app).dispatcher.issue(PHONE, "SignIn", user_id="1")
    code = last_code()
    client = ApiClient(app)
    for _ in range(5):
        answer = client.post("/sign-in/code", {"verification_id": issued.id, "code": wrong(code)})
        assert (answer.status_code, error_code(answer)) == (400, "invalid_code")
    sixth = client.post("/sign-in/code", {"verification_id": issued.id, "code": code})
    assert (sixth.status_code, error_code(sixth)) == (429, "too_many_attempts")
    assert client.signed_in_phone() is None


def test_swallowing_limiter_errors_is_refused_at_start_up(make_app: AppFactory) -> None:
    with pytest.raises(ConfigurationError) as error:
        make_app(RATELIMIT_STORAGE_URI=DEAD_REDIS_URI, RATELIMIT_SWALLOW_ERRORS=True)
    assert error.value.key == "RATELIMIT_SWALLOW_ERRORS"


# Redis for real ---------------------------------------------------------------------------------


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the test Redis; its keys are deleted afterwards."""
    import redis

    connection = redis.Redis.from_url(require_redis(REDIS_URI))
    prefix = f"sms-otp-test-{uuid.uuid4().hex}"
    yield prefix
    for key in connection.scan_iter(match=f"*{prefix}*"):
        connection.delete(key)
    connection.close()


def test_limits_on_redis_are_shared_by_workers_and_kept_apart_by_prefix(
    make_app: AppFactory, redis_prefix: str, sms_outbox: list[SentSms]
) -> None:
    config: dict[str, Any] = {
        "RATELIMIT_STORAGE_URI": REDIS_URI,
        "SMS_OTP_SEND_LIMIT_PER_NUMBER": "2/hour",
        "SMS_OTP_SEND_LIMIT_PER_IP": LOOSE,
        "SMS_OTP_SEND_LIMIT_PER_PREFIX": LOOSE,
    }
    worker_a = make_app(RATELIMIT_KEY_PREFIX=redis_prefix, **config)
    worker_b = make_app(RATELIMIT_KEY_PREFIX=redis_prefix, **config)
    other_site = make_app(RATELIMIT_KEY_PREFIX=redis_prefix + "-other", **config)

    assert ApiClient(worker_a).send_code(US_PHONE, "Register").status_code == 202
    assert ApiClient(worker_b).send_code(US_PHONE, "Register").status_code == 202
    third = ApiClient(worker_a).send_code(US_PHONE, "Register")
    assert refused(third)
    assert 3500 < int(third.headers["Retry-After"]) <= 3600
    # Another app with its own RATELIMIT_KEY_PREFIX on the same Redis has its own buckets.
    assert ApiClient(other_site).send_code(US_PHONE, "Register").status_code == 202
    assert len(sent_to(sms_outbox, US_PHONE)) == 3
