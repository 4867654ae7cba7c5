"""HTTP SMS connector against a local fake endpoint (providers.md §2.7, §4)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flask_sms_otp import (
    ConfigurationError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    SmsMessage,
)
from flask_sms_otp.connectors.http import HttpSmsConnector

from ..conftest import AppFactory
from .echoes import PARTS, assert_nothing_leaks, echo_of

PATH = "/hooks/sms"
MESSAGE = SmsMessage(to="+8613800138000", usage="SignIn", code="123456", variables={"minutes": 10})


def config(endpoint: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"endpoint": endpoint, "authorization": "Bearer xyz"}
    base.update(overrides)
    return base


@pytest.fixture
def connector(httpserver: HTTPServer) -> Iterator[HttpSmsConnector]:
    made = HttpSmsConnector(config(httpserver.url_for(PATH)), sleep=lambda s: None)
    yield made
    made.close()


def only_request(httpserver: HTTPServer) -> Any:
    assert len(httpserver.log) == 1
    return httpserver.log[0][0]


# Request shape ------------------------------------------------------------------------


def test_posts_logto_body(httpserver: HTTPServer, connector: HttpSmsConnector) -> None:
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
    httpserver: HTTPServer, connector: HttpSmsConnector
) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_json({"ok": True})
    connector.send(SmsMessage(to="+12015550123", usage="Register", code="000111"))
    body = json.loads(only_request(httpserver).get_data())
    assert body == {"to": "12015550123", "type": "Register", "payload": {"code": "000111"}}


def test_client_ip_is_forwarded(httpserver: HTTPServer, connector: HttpSmsConnector) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data("")
    connector.send(
        SmsMessage(to="+4512345678", usage="BindMfa", code="654321", client_ip="192.168.1.100")
    )
    assert only_request(httpserver).get_data() == (
        b'{"to":"4512345678","type":"BindMfa","payload":{"code":"654321"},"ip":"192.168.1.100"}'
    )


@pytest.mark.parametrize("client_ip", [None, ""])
def test_no_ip_key_without_client_ip(
    httpserver: HTTPServer, connector: HttpSmsConnector, client_ip: str | None
) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data("")
    connector.send(SmsMessage(to="+4512345678", usage="SignIn", code="1", client_ip=client_ip))
    assert "ip" not in json.loads(only_request(httpserver).get_data())


def test_no_authorization_header_when_not_configured(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data("")
    made = HttpSmsConnector({"endpoint": httpserver.url_for(PATH)})
    made.send(MESSAGE)
    made.close()
    request = only_request(httpserver)
    assert "Authorization" not in request.headers
    assert request.headers["Content-Type"] == "application/json"


def test_payload_code_is_the_code_and_comes_first(
    httpserver: HTTPServer, connector: HttpSmsConnector
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
    httpserver: HTTPServer, connector: HttpSmsConnector
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
    made = HttpSmsConnector({"endpoint": httpserver.url_for(PATH) + "?tenant=a%20b"})
    made.send(MESSAGE)
    made.close()
    httpserver.check_assertions()


def test_non_ascii_is_sent_as_utf8(httpserver: HTTPServer, connector: HttpSmsConnector) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data("")
    connector.send(
        SmsMessage(to="+4512345678", usage="SignIn", code="1", variables={"name": "Bjørn"})
    )
    assert '"name":"Bjørn"'.encode() in only_request(httpserver).get_data()


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_is_success_whatever_the_body(
    httpserver: HTTPServer, connector: HttpSmsConnector, status: int
) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_json(
        {"success": False}, status=status
    )
    assert connector.send(MESSAGE).connector == "http"


# Failures -----------------------------------------------------------------------------


def test_client_error_is_rejected_with_raw_body(
    httpserver: HTTPServer, connector: HttpSmsConnector
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
    httpserver: HTTPServer, connector: HttpSmsConnector
) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data("", status=403)
    with pytest.raises(ProviderRejected, match="FORBIDDEN") as info:
        connector.send(MESSAGE)
    assert info.value.provider_message is None


def test_redirect_is_not_followed(httpserver: HTTPServer, connector: HttpSmsConnector) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data(
        "", status=302, headers={"Location": "/elsewhere"}
    )
    with pytest.raises(ProviderRejected):
        connector.send(MESSAGE)
    assert len(httpserver.log) == 1


def test_rate_limit_is_typed(httpserver: HTTPServer, connector: HttpSmsConnector) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_data(
        "too many", status=429, headers={"Retry-After": "30"}
    )
    with pytest.raises(ProviderRateLimited) as info:
        connector.send(MESSAGE)
    assert info.value.retry_after == 30.0
    assert info.value.provider_message == "too many"
    assert len(httpserver.log) == 1  # a wait over max_retry_wait is not slept through


def test_server_error_is_unavailable_and_not_retried(
    httpserver: HTTPServer, connector: HttpSmsConnector
) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_data("boom", status=500)
    with pytest.raises(ProviderUnavailable) as info:
        connector.send(MESSAGE)
    assert info.value.status_code == 500
    assert info.value.provider_message == "boom"
    assert len(httpserver.log) == 1


def test_503_is_retried_then_succeeds(httpserver: HTTPServer, connector: HttpSmsConnector) -> None:
    httpserver.expect_ordered_request(PATH, method="POST").respond_with_data("", status=503)
    httpserver.expect_ordered_request(PATH, method="POST").respond_with_data("", status=200)
    connector.send(MESSAGE)
    assert len(httpserver.log) == 2


def test_timeout_is_unavailable_and_not_retried() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("timed out", request=request)

    made = HttpSmsConnector(
        config("https://sms.example/hook"),
        transport=httpx.MockTransport(handler),
        sleep=lambda s: None,
    )
    with pytest.raises(ProviderUnavailable, match="did not answer in time"):
        made.send(MESSAGE)
    assert len(calls) == 1


def test_connection_refused_is_unavailable() -> None:
    made = HttpSmsConnector(config("http://127.0.0.1:9/hook"), sleep=lambda s: None)
    with pytest.raises(ProviderUnavailable, match="cannot connect"):
        made.send(MESSAGE)


# Config -------------------------------------------------------------------------------


def test_missing_endpoint_is_named() -> None:
    with pytest.raises(ConfigurationError) as info:
        HttpSmsConnector({"authorization": "Bearer xyz"})
    assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.endpoint"


@pytest.mark.parametrize(
    "endpoint", ["example.com/hook", "ftp://example.com/hook", "http://", "/hook", 42]
)
def test_bad_endpoint_is_rejected(endpoint: object) -> None:
    with pytest.raises(ConfigurationError) as info:
        HttpSmsConnector({"endpoint": endpoint})
    assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.endpoint"


def test_authorization_must_be_a_string() -> None:
    with pytest.raises(ConfigurationError) as info:
        HttpSmsConnector({"endpoint": "https://sms.example/hook", "authorization": 123})
    assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.authorization"


def test_empty_authorization_means_none(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data("")
    made = HttpSmsConnector({"endpoint": httpserver.url_for(PATH), "authorization": ""})
    made.send(MESSAGE)
    made.close()
    assert "Authorization" not in only_request(httpserver).headers


# Secrets ------------------------------------------------------------------------------

SECRET = "Bearer sk-live-7f3a9c2e"


def test_secret_stays_out_of_repr_and_errors(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data(
        f"bad header {SECRET}; token sk-live-7f3a9c2e unknown", status=401
    )
    made = HttpSmsConnector(config(httpserver.url_for(PATH), authorization=SECRET))
    assert "sk-live" not in repr(made)
    with pytest.raises(ProviderRejected) as info:
        made.send(MESSAGE)
    for text in (str(info.value), info.value.describe(), repr(info.value)):
        assert "sk-live" not in text
    assert info.value.provider_message == "bad header [redacted]; token [redacted] unknown"


# CLI end to end -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "to"), [("+8613800138000", "8613800138000"), ("+12015550123", "12015550123")]
)
def test_cli_send_test(httpserver: HTTPServer, make_app: AppFactory, phone: str, to: str) -> None:
    httpserver.expect_oneshot_request(
        PATH, method="POST", headers={"Authorization": "Bearer xyz"}
    ).respond_with_data("", status=204)
    app = make_app(
        SMS_OTP_CONNECTOR="http", SMS_OTP_CONNECTOR_CONFIG=config(httpserver.url_for(PATH))
    )
    result = app.test_cli_runner().invoke(args=["sms-otp", "send-test", phone])
    assert result.exit_code == 0, result.output
    assert "via http" in result.output
    body = json.loads(only_request(httpserver).get_data())
    assert body["to"] == to
    assert body["type"] == "Generic"
    assert re.fullmatch(r"\d{6}", body["payload"]["code"])
    assert "ip" not in body


def test_cli_send_test_failure_names_reason(httpserver: HTTPServer, make_app: AppFactory) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data(
        "recipient opted out", status=400
    )
    app = make_app(
        SMS_OTP_CONNECTOR="http", SMS_OTP_CONNECTOR_CONFIG=config(httpserver.url_for(PATH))
    )
    result = app.test_cli_runner().invoke(args=["sms-otp", "send-test", "+8613800138000"])
    assert result.exit_code != 0
    assert "recipient opted out" in result.output
    assert len(httpserver.log) == 1


# Security check 36: an answer that repeats the request ----------------------------------

ECHO_AUTHORIZATION = "Bearer hook-9f3b27c1d4e8"


@pytest.mark.parametrize("part", PARTS)
def test_an_answer_repeating_the_request_leaks_nothing(
    make_app: AppFactory, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture, part: str
) -> None:
    def refuse(request: Request) -> Response:
        return Response(
            "refused: " + echo_of(request, part, request.get_json()["to"]),
            422,
            mimetype="text/plain",
        )

    httpserver.expect_request(PATH, method="POST").respond_with_handler(refuse)
    assert_nothing_leaks(
        make_app,
        httpserver,
        caplog,
        connector="http",
        config=config(httpserver.url_for(PATH), authorization=ECHO_AUTHORIZATION),
        secrets=[ECHO_AUTHORIZATION],
        kept=["refused:", "HTTP 422"],
    )
