"""Scale-out: limits on Redis shared by threads and processes, the flows on PostgreSQL,
and the documented migration path (Alembic autogenerate sees the extension's tables)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa

from flask_sms_otp.state import get_state
from flask_sms_otp.testing import SentSms

from .helpers import (
    PHONE,
    AppFactory,
    require_redis,
)

REDIS_URL = os.environ.get("SMS_OTP_TEST_LIMITS_REDIS_URL", "redis://127.0.0.1:6379/14")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def redis_url() -> str:
    return require_redis(REDIS_URL)


@pytest.fixture
def limits_config(redis_url: str) -> Iterator[dict[str, Any]]:
    prefix = f"sms-otp-test-{uuid.uuid4().hex}"
    yield {
        "RATELIMIT_STORAGE_URI": redis_url,
        "RATELIMIT_KEY_PREFIX": prefix,
        "WTF_CSRF_ENABLED": False,
        "SMS_OTP_SEND_LIMIT_PER_NUMBER": "5/hour",
        "SMS_OTP_SEND_LIMIT_PER_IP": "1000/hour",
        "SMS_OTP_SEND_LIMIT_PER_PREFIX": "1000/hour",
    }
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"*{prefix}*"):
        client.delete(key)


@pytest.mark.real_limits
def test_thirty_concurrent_sends_give_exactly_the_per_number_limit(
    make_app: AppFactory, limits_config: dict[str, Any], sms_outbox: list[SentSms]
) -> None:
    app = make_app(**limits_config)
    with app.app_context():
        get_state(app).users.create(PHONE, None)
        get_state(app).db.session.commit()
    statuses: list[int] = []
    barrier = threading.Barrier(30)

    def send() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post(
            "/auth/api/verification-codes", json={"phone": PHONE, "usage": "SignIn"}
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=send) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [202] * 5 + [429] * 25
    assert len(sms_outbox) == 5


PROCESS_SCRIPT = """
import json, os, sys
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from flask_sms_otp import SmsOtp

app = Flask("other_process")
app.config.update(json.loads(os.environ["APP_CONFIG"]))
db = SQLAlchemy(app)
SmsOtp(app, db=db)
with app.app_context():
    db.create_all()
client = app.test_client()
codes = [
    client.post("/auth/api/verification-codes",
                json={"phone": "+8613800138000", "usage": "Register"}).status_code
    for _ in range(4)
]
print(json.dumps(codes))
"""


@pytest.mark.real_limits
def test_limits_hold_across_two_processes_sharing_redis(
    make_app: AppFactory, limits_config: dict[str, Any], tmp_path: Path
) -> None:
    """Another process spends 4 of the number's 5 sends; this one gets 1, then 429."""
    config = {
        **limits_config,
        "TESTING": True,
        "SECRET_KEY": "other",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/other.db",
        "SMS_OTP_CONNECTOR": "memory",
    }
    done = subprocess.run(  # noqa: S603 - our interpreter, fixed script
        [sys.executable, "-c", textwrap.dedent(PROCESS_SCRIPT)],
        env={**os.environ, "APP_CONFIG": json.dumps(config), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [202, 202, 202, 202]
    client = make_app(**limits_config).test_client()
    answers = [
        client.post("/auth/api/verification-codes", json={"phone": PHONE, "usage": "Register"})
        for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [202, 429]
    assert int(answers[1].headers["Retry-After"]) > 3500


def test_the_flows_on_the_test_database(
    make_app: AppFactory, database_uri: str, sms_outbox: list[SentSms]
) -> None:
    """Sign up, sign out and sign in by code, on SQLite and on PostgreSQL."""
    app = make_app(
        SQLALCHEMY_DATABASE_URI=database_uri,
        WTF_CSRF_ENABLED=False,
    )
    client = app.test_client()
    sent = client.post("/auth/api/verification-codes", json={"phone": PHONE, "usage": "Register"})
    assert sent.status_code == 202
    assert sent.json is not None
    signed_up = client.post(
        "/auth/api/sign-up",
        json={
            "verification_id": sent.json["verification_id"],
            "code": sms_outbox[-1].code,
            "password": "correct horse battery",
        },
    )
    assert signed_up.status_code == 201
    assert client.post("/auth/api/sign-out").status_code == 204
    sent = client.post("/auth/api/verification-codes", json={"phone": PHONE, "usage": "SignIn"})
    assert sent.json is not None
    signed_in = client.post(
        "/auth/api/sign-in/code",
        json={"verification_id": sent.json["verification_id"], "code": sms_outbox[-1].code},
    )
    assert signed_in.status_code == 200
    assert signed_in.json == signed_up.json


def test_alembic_autogenerate_sees_the_extension_tables(
    make_app: AppFactory, tmp_path: Path
) -> None:
    """The documented migration path: the tables live on the app's own metadata, so
    ``flask db migrate`` (Flask-Migrate) writes them into the app's migrations."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    app = make_app()
    empty = sa.create_engine(f"sqlite:///{tmp_path}/empty.db")
    with app.app_context(), empty.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), get_state(app).db.metadata)
    added = {step[1].name for step in diff if step[0] == "add_table"}
    assert {
        "sms_otp_challenge",
        "sms_otp_failure_counter",
        "sms_otp_delivery",
        "sms_otp_session",
        "sms_otp_user",
    } <= added
    indexes = {step[1].name for step in diff if step[0] == "add_index"}
    assert {
        "ix_sms_otp_challenge_phone_usage",
        "ix_sms_otp_session_token_hash",
        "ix_sms_otp_session_user_id",
    } <= indexes


def test_twenty_concurrent_sign_ups_with_one_code_make_one_user(
    make_app: AppFactory, database_uri: str, sms_outbox: list[SentSms]
) -> None:
    app = make_app(SQLALCHEMY_DATABASE_URI=database_uri, WTF_CSRF_ENABLED=False)
    sent = app.test_client().post(
        "/auth/api/verification-codes", json={"phone": PHONE, "usage": "Register"}
    )
    assert sent.json is not None
    body = {"verification_id": sent.json["verification_id"], "code": sms_outbox[-1].code}
    statuses: list[int] = []
    barrier = threading.Barrier(20)

    def sign_up() -> None:
        client = app.test_client()
        barrier.wait()
        statuses.append(client.post("/auth/api/sign-up", json=body).status_code)

    threads = [threading.Thread(target=sign_up) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Exactly one wins. The others are refused: 400, or 429 when they were counted among
    # the attempts before the winner's consume committed.
    assert statuses.count(201) == 1
    assert len(statuses) == 20
    assert set(statuses) <= {201, 400, 429}
    with app.app_context():
        User = get_state(app).user_model
        count = get_state(app).db.session.execute(sa.select(sa.func.count()).select_from(User))
        assert count.scalar() == 1
