"""Security check 33: no lock-out of someone else without sending them a text.

An anonymous attacker must not be able to (a) fill the victim's number block, (b) spend
wrong codes on a challenge that texted nobody, or (c) spend the victim's send budget, and so
lock the victim out of the second step or their own codes; nor can one visitor's junk
refuse the next visitor's typo. Through all of it, anonymous answers stay alike for every
number.
"""

from __future__ import annotations

import pytest
from flask import Flask

from flask_sms_otp.testing import SentSms

from ..helpers import (
    PHONE,
    ApiClient,
    AppFactory,
    create_user,
    error_code,
    last_code,
    sent_to,
    wrong,
)

#: The victim, in the block +44740012xxxx; an attacker's numbers from the same block.
VICTIM = "+447400123456"
NEIGHBOURS = [f"+4474001234{n:02d}" for n in range(10)]
NOBODY = "+447400123499"  # the same block, no account


def attacker(app: Flask, n: int = 0) -> ApiClient:
    return ApiClient(app, ip=f"203.0.113.{n + 1}")


@pytest.mark.real_limits
def test_a_filled_block_does_not_lock_the_victim_out_of_the_second_step(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    """(a) Ten silent SignIn requests, from ten addresses, fill the victim's block of 10,000
    numbers. The victim, past the password, still gets the second step's code; signed in,
    they still get a code to confirm it is them."""
    app = make_app(SMS_OTP_SEND_LIMIT_PER_NUMBER="5/hour", SMS_OTP_SEND_LIMIT_PER_IP="100/hour")
    create_user(app, VICTIM, mfa=True)
    for n, number in enumerate(NEIGHBOURS):
        assert attacker(app, n).send_code(number, "SignIn").status_code == 202
    assert attacker(app, 11).send_code(NOBODY, "SignIn").status_code == 429  # the block is full
    assert sms_outbox == []

    victim = ApiClient(app, ip="198.51.100.20")
    first = victim.sign_in_password(VICTIM)
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["mfa_required"] is True
    second = victim.post(
        "/mfa",
        {"verification_id": first.get_json()["verification_id"], "code": last_code()},
    )
    assert second.status_code == 200
    assert victim.verify_identity(sms_outbox).status_code == 200


def test_wrong_codes_on_a_challenge_that_texted_nobody_do_not_lock_the_holder(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    """(b) A Register challenge for a number that has an account sends nothing. Ten wrong
    codes on such challenges lock those challenges (as ten on real ones would, so the
    attacker learns nothing), never the holder's real codes."""
    app = make_app(SMS_OTP_LOCKOUT_THRESHOLD=10)
    create_user(app, VICTIM)
    mallory = attacker(app)
    for _ in range(2):
        vid = mallory.request_code(VICTIM, "Register")
        for _ in range(5):
            answer = mallory.post(
                "/sign-up", {"verification_id": vid, "code": "123456", "password": "x" * 12}
            )
            assert error_code(answer) == "invalid_code"
    assert sms_outbox == []
    locked = mallory.send_code(VICTIM, "Register")
    assert (locked.status_code, error_code(locked)) == (429, "too_many_attempts")

    victim = ApiClient(app, ip="198.51.100.20")
    signed_in = victim.sign_in_by_code(VICTIM, sms_outbox)
    assert signed_in.status_code == 200, signed_in.get_json()


def test_lockouts_look_the_same_for_numbers_with_and_without_an_account(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    """What (b) must not become: a way to tell who has an account. Ten wrong codes lock
    Register for a number with an account (silent challenges) and for one without (real
    challenges) alike, and SignIn the same way round."""
    app = make_app(SMS_OTP_LOCKOUT_THRESHOLD=10)
    create_user(app, VICTIM)
    mallory = attacker(app)

    def lock(number: str, usage: str) -> tuple[int, str]:
        for _ in range(2):
            vid = mallory.request_code(number, usage)
            for _ in range(5):
                path = "/sign-up" if usage == "Register" else "/sign-in/code"
                code = wrong(last_code()) if sms_outbox else "123456"
                answer = mallory.post(path, {"verification_id": vid, "code": code})
                assert error_code(answer) == "invalid_code"
        after = mallory.send_code(number, usage)
        return after.status_code, error_code(after)

    assert lock(VICTIM, "Register") == lock(NOBODY, "Register") == (429, "too_many_attempts")
    assert lock(VICTIM, "SignIn") == lock(NEIGHBOURS[0], "SignIn") == (429, "too_many_attempts")


@pytest.mark.real_limits
def test_a_spent_send_budget_leaves_the_holders_own_budget(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    """(c) Five silent Register requests spend the victim's hourly sends (5/hour). The
    victim past the password still gets the second step's code; anonymous answers for the
    victim's number are the same 429 as for any number whose budget is spent."""
    app = make_app(
        SMS_OTP_SEND_LIMIT_PER_NUMBER="5/hour",
        SMS_OTP_SEND_LIMIT_PER_IP="100/hour",
        SMS_OTP_SEND_LIMIT_PER_PREFIX="100/hour",
    )
    create_user(app, VICTIM, mfa=True)
    for n in range(5):
        assert attacker(app, n).send_code(VICTIM, "Register").status_code == 202
        assert attacker(app, n).send_code(NOBODY, "Register").status_code == 202
    spent = attacker(app, 6).send_code(VICTIM, "Register")
    other = attacker(app, 6).send_code(NOBODY, "Register")
    assert (spent.status_code, error_code(spent)) == (other.status_code, error_code(other))
    assert spent.status_code == 429
    assert sent_to(sms_outbox, VICTIM) == []

    victim = ApiClient(app, ip="198.51.100.20")
    first = victim.sign_in_password(VICTIM).get_json()
    assert first["mfa_required"] is True
    assert sent_to(sms_outbox, VICTIM)[-1].usage == "MfaVerification"


@pytest.mark.real_limits
def test_one_visitors_junk_does_not_refuse_the_next_visitors_typo(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app(SMS_OTP_SEND_LIMIT_PER_NUMBER="2/hour", SMS_OTP_SEND_LIMIT_PER_IP="100/hour")
    junk = attacker(app)
    for _ in range(2):
        assert error_code(junk.send_code("junk", "SignIn")) == "invalid_phone"
    assert error_code(junk.send_code("more junk", "SignIn")) == "rate_limited"
    typo = ApiClient(app, ip="198.51.100.20").send_code("+44 7400 12345", "SignIn")
    assert (typo.status_code, error_code(typo)) == (400, "invalid_phone")
    assert ApiClient(app, ip="198.51.100.20").send_code(PHONE, "SignIn").status_code == 202
