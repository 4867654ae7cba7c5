"""The table of options in flask_sms_otp/settings.py and what comes from it."""

from __future__ import annotations

import inspect
from dataclasses import FrozenInstanceError, fields

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from limits import parse_many

from flask_sms_otp import ConfigurationError, SmsOtp
from flask_sms_otp.settings import DEFAULTS, OPTIONS, Option, Settings
from flask_sms_otp.state import get_state


def test_one_row_per_settings_attribute_and_config_key() -> None:
    assert [option.attribute for option in OPTIONS] == [f.name for f in fields(Settings)]
    keys = [option.key for option in OPTIONS]
    assert len(set(keys)) == len(keys)
    assert all(key.startswith("SMS_OTP_") for key in keys)
    assert all(option.summary and "\n" not in option.summary for option in OPTIONS)


def test_defaults_come_from_the_table_and_are_read_only() -> None:
    assert dict(DEFAULTS) == {option.key: option.default for option in OPTIONS}
    with pytest.raises(TypeError):
        DEFAULTS["SMS_OTP_CODE_TTL"] = 1  # type: ignore[index]


def test_the_defaults_parse() -> None:
    settings = Settings.from_config(DEFAULTS)
    assert settings.code_length == 6
    assert (settings.connect_timeout, settings.read_timeout) == (5.0, 10.0)
    assert settings.sign_in_methods == frozenset({"password", "code"})
    with pytest.raises(FrozenInstanceError):
        settings.code_length = 4  # type: ignore[misc]


@pytest.mark.parametrize("option", OPTIONS, ids=lambda option: option.key)
def test_every_parser_names_its_key(option: Option) -> None:
    with pytest.raises(ConfigurationError) as error:
        Settings.from_config({**DEFAULTS, option.key: object()})
    assert error.value.key == option.key


def test_rate_limits_are_parsed_once_in_the_settings() -> None:
    app = Flask("limits")
    app.config.update(
        TESTING=True,
        SECRET_KEY="s",
        SQLALCHEMY_DATABASE_URI="sqlite://",
        SMS_OTP_CONNECTOR="memory",
        SMS_OTP_SEND_LIMIT_PER_NUMBER="2/minute;7/day",
    )
    SmsOtp(app, db=SQLAlchemy(app))
    state = get_state(app)
    assert state.settings.send_limit_per_number == tuple(parse_many("2/minute;7/day"))
    assert state.limits.send_per_number is state.settings.send_limit_per_number
    assert state.limits.password_per_account is state.settings.password_limit_per_account


def test_the_docstring_lists_every_key_with_its_default() -> None:
    doc = inspect.getdoc(SmsOtp) or ""
    for option in OPTIONS:
        assert f"- ``{option.key}`` (``{option.default!r}``): {option.summary}" in doc
