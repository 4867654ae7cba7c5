"""Entering a code: wrong, malformed, expired, used, too many attempts, a locked number."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from flask_sms_otp.sessions import FLOW

from ..helpers import PLAIN_HTTP, AppFactory, FakeClock, add_user, last_code, signed_in, submit
from .helpers import KNOWN, UNKNOWN, Page, error_text, flow_id, neutral


def test_wrong_code_is_shown_on_the_code_field(visitor: FlaskClient) -> None:
    response = submit(visitor, "/auth/sign-up", {"phone": UNKNOWN})
    wrong = "000000" if last_code() != "000000" else "111111"
    failed = submit(visitor, response.location, {"code": wrong, "password": ""})
    assert failed.status_code == 400
    assert error_text(failed.text, "code") == "The code is invalid or has expired."
    assert Page(failed.text).field("code").get("aria-invalid") == "true"
    assert not signed_in(visitor)


@pytest.mark.parametrize(
    "code", ["", "12345", "1234567", "１２３４５６", " 123456", "x" * 10_000, "123456\x00"]
)
def test_malformed_codes_are_a_400_never_a_500(visitor: FlaskClient, code: str) -> None:
    response = submit(visitor, "/auth/sign-in/code", {"phone": UNKNOWN})
    failed = submit(visitor, response.location, {"code": code})
    assert failed.status_code == 400
    assert error_text(failed.text, "code")


def test_expired_code_is_refused_like_a_wrong_one(visitor: FlaskClient, clock: FakeClock) -> None:
    response = submit(visitor, "/auth/sign-up", {"phone": UNKNOWN})
    code = last_code()
    clock.advance(601)
    failed = submit(visitor, response.location, {"code": code, "password": ""})
    assert failed.status_code == 400
    assert error_text(failed.text, "code") == "The code is invalid or has expired."


def test_a_used_code_does_not_work_again(visitor: FlaskClient, member: Any) -> None:
    response = submit(visitor, "/auth/sign-in/code", {"phone": KNOWN})
    vid = flow_id(visitor)
    code = last_code()
    assert submit(visitor, response.location, {"code": code}).status_code == 302
    replay = visitor.application.test_client()
    with replay.session_transaction() as session:
        session[FLOW] = {"name": "sign-in-code", "vid": vid}
    failed = submit(replay, response.location, {"code": code})
    assert failed.status_code == 400
    assert not signed_in(replay)


def test_too_many_attempts_then_even_the_right_code_fails(visitor: FlaskClient) -> None:
    response = submit(visitor, "/auth/sign-up", {"phone": UNKNOWN})
    right = last_code()
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(5):
        assert submit(visitor, response.location, {"code": wrong}).status_code == 400
    failed = submit(visitor, response.location, {"code": right, "password": ""})
    assert failed.status_code == 429
    assert error_text(failed.text, "code") == "Too many attempts. Ask for a new code."
    assert not signed_in(visitor)


def test_a_locked_number_answers_alike_and_says_when(
    make_app: AppFactory, clock: FakeClock
) -> None:
    # On the fake clock: on the real one, a slow request moves the resend countdown the
    # locked page shows, and the two numbers' pages differ by a second.
    site = make_app(clock=clock, SMS_OTP_LOCKOUT_THRESHOLD=3, **PLAIN_HTTP)
    add_user(site)
    answers = {}
    for phone in (KNOWN, UNKNOWN):
        visitor = site.test_client()
        step = submit(visitor, "/auth/sign-in/code", {"phone": phone}).location
        wrong = "000000" if phone == UNKNOWN or last_code(phone) != "000000" else "111111"
        for _ in range(3):
            assert submit(visitor, step, {"code": wrong}).status_code == 400
        locked = submit(visitor, step, {"code": wrong})
        again = submit(visitor, "/auth/sign-in/code", {"phone": phone})
        answers[phone] = [
            (r.status_code, r.headers.get("Retry-After"), neutral(r.text, phone))
            for r in (locked, again)
        ]
        assert locked.status_code == 429
        assert error_text(locked.text, "code") == "Too many attempts. Try again in 15 minutes."
        assert "Too many attempts. Try again in 15 minutes." in again.text
    assert answers[KNOWN] == answers[UNKNOWN]
