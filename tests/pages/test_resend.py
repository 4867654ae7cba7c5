"""Asking for a new code on the code pages: the cooldown, the cap, the old code dying, and a
failed delivery that looks like a silent challenge."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_sms_otp.testing import fail_next_send, outbox

from ..helpers import PLAIN_HTTP, AppFactory, FakeClock, csrf_of, last_code, signed_in, submit
from .helpers import KNOWN, UNKNOWN, neutral


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


@pytest.mark.parametrize("phone", [KNOWN, UNKNOWN])
def test_the_countdown_is_what_a_resend_answers(
    site: Flask, member: Any, clock: FakeClock, phone: str
) -> None:
    visitor = site.test_client()
    step = submit(visitor, "/auth/sign-in/code", {"phone": phone}).location
    clock.advance(25)
    page = visitor.get(step)
    assert 'data-resend-in="35"' in page.text
    early = visitor.post("/auth/sign-in/code/resend", data={"csrf_token": csrf_of(page.text)})
    assert (early.status_code, early.headers["Retry-After"]) == (429, "35")
    assert "You can ask for a new code in 35 seconds." in early.text
    assert 'data-resend-in="35"' in early.text
