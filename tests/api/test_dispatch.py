"""Who sends a code, and what a request costs the database: one transaction per send and
per verification."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_login import user_logged_in

from flask_sms_otp import delivery_failed
from flask_sms_otp.dispatch import InlineDispatcher, PooledDispatcher, QueuedDispatcher
from flask_sms_otp.state import get_state
from flask_sms_otp.testing import SentSms

from ..helpers import (
    PASSWORD,
    PHONE,
    ApiClient,
    AppFactory,
    challenges_for,
    create_user,
    error_code,
    last_code,
    wrong,
)


@contextmanager
def commits(app: Flask) -> Iterator[list[str]]:
    """Every commit on the app's database while in the block, the engine's and the app's
    session's alike."""
    seen: list[str] = []

    def count(conn: sa.Connection) -> None:
        seen.append("commit")

    with app.app_context():
        engine = get_state(app).db.engine
    sa.event.listen(engine, "commit", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "commit", count)


@pytest.mark.parametrize(
    ("config", "kind"),
    [
        ({}, InlineDispatcher),
        ({"SMS_OTP_CONNECTOR": "console"}, PooledDispatcher),
        ({"SMS_OTP_DELIVERY": "celery"}, QueuedDispatcher),
    ],
)
def test_the_dispatcher_is_chosen_once_from_the_config(
    make_app: AppFactory, config: dict[str, Any], kind: type[Any]
) -> None:
    assert type(get_state(make_app(**config)).dispatcher) is kind


def test_a_send_and_a_sign_in_by_code_commit_once_each(
    make_app: AppFactory, database_uri: str, sms_outbox: list[SentSms]
) -> None:
    app = make_app(SQLALCHEMY_DATABASE_URI=database_uri)
    create_user(app, PHONE)
    client = ApiClient(app)
    client.fetch_csrf()
    with commits(app) as seen:
        vid = client.request_code(PHONE, "SignIn")
    assert len(seen) == 1  # the challenge and its delivery record together
    with commits(app) as seen:
        answer = client.post("/sign-in/code", {"verification_id": vid, "code": wrong(last_code())})
    assert (answer.status_code, error_code(answer)) == (400, "invalid_code")
    assert len(seen) == 1  # the attempt and the failure together
    with commits(app) as seen:
        answer = client.post("/sign-in/code", {"verification_id": vid, "code": last_code()})
    assert answer.status_code == 200
    assert len(seen) == 1  # the attempt, the code consumed and the session's record
    assert client.signed_in_phone() == PHONE
    sessions = client.get("/account/sessions").get_json()["sessions"]
    assert len(sessions) == 1


def test_with_the_queue_down_a_send_is_closed_recorded_and_signalled(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch, sms_outbox: list[SentSms]
) -> None:
    app = make_app(SMS_OTP_DELIVERY="celery")
    create_user(app, PHONE)

    def broker_down(*_args: object) -> None:
        raise ConnectionError("the broker is down")

    dispatcher = get_state(app).dispatcher
    assert isinstance(dispatcher, QueuedDispatcher)
    monkeypatch.setattr(dispatcher, "enqueue", broker_down)
    failed: list[Any] = []

    def receiver(_sender: object, **kwargs: Any) -> None:
        failed.append(kwargs["error"])

    client = ApiClient(app)
    with delivery_failed.connected_to(receiver, app):
        # A sign-in code: the answer is the usual one, whoever holds the number.
        client.request_code(PHONE, "SignIn")
        # A signed-in user's own code: told the truth.
        assert client.sign_in_password(PHONE, PASSWORD).status_code == 200
        answer = client.send_code(None, "UserPermissionValidation")
    assert (answer.status_code, error_code(answer)) == (503, "delivery_failed")
    assert [error.connector for error in failed] == ["queue", "queue"]
    assert all(row.closed_at is not None for row in challenges_for(app, PHONE))
    with app.app_context():
        Record = get_state(app).models.DeliveryRecord
        statuses = get_state(app).db.session.execute(sa.select(Record.status)).scalars().all()
    assert list(statuses) == ["failed", "failed"]
    assert sms_outbox == []


def test_an_apps_sign_in_receiver_may_write_and_commit_on_sqlite(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    """Apps stamp the last sign-in from Flask-Login's ``user_logged_in``, on their own
    session, and commit. On SQLite one writer holds the file at a time: that must not wait
    for a transaction of ours."""
    app = make_app()
    create_user(app, PHONE)
    with app.app_context():
        db = get_state(app).db
        db.session.execute(sa.text("CREATE TABLE sign_in_log (user_id TEXT)"))
        db.session.commit()

    def stamp(_app: Flask, user: Any) -> None:
        db.session.execute(sa.text("INSERT INTO sign_in_log VALUES (:id)"), {"id": user.get_id()})
        db.session.commit()

    client = ApiClient(app)
    with user_logged_in.connected_to(stamp, app):
        assert client.sign_in_by_code(PHONE, sms_outbox).status_code == 200
    assert client.signed_in_phone() == PHONE
    with app.app_context():
        logged = db.session.execute(sa.text("SELECT count(*) FROM sign_in_log")).scalar()
    assert logged == 1
