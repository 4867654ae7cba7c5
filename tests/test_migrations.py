"""The documented Flask-Migrate recipe, run for real on an app whose ``users`` table already has
rows: ``flask db migrate`` then ``flask db upgrade``, the generated script left as generated.

Each ``flask db`` command is a subprocess, as a deployment runs it, against the app in
tests/migration_app.py ("before" the extension, then "after" following docs/deployment.md).
On PostgreSQL the test makes a database of its own: migrations are DDL, and the shared
``test`` database must not see them.
"""

from __future__ import annotations

import ast
import os
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from flask_sms_otp.testing import outbox
from tests.migration_app import DATABASE_URI, STAGE, create_app

ROOT = Path(__file__).resolve().parent.parent
APP = "tests.migration_app:create_app"
#: Generous: a cold interpreter importing Flask, SQLAlchemy and Alembic on a slow CI machine.
TIMEOUT = 180

ALICE = uuid.UUID("0b7a6f0e-8d1c-4e36-9b57-1f0e3c2a9d41")
BOB = uuid.UUID("5d2c9e7a-3b4f-4a18-8c6e-7e9f0a1b2c3d")
#: The app's users before the extension: Bob is deactivated, Alice has a password.
EXISTING: list[dict[str, Any]] = [
    {
        "id": ALICE,
        "email": "alice@example.com",
        "password_hash": "pbkdf2:sha256:1$x$y",
        "active": True,
    },
    {"id": BOB, "email": "bob@example.com", "password_hash": None, "active": False},
]
SMS_OTP_TABLES = {
    "sms_otp_admin_action",
    "sms_otp_challenge",
    "sms_otp_failure_counter",
    "sms_otp_delivery",
    "sms_otp_guard_hold",
    "sms_otp_session",
    "sms_otp_invitation",
}
#: What the mixin adds to the app's table; ``password_hash`` the app already had.
ADDED_COLUMNS = {"phone", "mfa_enabled", "session_epoch"}
NEW_PHONE = "+8613800138000"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a PostgreSQL database made for this test and
    dropped afterwards, whatever happened."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/app.db"
        return
    server_uri: str = request.getfixturevalue("postgres_uri")
    name = f"sms_otp_migrate_{secrets.token_hex(6)}"
    # CREATE/DROP DATABASE cannot run in a transaction; any database of the server will do.
    admin = sa.create_engine(server_uri, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            url = sa.make_url(server_uri).set(database=name)
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        admin.dispose()


def flask_db(cwd: Path, database: str, stage: str, *args: str) -> str:
    """``flask db <args>`` in a fresh interpreter; its output, or a failure showing it."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        STAGE: stage,
        DATABASE_URI: database,
        # libpq settings (a CI password, say) reach the subprocess as they reach the tests.
        **{key: value for key, value in os.environ.items() if key.startswith("PG")},
    }
    done = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-m", "flask", "--app", APP, "db", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, (
        f"flask db {' '.join(args)} ({stage}) exited {done.returncode}\n"
        f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )
    return done.stdout + done.stderr


def revisions(cwd: Path) -> set[Path]:
    return set((cwd / "migrations" / "versions").glob("*.py"))


def read_users(engine: sa.Engine) -> dict[uuid.UUID, dict[str, Any]]:
    """Every row of ``users`` by id, with the columns the table has at the time."""
    columns = [column["name"] for column in sa.inspect(engine).get_columns("users")]
    types: dict[str, sa.types.TypeEngine[Any]] = {
        "id": sa.Uuid(),
        "active": sa.Boolean(),
        "mfa_enabled": sa.Boolean(),
    }
    select = f"SELECT {', '.join(columns)} FROM users"  # noqa: S608 - reflected names
    query = sa.text(select).columns(**{name: types[name] for name in columns if name in types})
    with engine.connect() as conn:
        return {row["id"]: dict(row) for row in conn.execute(query).mappings()}


def imported_modules(source: str) -> set[str]:
    """The modules a script imports: a migration must run without the app's packages."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            modules.add(node.module or "")
    return modules


def unique_columns(engine: sa.Engine) -> set[str]:
    """The columns of ``users`` kept unique, by a constraint or a unique index (SQLite batch
    mode rebuilds the table: its unnamed constraint on ``email`` must come through)."""
    inspector = sa.inspect(engine)
    column_lists: list[list[str | None]] = [
        list(constraint["column_names"]) for constraint in inspector.get_unique_constraints("users")
    ]
    column_lists += [
        index["column_names"] for index in inspector.get_indexes("users") if index["unique"]
    ]
    return {names[0] for names in column_lists if len(names) == 1 and names[0] is not None}


def assert_existing_users_kept(engine: sa.Engine) -> dict[uuid.UUID, dict[str, Any]]:
    users = read_users(engine)
    for before in EXISTING:
        row = users[before["id"]]
        assert {key: row[key] for key in before} == before
    return users


def sign_up_through_the_api(app: Flask) -> dict[str, Any]:
    """A new user signs up by phone on the migrated database; their ``/account``."""
    client = app.test_client()
    token = client.get("/auth/api/csrf").get_json()["csrf_token"]
    headers = {"X-CSRFToken": token}
    sent = client.post(
        "/auth/api/verification-codes",
        json={"phone": NEW_PHONE, "usage": "Register"},
        headers=headers,
    )
    assert sent.status_code == 202, sent.get_json()
    signed_up = client.post(
        "/auth/api/sign-up",
        json={
            "verification_id": sent.get_json()["verification_id"],
            "code": outbox[-1].code,
            "password": "correct horse battery",
        },
        headers=headers,
    )
    assert signed_up.status_code == 201, signed_up.get_json()
    account = client.get("/auth/api/account")
    assert account.status_code == 200, account.get_json()
    user: dict[str, Any] = account.get_json()["user"]
    return user


def test_documented_recipe_migrates_an_existing_users_table(
    fresh_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Must show: the script autogenerated for the extension imports nothing of ours, creates
    its tables and adds the mixin's columns; run unedited it keeps the app's rows (with the
    new columns' defaults), leaves nothing for ``flask db check``, gives a working app, and
    downgrades again without losing them."""
    database = fresh_database
    engine = sa.create_engine(database)
    try:
        # a. The app as it was, with its own migrations.
        flask_db(tmp_path, database, "before", "init")
        flask_db(tmp_path, database, "before", "migrate", "-m", "users")
        flask_db(tmp_path, database, "before", "upgrade")

        # b. Users it already has.
        insert = sa.text(
            "INSERT INTO users (id, email, password_hash, active) "
            "VALUES (:id, :email, :password_hash, :active)"
        ).bindparams(
            sa.bindparam("id", type_=sa.Uuid()), sa.bindparam("active", type_=sa.Boolean())
        )
        with engine.begin() as conn:
            conn.execute(insert, EXISTING)

        # c. The docs' two commands once the app uses the extension.
        known = revisions(tmp_path)
        flask_db(tmp_path, database, "after", "migrate", "-m", "flask-sms-otp")
        (script,) = revisions(tmp_path) - known
        source = script.read_text()
        assert "flask_sms_otp" not in source
        assert imported_modules(source) == {"alembic", "sqlalchemy"}, source
        created = set(re.findall(r"op\.create_table\('(\w+)'", source))
        assert created == SMS_OTP_TABLES, source
        added = set(re.findall(r"add_column\(sa\.Column\('(\w+)'", source))
        assert added == ADDED_COLUMNS, source
        assert re.search(r"create_index\([^\n]*'ix_users_phone'[^\n]*unique=True", source), source
        flask_db(tmp_path, database, "after", "upgrade")

        # d. The rows are still there, with the new columns' defaults.
        users = assert_existing_users_kept(engine)
        assert len(users) == len(EXISTING)
        for row in users.values():
            assert (row["phone"], row["mfa_enabled"], row["session_epoch"]) == (None, False, 0)
        assert SMS_OTP_TABLES <= set(sa.inspect(engine).get_table_names())
        assert unique_columns(engine) == {"email", "phone"}

        # e. The database now matches the models: nothing left to generate.
        checked = flask_db(tmp_path, database, "after", "check")
        assert "No new upgrade operations detected" in checked

        # f. The app works on it: a phone sign-up makes a user beside the old ones.
        monkeypatch.setenv(STAGE, "after")
        monkeypatch.setenv(DATABASE_URI, database)
        app = create_app()
        try:
            account = sign_up_through_the_api(app)
        finally:
            with app.app_context():
                app.extensions["sqlalchemy"].session.remove()
                app.extensions["sqlalchemy"].engine.dispose()
        assert account["phone"] == NEW_PHONE
        users = assert_existing_users_kept(engine)
        (new,) = (row for key, row in users.items() if key not in {ALICE, BOB})
        assert new["phone"] == NEW_PHONE
        assert new["email"].endswith("@phone.invalid")
        assert new["password_hash"]

        # g. One step down removes what the extension added and keeps the rows; up again.
        flask_db(tmp_path, database, "after", "downgrade")
        assert not SMS_OTP_TABLES & set(sa.inspect(engine).get_table_names())
        columns = {column["name"] for column in sa.inspect(engine).get_columns("users")}
        assert not ADDED_COLUMNS & columns
        assert len(assert_existing_users_kept(engine)) == len(EXISTING) + 1
        assert unique_columns(engine) == {"email"}
        flask_db(tmp_path, database, "after", "upgrade")
        assert_existing_users_kept(engine)
        assert unique_columns(engine) == {"email", "phone"}
        flask_db(tmp_path, database, "after", "check")
    finally:
        engine.dispose()
