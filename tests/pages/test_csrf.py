"""Every POST needs the CSRF token of the page; a missing or forged one is a 400 page that
changes and sends nothing. Sign-out is a POST."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from flask_sms_otp.testing import outbox

from ..helpers import (
    PASSWORD,
    FakeClock,
    sign_in_with_password,
    signed_in,
    submit,
    verify_with_password,
)
from .helpers import KNOWN, NEW_PASSWORD, OTHER, UNKNOWN


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
