"""Password reset: a code, a new password, every session ended, never signed in."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from ..helpers import last_code, sign_in_with_password, signed_in, submit
from .helpers import KNOWN, NEW_PASSWORD, Page, copy_of, error_text


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
