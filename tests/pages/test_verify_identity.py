"""Confirming it is you: the verify-identity pages, the app's own views behind
``verification_required``, and the ``next`` they return to (never off the site)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from flask_sms_otp import SmsOtp
from flask_sms_otp.testing import outbox
from flask_sms_otp.views import safe_next

from ..helpers import (
    PASSWORD,
    PLAIN_HTTP,
    AppFactory,
    FakeClock,
    add_user,
    csrf_of,
    last_code,
    sign_in_with_password,
    submit,
)
from .helpers import KNOWN, NEW_PASSWORD


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


def test_json_clients_get_the_apis_verification_required(guarded: Flask) -> None:
    visitor = guarded.test_client()
    sign_in_with_password(visitor)
    own = visitor.get("/danger", headers={"Accept": "application/json"})
    token = visitor.get("/auth/api/csrf").get_json()["csrf_token"]
    api = visitor.put(
        "/auth/api/account/password",
        json={"password": NEW_PASSWORD},
        headers={"X-CSRFToken": token},
    )
    assert (own.status_code, own.get_json()) == (api.status_code, api.get_json())
    assert own.get_json()["error"]["code"] == "verification_required"
    assert own.status_code == 401
