"""Autofill: the built-in code texts end with the origin-bound line WebOTP and iOS read
(``SMS_OTP_WEBOTP_DOMAIN``) and carry the Android SMS Retriever hash
(``SMS_OTP_ANDROID_APP_HASH``); templates from Logto configs are sent as they are."""

from __future__ import annotations

import pytest

from flask_sms_otp import ConfigurationError
from flask_sms_otp.state import get_state
from flask_sms_otp.testing import SentSms

from .helpers import PHONE, ApiClient, AppFactory, create_user

HASH = "FA+9qCX9VSu"


def sent_text(
    app_factory: AppFactory, outbox: list[SentSms], language: str, **config: object
) -> SentSms:
    app = app_factory(**config)
    create_user(app, PHONE)
    ApiClient(app).request_code(PHONE, "SignIn", headers={"Accept-Language": language})
    return outbox[-1]


def test_without_the_settings_the_text_has_no_autofill_line(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    sms = sent_text(make_app, sms_outbox, "en")
    assert sms.text == (
        f"Your sign-in verification code is {sms.code}. The code will remain active for 10 minutes."
    )
    assert "@" not in sms.text


@pytest.mark.parametrize(
    ("language", "words"), [("en", "sign-in verification code"), ("zh-CN", "验证码")]
)
def test_the_origin_line_is_last_and_carries_the_same_code(
    make_app: AppFactory, sms_outbox: list[SentSms], language: str, words: str
) -> None:
    sms = sent_text(make_app, sms_outbox, language, SMS_OTP_WEBOTP_DOMAIN="Example.com")
    lines = sms.text.split("\n")
    assert words in lines[0]
    assert sms.code in lines[0]
    assert lines[-1] == f"@example.com #{sms.code}"
    assert lines[-2] == ""


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_the_app_hash_is_last_alone_and_before_the_origin_line_with_it(
    make_app: AppFactory, sms_outbox: list[SentSms], language: str
) -> None:
    sms = sent_text(make_app, sms_outbox, language, SMS_OTP_ANDROID_APP_HASH=HASH)
    assert sms.text.split("\n")[-2:] == ["", HASH]
    assert sms.code in sms.text.split("\n")[0]

    both = sent_text(
        make_app,
        sms_outbox,
        language,
        SMS_OTP_ANDROID_APP_HASH=HASH,
        SMS_OTP_WEBOTP_DOMAIN="login.example.com",
    )
    assert both.text.split("\n")[-3:] == ["", HASH, f"@login.example.com #{both.code}"]


def test_a_template_from_a_logto_config_is_sent_unchanged(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    config = {"templates": [{"usageType": "SignIn", "content": "ACME code {{code}}"}]}
    sms = sent_text(
        make_app,
        sms_outbox,
        "en",
        SMS_OTP_CONNECTOR_CONFIG=config,
        SMS_OTP_WEBOTP_DOMAIN="example.com",
        SMS_OTP_ANDROID_APP_HASH=HASH,
    )
    assert sms.text == f"ACME code {sms.code}"


def test_notices_carry_no_autofill_line(make_app: AppFactory) -> None:
    app = make_app(SMS_OTP_WEBOTP_DOMAIN="example.com", SMS_OTP_ANDROID_APP_HASH=HASH)
    notice = get_state(app).delivery.notice(to=PHONE, usage="PasswordChanged")
    assert notice.text == "Your password was changed. If this was not you, reset it now."


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("SMS_OTP_WEBOTP_DOMAIN", "https://example.com"),
        ("SMS_OTP_WEBOTP_DOMAIN", "example.com:8443"),
        ("SMS_OTP_WEBOTP_DOMAIN", "example.com/login"),
        ("SMS_OTP_WEBOTP_DOMAIN", "@example.com"),
        ("SMS_OTP_WEBOTP_DOMAIN", "-bad.example.com"),
        ("SMS_OTP_WEBOTP_DOMAIN", 42),
        ("SMS_OTP_ANDROID_APP_HASH", "short"),
        ("SMS_OTP_ANDROID_APP_HASH", "FA+9qCX9VSu="),
        ("SMS_OTP_ANDROID_APP_HASH", "FA+9qCX9VS!"),
    ],
)
def test_bad_values_are_refused_at_start_up(make_app: AppFactory, key: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=key):
        make_app(**{key: value})
