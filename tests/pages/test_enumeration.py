"""The pages do not tell whether a number has an account: code requests, code steps, wrong
passwords and password lockouts answer alike for members and strangers."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from flask_sms_otp.testing import outbox

from ..helpers import PASSWORD, PLAIN_HTTP, AppFactory, add_user, submit
from .helpers import KNOWN, NEW_PASSWORD, UNKNOWN, cookie_names, neutral


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
