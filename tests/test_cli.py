"""The ``flask sms-otp`` commands."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from flask_sms_otp import ProviderRejected, Usage
from flask_sms_otp.state import get_state
from flask_sms_otp.testing import SentSms, fail_next_send

from .helpers import (
    AppFactory,
    FakeClock,
)


def test_connectors_lists_the_active_one(make_app: AppFactory) -> None:
    result = make_app().test_cli_runner().invoke(args=["sms-otp", "connectors"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert any(line.startswith("* memory") for line in lines)
    assert any(line.startswith("  console") for line in lines)


def test_check_shows_the_validated_config(make_app: AppFactory) -> None:
    app = make_app(SMS_OTP_ALLOWED_REGIONS=["US"])
    result = app.test_cli_runner().invoke(args=["sms-otp", "check", "--ping"])
    assert result.exit_code == 0, result.output
    assert "6 digits, valid 600 s, 5 attempts" in result.output
    assert "regions US" in result.output
    assert "no check that sends nothing" in result.output
    assert result.output.rstrip().endswith("configuration OK")


def test_send_test_through_memory(make_app: AppFactory, sms_outbox: list[SentSms]) -> None:
    runner = make_app().test_cli_runner()
    result = runner.invoke(args=["sms-otp", "send-test", "+86 138 0013 8000", "--usage", "SignIn"])
    assert result.exit_code == 0, result.output
    assert "Sent a SignIn test code to +*********8000 via memory" in result.output
    assert [(m.to, m.usage) for m in sms_outbox] == [("+8613800138000", "SignIn")]
    assert sms_outbox[0].code not in result.output


def test_send_test_reports_the_provider_reason(make_app: AppFactory) -> None:
    app = make_app()
    with app.app_context():
        fail_next_send(
            ProviderRejected(
                "blocked",
                connector="memory",
                provider_code="60410",
                provider_message="prefix blocked",
            )
        )
    result = app.test_cli_runner().invoke(args=["sms-otp", "send-test", "+12015550123"])
    assert result.exit_code == 1
    assert "60410" in result.output
    assert "prefix blocked" in result.output


def test_send_test_rejects_a_bad_number(make_app: AppFactory, sms_outbox: list[SentSms]) -> None:
    result = make_app().test_cli_runner().invoke(args=["sms-otp", "send-test", "+18002345678"])
    assert result.exit_code == 2
    assert "number_type" in result.output
    assert sms_outbox == []


def test_purge(make_app: AppFactory, clock: FakeClock) -> None:
    app = make_app(clock=clock)
    with app.app_context():
        get_state(app).dispatcher.issue("+12015550123", Usage.SIGN_IN)
    clock.advance(601)
    result = app.test_cli_runner().invoke(args=["sms-otp", "purge"])
    assert result.exit_code == 0
    assert "Deleted 1 expired challenges" in result.output


def test_purge_deletes_ended_and_idle_session_records(
    make_app: AppFactory, clock: FakeClock
) -> None:
    """Session records ended, or last seen, more than ``--sessions-days`` ago go; a session
    whose record went signs nobody in (an idle timeout)."""
    app = make_app(clock=clock, SMS_OTP_SECURE_COOKIES=False)
    with app.app_context():
        get_state(app).users.create("+12015550123", "correct horse battery")
        get_state(app).db.session.commit()
    clients = {name: app.test_client() for name in ("ended", "idle", "recent")}
    for client in clients.values():
        client.post(
            "/auth/api/sign-in",
            json={"phone": "+12015550123", "password": "correct horse battery"},
            headers={"X-CSRFToken": csrf_token(client)},
        )
    token = csrf_token(clients["ended"])
    assert (
        clients["ended"].post("/auth/api/sign-out", headers={"X-CSRFToken": token}).status_code
        == 204
    )
    clock.advance(29 * 86400)
    assert clients["recent"].get("/auth/api/account").status_code == 200  # seen today
    clock.advance(2 * 86400)

    result = app.test_cli_runner().invoke(args=["sms-otp", "purge", "--sessions-days", "30"])

    assert result.exit_code == 0, result.output
    assert "and 2 session records ended or unused for 30 days." in result.output
    assert clients["idle"].get("/auth/api/account").status_code == 401
    assert clients["recent"].get("/auth/api/account").status_code == 200


def csrf_token(client: Any) -> str:
    token = client.get("/auth/api/csrf").get_json()["csrf_token"]
    assert isinstance(token, str)
    return token


APP_MODULE = """
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from flask_sms_otp import SmsOtp

def create_app():
    app = Flask(__name__)
    app.config.update(SECRET_KEY="x", SQLALCHEMY_DATABASE_URI="sqlite://", DEBUG=True)
    app.config.from_prefixed_env()
    db = SQLAlchemy(app)
    SmsOtp(app, db=db)
    return app
"""


def run_flask(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "cliapp.py").write_text(textwrap.dedent(APP_MODULE))
    return subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-m", "flask", "--app", "cliapp", *args],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_send_test_with_console_in_a_real_shell(tmp_path: Path) -> None:
    """Must show: the console connector prints the message and the command exits 0."""
    done = run_flask(tmp_path, "sms-otp", "send-test", "+8613800138000")
    assert done.returncode == 0, done.stderr
    assert "SMS to +8613800138000 (Generic)" in done.stdout
    assert "Your verification code is " in done.stdout
    assert "Sent a Generic test code" in done.stdout


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"FLASK_SMS_OTP_CONNECTOR": "nope"}, "SMS_OTP_CONNECTOR"),
        ({"FLASK_SMS_OTP_CODE_LENGTH": "4"}, "SMS_OTP_CODE_LENGTH"),
        (
            {"FLASK_SMS_OTP_CONNECTOR_CONFIG": '{"templates": [{"usageType": "Generic"}]}'},
            "SMS_OTP_CONNECTOR_CONFIG.templates[0].content",
        ),
    ],
)
def test_send_test_with_bad_config_exits_non_zero_naming_the_key(
    tmp_path: Path, env: dict[str, str], key: str
) -> None:
    done = run_flask(tmp_path, "sms-otp", "send-test", "+8613800138000", **env)
    assert done.returncode != 0
    assert key in done.stderr
    assert "SMS to" not in done.stdout
