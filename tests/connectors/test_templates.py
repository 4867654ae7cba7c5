"""Template lookup and rendering with Logto's semantics (providers.md §1.3, §1.4)."""

from __future__ import annotations

from typing import Any

import pytest

from flask_sms_otp import ConfigurationError, SmsMessage, TemplateNotFound, Usage
from flask_sms_otp.connectors.templates import (
    find_template,
    render,
    text_for,
    validate_templates,
)

TEMPLATES = [
    {"usageType": "SignIn", "content": "sign in {{code}}"},
    {"usageType": "Generic", "content": "generic {{code}}"},
]


def test_exact_usage_first_then_generic() -> None:
    assert find_template(TEMPLATES, "SignIn")["content"] == "sign in {{code}}"
    assert find_template(TEMPLATES, "Register")["content"] == "generic {{code}}"


def test_lookup_is_case_sensitive() -> None:
    assert find_template(TEMPLATES, "signin")["content"] == "generic {{code}}"


def test_no_match_and_no_generic_is_template_not_found() -> None:
    with pytest.raises(TemplateNotFound) as error:
        find_template([{"usageType": "SignIn", "content": "x"}], "Register")
    assert error.value.usage == "Register"
    with pytest.raises(TemplateNotFound):
        find_template(None, "SignIn")


@pytest.mark.parametrize(
    ("content", "payload", "expected"),
    [
        ("{{code}}", {"code": "123456"}, "123456"),
        ("{{     code }}", {"code": "123456"}, "123456"),
        ("{{code}} and {{code}}", {"code": "1"}, "1 and 1"),
        ("{{foo}}", {"code": "1"}, "{{foo}}"),
        ("{{a.b}}", {"a": {"c": 1}}, ""),
        ("{{a.b.c}}", {"a": {"b": "x"}}, ""),
        ("{{list.0}}", {"list": ["x", "y"]}, "x"),
        ("{{list.5}}", {"list": ["x"]}, ""),
        ("{{n}}", {"n": None}, ""),
        ("{{n}} {{m}}", {"n": 3, "m": 2.5}, "3 2.5"),
        ("{{f}}", {"f": 4.0}, "4"),
        ("{{t}} {{f}}", {"t": True, "f": False}, "true false"),
        ("{{xs}}", {"xs": [1, "a", None]}, "1,a,"),
        ("{{o}}", {"o": {"k": 1}}, "[object Object]"),
        ("{{ünï}}", {"ünï": "x"}, "{{ünï}}"),  # keys are ASCII word characters only
        ("{{a-b}}", {"a-b": "x"}, "{{a-b}}"),
    ],
)
def test_render_follows_logto(content: str, payload: dict[str, Any], expected: str) -> None:
    assert render(content, payload) == expected


def test_validate_templates_requires_the_four_usages() -> None:
    with pytest.raises(ConfigurationError) as error:
        validate_templates({"templates": TEMPLATES})
    assert error.value.key == "SMS_OTP_CONNECTOR_CONFIG.templates"
    assert "Register, ForgotPassword" in str(error.value)
    full = [
        {"usageType": u, "content": "{{code}}"}
        for u in ("Register", "SignIn", "ForgotPassword", "Generic")
    ]
    assert validate_templates({"templates": full}) == full


def test_validate_templates_names_the_broken_entry() -> None:
    with pytest.raises(ConfigurationError) as error:
        validate_templates({"templates": [{"usageType": "Generic", "templateCode": "SMS_1"}]})
    assert error.value.key == "SMS_OTP_CONNECTOR_CONFIG.templates[0].content"
    with pytest.raises(ConfigurationError) as missing:
        validate_templates({})
    assert missing.value.key == "SMS_OTP_CONNECTOR_CONFIG.templates"


def test_text_for_prefers_templates_then_the_message_text_then_english() -> None:
    def message(usage: str, text: str | None = None) -> SmsMessage:
        return SmsMessage(
            to="+8613800138000", usage=usage, code="1", variables={"minutes": 10}, text=text
        )

    assert text_for(message("Register", "built-in"), {"templates": TEMPLATES}) == "generic 1"
    assert text_for(message("Register", "rendered by the delivery"), {}) == (
        "rendered by the delivery"
    )
    # A message made without the delivery (a connector's own test) gets the English text;
    # an invitation's carries a link, not a code (tests/test_invitations.py).
    for usage in set(Usage) - {Usage.ORGANIZATION_INVITATION}:
        text = text_for(message(usage), {})
        assert "code is 1." in text
        assert "10 minutes" in text
    assert text_for(message("PasswordChanged"), {}) == (
        "Your password was changed. If this was not you, reset it now."
    )


# Per-locale templates (our addition to Logto's format) ------------------------------------

REQUIRED_SET = [
    {"usageType": usage, "content": "{{code}}"}
    for usage in ("Register", "SignIn", "ForgotPassword", "Generic")
]
LOCALIZED = [
    {"usageType": "SignIn", "content": "sign in {{code}}"},
    {"usageType": "Generic", "content": "generic {{code}}"},
    {"usageType": "SignIn", "locale": "zh-CN", "content": "登录 {{code}}"},
    {"usageType": "Generic", "locale": "zh", "content": "通用 {{code}}"},
    {"usageType": "SignIn", "locale": "zh-TW", "content": "登入 {{code}}"},
]


@pytest.mark.parametrize(
    ("usage", "locale", "expected"),
    [
        ("SignIn", "zh-Hans-CN", "登录 {{code}}"),  # zh-CN serves zh-Hans-CN
        ("SignIn", "zh-CN", "登录 {{code}}"),
        ("SignIn", "zh_CN", "登录 {{code}}"),
        ("SignIn", "ZH-cn", "登录 {{code}}"),
        ("SignIn", "zh", "登录 {{code}}"),  # zh is most likely zh-Hans-CN
        ("SignIn", "zh-TW", "登入 {{code}}"),
        ("SignIn", "zh-Hant-TW", "登入 {{code}}"),
        ("Register", "zh-CN", "通用 {{code}}"),  # the language first, then the purpose
        ("SignIn", "en", "sign in {{code}}"),
        ("SignIn", "fr-CA", "sign in {{code}}"),
        ("SignIn", None, "sign in {{code}}"),
        ("SignIn", "", "sign in {{code}}"),
        ("SignIn", "not a tag", "sign in {{code}}"),
        ("Register", "en", "generic {{code}}"),
    ],
)
def test_a_template_in_the_message_language_comes_first(
    usage: str, locale: str | None, expected: str
) -> None:
    assert find_template(LOCALIZED, usage, locale)["content"] == expected


def test_locale_less_templates_stay_required_as_the_fallback() -> None:
    only_chinese = [
        {"usageType": usage, "locale": "zh-CN", "content": "{{code}}"}
        for usage in ("Register", "SignIn", "ForgotPassword", "Generic")
    ]
    with pytest.raises(ConfigurationError) as error:
        validate_templates({"templates": only_chinese})
    assert "without a locale" in str(error.value)
    assert validate_templates({"templates": [*only_chinese, *REQUIRED_SET]})


@pytest.mark.parametrize("bad", [12, "", "  ", ["zh"]])
def test_a_template_locale_must_be_a_tag(bad: Any) -> None:
    templates = [*REQUIRED_SET, {"usageType": "SignIn", "locale": bad, "content": "x"}]
    with pytest.raises(ConfigurationError) as error:
        validate_templates({"templates": templates})
    assert error.value.key == f"SMS_OTP_CONNECTOR_CONFIG.templates[{len(REQUIRED_SET)}].locale"
