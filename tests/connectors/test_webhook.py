"""The webhook connector (config name ``http``, Logto's HTTP SMS) against a local fake
endpoint (providers.md §2.7, §4)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flask_sms_otp import (
    ConfigurationError,
    ProviderRejected,
    SmsMessage,
)
from flask_sms_otp.connectors.webhook import WebhookConnector

from .contract import HttpConnectorContract

PATH = "/hooks/sms"
MESSAGE = SmsMessage(to="+8613800138000", usage="SignIn", code="123456", variables={"minutes": 10})


def config(endpoint: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"endpoint": endpoint, "authorization": "Bearer xyz"}
    base.update(overrides)
    return base


@pytest.fixture
def connector(httpserver: HTTPServer) -> Iterator[WebhookConnector]:
    made = WebhookConnector(config(httpserver.url_for(PATH)), sleep=lambda s: None)
    yield made
    made.close()


def only_request(httpserver: HTTPServer) -> Any:
    assert len(httpserver.log) == 1
    return httpserver.log[0][0]


# The contract every HTTP connector keeps ------------------------------------------------


class TestContract(HttpConnectorContract):
    connector_class = WebhookConnector
    send_path = PATH
    message_id = None  # any 2xx is success; the endpoint's answer is not read
    refusal_code = None  # the endpoint's error body has no fixed shape
    required_strings = ("endpoint",)
    secret_field = "authorization"
    bad_endpoints = ("example.com/hook", "ftp://example.com/hook", "http://", "/hook", 42)

    def config(self, endpoint: str) -> dict[str, Any]:
        return config(endpoint)

    def endpoint(self, origin: str) -> str:
        return origin + PATH  # the full URL, as Logto's key holds it

    def accept(self, request: Request) -> Response:
        return Response("", 204)

    def refuse(self, request: Request, status: int, text: str) -> Response:
        return Response(text, status, mimetype="text/plain")

    def recipient(self, request: Request) -> str:
        return str(request.get_json()["to"])

    def assert_sent_code(self, request: Request, phone: str) -> None:
        assert request.headers["Authorization"] == "Bearer xyz"
        body = request.get_json()
        assert body["type"] == "Generic"
        assert re.fullmatch(r"\d{6}", body["payload"]["code"])
        assert "ip" not in body


# Request shape ------------------------------------------------------------------------


def test_posts_logto_body(httpserver: HTTPServer, connector: WebhookConnector) -> None:
    httpserver.expect_oneshot_request(
        PATH,
        method="POST",
        headers={"Authorization": "Bearer xyz", "Content-Type": "application/json"},
    ).respond_with_data("", status=204)

    result = connector.send(MESSAGE)

    httpserver.check_assertions()
    assert only_request(httpserver).get_data() == (
        b'{"to":"8613800138000","type":"SignIn","payload":{"code":"123456","minutes":10}}'
    )
    assert result.connector == "http"
    assert result.message_id is None


def test_to_is_logto_digits_for_any_country(
    httpserver: HTTPServer, connector: WebhookConnector
) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_json({"ok": True})
    connector.send(SmsMessage(to="+12015550123", usage="Register", code="000111"))
    body = json.loads(only_request(httpserver).get_data())
    assert body == {"to": "12015550123", "type": "Register", "payload": {"code": "000111"}}


def test_client_ip_is_forwarded(httpserver: HTTPServer, connector: WebhookConnector) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data("")
    connector.send(
        SmsMessage(to="+4512345678", usage="BindMfa", code="654321", client_ip="192.168.1.100")
    )
    assert only_request(httpserver).get_data() == (
        b'{"to":"4512345678","type":"BindMfa","payload":{"code":"654321"},"ip":"192.168.1.100"}'
    )


@pytest.mark.parametrize("client_ip", [None, ""])
def test_no_ip_key_without_client_ip(
    httpserver: HTTPServer, connector: WebhookConnector, client_ip: str | None
) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data("")
    connector.send(SmsMessage(to="+4512345678", usage="SignIn", code="1", client_ip=client_ip))
    assert "ip" not in json.loads(only_request(httpserver).get_data())


def test_no_authorization_header_when_not_configured(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data("")
    made = WebhookConnector({"endpoint": httpserver.url_for(PATH)})
    made.send(MESSAGE)
    made.close()
    request = only_request(httpserver)
    assert "Authorization" not in request.headers
    assert request.headers["Content-Type"] == "application/json"


def test_payload_code_is_the_code_and_comes_first(
    httpserver: HTTPServer, connector: WebhookConnector
) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data("")
    connector.send(
        SmsMessage(
            to="+4512345678",
            usage="SignIn",
            code="123456",
            variables={"minutes": 5, "code": "spoofed", "locale": "da"},
        )
    )
    assert only_request(httpserver).get_data() == (
        b'{"to":"4512345678","type":"SignIn","payload":{"code":"123456","minutes":5,"locale":"da"}}'
    )


def test_payload_carries_the_message_locale_after_the_code(
    httpserver: HTTPServer, connector: WebhookConnector
) -> None:
    """As Logto's payload ``{code, locale}``; the message's own locale wins over a variable."""
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data("")
    connector.send(
        SmsMessage(
            to="+8613800138000",
            usage="SignIn",
            code="123456",
            variables={"minutes": 10, "locale": "en"},
            locale="zh-Hans-CN",
        )
    )
    sent = only_request(httpserver).get_data()
    assert json.loads(sent) == {
        "to": "8613800138000",
        "type": "SignIn",
        "payload": {"code": "123456", "locale": "zh-Hans-CN", "minutes": 10},
    }
    assert sent.startswith(
        b'{"to":"8613800138000","type":"SignIn","payload":{"code":"123456","locale":"zh-Hans-CN"'
    )


def test_endpoint_query_string_is_kept(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(
        PATH, method="POST", query_string={"tenant": "a b"}
    ).respond_with_data("")
    made = WebhookConnector({"endpoint": httpserver.url_for(PATH) + "?tenant=a%20b"})
    made.send(MESSAGE)
    made.close()
    httpserver.check_assertions()


def test_non_ascii_is_sent_as_utf8(httpserver: HTTPServer, connector: WebhookConnector) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data("")
    connector.send(
        SmsMessage(to="+4512345678", usage="SignIn", code="1", variables={"name": "Bjørn"})
    )
    assert '"name":"Bjørn"'.encode() in only_request(httpserver).get_data()


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_is_success_whatever_the_body(
    httpserver: HTTPServer, connector: WebhookConnector, status: int
) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_json(
        {"success": False}, status=status
    )
    assert connector.send(MESSAGE).connector == "http"


# Failures -----------------------------------------------------------------------------


def test_client_error_is_rejected_with_raw_body(
    httpserver: HTTPServer, connector: WebhookConnector
) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data(
        '{"error": "number blocked"}', status=422, content_type="application/json"
    )
    with pytest.raises(ProviderRejected) as info:
        connector.send(MESSAGE)
    assert info.value.status_code == 422
    assert info.value.provider_code is None
    assert info.value.provider_message == '{"error": "number blocked"}'
    assert not info.value.retryable
    assert "number blocked" in info.value.describe()


def test_empty_error_body_uses_the_status(
    httpserver: HTTPServer, connector: WebhookConnector
) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data("", status=403)
    with pytest.raises(ProviderRejected, match="FORBIDDEN") as info:
        connector.send(MESSAGE)
    assert info.value.provider_message is None


# Config -------------------------------------------------------------------------------


def test_authorization_must_be_a_string() -> None:
    with pytest.raises(ConfigurationError) as info:
        WebhookConnector({"endpoint": "https://sms.example/hook", "authorization": 123})
    assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.authorization"


def test_empty_authorization_means_none(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data("")
    made = WebhookConnector({"endpoint": httpserver.url_for(PATH), "authorization": ""})
    made.send(MESSAGE)
    made.close()
    assert "Authorization" not in only_request(httpserver).headers


# Secrets ------------------------------------------------------------------------------

SECRET = "Bearer sk-live-7f3a9c2e"


def test_secret_stays_out_of_repr_and_errors(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data(
        f"bad header {SECRET}; token sk-live-7f3a9c2e unknown", status=401
    )
    made = WebhookConnector(config(httpserver.url_for(PATH), authorization=SECRET))
    assert "sk-live" not in repr(made)
    with pytest.raises(ProviderRejected) as info:
        made.send(MESSAGE)
    for text in (str(info.value), info.value.describe(), repr(info.value)):
        assert "sk-live" not in text
    assert info.value.provider_message == "bad header [redacted]; token [redacted] unknown"


# CLI end to end -----------------------------------------------------------------------


# Security check 36: an answer that repeats the request ----------------------------------
