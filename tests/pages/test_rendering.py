"""What every page shows: accessible forms, nothing sent on GET, where anonymous visitors
and lost steps are sent, templates an app overrides, the example app, the URL prefix and
CSRF turned off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_sqlalchemy import SQLAlchemy

from flask_sms_otp import SmsOtp
from flask_sms_otp.state import get_state
from flask_sms_otp.testing import outbox

from ..helpers import (
    PASSWORD,
    PLAIN_HTTP,
    AppFactory,
    last_code,
    sign_in_with_password,
    submit,
    verify_with_password,
)
from .helpers import UNKNOWN, Page, check_accessible

ANONYMOUS_PAGES = ["/auth/sign-up", "/auth/sign-in", "/auth/sign-in/code", "/auth/reset-password"]
SIGNED_IN_PAGES = ["/auth/account", "/auth/verify-identity"]
VERIFIED_PAGES = [
    "/auth/account/phone",
    "/auth/account/phone/remove",
    "/auth/account/mfa/enable",
    "/auth/account/mfa/disable",
    "/auth/account/password",
]


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
    # WebOTP fills the code in where the browser has it; the field still says what it is.
    assert "/auth/sms-otp-static/sms_otp/webotp.js" in page.text
    with visitor.get("/auth/sms-otp-static/sms_otp/webotp.js") as script:
        assert script.status_code == 200
        assert b'transport: ["sms"]' in script.get_data()
    assert Page(page.text).field("code")["autocomplete"] == "one-time-code"
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


def test_the_apps_own_unauthorized_handler_answers_for_the_signed_in_pages(
    site: Flask, visitor: FlaskClient
) -> None:
    login_manager = vars(site)["login_manager"]  # Flask-Login keeps it on the app
    login_manager.unauthorized_handler(lambda: ("Please use the front desk.", 401))
    for url in [*SIGNED_IN_PAGES, *VERIFIED_PAGES, "/auth/verify-identity/code"]:
        response = visitor.get(url)
        assert (response.status_code, response.text) == (401, "Please use the front desk."), url
