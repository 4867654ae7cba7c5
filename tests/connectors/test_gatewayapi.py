"""GatewayAPI connector against a local fake (providers.md §2.3, §4, §7.3)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flask_sms_otp import (
    ProviderRejected,
    SmsMessage,
)
from flask_sms_otp.connectors.gatewayapi import DEFAULT_ENDPOINT, GatewayApiConnector

from .contract import HttpConnectorContract, TemplatesContract

PATH = "/rest/mtsms"
#: §7.3: Basic base64("api-token:")
AUTH = "Basic YXBpLXRva2VuOg=="
TEMPLATES = [
    {"usageType": "SignIn", "content": "Your sign-in code is {{code}}."},
    {"usageType": "Register", "content": "Your sign-up code is {{code}}."},
    {"usageType": "ForgotPassword", "content": "Your reset code is {{code}}."},
    {"usageType": "Generic", "content": "Code {{ code }}, valid {{minutes}} min."},
]
MESSAGE = SmsMessage(to="+8613800138000", usage="SignIn", code="123456", variables={"minutes": 10})


def config(endpoint: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "endpoint": endpoint,
        "apiToken": "api-token",
        "sender": "ExampleSMS",
        "templates": TEMPLATES,
    }
    base.update(overrides)
    return base


@pytest.fixture
def connector(httpserver: HTTPServer) -> Iterator[GatewayApiConnector]:
    made = GatewayApiConnector(config(httpserver.url_for(PATH)), sleep=lambda s: None)
    yield made
    made.close()


def only_request_body(httpserver: HTTPServer) -> bytes:
    assert len(httpserver.log) == 1
    data: bytes = httpserver.log[0][0].get_data()
    return data


# The contract every HTTP connector keeps ------------------------------------------------


class TestContract(HttpConnectorContract, TemplatesContract):
    connector_class = GatewayApiConnector
    send_path = PATH
    message_id = "421332671"
    refusal_code = "0x0216"
    required_strings = ("apiToken", "sender")
    secret_field = "apiToken"
    bad_endpoints = (
        "gatewayapi.com/rest/mtsms",
        "ftp://gatewayapi.com/rest/mtsms",
        "https://",
        42,
    )
    template_field = "content"

    def config(self, endpoint: str) -> dict[str, Any]:
        return config(endpoint)

    def endpoint(self, origin: str) -> str:
        return origin + PATH  # the full URL, as Logto's key holds it

    def accept(self, request: Request) -> Response:
        answer = {"ids": [421332671], "usage": {"total_cost": 0.1}}
        return Response(json.dumps(answer), 200, mimetype="application/json")

    def refuse(self, request: Request, status: int, text: str) -> Response:
        # GatewayAPI puts the specifics in variables, filled into %1, %2... of its message.
        answer = {
            "code": "0x0216",
            "message": "%1",
            "variables": [text],
            "incident_uuid": "f2a4c9f0-27b5-4d0e-9d31-0c6f2b6a8e11",
        }
        return Response(json.dumps(answer), status, mimetype="application/json")

    def recipient(self, request: Request) -> str:
        return str(request.get_json()["recipients"][0]["msisdn"])

    def assert_sent_code(self, request: Request, phone: str) -> None:
        assert request.headers["Authorization"] == AUTH
        body = request.get_json()
        assert body["sender"] == "ExampleSMS"
        assert re.fullmatch(r"Code \d{6}, valid \d+ min\.", body["message"])


# Request shape ------------------------------------------------------------------------


def test_sends_logto_request(httpserver: HTTPServer, connector: GatewayApiConnector) -> None:
    httpserver.expect_oneshot_request(
        PATH,
        method="POST",
        headers={"Authorization": AUTH, "Content-Type": "application/json"},
    ).respond_with_json({"ids": [421332671], "usage": {"total_cost": 0.1}})

    result = connector.send(MESSAGE)

    assert only_request_body(httpserver) == (
        b'{"sender":"ExampleSMS","message":"Your sign-in code is 123456.",'
        b'"recipients":[{"msisdn":"8613800138000"}]}'
    )
    httpserver.check_assertions()
    assert result.connector == "gatewayapi"
    assert result.message_id == "421332671"


def test_msisdn_is_a_digit_string_for_any_country(
    httpserver: HTTPServer, connector: GatewayApiConnector
) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_json({"ids": [1]})
    connector.send(SmsMessage(to="+12015550123", usage="Register", code="000111"))
    body = json.loads(only_request_body(httpserver))
    assert body["recipients"] == [{"msisdn": "12015550123"}]
    assert body["message"] == "Your sign-up code is 000111."


def test_other_usage_falls_back_to_generic(
    httpserver: HTTPServer, connector: GatewayApiConnector
) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_json({"ids": [1]})
    connector.send(
        SmsMessage(
            to="+4512345678", usage="MfaVerification", code="654321", variables={"minutes": 5}
        )
    )
    assert json.loads(only_request_body(httpserver))["message"] == "Code 654321, valid 5 min."


def test_non_ascii_is_sent_as_utf8(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_json({"ids": [7]})
    templates = [{**t, "content": "Din kode er {{code}} – æøå"} for t in TEMPLATES]
    made = GatewayApiConnector(
        config(httpserver.url_for(PATH), sender="Bjørn", templates=templates)
    )
    made.send(MESSAGE)
    made.close()
    assert (
        only_request_body(httpserver)
        == (
            '{"sender":"Bjørn","message":"Din kode er 123456 – æøå",'
            '"recipients":[{"msisdn":"8613800138000"}]}'
        ).encode()
    )


def test_success_without_json_body_has_no_message_id(
    httpserver: HTTPServer, connector: GatewayApiConnector
) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data("OK", status=202)
    assert connector.send(MESSAGE).message_id is None


# Failures -----------------------------------------------------------------------------


def test_error_json_gives_code_and_message(
    httpserver: HTTPServer, connector: GatewayApiConnector
) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_json(
        {
            "code": "0x0213",
            "incident_uuid": "2d8ba7ef-7b0a-4bb4-9c71-d0bd8e1f8a55",
            "message": "Unauthorized",
            "variables": [],
        },
        status=401,
    )
    with pytest.raises(ProviderRejected) as info:
        connector.send(MESSAGE)
    error = info.value
    assert error.status_code == 401
    assert error.provider_code == "0x0213"
    assert error.provider_message == "Unauthorized"
    assert error.connector == "gatewayapi"
    assert not error.retryable
    assert "provider code 0x0213" in error.describe()


def test_error_message_variables_are_filled(
    httpserver: HTTPServer, connector: GatewayApiConnector
) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_json(
        {
            "code": "0x0308",
            "incident_uuid": "x",
            "message": "Invalid value %1 for %2 (%3 stays)",
            "variables": ["abc", "sender"],
        },
        status=422,
    )
    with pytest.raises(ProviderRejected) as info:
        connector.send(MESSAGE)
    assert info.value.provider_message == "Invalid value abc for sender (%3 stays)"
    assert info.value.provider_code == "0x0308"


def test_non_json_error_keeps_raw_body(
    httpserver: HTTPServer, connector: GatewayApiConnector
) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data(
        "Bad request:\n  no recipients", status=400, content_type="text/plain"
    )
    with pytest.raises(ProviderRejected) as info:
        connector.send(MESSAGE)
    assert info.value.provider_code is None
    assert info.value.provider_message == "Bad request: no recipients"
    assert info.value.status_code == 400


# Config -------------------------------------------------------------------------------


def test_endpoint_defaults_to_logto_default() -> None:
    cfg = config("")
    del cfg["endpoint"]
    assert GatewayApiConnector(cfg).endpoint == DEFAULT_ENDPOINT
    assert GatewayApiConnector(config("")).endpoint == DEFAULT_ENDPOINT


def test_endpoint_is_used_as_full_url() -> None:
    made = GatewayApiConnector(config("https://gatewayapi.eu/rest/mtsms"))
    assert made.endpoint == "https://gatewayapi.eu/rest/mtsms"


# Secrets ------------------------------------------------------------------------------


def test_echoed_auth_header_is_redacted(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data(
        f"proxy refused Authorization: {AUTH}", status=407
    )
    made = GatewayApiConnector(config(httpserver.url_for(PATH)))
    with pytest.raises(ProviderRejected) as info:
        made.send(MESSAGE)
    assert info.value.provider_message == "proxy refused Authorization: Basic [redacted]"
