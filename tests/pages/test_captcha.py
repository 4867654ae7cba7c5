"""The bot check on the HTML pages: the pages that send a code to a number anyone may name
render the provider's widget (always; with ``"guard"``, once the engine asked for it), the
view reads the token from the provider's own field, and a page without it sends nothing."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from werkzeug.test import TestResponse

from flask_sms_otp.connectors.memory import SentSms
from flask_sms_otp.state import get_state
from flask_sms_otp.testing import wait_for_sends

from ..helpers import (
    PLAIN_HTTP,
    AppFactory,
    Siteverify,
    add_user,
    csrf_of,
    sign_in_with_password,
    submit,
    verify_with_password,
)
from .helpers import KNOWN, UNKNOWN

SITE_KEY = "site-key-for-the-widget"
SECRET = "secret-the-page-never-shows"
GOOD = "the-widgets-good-token"
ROBOT = "Please complete the check that you are not a robot."
#: The pages that send a code to a number anyone may name, and the number each sends to.
PAGES = {
    "/auth/sign-up": UNKNOWN,
    "/auth/sign-in/code": KNOWN,
    "/auth/reset-password": KNOWN,
    "/auth/account/phone": UNKNOWN,
}
FIELDS = {
    "turnstile": "cf-turnstile-response",
    "hcaptcha": "h-captcha-response",
    "recaptcha": "g-recaptcha-response",
}


@pytest.fixture
def siteverify(httpserver: HTTPServer) -> Siteverify:
    return Siteverify(httpserver, SECRET, GOOD)


@pytest.fixture
def make_site(make_app: AppFactory, siteverify: Siteverify) -> Any:
    def make(provider: str = "turnstile", when: str = "always", **extra: Any) -> Flask:
        captcha = {
            "provider": provider,
            "site_key": SITE_KEY,
            "secret": SECRET,
            "when": when,
            "endpoint": siteverify.url,
            **extra,
        }
        app = make_app(SMS_OTP_CAPTCHA=captcha, **PLAIN_HTTP)
        add_user(app, KNOWN)
        return app

    return make


def visitor_on(app: Flask, page: str) -> FlaskClient:
    """A client ready for ``page``: signed in and recently verified for the account's."""
    client = app.test_client()
    if page.startswith("/auth/account"):
        assert sign_in_with_password(client).status_code == 302
        assert verify_with_password(client).status_code == 302
    return client


def widget(html: str) -> list[str]:
    """The widget's elements and scripts in ``html``."""
    return re.findall(
        r'<div class="(?:cf-turnstile|h-captcha|g-recaptcha)"[^>]*>'
        r"|<input type=\"hidden\" name=\"g-recaptcha-response\"[^>]*>"
        r'|<script src="[^"]*(?:turnstile|hcaptcha|recaptcha|captcha\.js)[^"]*"[^>]*>',
        html,
    )


def assert_no_secret(response: TestResponse) -> None:
    assert SECRET not in response.get_data(as_text=True)
    assert SECRET not in str(response.headers)


@pytest.mark.parametrize("page", list(PAGES))
def test_each_page_shows_the_widget_and_sends_only_with_its_token(
    make_site: Any, siteverify: Siteverify, sms_outbox: list[SentSms], page: str
) -> None:
    app = make_site()
    client = visitor_on(app, page)
    shown = client.get(page)
    assert widget(shown.text) == [
        f'<div class="cf-turnstile" data-sitekey="{SITE_KEY}">',
        '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" async defer>',
    ]
    assert_no_secret(shown)
    # Nothing in the headers keeps the widget's script or frame out.
    policy = shown.headers["Content-Security-Policy"]
    assert "script-src" not in policy
    assert "frame-src" not in policy
    assert "default-src" not in policy

    phone = PAGES[page]
    refused = client.post(page, data={"csrf_token": csrf_of(shown.text), "phone": phone})
    assert refused.status_code == 400
    assert ROBOT in refused.text
    assert len(widget(refused.text)) == 2
    assert_no_secret(refused)
    wrong = client.post(
        page,
        data={"csrf_token": csrf_of(shown.text), "phone": phone, FIELDS["turnstile"]: "bad"},
    )
    assert wrong.status_code == 400
    wait_for_sends(app)
    assert sms_outbox == []

    sent = client.post(
        page,
        data={"csrf_token": csrf_of(shown.text), "phone": phone, FIELDS["turnstile"]: GOOD},
    )
    assert sent.status_code == 302, sent.text
    assert sent.location.endswith("/verify")
    wait_for_sends(app)
    assert [m.to for m in sms_outbox] == [phone]
    assert [form["response"] for form in siteverify.forms] == [["bad"], [GOOD]]


@pytest.mark.parametrize("provider", ["hcaptcha", "recaptcha"])
def test_the_token_is_read_from_the_providers_own_field(
    make_site: Any, siteverify: Siteverify, sms_outbox: list[SentSms], provider: str
) -> None:
    app = make_site(provider, version=2) if provider == "recaptcha" else make_site(provider)
    client = app.test_client()
    # Another provider's field is not this one's.
    other = "cf-turnstile-response"
    assert submit(client, "/auth/sign-up", {"phone": UNKNOWN, other: GOOD}).status_code == 400
    response = submit(client, "/auth/sign-up", {"phone": UNKNOWN, FIELDS[provider]: GOOD})
    assert response.status_code == 302
    wait_for_sends(app)
    assert [m.to for m in sms_outbox] == [UNKNOWN]
    sent = siteverify.forms[-1]
    assert sent["remoteip"] == ["127.0.0.1"]
    assert ("sitekey" in sent) is (provider == "hcaptcha")


@pytest.mark.parametrize(
    ("provider", "extra", "expected"),
    [
        (
            "hcaptcha",
            {},
            [
                f'<div class="h-captcha" data-sitekey="{SITE_KEY}">',
                '<script src="https://js.hcaptcha.com/1/api.js" async defer>',
            ],
        ),
        (
            "recaptcha",
            {"version": 2},
            [
                f'<div class="g-recaptcha" data-sitekey="{SITE_KEY}">',
                '<script src="https://www.google.com/recaptcha/api.js" async defer>',
            ],
        ),
        (
            "recaptcha",
            {"action": "signup"},
            [
                '<input type="hidden" name="g-recaptcha-response" value="" '
                f'data-sms-otp-recaptcha="{SITE_KEY}" data-action="signup">',
                '<script src="https://www.google.com/recaptcha/api.js?render='
                f'{SITE_KEY}" async defer>',
                '<script src="/auth/sms-otp-static/sms_otp/captcha.js" defer>',
            ],
        ),
        (
            "recaptcha",
            {"project_id": "my-project"},
            [
                '<input type="hidden" name="g-recaptcha-response" value="" '
                f'data-sms-otp-recaptcha="{SITE_KEY}" data-action="send_code" '
                'data-enterprise="true">',
                '<script src="https://www.google.com/recaptcha/enterprise.js?render='
                f'{SITE_KEY}" async defer>',
                '<script src="/auth/sms-otp-static/sms_otp/captcha.js" defer>',
            ],
        ),
        (
            "recaptcha",
            {"project_id": "my-project", "version": 2},
            [
                f'<div class="g-recaptcha" data-sitekey="{SITE_KEY}">',
                '<script src="https://www.google.com/recaptcha/enterprise.js" async defer>',
            ],
        ),
    ],
    ids=["hcaptcha", "recaptcha-v2", "recaptcha-v3", "enterprise-score", "enterprise-checkbox"],
)
def test_each_provider_has_its_widget(
    make_site: Any, provider: str, extra: dict[str, Any], expected: list[str]
) -> None:
    app = make_site(provider, **extra)
    page = app.test_client().get("/auth/sign-up")
    assert widget(page.text) == expected
    assert_no_secret(page)


def test_the_score_script_is_served(make_site: Any) -> None:
    with (
        make_site("recaptcha")
        .test_client()
        .get("/auth/sms-otp-static/sms_otp/captcha.js") as script
    ):
        assert script.status_code == 200
        assert b"data-sms-otp-recaptcha" in script.get_data()


def test_pages_that_send_to_no_number_anyone_may_name_show_no_widget(make_site: Any) -> None:
    app = make_site()
    client = app.test_client()
    assert widget(client.get("/auth/sign-in").text) == []
    assert sign_in_with_password(client).status_code == 302
    assert widget(client.get("/auth/verify-identity").text) == []
    assert widget(client.get("/auth/account/mfa/enable").text) == []


class Held:
    """The pumping guard's test double: every number is held for ten minutes."""

    def retry_after(self, e164: str, now: datetime) -> int | None:
        return 600


def test_guard_shows_the_widget_once_the_engine_asks(
    make_site: Any, siteverify: Siteverify, sms_outbox: list[SentSms]
) -> None:
    app = make_site(when="guard")
    client = app.test_client()
    shown = client.get("/auth/sign-up")
    assert widget(shown.text) == []
    assert submit(client, "/auth/sign-up", {"phone": UNKNOWN}).status_code == 302
    assert siteverify.forms == []

    get_state(app).challenges.guard = Held()
    other = "+12015550126"
    refused = submit(client, "/auth/sign-up", {"phone": other})
    assert refused.status_code == 400
    assert ROBOT in refused.text
    assert widget(refused.text)[0] == f'<div class="cf-turnstile" data-sitekey="{SITE_KEY}">'
    sent = client.post(
        "/auth/sign-up",
        data={"csrf_token": csrf_of(refused.text), "phone": other, FIELDS["turnstile"]: GOOD},
    )
    assert sent.status_code == 302
    wait_for_sends(app)
    assert [m.to for m in sms_outbox] == [UNKNOWN, other]


def test_never_shows_no_widget_and_asks_nothing(
    make_site: Any, siteverify: Siteverify, sms_outbox: list[SentSms]
) -> None:
    app = make_site(when="never")
    client = app.test_client()
    assert widget(client.get("/auth/sign-up").text) == []
    assert submit(client, "/auth/sign-up", {"phone": UNKNOWN}).status_code == 302
    assert siteverify.forms == []
