"""Each endpoint's failures: bodies, usages, sessions, recent verification, CSRF, methods."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from flask_sms_otp.state import get_state
from flask_sms_otp.testing import SentSms

from ..helpers import (
    BODIES,
    BODY_ENDPOINTS,
    NEW_PHONE,
    PASSWORD,
    PHONE,
    WRITE_ENDPOINTS,
    ApiClient,
    AppFactory,
    FakeClock,
    create_user,
    error_code,
    last_code,
)


@pytest.fixture
def api_app(make_app: AppFactory, clock: FakeClock) -> Flask:
    app = make_app(clock=clock)
    create_user(app, PHONE)
    return app


def signed_in(app: Flask) -> ApiClient:
    client = ApiClient(app)
    assert client.sign_in_password(PHONE).status_code == 200
    return client


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
@pytest.mark.parametrize(
    "request_kwargs",
    [
        pytest.param({}, id="no-body"),
        pytest.param({"data": f"phone={PHONE}&usage=SignIn"}, id="form-encoded"),
        pytest.param({"data": "{not json", "content_type": "application/json"}, id="broken-json"),
        pytest.param({"json": [PHONE, "SignIn"]}, id="json-array"),
        pytest.param({"json": "SignIn"}, id="json-string"),
    ],
)
def test_a_missing_or_non_object_body_is_invalid_request(
    api_app: Flask,
    sms_outbox: list[SentSms],
    method: str,
    path: str,
    request_kwargs: dict[str, Any],
) -> None:
    client = signed_in(api_app)
    before = len(sms_outbox)
    response = client.open(method, path, **request_kwargs)
    assert (response.status_code, error_code(response)) == (400, "invalid_request")
    assert len(sms_outbox) == before
    assert client.signed_in_phone() == PHONE  # nothing changed


@pytest.mark.parametrize(
    "usage",
    [
        "Login",
        "signin",
        "",
        None,
        7,
        ["SignIn"],
        "MfaVerification",
        "Generic",
        "OrganizationInvitation",
    ],
)
def test_an_unknown_or_unrequestable_usage_is_refused(
    api_app: Flask, sms_outbox: list[SentSms], usage: Any
) -> None:
    response = ApiClient(api_app).send_code(NEW_PHONE, usage)
    assert (response.status_code, error_code(response)) == (400, "invalid_request")
    assert sms_outbox == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/account", None),
        ("POST", "/verify-identity", BODIES["/verify-identity"]),
        ("POST", "/verify-identity", {"password": PASSWORD}),
        ("PUT", "/account/phone", BODIES["/account/phone"]),
        ("DELETE", "/account/phone", None),
        ("PUT", "/account/mfa", {"enabled": False}),
        ("PUT", "/account/password", BODIES["/account/password"]),
        ("POST", "/verification-codes", {"phone": PHONE, "usage": "UserPermissionValidation"}),
        ("POST", "/verification-codes", {"phone": NEW_PHONE, "usage": "BindNewIdentifier"}),
        ("POST", "/verification-codes", {"phone": PHONE, "usage": "BindMfa"}),
    ],
)
def test_signed_in_endpoints_answer_401_without_a_session(
    api_app: Flask, sms_outbox: list[SentSms], method: str, path: str, body: Any
) -> None:
    client = ApiClient(api_app)
    response = client.open(method, path, *([] if body is None else [body]), csrf=method != "GET")
    assert (response.status_code, error_code(response)) == (401, "unauthorized")
    assert sms_outbox == []


def test_account_changes_need_a_recent_identity_verification(
    api_app: Flask, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    client = signed_in(api_app)
    # Signing in is not a verification of identity: not even a code goes to a new number.
    unverified = client.send_code(NEW_PHONE, "BindNewIdentifier")
    assert (unverified.status_code, error_code(unverified)) == (401, "verification_required")
    assert client.post("/verify-identity", {"password": PASSWORD}).status_code == 200
    bind = client.request_code(NEW_PHONE, "BindNewIdentifier")
    bind_code = last_code(NEW_PHONE)

    def refused() -> list[tuple[int, str]]:
        answers = [
            client.put("/account/phone", {"verification_id": bind, "code": bind_code}),
            client.delete("/account/phone"),
            client.put("/account/mfa", {"enabled": True}),
            client.put("/account/password", {"password": "another password"}),
        ]
        return [(r.status_code, error_code(r)) for r in answers]

    # A verification goes stale after SMS_OTP_REVERIFY_MAX_AGE (300 s).
    clock.advance(301)
    assert refused() == [(401, "verification_required")] * 4
    assert client.account().get_json()["user"] == {
        "id": "1",
        "phone": PHONE,
        "mfa_enabled": False,
    }
    # Refused changes did not use up the new number's code.
    assert client.verify_identity(sms_outbox).status_code == 200
    changed = client.put("/account/phone", {"verification_id": bind, "code": bind_code})
    assert changed.status_code == 200
    assert changed.get_json()["user"]["phone"] == NEW_PHONE


def test_verify_identity_by_password(api_app: Flask, sms_outbox: list[SentSms]) -> None:
    client = signed_in(api_app)
    bad = client.post("/verify-identity", {"password": "not the password"})
    assert (bad.status_code, error_code(bad)) == (401, "invalid_credentials")
    assert client.signed_in_phone() == PHONE  # a wrong password does not sign out
    assert client.delete("/account/phone").status_code == 401
    good = client.post("/verify-identity", {"password": PASSWORD})
    assert good.status_code == 200
    assert set(good.get_json()) == {"verified_until"}
    assert client.delete("/account/phone").status_code == 204
    assert client.account().get_json()["user"]["phone"] is None
    # No code went out: only the notice to the number that left the account.
    assert [(m.to, m.usage, m.code) for m in sms_outbox] == [(PHONE, "PhoneChanged", "")]


def test_remove_phone_without_a_password_is_a_conflict(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app()
    create_user(app, PHONE, password=None)
    client = ApiClient(app)
    assert client.sign_in_by_code(PHONE, sms_outbox).status_code == 200
    assert client.verify_identity(sms_outbox).status_code == 200
    response = client.delete("/account/phone")
    assert (response.status_code, error_code(response)) == (409, "last_sign_in_method")
    assert client.signed_in_phone() == PHONE


def test_remove_phone_while_mfa_is_on_is_a_conflict(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app()
    create_user(app, PHONE, mfa=True)
    client = ApiClient(app)
    first = client.sign_in_password(PHONE)
    vid = first.get_json()["verification_id"]
    assert client.post("/mfa", {"verification_id": vid, "code": last_code()}).status_code == 200
    assert client.verify_identity(sms_outbox).status_code == 200
    response = client.delete("/account/phone")
    assert (response.status_code, error_code(response)) == (409, "mfa_enabled")
    # Turning MFA off, then removing the phone, works (the password stays).
    assert client.put("/account/mfa", {"enabled": False}).status_code == 200
    assert client.delete("/account/phone").status_code == 204
    assert client.account().get_json()["user"]["phone"] is None


def test_turning_mfa_on_needs_a_phone(make_app: AppFactory, sms_outbox: list[SentSms]) -> None:
    app = make_app()
    create_user(app, PHONE)
    client = signed_in(app)
    assert client.post("/verify-identity", {"password": PASSWORD}).status_code == 200
    assert client.delete("/account/phone").status_code == 204
    response = client.put("/account/mfa", {"enabled": True})
    assert (response.status_code, error_code(response)) == (409, "no_phone")
    not_bool = client.put("/account/mfa", {"enabled": "yes"})
    assert (not_bool.status_code, error_code(not_bool)) == (400, "invalid_request")
    no_phone = client.send_code(None, "UserPermissionValidation")
    assert (no_phone.status_code, error_code(no_phone)) == (409, "no_phone")
    assert [(m.to, m.usage, m.code) for m in sms_outbox] == [(PHONE, "PhoneChanged", "")]


def test_mfa_enrolment_by_bind_mfa_code(api_app: Flask, sms_outbox: list[SentSms]) -> None:
    """BindMfa: a code to the current phone both proves it receives codes and allows the change."""
    client = signed_in(api_app)
    vid = client.request_code(None, "BindMfa")
    assert (sms_outbox[-1].to, sms_outbox[-1].usage) == (PHONE, "BindMfa")
    bad = client.put("/account/mfa", {"enabled": True, "verification_id": vid, "code": "000000"})
    assert (bad.status_code, error_code(bad)) == (400, "invalid_code")
    good = client.put(
        "/account/mfa", {"enabled": True, "verification_id": vid, "code": last_code()}
    )
    assert good.status_code == 200
    assert good.get_json()["user"]["mfa_enabled"] is True


def test_resend_answers(api_app: Flask, clock: FakeClock, sms_outbox: list[SentSms]) -> None:
    client = ApiClient(api_app)
    vid = client.request_code(PHONE, "SignIn")
    early = client.post(f"/verification-codes/{vid}/resend")
    assert (early.status_code, error_code(early)) == (429, "resend_not_allowed")
    assert early.headers["Retry-After"] == "60"
    assert len(sms_outbox) == 1
    clock.advance(60)
    again = client.post(f"/verification-codes/{vid}/resend")
    assert again.status_code == 202
    assert again.get_json() == {
        "verification_id": vid,
        "expires_at": "2026-01-01T12:11:00Z",
        "resend_after": "2026-01-01T12:02:00Z",
    }
    assert len(sms_outbox) == 2
    unknown = client.post("/verification-codes/" + "y" * 32 + "/resend")
    assert (unknown.status_code, error_code(unknown)) == (400, "invalid_code")


@pytest.mark.parametrize(("method", "path"), WRITE_ENDPOINTS)
@pytest.mark.parametrize("token", [None, "", "not-a-token", "other-session"])
def test_writes_without_the_right_csrf_token_are_refused(
    api_app: Flask,
    sms_outbox: list[SentSms],
    clock: FakeClock,
    method: str,
    path: str,
    token: str | None,
) -> None:
    client = signed_in(api_app)
    vid = client.request_code(NEW_PHONE, "Register")
    clock.advance(61)
    sent = len(sms_outbox)
    if token == "other-session":
        token = ApiClient(api_app).fetch_csrf()  # well signed, but another session's token
    body = BODIES.get(path)
    response = client.open(
        method,
        path.format(vid=vid),
        *([] if body is None else [body]),
        csrf=False if token is None else token,
    )
    assert (response.status_code, error_code(response)) == (400, "csrf_failed")
    assert len(sms_outbox) == sent
    # Nothing changed: still signed in with the same phone and settings.
    assert client.account().get_json()["user"] == {"id": "1", "phone": PHONE, "mfa_enabled": False}


def test_turning_csrf_off_lets_requests_through(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app(WTF_CSRF_ENABLED=False)
    create_user(app, PHONE)
    client = ApiClient(app)
    sent = client.send_code(NEW_PHONE, "Register", csrf=False)
    assert sent.status_code == 202
    assert "X-CSRFToken" not in sent.headers
    signed = client.post("/sign-in", {"phone": PHONE, "password": PASSWORD}, csrf=False)
    assert signed.status_code == 200
    assert client.signed_in_phone() == PHONE
    assert len(sms_outbox) == 1


def test_every_write_answer_carries_the_current_csrf_token(
    api_app: Flask, sms_outbox: list[SentSms]
) -> None:
    client = ApiClient(api_app)
    first = client.fetch_csrf()
    sent = client.send_code(NEW_PHONE, "Register")
    assert sent.headers["X-CSRFToken"]
    failed = client.post("/sign-in", {"phone": PHONE, "password": "wrong password"})
    assert failed.status_code == 401
    assert failed.headers["X-CSRFToken"]
    # Signing in starts a new session: the old token stops working, the new one works.
    signed = client.post("/sign-in", {"phone": PHONE, "password": PASSWORD})
    assert signed.status_code == 200
    assert signed.headers["X-CSRFToken"] != first
    stale = client.post("/sign-out", csrf=first)
    assert (stale.status_code, error_code(stale)) == (400, "csrf_failed")
    assert "X-CSRFToken" in stale.headers
    # ... and the token that refusal handed back is this session's: it works.
    assert client.post("/sign-out").status_code == 204
    assert len(sms_outbox) == 1


def test_csrf_tokens_stay_right_when_the_app_context_outlives_requests(
    api_app: Flask, sms_outbox: list[SentSms]
) -> None:
    """pytest-flask (and any test inside ``with app.app_context()``) keeps one app context,
    and so one ``g``, around many requests: the token handed out after signing in must
    still be the new session's."""
    with api_app.test_request_context():
        client = signed_in(api_app)
        assert client.send_code(NEW_PHONE, "Register").status_code == 202
        assert client.post("/sign-out").status_code == 204
        assert client.sign_in_password(PHONE).status_code == 200
        assert client.post("/sign-out").status_code == 204
    assert len(sms_outbox) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/verification-codes",
        "/verification-codes/{vid}/resend",
        "/sign-up",
        "/sign-in",
        "/sign-in/code",
        "/mfa",
        "/reset-password",
        "/verify-identity",
        "/account/phone",
        "/account/mfa",
        "/account/password",
        "/sign-out",
    ],
)
def test_get_on_a_write_url_is_405_and_sends_nothing(
    api_app: Flask, sms_outbox: list[SentSms], clock: FakeClock, path: str
) -> None:
    client = signed_in(api_app)
    vid = client.request_code(NEW_PHONE, "Register")
    clock.advance(61)
    sent = len(sms_outbox)
    url = path.format(vid=vid) + f"?phone={NEW_PHONE}&usage=Register"
    response = client.get(url)
    assert response.status_code == 405
    assert "GET" not in response.headers["Allow"]
    assert set(response.headers["Allow"].split(", ")) & {"POST", "PUT", "PATCH", "DELETE"}
    assert error_code(response) == "method_not_allowed"
    assert len(sms_outbox) == sent
    assert client.signed_in_phone() == PHONE


@pytest.mark.parametrize(
    "foreign_hash",
    [
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",  # bcrypt, imported
        "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
    ],
)
def test_a_password_hash_werkzeug_cannot_read_is_a_wrong_password_not_a_500(
    api_app: Flask, foreign_hash: str
) -> None:
    """Users imported from another system with its hashes: the answer is the usual 401."""
    with api_app.app_context():
        users = get_state(api_app).users
        user = users.by_phone(PHONE)
        user.password_hash = foreign_hash
        users.db.session.commit()
    response = ApiClient(api_app).sign_in_password(PHONE, "whatever it was")
    assert (response.status_code, error_code(response)) == (401, "invalid_credentials")


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "OPTIONS"])
@pytest.mark.parametrize("path", ["/nope", "/csrf/", "/verification-codes/x/y", "/", ""])
def test_a_url_under_the_api_that_serves_nothing_is_a_json_404(
    api_app: Flask, sms_outbox: list[SentSms], method: str, path: str
) -> None:
    """Not Flask's HTML page, and not a CSRF error for a write: the client reads why."""
    response = api_app.test_client().open("/auth/api" + path, method=method, json={})
    assert response.status_code == 404
    assert error_code(response) == "not_found"
    assert sms_outbox == []


def test_a_wrong_method_on_an_api_url_is_a_json_405_naming_the_right_ones(
    api_app: Flask,
) -> None:
    client = api_app.test_client()
    response = client.delete("/auth/api/csrf")
    assert (response.status_code, error_code(response)) == (405, "method_not_allowed")
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    preflight = client.options("/auth/api/verification-codes")
    assert preflight.status_code == 200  # Flask's own OPTIONS answer still serves real URLs
    assert "POST" in preflight.headers["Allow"]


def test_the_apps_own_routes_and_404_page_are_left_alone(make_app: AppFactory) -> None:
    """Only URLs under the API's prefix answer in JSON: the app's own route there, and its
    own 404 page everywhere else (our HTML pages' prefix included), are untouched."""
    app = make_app()
    app.add_url_rule("/auth/api/app-own", "app_own", lambda: "the app's")
    app.register_error_handler(404, lambda error: ("the app's 404", 404))
    client = app.test_client()
    assert client.get("/auth/api/app-own").get_data(as_text=True) == "the app's"
    for path in ("/elsewhere", "/auth/nope"):
        response = client.get(path)
        assert (response.status_code, response.get_data(as_text=True)) == (404, "the app's 404")
