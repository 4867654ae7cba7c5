"""The channel choice in a real browser: an app whose route for India holds WhatsApp and
SMS (fakes of the WhatsApp Cloud API and of Amazon SNS on a local server). The person asks
for the code by WhatsApp, gets it there, asks for a new one by SMS instead, and signs up
with the code the text message carried."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from flask import Flask
from playwright.sync_api import Browser, expect
from pytest_httpserver import HTTPServer
from werkzeug.serving import make_server

from flask_sms_otp.state import get_state
from tests.connectors import test_sns, test_whatsapp
from tests.connectors.contract import origin_of

from ..helpers import AppFactory, FakeClock

pytestmark = pytest.mark.browser

INDIAN = "+919876543210"


@pytest.fixture
def served(make_app: AppFactory, httpserver: HTTPServer) -> Iterator[tuple[str, Flask, FakeClock]]:
    """The app on http://127.0.0.1:<free port>, its route for India WhatsApp then SMS."""
    httpserver.expect_request(test_whatsapp.MESSAGES_PATH, method="POST").respond_with_handler(
        test_whatsapp.accepted
    )
    httpserver.expect_request("/", method="POST").respond_with_handler(
        lambda request: test_sns.published()
    )
    origin = origin_of(httpserver)
    clock = FakeClock()
    app = make_app(
        clock=clock,
        SMS_OTP_SECURE_COOKIES=False,
        SMS_OTP_CONNECTORS={
            "whatsapp": {
                "connector": "whatsapp",
                "config": {**test_whatsapp.BASE_CONFIG, "endpoint": origin},
            },
            "sns": {"connector": "sns", "config": {**test_sns.BASE_CONFIG, "endpoint": origin}},
        },
        SMS_OTP_ROUTES=[
            {"regions": ["IN"], "connectors": ["whatsapp", "sns"]},
            {"regions": "*", "connectors": ["sns"]},
        ],
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="channel-app", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app, clock
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def sent(httpserver: HTTPServer, count: int) -> list[tuple[str, Any]]:
    """The first ``count`` messages the fakes took, as (channel, what was sent), waiting for
    the background sends."""
    deadline = time.monotonic() + 10
    while len(httpserver.log) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    found: list[tuple[str, Any]] = []
    for request, _ in httpserver.log:
        if request.path == "/":
            fields = parse_qs(request.get_data(as_text=True))
            found.append(("sms", {key: value[0] for key, value in fields.items()}))
        else:
            found.append(("whatsapp", json.loads(request.get_data())))
    assert len(found) == count, found
    return found


def test_the_person_picks_whatsapp_then_asks_again_by_sms(
    browser: Browser,
    served: tuple[str, Flask, FakeClock],
    httpserver: HTTPServer,
) -> None:
    url, app, clock = served
    page = browser.new_context(locale="en-US").new_page()
    try:
        page.goto(url + "/auth/sign-up")
        choice = page.get_by_role("group", name="Send the code by")
        expect(choice).to_be_visible()
        expect(choice.get_by_label("WhatsApp")).not_to_be_checked()
        expect(choice.get_by_label("SMS")).not_to_be_checked()
        choice.get_by_label("WhatsApp").check()
        page.get_by_label("Country or region").select_option("")
        page.get_by_label("Phone number").fill("+91 98765 43210")
        page.get_by_role("button", name="Text me a code").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")

        ((channel, message),) = sent(httpserver, 1)
        assert channel == "whatsapp"
        assert message["to"] == INDIAN.removeprefix("+")
        whatsapp_code = message["template"]["components"][0]["parameters"][0]["text"]

        # The choice is remembered: the new code would go by WhatsApp again.
        again = page.get_by_role("group", name="Send the new code by")
        expect(again.get_by_label("WhatsApp")).to_be_checked()
        expect(page.get_by_role("button", name="Send a new code")).to_be_disabled()
        clock.advance(get_state(app).settings.resend_cooldown)
        page.reload()
        again = page.get_by_role("group", name="Send the new code by")
        again.get_by_label("SMS").check()
        page.get_by_role("button", name="Send a new code").click()
        expect(page.get_by_text("A new code is on its way.")).to_be_visible()
        expect(
            page.get_by_role("group", name="Send the new code by").get_by_label("SMS")
        ).to_be_checked()

        (_, (channel, fields)) = sent(httpserver, 2)
        assert channel == "sms"
        assert fields["PhoneNumber"] == INDIAN
        sms_code = fields["Message"].removeprefix("Your sign-up code is ").removesuffix(".")
        assert sms_code != whatsapp_code  # a resend replaces the code

        page.get_by_label("Code", exact=True).fill(sms_code)
        page.get_by_role("button", name="Create account").click()
        page.wait_for_url(url + "/")  # signed up and sent on (this app has no home page)
        page.goto(url + "/auth/account")
        expect(page.locator("dl.account").first).to_contain_text("+91 98765 43210")
    finally:
        page.context.close()
