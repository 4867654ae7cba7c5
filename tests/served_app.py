"""The app the tests and benchmarks serve with gunicorn, built from environment variables
(gunicorn imports it in its own processes): the ``http`` connector against a fake provider,
a user with the number ``SMS_OTP_SERVED_KNOWN``, loose send limits, CSRF off; and
:func:`serve`, which runs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_sms_otp import SmsOtp
from flask_sms_otp.state import get_state

from .helpers import PASSWORD, RELAXED_LIMITS

__all__ = ["PASSWORD", "create_app", "serve"]  # PASSWORD: benchmarks/timing_probe.py reads it
ROOT = Path(__file__).resolve().parent.parent


def create_app() -> Flask:
    env = os.environ
    app = Flask("sms_otp_served")
    app.config.update(
        SECRET_KEY="served-test-secret",
        SQLALCHEMY_DATABASE_URI=env["SMS_OTP_SERVED_DB"],
        SMS_OTP_CONNECTOR="http",
        SMS_OTP_CONNECTOR_CONFIG={"endpoint": env["SMS_OTP_SERVED_ENDPOINT"]},
        SMS_OTP_PASSWORD_HASH_METHOD="pbkdf2:sha256:1000",
        SMS_OTP_SECURE_COOKIES=False,
        WTF_CSRF_ENABLED=False,
        **RELAXED_LIMITS,
    )
    db = SQLAlchemy(app)
    SmsOtp(app, db=db)
    with app.app_context():
        db.create_all()
        users = get_state(app).users
        if users.by_phone(env["SMS_OTP_SERVED_KNOWN"]) is None:
            users.create(env["SMS_OTP_SERVED_KNOWN"], PASSWORD)
            db.session.commit()
        db.session.remove()
        db.engine.dispose()  # no connection crosses gunicorn's fork
    return app


@contextmanager
def serve(directory: Path, endpoint: str, known: str, *, workers: int = 1) -> Iterator[str]:
    """This app under gunicorn (``workers`` sync workers, its database and log in
    ``directory``), the provider at ``endpoint``, ``known`` a number with an account;
    yields the base URL once it answers."""
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SMS_OTP_SERVED_DB": f"sqlite:///{directory}/served.db",
        "SMS_OTP_SERVED_ENDPOINT": endpoint,
        "SMS_OTP_SERVED_KNOWN": known,
    }
    log_path = directory / "gunicorn.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(  # noqa: S603 - a fixed command line of our own
            [
                sys.executable,
                "-m",
                "gunicorn",
                f"--workers={workers}",
                "--worker-class=sync",
                "--preload",
                f"--bind=127.0.0.1:{port}",
                "tests.served_app:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while not _answers(base):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("gunicorn did not start:\n" + log_path.read_text())
                time.sleep(0.1)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=30)


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/auth/api/csrf", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
