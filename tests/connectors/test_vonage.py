"""Vonage connector against a local fake of the SMS API (providers.md §2.4)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flask_sms_otp import (
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from flask_sms_otp.connectors.base import SmsMessage
from flask_sms_otp.connectors.vonage import VonageConnector

from ..helpers import AppFactory
from .contract import HttpConnectorContract, TemplatesContract
from .echoes import assert_nothing_leaks, echo_of

# Vonage's SMS API takes the key and secret in the JSON body (Logto's locked SDK), so there
# is no Authorization header to compare with providers.md §7.3. Only the balance check uses
# Basic auth: base64("api-key:api-secret").
BALANCE_BASIC_AUTH = "Basic YXBpLWtleTphcGktc2VjcmV0"
SEND_PATH = "/sms/json"

TEMPLATES = [
    {"usageType": "Generic", "content": "Your code is {{code}}."},
    {"usageType": "SignIn", "content": "Sign-in code: {{code}}"},
    {"usageType": "Register", "content": "Sign-up code: {{code}}"},
    {"usageType": "ForgotPassword", "content": "Password code: {{code}}"},
]
BASE_CONFIG: dict[str, Any] = {
    "apiKey": "api-key",
    "apiSecret": "api-secret",
    "brandName": "Acme",
    "templates": TEMPLATES,
}


def origin(httpserver: HTTPServer) -> str:
    return str(httpserver.url_for("/")).rstrip("/")


def make(httpserver: HTTPServer, **overrides: Any) -> VonageConnector:
    config = {**BASE_CONFIG, "endpoint": origin(httpserver), **overrides}
    return VonageConnector(config, sleep=lambda s: None)


def message(to: str = "+447700900000", usage: str = "Generic", code: str = "123456") -> SmsMessage:
    return SmsMessage(to=to, usage=usage, code=code)


def expect_send(httpserver: HTTPServer) -> Any:
    return httpserver.expect_oneshot_request(
        SEND_PATH, method="POST", headers={"Content-Type": "application/json"}
    )


def accepted(*ids: str) -> dict[str, Any]:
    parts = [
        {
            "to": "447700900000",
            "message-id": mid,
            "status": "0",
            "remaining-balance": "15.53590000",
            "message-price": "0.03330000",
            "network": "23410",
        }
        for mid in ids or ("0C000000217B7F02",)
    ]
    return {"message-count": str(len(parts)), "messages": parts}


def refused(status: str, text: str) -> dict[str, Any]:
    return {"message-count": "1", "messages": [{"status": status, "error-text": text}]}


def sent_body(httpserver: HTTPServer, index: int = 0) -> bytes:
    data: bytes = httpserver.log[index][0].get_data()
    return data


# The contract every HTTP connector keeps ---------------------------------------------------


class TestContract(HttpConnectorContract, TemplatesContract):
    connector_class = VonageConnector
    send_path = SEND_PATH
    message_id = "0C000000217B7F02"
    refusal_code = "3"
    required_strings = ("apiKey", "apiSecret", "brandName")
    secret_field = "apiSecret"
    bad_endpoints = ("https://rest.nexmo.com/sms/json", "rest.nexmo.com", "https://x#frag")
    # No headers: the send carries the key and secret in its JSON body.
    echo_parts = ("raw", "fields", "number")
    template_field = "content"
    check_result = "Vonage account api-key has a balance of 10.28"

    def config(self, endpoint: str) -> dict[str, Any]:
        return {**BASE_CONFIG, "endpoint": endpoint}

    def accept(self, request: Request) -> Response:
        answer = accepted("0C000000217B7F02")
        answer["messages"][0]["to"] = request.get_json()["to"]  # Vonage repeats the number
        return Response(json.dumps(answer), 200, mimetype="application/json")

    def refuse(self, request: Request, status: int, text: str) -> Response:
        return Response(json.dumps(refused("3", text)), status, mimetype="application/json")

    def recipient(self, request: Request) -> str:
        return str(request.get_json()["to"])

    def assert_sent_code(self, request: Request, phone: str) -> None:
        body = request.get_json()
        assert body["from"] == "Acme"
        assert re.fullmatch(r"Your code is \d{6}\.", body["text"])

    def answer_check(self, request: Request) -> Response:
        assert (request.method, request.path) == ("GET", "/account/get-balance")
        assert request.headers["Authorization"] == BALANCE_BASIC_AUTH
        return Response(json.dumps({"value": 10.28, "autoReload": False}), 200)


# Request shape ---------------------------------------------------------------------------


def test_send_posts_the_exact_json_and_returns_the_message_id(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_json(accepted())
    result = make(httpserver).send(message())
    assert result.connector == "vonage"
    assert result.message_id == "0C000000217B7F02"
    assert len(httpserver.log) == 1
    request = httpserver.log[0][0]
    assert (request.method, request.path) == ("POST", SEND_PATH)
    assert request.headers["Content-Type"] == "application/json"
    assert "Authorization" not in request.headers
    # The SDK's body: from, to, text, then the credentials; digits without "+".
    assert sent_body(httpserver) == (
        b'{"from":"Acme","to":"447700900000","text":"Your code is 123456.",'
        b'"api_key":"api-key","api_secret":"api-secret"}'
    )


def test_non_ascii_text_is_sent_as_utf8_json(httpserver: HTTPServer) -> None:
    templates = [{**t, "content": "Ваш код {{code}}"} for t in TEMPLATES]
    expect_send(httpserver).respond_with_json(accepted())
    make(httpserver, templates=templates).send(message())
    body = sent_body(httpserver)
    assert "Ваш код 123456".encode() in body
    assert json.loads(body)["text"] == "Ваш код 123456"


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ("ForgotPassword", "Password code: 111222"),
        ("MfaVerification", "Your code is 111222."),  # Generic fallback
    ],
)
def test_template_by_usage_then_generic(httpserver: HTTPServer, usage: str, expected: str) -> None:
    expect_send(httpserver).respond_with_json(accepted())
    make(httpserver).send(message(usage=usage, code="111222"))
    assert json.loads(sent_body(httpserver))["text"] == expected


def test_multipart_answer_is_accepted_when_every_part_is(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_json(accepted("PART-1", "PART-2"))
    assert make(httpserver).send(message()).message_id == "PART-1"


def test_default_endpoint_is_vonage() -> None:
    assert VonageConnector(BASE_CONFIG).send_url == "https://rest.nexmo.com/sms/json"


# Failure shapes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "text"),
    [
        ("2", "Missing to param"),
        ("3", "Invalid from param"),
        ("4", "Bad Credentials"),
        ("6", "Unroutable message - rejected"),
        ("9", "Quota Exceeded - rejected"),
        ("29", "Non White-listed Destination - rejected"),
    ],
)
def test_refused_message_carries_error_text_and_status(
    httpserver: HTTPServer, status: str, text: str
) -> None:
    expect_send(httpserver).respond_with_json(refused(status, text))
    with pytest.raises(ProviderRejected) as info:
        make(httpserver).send(message())
    error = info.value
    assert type(error) is ProviderRejected
    assert (error.status_code, error.provider_code, error.provider_message) == (200, status, text)
    assert text in str(error)
    assert f"provider code {status}" in error.describe()
    assert not error.retryable


def test_status_1_throttled_is_rate_limited(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_json(refused("1", "Throughput Rate Exceeded"))
    with pytest.raises(ProviderRateLimited) as info:
        make(httpserver).send(message())
    assert (info.value.provider_code, info.value.provider_message) == (
        "1",
        "Throughput Rate Exceeded",
    )
    assert info.value.retryable
    assert len(httpserver.log) == 1  # an HTTP 200 is never retried


def test_status_5_internal_error_is_unavailable(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_json(refused("5", "Internal Error"))
    with pytest.raises(ProviderUnavailable) as info:
        make(httpserver).send(message())
    assert (info.value.provider_code, info.value.provider_message) == ("5", "Internal Error")


def test_numeric_status_is_read_as_its_string(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_json(
        {"messages": [{"status": 0, "message-id": "ID-1"}], "message-count": "1"}
    )
    assert make(httpserver).send(message()).message_id == "ID-1"


def test_partial_failure_is_a_failure(httpserver: HTTPServer) -> None:
    body = accepted("PART-1")
    body["messages"].append({"status": "3", "error-text": "Invalid message"})
    expect_send(httpserver).respond_with_json(body)
    with pytest.raises(ProviderRejected) as info:
        make(httpserver).send(message())
    assert info.value.provider_code == "3"


def test_refusal_without_error_text_names_the_status(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_json({"messages": [{"status": "7"}]})
    with pytest.raises(ProviderRejected) as info:
        make(httpserver).send(message())
    assert info.value.provider_message is None
    assert "status 7" in str(info.value)


@pytest.mark.parametrize("body", [{}, {"messages": []}, {"messages": "x"}, []])
def test_answer_without_messages_is_an_error(httpserver: HTTPServer, body: Any) -> None:
    expect_send(httpserver).respond_with_json(body)
    with pytest.raises(ProviderUnavailable, match="no messages"):
        make(httpserver).send(message())


def test_non_json_2xx_is_an_error(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_data("OK", status=200)
    with pytest.raises(ProviderUnavailable, match="not JSON"):
        make(httpserver).send(message())


def test_http_401_problem_json_is_rejected(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_json(
        {
            "type": "https://developer.vonage.com/api-errors#unauthorized",
            "title": "Unauthorized",
            "detail": "You did not provide correct credentials.",
        },
        status=401,
    )
    with pytest.raises(ProviderRejected) as info:
        make(httpserver).send(message())
    assert info.value.status_code == 401
    assert info.value.provider_message == (
        "Unauthorized - You did not provide correct credentials."
    )


def test_http_error_with_sms_shape_keeps_status_and_text(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_json(refused("4", "Bad Credentials"), status=401)
    with pytest.raises(ProviderRejected) as info:
        make(httpserver).send(message())
    assert (info.value.status_code, info.value.provider_code) == (401, "4")
    assert info.value.provider_message == "Bad Credentials"


def test_http_5xx_is_unavailable(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_data("<h1>Bad Gateway</h1>", status=502)
    with pytest.raises(ProviderUnavailable) as info:
        make(httpserver).send(message())
    assert (info.value.status_code, info.value.provider_message) == (502, "<h1>Bad Gateway</h1>")


# Provider check --------------------------------------------------------------------------


def test_check_reads_the_balance_without_sending(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(
        "/account/get-balance", method="GET", headers={"Authorization": BALANCE_BASIC_AUTH}
    ).respond_with_json({"value": 10.28, "autoReload": False})
    assert make(httpserver).check() == "Vonage account api-key has a balance of 10.28"
    request = httpserver.log[0][0]
    assert "api-secret" not in request.url


def test_check_reports_bad_credentials(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/account/get-balance").respond_with_json(
        {"title": "Unauthorized"}, status=401
    )
    with pytest.raises(ProviderRejected):
        make(httpserver).check()


# Configuration ---------------------------------------------------------------------------


# Secrets ---------------------------------------------------------------------------------


def test_repr_and_errors_hide_the_secret(httpserver: HTTPServer) -> None:
    connector = make(httpserver)
    assert "api-secret" not in repr(connector)
    expect_send(httpserver).respond_with_json(refused("4", "Bad Credentials for api-secret"))
    with pytest.raises(ProviderRejected) as info:
        connector.send(message())
    for text in (str(info.value), info.value.describe(), repr(info.value)):
        assert "api-secret" not in text
    assert info.value.provider_message == "Bad Credentials for [redacted]"


# Security check 36: an answer that repeats the request ------------------------------------

ECHO_SECRET = "vn-secret-0e5a93d1f8"


@pytest.mark.parametrize("part", TestContract.echo_parts)
def test_a_200_refusal_repeating_the_request_leaks_nothing(
    make_app: AppFactory, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture, part: str
) -> None:
    """Vonage refuses with HTTP 200 and a non-zero status (the contract's check covers its
    HTTP errors)."""

    def refuse(request: Request) -> Response:
        text = "Invalid Message: " + echo_of(request, part, request.get_json()["to"])
        return Response(json.dumps(refused("3", text)), 200, mimetype="application/json")

    httpserver.expect_request(SEND_PATH, method="POST").respond_with_handler(refuse)
    assert_nothing_leaks(
        make_app,
        httpserver,
        caplog,
        connector="vonage",
        config={**BASE_CONFIG, "apiSecret": ECHO_SECRET, "endpoint": origin(httpserver)},
        secrets=[ECHO_SECRET],
        kept=["Invalid Message:", "provider code 3"],
    )
