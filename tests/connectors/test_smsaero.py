"""SMS Aero connector against a local fake of its v2 API (providers.md §2.2)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flask_sms_otp import (
    ConfigurationError,
    ProviderRejected,
    ProviderUnavailable,
)
from flask_sms_otp.connectors.base import SmsMessage
from flask_sms_otp.connectors.smsaero import SmsAeroConnector

from ..helpers import AppFactory
from .contract import HttpConnectorContract, TemplatesContract
from .echoes import PARTS, assert_nothing_leaks, echo_of

# providers.md §7.3: base64("test@test.com:api-key").
BASIC_AUTH = "Basic dGVzdEB0ZXN0LmNvbTphcGkta2V5"
SEND_PATH = "/v2/sms/send"
LOGTO_TEXT = "This is for testing purposes only. Your verification code is {{code}}."

TEMPLATES = [
    {"usageType": "Generic", "content": LOGTO_TEXT},
    {"usageType": "SignIn", "content": "Sign-in code {{code}}"},
    {"usageType": "Register", "content": "Sign-up code {{code}}"},
    {"usageType": "ForgotPassword", "content": "Password code {{code}}"},
]
BASE_CONFIG: dict[str, Any] = {
    "email": "test@test.com",
    "apiKey": "api-key",
    "senderName": "sender-name",
    "templates": TEMPLATES,
}


def origin(httpserver: HTTPServer) -> str:
    return str(httpserver.url_for("/")).rstrip("/")


def make(httpserver: HTTPServer, **overrides: Any) -> SmsAeroConnector:
    config = {**BASE_CONFIG, "endpoint": origin(httpserver), **overrides}
    return SmsAeroConnector(config, sleep=lambda s: None)


def message(to: str = "+8613800138000", usage: str = "Generic", code: str = "1234") -> SmsMessage:
    return SmsMessage(to=to, usage=usage, code=code)


def expect_send(httpserver: HTTPServer) -> Any:
    return httpserver.expect_oneshot_request(
        SEND_PATH,
        method="POST",
        headers={"Authorization": BASIC_AUTH, "Content-Type": "application/json"},
    )


def accepted(message_id: int = 686325) -> dict[str, Any]:
    return {
        "success": True,
        "data": {
            "id": message_id,
            "from": "sender-name",
            "number": "8613800138000",
            "text": "...",
            "status": 8,
            "extendStatus": "moderation",
            "channel": "FREE SIGN",
            "cost": 4.36,
            "dateCreate": 1697533302,
            "dateSend": 1697533302,
        },
        "message": None,
    }


def refused(text: str | None) -> dict[str, Any]:
    return {"success": False, "data": None, "message": text}


def sent_body(httpserver: HTTPServer, index: int = 0) -> bytes:
    data: bytes = httpserver.log[index][0].get_data()
    return data


# The contract every HTTP connector keeps ---------------------------------------------------


class TestContract(HttpConnectorContract, TemplatesContract):
    connector_class = SmsAeroConnector
    send_path = SEND_PATH
    message_id = "686325"
    refusal_code = None  # SMS Aero's answers carry a text, no code
    required_strings = ("email", "apiKey", "senderName")
    secret_field = "apiKey"
    bad_endpoints = ("https://gate.smsaero.ru/v2", "gate.smsaero.ru", "mailto:x@y.z")
    template_field = "content"
    check_result = "SMS Aero account test@test.com: Successful authorization."

    def config(self, endpoint: str) -> dict[str, Any]:
        return {**BASE_CONFIG, "endpoint": endpoint}

    def accept(self, request: Request) -> Response:
        # SMS Aero's answer repeats the number and the text.
        answer = accepted(686325)
        answer["data"].update(number=request.get_json()["number"], text=request.get_json()["text"])
        return Response(json.dumps(answer), 200, mimetype="application/json")

    def refuse(self, request: Request, status: int, text: str) -> Response:
        return Response(json.dumps(refused(text)), status, mimetype="application/json")

    def recipient(self, request: Request) -> str:
        return str(request.get_json()["number"])

    def assert_sent_code(self, request: Request, phone: str) -> None:
        assert request.headers["Authorization"] == BASIC_AUTH
        body = request.get_json()
        assert body["sign"] == "sender-name"
        assert re.fullmatch(
            r"This is for testing purposes only\. Your verification code is \d{6}\.",
            body["text"],
        )

    def answer_check(self, request: Request) -> Response:
        assert (request.method, request.path) == ("POST", "/v2/auth")
        answer = {"success": True, "data": None, "message": "Successful authorization."}
        return Response(json.dumps(answer), 200, mimetype="application/json")


# Request shape ---------------------------------------------------------------------------


def test_logto_request_vector(httpserver: HTTPServer) -> None:
    # Logto's nock test: digits as given, sender name as "sign", rendered text, Basic auth.
    expect_send(httpserver).respond_with_json(accepted())
    result = make(httpserver).send(message(to="13800138000"))
    assert result.connector == "smsaero"
    assert result.message_id == "686325"
    assert len(httpserver.log) == 1
    request = httpserver.log[0][0]
    assert (request.method, request.path) == ("POST", SEND_PATH)
    assert request.headers["Authorization"] == BASIC_AUTH
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(sent_body(httpserver)) == {
        "number": "13800138000",
        "sign": "sender-name",
        "text": "This is for testing purposes only. Your verification code is 1234.",
    }
    assert sent_body(httpserver) == (
        b'{"number":"13800138000","sign":"sender-name",'
        b'"text":"This is for testing purposes only. Your verification code is 1234."}'
    )


def test_e164_plus_is_dropped(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_json(accepted())
    make(httpserver).send(message(to="+79990000000"))
    assert json.loads(sent_body(httpserver))["number"] == "79990000000"


def test_non_ascii_text_is_sent_as_utf8_json(httpserver: HTTPServer) -> None:
    templates = [{**t, "content": "Ваш код: {{code}}"} for t in TEMPLATES]
    expect_send(httpserver).respond_with_json(accepted())
    make(httpserver, templates=templates).send(message())
    assert "Ваш код: 1234".encode() in sent_body(httpserver)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ("SignIn", "Sign-in code 4321"),
        # Logto's SMS Aero gives template_not_found here; we fall back to Generic (§0).
        ("OrganizationInvitation", LOGTO_TEXT.replace("{{code}}", "4321")),
    ],
)
def test_template_by_usage_then_generic(httpserver: HTTPServer, usage: str, expected: str) -> None:
    expect_send(httpserver).respond_with_json(accepted())
    make(httpserver).send(message(usage=usage, code="4321"))
    assert json.loads(sent_body(httpserver))["text"] == expected


def test_default_endpoint_is_smsaero() -> None:
    assert SmsAeroConnector(BASE_CONFIG).send_url == "https://gate.smsaero.ru/v2/sms/send"


# Failure shapes --------------------------------------------------------------------------


def test_200_with_success_false_is_rejected_with_smsaero_message(httpserver: HTTPServer) -> None:
    # Logto would call this a success; providers.md §0 says it is not.
    expect_send(httpserver).respond_with_json(refused("Validation error."))
    with pytest.raises(ProviderRejected) as info:
        make(httpserver).send(message())
    error = info.value
    assert (error.status_code, error.provider_message) == (200, "Validation error.")
    assert error.provider_code is None
    assert error.connector == "smsaero"
    assert "Validation error." in str(error)
    assert len(httpserver.log) == 1


@pytest.mark.parametrize(
    "body",
    [
        refused(None),
        {"data": {"id": 1}},  # no success field at all
        {"success": "true", "data": {"id": 1}},  # not the JSON true
        ["success"],
    ],
)
def test_anything_but_success_true_is_rejected(httpserver: HTTPServer, body: Any) -> None:
    expect_send(httpserver).respond_with_json(body)
    with pytest.raises(ProviderRejected) as info:
        make(httpserver).send(message())
    assert info.value.status_code == 200


def test_success_false_without_message_says_why(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_json(refused(None))
    with pytest.raises(ProviderRejected, match="does not say success: true"):
        make(httpserver).send(message())


def test_non_json_2xx_is_an_error(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_data("ok", status=200)
    with pytest.raises(ProviderUnavailable, match="not JSON"):
        make(httpserver).send(message())


def test_http_400_raw_body_is_kept(httpserver: HTTPServer) -> None:
    # Logto's test: HTTP 400 with "some error body" gives that body as the message.
    expect_send(httpserver).respond_with_data("some error body", status=400)
    with pytest.raises(ProviderRejected) as info:
        make(httpserver).send(message())
    assert (info.value.status_code, info.value.provider_message) == (400, "some error body")


def test_http_401_json_message_is_kept(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_json(refused("Your ip is blocked"), status=401)
    with pytest.raises(ProviderRejected) as info:
        make(httpserver).send(message())
    assert (info.value.status_code, info.value.provider_message) == (401, "Your ip is blocked")


# Provider check --------------------------------------------------------------------------


def test_check_calls_auth_without_sending(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(
        "/v2/auth",
        method="POST",
        headers={"Authorization": BASIC_AUTH, "Content-Type": "application/json"},
    ).respond_with_json({"success": True, "data": None, "message": "Successful authorization."})
    assert make(httpserver).check() == ("SMS Aero account test@test.com: Successful authorization.")
    assert sent_body(httpserver) == b"{}"


def test_check_reports_refusal(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/v2/auth").respond_with_json(refused("Authorization failed"))
    with pytest.raises(ProviderRejected) as info:
        make(httpserver).check()
    assert info.value.provider_message == "Authorization failed"


# Configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email", ["test", "test@test", "test@test.c", ".a@test.com", "a..b@test.com", "a b@test.com"]
)
def test_email_must_be_an_email(email: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        SmsAeroConnector({**BASE_CONFIG, "email": email})
    assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.email"


# Security check 36: an answer that repeats the request ------------------------------------

ECHO_KEY = "aero-key-4b9e1f27c3"


@pytest.mark.parametrize("part", PARTS)
def test_a_200_refusal_repeating_the_request_leaks_nothing(
    make_app: AppFactory, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture, part: str
) -> None:
    """SMS Aero also refuses with HTTP 200 and ``success: false`` (the contract's check
    covers its 4xx refusals)."""
    status = 200

    def refuse(request: Request) -> Response:
        text = "Validation error. " + echo_of(request, part, request.get_json()["number"])
        return Response(json.dumps(refused(text)), status, mimetype="application/json")

    httpserver.expect_request(SEND_PATH, method="POST").respond_with_handler(refuse)
    assert_nothing_leaks(
        make_app,
        httpserver,
        caplog,
        connector="smsaero",
        config={**BASE_CONFIG, "apiKey": ECHO_KEY, "endpoint": origin(httpserver)},
        secrets=[ECHO_KEY],
        kept=["Validation error."],
    )
