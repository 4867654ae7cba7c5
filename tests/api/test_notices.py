"""Security notices: a text without a code after a reset, a change of phone, and a failed
second step; sent when the connector can say it; never failing the action."""

from __future__ import annotations

import pytest

from flask_sms_otp.state import get_state
from flask_sms_otp.testing import SentSms, fail_next_send

from ..helpers import (
    OTHER_PHONE,
    PASSWORD,
    PHONE,
    ApiClient,
    AppFactory,
    create_user,
    last_code,
    wrong,
)

NEW_PASSWORD = "a brand new passphrase"


def notices(outbox: list[SentSms]) -> list[tuple[str, str]]:
    return [(m.to, m.usage) for m in outbox if not m.code]


def reset_password(client: ApiClient, outbox: list[SentSms]) -> int:
    vid = client.request_code(PHONE, "ForgotPassword")
    body = {"verification_id": vid, "code": last_code(outbox=outbox), "password": NEW_PASSWORD}
    return client.post("/reset-password", body).status_code


def test_a_reset_tells_the_phone(make_app: AppFactory, sms_outbox: list[SentSms]) -> None:
    app = make_app()
    create_user(app, PHONE)
    assert reset_password(ApiClient(app), sms_outbox) == 204
    assert notices(sms_outbox) == [(PHONE, "PasswordChanged")]
    assert "password was changed" in sms_outbox[-1].text


def test_a_new_number_is_announced_to_the_old_one(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app()
    create_user(app, PHONE)
    client = ApiClient(app)
    assert client.sign_in_password(PHONE).status_code == 200
    assert client.post("/verify-identity", {"password": PASSWORD}).status_code == 200
    vid = client.request_code(OTHER_PHONE, "BindNewIdentifier")
    changed = client.put("/account/phone", {"verification_id": vid, "code": last_code()})
    assert changed.status_code == 200
    assert notices(sms_outbox) == [(PHONE, "PhoneChanged")]


def test_failed_second_steps_are_announced(make_app: AppFactory, sms_outbox: list[SentSms]) -> None:
    app = make_app()
    create_user(app, PHONE, mfa=True)
    client = ApiClient(app)
    vid = client.sign_in_password(PHONE).get_json()["verification_id"]
    for _ in range(6):
        client.post("/mfa", {"verification_id": vid, "code": wrong(last_code())})
    assert notices(sms_outbox) == [(PHONE, "MfaFailed")]


def test_no_template_no_notice_and_a_template_is_used(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    generic_only = {"templates": [{"usageType": "Generic", "content": "Code {{code}}"}]}
    app = make_app(SMS_OTP_CONNECTOR_CONFIG=generic_only)
    create_user(app, PHONE)
    assert reset_password(ApiClient(app), sms_outbox) == 204
    assert notices(sms_outbox) == []  # the Generic text speaks of a code: not for notices

    sms_outbox.clear()
    with_notice = {
        "templates": [
            *generic_only["templates"],
            {"usageType": "PasswordChanged", "content": "ACME: password changed."},
        ]
    }
    app = make_app(SMS_OTP_CONNECTOR_CONFIG=with_notice)
    create_user(app, PHONE)
    assert reset_password(ApiClient(app), sms_outbox) == 204
    assert [m.text for m in sms_outbox if not m.code] == ["ACME: password changed."]


def test_a_failed_notice_does_not_fail_the_reset(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app()
    create_user(app, PHONE)
    client = ApiClient(app)
    vid = client.request_code(PHONE, "ForgotPassword")
    with app.app_context():
        fail_next_send(app=app)
    body = {"verification_id": vid, "code": last_code(), "password": NEW_PASSWORD}
    assert client.post("/reset-password", body).status_code == 204
    assert notices(sms_outbox) == []
    assert ApiClient(app).sign_in_password(PHONE, NEW_PASSWORD).status_code == 200


def test_notices_stay_out_of_the_conversion_figures(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app()
    create_user(app, PHONE)
    assert reset_password(ApiClient(app), sms_outbox) == 204
    with app.app_context():
        state = get_state(app)
        assert state.delivery.records is not None
        (china,) = state.delivery.records.stats(state.challenges.clock().replace(year=2000))
    assert (china.country, china.sent, china.verified) == ("CN", 1, 1)


# 32: notices are metered ------------------------------------------------------------------------


def change_password(client: ApiClient, new_password: str) -> int:
    assert client.post("/verify-identity", {"password": PASSWORD}).status_code == 200
    return client.put("/account/password", {"password": new_password}).status_code


@pytest.mark.real_limits
def test_a_loop_of_password_changes_texts_the_number_once(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    """Signed in, an attacker (or a script) changes the password over and over: each change
    would text the number. At most one notice of a kind per number per 10 minutes."""
    app = make_app()
    create_user(app, PHONE)
    client = ApiClient(app)
    assert client.sign_in_password(PHONE).status_code == 200
    for _ in range(5):
        assert change_password(client, PASSWORD) == 204  # the action itself always succeeds
    assert notices(sms_outbox) == [(PHONE, "PasswordChanged")]


@pytest.mark.real_limits
def test_notices_spend_the_numbers_send_budget(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    """The notice counts toward the number's send limit like a code to its holder: with two
    sends an hour, a code and a notice leave no room for another code."""
    app = make_app(
        SMS_OTP_SEND_LIMIT_PER_NUMBER="2/hour",
        SMS_OTP_SEND_LIMIT_PER_IP="100/hour",
        SMS_OTP_SEND_LIMIT_PER_PREFIX="100/hour",
    )
    create_user(app, PHONE)
    client = ApiClient(app)
    assert client.sign_in_password(PHONE).status_code == 200
    assert client.verify_identity(sms_outbox).status_code == 200  # one code
    assert client.put("/account/password", {"password": NEW_PASSWORD}).status_code == 204
    assert notices(sms_outbox) == [(PHONE, "PasswordChanged")]  # and one notice
    refused = client.send_code(None, "UserPermissionValidation")
    assert refused.status_code == 429
    assert [m.usage for m in sms_outbox] == ["UserPermissionValidation", "PasswordChanged"]
