"""Sessions and account flows through the API (security.md §9, checks 24-28): rotation and
login CSRF, cookie flags, password reset, change of number, the pending MFA state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask

from flask_sms_otp.signals import mfa_failed, password_changed, password_reset, phone_changed
from flask_sms_otp.testing import SentSms

from ..helpers import (
    NEW_PHONE,
    OTHER_PHONE,
    PASSWORD,
    PHONE,
    ApiClient,
    AppFactory,
    FakeClock,
    create_user,
    error_code,
    last_code,
    sent_to,
    wrong,
)

NEW_PASSWORD = "a brand new passphrase"


@contextmanager
def recorded(signal: Any, app: Flask) -> Iterator[list[dict[str, Any]]]:
    """The keyword arguments of every ``signal`` sent by ``app`` inside the block; the
    ``user`` as ``user_phone`` (the object does not outlive its request)."""
    calls: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        if "user" in kwargs:
            kwargs["user_phone"] = kwargs.pop("user").phone
        calls.append(kwargs)

    with signal.connected_to(receiver, app):
        yield calls


def session_cookie(client: ApiClient) -> str:
    cookie = client.http.get_cookie("session")
    assert cookie is not None
    return cookie.value


# 24 ---------------------------------------------------------------------------------------------


def _sign_up(client: ApiClient, outbox: list[SentSms]) -> Any:
    vid = client.request_code(OTHER_PHONE, "Register")
    return client.post("/sign-up", {"verification_id": vid, "code": last_code(outbox=outbox)})


def _by_code(client: ApiClient, outbox: list[SentSms]) -> Any:
    return client.sign_in_by_code(PHONE, outbox)


def _by_password(client: ApiClient, outbox: list[SentSms]) -> Any:
    return client.sign_in_password(PHONE)


SIGN_INS: dict[str, Callable[[ApiClient, list[SentSms]], Any]] = {
    "sign-up": _sign_up,
    "code": _by_code,
    "password": _by_password,
}


@pytest.mark.parametrize("method", sorted(SIGN_INS))
def test_signing_in_starts_a_fresh_session(
    make_app: AppFactory, sms_outbox: list[SentSms], method: str
) -> None:
    app = make_app()
    create_user(app, PHONE)
    client = ApiClient(app)
    old_token = client.fetch_csrf()
    with client.http.session_transaction() as before:
        before["planted"] = "by an attacker"
    planted_cookie = session_cookie(client)

    assert SIGN_INS[method](client, sms_outbox).status_code in (200, 201)

    with client.http.session_transaction() as after:
        assert "planted" not in after
    assert session_cookie(client) != planted_cookie
    assert client.csrf_token != old_token
    stale = client.post("/sign-out", csrf=old_token)
    assert (stale.status_code, error_code(stale)) == (400, "csrf_failed")
    # The cookie from before signing in stays what it was: signed out.
    fixated = ApiClient(app)
    fixated.http.set_cookie("session", planted_cookie)
    assert fixated.signed_in_phone() is None
    assert client.signed_in_phone() is not None


def test_the_mfa_step_starts_a_fresh_session_too(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app()
    create_user(app, PHONE, mfa=True)
    client = ApiClient(app)
    first = client.sign_in_password(PHONE)
    with client.http.session_transaction() as pending:
        pending["planted"] = "by an attacker"
    planted_cookie = session_cookie(client)
    vid = first.get_json()["verification_id"]
    assert client.post("/mfa", {"verification_id": vid, "code": last_code()}).status_code == 200
    with client.http.session_transaction() as after:
        assert "planted" not in after
    assert session_cookie(client) != planted_cookie


def test_login_posts_without_csrf_are_refused_and_spend_nothing(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app()
    create_user(app, PHONE, mfa=True)
    client = ApiClient(app)
    vid = client.request_code(PHONE, "SignIn")
    code = last_code()
    for path, body in [
        ("/sign-in", {"phone": PHONE, "password": PASSWORD}),
        ("/sign-in/code", {"verification_id": vid, "code": code}),
        ("/sign-up", {"verification_id": vid, "code": code}),
        ("/mfa", {"verification_id": vid, "code": code}),
    ]:
        response = client.post(path, body, csrf=False)
        assert (response.status_code, error_code(response)) == (400, "csrf_failed"), path
    assert client.signed_in_phone() is None
    assert len(sms_outbox) == 1  # the password step sent no MFA code
    # The code was not spent by the refused requests.
    done = client.post("/sign-in/code", {"verification_id": vid, "code": code})
    assert done.status_code == 200


# 25 ---------------------------------------------------------------------------------------------


def cookie_attributes(response: Any, name: str) -> dict[str, str]:
    for header in response.headers.getlist("Set-Cookie"):
        first, *attributes = (part.strip() for part in header.split(";"))
        if first.split("=", 1)[0] == name:
            return {
                a.split("=", 1)[0].lower(): (a.split("=", 1)[1] if "=" in a else "")
                for a in attributes
            }
    raise AssertionError(f"no {name} cookie set")


def test_session_cookie_is_secure_httponly_and_lax_by_default(make_app: AppFactory) -> None:
    app = make_app()
    create_user(app, PHONE)
    client = ApiClient(app)
    client.fetch_csrf()
    signed = client.sign_in_password(PHONE)
    attributes = cookie_attributes(signed, "session")
    assert "secure" in attributes
    assert "httponly" in attributes
    assert attributes["samesite"] == "Lax"
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_HTTPONLY"] is True
    assert app.config["REMEMBER_COOKIE_SAMESITE"] == "Lax"


def test_an_explicit_samesite_is_kept(make_app: AppFactory) -> None:
    app = make_app(SESSION_COOKIE_SAMESITE="Strict")
    create_user(app, PHONE)
    signed = ApiClient(app).sign_in_password(PHONE)
    attributes = cookie_attributes(signed, "session")
    assert attributes["samesite"] == "Strict"
    assert "secure" in attributes


def test_secure_cookies_can_be_turned_off_for_plain_http(make_app: AppFactory) -> None:
    app = make_app(SMS_OTP_SECURE_COOKIES=False)
    create_user(app, PHONE)
    signed = ApiClient(app).sign_in_password(PHONE)
    attributes = cookie_attributes(signed, "session")
    assert "secure" not in attributes
    assert "samesite" not in attributes  # Flask's own default


# 26 ---------------------------------------------------------------------------------------------


def reset(client: ApiClient, phone: str, outbox: list[SentSms], password: str) -> Any:
    vid = client.request_code(phone, "ForgotPassword")
    return client.post(
        "/reset-password",
        {"verification_id": vid, "code": last_code(phone, outbox=outbox), "password": password},
    )


def test_password_reset_semantics(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = make_app(clock=clock)
    create_user(app, PHONE)
    phone, laptop, stranger = ApiClient(app), ApiClient(app), ApiClient(app)
    assert phone.sign_in_password(PHONE).status_code == 200
    assert laptop.sign_in_password(PHONE).status_code == 200

    # Asking for a reset changes nothing: the password still works, nothing is locked.
    for _ in range(3):
        stranger.request_code(PHONE, "ForgotPassword")
    assert ApiClient(app).sign_in_password(PHONE).status_code == 200
    assert phone.signed_in_phone() == laptop.signed_in_phone() == PHONE

    # The reset: not signed in afterwards; every session of the user ends; a notification hook.
    vid = stranger.request_code(PHONE, "ForgotPassword")
    code = last_code()
    short = stranger.post(
        "/reset-password", {"verification_id": vid, "code": code, "password": "short"}
    )
    assert (short.status_code, error_code(short)) == (400, "invalid_request")
    with recorded(password_reset, app) as notices:
        done = stranger.post(
            "/reset-password", {"verification_id": vid, "code": code, "password": NEW_PASSWORD}
        )
    assert done.status_code == 204
    assert [n["user_phone"] for n in notices] == [PHONE]
    assert stranger.signed_in_phone() is None
    assert phone.signed_in_phone() is None
    assert laptop.signed_in_phone() is None
    old = ApiClient(app).sign_in_password(PHONE, PASSWORD)
    assert (old.status_code, error_code(old)) == (401, "invalid_credentials")
    assert ApiClient(app).sign_in_password(PHONE, NEW_PASSWORD).status_code == 200

    # The reset code is single use.
    replay = ApiClient(app).post(
        "/reset-password", {"verification_id": vid, "code": code, "password": "yet another one"}
    )
    assert (replay.status_code, error_code(replay)) == (400, "invalid_code")
    assert ApiClient(app).sign_in_password(PHONE, NEW_PASSWORD).status_code == 200


def test_a_reset_does_not_skip_mfa(make_app: AppFactory, sms_outbox: list[SentSms]) -> None:
    app = make_app()
    create_user(app, PHONE, mfa=True)
    client = ApiClient(app)
    assert reset(client, PHONE, sms_outbox, NEW_PASSWORD).status_code == 204
    assert client.signed_in_phone() is None
    first = client.sign_in_password(PHONE, NEW_PASSWORD)
    assert first.status_code == 200
    assert first.get_json()["mfa_required"] is True
    assert client.signed_in_phone() is None


def test_a_reset_for_an_unknown_number_verifies_nothing(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app(code_generator=lambda n: "424242")
    client = ApiClient(app)
    vid = client.request_code(OTHER_PHONE, "ForgotPassword")
    assert sms_outbox == []
    answer = client.post(
        "/reset-password", {"verification_id": vid, "code": "424242", "password": NEW_PASSWORD}
    )
    assert (answer.status_code, error_code(answer)) == (400, "invalid_code")


# 27 ---------------------------------------------------------------------------------------------


def test_changing_the_number(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = make_app(clock=clock)
    create_user(app, PHONE)
    client = ApiClient(app)
    assert client.sign_in_password(PHONE).status_code == 200

    # A recent verification of identity is needed, by code or password, even to send the
    # new number its code; and it goes stale.
    unverified = client.send_code(NEW_PHONE, "BindNewIdentifier")
    assert (unverified.status_code, error_code(unverified)) == (401, "verification_required")
    assert client.post("/verify-identity", {"password": PASSWORD}).status_code == 200
    bind = client.request_code(NEW_PHONE, "BindNewIdentifier")
    new_code = last_code(NEW_PHONE)
    body = {"verification_id": bind, "code": new_code}
    clock.advance(301)
    stale = client.put("/account/phone", body)
    assert (stale.status_code, error_code(stale)) == (401, "verification_required")
    assert client.verify_identity(sms_outbox).status_code == 200
    assert sms_outbox[-1].to == PHONE  # the identity code went to the current number

    # Only the new number's own code will do: not the current number's, not a wrong one.
    current_code = last_code(PHONE)
    for code in (current_code, wrong(new_code)):
        refused = client.put("/account/phone", {"verification_id": bind, "code": code})
        assert (refused.status_code, error_code(refused)) == (400, "invalid_code")

    # Until the change, the old number still works.
    assert ApiClient(app).sign_in_password(PHONE).status_code == 200
    assert ApiClient(app).sign_in_by_code(PHONE, sms_outbox).status_code == 200

    with recorded(phone_changed, app) as notices:
        changed = client.put("/account/phone", body)
    assert changed.status_code == 200
    assert changed.get_json()["user"]["phone"] == NEW_PHONE
    assert [(n["old_phone"], n["new_phone"]) for n in notices] == [(PHONE, NEW_PHONE)]

    # Afterwards the old number stops at once; the new one works.
    old = ApiClient(app).sign_in_password(PHONE)
    assert (old.status_code, error_code(old)) == (401, "invalid_credentials")
    sent_before = len(sent_to(sms_outbox, PHONE))
    ApiClient(app).request_code(PHONE, "SignIn")
    assert len(sent_to(sms_outbox, PHONE)) == sent_before  # no account: nothing sent
    assert ApiClient(app).sign_in_password(NEW_PHONE).status_code == 200
    # The code cannot be used twice.
    again = client.put("/account/phone", body)
    assert (again.status_code, error_code(again)) == (400, "invalid_code")


def test_a_number_owned_by_another_account_gets_the_generic_answer(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = make_app(clock=clock)
    create_user(app, PHONE)
    create_user(app, OTHER_PHONE)
    client = ApiClient(app)
    assert client.sign_in_password(PHONE).status_code == 200
    assert client.post("/verify-identity", {"password": PASSWORD}).status_code == 200

    taken = client.send_code(OTHER_PHONE, "BindNewIdentifier")
    free = client.send_code(NEW_PHONE, "BindNewIdentifier")
    assert taken.status_code == free.status_code == 202
    assert {k: v for k, v in taken.get_json().items() if k != "verification_id"} == {
        k: v for k, v in free.get_json().items() if k != "verification_id"
    }
    assert sent_to(sms_outbox, OTHER_PHONE) == []  # its owner gets no code to pass on
    for guess in ("000000", last_code(NEW_PHONE)):
        answer = client.put(
            "/account/phone",
            {"verification_id": taken.get_json()["verification_id"], "code": guess},
        )
        assert (answer.status_code, error_code(answer)) == (400, "invalid_code")
    assert client.account().get_json()["user"]["phone"] == PHONE


# 28 ---------------------------------------------------------------------------------------------


@pytest.fixture
def mfa_app(make_app: AppFactory, clock: FakeClock) -> Flask:
    app = make_app(clock=clock)
    create_user(app, PHONE, mfa=True)
    return app


def start(client: ApiClient) -> str:
    first = client.sign_in_password(PHONE)
    assert first.status_code == 200
    assert first.get_json()["mfa_required"] is True
    vid = first.get_json()["verification_id"]
    assert isinstance(vid, str)
    return vid


def test_signed_in_routes_are_closed_while_mfa_is_pending(
    mfa_app: Flask, sms_outbox: list[SentSms]
) -> None:
    client = ApiClient(mfa_app)
    start(client)
    for method, path, body in [
        ("GET", "/account", None),
        ("POST", "/verify-identity", {"password": PASSWORD}),
        ("PUT", "/account/mfa", {"enabled": False}),
        ("DELETE", "/account/phone", None),
        ("POST", "/verification-codes", {"phone": None, "usage": "UserPermissionValidation"}),
    ]:
        answer = client.open(method, path, *([] if body is None else [body]), csrf=method != "GET")
        assert (answer.status_code, error_code(answer)) == (401, "unauthorized"), path
    assert len(sms_outbox) == 1  # only the MFA code


def test_the_pending_mfa_state_expires(
    mfa_app: Flask, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    client = ApiClient(mfa_app)
    vid = start(client)
    clock.advance(601)  # SMS_OTP_CODE_TTL
    late = client.post("/mfa", {"verification_id": vid, "code": last_code()})
    assert (late.status_code, error_code(late)) == (400, "invalid_code")
    assert client.signed_in_phone() is None


def test_another_users_code_does_not_finish_my_mfa(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app()
    create_user(app, PHONE, mfa=True)
    create_user(app, OTHER_PHONE, mfa=True)
    mine, theirs = ApiClient(app), ApiClient(app)
    my_vid = start(mine)
    their_first = theirs.sign_in_password(OTHER_PHONE)
    their_vid = their_first.get_json()["verification_id"]
    their_code = last_code(OTHER_PHONE)
    for vid in (their_vid, my_vid):
        answer = mine.post("/mfa", {"verification_id": vid, "code": their_code})
        assert (answer.status_code, error_code(answer)) == (400, "invalid_code")
    assert mine.signed_in_phone() is None


def test_five_wrong_mfa_codes_end_the_pending_sign_in(
    mfa_app: Flask, sms_outbox: list[SentSms]
) -> None:
    client = ApiClient(mfa_app)
    vid = start(client)
    code = last_code()
    with recorded(mfa_failed, mfa_app) as notices:
        for _ in range(5):
            answer = client.post("/mfa", {"verification_id": vid, "code": wrong(code)})
            assert (answer.status_code, error_code(answer)) == (400, "invalid_code")
        assert notices == []
        sixth = client.post("/mfa", {"verification_id": vid, "code": code})
        assert (sixth.status_code, error_code(sixth)) == (429, "too_many_attempts")
        assert [n["user_phone"] for n in notices] == [PHONE]
    # The pending sign-in is over: even the right code is refused; the password starts again.
    after = client.post("/mfa", {"verification_id": vid, "code": code})
    assert (after.status_code, error_code(after)) == (400, "invalid_code")
    assert client.signed_in_phone() is None
    vid = start(client)
    done = client.post("/mfa", {"verification_id": vid, "code": last_code()})
    assert done.status_code == 200
    assert client.signed_in_phone() == PHONE


def test_changing_the_password_ends_every_other_session(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app()
    create_user(app, PHONE)
    here, elsewhere = ApiClient(app), ApiClient(app)
    assert here.sign_in_password(PHONE).status_code == 200
    assert elsewhere.sign_in_password(PHONE).status_code == 200
    assert here.post("/verify-identity", {"password": PASSWORD}).status_code == 200
    with recorded(password_changed, app) as notices:
        changed = here.put("/account/password", {"password": NEW_PASSWORD})
    assert changed.status_code == 204
    assert [n["user_phone"] for n in notices] == [PHONE]
    assert here.signed_in_phone() == PHONE
    assert elsewhere.signed_in_phone() is None
    assert ApiClient(app).sign_in_password(PHONE, PASSWORD).status_code == 401
    assert ApiClient(app).sign_in_password(PHONE, NEW_PASSWORD).status_code == 200
    # No code went out: only the notice that the password changed.
    assert [(m.to, m.usage, m.code) for m in sms_outbox] == [(PHONE, "PasswordChanged", "")]


# 34 ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("move", ["reset", "change"])
def test_a_pending_second_step_dies_with_a_password_reset_or_change(
    mfa_app: Flask, sms_outbox: list[SentSms], move: str
) -> None:
    """Someone who had the old password started the second step; the owner then resets or
    changes the password. The right code no longer finishes that sign-in."""
    intruder, owner = ApiClient(mfa_app), ApiClient(mfa_app)
    vid = start(intruder)
    code = last_code()
    if move == "reset":
        reset_vid = owner.request_code(PHONE, "ForgotPassword")
        body = {
            "verification_id": reset_vid,
            "code": last_code(),
            "password": NEW_PASSWORD,
        }
        assert owner.post("/reset-password", body).status_code == 204
    else:
        owner_vid = start(owner)
        owner_code = last_code()
        body = {"verification_id": owner_vid, "code": owner_code}
        assert owner.post("/mfa", body).status_code == 200
        assert owner.post("/verify-identity", {"password": PASSWORD}).status_code == 200
        assert owner.put("/account/password", {"password": NEW_PASSWORD}).status_code == 204
    late = intruder.post("/mfa", {"verification_id": vid, "code": code})
    assert (late.status_code, error_code(late)) == (400, "invalid_code")
    assert intruder.signed_in_phone() is None
