"""A small app using flask-sms-otp: SQLite and the console connector by default.

``make run`` starts it on http://127.0.0.1:5000 (``flask --app example_app run``). Any
``FLASK_*`` environment variable overrides the config, e.g. ``FLASK_SMS_OTP_CONNECTOR=twilio``
with ``FLASK_SMS_OTP_CONNECTOR_CONFIG='{...}'``.

Pages: ``/`` (who is signed in, links to every flow), ``/settings/danger`` (needs a
confirmation of identity within the last five minutes) and the extension's pages under
``/auth`` (sign up, sign in, reset password, account).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from flask import Flask, render_template_string
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

from flask_sms_otp import SmsOtp


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
sms_otp = SmsOtp(db=db)

#: The pages extend the extension's layout, so they share its look and sign-out button.
HOME = """\
{% extends "sms_otp/base.html" %}
{% block title %}flask-sms-otp example{% endblock %}
{% block content %}
<h1>flask-sms-otp example</h1>
{% if current_user.is_authenticated %}
<p>You are signed in as
  <strong>{{ current_user.phone or "an account without a phone" }}</strong>.</p>
<ul>
  <li><a href="{{ url_for('sms_otp.account') }}">Your account</a></li>
  <li><a href="{{ url_for('danger') }}">Danger zone</a> (asks you to confirm it's you)</li>
</ul>
{% set sign_out_form = sms_otp_action_form() %}
<form method="post" action="{{ url_for('sms_otp.sign_out') }}">
  {% if sign_out_form.csrf_token is defined %}{{ sign_out_form.csrf_token(id=False) }}{% endif %}
  <button type="submit">Sign out</button>
</form>
{% else %}
<p>You are not signed in.</p>
<ul>
  <li><a href="{{ url_for('sms_otp.sign_up') }}">Create an account</a></li>
  <li><a href="{{ url_for('sms_otp.sign_in') }}">Sign in</a></li>
  <li><a href="{{ url_for('danger') }}">Danger zone</a> (a protected page)</li>
</ul>
{% endif %}
<p>Codes go to the <code>{{ config.SMS_OTP_CONNECTOR }}</code> connector.
Send a test code: <code>flask --app example_app sms-otp send-test +12015550123</code></p>
{% endblock %}
"""

DANGER = """\
{% extends "sms_otp/base.html" %}
{% block title %}Danger zone{% endblock %}
{% block content %}
<h1>Danger zone</h1>
<p>You confirmed it's you within the last five minutes, so sensitive settings are open.</p>
<p><a href="{{ url_for('index') }}">Back home</a></p>
{% endblock %}
"""


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(
        SQLALCHEMY_DATABASE_URI="sqlite:///example.db",  # in the instance folder
        SMS_OTP_CONNECTOR="console",
        # Development runs on http://127.0.0.1:5000: a Secure cookie would never come back.
        SMS_OTP_SECURE_COOKIES=False,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.config.from_prefixed_env()
    app.config.update(config or {})
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _dev_secret_key(Path(app.instance_path))
    db.init_app(app)
    sms_otp.init_app(app)
    with app.app_context():
        db.create_all()

    @app.get("/")
    def index() -> str:
        return render_template_string(HOME)

    @app.get("/settings/danger")
    @sms_otp.verification_required(max_age=300)
    def danger() -> str:
        return render_template_string(DANGER)

    return app


def _dev_secret_key(instance: Path) -> str:
    """A random key kept in the instance folder, so restarts keep sessions and codes valid."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
