"""The built-in SMS texts, which the delivery renders into each message's language."""

from __future__ import annotations

from flask_sms_otp import Usage
from flask_sms_otp.delivery import builtin_text
from flask_sms_otp.notices import Notice
from flask_sms_otp.sms_texts import CODE_TEXTS, NOTICE_TEXTS

PAYLOAD = {"code": "123456", "minutes": 10}


def test_every_code_usage_has_a_text_with_the_code_and_the_lifetime() -> None:
    # An invitation carries a link, not a code (tests/test_invitations.py).
    assert set(CODE_TEXTS) == {u.value for u in Usage} - {Usage.ORGANIZATION_INVITATION}
    for usage in CODE_TEXTS:
        text = builtin_text(usage, PAYLOAD, None)
        assert "123456" in text
        assert "10 minutes" in text


def test_every_notice_has_a_text_without_a_code() -> None:
    assert set(NOTICE_TEXTS) == {n.value for n in Notice}
    for notice in Notice:
        assert "{{" not in builtin_text(notice, {}, "zh-CN")


def test_an_invitation_text_carries_the_link_and_the_inviter() -> None:
    # The invitations choose the named text themselves; a test send gets the unnamed one.
    payload = {"link": "https://app.example/auth/invitations/t", "inviter": "Alice"}
    english = builtin_text(Usage.ORGANIZATION_INVITATION, payload, None)
    assert english == "You are invited. Open this link to accept: " + payload["link"]
    chinese = builtin_text(Usage.ORGANIZATION_INVITATION, payload, "zh-CN")
    assert payload["link"] in chinese
    assert "邀请" in chinese


def test_an_unknown_usage_gets_the_generic_text() -> None:
    assert builtin_text("Custom", PAYLOAD, None) == builtin_text("Generic", PAYLOAD, None)


def test_builtin_texts_follow_the_message_locale() -> None:
    english = builtin_text("SignIn", PAYLOAD, "en-GB")
    assert english == (
        "Your sign-in verification code is 123456. The code will remain active for 10 minutes."
    )
    chinese = builtin_text("SignIn", PAYLOAD, "zh-CN")
    assert "123456" in chinese
    assert "10" in chinese
    assert "验证码" in chinese
    assert builtin_text("SignIn", PAYLOAD, "zh-TW") == english  # no Traditional catalog
    assert builtin_text("SignIn", PAYLOAD, None) == english
