"""GatewayAPI connector against a local fake (providers.md §2.3, §4, §7.3)."""

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
from flask_sms_otp.connectors.gatewayapi import DEFAULT_ENDPOINT, GatewayApiConnector

from ..conftest import AppFactory
from .echoes import PARTS, assert_nothing_leaks, echo_of

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


def test_rate_limit_is_typed_and_retried(
    httpserver: HTTPServer, connector: GatewayApiConnector
) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_json(
        {"code": "0x0429", "message": "Too many requests"}, status=429
    )
    with pytest.raises(ProviderRateLimited) as info:
        connector.send(MESSAGE)
    assert len(httpserver.log) == 3  # the first try plus two safe retries
    assert info.value.status_code == 429
    assert info.value.provider_message == "Too many requests"
    assert info.value.retryable


def test_rate_limit_with_long_retry_after_fails_at_once(
    httpserver: HTTPServer, connector: GatewayApiConnector
) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "60"}
    )
    with pytest.raises(ProviderRateLimited) as info:
        connector.send(MESSAGE)
    assert len(httpserver.log) == 1
    assert info.value.retry_after == 60.0
    assert info.value.provider_message == "slow down"


def test_rate_limit_then_success(httpserver: HTTPServer, connector: GatewayApiConnector) -> None:
    httpserver.expect_ordered_request(PATH, method="POST").respond_with_data("", status=429)
    httpserver.expect_ordered_request(PATH, method="POST").respond_with_json({"ids": [9]})
    assert connector.send(MESSAGE).message_id == "9"
    assert len(httpserver.log) == 2


def test_server_error_is_unavailable_and_not_retried(
    httpserver: HTTPServer, connector: GatewayApiConnector
) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_data(
        "<html>Internal Server Error</html>", status=500
    )
    with pytest.raises(ProviderUnavailable) as info:
        connector.send(MESSAGE)
    assert len(httpserver.log) == 1  # GatewayAPI may have accepted it: never sent twice
    assert info.value.status_code == 500
    assert info.value.provider_message == "<html>Internal Server Error</html>"
    assert info.value.retryable


def test_timeout_is_unavailable() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("timed out", request=request)

    made = GatewayApiConnector(
        config("https://gatewayapi.example/rest/mtsms"),
        transport=httpx.MockTransport(handler),
        sleep=lambda s: None,
    )
    with pytest.raises(ProviderUnavailable, match="did not answer in time"):
        made.send(MESSAGE)
    assert len(calls) == 1


def test_connection_refused_is_unavailable() -> None:
    made = GatewayApiConnector(config("http://127.0.0.1:9/rest/mtsms"), sleep=lambda s: None)
    with pytest.raises(ProviderUnavailable, match="cannot connect"):
        made.send(MESSAGE)


# Config -------------------------------------------------------------------------------


def test_endpoint_defaults_to_logto_default() -> None:
    cfg = config("")
    del cfg["endpoint"]
    assert GatewayApiConnector(cfg).endpoint == DEFAULT_ENDPOINT
    assert GatewayApiConnector(config("")).endpoint == DEFAULT_ENDPOINT


def test_endpoint_is_used_as_full_url() -> None:
    made = GatewayApiConnector(config("https://gatewayapi.eu/rest/mtsms"))
    assert made.endpoint == "https://gatewayapi.eu/rest/mtsms"


@pytest.mark.parametrize(
    "endpoint", ["gatewayapi.com/rest/mtsms", "ftp://gatewayapi.com/rest/mtsms", "https://", 42]
)
def test_bad_endpoint_is_rejected(endpoint: object) -> None:
    with pytest.raises(ConfigurationError) as info:
        GatewayApiConnector({**config(""), "endpoint": endpoint})
    assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.endpoint"


@pytest.mark.parametrize("field", ["apiToken", "sender", "templates"])
def test_missing_field_is_named(field: str) -> None:
    cfg = config("https://gatewayapi.com/rest/mtsms")
    del cfg[field]
    with pytest.raises(ConfigurationError) as info:
        GatewayApiConnector(cfg)
    assert info.value.key == f"SMS_OTP_CONNECTOR_CONFIG.{field}"


@pytest.mark.parametrize("field", ["apiToken", "sender"])
def test_non_string_field_is_named(field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        GatewayApiConnector(config("https://gatewayapi.com/rest/mtsms", **{field: 123}))
    assert info.value.key == f"SMS_OTP_CONNECTOR_CONFIG.{field}"


def test_missing_required_templates_are_named() -> None:
    templates = [t for t in TEMPLATES if t["usageType"] in ("SignIn", "Generic")]
    with pytest.raises(ConfigurationError) as info:
        GatewayApiConnector(config("https://gatewayapi.com/rest/mtsms", templates=templates))
    assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.templates"
    assert "Register" in info.value.problem
    assert "ForgotPassword" in info.value.problem


def test_template_without_content_is_named() -> None:
    templates = [*TEMPLATES, {"usageType": "BindMfa"}]
    with pytest.raises(ConfigurationError) as info:
        GatewayApiConnector(config("https://gatewayapi.com/rest/mtsms", templates=templates))
    assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.templates[4].content"


# Secrets ------------------------------------------------------------------------------

SECRET = "tok-SECRET-8c1f0e"


def test_secret_stays_out_of_repr_and_errors(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_json(
        {"code": "0x0213", "message": f"Unknown token {SECRET}", "variables": []}, status=403
    )
    made = GatewayApiConnector(config(httpserver.url_for(PATH), apiToken=SECRET))
    assert SECRET not in repr(made)
    with pytest.raises(ProviderRejected) as info:
        made.send(MESSAGE)
    for text in (str(info.value), info.value.describe(), repr(info.value)):
        assert SECRET not in text
    assert info.value.provider_message == "Unknown token [redacted]"


def test_echoed_auth_header_is_redacted(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data(
        f"proxy refused Authorization: {AUTH}", status=407
    )
    made = GatewayApiConnector(config(httpserver.url_for(PATH)))
    with pytest.raises(ProviderRejected) as info:
        made.send(MESSAGE)
    assert info.value.provider_message == "proxy refused Authorization: Basic [redacted]"


def test_secret_stays_out_of_config_errors() -> None:
    with pytest.raises(ConfigurationError) as info:
        GatewayApiConnector(config("https://gatewayapi.com/rest/mtsms", apiToken=SECRET, sender=""))
    assert SECRET not in str(info.value)


# CLI end to end -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "msisdn"), [("+8613800138000", "8613800138000"), ("+12015550123", "12015550123")]
)
def test_cli_send_test(
    httpserver: HTTPServer, make_app: AppFactory, phone: str, msisdn: str
) -> None:
    httpserver.expect_oneshot_request(
        PATH, method="POST", headers={"Authorization": AUTH}
    ).respond_with_json({"ids": [12345]})
    app = make_app(
        SMS_OTP_CONNECTOR="gatewayapi",
        SMS_OTP_CONNECTOR_CONFIG=config(httpserver.url_for(PATH)),
    )
    result = app.test_cli_runner().invoke(args=["sms-otp", "send-test", phone])
    assert result.exit_code == 0, result.output
    assert "via gatewayapi (message id 12345)" in result.output
    body = json.loads(only_request_body(httpserver))
    assert body["sender"] == "ExampleSMS"
    assert body["recipients"] == [{"msisdn": msisdn}]
    assert re.fullmatch(r"Code \d{6}, valid \d+ min\.", body["message"])


def test_cli_send_test_failure_names_reason(httpserver: HTTPServer, make_app: AppFactory) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_json(
        {"code": "0x0216", "message": "Insufficient credit", "variables": []}, status=402
    )
    app = make_app(
        SMS_OTP_CONNECTOR="gatewayapi",
        SMS_OTP_CONNECTOR_CONFIG=config(httpserver.url_for(PATH)),
    )
    result = app.test_cli_runner().invoke(args=["sms-otp", "send-test", "+8613800138000"])
    assert result.exit_code != 0
    assert "Insufficient credit" in result.output
    assert "0x0216" in result.output
    assert len(httpserver.log) == 1


# Security check 36: an answer that repeats the request ----------------------------------

ECHO_TOKEN = "gw-token-61c0d8e2a7"


@pytest.mark.parametrize("part", PARTS)
def test_an_answer_repeating_the_request_leaks_nothing(
    make_app: AppFactory, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture, part: str
) -> None:
    def refuse(request: Request) -> Response:
        msisdn = request.get_json()["recipients"][0]["msisdn"]
        answer = {
            "code": "0x0216",
            "message": "Invalid recipient: %1",
            "variables": [echo_of(request, part, msisdn)],
            "incident_uuid": "f2a4c9f0-27b5-4d0e-9d31-0c6f2b6a8e11",
        }
        return Response(json.dumps(answer), 400, mimetype="application/json")

    httpserver.expect_request(PATH, method="POST").respond_with_handler(refuse)
    assert_nothing_leaks(
        make_app,
        httpserver,
        caplog,
        connector="gatewayapi",
        config=config(httpserver.url_for(PATH), apiToken=ECHO_TOKEN),
        secrets=[ECHO_TOKEN],
        kept=["0x0216", "Invalid recipient:"],
    )
