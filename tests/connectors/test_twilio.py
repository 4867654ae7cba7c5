"""Twilio connector against a local fake of the Messages API (providers.md §2.1)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flask_sms_otp import (
    ConfigurationError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from flask_sms_otp.connectors.base import SmsMessage
from flask_sms_otp.connectors.twilio import TwilioConnector, form_urlencode

from ..helpers import AppFactory
from .contract import HttpConnectorContract, TemplatesContract
from .echoes import echo_of

# providers.md §7.3: base64("account-sid:auth-token").
BASIC_AUTH = "Basic YWNjb3VudC1zaWQ6YXV0aC10b2tlbg=="
MESSAGES_PATH = "/2010-04-01/Accounts/account-sid/Messages.json"
FORM = "application/x-www-form-urlencoded"

TEMPLATES = [
    {"usageType": "Generic", "content": "code {{code}}"},
    {"usageType": "SignIn", "content": "Your sign-in code is {{code}}."},
    {"usageType": "Register", "content": "Your sign-up code is {{code}}."},
    {"usageType": "ForgotPassword", "content": "Your password code is {{code}}."},
]
BASE_CONFIG: dict[str, Any] = {
    "accountSID": "account-sid",
    "authToken": "auth-token",
    "fromMessagingServiceSID": "from-messaging-service-sid",
    "templates": TEMPLATES,
}


def origin(httpserver: HTTPServer) -> str:
    return str(httpserver.url_for("/")).rstrip("/")


def make(httpserver: HTTPServer, **overrides: Any) -> TwilioConnector:
    config = {**BASE_CONFIG, "endpoint": origin(httpserver), **overrides}
    return TwilioConnector(config, sleep=lambda s: None)


def message(to: str = "+4512345678", usage: str = "Generic", code: str = "123456") -> SmsMessage:
    return SmsMessage(to=to, usage=usage, code=code)


def expect_send(httpserver: HTTPServer) -> Any:
    return httpserver.expect_oneshot_request(
        MESSAGES_PATH,
        method="POST",
        headers={"Authorization": BASIC_AUTH, "Content-Type": FORM},
    )


def sent_body(httpserver: HTTPServer, index: int = 0) -> bytes:
    request = httpserver.log[index][0]
    data: bytes = request.get_data()
    return data


# The contract every HTTP connector keeps ---------------------------------------------------


class TestContract(HttpConnectorContract, TemplatesContract):
    connector_class = TwilioConnector
    send_path = MESSAGES_PATH
    message_id = "SM0123"
    refusal_code = "21211"
    required_strings = ("accountSID", "authToken", "fromMessagingServiceSID")
    secret_field = "authToken"
    bad_endpoints = (
        "https://api.twilio.com/2010-04-01",
        "ftp://api.twilio.com",
        "api.twilio.com",
        "https://api.twilio.com?x=1",
        42,
    )
    template_field = "content"
    check_result = "Twilio account account-sid is active"

    def config(self, endpoint: str) -> dict[str, Any]:
        return {**BASE_CONFIG, "endpoint": endpoint}

    def accept(self, request: Request) -> Response:
        # Twilio's Message resource repeats the number and the text.
        answer = {"sid": "SM0123", "to": request.form["To"], "body": request.form["Body"]}
        return Response(json.dumps(answer), 201, mimetype="application/json")

    def refuse(self, request: Request, status: int, text: str) -> Response:
        answer = twilio_error(21211, text, status)
        return Response(json.dumps(answer), status, mimetype="application/json")

    def recipient(self, request: Request) -> str:
        return str(request.form["To"])

    def on_wire(self, phone: str) -> str:
        return phone  # E.164 with its +

    def assert_sent_code(self, request: Request, phone: str) -> None:
        fields = parse_qs(request.get_data(as_text=True))
        assert fields["MessagingServiceSid"] == ["from-messaging-service-sid"]
        assert fields["RiskCheck"] == ["enable"]
        assert re.fullmatch(r"code \d{6}", fields["Body"][0])

    def answer_check(self, request: Request) -> Response:
        assert (request.method, request.path) == ("GET", "/2010-04-01/Accounts/account-sid.json")
        return Response(json.dumps({"sid": "account-sid", "status": "active"}), 200)


# Request shape ---------------------------------------------------------------------------


def test_send_posts_the_exact_form_and_returns_the_message_sid(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_json({"sid": "SM0123", "status": "accepted"}, status=201)
    result = make(httpserver).send(message())
    assert result.connector == "twilio"
    assert result.message_id == "SM0123"
    assert len(httpserver.log) == 1
    request = httpserver.log[0][0]
    assert request.method == "POST"
    assert request.path == MESSAGES_PATH
    assert request.headers["Authorization"] == BASIC_AUTH
    assert request.headers["Content-Type"] == FORM
    # providers.md §2.1's example body, byte for byte (field order, + as %2B, space as +).
    assert sent_body(httpserver) == (
        b"To=%2B4512345678&MessagingServiceSid=from-messaging-service-sid"
        b"&Body=code+123456&RiskCheck=enable"
    )


def test_disable_risk_check_sends_risk_check_disable(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_json({"sid": "SM1"}, status=201)
    make(httpserver, disableRiskCheck=True).send(message())
    assert sent_body(httpserver).endswith(b"&RiskCheck=disable")


def test_risk_check_enable_is_sent_when_explicitly_false(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_json({"sid": "SM1"}, status=201)
    make(httpserver, disableRiskCheck=False).send(message())
    assert sent_body(httpserver).endswith(b"&RiskCheck=enable")


def test_plus_is_added_when_missing(httpserver: HTTPServer) -> None:
    # Logto's nock test: input 4512345678 is sent as +4512345678.
    expect_send(httpserver).respond_with_json({"sid": "SM1"}, status=201)
    make(httpserver).send(message(to="4512345678"))
    assert parse_qs(sent_body(httpserver).decode())["To"] == ["+4512345678"]


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ("SignIn", "Your sign-in code is 654321."),
        ("Register", "Your sign-up code is 654321."),
        ("BindMfa", "code 654321"),  # no BindMfa template: Generic fallback
    ],
)
def test_template_by_usage_then_generic(httpserver: HTTPServer, usage: str, expected: str) -> None:
    expect_send(httpserver).respond_with_json({"sid": "SM1"}, status=201)
    make(httpserver).send(message(usage=usage, code="654321"))
    assert parse_qs(sent_body(httpserver).decode())["Body"] == [expected]


def test_body_is_encoded_like_url_search_params(httpserver: HTTPServer) -> None:
    templates = [{**t, "content": "Код {{code}}: a+b ~*'!()"} for t in TEMPLATES]
    expect_send(httpserver).respond_with_json({"sid": "SM1"}, status=201)
    make(httpserver, templates=templates).send(message())
    body = sent_body(httpserver)
    assert b"&Body=%D0%9A%D0%BE%D0%B4+123456%3A+a%2Bb+%7E*%27%21%28%29&" in body
    assert parse_qs(body.decode())["Body"] == ["Код 123456: a+b ~*'!()"]


def test_form_urlencode_matches_url_search_params() -> None:
    assert form_urlencode([("a b", "x+y"), ("k", "-._*~/")]) == "a+b=x%2By&k=-._*%7E%2F"


def test_a_2xx_without_json_is_still_accepted(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_data("ok", status=201)
    assert make(httpserver).send(message()).message_id is None


def test_default_endpoint_is_twilio() -> None:
    connector = TwilioConnector(BASE_CONFIG)
    assert connector.messages_url == (
        "https://api.twilio.com/2010-04-01/Accounts/account-sid/Messages.json"
    )


# Failure shapes --------------------------------------------------------------------------


def twilio_error(code: int, text: str, status: int) -> dict[str, Any]:
    return {
        "code": code,
        "message": text,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def test_error_code_20429_is_rate_limited_whatever_the_status(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_json(
        twilio_error(20429, "Too Many Requests", 400), status=400
    )
    with pytest.raises(ProviderRateLimited) as info:
        make(httpserver).send(message())
    assert (info.value.status_code, info.value.provider_code) == (400, "20429")


def test_non_json_error_keeps_the_raw_body(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_data(
        "<html>\n  Bad   gateway\n</html>", status=502, content_type="text/html"
    )
    with pytest.raises(ProviderUnavailable) as info:
        make(httpserver).send(message())
    assert info.value.status_code == 502
    assert info.value.provider_code is None
    assert info.value.provider_message == "<html> Bad gateway </html>"


def test_non_json_4xx_is_rejected(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_data("Forbidden", status=403)
    with pytest.raises(ProviderRejected) as info:
        make(httpserver).send(message())
    assert (info.value.status_code, info.value.provider_message) == (403, "Forbidden")


# Provider check --------------------------------------------------------------------------


def test_check_fetches_the_account_without_sending(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(
        "/2010-04-01/Accounts/account-sid.json",
        method="GET",
        headers={"Authorization": BASIC_AUTH},
    ).respond_with_json({"sid": "account-sid", "status": "active"})
    assert make(httpserver).check() == "Twilio account account-sid is active"
    assert len(httpserver.log) == 1


def test_check_reports_bad_credentials(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/2010-04-01/Accounts/account-sid.json").respond_with_json(
        twilio_error(20003, "Authenticate", 401), status=401
    )
    with pytest.raises(ProviderRejected) as info:
        make(httpserver).check()
    assert info.value.provider_code == "20003"


# Configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["true", 1, "yes"])
def test_disable_risk_check_must_be_boolean(bad: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        TwilioConnector({**BASE_CONFIG, "disableRiskCheck": bad})
    assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.disableRiskCheck"


def test_endpoint_with_trailing_slash_is_an_origin() -> None:
    connector = TwilioConnector({**BASE_CONFIG, "endpoint": "http://127.0.0.1:8080/"})
    assert connector.messages_url == f"http://127.0.0.1:8080{MESSAGES_PATH}"


# Security check 36: a refused check that repeats the request ------------------------------

ECHO_TOKEN = "tw-auth-7d41c09b2e5a"


def test_a_refused_check_repeating_the_headers_shows_no_credential(
    make_app: AppFactory, httpserver: HTTPServer
) -> None:
    def refuse(request: Request) -> Response:
        text = "Authenticate: " + echo_of(request, "headers", "")
        return Response(
            json.dumps(twilio_error(20003, text, 401)), 401, mimetype="application/json"
        )

    httpserver.expect_request(
        "/2010-04-01/Accounts/account-sid.json", method="GET"
    ).respond_with_handler(refuse)
    app = make_app(
        SMS_OTP_CONNECTOR="twilio",
        SMS_OTP_CONNECTOR_CONFIG={
            **BASE_CONFIG,
            "authToken": ECHO_TOKEN,
            "endpoint": origin(httpserver),
        },
    )
    result = app.test_cli_runner().invoke(args=["sms-otp", "check", "--ping"])
    assert result.exit_code != 0
    authorization = httpserver.log[0][0].headers["Authorization"]
    assert authorization in httpserver.log[0][1].get_data(as_text=True)
    assert "20003" in result.output
    assert "Basic [redacted]" in result.output
    for secret in (ECHO_TOKEN, authorization, authorization.removeprefix("Basic ")):
        assert secret not in result.output
