"""Security check 38: the extension's pages and API cannot be framed or cached, are not
MIME-sniffed and send no full URL as Referer; headers the app sets itself win."""

from __future__ import annotations

import pytest
from flask import Flask
from werkzeug.test import TestResponse
from werkzeug.wrappers import Response

from flask_sms_otp.headers import SECURITY_HEADERS

from .helpers import (
    PHONE,
    ApiClient,
    AppFactory,
    create_user,
)

ANONYMOUS_PAGES = [
    "/auth/sign-up",
    "/auth/sign-in",
    "/auth/sign-in/code",
    "/auth/reset-password",
]
SIGNED_IN_PAGES = [
    "/auth/account",
    "/auth/verify-identity",
    "/auth/account/mfa/enable",
]


def assert_protected(response: TestResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (response.request.path, name)


def test_every_page_and_api_answer_carries_the_headers(make_app: AppFactory) -> None:
    app = make_app(WTF_CSRF_ENABLED=False)
    create_user(app, PHONE)
    browser = app.test_client()
    for path in ANONYMOUS_PAGES:
        assert_protected(browser.get(path))
    assert_protected(browser.post("/auth/sign-in", data={"phone": "junk"}))  # an error page
    api = ApiClient(app)
    assert_protected(api.get("/csrf"))
    assert_protected(api.sign_in_password(PHONE, "wrong password"))  # a JSON error
    signed_in = api.sign_in_password(PHONE)
    assert_protected(signed_in)
    assert_protected(api.account())
    for path in SIGNED_IN_PAGES:
        assert_protected(api.http.get(path))


def test_the_apps_own_pages_are_left_alone(make_example_app: AppFactory) -> None:
    home = make_example_app().test_client().get("/")
    assert home.status_code == 200
    for name in ("X-Frame-Options", "Content-Security-Policy", "Referrer-Policy"):
        assert name not in home.headers


@pytest.mark.parametrize("path", ["/auth/sign-in", "/auth/api/csrf"])
def test_headers_the_app_sets_itself_win(make_app: AppFactory, path: str) -> None:
    """As Flask-Talisman does: an app-wide ``after_request`` that sets its own policy."""
    app: Flask = make_app()

    @app.after_request
    def talisman_like(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = "default-src 'self'; frame-ancestors 'self'"
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        return response

    answer = app.test_client().get(path)
    assert answer.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert answer.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert answer.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"  # what the app left unset
