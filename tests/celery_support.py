"""The app of the Celery tests, built the same way by the test and by the worker process
(from environment variables), the Flask way: every task runs in ``app.app_context()``."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, Task
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_sms_otp import SmsOtp


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


def create_app(**overrides: Any) -> Flask:
    env = os.environ
    app = Flask("sms_otp_celery_test")
    app.config.update(
        TESTING=True,
        SECRET_KEY="celery-test-secret",
        WTF_CSRF_ENABLED=False,
        SQLALCHEMY_DATABASE_URI=env["SMS_OTP_CELERY_TEST_DB"],
        SMS_OTP_CONNECTOR="http",
        SMS_OTP_CONNECTOR_CONFIG={"endpoint": env["SMS_OTP_CELERY_TEST_ENDPOINT"]},
        SMS_OTP_DELIVERY="celery",
        SMS_OTP_PASSWORD_HASH_METHOD="pbkdf2:sha256:1000",
        RATELIMIT_STORAGE_URI="memory://",
        CELERY={
            "broker_url": env.get("SMS_OTP_CELERY_TEST_BROKER", "redis://127.0.0.1:6379/15"),
            "task_default_queue": env["SMS_OTP_CELERY_TEST_QUEUE"],
            "task_ignore_result": True,
            "broker_connection_retry_on_startup": True,
            "worker_hijack_root_logger": False,
        },
    )
    app.config.update(overrides)
    db = SQLAlchemy(app)
    SmsOtp(app, db=db)
    celery_init_app(app)
    with app.app_context():
        db.create_all()
    return app
