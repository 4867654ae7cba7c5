"""A small app using flask-sms-otp: SQLite and the console connector by default.

``make run`` starts it on http://127.0.0.1:5000 (``flask --app example_app run``). Any
``FLASK_*`` environment variable overrides the config, e.g. ``FLASK_SMS_OTP_CONNECTOR=twilio``
with ``FLASK_SMS_OTP_CONNECTOR_CONFIG='{...}'``.

Pages: ``/`` (who is signed in, links to every flow), ``/settings/danger`` (needs a
confirmation of identity within the last five minutes) and the extension's pages under
``/auth`` (sign up, sign in, reset password, account); with ``FLASK_SMS_OTP_ADMIN=true``
and ``FLASK_ADMIN_PHONES='["+1..."]'``, the admin pages under ``/auth/admin`` for those
numbers. The app's own pages (``templates/``,
extending the extension's layout) are translated with Flask-Babel from ``translations/``;
the locale follows ``Accept-Language`` among the languages the extension's pages exist in.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from flask import Flask, current_app, render_template
from flask_babel import Babel
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

from flask_sms_otp import SmsOtp
from flask_sms_otp.i18n import select_locale


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
sms_otp = SmsOtp(db=db)


@sms_otp.admin_check
def is_admin(user: Any) -> bool:
    """Who sees the admin pages (``FLASK_SMS_OTP_ADMIN=true``): the numbers in ``ADMIN_PHONES``."""
    return user.phone in current_app.config.get("ADMIN_PHONES", ())


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(
        SQLALCHEMY_DATABASE_URI="sqlite:///example.db",  # in the instance folder
        SMS_OTP_CONNECTOR="console",
        # Start from the regions your users are in, never from every region: numbers in
        # countries an app does not serve are where SMS pumping makes its money.
        SMS_OTP_ALLOWED_REGIONS=["CN", "GB", "US"],
        # Development runs on http://127.0.0.1:5000: a Secure cookie would never come back.
        SMS_OTP_SECURE_COOKIES=False,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.config.from_prefixed_env()
    app.config.update(config or {})
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _dev_secret_key(Path(app.instance_path))
    # Before the extension, which then keeps this set-up (and its locale) instead of its own.
    Babel(app, locale_selector=select_locale)
    db.init_app(app)
    sms_otp.init_app(app)
    with app.app_context():
        db.create_all()

    @app.get("/")
    def index() -> str:
        return render_template("home.html")

    @app.get("/settings/danger")
    @sms_otp.verification_required(max_age=300)
    def danger() -> str:
        return render_template("danger.html")

    return app


def _dev_secret_key(instance: Path) -> str:
    """A random key kept in the instance folder, so restarts keep sessions and codes valid."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
