"""Resends that are refused spend nothing, a resent second step lives as long as its new
code, and a code to a new number needs a fresh identity check."""

from __future__ import annotations

import pytest

from flask_sms_otp.testing import SentSms

from ..helpers import (
    OTHER_PHONE,
    PHONE,
    ApiClient,
    AppFactory,
    FakeClock,
    create_user,
    error_code,
    last_code,
)


@pytest.mark.real_limits
def test_a_refused_resend_spends_no_send_budget(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = make_app(clock=clock, SMS_OTP_SEND_LIMIT_PER_NUMBER="2/hour")
    create_user(app, PHONE)
    client = ApiClient(app)
    vid = client.request_code(PHONE, "SignIn")
    for _ in range(3):  # clicked too early: told when, and nothing counted
        early = client.post(f"/verification-codes/{vid}/resend")
        assert early.status_code == 429
        assert error_code(early) == "resend_not_allowed"
        assert early.headers["Retry-After"] == "60"
    clock.advance(60)
    resent = client.post(f"/verification-codes/{vid}/resend")
    assert resent.status_code == 202  # the number's second send of the hour
    assert len(sms_outbox) == 2
    clock.advance(60)
    over = client.post(f"/verification-codes/{vid}/resend")
    assert over.status_code == 429
    assert error_code(over) == "rate_limited"


def test_a_resent_second_step_lives_as_long_as_its_new_code(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = make_app(clock=clock)
    create_user(app, PHONE, mfa=True)
    client = ApiClient(app)
    started = client.sign_in_password(PHONE)
    assert started.get_json()["mfa_required"] is True
    vid = started.get_json()["verification_id"]
    clock.advance(500)
    assert client.post(f"/verification-codes/{vid}/resend").status_code == 202
    clock.advance(200)  # 700 s after the password: past the first code's 600 s
    done = client.post("/mfa", {"verification_id": vid, "code": last_code()})
    assert done.status_code == 200
    assert client.signed_in_phone() == PHONE


def test_a_code_to_a_new_number_needs_a_fresh_identity_check(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = make_app(clock=clock)
    create_user(app, PHONE)
    client = ApiClient(app)
    assert client.sign_in_by_code(PHONE, sms_outbox).status_code == 200
    sent = len(sms_outbox)
    refused = client.send_code(OTHER_PHONE, "BindNewIdentifier")
    assert refused.status_code == 401
    assert error_code(refused) == "verification_required"
    assert len(sms_outbox) == sent
    assert client.verify_identity(sms_outbox).status_code == 200
    assert client.send_code(OTHER_PHONE, "BindNewIdentifier").status_code == 202
    assert sms_outbox[-1].to == OTHER_PHONE
