"""The background sender (security check 31): protected sends leave the request at once;
when the pool is full a send is refused, and refused loudly, never dropped in silence."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import sqlalchemy as sa

from flask_sms_otp import delivery_failed
from flask_sms_otp.state import get_state
from flask_sms_otp.testing import SentSms, wait_for_sends

from ..helpers import (
    OTHER_PHONE,
    PHONE,
    ApiClient,
    AppFactory,
    FakeClock,
    challenges_for,
    create_user,
    last_code,
)


def test_a_full_sender_refuses_the_send_and_says_so(
    make_app: AppFactory,
    slow_connector: str,
    clock: FakeClock,
    sms_outbox: list[SentSms],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app(
        SMS_OTP_CONNECTOR=slow_connector,
        SMS_OTP_SENDER_THREADS=1,
        SMS_OTP_SENDER_BACKLOG=0,
        clock=clock,
    )
    create_user(app, PHONE)
    create_user(app, OTHER_PHONE)
    failures: list[dict[str, Any]] = []

    def receiver(sender: object, **kwargs: Any) -> None:
        failures.append(kwargs)

    client = ApiClient(app)
    with delivery_failed.connected_to(receiver, app), caplog.at_level(logging.WARNING):
        first = client.send_code(PHONE, "SignIn")  # takes the one thread for 150 ms
        second = client.send_code(OTHER_PHONE, "SignIn")  # finds the pool full
        wait_for_sends(app)
    # The answers do not change: they must not depend on the number.
    assert (first.status_code, second.status_code) == (202, 202)
    assert set(first.get_json()) == set(second.get_json())
    assert [m.to for m in sms_outbox] == [PHONE]
    (refused,) = challenges_for(app, OTHER_PHONE)
    assert refused.closed_at is not None  # no usable code left outstanding
    assert [f["phone"] for f in failures] == [OTHER_PHONE]
    assert "background sender is full" in failures[0]["error"].describe()
    assert "background sender is full" in caplog.text
    with app.app_context():
        state = get_state(app)
        Record = state.models.DeliveryRecord
        rows = state.db.session.execute(
            sa.select(Record.status, Record.error).where(Record.challenge_id == refused.id)
        ).all()
    assert [status for status, _ in rows] == ["failed"]
    assert "background sender is full" in (rows[0][1] or "")

    # The person asks again once the pool has room: the closed challenge reopens.
    clock.advance(60)
    again = client.post(f"/verification-codes/{second.get_json()['verification_id']}/resend")
    assert again.status_code == 202
    wait_for_sends(app)
    assert sms_outbox[-1].to == OTHER_PHONE
    signed_in = client.post(
        "/sign-in/code",
        {"verification_id": second.get_json()["verification_id"], "code": last_code()},
    )
    assert signed_in.status_code == 200


def test_sends_for_the_signed_in_user_wait_in_the_request(
    make_app: AppFactory, slow_connector: str, sms_outbox: list[SentSms]
) -> None:
    """Codes to the user's own number need no hiding: the request waits for the provider
    and a failure is a 503 the user sees (tests/api/test_provider_failure.py)."""
    app = make_app(SMS_OTP_CONNECTOR=slow_connector)
    create_user(app, PHONE)
    client = ApiClient(app)
    assert client.sign_in_password(PHONE).status_code == 200
    assert client.send_code(None, "UserPermissionValidation").status_code == 202
    assert [m.usage for m in sms_outbox] == ["UserPermissionValidation"]  # already sent
