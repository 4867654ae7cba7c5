"""The code engine against the security bar (security.md §9, checks 1-9 and 11-13),
on SQLite and on PostgreSQL."""

from __future__ import annotations

import hmac
import logging
import random
import re
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from flask_sms_otp import (
    InvalidCode,
    ProviderRejected,
    ProviderUnavailable,
    ResendNotAllowed,
    TooManyAttempts,
    Usage,
    code_sent,
    code_verified,
    delivery_failed,
    verification_failed,
)
from flask_sms_otp.challenges import IssuedChallenge, VerifiedChallenge
from flask_sms_otp.codes import code_digest, derive_keys, generate_code
from flask_sms_otp.state import get_state
from flask_sms_otp.testing import SentSms, fail_next_send

from .helpers import (
    OTHER_PHONE,
    PHONE,
    AppFactory,
    FakeClock,
    last_code,
    wrong,
)


@pytest.fixture
def app(make_app: AppFactory, database_uri: str, clock: FakeClock) -> Iterator[Flask]:
    # The engine's own properties: the send limits (tested in tests/api) stay out of the way,
    # relaxed as in every test app.
    app = make_app(SQLALCHEMY_DATABASE_URI=database_uri, clock=clock)
    with app.app_context():
        yield app


class Engine:
    """The code engine as an app's own code reaches it (what ``SmsOtp.send_code``,
    ``resend_code`` and ``verify_code`` call): admitted, dispatched, verified."""

    def __init__(self, app: Flask) -> None:
        self.state = get_state(app)

    def issue(self, phone: str, usage: Usage | str, **kwargs: Any) -> IssuedChallenge:
        e164 = self.state.challenges.admit(phone, usage, kwargs.pop("client_ip", None))
        return self.state.dispatcher.issue(e164, usage, protect=False, **kwargs)

    def resend(self, challenge_id: Any, **kwargs: Any) -> IssuedChallenge:
        return self.state.dispatcher.resend(challenge_id, protect=False, **kwargs)

    def verify(self, challenge_id: Any, code: Any, **kwargs: Any) -> VerifiedChallenge:
        return self.state.challenges.verify(challenge_id, code, **kwargs)

    def purge(self) -> tuple[int, int]:
        return self.state.challenges.purge()


def engine(app: Flask) -> Engine:
    return Engine(app)


def attempts(app: Flask, challenge_id: str) -> int:
    Challenge = get_state(app).models.Challenge
    db = get_state(app).db
    value = db.session.execute(
        sa.select(Challenge.attempts).where(Challenge.id == challenge_id)
    ).scalar_one()
    db.session.commit()
    return int(value)


# 1. Format and entropy


def test_codes_are_six_ascii_digits_with_leading_zeros() -> None:
    codes = [generate_code(6) for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9]{6}", c) for c in codes)
    leading_zero = sum(c.startswith("0") for c in codes) / len(codes)
    assert 0.08 <= leading_zero <= 0.12


def test_codes_come_from_secrets_not_random(
    app: Flask, sms_outbox: list[SentSms], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise AssertionError("random must not be used for codes")

    monkeypatch.setattr(random, "random", broken)
    monkeypatch.setattr(random, "randint", broken)
    issued = engine(app).issue(PHONE, Usage.SIGN_IN)
    assert re.fullmatch(r"[0-9]{6}", last_code())
    assert engine(app).verify(issued.id, last_code(), usage=Usage.SIGN_IN)


def test_code_length_is_configurable(make_app: AppFactory, sms_outbox: list[SentSms]) -> None:
    app = make_app(SMS_OTP_CODE_LENGTH=8)
    with app.app_context():
        issued = engine(app).issue(PHONE, Usage.SIGN_IN)
        code = last_code()
        assert re.fullmatch(r"[0-9]{8}", code)
        assert engine(app).verify(issued.id, code, usage=Usage.SIGN_IN).phone == PHONE


def test_challenge_ids_are_opaque_and_long(app: Flask) -> None:
    ids = {engine(app).issue(PHONE, Usage.SIGN_IN).id for _ in range(3)}
    assert len(ids) == 3
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}", i) for i in ids)  # 24 random bytes


# 2. Expiry


def test_code_accepted_until_its_lifetime_ends(
    app: Flask, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    ttl = get_state(app).settings.code_ttl
    assert ttl == 600
    issued = engine(app).issue(PHONE, Usage.SIGN_IN)
    assert issued.expires_at == clock.now + timedelta(seconds=ttl)
    clock.advance(ttl - 1)
    assert engine(app).verify(issued.id, last_code(), usage=Usage.SIGN_IN)


def test_expired_code_answers_exactly_like_a_wrong_one(
    app: Flask, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    first = engine(app).issue(PHONE, Usage.SIGN_IN)
    first_code = last_code()
    second = engine(app).issue(PHONE, Usage.SIGN_IN)
    clock.advance(get_state(app).settings.code_ttl + 1)
    with pytest.raises(InvalidCode) as expired:
        engine(app).verify(first.id, first_code, usage=Usage.SIGN_IN)
    with pytest.raises(InvalidCode) as wrong_code:
        engine(app).verify(
            second.id, "000000" if first_code != "000000" else "111111", usage=Usage.SIGN_IN
        )
    expired_response = expired.value.get_response()
    wrong_response = wrong_code.value.get_response()
    assert expired_response.status_code == wrong_response.status_code == 400
    assert expired_response.get_data() == wrong_response.get_data()


# 3. Per-challenge attempt cap


def test_sixth_attempt_is_refused_and_the_right_code_is_dead(
    app: Flask, sms_outbox: list[SentSms]
) -> None:
    issued = engine(app).issue(PHONE, Usage.SIGN_IN)
    code = last_code()
    for _ in range(5):
        with pytest.raises(InvalidCode):
            engine(app).verify(issued.id, wrong(code), usage=Usage.SIGN_IN)
    with pytest.raises(TooManyAttempts) as refused:
        engine(app).verify(issued.id, code, usage=Usage.SIGN_IN)
    assert refused.value.code == 429
    assert attempts(app, issued.id) == 5


# 4. Consecutive failures per number survive resends; lockout


def test_resend_does_not_reset_the_failure_count_and_ten_failures_lock(
    app: Flask, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    first = engine(app).issue(PHONE, Usage.SIGN_IN)
    for _ in range(4):
        with pytest.raises(InvalidCode):
            engine(app).verify(first.id, wrong(last_code()), usage=Usage.SIGN_IN)
    clock.advance(60)
    engine(app).resend(first.id)
    for _ in range(5):  # the new code has its own attempt budget ...
        with pytest.raises(InvalidCode):
            engine(app).verify(first.id, wrong(last_code()), usage=Usage.SIGN_IN)
    second = engine(app).issue(PHONE, Usage.SIGN_IN)
    with pytest.raises(InvalidCode):  # ... but the number's count went on: this is the 10th
        engine(app).verify(second.id, wrong(last_code()), usage=Usage.SIGN_IN)

    right = last_code()
    with pytest.raises(TooManyAttempts) as locked:
        engine(app).verify(second.id, right, usage=Usage.SIGN_IN)
    assert locked.value.retry_after_seconds == 900
    response = locked.value.get_response()
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "900"
    sent_before = len(sms_outbox)
    with pytest.raises(TooManyAttempts):  # no new code goes out to a locked number
        engine(app).issue(PHONE, Usage.SIGN_IN)
    assert len(sms_outbox) == sent_before

    other = engine(app).issue(OTHER_PHONE, Usage.SIGN_IN)  # other numbers are not affected
    assert engine(app).verify(other.id, last_code(), usage=Usage.SIGN_IN)

    clock.advance(900)
    third = engine(app).issue(PHONE, Usage.SIGN_IN)
    assert engine(app).verify(third.id, last_code(), usage=Usage.SIGN_IN)


def test_a_success_resets_the_consecutive_failure_count(
    app: Flask, sms_outbox: list[SentSms]
) -> None:
    def fail(times: int) -> None:
        issued = engine(app).issue(PHONE, Usage.SIGN_IN)
        for _ in range(times):
            with pytest.raises(InvalidCode):
                engine(app).verify(issued.id, wrong(last_code()), usage=Usage.SIGN_IN)

    fail(5)
    fail(4)  # 9 consecutive failures
    ok = engine(app).issue(PHONE, Usage.SIGN_IN)
    engine(app).verify(ok.id, last_code(), usage=Usage.SIGN_IN)
    fail(5)
    fail(4)  # 9 again, not 18: not locked
    ok = engine(app).issue(PHONE, Usage.SIGN_IN)
    assert engine(app).verify(ok.id, last_code(), usage=Usage.SIGN_IN)


def test_lockout_threshold_and_duration_are_configurable(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = make_app(SMS_OTP_LOCKOUT_THRESHOLD=3, SMS_OTP_LOCKOUT_DURATION=120, clock=clock)
    with app.app_context():
        issued = engine(app).issue(PHONE, Usage.SIGN_IN)
        for _ in range(3):
            with pytest.raises(InvalidCode):
                engine(app).verify(issued.id, wrong(last_code()), usage=Usage.SIGN_IN)
        with pytest.raises(TooManyAttempts) as locked:
            engine(app).verify(issued.id, last_code(), usage=Usage.SIGN_IN)
        assert locked.value.retry_after_seconds == 120


# 5. Replay


def test_a_code_verifies_once(app: Flask, sms_outbox: list[SentSms]) -> None:
    issued = engine(app).issue(PHONE, Usage.SIGN_IN)
    code = last_code()
    verified = engine(app).verify(issued.id, code, usage=Usage.SIGN_IN)
    assert (verified.id, verified.phone, verified.usage) == (issued.id, PHONE, "SignIn")
    for _ in range(3):
        with pytest.raises(InvalidCode):
            engine(app).verify(issued.id, code, usage=Usage.SIGN_IN)
    with pytest.raises(InvalidCode):
        engine(app).resend(issued.id)


# 6. Binding to purpose, challenge, number and user


@pytest.mark.parametrize(
    "other_usage",
    [Usage.SIGN_IN, Usage.FORGOT_PASSWORD, Usage.MFA_VERIFICATION, Usage.BIND_NEW_IDENTIFIER],
)
def test_code_is_bound_to_its_purpose(
    app: Flask, sms_outbox: list[SentSms], other_usage: Usage
) -> None:
    issued = engine(app).issue(PHONE, Usage.REGISTER)
    code = last_code()
    with pytest.raises(InvalidCode):
        engine(app).verify(issued.id, code, usage=other_usage)
    assert engine(app).verify(issued.id, code, usage=Usage.REGISTER)


def test_code_is_bound_to_its_challenge(make_app: AppFactory, database_uri: str) -> None:
    codes = iter(["111111", "222222"])
    app = make_app(
        SQLALCHEMY_DATABASE_URI=database_uri,
        code_generator=lambda n: next(codes),
    )
    with app.app_context():
        a = engine(app).issue(PHONE, Usage.SIGN_IN)
        b = engine(app).issue(PHONE, Usage.SIGN_IN)
        with pytest.raises(InvalidCode):
            engine(app).verify(b.id, "111111", usage=Usage.SIGN_IN)
        assert engine(app).verify(a.id, "111111", usage=Usage.SIGN_IN)
        assert engine(app).verify(b.id, "222222", usage=Usage.SIGN_IN)


def test_code_is_bound_to_its_number_and_user(app: Flask, sms_outbox: list[SentSms]) -> None:
    issued = engine(app).issue(PHONE, Usage.MFA_VERIFICATION, user_id=7)
    code = last_code()
    with pytest.raises(InvalidCode):  # user Y's pending MFA cannot use user X's code
        engine(app).verify(issued.id, code, usage=Usage.MFA_VERIFICATION, user_id=8)
    with pytest.raises(InvalidCode):
        engine(app).verify(issued.id, code, usage=Usage.MFA_VERIFICATION, phone=OTHER_PHONE)
    verified = engine(app).verify(
        issued.id, code, usage=Usage.MFA_VERIFICATION, phone=PHONE, user_id=7
    )
    assert verified.user_id == "7"


# 7. Resend


def test_resend_replaces_the_code_respects_cooldown_and_cap(
    app: Flask, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    issued = engine(app).issue(PHONE, Usage.SIGN_IN)
    old = last_code()

    with pytest.raises(ResendNotAllowed) as too_soon:
        engine(app).resend(issued.id)
    assert too_soon.value.retry_after_seconds == 60
    assert too_soon.value.get_response().headers["Retry-After"] == "60"
    clock.advance(59)
    with pytest.raises(ResendNotAllowed) as still_too_soon:
        engine(app).resend(issued.id)
    assert still_too_soon.value.retry_after_seconds == 1
    assert len(sms_outbox) == 1  # refused resends send nothing

    codes = [old]
    for _ in range(3):
        clock.advance(60)
        again = engine(app).resend(issued.id)
        assert again.id == issued.id
        assert again.resend_after == clock.now + timedelta(seconds=60)
        codes.append(last_code())
    clock.advance(60)
    with pytest.raises(ResendNotAllowed):  # the 4th resend
        engine(app).resend(issued.id)
    assert len(sms_outbox) == 4

    for stale in {c for c in codes[:-1] if c != codes[-1]}:
        with pytest.raises(InvalidCode):
            engine(app).verify(issued.id, stale, usage=Usage.SIGN_IN)
    assert engine(app).verify(issued.id, codes[-1], usage=Usage.SIGN_IN)


def test_resend_extends_the_lifetime(
    app: Flask, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    issued = engine(app).issue(PHONE, Usage.SIGN_IN)
    clock.advance(500)
    engine(app).resend(issued.id)
    clock.advance(500)  # 1000 s after the first code, 500 s after the second
    assert engine(app).verify(issued.id, last_code(), usage=Usage.SIGN_IN)


def test_resend_of_unknown_challenge_is_invalid(app: Flask) -> None:
    for bad in ["x" * 32, "not an id", ""]:
        with pytest.raises(InvalidCode):
            engine(app).resend(bad)


# 11. No plaintext at rest


def test_no_table_holds_the_code_in_clear(app: Flask, sms_outbox: list[SentSms]) -> None:
    state = get_state(app)
    issued = engine(app).issue(PHONE, Usage.SIGN_IN)
    code = last_code()
    with pytest.raises(InvalidCode):
        engine(app).verify(issued.id, wrong(code), usage=Usage.SIGN_IN)
    dump = []
    for table in state.db.metadata.sorted_tables:
        for row in state.db.session.execute(sa.select(table)):
            dump.append(" ".join(str(value) for value in row))
    text = "\n".join(dump)
    assert issued.id in text
    assert PHONE in text
    assert code not in text

    Challenge = state.models.Challenge
    stored = state.db.session.execute(
        sa.select(Challenge.digest).where(Challenge.id == issued.id)
    ).scalar_one()
    key = hmac.new(b"test-secret-key", b"flask-sms-otp:code-digest:v1", "sha256").digest()
    message = f"{issued.id}\x1fSignIn\x1f{PHONE}\x1f{code}".encode()
    assert stored == hmac.new(key, message, "sha256").hexdigest()
    other_key = derive_keys(["another-secret"])[0]
    assert stored != code_digest(other_key, issued.id, "SignIn", PHONE, code)


def test_rotated_secret_key_still_verifies_codes_sent_before(
    app: Flask, sms_outbox: list[SentSms]
) -> None:
    issued = engine(app).issue(PHONE, Usage.SIGN_IN)
    # What SmsOtp builds from SECRET_KEY="new" and SECRET_KEY_FALLBACKS=["test-secret-key"]:
    get_state(app).challenges.codes.keys = derive_keys(["new", "test-secret-key"])
    assert engine(app).verify(issued.id, last_code(), usage=Usage.SIGN_IN)


def test_codes_do_not_survive_a_key_change_without_fallback(
    app: Flask, sms_outbox: list[SentSms]
) -> None:
    issued = engine(app).issue(PHONE, Usage.SIGN_IN)
    get_state(app).challenges.codes.keys = derive_keys(["new"])
    with pytest.raises(InvalidCode):
        engine(app).verify(issued.id, last_code(), usage=Usage.SIGN_IN)


# 12. Not in logs or signals


def test_code_never_reaches_logs_or_signals(
    app: Flask, clock: FakeClock, sms_outbox: list[SentSms], caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[dict[str, Any]] = []

    def receiver(sender: Flask, **kwargs: Any) -> None:
        assert sender is app
        seen.append(kwargs)

    caplog.set_level(logging.DEBUG)
    signals = (code_sent, code_verified, verification_failed, delivery_failed)
    for signal in signals:
        signal.connect(receiver)
    try:
        issued = engine(app).issue(PHONE, Usage.SIGN_IN)
        first = last_code()
        clock.advance(60)
        engine(app).resend(issued.id)
        code = last_code()
        with pytest.raises(InvalidCode):
            engine(app).verify(issued.id, wrong(code), usage=Usage.SIGN_IN)
        engine(app).verify(issued.id, code, usage=Usage.SIGN_IN)
        fail_next_send()
        with pytest.raises(ProviderUnavailable):
            engine(app).issue(PHONE, Usage.SIGN_IN)
    finally:
        for signal in signals:
            signal.disconnect(receiver)
    assert len(seen) == 5
    assert [s.get("resend") for s in seen[:2]] == [False, True]
    assert seen[2]["reason"] == "invalid"
    assert seen[3]["phone"] == PHONE
    assert isinstance(seen[4]["error"], ProviderUnavailable)
    everything = caplog.text + repr(seen)
    assert "+*********8000" in caplog.text  # numbers are masked in logs
    assert PHONE not in caplog.text
    for secret in (first, code, wrong(code)):
        assert secret not in everything


# 13. Constant-time compare and input hygiene


@pytest.fixture
def compare_spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    return calls


def test_verification_goes_through_compare_digest(
    app: Flask, sms_outbox: list[SentSms], compare_spy: list[tuple[str, str]]
) -> None:
    issued = engine(app).issue(PHONE, Usage.SIGN_IN)
    engine(app).verify(issued.id, last_code(), usage=Usage.SIGN_IN)
    assert len(compare_spy) == 1
    assert all(isinstance(x, str) and re.fullmatch("[0-9a-f]{64}", x) for x in compare_spy[0])


MALFORMED: list[Any] = [
    "１２３４５６",
    "١٢٣٤٥٦",
    " 123456",
    "12345",
    "1234567",
    "",
    "1" * 10_000,
    ["123456"],
    None,
    123456,
]


def test_malformed_codes_fail_cleanly_and_count(
    make_app: AppFactory,
    database_uri: str,
    compare_spy: list[tuple[str, str]],
) -> None:
    app = make_app(
        SQLALCHEMY_DATABASE_URI=database_uri,
        SMS_OTP_MAX_ATTEMPTS=10,
        code_generator=lambda n: "123456",
    )
    with app.app_context():
        issued = engine(app).issue(PHONE, Usage.SIGN_IN)
        for n, bad in enumerate(MALFORMED, start=1):
            with pytest.raises(InvalidCode):
                engine(app).verify(issued.id, bad, usage=Usage.SIGN_IN)
            assert attempts(app, issued.id) == n
        assert compare_spy == []  # nothing malformed reached the comparison
        with pytest.raises(TooManyAttempts):
            engine(app).verify(issued.id, "123456", usage=Usage.SIGN_IN)


@pytest.mark.parametrize("bad_id", [None, 42, "", "short", "x" * 65, "ünïcode" * 5, ["a" * 32]])
def test_malformed_challenge_ids_are_invalid(app: Flask, bad_id: Any) -> None:
    with pytest.raises(InvalidCode):
        engine(app).verify(bad_id, "123456", usage=Usage.SIGN_IN)


def test_a_silent_challenge_sends_nothing_and_never_verifies(
    make_app: AppFactory, database_uri: str, sms_outbox: list[SentSms]
) -> None:
    app = make_app(SQLALCHEMY_DATABASE_URI=database_uri, code_generator=lambda n: "123456")
    with app.app_context():
        issued = engine(app).issue(PHONE, Usage.SIGN_IN, deliver=False)
        assert issued.phone == PHONE
        assert sms_outbox == []
        for code in ["", "123456"]:
            with pytest.raises(InvalidCode):
                engine(app).verify(issued.id, code, usage=Usage.SIGN_IN)


# Delivery failure (security bar 29, engine side)


def test_failed_delivery_closes_the_challenge(
    make_app: AppFactory, database_uri: str, sms_outbox: list[SentSms]
) -> None:
    app = make_app(SQLALCHEMY_DATABASE_URI=database_uri, code_generator=lambda n: "123456")
    with app.app_context():
        fail_next_send(ProviderRejected("blocked", connector="memory", provider_code="60410"))
        with pytest.raises(ProviderRejected):
            engine(app).issue(PHONE, Usage.SIGN_IN)
        assert sms_outbox == []
        Challenge = get_state(app).models.Challenge
        challenge_id = get_state(app).db.session.execute(sa.select(Challenge.id)).scalar_one()
        with pytest.raises(InvalidCode):  # no valid code is left outstanding
            engine(app).verify(challenge_id, "123456", usage=Usage.SIGN_IN)


def test_usage_must_be_a_known_type(app: Flask) -> None:
    with pytest.raises(ValueError, match="Login"):
        engine(app).issue(PHONE, "Login")


def test_purge_deletes_expired_challenges(
    app: Flask, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    old = engine(app).issue(PHONE, Usage.SIGN_IN)
    clock.advance(601)
    fresh = engine(app).issue(OTHER_PHONE, Usage.SIGN_IN)
    assert engine(app).purge() == (1, 0)
    with pytest.raises(InvalidCode):
        engine(app).verify(old.id, sms_outbox[0].code, usage=Usage.SIGN_IN)
    assert engine(app).verify(fresh.id, last_code(), usage=Usage.SIGN_IN)


# 8 and 9. Concurrency


def _race(app: Flask, count: int, work: Callable[[int], None]) -> None:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                work(n)
            except BaseException as exc:  # collected and re-raised below
                errors.append(exc)
            finally:
                get_state(app).db.session.remove()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]


def test_concurrent_right_answers_succeed_exactly_once(
    app: Flask, sms_outbox: list[SentSms]
) -> None:
    issued = engine(app).issue(PHONE, Usage.SIGN_IN)
    code = last_code()
    outcomes: list[str] = []

    def submit(n: int) -> None:
        try:
            engine(app).verify(issued.id, code, usage=Usage.SIGN_IN)
            outcomes.append("ok")
        except (InvalidCode, TooManyAttempts) as exc:
            outcomes.append(type(exc).__name__)

    _race(app, 20, submit)
    assert len(outcomes) == 20
    assert outcomes.count("ok") == 1


def test_concurrent_guesses_get_at_most_the_attempt_limit(
    make_app: AppFactory, database_uri: str, compare_spy: list[tuple[str, str]]
) -> None:
    app = make_app(SQLALCHEMY_DATABASE_URI=database_uri, code_generator=lambda n: "999999")
    with app.app_context():
        issued = engine(app).issue(PHONE, Usage.SIGN_IN)
    outcomes: list[str] = []

    def guess(n: int) -> None:
        try:
            engine(app).verify(issued.id, f"{n:06d}", usage=Usage.SIGN_IN)
            outcomes.append("ok")
        except (InvalidCode, TooManyAttempts) as exc:
            outcomes.append(type(exc).__name__)

    _race(app, 50, guess)
    with app.app_context():
        assert attempts(app, issued.id) == 5
    assert len(compare_spy) <= 5
    assert outcomes.count("InvalidCode") == 5
    assert outcomes.count("TooManyAttempts") == 45
