"""Delivery records and ``flask sms-otp stats``: per-country sent / failed / verified."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import sqlalchemy as sa

from flask_sms_otp import InvalidCode, ProviderRejected, Usage
from flask_sms_otp.dispatch import QueuedDispatcher
from flask_sms_otp.state import get_state
from flask_sms_otp.testing import SentSms, fail_next_send

from .helpers import (
    AppFactory,
    FakeClock,
)

CN = "+8613800138000"
US = "+12015550123"


def test_each_send_is_recorded_and_verification_is_credited(
    make_app: AppFactory, database_uri: str, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = make_app(SQLALCHEMY_DATABASE_URI=database_uri, clock=clock)
    with app.app_context():
        engine, send = get_state(app).challenges, get_state(app).dispatcher
        cn = send.issue(CN, Usage.SIGN_IN, protect=False)
        engine.verify(cn.id, sms_outbox[-1].code, usage=Usage.SIGN_IN)
        us = send.issue(US, Usage.REGISTER, protect=False)
        with pytest.raises(InvalidCode):
            engine.verify(
                us.id,
                "000000" if sms_outbox[-1].code != "000000" else "111111",
                usage=Usage.REGISTER,
            )
        fail_next_send(ProviderRejected("blocked", connector="memory", provider_code="60410"))
        with pytest.raises(ProviderRejected):
            send.issue(US, Usage.SIGN_IN, protect=False)

        Record = get_state(app).models.DeliveryRecord
        rows = (
            get_state(app).db.session.execute(sa.select(Record).order_by(Record.id)).scalars().all()
        )
        assert [(r.country, r.usage, r.status) for r in rows] == [
            ("CN", "SignIn", "sent"),
            ("US", "Register", "sent"),
            ("US", "SignIn", "failed"),
        ]
        assert rows[0].phone_masked == "+*********8000"
        assert rows[0].challenge_id == cn.id
        assert rows[0].verified_at == clock.now
        assert rows[1].verified_at is None
        assert rows[0].provider_message_id == sms_outbox[0].message_id
        assert rows[2].error is not None
        assert "60410" in rows[2].error
        assert all(r.latency_ms is not None and r.latency_ms >= 0 for r in rows)
        everything = " ".join(str(v) for r in rows for v in vars(r).values())
        assert CN not in everything
        assert sms_outbox[0].code not in everything

        stats = {s.country: s for s in get_state(app).delivery.records.stats(clock.now)}  # type: ignore[union-attr]
        assert (stats["CN"].sent, stats["CN"].failed, stats["CN"].verified) == (1, 0, 1)
        assert (stats["US"].sent, stats["US"].failed, stats["US"].verified) == (1, 1, 0)
        assert stats["CN"].conversion == 1.0
        assert stats["US"].conversion == 0.0


def test_stats_command(make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]) -> None:
    app = make_app(clock=clock)
    with app.app_context():
        engine = get_state(app).challenges
        for _ in range(2):
            issued = get_state(app).dispatcher.issue(CN, Usage.SIGN_IN)
            engine.verify(issued.id, sms_outbox[-1].code, usage=Usage.SIGN_IN)
        get_state(app).dispatcher.issue(US, Usage.SIGN_IN)
    output = app.test_cli_runner().invoke(args=["sms-otp", "stats", "--days", "1"]).output
    lines = output.splitlines()
    assert lines[0].split() == ["country", "sent", "failed", "verified", "conversion"]
    assert lines[1].split() == ["CN", "2", "0", "2", "100%"]
    assert lines[2].split() == ["US", "1", "0", "0", "0%"]


def test_stats_window_and_purge(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = make_app(clock=clock)
    with app.app_context():
        get_state(app).dispatcher.issue(CN, Usage.SIGN_IN)
    clock.advance(8 * 86400)
    runner = app.test_cli_runner()
    assert "no SMS in the last 7 days" in runner.invoke(args=["sms-otp", "stats"]).output
    result = runner.invoke(args=["sms-otp", "purge", "--records-days", "7"])
    assert "1 delivery records older than 7 days" in result.output
    with app.app_context():
        Record = get_state(app).models.DeliveryRecord
        assert get_state(app).db.session.execute(sa.select(sa.func.count(Record.id))).scalar() == 0


def test_a_broken_record_table_does_not_fail_the_send(
    make_app: AppFactory, sms_outbox: list[SentSms], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    with app.app_context():
        state = get_state(app)
        state.models.DeliveryRecord.__table__.drop(state.db.engine)  # type: ignore[attr-defined]
        with caplog.at_level(logging.ERROR, logger="flask_sms_otp"):
            issued = state.dispatcher.issue(CN, Usage.SIGN_IN)
        assert "could not write the delivery record" in caplog.text
        assert state.challenges.verify(issued.id, sms_outbox[-1].code, usage=Usage.SIGN_IN)


def test_queued_attempts_signal_delivery_failed_only_when_giving_up(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    """What the Celery task does per attempt, without a worker: a transient failure that
    will be retried records the attempt but neither signals nor closes the challenge."""
    from flask_sms_otp import ProviderUnavailable, delivery_failed

    app = make_app()
    failures: list[object] = []

    def receiver(sender: object, **kwargs: object) -> None:
        failures.append(kwargs["error"])

    with app.app_context(), delivery_failed.connected_to(receiver, app):
        engine = get_state(app).challenges
        queued = QueuedDispatcher(engine, get_state(app).delivery, enqueue=lambda *_: None)
        issued = queued.issue(CN, Usage.SIGN_IN)
        fail_next_send(times=2)
        with pytest.raises(ProviderUnavailable):
            queued.deliver_queued(issued.id, final_attempt=False)
        assert failures == []
        row = engine.find(issued.id)
        assert row is not None
        assert row.closed_at is None
        with pytest.raises(ProviderUnavailable):
            queued.deliver_queued(issued.id, final_attempt=True)
        assert len(failures) == 1
        row = engine.find(issued.id)
        assert row is not None
        assert row.closed_at is not None
        Record = get_state(app).models.DeliveryRecord
        statuses = (
            get_state(app)
            .db.session.execute(sa.select(Record.status).order_by(Record.id))
            .scalars()
            .all()
        )
        assert list(statuses) == ["failed", "failed"]  # one record per attempt


def test_a_code_verified_before_its_send_is_recorded_still_counts_as_verified(
    make_app: AppFactory, database_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker records a send once the provider has answered; the person may type the code
    in before that. The conversion report must still count the code as verified."""
    app = make_app(SQLALCHEMY_DATABASE_URI=database_uri)
    with app.app_context():
        state = get_state(app)
        queued = QueuedDispatcher(state.challenges, state.delivery, enqueue=lambda *_: None)
        issued = queued.issue(CN, Usage.SIGN_IN)
        attempt = state.delivery.attempt

        def answered_then_typed_in(message: Any, **kwargs: Any) -> Any:
            outcome = attempt(message, **kwargs)
            state.challenges.verify(issued.id, message.code, usage=Usage.SIGN_IN)
            return outcome

        monkeypatch.setattr(state.delivery, "attempt", answered_then_typed_in)
        assert queued.deliver_queued(issued.id)
        Record = state.models.DeliveryRecord
        row = state.db.session.execute(sa.select(Record.status, Record.verified_at)).one()
    assert row.status == "sent"
    assert row.verified_at is not None
