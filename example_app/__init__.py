"""A small app using flask-sms-otp: SQLite and the console connector by default.

``make run`` starts it on http://127.0.0.1:5000. Any ``FLASK_*`` environment variable
overrides the config, e.g. ``FLASK_SMS_OTP_CONNECTOR=twilio`` with
``FLASK_SMS_OTP_CONNECTOR_CONFIG='{...}'``.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

from flask_sms_otp import SmsOtp


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
sms_otp = SmsOtp(db=db)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(
        SECRET_KEY=_dev_secret_key(Path(app.instance_path)),
        SQLALCHEMY_DATABASE_URI="sqlite:///example.db",
        SMS_OTP_CONNECTOR="console",
    )
    app.config.from_prefixed_env()
    app.config.update(config or {})
    db.init_app(app)
    sms_otp.init_app(app)
    with app.app_context():
        db.create_all()

    @app.get("/")
    def index() -> str:
        return (
            "<!doctype html><title>flask-sms-otp example</title>"
            "<h1>flask-sms-otp example</h1>"
            "<p>Send a test code: <code>flask --app example_app sms-otp send-test "
            "+12015550123</code></p>"
        )

    return app


def _dev_secret_key(instance: Path) -> str:
    """A random key kept in the instance folder, so restarts keep sessions and codes valid."""
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
