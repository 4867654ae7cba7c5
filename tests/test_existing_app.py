"""flask-sms-otp as a guest in an app that already has users (``examples/existing_app``):
UUID keys, a NOT NULL ``email`` filled by ``new_for_phone``, ``is_active`` from the app's own
``active`` column, its own ``LoginManager``, ``user_loader``, ``CSRFProtect`` and ``/login``
page, and rows already in the table. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from werkzeug.security import generate_password_hash
from werkzeug.test import TestResponse

from examples.existing_app import create_app
from examples.existing_app.models import User, db
from flask_sms_otp import user_signed_in
from flask_sms_otp.connectors.memory import SentSms
from flask_sms_otp.testing import wait_for_sends

from .helpers import (
    PASSWORD,
    PHONE,
    ApiClient,
    error_code,
    last_code,
    sent_to,
    valid_mobile,
    wrong,
)

NEW_PASSWORD = "a brand new passphrase"
ALICE_PASSWORD = "alice's password from before"
NEW_PHONE = "+447400123456"
BOB_PHONE = "+12015550123"
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@contextmanager
def guest_site(database_uri: str, app_limits: dict[str, Any], **config: Any) -> Iterator[Flask]:
    """The example app on a fresh database, with two users from before the extension:
    Alice (e-mail and password, no phone) and Bob (disabled, with a phone)."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "existing-app-test",
            "SQLALCHEMY_DATABASE_URI": database_uri,
            "SMS_OTP_CONNECTOR": "memory",
            "SMS_OTP_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "SMS_OTP_ADMIN": True,
            "ADMIN_EMAILS": ["alice@example.com"],
            **app_limits,
            **config,
        }
    )
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.session.add_all(
            [
                User(email="alice@example.com", password_hash=_hash(ALICE_PASSWORD)),
                User(
                    email="bob@example.com",
                    password_hash=_hash(PASSWORD),
                    phone=BOB_PHONE,
                    active=False,
                ),
            ]
        )
        db.session.commit()
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


@pytest.fixture
def site(database_uri: str, app_limits: dict[str, Any]) -> Iterator[Flask]:
    """:func:`guest_site`. Not named ``app``: pytest-flask would keep one request context
    around the whole test, whose ``g`` caches one CSRF token for every browser the test
    opens."""
    with guest_site(database_uri, app_limits) as app:
        yield app


def _hash(password: str) -> str:
    return generate_password_hash(password, method="pbkdf2:sha256:1000")


def user_by(site: Flask, **where: Any) -> User:
    with site.app_context():
        user = db.session.execute(sa.select(User).filter_by(**where)).scalar_one()
        db.session.expunge(user)
        return user


def set_user(site: Flask, email: str, **values: Any) -> None:
    with site.app_context():
        db.session.execute(sa.update(User).where(User.email == email).values(**values))
        db.session.commit()


def submit(client: FlaskClient, page: str, data: dict[str, str], **kwargs: Any) -> TestResponse:
    """Fetch ``page``, post ``data`` with its CSRF token (``CSRFProtect`` checks every POST)."""
    shown = client.get(page)
    assert shown.status_code == 200, (page, shown.status_code, shown.location)
    token = CSRF_INPUT.search(shown.text)
    assert token is not None, "the page has no CSRF token"
    return client.post(page, data={"csrf_token": token.group(1), **data}, **kwargs)


def sign_up(client: ApiClient, outbox: list[SentSms], phone: str, **extra: Any) -> TestResponse:
    vid = client.request_code(phone, "Register")
    body = {"verification_id": vid, "code": last_code(phone, outbox=outbox), **extra}
    return client.post("/sign-up", body)


def test_every_flow_through_the_json_api(site: Flask, sms_outbox: list[SentSms]) -> None:
    client = ApiClient(site)
    # Sign-up: the model fills its own NOT NULL e-mail from the request (new_for_phone).
    created = sign_up(client, sms_outbox, PHONE, password=PASSWORD, email="Carol@Example.com")
    assert created.status_code == 201, created.get_json()
    user_id = created.get_json()["user"]["id"]
    assert uuid.UUID(user_id)  # the app's UUID key, as its user_loader reads it
    assert user_by(site, phone=PHONE).email == "carol@example.com"
    # The session is the app's own Flask-Login session: its login_required pages see it.
    profile = client.http.get("/profile")
    assert profile.status_code == 200
    assert "carol@example.com" in profile.text

    assert client.post("/sign-out").status_code == 204
    assert client.http.get("/profile").location == "/login?next=%2Fprofile"

    signed_in = client.sign_in_by_code(PHONE, sms_outbox)
    assert (signed_in.status_code, signed_in.get_json()["user"]["id"]) == (200, user_id)
    assert client.post("/sign-out").status_code == 204
    by_password = client.sign_in_password(PHONE, PASSWORD)
    assert (by_password.status_code, by_password.get_json()["user"]["id"]) == (200, user_id)

    # Two-step verification on, then the second step.
    assert client.verify_identity(sms_outbox).status_code == 200
    assert client.put("/account/mfa", {"enabled": True}).status_code == 200
    assert client.post("/sign-out").status_code == 204
    first = client.sign_in_password(PHONE, PASSWORD).get_json()
    assert first["mfa_required"] is True
    second = client.post("/mfa", {"verification_id": first["verification_id"], "code": last_code()})
    assert (second.status_code, second.get_json()["user"]["id"]) == (200, user_id)

    # Password reset, signed out.
    assert client.post("/sign-out").status_code == 204
    vid = client.request_code(PHONE, "ForgotPassword")
    reset = client.post(
        "/reset-password",
        {"verification_id": vid, "code": last_code(), "password": NEW_PASSWORD},
    )
    assert reset.status_code == 204
    assert client.sign_in_password(PHONE, PASSWORD).status_code == 401
    again = client.sign_in_password(PHONE, NEW_PASSWORD).get_json()
    assert (
        client.post(
            "/mfa", {"verification_id": again["verification_id"], "code": last_code()}
        ).get_json()["user"]["id"]
        == user_id
    )

    # Phone change: the new number is verified with its own code, the old one stops.
    assert client.verify_identity(sms_outbox).status_code == 200
    vid = client.request_code(NEW_PHONE, "BindNewIdentifier")
    changed = client.put("/account/phone", {"verification_id": vid, "code": last_code(NEW_PHONE)})
    assert (changed.status_code, changed.get_json()["user"]["phone"]) == (200, NEW_PHONE)
    assert user_by(site, email="carol@example.com").phone == NEW_PHONE
    before = len(sent_to(sms_outbox, PHONE))
    client.request_code(PHONE, "SignIn")
    assert len(sent_to(sms_outbox, PHONE)) == before  # no account has it any more

    assert client.post("/sign-out").status_code == 204
    assert client.account().status_code == 401


def test_the_apps_own_admin_check_opens_the_admin_pages(
    site: Flask, sms_outbox: list[SentSms]
) -> None:
    """The app's ``is_admin`` reads its own User model: Alice, logged in on the app's own
    page, sees the admin pages; a user who signed up by phone, and a visitor, get 404s,
    before the app's CSRFProtect could say the page exists."""
    visitor = site.test_client()
    carol = ApiClient(site)
    assert sign_up(carol, sms_outbox, PHONE, password=PASSWORD).status_code == 201
    for client in (visitor, carol.http):
        assert client.get("/auth/admin/").status_code == 404
        assert client.post("/auth/admin/locks/number", data={"phone": PHONE}).status_code == 404
    alice = site.test_client()
    submit(alice, "/login", {"email": "alice@example.com", "password": ALICE_PASSWORD})
    assert "Connectors" in alice.get("/auth/admin/").text
    # Her actions need the token: the app's CSRFProtect refuses a post without one.
    assert alice.post("/auth/admin/locks/number", data={"phone": PHONE}).status_code == 400
    sent = alice.post(
        "/auth/admin/test-send",
        data={
            "csrf_token": CSRF_INPUT.findall(alice.get("/auth/admin/").text)[0],
            "phone": BOB_PHONE,
            "usage": "Generic",
        },
    )
    assert sent.status_code == 302
    assert sent_to(sms_outbox, BOB_PHONE)
    assert "alice@example.com" not in alice.get("/auth/admin/audit").text
    alice_id = str(user_by(site, email="alice@example.com").id)
    assert alice_id in alice.get("/auth/admin/audit").text


def test_an_existing_user_adds_a_phone_and_keeps_their_password(site: Flask) -> None:
    """Alice had an account before the extension: she logs in on the app's own page, adds a
    phone on the extension's pages (confirming with the password she already had), and can
    then sign in with her phone and that same password."""
    browser = site.test_client()
    logged_in = submit(
        browser, "/login", {"email": "alice@example.com", "password": ALICE_PASSWORD}
    )
    assert logged_in.location == "/profile"
    # The extension's pages send her to confirm it is her, with the app's own password.
    assert browser.get("/auth/account/phone").location.startswith("/auth/verify-identity")
    confirmed = submit(browser, "/auth/verify-identity", {"password": ALICE_PASSWORD})
    assert confirmed.status_code == 302
    asked = submit(browser, "/auth/account/phone", {"phone": NEW_PHONE})
    assert asked.location == "/auth/account/phone/verify"
    from flask_sms_otp.testing import outbox

    done = submit(
        browser, "/auth/account/phone/verify", {"code": last_code(NEW_PHONE, outbox=outbox)}
    )
    assert done.location == "/auth/account"
    alice = user_by(site, email="alice@example.com")
    assert alice.phone == NEW_PHONE
    # Logged out on the app's own page, back in with her phone and her old password.
    token = CSRF_INPUT.search(browser.get("/profile").text)
    assert token is not None
    assert browser.post("/logout", data={"csrf_token": token.group(1)}).location == "/"
    api = ApiClient(site)
    back = api.sign_in_password(NEW_PHONE, ALICE_PASSWORD)
    assert (back.status_code, back.get_json()["user"]["id"]) == (200, str(alice.id))


def test_sign_up_pages_fill_the_email_with_a_placeholder(site: Flask) -> None:
    from flask_sms_otp.testing import outbox

    browser = site.test_client()
    assert submit(browser, "/auth/sign-up", {"phone": PHONE}).location == "/auth/sign-up/verify"
    done = submit(
        browser, "/auth/sign-up/verify", {"code": last_code(outbox=outbox), "password": PASSWORD}
    )
    assert done.status_code == 302
    assert user_by(site, phone=PHONE).email.endswith("@phone.invalid")
    assert browser.get("/profile").status_code == 200


def test_a_refusal_by_new_for_phone_spends_nothing(site: Flask, sms_outbox: list[SentSms]) -> None:
    """``new_for_phone`` runs before the code is checked: its 4xx leaves the code usable."""
    client = ApiClient(site)
    vid = client.request_code(PHONE, "Register")
    code = last_code()
    bad = client.post("/sign-up", {"verification_id": vid, "code": code, "email": "nope"})
    assert bad.status_code == 400
    assert "valid e-mail" in bad.get_json()["error"]["message"]
    taken = client.post(
        "/sign-up", {"verification_id": vid, "code": code, "email": "alice@example.com"}
    )
    assert taken.status_code == 409
    ok = client.post(
        "/sign-up", {"verification_id": vid, "code": code, "email": "carol@example.com"}
    )
    assert ok.status_code == 201, ok.get_json()
    with site.app_context():
        count = db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar_one()
    assert count == 3  # Alice, Bob and the new one: nothing half-made by the refusals


def test_a_disabled_account_cannot_finish_any_sign_in(
    site: Flask, sms_outbox: list[SentSms]
) -> None:
    """Bob's ``active`` is false. Only after the right password or code is he told so;
    he never gets a session and ``user_signed_in`` never fires."""
    signed_in: list[Any] = []

    def receiver(sender: Flask, user: Any, **extra: Any) -> None:
        signed_in.append(user)

    with user_signed_in.connected_to(receiver, site):
        client = ApiClient(site)
        guess = client.sign_in_password(BOB_PHONE, "not his password")
        assert (guess.status_code, error_code(guess)) == (401, "invalid_credentials")

        by_password = client.sign_in_password(BOB_PHONE, PASSWORD)
        assert (by_password.status_code, error_code(by_password)) == (403, "account_disabled")
        assert client.account().status_code == 401

        vid = client.request_code(BOB_PHONE, "SignIn")
        wrong_code = client.post(
            "/sign-in/code", {"verification_id": vid, "code": wrong(last_code())}
        )
        assert error_code(wrong_code) == "invalid_code"
        by_code = client.post("/sign-in/code", {"verification_id": vid, "code": last_code()})
        assert (by_code.status_code, error_code(by_code)) == (403, "account_disabled")
        assert client.account().status_code == 401

        # With the second factor on: no code is sent for a disabled account...
        set_user(site, "bob@example.com", mfa_enabled=True)
        sent = len(sms_outbox)
        refused = client.sign_in_password(BOB_PHONE, PASSWORD)
        assert error_code(refused) == "account_disabled"
        assert len(sms_outbox) == sent
        # ...and one disabled between the password and the code is refused at the code.
        set_user(site, "bob@example.com", active=True)
        pending = client.sign_in_password(BOB_PHONE, PASSWORD).get_json()
        assert pending["mfa_required"] is True
        set_user(site, "bob@example.com", active=False)
        second = client.post(
            "/mfa", {"verification_id": pending["verification_id"], "code": last_code()}
        )
        assert (second.status_code, error_code(second)) == (403, "account_disabled")
        assert client.account().status_code == 401

        # The pages say it, with the same status.
        set_user(site, "bob@example.com", mfa_enabled=False)
        page = submit(
            site.test_client(), "/auth/sign-in", {"phone": BOB_PHONE, "password": PASSWORD}
        )
        assert page.status_code == 403, page.text
        assert "This account is disabled." in page.text
    assert signed_in == []


def test_a_disabled_account_made_at_sign_up_is_created_but_not_signed_in(
    site: Flask, sms_outbox: list[SentSms], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An app whose new accounts wait for approval (``active`` false at first)."""
    made = User.new_for_phone

    def pending_approval(phone: str) -> User:
        user = made(phone)
        user.active = False
        return user

    monkeypatch.setattr(User, "new_for_phone", pending_approval)
    client = ApiClient(site)
    response = sign_up(client, sms_outbox, PHONE, password=PASSWORD)
    assert (response.status_code, error_code(response)) == (403, "account_disabled")
    assert client.account().status_code == 401
    assert user_by(site, phone=PHONE).active is False


def remembered(site: Flask, browser: FlaskClient) -> FlaskClient:
    """Another browser holding only ``browser``'s remember-me cookies (no session)."""
    other = site.test_client()
    for name in ("remember_token", "sms_otp_remember_epoch"):
        cookie = browser.get_cookie(name)
        if cookie is not None:
            other.set_cookie(name, cookie.value)
    return other


@pytest.mark.parametrize("change", ["reset", "change"])
def test_a_remember_me_cookie_ends_with_the_password(
    site: Flask, sms_outbox: list[SentSms], change: str
) -> None:
    """The app's own ``login_user(user, remember=True)``: the cookie signs in on its own
    until the password is reset or changed, then signs nobody in and is deleted."""
    api = ApiClient(site)
    assert sign_up(api, sms_outbox, PHONE, password=PASSWORD, email="c@example.com").status_code
    browser = site.test_client()
    logged_in = submit(
        browser, "/login", {"email": "c@example.com", "password": PASSWORD, "remember": "y"}
    )
    assert logged_in.location == "/profile"
    assert browser.get_cookie("remember_token") is not None
    assert browser.get_cookie("sms_otp_remember_epoch") is not None
    assert remembered(site, browser).get("/profile").status_code == 200

    if change == "reset":
        assert api.post("/sign-out").status_code == 204
        vid = api.request_code(PHONE, "ForgotPassword")
        body = {"verification_id": vid, "code": last_code(), "password": NEW_PASSWORD}
        assert api.post("/reset-password", body).status_code == 204
    else:
        assert api.verify_identity(sms_outbox).status_code == 200
        assert api.put("/account/password", {"password": NEW_PASSWORD}).status_code == 204

    stolen = remembered(site, browser)
    refused = stolen.get("/profile")
    assert refused.location == "/login?next=%2Fprofile"
    assert stolen.get_cookie("remember_token") is None  # deleted by the answer
    assert stolen.get_cookie("sms_otp_remember_epoch") is None


def test_a_remember_cookie_without_its_companion_signs_nobody_in(
    site: Flask, sms_outbox: list[SentSms]
) -> None:
    """Flask-Login's remember cookie is the same on every device of a user and never
    changes: taken alone (its companion dropped, or from before the extension), it proves
    nothing and is deleted. The user signs in once more."""
    api = ApiClient(site)
    sign_up(api, sms_outbox, PHONE, password=PASSWORD, email="c@example.com")
    browser = site.test_client()
    submit(browser, "/login", {"email": "c@example.com", "password": PASSWORD, "remember": "y"})
    assert remembered(site, browser).get("/profile").status_code == 200
    old = site.test_client()
    cookie = browser.get_cookie("remember_token")
    assert cookie is not None
    old.set_cookie("remember_token", cookie.value)
    refused = old.get("/profile")
    assert refused.location == "/login?next=%2Fprofile"
    assert old.get_cookie("remember_token") is None


def copy_of(site: Flask, browser: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of every cookie of ``browser``, as a thief would."""
    thief = site.test_client()
    for name in ("session", "remember_token", "sms_otp_remember_epoch"):
        cookie = browser.get_cookie(name)
        if cookie is not None:
            thief.set_cookie(name, cookie.value)
    return thief


def sessions_listed(client: FlaskClient) -> list[dict[str, Any]]:
    response = client.get("/auth/api/account/sessions")
    assert response.status_code == 200, response.get_json()
    listed = response.get_json()["sessions"]
    assert isinstance(listed, list)
    return listed


def log_in(site: Flask, sms_outbox: list[SentSms], *, remember: bool) -> FlaskClient:
    """A user signed up by phone, then logged in on the app's own ``/login`` page."""
    api = ApiClient(site)
    sign_up(api, sms_outbox, PHONE, password=PASSWORD, email="c@example.com")
    assert api.post("/sign-out").status_code == 204
    browser = site.test_client()
    form = {"email": "c@example.com", "password": PASSWORD}
    if remember:
        form["remember"] = "y"
    assert submit(browser, "/login", form).location == "/profile"
    return browser


@pytest.mark.parametrize("remember", [False, True], ids=["session", "remember-me"])
def test_the_apps_own_logout_ends_the_session_and_every_copy(
    site: Flask, sms_outbox: list[SentSms], remember: bool
) -> None:
    """The app's own ``/logout`` (``logout_user``): every copy of the cookies taken before
    it, the remember-me ones included, signs nobody in afterwards."""
    browser = log_in(site, sms_outbox, remember=remember)
    thief, restarted = copy_of(site, browser), remembered(site, browser)
    assert thief.get("/profile").status_code == 200

    page = browser.get("/profile")
    token = CSRF_INPUT.search(page.text)
    assert token is not None
    assert browser.post("/logout", data={"csrf_token": token.group(1)}).location == "/"

    assert thief.get("/profile").location == "/login?next=%2Fprofile"
    assert restarted.get("/profile").location == "/login?next=%2Fprofile"
    assert browser.get("/profile").location == "/login?next=%2Fprofile"


def test_an_app_login_gets_a_record_that_a_remember_cookie_carries_on(
    site: Flask, sms_outbox: list[SentSms]
) -> None:
    """The app's own ``login_user(user, remember=True)`` is listed as a session; a browser
    restart (the remember cookie alone) comes back as that same session."""
    browser = log_in(site, sms_outbox, remember=True)
    [listed] = sessions_listed(browser)
    assert listed["current"] is True
    restarted = remembered(site, browser)
    assert restarted.get("/profile").status_code == 200
    assert sessions_listed(restarted) == [{**listed, "current": True}]
    # Ending it from another device ends the remembered browser too.
    phone = ApiClient(site)
    assert phone.sign_in_password(PHONE, PASSWORD).status_code == 200
    assert phone.delete(f"/account/sessions/{listed['id']}").status_code == 204
    assert remembered(site, browser).get("/profile").location == "/login?next=%2Fprofile"
    assert restarted.get("/profile").location == "/login?next=%2Fprofile"


#: A block of 10,000 British mobile numbers an attacker pumps: +44 7400 98xx xx.
PUMPED = [valid_mobile(f"+44740098{i:04d}") for i in range(12)]


def test_the_pumping_guard_holds_a_block_in_the_guest_app_alike_for_members_and_strangers(
    database_uri: str, app_limits: dict[str, Any], sms_outbox: list[SentSms]
) -> None:
    """The guard in an app with its own users, keys and transaction: a burst of codes nobody
    types holds the block; then a member's number there and a stranger's get the same answer
    and no SMS; people elsewhere still sign up; the app's rows are the app's."""
    guard = {"interval": 0, "grace": 0, "min_block_sends": 5}
    with guest_site(database_uri, app_limits, SMS_OTP_PUMPING_GUARD=guard) as app:
        set_user(app, "alice@example.com", phone=PUMPED[-1])  # Alice's number is in the block
        attacker = ApiClient(app, ip="203.0.113.66")
        answers = [attacker.send_code(number, "Register") for number in PUMPED[:8]]
        statuses = [answer.status_code for answer in answers]
        assert statuses == [202] * 5 + [429] * 3, statuses
        assert error_code(answers[5]) == "sends_held"
        assert len([m for m in sms_outbox if m.to in PUMPED]) == 5

        client = ApiClient(app)
        member = client.send_code(PUMPED[-1], "SignIn")
        stranger = client.send_code(PUMPED[-2], "SignIn")
        assert member.status_code == stranger.status_code == 429
        assert member.get_json() == stranger.get_json()
        assert member.headers["Retry-After"] == stranger.headers["Retry-After"]
        assert sent_to(sms_outbox, PUMPED[-1]) == []

        # Someone elsewhere signs up as ever; the app's own rows are as it left them.
        created = sign_up(
            ApiClient(app), sms_outbox, PHONE, password=PASSWORD, email="dora@example.com"
        )
        assert created.status_code == 201, created.get_json()
        with app.app_context():
            rows = db.session.execute(sa.select(User.email, User.phone).order_by(User.email))
            assert list(rows) == [
                ("alice@example.com", PUMPED[-1]),
                ("bob@example.com", BOB_PHONE),
                ("dora@example.com", PHONE),
            ]


def test_a_route_of_whatsapp_and_twilio_verify_in_an_app_with_users(
    database_uri: str, app_limits: dict[str, Any], httpserver: HTTPServer
) -> None:
    """The new connectors as guests: India's route holds WhatsApp and Twilio Verify. A person
    who picks SMS gets Verify's text with our code, signs up as the app's own (UUID) user,
    and Verify hears the approval; the app's rows from before are left alone."""
    from tests.connectors import test_twilio_verify as verify
    from tests.connectors import test_whatsapp as whatsapp
    from tests.connectors.contract import origin_of

    httpserver.expect_request(verify.VERIFICATIONS_PATH, method="POST").respond_with_handler(
        verify.verification
    )
    httpserver.expect_request(verify.APPROVAL_PATH, method="POST").respond_with_handler(
        lambda request: verify.verification(request, "approved")
    )
    origin = origin_of(httpserver)
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "existing-app-test",
            "SQLALCHEMY_DATABASE_URI": database_uri,
            "SMS_OTP_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "SMS_OTP_CONNECTORS": {
                "whatsapp": {
                    "connector": "whatsapp",
                    "config": {**whatsapp.BASE_CONFIG, "endpoint": origin},
                },
                "verify": {
                    "connector": "twilio_verify",
                    "config": {**verify.BASE_CONFIG, "endpoint": origin},
                },
            },
            "SMS_OTP_ROUTES": [
                {"regions": ["IN"], "connectors": ["whatsapp", "verify"]},
                {"regions": "*", "connectors": ["verify"]},
            ],
            **app_limits,
        }
    )
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.session.add(User(email="alice@example.com", password_hash=_hash(ALICE_PASSWORD)))
        db.session.commit()
    try:
        client = ApiClient(app)
        vid = client.request_code("+919876543210", "Register", channel="sms")
        wait_for_sends(app)
        ((start, _),) = httpserver.log
        assert start.path == verify.VERIFICATIONS_PATH
        assert start.form["To"] == "+919876543210"
        created = client.post(
            "/sign-up",
            {"verification_id": vid, "code": start.form["CustomCode"], "email": "d@example.com"},
        )
        assert created.status_code == 201, created.get_json()
        assert uuid.UUID(created.get_json()["user"]["id"])
        assert client.http.get("/profile").status_code == 200  # the app's own session
        wait_for_sends(app)
        assert [request.path for request, _ in httpserver.log] == [
            verify.VERIFICATIONS_PATH,
            verify.APPROVAL_PATH,
        ]
        assert httpserver.log[1][0].get_data() == b"Status=approved"
        alice = user_by(app, email="alice@example.com")
        assert (alice.phone, alice.active) == (None, True)
    finally:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()
