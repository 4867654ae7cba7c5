"""Issue 4's "Must show", against the example app itself: the JSON API table as written."""

from __future__ import annotations

import pytest
from flask import Flask

from flask_sms_otp.testing import SentSms

from ..helpers import (
    PASSWORD,
    PHONE,
    ApiClient,
    AppFactory,
    error_code,
    wrong,
)

NEW_PHONE = "+447400123456"
UNKNOWN = "+447400123499"


@pytest.fixture
def example(make_example_app: AppFactory) -> Flask:
    return make_example_app()


def test_the_api_table_on_the_example_app(example: Flask, sms_outbox: list[SentSms]) -> None:
    me = ApiClient(example)

    def code_for(phone: str | None, usage: str) -> dict[str, str]:
        vid = me.request_code(phone, usage)
        return {"verification_id": vid, "code": sms_outbox[-1].code}

    # A new number signs up, signs out, signs in by code and by password.
    signed_up = me.post("/sign-up", {**code_for(PHONE, "Register"), "password": PASSWORD})
    assert signed_up.status_code == 201
    assert signed_up.get_json()["user"]["phone"] == PHONE
    assert me.post("/sign-out").status_code == 204
    assert me.account().status_code == 401
    assert me.post("/sign-in/code", code_for(PHONE, "SignIn")).status_code == 200
    assert me.post("/sign-out").status_code == 204
    assert me.sign_in_password(PHONE).status_code == 200

    # Turns on MFA (after verifying identity) and signs in with the second code.
    assert (
        me.post("/verify-identity", code_for(None, "UserPermissionValidation")).status_code == 200
    )
    assert me.put("/account/mfa", {"enabled": True}).get_json()["user"]["mfa_enabled"] is True
    assert me.post("/sign-out").status_code == 204
    first = me.sign_in_password(PHONE).get_json()
    assert first["mfa_required"] is True
    assert me.account().status_code == 401  # not signed in while the second step is pending
    second = me.post(
        "/mfa", {"verification_id": first["verification_id"], "code": sms_outbox[-1].code}
    )
    assert second.status_code == 200

    # Changes its number: identity first, then the new number's own code.
    assert (
        me.post("/verify-identity", code_for(None, "UserPermissionValidation")).status_code == 200
    )
    changed = me.put("/account/phone", code_for(NEW_PHONE, "BindNewIdentifier"))
    assert changed.get_json()["user"]["phone"] == NEW_PHONE

    # Resets its password: not signed in afterwards, every other session ends.
    other_device = ApiClient(example)
    assert other_device.sign_in_password(NEW_PHONE).status_code == 200
    reset = code_for(NEW_PHONE, "ForgotPassword")
    assert me.post("/reset-password", {**reset, "password": "a new passphrase"}).status_code == 204
    assert me.account().status_code == 401
    assert other_device.account().status_code == 401
    assert ApiClient(example).sign_in_password(NEW_PHONE, PASSWORD).status_code == 401

    # Replays, wrong codes and unknown numbers get the table's answers.
    replay = me.post("/reset-password", {**reset, "password": "yet another one"})
    assert (replay.status_code, error_code(replay)) == (400, "invalid_code")
    attempt = code_for(NEW_PHONE, "SignIn")
    for _ in range(5):
        bad = me.post("/sign-in/code", {**attempt, "code": wrong(attempt["code"])})
        assert (bad.status_code, error_code(bad)) == (400, "invalid_code")
    spent = me.post("/sign-in/code", attempt)
    assert (spent.status_code, error_code(spent)) == (429, "too_many_attempts")
    sent = len(sms_outbox)
    stranger = me.send_code(UNKNOWN, "SignIn")
    assert stranger.status_code == 202
    assert set(stranger.get_json()) == {"verification_id", "expires_at", "resend_after"}
    assert len(sms_outbox) == sent  # nothing sent, nothing revealed
