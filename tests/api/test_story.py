"""design.md's "Must show" story, told through the JSON API on SQLite and PostgreSQL: one
number's life from sign-up to password reset, and what strangers and guessers get."""

from __future__ import annotations

from flask_sms_otp.testing import SentSms

from ..helpers import (
    NEW_PHONE,
    OTHER_PHONE,
    PASSWORD,
    PHONE,
    ApiClient,
    AppFactory,
    FakeClock,
    error_code,
    wrong,
)

UNKNOWN_PHONE = "+447400123458"
NEW_PASSWORD = "a brand new passphrase"
CHALLENGE_KEYS = {"verification_id", "expires_at", "resend_after"}


def test_a_number_from_sign_up_to_password_reset(
    make_app: AppFactory, database_uri: str, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = make_app(SQLALCHEMY_DATABASE_URI=database_uri, clock=clock)
    phone = ApiClient(app)

    # A new number signs up: a Register code, then sign-up with a password. Signed in.
    sent = phone.send_code(PHONE, "Register")
    assert sent.status_code == 202
    assert sent.get_json() == {
        "verification_id": sent.get_json()["verification_id"],
        "expires_at": "2026-01-01T12:10:00Z",
        "resend_after": "2026-01-01T12:01:00Z",
    }
    assert [(m.to, m.usage) for m in sms_outbox] == [(PHONE, "Register")]
    signed_up = phone.post(
        "/sign-up",
        {
            "verification_id": sent.get_json()["verification_id"],
            "code": sms_outbox[-1].code,
            "password": PASSWORD,
        },
    )
    assert signed_up.status_code == 201
    user = signed_up.get_json()["user"]
    assert user["phone"] == PHONE
    assert user["id"]
    assert phone.account().get_json() == {
        "user": {"id": user["id"], "phone": PHONE, "mfa_enabled": False}
    }

    # Signs out.
    assert phone.post("/sign-out").status_code == 204
    assert phone.account().status_code == 401

    # Signs in by code; a wrong code and then a replay of the used one are refused alike.
    vid = phone.request_code(PHONE, "SignIn")
    code = sms_outbox[-1].code
    bad = phone.post("/sign-in/code", {"verification_id": vid, "code": wrong(code)})
    assert (bad.status_code, error_code(bad)) == (400, "invalid_code")
    good = phone.post("/sign-in/code", {"verification_id": vid, "code": code})
    assert good.status_code == 200
    assert good.get_json()["user"]["phone"] == PHONE
    assert phone.post("/sign-out").status_code == 204
    replay = phone.post("/sign-in/code", {"verification_id": vid, "code": code})
    assert (replay.status_code, replay.get_json()) == (400, bad.get_json())
    assert phone.signed_in_phone() is None

    # Signs in by password.
    by_password = phone.sign_in_password(PHONE)
    assert by_password.status_code == 200
    assert by_password.get_json() == {
        "user": {"id": user["id"], "phone": PHONE, "mfa_enabled": False}
    }

    # Verifies identity with a code to the current phone, then turns on SMS MFA.
    verified = phone.verify_identity(sms_outbox)
    assert verified.status_code == 200
    assert verified.get_json() == {"verified_until": "2026-01-01T12:05:00Z"}
    assert sms_outbox[-1].usage == "UserPermissionValidation"
    mfa_on = phone.put("/account/mfa", {"enabled": True})
    assert mfa_on.status_code == 200
    assert mfa_on.get_json()["user"]["mfa_enabled"] is True

    # Signs in again: the password is only the first step; the second code finishes it.
    assert phone.post("/sign-out").status_code == 204
    first_step = phone.sign_in_password(PHONE)
    assert first_step.status_code == 200
    assert first_step.get_json()["mfa_required"] is True
    assert "user" not in first_step.get_json()
    assert phone.account().status_code == 401
    assert (sms_outbox[-1].to, sms_outbox[-1].usage) == (PHONE, "MfaVerification")
    second_step = phone.post(
        "/mfa",
        {"verification_id": first_step.get_json()["verification_id"], "code": sms_outbox[-1].code},
    )
    assert second_step.status_code == 200
    assert second_step.get_json()["user"]["phone"] == PHONE
    assert phone.signed_in_phone() == PHONE

    # Changes its number: identity first, then a BindNewIdentifier code to the new number.
    assert phone.verify_identity(sms_outbox).status_code == 200
    bind = phone.request_code(NEW_PHONE, "BindNewIdentifier")
    assert (sms_outbox[-1].to, sms_outbox[-1].usage) == (NEW_PHONE, "BindNewIdentifier")
    changed = phone.put("/account/phone", {"verification_id": bind, "code": sms_outbox[-1].code})
    assert changed.status_code == 200
    assert changed.get_json()["user"]["phone"] == NEW_PHONE
    assert phone.signed_in_phone() == NEW_PHONE
    old = ApiClient(app).sign_in_password(PHONE)
    assert (old.status_code, error_code(old)) == (401, "invalid_credentials")

    # Resets its password from another device: every other session ends, and the reset
    # itself signs nobody in.
    laptop = ApiClient(app)
    reset_vid = laptop.request_code(NEW_PHONE, "ForgotPassword")
    assert (sms_outbox[-1].to, sms_outbox[-1].usage) == (NEW_PHONE, "ForgotPassword")
    reset = laptop.post(
        "/reset-password",
        {"verification_id": reset_vid, "code": sms_outbox[-1].code, "password": NEW_PASSWORD},
    )
    assert (reset.status_code, reset.data) == (204, b"")
    assert laptop.account().status_code == 401
    assert phone.account().status_code == 401
    stale = ApiClient(app).sign_in_password(NEW_PHONE, PASSWORD)
    assert stale.status_code == 401
    # SMS MFA is still on after the reset.
    again = laptop.sign_in_password(NEW_PHONE, NEW_PASSWORD)
    assert again.status_code == 200
    assert again.get_json()["mfa_required"] is True

    # Strangers: an unknown number gets the same 202 shape, and nothing is sent.
    before = len(sms_outbox)
    for usage in ("SignIn", "ForgotPassword"):
        stranger = ApiClient(app).send_code(UNKNOWN_PHONE, usage)
        assert stranger.status_code == 202
        assert set(stranger.get_json()) == CHALLENGE_KEYS
    assert len(sms_outbox) == before

    # Guessers: five wrong codes are "invalid", the sixth try is refused, right or not.
    guesser = ApiClient(app)
    vid = guesser.request_code(OTHER_PHONE, "Register")
    right = sms_outbox[-1].code
    for _ in range(5):
        guess = guesser.post("/sign-up", {"verification_id": vid, "code": wrong(right)})
        assert (guess.status_code, error_code(guess)) == (400, "invalid_code")
    locked = guesser.post("/sign-up", {"verification_id": vid, "code": right})
    assert (locked.status_code, error_code(locked)) == (429, "too_many_attempts")
    assert guesser.account().status_code == 401
