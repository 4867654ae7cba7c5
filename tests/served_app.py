"""The app the tests and benchmarks serve with gunicorn, built from environment variables
(gunicorn imports it in its own processes): the ``http`` connector against a fake provider,
a user with the number ``SMS_OTP_SERVED_KNOWN``, loose send limits, CSRF off."""

from __future__ import annotations

import os

from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_sms_otp import SmsOtp
from flask_sms_otp.state import get_state

PASSWORD = "correct horse battery"


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
        SMS_OTP_SEND_LIMIT_PER_NUMBER="100000/hour",
        SMS_OTP_SEND_LIMIT_PER_IP="100000/hour",
        SMS_OTP_SEND_LIMIT_PER_PREFIX="100000/hour",
        SMS_OTP_PASSWORD_LIMIT_PER_IP="100000/minute",
        SMS_OTP_PASSWORD_LIMIT_PER_ACCOUNT="100/hour",
        WTF_CSRF_ENABLED=False,
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
