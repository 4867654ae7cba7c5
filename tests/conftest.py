"""Shared fixtures: an app factory on SQLite or PostgreSQL, a fake clock."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from werkzeug import Request, Response

from flask_sms_otp import SmsOtp
from flask_sms_otp.state import get_state

POSTGRES_URI = os.environ.get(
    "SMS_OTP_TEST_POSTGRES_URI", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
#: Real user agents, for the sessions list (browser and OS read from them).
CHROME_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
SAFARI_ON_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
FIREFOX_ON_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
#: Set in CI: a missing service fails the run instead of skipping its tests.
REQUIRE_SERVICES = os.environ.get("SMS_OTP_REQUIRE_SERVICES") == "1"


class FakeClock:
    """An aware UTC clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def slow_provider(seconds: float, status: int = 200) -> Callable[[Request], Response]:
    """A fake provider's handler (pytest-httpserver) that answers after ``seconds``."""

    def handler(request: Request) -> Response:
        time.sleep(seconds)
        return Response(json.dumps({"ok": status == 200}), status=status)

    return handler


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _postgres_available() -> str | None:
    """None when the test PostgreSQL server answers, else why not."""
    try:
        engine = sa.create_engine(POSTGRES_URI)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # any failure to reach it means: no server here
        return f"PostgreSQL not reachable at {POSTGRES_URI}: {type(exc).__name__}"
    return None


def require_redis(url: str) -> str:
    """``url`` if a Redis server answers there; else skip (fail in CI) with the reason."""
    import redis

    connection = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        connection.ping()
    except redis.RedisError as exc:
        reason = f"Redis not reachable at {url}: {type(exc).__name__}"
        if REQUIRE_SERVICES:
            pytest.fail(reason)
        pytest.skip(reason)
    finally:
        connection.close()
    return url


@pytest.fixture(scope="session")
def postgres_uri() -> str:
    reason = _postgres_available()
    if reason is not None:
        if REQUIRE_SERVICES:
            pytest.fail(reason)
        pytest.skip(reason)
    return POSTGRES_URI


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_uri(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """Run the test once on SQLite (a file, so threads share it) and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/test.db"
    uri: str = request.getfixturevalue("postgres_uri")
    return uri


@pytest.fixture
def sqlite_uri(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path}/test.db"


AppFactory = Callable[..., Flask]


@pytest.fixture
def make_app(sqlite_uri: str) -> Iterator[AppFactory]:
    """``make_app(**config)``: a Flask app with Flask-SQLAlchemy and SmsOtp initialised and
    the tables created. Defaults: the memory connector, SQLite in a temporary file.

    Keyword arguments ``clock`` and ``code_generator`` go to :class:`SmsOtp`; anything else
    is app config. Tables are dropped at the end of the test (PostgreSQL is shared).
    """
    made: list[tuple[Flask, SQLAlchemy]] = []

    def factory(*, clock: Any = None, code_generator: Any = None, **config: Any) -> Flask:
        app = Flask("sms_otp_test")
        app.config.update(
            TESTING=True,
            SECRET_KEY="test-secret-key",
            SQLALCHEMY_DATABASE_URI=sqlite_uri,
            SMS_OTP_CONNECTOR="memory",
            # A strong hash takes most of a second; tests that time it set their own.
            SMS_OTP_PASSWORD_HASH_METHOD="pbkdf2:sha256:1000",
        )
        app.config.update(config)
        db = SQLAlchemy(app)
        options: dict[str, Any] = {}
        if clock is not None:
            options["clock"] = clock
        if code_generator is not None:
            options["code_generator"] = code_generator
        SmsOtp(app, db=db, **options)
        with app.app_context():
            db.drop_all()
            db.create_all()
        made.append((app, db))
        return app

    yield factory
    for app, db in made:
        get_state(app).sender.drain()  # no background send may outlive its tables
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


@pytest.fixture
def make_example_app(tmp_path: Any) -> Iterator[AppFactory]:
    """``make_example_app(**config)``: the example app itself, on a temporary SQLite file with
    the memory connector and a cheap password hash; its engine is disposed afterwards."""
    from example_app import create_app, db

    made: list[Flask] = []

    def factory(**config: Any) -> Flask:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "example-test",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/example.db",
                "SMS_OTP_CONNECTOR": "memory",
                "SMS_OTP_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
                **config,
            }
        )
        made.append(app)
        return app

    yield factory
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
