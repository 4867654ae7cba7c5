"""WhatsApp Cloud API connector against a local fake of the Graph API: the authentication
template message, chosen per usage and per locale, and Meta's error format."""

from __future__ import annotations

import json
from typing import Any

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
from flask_sms_otp.connectors.whatsapp import WhatsAppConnector

from .contract import HttpConnectorContract, TemplatesContract, origin_of

TOKEN = "EAAG-whatsapp-token-5c1e"
NUMBER_ID = "106540352242922"
MESSAGES_PATH = f"/v21.0/{NUMBER_ID}/messages"
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"
TEMPLATES: list[dict[str, Any]] = [
    {"usageType": "Generic", "name": "acme_code", "language": "en"},
    {"usageType": "SignIn", "name": "acme_sign_in", "language": "en"},
    {"usageType": "Register", "name": "acme_sign_up", "language": "en"},
    {"usageType": "ForgotPassword", "name": "acme_reset", "language": "en"},
    {"usageType": "SignIn", "locale": "zh-CN", "name": "acme_sign_in", "language": "zh_CN"},
]
BASE_CONFIG: dict[str, Any] = {
    "accessToken": TOKEN,
    "phoneNumberId": NUMBER_ID,
    "templates": TEMPLATES,
}


def accepted(request: Request) -> Response:
    """Meta's answer: it repeats the number as ``input``."""
    to = request.get_json()["to"]
    answer = {
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to}],
        "messages": [{"id": WAMID, "message_status": "accepted"}],
    }
    return Response(json.dumps(answer), 200, mimetype="application/json")


def graph_error(code: int, text: str, status: int, details: str | None = None) -> Response:
    error: dict[str, Any] = {
        "message": text,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEf123",
    }
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return Response(json.dumps({"error": error}), status, mimetype="application/json")


def expected_body(to: str, name: str, language: str, code: str) -> bytes:
    """Meta's authentication template with a copy-code button, written out by hand."""
    return (
        '{"messaging_product":"whatsapp","recipient_type":"individual",'
        f'"to":"{to}","type":"template","template":{{"name":"{name}",'
        f'"language":{{"code":"{language}"}},"components":['
        f'{{"type":"body","parameters":[{{"type":"text","text":"{code}"}}]}},'
        '{"type":"button","sub_type":"url","index":"0",'
        f'"parameters":[{{"type":"text","text":"{code}"}}]}}]}}}}'
    ).encode()


class TestContract(HttpConnectorContract, TemplatesContract):
    connector_class = WhatsAppConnector
    send_path = MESSAGES_PATH
    message_id = WAMID
    refusal_code = "131009"
    required_strings = ("accessToken", "phoneNumberId")
    secret_field = "accessToken"
    bad_endpoints = ("https://graph.facebook.com/v21.0", "graph.facebook.com", 42)
    template_field = "name"
    check_result = f"WhatsApp number {NUMBER_ID} (+1 555-010-0000 ACME) answered"

    def config(self, endpoint: str) -> dict[str, Any]:
        return {**BASE_CONFIG, "endpoint": endpoint}

    def accept(self, request: Request) -> Response:
        return accepted(request)

    def refuse(self, request: Request, status: int, text: str) -> Response:
        return graph_error(131009, text, status)

    def recipient(self, request: Request) -> str:
        return str(request.get_json()["to"])

    def assert_sent_code(self, request: Request, phone: str) -> None:
        template = request.get_json()["template"]
        assert template["name"] == "acme_code"
        body, button = template["components"]
        assert body["parameters"][0]["text"] == button["parameters"][0]["text"]

    def answer_check(self, request: Request) -> Response:
        assert (request.method, request.path) == ("GET", f"/v21.0/{NUMBER_ID}")
        assert request.args["fields"] == "display_phone_number,verified_name"
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        answer = {"display_phone_number": "+1 555-010-0000", "verified_name": "ACME"}
        return Response(json.dumps(answer), 200)


def make(httpserver: HTTPServer, **overrides: Any) -> WhatsAppConnector:
    return WhatsAppConnector({**BASE_CONFIG, "endpoint": origin_of(httpserver), **overrides})


def test_the_template_message_for_two_locales(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        MESSAGES_PATH,
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    ).respond_with_handler(accepted)
    connector = make(httpserver)
    english = connector.send(SmsMessage(to="+8613800138000", usage="SignIn", code="123456"))
    chinese = connector.send(
        SmsMessage(to="+8613800138000", usage="SignIn", code="654321", locale="zh-Hans-CN")
    )
    assert english.message_id == chinese.message_id == WAMID
    assert [(r.method, r.path) for r, _ in httpserver.log] == [("POST", MESSAGES_PATH)] * 2
    assert [r.get_data() for r, _ in httpserver.log] == [
        expected_body("8613800138000", "acme_sign_in", "en", "123456"),
        expected_body("8613800138000", "acme_sign_in", "zh_CN", "654321"),
    ]


def test_a_usage_without_its_template_uses_generic(httpserver: HTTPServer) -> None:
    httpserver.expect_request(MESSAGES_PATH).respond_with_handler(accepted)
    make(httpserver).send(SmsMessage(to="+12015550123", usage="BindMfa", code="111111"))
    assert httpserver.log[0][0].get_data() == expected_body(
        "12015550123", "acme_code", "en", "111111"
    )


def test_the_api_version_is_in_the_path(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/v19.0/{NUMBER_ID}/messages").respond_with_handler(accepted)
    make(httpserver, apiVersion="v19.0").send(
        SmsMessage(to="+12015550123", usage="Generic", code="111111")
    )
    assert httpserver.log[0][0].path == f"/v19.0/{NUMBER_ID}/messages"


def test_a_number_not_on_whatsapp_is_a_permanent_refusal(httpserver: HTTPServer) -> None:
    httpserver.expect_request(MESSAGES_PATH).respond_with_response(
        graph_error(
            131026,
            "Message undeliverable",
            400,
            "Unable to deliver message. Reasons can include: the recipient phone number "
            "is not a WhatsApp phone number.",
        )
    )
    with pytest.raises(ProviderRejected) as info:
        make(httpserver).send(SmsMessage(to="+919876543210", usage="SignIn", code="123456"))
    error = info.value
    assert (error.provider_code, error.status_code) == ("131026", 400)
    assert error.provider_message is not None
    assert error.provider_message.startswith("Message undeliverable: Unable to deliver")
    assert not error.retryable
    assert not error.maybe_sent
    assert len(httpserver.log) == 1


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        (130429, 400, ProviderRateLimited),
        (131056, 400, ProviderRateLimited),
        (131000, 500, ProviderUnavailable),
        (131016, 400, ProviderUnavailable),
        (190, 401, ProviderRejected),
    ],
)
def test_graph_errors_are_typed(
    httpserver: HTTPServer, code: int, status: int, kind: type[Exception]
) -> None:
    httpserver.expect_request(MESSAGES_PATH).respond_with_response(
        graph_error(code, "some reason", status)
    )
    with pytest.raises(kind) as info:
        make(httpserver, endpoint=origin_of(httpserver)).send(
            SmsMessage(to="+12015550123", usage="Generic", code="123456")
        )
    assert getattr(info.value, "provider_code", None) == str(code)


def test_a_notice_is_not_sent(httpserver: HTTPServer) -> None:
    with pytest.raises(Exception, match="only codes"):
        make(httpserver).send(SmsMessage(to="+12015550123", usage="PasswordChanged", code=""))
    assert httpserver.log == []


@pytest.mark.parametrize("bad", ["21.0", "v21", "latest", "v21.0/x"])
def test_a_bad_api_version_is_named(bad: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        WhatsAppConnector({**BASE_CONFIG, "apiVersion": bad})
    assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.apiVersion"


def test_a_template_needs_its_language() -> None:
    templates = [*TEMPLATES, {"usageType": "BindMfa", "name": "acme_mfa"}]
    with pytest.raises(ConfigurationError) as info:
        WhatsAppConnector({**BASE_CONFIG, "templates": templates})
    assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.templates[5].language"


def test_the_default_endpoint_is_the_graph_api() -> None:
    connector = WhatsAppConnector(BASE_CONFIG)
    assert connector.messages_url == f"https://graph.facebook.com/v21.0/{NUMBER_ID}/messages"
    assert connector.channel == "whatsapp"
