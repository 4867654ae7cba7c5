"""Shared fixtures: an app factory on SQLite or PostgreSQL, a fake clock, relaxed limits
unless a test is marked ``real_limits``. Helpers the tests import are in :mod:`tests.helpers`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_sms_otp import SmsOtp
from flask_sms_otp.state import get_state

from .helpers import (
    POSTGRES_URI,
    RELAXED_LIMITS,
    REQUIRE_SERVICES,
    AppFactory,
    FakeClock,
    postgres_unavailable,
)


@pytest.fixture
def app_limits(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The limits every app the fixtures build starts from: relaxed, or none (the package's
    defaults) for a test marked ``real_limits``. A test's own config overrides either."""
    if request.node.get_closest_marker("real_limits") is not None:
        return {}
    return dict(RELAXED_LIMITS)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def postgres_uri() -> str:
    reason = postgres_unavailable()
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


@pytest.fixture
def make_app(sqlite_uri: str, app_limits: dict[str, Any]) -> Iterator[AppFactory]:
    """``make_app(**config)``: a Flask app with Flask-SQLAlchemy and SmsOtp initialised and
    the tables created. Defaults: the memory connector, SQLite in a temporary file, relaxed
    limits (see ``app_limits``).

    Keyword arguments ``clock``, ``code_generator`` and ``admin_check`` go to
    :class:`SmsOtp`; anything else is app config. Tables are dropped at the end of the
    test (PostgreSQL is shared).
    """
    made: list[tuple[Flask, SQLAlchemy]] = []

    def factory(
        *, clock: Any = None, code_generator: Any = None, admin_check: Any = None, **config: Any
    ) -> Flask:
        app = Flask("sms_otp_test")
        app.config.update(
            TESTING=True,
            SECRET_KEY="test-secret-key",
            SQLALCHEMY_DATABASE_URI=sqlite_uri,
            SMS_OTP_CONNECTOR="memory",
            # A strong hash takes most of a second; tests that time it set their own.
            SMS_OTP_PASSWORD_HASH_METHOD="pbkdf2:sha256:1000",
            **app_limits,
        )
        app.config.update(config)
        db = SQLAlchemy(app)
        options: dict[str, Any] = {}
        if clock is not None:
            options["clock"] = clock
        if code_generator is not None:
            options["code_generator"] = code_generator
        if admin_check is not None:
            options["admin_check"] = admin_check
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
def make_example_app(tmp_path: Any, app_limits: dict[str, Any]) -> Iterator[AppFactory]:
    """``make_example_app(**config)``: the example app itself, on a temporary SQLite file with
    the memory connector, a cheap password hash and relaxed limits (see ``app_limits``);
    its engine is disposed afterwards."""
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
                **app_limits,
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


@pytest.fixture
def make_team_app(database_uri: str, app_limits: dict[str, Any]) -> Iterator[AppFactory]:
    """``make_team_app(**config)``: the invitations example (examples/team_app), on SQLite
    and on PostgreSQL (``database_uri``), with the memory connector and relaxed limits; its
    tables are dropped afterwards."""
    from examples.team_app import create_app, db

    made: list[Flask] = []

    def factory(**config: Any) -> Flask:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "team-test",
                "SQLALCHEMY_DATABASE_URI": database_uri,
                "SMS_OTP_CONNECTOR": "memory",
                "SMS_OTP_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
                "SMS_OTP_SECURE_COOKIES": False,
                **app_limits,
                **config,
            }
        )
        with app.app_context():  # PostgreSQL is shared: start from empty tables
            db.drop_all()
            db.create_all()
        made.append(app)
        return app

    yield factory
    for app in made:
        get_state(app).sender.drain()
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()
