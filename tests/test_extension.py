"""The extension object: init_app, config validation at start-up, per-app state."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_sms_otp import ConfigurationError, SmsOtp, Usage
from flask_sms_otp.connectors.memory import MemoryConnector
from flask_sms_otp.settings import DEFAULTS
from flask_sms_otp.state import get_state
from flask_sms_otp.testing import SentSms

from .helpers import (
    AppFactory,
)


def bare_app(**config: Any) -> tuple[Flask, SQLAlchemy]:
    app = Flask("bare")
    app.config.update(TESTING=True, SECRET_KEY="s", SQLALCHEMY_DATABASE_URI="sqlite://")
    app.config.update(config)
    return app, SQLAlchemy(app)


def test_defaults_are_set_on_the_app_config(make_app: AppFactory) -> None:
    app = make_app()
    for key in DEFAULTS:
        assert key in app.config
    settings = get_state(app).settings
    assert (settings.code_length, settings.code_ttl, settings.max_attempts) == (6, 600, 5)
    assert (settings.resend_cooldown, settings.max_resends) == (60, 3)
    assert (settings.lockout_threshold, settings.lockout_duration) == (10, 900)


def test_state_lives_in_app_extensions_not_on_the_object() -> None:
    db = SQLAlchemy()
    ext = SmsOtp(db=db)
    apps = []
    for connector in ("memory", "console"):
        app = Flask(connector)
        app.config.update(
            TESTING=True,
            SECRET_KEY="s",
            SQLALCHEMY_DATABASE_URI="sqlite://",
            SMS_OTP_CONNECTOR=connector,
        )
        db.init_app(app)
        ext.init_app(app)
        apps.append(app)
    assert [get_state(a).connector.name for a in apps] == ["memory", "console"]
    assert not any(isinstance(v, Flask) for v in vars(ext).values())


def test_init_app_twice_on_one_app_is_an_error(make_app: AppFactory) -> None:
    app = make_app()
    ext = SmsOtp(db=get_state(app).db)
    with pytest.raises(RuntimeError, match="already initialised"):
        ext.init_app(app)


def test_db_is_required() -> None:
    app, _ = bare_app()
    with pytest.raises(TypeError, match="db=db"):
        SmsOtp(app)


def test_db_must_be_initialised_on_the_app_first() -> None:
    app = Flask("x")
    app.config.update(SECRET_KEY="s")
    with pytest.raises(RuntimeError, match=r"db\.init_app"):
        SmsOtp(app, db=SQLAlchemy())


@pytest.mark.parametrize(
    ("config", "key", "fragment"),
    [
        ({"SMS_OTP_CONNECTOR": "carrier-pigeon"}, "SMS_OTP_CONNECTOR", "unknown connector"),
        ({"SMS_OTP_CONNECTOR": ""}, "SMS_OTP_CONNECTOR", "must name"),
        ({"SMS_OTP_CODE_LENGTH": 5}, "SMS_OTP_CODE_LENGTH", "between 6 and 10"),
        ({"SMS_OTP_CODE_LENGTH": "six"}, "SMS_OTP_CODE_LENGTH", "integer"),
        ({"SMS_OTP_CODE_TTL": 601}, "SMS_OTP_CODE_TTL", "between 30 and 600"),
        ({"SMS_OTP_MAX_ATTEMPTS": 0}, "SMS_OTP_MAX_ATTEMPTS", "between 1 and 10"),
        ({"SMS_OTP_LOCKOUT_THRESHOLD": 101}, "SMS_OTP_LOCKOUT_THRESHOLD", "between 1 and 100"),
        ({"SMS_OTP_RESEND_COOLDOWN": True}, "SMS_OTP_RESEND_COOLDOWN", "integer"),
        ({"SMS_OTP_DEFAULT_REGION": "XX"}, "SMS_OTP_DEFAULT_REGION", "region"),
        ({"SMS_OTP_ALLOWED_REGIONS": ["US", "Narnia"]}, "SMS_OTP_ALLOWED_REGIONS", "Narnia"),
        ({"SMS_OTP_ALLOW_VOIP": "maybe"}, "SMS_OTP_ALLOW_VOIP", "true or false"),
        ({"SMS_OTP_HTTP_TIMEOUT": 0}, "SMS_OTP_HTTP_TIMEOUT", "seconds"),
        ({"SMS_OTP_HTTP_TIMEOUT": [1, 2, 3]}, "SMS_OTP_HTTP_TIMEOUT", "pair"),
        ({"SMS_OTP_CONNECTOR_CONFIG": "{not json"}, "SMS_OTP_CONNECTOR_CONFIG", "JSON"),
        ({"SMS_OTP_CONNECTOR_CONFIG": [1]}, "SMS_OTP_CONNECTOR_CONFIG", "dict"),
        (
            {"SMS_OTP_CONNECTOR_CONFIG": {"templates": [{"usageType": "Generic"}]}},
            "SMS_OTP_CONNECTOR_CONFIG.templates[0].content",
            "required",
        ),
        ({"SECRET_KEY": None}, "SECRET_KEY", "required"),
    ],
)
def test_bad_config_fails_at_init_app_naming_the_key(
    config: dict[str, Any], key: str, fragment: str
) -> None:
    app, db = bare_app(SMS_OTP_CONNECTOR="memory")
    app.config.update(config)
    with pytest.raises(ConfigurationError) as error:
        SmsOtp(app, db=db)
    assert error.value.key == key
    assert str(error.value).startswith(f"{key}: ")
    assert fragment in str(error.value)
    assert "sms_otp" not in app.extensions


def test_config_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    templates = [{"usageType": "Generic", "content": "Code: {{code}}"}]
    monkeypatch.setenv("FLASK_SMS_OTP_CONNECTOR", "memory")
    monkeypatch.setenv("FLASK_SMS_OTP_CONNECTOR_CONFIG", json.dumps({"templates": templates}))
    monkeypatch.setenv("FLASK_SMS_OTP_CODE_TTL", "300")
    monkeypatch.setenv("FLASK_SMS_OTP_ALLOWED_REGIONS", '["CN", "US"]')
    app, db = bare_app()
    app.config.from_prefixed_env()
    SmsOtp(app, db=db)
    settings = get_state(app).settings
    assert settings.connector == "memory"
    assert settings.connector_config == {"templates": templates}
    assert settings.code_ttl == 300
    assert settings.allowed_regions == frozenset({"CN", "US"})


def test_connector_config_may_be_a_json_string() -> None:
    app, db = bare_app(
        SMS_OTP_CONNECTOR="memory",
        SMS_OTP_CONNECTOR_CONFIG='{"templates": [{"usageType": "Generic", "content": "{{code}}"}]}',
        SMS_OTP_ALLOWED_REGIONS="cn, us",
        SMS_OTP_HTTP_TIMEOUT=3,
    )
    SmsOtp(app, db=db)
    settings = get_state(app).settings
    assert isinstance(get_state(app).connector, MemoryConnector)
    assert settings.allowed_regions == frozenset({"CN", "US"})
    assert (settings.connect_timeout, settings.read_timeout) == (3.0, 3.0)


def test_console_connector_outside_debug_warns(caplog: pytest.LogCaptureFixture) -> None:
    app, db = bare_app(SMS_OTP_CONNECTOR="console", TESTING=False)
    with caplog.at_level(logging.WARNING, logger="flask_sms_otp"):
        SmsOtp(app, db=db)
    assert "console" in caplog.text
    assert "printed, not sent" in caplog.text


def test_console_connector_in_testing_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    app, db = bare_app(SMS_OTP_CONNECTOR="console")
    with caplog.at_level(logging.WARNING, logger="flask_sms_otp"):
        SmsOtp(app, db=db)
    assert "console" not in caplog.text


def test_public_methods_use_the_current_app(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app()
    ext = SmsOtp(db=SQLAlchemy())  # any instance works: state is read from current_app
    with app.app_context():
        issued = ext.send_code("+86 138 0013 8000", Usage.REGISTER)
        assert issued.phone == "+8613800138000"
        assert sms_outbox[-1].usage == "Register"
        verified = ext.verify_code(issued.id, sms_outbox[-1].code, usage="Register")
        assert verified.phone == "+8613800138000"


def test_shell_story_from_the_issue(sms_outbox: list[SentSms]) -> None:
    """Must show: memory connector, one message with a 6-digit code that verifies once."""
    import sqlalchemy as sa

    from flask_sms_otp import InvalidCode

    app, db = bare_app(SMS_OTP_CONNECTOR="memory")
    sms_otp = SmsOtp(app, db=db)
    with app.app_context():
        db.create_all()
        issued = sms_otp.send_code("+8613800138000", Usage.SIGN_IN)
        assert len(sms_outbox) == 1
        code = sms_outbox[0].code
        assert len(code) == 6
        assert code.isdigit()
        assert code in sms_outbox[0].text
        sms_otp.verify_code(issued.id, code, usage=Usage.SIGN_IN)
        with pytest.raises(InvalidCode):
            sms_otp.verify_code(issued.id, code, usage=Usage.SIGN_IN)
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(sa.select(table)):
                assert code not in " ".join(map(str, row))
