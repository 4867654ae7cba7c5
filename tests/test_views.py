"""The HTML pages, through the test client with real forms: fetch the page, read its CSRF
token, post. Success paths, every kind of failure, enumeration uniformity, session rotation,
re-verification, open redirects, template overrides."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_sqlalchemy import SQLAlchemy
from werkzeug.test import TestResponse

from flask_sms_otp import SmsOtp
from flask_sms_otp.sessions import FLOW
from flask_sms_otp.state import get_state
from flask_sms_otp.testing import fail_next_send, outbox
from flask_sms_otp.views import safe_next

from .helpers import (
    CHROME_ON_WINDOWS,
    CSRF_INPUT,
    PASSWORD,
    PLAIN_HTTP,
    SAFARI_ON_IPHONE,
    AppFactory,
    FakeClock,
    add_user,
    csrf_of,
    last_code,
    sign_in_with_password,
    signed_in,
    submit,
    verify_with_password,
)

KNOWN = "+12015550123"
UNKNOWN = "+12015550124"
OTHER = "+12015550125"
NEW_PASSWORD = "staple battery horse"


# Helpers ------------------------------------------------------------------------------------


def without_csrf(html: str) -> str:
    return CSRF_INPUT.sub('<input name="csrf_token" type="hidden" value="">', html)


def neutral(html: str, phone: str) -> str:
    """The page with its CSRF token and the number typed (as typed and as shown) blanked."""
    shown = f"+1 {phone[2:5]}-{phone[5:8]}-{phone[8:]}"
    return without_csrf(html).replace(phone, "P").replace(shown, "P")


def cookie_names(response: TestResponse) -> set[str]:
    return {value.split("=", 1)[0] for value in response.headers.getlist("Set-Cookie")}


def flow_id(client: FlaskClient) -> str:
    with client.session_transaction() as session:
        return str(session[FLOW]["vid"])


def user_row(app: Flask, user_id: Any) -> Any:
    with app.app_context():
        user = get_state(app).users.get(user_id)
        get_state(app).users.db.session.expunge(user)
        return user


class Page(HTMLParser):
    """What the accessibility checks need from a page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.inputs: list[dict[str, str | None]] = []
        self.labels: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        self.headings: list[str] = []
        self._label_for: str | None = None
        self._in_h1 = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids[str(values["id"])] = tag
        if tag == "input":
            self.inputs.append(values)
        elif tag == "label":
            self._label_for = values.get("for")
            if self._label_for:
                self.labels[self._label_for] = ""
        elif tag == "h1":
            self._in_h1 = True
            self.headings.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._label_for = None
        elif tag == "h1":
            self._in_h1 = False

    def handle_data(self, data: str) -> None:
        if self._label_for:
            self.labels[self._label_for] += data.strip()
        if self._in_h1:
            self.headings[-1] += data.strip()

    def field(self, name: str) -> dict[str, str | None]:
        found = [i for i in self.inputs if i.get("name") == name]
        assert len(found) == 1, f"{len(found)} inputs named {name}"
        return found[0]

    def error_of(self, name: str) -> str:
        """The text of the error a field's aria-describedby points to."""
        described = (self.field(name).get("aria-describedby") or "").split()
        errors = [i for i in described if i.endswith("-error")]
        assert errors, f"{name} has no error linked by aria-describedby"
        assert errors[0] in self.ids
        return errors[0]


def error_text(html: str, name: str) -> str:
    error_id = Page(html).error_of(name)
    found = re.search(rf'id="{error_id}">([^<]*)<', html)
    assert found is not None
    return found.group(1)


# Fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def site(make_app: AppFactory, clock: FakeClock) -> Flask:
    return make_app(clock=clock, **PLAIN_HTTP)


@pytest.fixture
def visitor(site: Flask) -> FlaskClient:
    return site.test_client()


@pytest.fixture
def member(site: Flask) -> Any:
    """A registered user with a password: KNOWN / PASSWORD."""
    return add_user(site)


# GET pages: render, accessible, no SMS ---------------------------------------------------------

ANONYMOUS_PAGES = ["/auth/sign-up", "/auth/sign-in", "/auth/sign-in/code", "/auth/reset-password"]
SIGNED_IN_PAGES = ["/auth/account", "/auth/verify-identity"]
VERIFIED_PAGES = [
    "/auth/account/phone",
    "/auth/account/phone/remove",
    "/auth/account/mfa/enable",
    "/auth/account/mfa/disable",
    "/auth/account/password",
]


def check_accessible(html: str) -> None:
    page = Page(html)
    assert len(page.headings) == 1, "one clear heading per page"
    assert page.headings[0]
    for field in page.inputs:
        if field.get("type") == "hidden":
            assert field.get("id") is None  # several forms on a page: no duplicate ids
            continue
        assert field.get("id") in page.labels, f"input {field.get('name')} has no label"
        assert page.labels[str(field.get("id"))]
        described = (field.get("aria-describedby") or "").split()
        assert all(i in page.ids for i in described)
        if field.get("name") == "phone":
            assert (field.get("type"), field.get("autocomplete")) == ("tel", "tel")
        if field.get("name") == "code":
            assert field.get("inputmode") == "numeric"
            assert field.get("autocomplete") == "one-time-code"
            assert field.get("pattern") == "[0-9]*"
        if field.get("type") == "password":
            assert field.get("autocomplete") in ("current-password", "new-password")


def test_anonymous_pages_render_accessibly_and_send_nothing(
    site: Flask, visitor: FlaskClient
) -> None:
    for url in ANONYMOUS_PAGES:
        response = visitor.get(url)
        assert response.status_code == 200, url
        assert response.mimetype == "text/html"
        check_accessible(response.text)
    assert outbox == []
    with site.app_context():
        state = get_state(site)
        count = state.db.session.query(state.models.Challenge).count()
    assert count == 0


def test_signed_in_pages_render_accessibly_and_send_nothing(
    visitor: FlaskClient, member: Any
) -> None:
    sign_in_with_password(visitor)
    for url in SIGNED_IN_PAGES:
        response = visitor.get(url)
        assert response.status_code == 200, url
        check_accessible(response.text)
    verify_with_password(visitor)
    for url in VERIFIED_PAGES:
        response = visitor.get(url)
        assert response.status_code == 200, url
        check_accessible(response.text)
    assert outbox == []


def test_code_pages_are_accessible_and_have_a_resend_button(
    visitor: FlaskClient, member: Any
) -> None:
    response = submit(visitor, "/auth/sign-up", {"phone": UNKNOWN})
    page = visitor.get(response.location)
    check_accessible(page.text)
    assert 'action="/auth/sign-up/resend"' in page.text
    assert 'data-resend-in="60"' in page.text
    assert "/auth/sms-otp-static/sms_otp/resend.js" in page.text
    with visitor.get("/auth/sms-otp-static/sms_otp/resend.js") as script:
        assert script.status_code == 200
        assert b"data-resend-in" in script.get_data()
    password = Page(page.text).field("password")
    assert password["autocomplete"] == "new-password"


def test_signed_in_pages_send_anonymous_visitors_to_sign_in(visitor: FlaskClient) -> None:
    for url in [*SIGNED_IN_PAGES, *VERIFIED_PAGES, "/auth/verify-identity/code"]:
        response = visitor.get(url)
        assert response.status_code == 302, url
        assert urlsplit(response.location).path == "/auth/sign-in"
        assert parse_qs(urlsplit(response.location).query)["next"] == [url]


def test_code_steps_without_a_flow_go_back_to_their_start(visitor: FlaskClient) -> None:
    starts = {
        "/auth/sign-up/verify": "/auth/sign-up",
        "/auth/sign-in/code/verify": "/auth/sign-in/code",
        "/auth/reset-password/verify": "/auth/reset-password",
        "/auth/mfa": "/auth/sign-in",
    }
    for url, start in starts.items():
        assert visitor.get(url).location == start
        assert visitor.post(url.rsplit("/verify", 1)[0] + "/resend").location == start


# Sign-up -------------------------------------------------------------------------------------


def test_sign_up_with_a_password_signs_in_and_goes_to_next(
    site: Flask, visitor: FlaskClient
) -> None:
    response = submit(visitor, "/auth/sign-up?next=/welcome", {"phone": "(201) 555-0124"})
    assert response.status_code == 400  # a national number needs SMS_OTP_DEFAULT_REGION
    response = submit(visitor, "/auth/sign-up?next=/welcome", {"phone": "+1 201 555 0124"})
    assert response.status_code == 302
    assert response.location == "/auth/sign-up/verify?next=/welcome"
    assert [(sms.to, sms.usage) for sms in outbox] == [(UNKNOWN, "Register")]
    page = visitor.get(response.location)
    assert "+1 201-555-0124" in page.text
    done = visitor.post(
        response.location,
        data={"csrf_token": csrf_of(page.text), "code": last_code(), "password": PASSWORD},
    )
    assert done.status_code == 302
    assert done.location == "/welcome"
    assert signed_in(visitor)
    visitor.post("/auth/sign-out", data={"csrf_token": csrf_of(visitor.get("/auth/account").text)})
    assert sign_in_with_password(visitor, UNKNOWN).status_code == 302


def test_sign_up_without_a_password_when_optional(visitor: FlaskClient) -> None:
    response = submit(visitor, "/auth/sign-up", {"phone": UNKNOWN})
    done = submit(visitor, response.location, {"code": last_code(), "password": ""})
    assert done.location == "/"
    assert "Not set" in visitor.get("/auth/account").text


def test_sign_up_needs_a_password_when_required(make_app: AppFactory) -> None:
    visitor = make_app(SMS_OTP_PASSWORD_REQUIRED=True, **PLAIN_HTTP).test_client()
    response = submit(visitor, "/auth/sign-up", {"phone": UNKNOWN})
    page = visitor.get(response.location)
    assert "Choose a password (optional)" not in page.text
    assert Page(page.text).field("password").get("autocomplete") == "new-password"
    failed = visitor.post(
        response.location,
        data={"csrf_token": csrf_of(page.text), "code": last_code(), "password": ""},
    )
    assert failed.status_code == 400
    assert error_text(failed.text, "password") == "Choose a password."
    short = submit(visitor, response.location, {"code": last_code(), "password": "short"})
    assert short.status_code == 400
    assert "at least 8 characters" in error_text(short.text, "password")
    assert not signed_in(visitor)


def test_wrong_code_is_shown_on_the_code_field(visitor: FlaskClient) -> None:
    response = submit(visitor, "/auth/sign-up", {"phone": UNKNOWN})
    wrong = "000000" if last_code() != "000000" else "111111"
    failed = submit(visitor, response.location, {"code": wrong, "password": ""})
    assert failed.status_code == 400
    assert error_text(failed.text, "code") == "The code is invalid or has expired."
    assert Page(failed.text).field("code").get("aria-invalid") == "true"
    assert not signed_in(visitor)


@pytest.mark.parametrize(
    "code", ["", "12345", "1234567", "１２３４５６", " 123456", "x" * 10_000, "123456\x00"]
)
def test_malformed_codes_are_a_400_never_a_500(visitor: FlaskClient, code: str) -> None:
    response = submit(visitor, "/auth/sign-in/code", {"phone": UNKNOWN})
    failed = submit(visitor, response.location, {"code": code})
    assert failed.status_code == 400
    assert error_text(failed.text, "code")


def test_expired_code_is_refused_like_a_wrong_one(visitor: FlaskClient, clock: FakeClock) -> None:
    response = submit(visitor, "/auth/sign-up", {"phone": UNKNOWN})
    code = last_code()
    clock.advance(601)
    failed = submit(visitor, response.location, {"code": code, "password": ""})
    assert failed.status_code == 400
    assert error_text(failed.text, "code") == "The code is invalid or has expired."


def test_a_used_code_does_not_work_again(visitor: FlaskClient, member: Any) -> None:
    response = submit(visitor, "/auth/sign-in/code", {"phone": KNOWN})
    vid = flow_id(visitor)
    code = last_code()
    assert submit(visitor, response.location, {"code": code}).status_code == 302
    replay = visitor.application.test_client()
    with replay.session_transaction() as session:
        session[FLOW] = {"name": "sign-in-code", "vid": vid}
    failed = submit(replay, response.location, {"code": code})
    assert failed.status_code == 400
    assert not signed_in(replay)


def test_too_many_attempts_then_even_the_right_code_fails(visitor: FlaskClient) -> None:
    response = submit(visitor, "/auth/sign-up", {"phone": UNKNOWN})
    right = last_code()
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(5):
        assert submit(visitor, response.location, {"code": wrong}).status_code == 400
    failed = submit(visitor, response.location, {"code": right, "password": ""})
    assert failed.status_code == 429
    assert error_text(failed.text, "code") == "Too many attempts. Ask for a new code."
    assert not signed_in(visitor)


@pytest.mark.real_limits
def test_send_rate_limit_is_a_429_with_retry_after(make_app: AppFactory) -> None:
    config = {**PLAIN_HTTP, "SMS_OTP_SEND_LIMIT_PER_NUMBER": "2/hour"}
    visitor = make_app(**config).test_client()
    for _ in range(2):
        assert submit(visitor, "/auth/sign-up", {"phone": UNKNOWN}).status_code == 302
    limited = submit(visitor, "/auth/sign-up", {"phone": UNKNOWN})
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert "Too many requests. Try again in" in limited.text
    assert 'role="alert"' in limited.text
    assert len(outbox) == 2


@pytest.mark.parametrize(
    "phone",
    ["", "not a number", "+1" * 40, "+12001230101", "+449012345678", "+1 201 555 0123 ext 5"],
)
def test_invalid_numbers_are_shown_on_the_phone_field(visitor: FlaskClient, phone: str) -> None:
    for url in ("/auth/sign-up", "/auth/sign-in/code", "/auth/reset-password"):
        failed = submit(visitor, url, {"phone": phone})
        assert failed.status_code == 400
        assert error_text(failed.text, "phone") == "Enter a valid mobile phone number."
    assert outbox == []


def test_delivery_failure_outside_the_protected_usages_is_a_calm_503(
    site: Flask, visitor: FlaskClient
) -> None:
    add_user(site, mfa_enabled=True)
    with site.app_context():
        fail_next_send(app=site)
    failed = sign_in_with_password(visitor)
    assert failed.status_code == 503
    assert "could not be sent. Please try again later." in failed.text
    assert "Traceback" not in failed.text


@pytest.mark.real_limits
def test_rate_limit_storage_down_fails_closed_with_a_503(make_app: AppFactory) -> None:
    visitor = make_app(RATELIMIT_STORAGE_URI="redis://127.0.0.1:1", **PLAIN_HTTP).test_client()
    failed = submit(visitor, "/auth/sign-up", {"phone": UNKNOWN})
    assert failed.status_code == 503
    assert "The service is busy. Please try again later." in failed.text
    assert outbox == []


def test_a_failed_delivery_looks_like_a_silent_challenge(
    site: Flask, member: Any, clock: FakeClock
) -> None:
    pages = {}
    for phone in (KNOWN, UNKNOWN):
        visitor = site.test_client()
        fail_next_send(app=site)
        step = submit(visitor, "/auth/sign-in/code", {"phone": phone})
        assert step.status_code == 302
        shown = visitor.get(step.location)
        clock.advance(61)
        resent = submit(visitor, step.location, {}, to="/auth/sign-in/code/resend")
        pages[phone] = (neutral(shown.text, phone), resent.status_code, resent.location)
        clock.advance(-61)
    assert pages[KNOWN] == pages[UNKNOWN]
    assert [sms.to for sms in outbox] == [KNOWN]  # the resend reached the member


# Resend -----------------------------------------------------------------------------------------


def test_resend_waits_for_the_cooldown_then_replaces_the_code(
    visitor: FlaskClient, clock: FakeClock
) -> None:
    response = submit(visitor, "/auth/sign-in/code", {"phone": UNKNOWN})
    step = response.location
    early = submit(visitor, step, {}, to="/auth/sign-in/code/resend")
    assert early.status_code == 429
    assert early.headers["Retry-After"] == "60"
    assert "You can ask for a new code in 1 minute." in early.text
    clock.advance(30)
    assert 'data-resend-in="30"' in visitor.get(step).text
    clock.advance(31)
    again = submit(visitor, step, {}, to="/auth/sign-in/code/resend")
    assert again.status_code == 302
    assert again.location == step
    assert "A new code is on its way." in visitor.get(step).text
    assert outbox == []  # no account: nothing is ever sent


def test_resend_for_a_member_sends_a_new_code_and_the_old_one_dies(
    visitor: FlaskClient, member: Any, clock: FakeClock
) -> None:
    response = submit(visitor, "/auth/sign-in/code", {"phone": KNOWN})
    old = last_code()
    clock.advance(61)
    assert submit(visitor, response.location, {}, to="/auth/sign-in/code/resend").status_code == 302
    assert len(outbox) == 2
    new = last_code()
    if new != old:
        assert submit(visitor, response.location, {"code": old}).status_code == 400
    assert submit(visitor, response.location, {"code": new}).location == "/"
    assert signed_in(visitor)


def test_resend_past_the_cap_says_to_start_again(make_app: AppFactory, clock: FakeClock) -> None:
    visitor = make_app(clock=clock, SMS_OTP_MAX_RESENDS=1, **PLAIN_HTTP).test_client()
    response = submit(visitor, "/auth/reset-password", {"phone": UNKNOWN})
    clock.advance(61)
    assert (
        submit(visitor, response.location, {}, to="/auth/reset-password/resend").status_code == 302
    )
    page = visitor.get(response.location)
    assert "No more codes can be sent for this request." in page.text
    clock.advance(61)
    refused = visitor.post("/auth/reset-password/resend", data={"csrf_token": csrf_of(page.text)})
    assert refused.status_code == 429
    assert "Please start again." in refused.text


# CSRF and GET ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("/auth/sign-up", {"phone": KNOWN}),
        ("/auth/sign-up", {"phone": UNKNOWN}),
        ("/auth/sign-in/code", {"phone": KNOWN}),
        ("/auth/reset-password", {"phone": KNOWN}),
        ("/auth/sign-in", {"phone": KNOWN, "password": PASSWORD}),
    ],
)
@pytest.mark.parametrize("token", [None, "forged"])
def test_posts_without_a_valid_csrf_token_are_a_400_and_send_nothing(
    visitor: FlaskClient, member: Any, url: str, data: dict[str, str], token: str | None
) -> None:
    visitor.get(url)
    body = dict(data) if token is None else {**data, "csrf_token": token}
    response = visitor.post(url, data=body)
    assert response.status_code == 400
    assert "The form has expired" in response.text
    assert outbox == []
    assert not signed_in(visitor)


def test_signed_in_posts_without_csrf_are_a_400_and_send_nothing(
    visitor: FlaskClient, member: Any
) -> None:
    sign_in_with_password(visitor)
    verify_with_password(visitor)
    posts = {
        "/auth/verify-identity/send": {},
        "/auth/verify-identity": {"password": PASSWORD},
        "/auth/account/phone": {"phone": OTHER},
        "/auth/account/phone/remove": {},
        "/auth/account/mfa/enable": {},
        "/auth/account/mfa/disable": {},
        "/auth/account/password": {"password": NEW_PASSWORD},
        "/auth/sign-out": {},
    }
    for url, data in posts.items():
        assert visitor.post(url, data=data).status_code == 400, url
    assert outbox == []
    assert signed_in(visitor)
    assert sign_in_with_password(visitor.application.test_client()).status_code == 302


def test_resend_without_csrf_is_a_400(visitor: FlaskClient, member: Any, clock: FakeClock) -> None:
    response = submit(visitor, "/auth/sign-in/code", {"phone": KNOWN})
    clock.advance(61)
    refused = visitor.post("/auth/sign-in/code/resend")
    assert refused.status_code == 400
    assert "The form has expired" in refused.text
    assert len(outbox) == 1
    assert visitor.get(response.location).status_code == 200


def test_sign_out_needs_a_post_with_csrf(visitor: FlaskClient, member: Any) -> None:
    sign_in_with_password(visitor)
    assert visitor.get("/auth/sign-out").status_code == 405
    assert signed_in(visitor)
    assert visitor.post("/auth/sign-out").status_code == 400
    assert signed_in(visitor)
    done = submit(visitor, "/auth/account", {}, to="/auth/sign-out")
    assert (done.status_code, done.location) == (302, "/")
    assert not signed_in(visitor)


# Enumeration ----------------------------------------------------------------------------------


def fresh_post(site: Flask, url: str, data: dict[str, str]) -> TestResponse:
    return submit(site.test_client(), url, data)


@pytest.mark.parametrize("url", ["/auth/sign-up", "/auth/sign-in/code", "/auth/reset-password"])
def test_code_requests_answer_alike_for_members_and_strangers(
    site: Flask, member: Any, url: str
) -> None:
    known = fresh_post(site, url + "?next=/x", {"phone": KNOWN})
    unknown = fresh_post(site, url + "?next=/x", {"phone": UNKNOWN})
    assert known.status_code == unknown.status_code == 302
    assert known.location == unknown.location
    assert known.get_data() == unknown.get_data()
    assert cookie_names(known) == cookie_names(unknown) == {"session"}
    # Only a usable code for the right person: sign-up texts strangers, the rest members.
    expected = UNKNOWN if url == "/auth/sign-up" else KNOWN
    assert [sms.to for sms in outbox] == [expected]


@pytest.mark.parametrize("url", ["/auth/sign-up", "/auth/sign-in/code", "/auth/reset-password"])
def test_code_steps_look_alike_for_members_and_strangers(
    site: Flask, member: Any, url: str
) -> None:
    pages = []
    for phone in (KNOWN, UNKNOWN):
        visitor = site.test_client()
        step = submit(visitor, url, {"phone": phone}).location
        shown = visitor.get(step)
        failed = submit(visitor, step, {"code": "000000", "password": NEW_PASSWORD})
        assert failed.status_code == 400
        pages.append([(r.status_code, neutral(r.text, phone)) for r in (shown, failed)])
    assert pages[0] == pages[1]


def test_wrong_password_and_unknown_number_answer_alike(site: Flask, member: Any) -> None:
    wrong = fresh_post(site, "/auth/sign-in", {"phone": KNOWN, "password": "wrong password"})
    unknown = fresh_post(site, "/auth/sign-in", {"phone": UNKNOWN, "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.location is None
    assert unknown.location is None
    assert cookie_names(wrong) == cookie_names(unknown)
    known_body = neutral(wrong.text, KNOWN)
    unknown_body = neutral(unknown.text, UNKNOWN)
    assert known_body == unknown_body
    assert "The phone number or password is incorrect." in known_body
    assert 'role="alert"' in known_body
    assert outbox == []


def test_a_code_only_account_answers_a_password_like_a_stranger(site: Flask) -> None:
    add_user(site, password=None)
    no_password = fresh_post(site, "/auth/sign-in", {"phone": KNOWN, "password": PASSWORD})
    assert no_password.status_code == 401


@pytest.mark.real_limits
def test_password_lockout_answers_alike(make_app: AppFactory) -> None:
    site = make_app(SMS_OTP_PASSWORD_LIMIT_PER_ACCOUNT="2/5minutes", **PLAIN_HTTP)
    add_user(site)
    answers = {}
    for phone in (KNOWN, UNKNOWN):
        visitor = site.test_client()
        for _ in range(2):
            submit(visitor, "/auth/sign-in", {"phone": phone, "password": "wrong password"})
        locked = submit(visitor, "/auth/sign-in", {"phone": phone, "password": PASSWORD})
        answers[phone] = (locked.status_code, "Retry-After" in locked.headers)
    assert answers[KNOWN] == answers[UNKNOWN] == (429, True)


def test_missing_password_is_shown_on_its_field(visitor: FlaskClient) -> None:
    failed = submit(visitor, "/auth/sign-in", {"phone": KNOWN, "password": ""})
    assert failed.status_code == 400
    assert error_text(failed.text, "password") == "Enter your password."


# Sessions --------------------------------------------------------------------------------------


def session_cookie(client: FlaskClient) -> str | None:
    cookie = client.get_cookie("session")
    return cookie.value if cookie is not None else None


@pytest.mark.parametrize("method", ["password", "code"])
def test_signing_in_starts_a_fresh_session(visitor: FlaskClient, member: Any, method: str) -> None:
    visitor.get("/auth/sign-in")
    with visitor.session_transaction() as session:
        session["planted_before_login"] = "attacker"
    before = session_cookie(visitor)
    if method == "password":
        assert sign_in_with_password(visitor).status_code == 302
    else:
        step = submit(visitor, "/auth/sign-in/code", {"phone": KNOWN}).location
        assert submit(visitor, step, {"code": last_code()}).status_code == 302
    with visitor.session_transaction() as session:
        assert "planted_before_login" not in session
        assert FLOW not in session
        assert "_user_id" in session
    assert session_cookie(visitor) != before


END_SESSION = re.compile(r'action="(/auth/account/sessions/[^"/]+/end)"')


def device(site: Flask, user_agent: str, ip: str) -> FlaskClient:
    client = site.test_client()
    client.environ_base.update(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
    return client


def copy_of(site: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of ``client``'s session cookie, as a thief would."""
    thief = site.test_client()
    cookie = session_cookie(client)
    assert cookie is not None
    thief.set_cookie("session", cookie)
    return thief


def session_items(html: str) -> list[str]:
    """The text of each entry of the sessions list, spaces collapsed."""
    listed = html.split('<ul class="sessions"', 1)[1].split("</ul>", 1)[0]
    items = re.findall(r"<li>(.*?)</li>", listed, re.DOTALL)
    return [" ".join(re.sub(r"<[^>]+>", "", item).split()) for item in items]


def test_a_cookie_copied_before_sign_out_authenticates_nothing_after(
    site: Flask, visitor: FlaskClient, member: Any
) -> None:
    sign_in_with_password(visitor)
    thief = copy_of(site, visitor)
    assert signed_in(thief)
    done = submit(visitor, "/auth/account", {}, to="/auth/sign-out")
    assert (done.status_code, done.location) == (302, "/")
    assert not signed_in(thief)
    assert not signed_in(visitor)


def test_a_password_change_on_the_page_ends_every_other_session_and_copy(
    site: Flask, member: Any
) -> None:
    here, elsewhere = site.test_client(), site.test_client()
    sign_in_with_password(here)
    sign_in_with_password(elsewhere)
    copies = [copy_of(site, here), copy_of(site, elsewhere)]
    verify_with_password(here)
    changed = submit(here, "/auth/account/password", {"password": NEW_PASSWORD})
    assert changed.location == "/auth/account"
    assert signed_in(here)
    assert not any(signed_in(client) for client in [elsewhere, *copies])


def test_the_account_page_lists_the_sessions(site: Flask, member: Any, clock: FakeClock) -> None:
    desktop = device(site, CHROME_ON_WINDOWS, "203.0.113.7")
    sign_in_with_password(desktop)
    clock.advance(300)
    iphone = device(site, SAFARI_ON_IPHONE, "198.51.100.20")
    sign_in_with_password(iphone)
    clock.advance(120)

    page = desktop.get("/auth/account")

    assert page.status_code == 200
    check_accessible(page.text)
    assert session_items(page.text) == [
        "Chrome 124 on Windows 10 (this device) IP address 203.0.113.7 "
        "Signed in Jan 1, 2026, 12:00:00 PM Last seen Jan 1, 2026, 12:07:00 PM Sign out",
        "Mobile Safari 17 on iOS 17.4 IP address 198.51.100.20 "
        "Signed in Jan 1, 2026, 12:05:00 PM Last seen Jan 1, 2026, 12:05:00 PM Sign out",
    ]
    assert '<time datetime="2026-01-01T12:00:00+00:00">' in page.text
    assert "Sign out everywhere else" in page.text
    # Alone, there is nobody else to sign out.
    add_user(site, OTHER)
    alone = site.test_client()
    sign_in_with_password(alone, phone=OTHER)
    assert "Sign out everywhere else" not in alone.get("/auth/account").text
    assert session_items(alone.get("/auth/account").text)[0].startswith(
        "Unknown browser on an unknown system (this device)"
    )


def test_ending_sessions_from_the_account_page(site: Flask, member: Any) -> None:
    mine, lost, old = site.test_client(), site.test_client(), site.test_client()
    for client in (mine, lost, old):
        sign_in_with_password(client)
    thief = copy_of(site, lost)
    page = mine.get("/auth/account")
    this_one, *others = END_SESSION.findall(page.text)
    assert len(others) == 2

    ended = mine.post(others[0], data={"csrf_token": csrf_of(page.text)})
    assert (ended.status_code, ended.location) == (302, "/auth/account")
    assert "That session was signed out." in mine.get(ended.location).text
    assert [signed_in(c) for c in (mine, lost, old, thief)].count(True) == 2

    page = mine.get("/auth/account")
    everywhere = submit(mine, "/auth/account", {}, to="/auth/account/sessions/end-others")
    assert everywhere.location == "/auth/account"
    assert "Every other session was signed out." in mine.get("/auth/account").text
    assert [signed_in(c) for c in (mine, lost, old, thief)] == [True, False, False, False]

    page = mine.get("/auth/account")
    assert END_SESSION.findall(page.text) == [this_one]
    out = mine.post(this_one, data={"csrf_token": csrf_of(page.text)})
    assert (out.status_code, out.location) == (302, "/auth/sign-in")
    assert "You signed out on this device." in mine.get(out.location).text
    assert not signed_in(mine)


def test_ending_a_session_needs_csrf_and_ones_own_session(site: Flask, member: Any) -> None:
    victim, attacker = site.test_client(), site.test_client()
    sign_in_with_password(victim)
    add_user(site, OTHER)
    sign_in_with_password(attacker, phone=OTHER)
    [victims] = END_SESSION.findall(victim.get("/auth/account").text)

    forged = victim.post(victims, data={"csrf_token": "forged"})
    assert forged.status_code == 400
    assert "The form has expired or was not sent from this site." in forged.text
    assert signed_in(victim)

    page = attacker.get("/auth/account")
    foreign = attacker.post(victims, data={"csrf_token": csrf_of(page.text)})
    unknown = attacker.post(
        "/auth/account/sessions/no-such-session/end", data={"csrf_token": csrf_of(page.text)}
    )
    assert foreign.status_code == unknown.status_code == 404
    assert "This session does not exist or has already ended." in foreign.text
    assert without_csrf(foreign.text) == without_csrf(unknown.text)
    assert signed_in(victim)


def test_sign_in_by_code(visitor: FlaskClient, member: Any) -> None:
    page = visitor.get("/auth/sign-in")
    assert 'href="/auth/sign-in/code"' in page.text
    step = submit(visitor, "/auth/sign-in/code?next=/after", {"phone": "+1 (201) 555-0123"})
    assert step.location == "/auth/sign-in/code/verify?next=/after"
    assert [(sms.to, sms.usage) for sms in outbox] == [(KNOWN, "SignIn")]
    done = submit(visitor, step.location, {"code": last_code()})
    assert done.location == "/after"
    assert signed_in(visitor)


def test_a_stranger_cannot_sign_in_by_code(visitor: FlaskClient) -> None:
    step = submit(visitor, "/auth/sign-in/code", {"phone": UNKNOWN}).location
    for code in ("000000", "123456"):
        assert submit(visitor, step, {"code": code}).status_code == 400
    assert outbox == []
    assert not signed_in(visitor)


def test_sign_in_methods_follow_the_config(make_app: AppFactory) -> None:
    code_only = make_app(SMS_OTP_SIGN_IN_METHODS=["code"], **PLAIN_HTTP).test_client()
    assert code_only.get("/auth/sign-in?next=/x").location == "/auth/sign-in/code?next=/x"
    password_only = make_app(SMS_OTP_SIGN_IN_METHODS=["password"], **PLAIN_HTTP).test_client()
    assert password_only.get("/auth/sign-in/code").status_code == 404
    assert "/auth/sign-in/code" not in password_only.get("/auth/sign-in").text


# MFA ------------------------------------------------------------------------------------------


@pytest.fixture
def mfa_member(site: Flask) -> Any:
    return add_user(site, mfa_enabled=True)


def test_mfa_sign_in_needs_the_code(visitor: FlaskClient, mfa_member: Any) -> None:
    response = submit(visitor, "/auth/sign-in?next=/after", {"phone": KNOWN, "password": PASSWORD})
    assert response.location == "/auth/mfa?next=/after"
    assert [(sms.to, sms.usage) for sms in outbox] == [(KNOWN, "MfaVerification")]
    assert not signed_in(visitor)  # check 28: half signed in is not signed in
    page = visitor.get("/auth/mfa?next=/after")
    assert "your phone ending in 0123" in page.text
    assert KNOWN not in page.text
    check_accessible(page.text)
    assert submit(visitor, "/auth/mfa?next=/after", {"code": "000000"}).status_code == 400
    done = submit(visitor, "/auth/mfa?next=/after", {"code": last_code()})
    assert done.location == "/after"
    assert signed_in(visitor)


def test_too_many_mfa_failures_end_the_pending_sign_in(
    visitor: FlaskClient, mfa_member: Any
) -> None:
    sign_in_with_password(visitor)
    right = last_code()
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(5):
        assert submit(visitor, "/auth/mfa", {"code": wrong}).status_code == 400
    ended = submit(visitor, "/auth/mfa", {"code": right})
    assert ended.status_code == 429
    assert "Please sign in again." in ended.text
    assert 'href="/auth/sign-in"' in ended.text
    assert visitor.get("/auth/mfa").location == "/auth/sign-in"
    assert not signed_in(visitor)


def test_mfa_pending_state_expires(visitor: FlaskClient, mfa_member: Any, clock: FakeClock) -> None:
    sign_in_with_password(visitor)
    clock.advance(601)
    assert visitor.get("/auth/mfa").location == "/auth/sign-in"


# Password reset ---------------------------------------------------------------------------------


def test_reset_password_changes_it_and_never_signs_in(site: Flask, member: Any) -> None:
    other_device = site.test_client()
    sign_in_with_password(other_device)
    stolen = copy_of(site, other_device)
    visitor = site.test_client()
    step = submit(visitor, "/auth/reset-password", {"phone": KNOWN}).location
    assert step == "/auth/reset-password/verify"
    assert sign_in_with_password(site.test_client()).status_code == 302  # nothing changed yet
    page = visitor.get(step)
    assert Page(page.text).field("password").get("autocomplete") == "new-password"
    done = submit(visitor, step, {"code": last_code(), "password": NEW_PASSWORD})
    assert (done.status_code, done.location) == (302, "/auth/sign-in")
    assert (
        "Your password was changed. Sign in with your new password."
        in visitor.get(done.location).text
    )
    assert not signed_in(visitor)
    assert not signed_in(other_device)
    assert not signed_in(stolen)
    assert sign_in_with_password(site.test_client()).status_code == 401
    assert sign_in_with_password(site.test_client(), password=NEW_PASSWORD).status_code == 302


def test_reset_password_validates_the_new_password(visitor: FlaskClient, member: Any) -> None:
    step = submit(visitor, "/auth/reset-password", {"phone": KNOWN}).location
    failed = submit(visitor, step, {"code": last_code(), "password": ""})
    assert failed.status_code == 400
    assert error_text(failed.text, "password") == "Choose a password."


# Identity re-verification -----------------------------------------------------------------------


@pytest.fixture
def guarded(make_app: AppFactory, clock: FakeClock) -> Flask:
    site = make_app(clock=clock, **PLAIN_HTTP)

    @site.get("/danger")
    @SmsOtp().verification_required(max_age=300)
    def danger() -> str:
        return "danger zone"

    add_user(site)
    return site


def test_verification_required_sends_through_verify_identity_and_back(
    guarded: Flask, clock: FakeClock
) -> None:
    visitor = guarded.test_client()
    assert urlsplit(visitor.get("/danger").location).path == "/auth/sign-in"
    sign_in_with_password(visitor)
    response = visitor.get("/danger")
    assert response.location == "/auth/verify-identity?next=/danger"
    page = visitor.get(response.location)
    assert "Text a code to your phone ending in 0123" in page.text
    assert outbox == []
    done = submit(visitor, response.location, {"password": PASSWORD})
    assert done.location == "/danger"
    assert visitor.get("/danger").text == "danger zone"
    clock.advance(301)
    assert visitor.get("/danger").status_code == 302


def test_verify_identity_by_code(guarded: Flask) -> None:
    visitor = guarded.test_client()
    sign_in_with_password(visitor)
    sent = submit(
        visitor,
        "/auth/verify-identity?next=/danger",
        {},
        to="/auth/verify-identity/send?next=/danger",
    )
    assert sent.location == "/auth/verify-identity/code?next=/danger"
    assert [(sms.to, sms.usage) for sms in outbox] == [(KNOWN, "UserPermissionValidation")]
    assert submit(visitor, sent.location, {"code": "000000"}).status_code == 400
    done = submit(visitor, sent.location, {"code": last_code()})
    assert done.location == "/danger"
    assert visitor.get("/danger").status_code == 200


def test_verify_identity_wrong_password(guarded: Flask) -> None:
    visitor = guarded.test_client()
    sign_in_with_password(visitor)
    failed = submit(visitor, "/auth/verify-identity?next=/danger", {"password": "nope nope"})
    assert failed.status_code == 401
    assert "The phone number or password is incorrect." in failed.text
    assert visitor.get("/danger").status_code == 302


def test_verification_returns_into_a_mounted_app(guarded: Flask) -> None:
    visitor = guarded.test_client()
    mounted = "http://localhost/app/"
    page = visitor.get("/auth/sign-in", base_url=mounted)
    visitor.post(
        "/auth/sign-in",
        base_url=mounted,
        data={"csrf_token": csrf_of(page.text), "phone": KNOWN, "password": PASSWORD},
    )
    step = visitor.get("/danger", base_url=mounted).location
    assert step == "/app/auth/verify-identity?next=/app/danger"
    page = visitor.get("/auth/verify-identity?next=/app/danger", base_url=mounted)
    done = visitor.post(
        "/auth/verify-identity?next=/app/danger",
        base_url=mounted,
        data={"csrf_token": csrf_of(page.text), "password": PASSWORD},
    )
    assert done.location == "/app/danger"


EVIL_NEXTS = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "\\\\evil.example",
    "javascript:alert(1)",
    "http:/evil.example",
    "/\t/evil.example",
    "evil.example",
]


@pytest.mark.parametrize("target", EVIL_NEXTS)
def test_no_open_redirect(guarded: Flask, target: str) -> None:
    assert safe_next(target) is None
    visitor = guarded.test_client()
    signed = submit(visitor, "/auth/sign-in", {"phone": KNOWN, "password": PASSWORD})
    assert signed.location == "/"
    page = visitor.get("/auth/verify-identity", query_string={"next": target})
    assert "evil" not in page.text
    done = visitor.post(
        "/auth/verify-identity",
        query_string={"next": target},
        data={"csrf_token": csrf_of(page.text), "password": PASSWORD},
    )
    assert done.location == "/auth/account"
    out = visitor.post(
        "/auth/sign-out", query_string={"next": target}, data={"csrf_token": csrf_of(page.text)}
    )
    assert out.location == "/"
    again = site_post(guarded, "/auth/sign-in", target)
    assert again.location == "/"


def site_post(site: Flask, url: str, target: str) -> TestResponse:
    visitor = site.test_client()
    page = visitor.get(url, query_string={"next": target})
    return visitor.post(
        url,
        query_string={"next": target},
        data={"csrf_token": csrf_of(page.text), "phone": KNOWN, "password": PASSWORD},
    )


def test_safe_next_keeps_local_paths() -> None:
    assert safe_next("/settings/danger?tab=1#x") == "/settings/danger?tab=1#x"
    assert safe_next("/") == "/"
    assert safe_next(None) is None
    assert safe_next("") is None


# Account --------------------------------------------------------------------------------------


def test_account_page_shows_phone_and_mfa(visitor: FlaskClient, member: Any) -> None:
    sign_in_with_password(visitor)
    page = visitor.get("/auth/account").text
    assert "+1 201-555-0123" in page
    assert "Two-step verification" in page
    assert "Off" in page


def test_change_phone(site: Flask, visitor: FlaskClient, member: Any) -> None:
    sign_in_with_password(visitor)
    first = visitor.get("/auth/account/phone")
    assert first.location == "/auth/verify-identity?next=/auth/account/phone"
    assert verify_with_password(visitor).status_code == 302
    step = submit(visitor, "/auth/account/phone", {"phone": OTHER})
    assert step.location == "/auth/account/phone/verify"
    assert [(sms.to, sms.usage) for sms in outbox] == [(OTHER, "BindNewIdentifier")]
    assert user_row(site, member).phone == KNOWN  # the old number holds until the code
    assert submit(visitor, step.location, {"code": "000000"}).status_code == 400
    done = submit(visitor, step.location, {"code": last_code(OTHER)})
    assert done.location == "/auth/account"
    assert "Your phone number was changed." in visitor.get("/auth/account").text
    assert user_row(site, member).phone == OTHER


def test_change_phone_to_a_taken_number_reveals_nothing(
    site: Flask, visitor: FlaskClient, member: Any
) -> None:
    add_user(site, OTHER)
    sign_in_with_password(visitor)
    verify_with_password(visitor)
    taken = submit(visitor, "/auth/account/phone", {"phone": OTHER})
    assert taken.location == "/auth/account/phone/verify"
    assert outbox == []
    assert submit(visitor, taken.location, {"code": "000000"}).status_code == 400


def test_remove_phone_needs_verification_and_a_password(site: Flask, visitor: FlaskClient) -> None:
    code_only = add_user(site, password=None)
    step = submit(visitor, "/auth/sign-in/code", {"phone": KNOWN}).location
    submit(visitor, step, {"code": last_code()})
    assert visitor.get("/auth/account/phone/remove").location == (
        "/auth/verify-identity?next=/auth/account/phone/remove"
    )
    sent = submit(visitor, "/auth/verify-identity", {}, to="/auth/verify-identity/send")
    submit(visitor, sent.location, {"code": last_code()})
    refused = submit(visitor, "/auth/account/phone/remove", {})
    assert refused.status_code == 409
    assert "Set a password before removing" in refused.text
    assert user_row(site, code_only).phone == KNOWN


def test_remove_phone(site: Flask, visitor: FlaskClient, member: Any) -> None:
    sign_in_with_password(visitor)
    verify_with_password(visitor)
    done = submit(visitor, "/auth/account/phone/remove", {})
    assert done.location == "/auth/account"
    assert user_row(site, member).phone is None
    assert "Add a phone number" in visitor.get("/auth/account").text


def test_mfa_on_with_a_code_then_off_after_verification(
    site: Flask, visitor: FlaskClient, member: Any, clock: FakeClock
) -> None:
    sign_in_with_password(visitor)
    step = submit(visitor, "/auth/account/mfa/enable", {})
    assert step.location == "/auth/account/mfa/verify"
    assert [(sms.to, sms.usage) for sms in outbox] == [(KNOWN, "BindMfa")]
    assert submit(visitor, step.location, {"code": "000000"}).status_code == 400
    assert submit(visitor, step.location, {"code": last_code()}).location == "/auth/account"
    assert user_row(site, member).mfa_enabled
    clock.advance(301)
    assert visitor.get("/auth/account/mfa/disable").location == (
        "/auth/verify-identity?next=/auth/account/mfa/disable"
    )
    verify_with_password(visitor)
    assert submit(visitor, "/auth/account/mfa/disable", {}).location == "/auth/account"
    assert not user_row(site, member).mfa_enabled


def test_mfa_enable_delivery_failure_is_a_503(
    site: Flask, visitor: FlaskClient, member: Any
) -> None:
    sign_in_with_password(visitor)
    with site.app_context():
        fail_next_send(app=site)
    failed = submit(visitor, "/auth/account/mfa/enable", {})
    assert failed.status_code == 503
    assert "could not be sent" in failed.text


def test_change_password(site: Flask, visitor: FlaskClient, member: Any) -> None:
    sign_in_with_password(visitor)
    assert visitor.get("/auth/account/password").status_code == 302
    verify_with_password(visitor)
    short = submit(visitor, "/auth/account/password", {"password": "short"})
    assert short.status_code == 400
    assert "at least 8 characters" in error_text(short.text, "password")
    done = submit(visitor, "/auth/account/password", {"password": NEW_PASSWORD})
    assert done.location == "/auth/account"
    assert signed_in(visitor)
    assert sign_in_with_password(site.test_client()).status_code == 401
    assert sign_in_with_password(site.test_client(), password=NEW_PASSWORD).status_code == 302


# Templates -------------------------------------------------------------------------------------


@pytest.fixture
def overriding_app(tmp_path: Path, sqlite_uri: str) -> Iterator[Flask]:
    folder = tmp_path / "templates" / "sms_otp"
    folder.mkdir(parents=True)
    (folder / "sign_in.html").write_text(
        '{% extends "sms_otp/base.html" %}'
        "{% block title %}Custom{% endblock %}"
        "{% block content %}<h1>Our own sign-in page</h1>{{ form.phone.label }}{% endblock %}"
    )
    (folder / "base.html").write_text(
        "<!doctype html><title>{% block title %}{% endblock %}</title>"
        "<p>Our own layout</p>{% block content %}{% endblock %}"
    )
    app = Flask("override_test", template_folder=str(tmp_path / "templates"))
    app.config.update(
        TESTING=True,
        SECRET_KEY="s",
        SQLALCHEMY_DATABASE_URI=sqlite_uri,
        SMS_OTP_CONNECTOR="memory",
    )
    db = SQLAlchemy(app)
    SmsOtp(app, db=db)
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def test_app_templates_override_the_extensions(overriding_app: Flask) -> None:
    visitor = overriding_app.test_client()
    page = visitor.get("/auth/sign-in").text
    assert "Our own sign-in page" in page
    assert "Our own layout" in page
    assert "Phone number" in page
    other = visitor.get("/auth/sign-up").text
    assert "Our own layout" in other  # the base layout alone is overridden for every page
    assert "Create an account" in other


# The example app ----------------------------------------------------------------------------------


@pytest.fixture
def example(make_example_app: AppFactory) -> Flask:
    return make_example_app()


def test_example_app_home_and_protected_page(example: Flask) -> None:
    visitor = example.test_client()
    home = visitor.get("/")
    assert "You are not signed in." in home.text
    for link in ("/auth/sign-up", "/auth/sign-in", "/settings/danger"):
        assert f'href="{link}"' in home.text
    assert urlsplit(visitor.get("/settings/danger").location).path == "/auth/sign-in"
    step = submit(visitor, "/auth/sign-up", {"phone": UNKNOWN}).location
    submit(visitor, step, {"code": last_code(), "password": PASSWORD})
    home = visitor.get("/")
    assert "You are signed in as" in home.text
    assert 'action="/auth/sign-out"' in home.text
    assert visitor.get("/settings/danger").location == (
        "/auth/verify-identity?next=/settings/danger"
    )
    assert verify_with_password(visitor).location == "/auth/account"
    assert "Danger zone" in visitor.get("/settings/danger").text
    assert example.config["SESSION_COOKIE_SECURE"] is False
    assert submit(visitor, "/", {}, to="/auth/sign-out").location == "/"
    assert "You are not signed in." in visitor.get("/").text


# Lockout, configuration --------------------------------------------------------------------------


def test_a_locked_number_answers_alike_and_says_when(make_app: AppFactory) -> None:
    site = make_app(SMS_OTP_LOCKOUT_THRESHOLD=3, **PLAIN_HTTP)
    add_user(site)
    answers = {}
    for phone in (KNOWN, UNKNOWN):
        visitor = site.test_client()
        step = submit(visitor, "/auth/sign-in/code", {"phone": phone}).location
        wrong = "000000" if phone == UNKNOWN or last_code(phone) != "000000" else "111111"
        for _ in range(3):
            assert submit(visitor, step, {"code": wrong}).status_code == 400
        locked = submit(visitor, step, {"code": wrong})
        again = submit(visitor, "/auth/sign-in/code", {"phone": phone})
        answers[phone] = [
            (r.status_code, r.headers.get("Retry-After"), neutral(r.text, phone))
            for r in (locked, again)
        ]
        assert locked.status_code == 429
        assert error_text(locked.text, "code") == "Too many attempts. Try again in 15 minutes."
        assert "Too many attempts. Try again in 15 minutes." in again.text
    assert answers[KNOWN] == answers[UNKNOWN]


def test_pages_work_with_csrf_turned_off(make_app: AppFactory) -> None:
    visitor = make_app(WTF_CSRF_ENABLED=False, **PLAIN_HTTP).test_client()
    assert "csrf_token" not in visitor.get("/auth/sign-up").text
    step = visitor.post("/auth/sign-up", data={"phone": UNKNOWN})
    assert step.location == "/auth/sign-up/verify"
    done = visitor.post(step.location, data={"code": last_code(), "password": PASSWORD})
    assert done.location == "/"


def test_pages_follow_the_url_prefix(make_app: AppFactory) -> None:
    visitor = make_app(SMS_OTP_URL_PREFIX="/id", **PLAIN_HTTP).test_client()
    page = visitor.get("/id/sign-in")
    assert page.status_code == 200
    assert 'href="/id/sign-up"' in page.text
    assert submit(visitor, "/id/sign-up", {"phone": UNKNOWN}).location == "/id/sign-up/verify"
