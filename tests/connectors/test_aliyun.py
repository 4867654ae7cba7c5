"""The Aliyun connector: RPC signature vectors, the SendSms request, answers and config."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

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
from flask_sms_otp.connectors.aliyun import (
    AliyunConnector,
    canonicalized_query,
    format_timestamp,
    is_china_mobile,
    percent_encode,
    select_template_code,
    sign_rpc,
    string_to_sign,
)
from flask_sms_otp.errors import DeliveryError
from tests.connectors.contract import HttpConnectorContract, TemplatesContract
from tests.connectors.echoes import assert_nothing_leaks, echo_of
from tests.helpers import AppFactory

SECRET = "testsecret"
NONCE = "c1b2c332-4cfb-4a0f-b8cc-ebe622aa0a5c"
MOMENT = datetime(2016, 10, 20, 6, 27, 56, tzinfo=UTC)


# Official vectors (providers.md §7.1) --------------------------------------------------

VECTOR_A = {
    "AccessKeyId": "testid",
    "Action": "DescribeRegions",
    "Format": "XML",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
    "SignatureVersion": "1.0",
    "Timestamp": "2016-02-23T12:46:24Z",
    "Version": "2014-05-26",
}

VECTOR_B = {
    "AccessKeyId": "testid",
    "AccountName": "<a%b'>",
    "Action": "SingleSendMail",
    "AddressType": "1",
    "Format": "XML",
    "HtmlBody": "4",
    "RegionId": "cn-hangzhou",
    "ReplyToAddress": "true",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "c1b2c332-4cfb-4a0f-b8cc-ebe622aa0a5c",
    "SignatureVersion": "1.0",
    "Subject": "3",
    "TagName": "2",
    "Timestamp": "2016-10-20T06:27:56Z",
    "ToAddress": "1@test.com",
    "Version": "2015-11-23",
}

VECTOR_C = {
    "AccessKeyId": "testId",
    "Action": "SendSms",
    "Format": "XML",
    "OutId": "123",
    "PhoneNumbers": "15300000001",
    "RegionId": "cn-hangzhou",
    "SignName": "阿里云短信测试专用",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
    "SignatureVersion": "1.0",
    "TemplateCode": "SMS_71390007",
    "TemplateParam": '{"customer":"test"}',
    "Timestamp": "2017-07-12T02:42:19Z",
    "Version": "2017-05-25",
}

#: Vector D: the Logto-shaped SendSms parameters (derived, providers.md §7.1 D).
VECTOR_D = {
    "Action": "SendSms",
    "Format": "json",
    "RegionId": "cn-hangzhou",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureVersion": "1.0",
    "Version": "2017-05-25",
    "AccessKeyId": "testid",
    "PhoneNumbers": "8613800138000",
    "SignName": "阿里云短信测试",
    "TemplateCode": "SMS_154950909",
    "TemplateParam": '{"code":"123456"}',
    "SignatureNonce": NONCE,
    "Timestamp": "2016-10-20T06:27:56Z",
}
SIGNATURE_D = "SzwNWc7Txdd2huzuyrkNpjY0SZ8="


def test_vector_a_describe_regions() -> None:
    assert string_to_sign(VECTOR_A, "GET") == (
        "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML"
        "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"
        "%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z"
        "%26Version%3D2014-05-26"
    )
    assert sign_rpc(VECTOR_A, SECRET, "GET") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    assert sign_rpc(VECTOR_A, SECRET, "POST") == "MxbnVAM4w6sft9xjVpe/GCKueuk="


def test_vector_b_single_send_mail() -> None:
    assert string_to_sign(VECTOR_B, "POST") == (
        "POST&%2F&AccessKeyId%3Dtestid%26AccountName%3D%253Ca%2525b%2527%253E"
        "%26Action%3DSingleSendMail%26AddressType%3D1%26Format%3DXML%26HtmlBody%3D4"
        "%26RegionId%3Dcn-hangzhou%26ReplyToAddress%3Dtrue%26SignatureMethod%3DHMAC-SHA1"
        "%26SignatureNonce%3Dc1b2c332-4cfb-4a0f-b8cc-ebe622aa0a5c%26SignatureVersion%3D1.0"
        "%26Subject%3D3%26TagName%3D2%26Timestamp%3D2016-10-20T06%253A27%253A56Z"
        "%26ToAddress%3D1%2540test.com%26Version%3D2015-11-23"
    )
    assert sign_rpc(VECTOR_B, SECRET, "POST") == "llJfXJjBW3OacrVgxxsITgYaYm0="
    assert sign_rpc(VECTOR_B, SECRET, "GET") == "xviVKkGNJBEG2sDODpEU9KpUfhE="


def test_vector_c_send_sms() -> None:
    assert string_to_sign(VECTOR_C, "GET") == (
        "GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML%26OutId%3D123"
        "%26PhoneNumbers%3D15300000001%26RegionId%3Dcn-hangzhou"
        "%26SignName%3D%25E9%2598%25BF%25E9%2587%258C%25E4%25BA%2591%25E7%259F%25AD"
        "%25E4%25BF%25A1%25E6%25B5%258B%25E8%25AF%2595%25E4%25B8%2593%25E7%2594%25A8"
        "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D45e25e9b-0a6f-4070-8c85-2956eda1b466"
        "%26SignatureVersion%3D1.0%26TemplateCode%3DSMS_71390007"
        "%26TemplateParam%3D%257B%2522customer%2522%253A%2522test%2522%257D"
        "%26Timestamp%3D2017-07-12T02%253A42%253A19Z%26Version%3D2017-05-25"
    )
    assert sign_rpc(VECTOR_C, "testSecret", "GET") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    assert sign_rpc(VECTOR_C, "testSecret", "POST") == "Xvhv7fPXrPkLVSnlt0jIr08o8NQ="
    # The documented pitfall: the secret is case-sensitive.
    assert sign_rpc(VECTOR_C, "testsecret", "GET") == "EpROzuoKhdewdxdmVWhll2qdKbk="


def test_vector_d_logto_shaped_send_sms() -> None:
    assert sign_rpc(VECTOR_D, SECRET, "POST") == SIGNATURE_D


def test_signature_ignores_parameter_order() -> None:
    reversed_d = dict(reversed(list(VECTOR_D.items())))
    assert sign_rpc(reversed_d, SECRET) == SIGNATURE_D


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("a b", "a%20b"),
        ("*", "%2A"),
        ("~-_.", "~-_."),
        ("/", "%2F"),
        ("+", "%2B"),
        ("!'()", "%21%27%28%29"),
        ("阿", "%E9%98%BF"),
        ('{"code":"1"}', "%7B%22code%22%3A%221%22%7D"),
    ],
)
def test_percent_encode(raw: str, encoded: str) -> None:
    assert percent_encode(raw) == encoded


def test_canonicalized_query_sorts_pairs() -> None:
    assert canonicalized_query({"b": "2", "a": "x y"}) == "a=x%20y&b=2"


def test_format_timestamp_is_utc_without_milliseconds() -> None:
    moment = datetime(2016, 10, 20, 14, 27, 56, 999000).astimezone()
    assert format_timestamp(MOMENT) == "2016-10-20T06:27:56Z"
    assert format_timestamp(moment).endswith("Z")
    assert len(format_timestamp(moment)) == 20


# Numbers and template codes (providers.md §2.5) -----------------------------------------


@pytest.mark.parametrize(
    ("number", "loose", "strict"),
    [
        ("13812345678", True, False),
        ("8613812345678", True, True),
        ("008613812345678", True, True),
        ("+8613812345678", True, True),
        ("8513812345678", False, False),
        ("1381234567", False, False),
        ("138123456789", False, False),
        ("85268326366", False, False),
        ("+85268326366", False, False),
        ("+12015550123", False, False),
    ],
)
def test_is_china_mobile(number: str, loose: bool, strict: bool) -> None:
    assert is_china_mobile(number) is loose
    assert is_china_mobile(number, strict=True) is strict


def test_select_template_code() -> None:
    codes = {"china": "TemplateCode1", "overseas": "TemplateCode2"}
    assert select_template_code("Plain", "+12015550123", strict=False) == "Plain"
    for number in ("+8613012345678", "+8613800138000"):
        assert select_template_code(codes, number, strict=False) == "TemplateCode1"
        assert select_template_code(codes, number, strict=True) == "TemplateCode1"
    # A NANP number whose digits look like a Chinese mobile (Logto would pick "china").
    for number in ("+12015550123", "+13012345678", "+85268326366", "+1123123123"):
        assert select_template_code(codes, number, strict=False) == "TemplateCode2"


# The connector against a fake Aliyun ----------------------------------------------------

TEMPLATES: list[dict[str, Any]] = [
    {"usageType": "SignIn", "templateCode": "SMS_154950909"},
    {"usageType": "Register", "templateCode": "SMS_REGISTER", "type": 2},
    {"usageType": "ForgotPassword", "templateCode": "SMS_FORGOT"},
    {"usageType": "Generic", "templateCode": {"china": "SMS_CN", "overseas": "SMS_INTL"}},
]

OK_ANSWER = {"Code": "OK", "Message": "OK", "RequestId": "F655A8D5-B967", "BizId": "9006197469"}


def base_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "accessKeyId": "testid",
        "accessKeySecret": SECRET,
        "signName": "阿里云短信测试",
        "templates": [dict(t) for t in TEMPLATES],
    }
    config.update(overrides)
    return config


Factory = Callable[..., AliyunConnector]


@pytest.fixture
def connector_for(httpserver: HTTPServer) -> Iterator[Factory]:
    """Connectors aimed at the fake server, with a pinned clock and nonce; closed at the end."""
    made: list[AliyunConnector] = []

    def factory(**overrides: Any) -> AliyunConnector:
        config = base_config(endpoint=httpserver.url_for("/").rstrip("/"), **overrides)
        connector = AliyunConnector(
            config, clock=lambda: MOMENT, nonce=lambda: NONCE, sleep=lambda s: None
        )
        made.append(connector)
        return connector

    yield factory
    for connector in made:
        connector.close()


def message(to: str = "+8613800138000", usage: str = "SignIn") -> SmsMessage:
    return SmsMessage(to=to, usage=usage, code="123456", variables={"minutes": 10})


def only_request(httpserver: HTTPServer) -> Request:
    assert len(httpserver.log) == 1
    request: Request = httpserver.log[0][0]
    return request


def form_of(request: Request) -> dict[str, str]:
    return dict(parse_qsl(request.get_data(as_text=True), keep_blank_values=True))


# The contract every HTTP connector keeps ---------------------------------------------------


class TestContract(HttpConnectorContract, TemplatesContract):
    connector_class = AliyunConnector
    send_path = "/"
    message_id = "9006197469"
    refusal_code = "isv.MOBILE_NUMBER_ILLEGAL"
    required_strings = ("accessKeyId", "accessKeySecret", "signName")
    secret_field = "accessKeySecret"
    bad_endpoints = (
        "dysmsapi.aliyuncs.com",
        "ftp://dysmsapi.aliyuncs.com",
        "https://host/path",
        "https://h/?q",
    )
    # No headers: every parameter, the signature too, is in the form body.
    echo_parts = ("raw", "fields", "number")
    template_field = "templateCode"
    redirect_error = ProviderUnavailable  # its answers are JSON, a bodiless 302 is not

    def config(self, endpoint: str) -> dict[str, Any]:
        return base_config(endpoint=endpoint)

    def accept(self, request: Request) -> Response:
        return Response(json.dumps(OK_ANSWER), 200, mimetype="application/json")

    def refuse(self, request: Request, status: int, text: str) -> Response:
        answer = {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": text, "RequestId": "R-3"}
        return Response(json.dumps(answer), status, mimetype="application/json")

    def recipient(self, request: Request) -> str:
        return form_of(request)["PhoneNumbers"]

    def assert_sent_code(self, request: Request, phone: str) -> None:
        form = form_of(request)
        # send-test uses the Generic template, whose code depends on the region.
        assert form["TemplateCode"] == ("SMS_CN" if phone.startswith("+86") else "SMS_INTL")
        params = json.loads(form["TemplateParam"])
        assert list(params) == ["code"]
        assert len(params["code"]) == 6
        assert params["code"].isdigit()
        signed = {k: v for k, v in form.items() if k != "Signature"}
        assert form["Signature"] == sign_rpc(signed, SECRET, "POST")

    def retried_form(self, request: Request) -> bytes:
        fresh = ("SignatureNonce", "Timestamp", "Signature")  # signed anew for each attempt
        return urlencode({k: v for k, v in form_of(request).items() if k not in fresh}).encode()

    def derived(self, request: Request) -> list[str]:
        return signatures(request)


def test_send_posts_the_signed_form(httpserver: HTTPServer, connector_for: Factory) -> None:
    httpserver.expect_oneshot_request("/", method="POST").respond_with_json(OK_ANSWER)
    result = connector_for().send(message())

    assert result.connector == "aliyun"
    assert result.message_id == "9006197469"
    request = only_request(httpserver)
    assert request.method == "POST"
    assert request.path == "/"
    assert request.query_string == b""
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    # Exactly vector D's parameters, plus its signature: the connector signs byte for byte.
    assert form_of(request) == {**VECTOR_D, "Signature": SIGNATURE_D}
    assert request.get_data() == urlencode({**VECTOR_D, "Signature": SIGNATURE_D}).encode()


def test_template_param_has_only_declared_variables(
    httpserver: HTTPServer, connector_for: Factory
) -> None:
    httpserver.expect_request("/", method="POST").respond_with_json(OK_ANSWER)
    templates = [dict(t) for t in TEMPLATES]
    templates[0]["templateParams"] = ["code", "minutes"]
    connector = connector_for(templates=templates)
    with_locale = SmsMessage(
        to="+8613800138000",
        usage="SignIn",
        code="012345",
        variables={"minutes": 10, "locale": "zh-CN", "uiLocales": "fr-CA fr en"},
    )
    connector.send(with_locale)
    connector.send(SmsMessage(to="+8613800138000", usage="Register", code="012345"))

    first, second = (form_of(entry[0]) for entry in httpserver.log)
    assert first["TemplateParam"] == '{"code":"012345","minutes":"10"}'
    assert second["TemplateParam"] == '{"code":"012345"}'
    for form in (first, second):
        rest = {k: v for k, v in form.items() if k != "Signature"}
        assert form["Signature"] == sign_rpc(rest, SECRET, "POST")


def test_unknown_template_variable_is_a_configuration_error(connector_for: Factory) -> None:
    templates = [dict(t) for t in TEMPLATES]
    templates[0]["templateParams"] = ["otp"]
    with pytest.raises(ConfigurationError, match="otp") as info:
        connector_for(templates=templates).send(message())
    assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.templates"


@pytest.mark.parametrize(
    ("to", "sent_number", "template_code"),
    [
        ("+8613800138000", "8613800138000", "SMS_CN"),
        ("+12015550123", "12015550123", "SMS_INTL"),
        ("+85268326366", "85268326366", "SMS_INTL"),
    ],
)
@pytest.mark.parametrize("strict", [False, True])
def test_generic_fallback_picks_china_or_overseas(
    httpserver: HTTPServer,
    connector_for: Factory,
    to: str,
    sent_number: str,
    template_code: str,
    strict: bool,
) -> None:
    httpserver.expect_oneshot_request("/", method="POST").respond_with_json(OK_ANSWER)
    connector = connector_for(strictPhoneRegionNumberCheck=strict)
    connector.send(message(to=to, usage="MfaVerification"))
    form = form_of(only_request(httpserver))
    assert form["PhoneNumbers"] == sent_number
    assert form["TemplateCode"] == template_code


def assert_error(error: DeliveryError, *, status: int, code: str | None, text: str | None) -> None:
    assert error.connector == "aliyun"
    assert error.status_code == status
    assert error.provider_code == code
    assert error.provider_message == text
    assert SECRET not in str(error)
    assert SECRET not in error.describe()


@pytest.mark.parametrize(
    ("status", "code", "text"),
    [
        (200, "isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1"),
        (200, "isv.DAY_LIMIT_CONTROL", "触发日发送限额"),
        (200, "isv.MONTH_LIMIT_CONTROL", "触发月发送限额"),
        (400, "Throttling.User", "Request was denied due to user flow control."),
    ],
)
def test_rate_limit_codes(
    httpserver: HTTPServer, connector_for: Factory, status: int, code: str, text: str
) -> None:
    answer = {"Code": code, "Message": text, "RequestId": "R-1"}
    httpserver.expect_oneshot_request("/", method="POST").respond_with_json(answer, status=status)
    with pytest.raises(ProviderRateLimited) as info:
        connector_for().send(message())
    assert_error(info.value, status=status, code=code, text=text)
    assert "R-1" in str(info.value)
    assert len(httpserver.log) == 1


@pytest.mark.parametrize(
    ("status", "code", "text"),
    [
        (200, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"),
        (200, "isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板"),
        (200, "isv.AMOUNT_NOT_ENOUGH", "账户余额不足"),
        (400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation."),
        (404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."),
    ],
)
def test_refusals_carry_aliyun_code_and_message(
    httpserver: HTTPServer, connector_for: Factory, status: int, code: str, text: str
) -> None:
    answer = {"Code": code, "Message": text, "RequestId": "R-2"}
    httpserver.expect_oneshot_request("/", method="POST").respond_with_json(answer, status=status)
    with pytest.raises(ProviderRejected) as info:
        connector_for().send(message())
    assert_error(info.value, status=status, code=code, text=text)
    assert code in info.value.describe()
    assert text in info.value.describe()


def test_a_retry_is_signed_again_with_a_fresh_nonce(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/", method="POST").respond_with_data("busy", status=503)
    httpserver.expect_ordered_request("/", method="POST").respond_with_json(OK_ANSWER)
    nonces = iter(["nonce-1", "nonce-2"])
    moments = iter([MOMENT, MOMENT.replace(second=58)])
    connector = AliyunConnector(
        base_config(endpoint=httpserver.url_for("/").rstrip("/")),
        clock=lambda: next(moments),
        nonce=lambda: next(nonces),
        sleep=lambda s: None,
    )
    try:
        assert connector.send(message()).message_id == "9006197469"
    finally:
        connector.close()

    first, second = (form_of(entry[0]) for entry in httpserver.log)
    # Aliyun answers SignatureNonceUsed to a nonce it has seen: each attempt has its own.
    assert (first["SignatureNonce"], second["SignatureNonce"]) == ("nonce-1", "nonce-2")
    assert (first["Timestamp"], second["Timestamp"]) == (
        "2016-10-20T06:27:56Z",
        "2016-10-20T06:27:58Z",
    )
    for form in (first, second):
        rest = {k: v for k, v in form.items() if k != "Signature"}
        assert form["Signature"] == sign_rpc(rest, SECRET, "POST")
    assert first["Signature"] != second["Signature"]
    unsigned = ("SignatureNonce", "Timestamp", "Signature")
    assert {k: v for k, v in first.items() if k not in unsigned} == {
        k: v for k, v in second.items() if k not in unsigned
    }


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ("<html>bad gateway</html>", 502, ProviderUnavailable),
        ("<html>forbidden</html>", 403, ProviderRejected),
        ("not json", 200, ProviderUnavailable),
        ('{"Message": "no code"}', 200, ProviderUnavailable),
        ("[1, 2]", 200, ProviderUnavailable),
        ('{"Message": "no code"}', 400, ProviderRejected),
    ],
)
def test_unexpected_answers(
    httpserver: HTTPServer,
    connector_for: Factory,
    body: str,
    status: int,
    error: type[DeliveryError],
) -> None:
    httpserver.expect_oneshot_request("/", method="POST").respond_with_data(
        body, status=status, content_type="application/json"
    )
    with pytest.raises(error) as info:
        connector_for().send(message())
    assert type(info.value) is error
    assert info.value.status_code == status


# Configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "key"),
    [
        ({"usageType": "Generic"}, "templates[3].templateCode"),
        ({"usageType": "Generic", "templateCode": ""}, "templates[3].templateCode"),
        ({"usageType": "Generic", "templateCode": 7}, "templates[3].templateCode"),
        (
            {"usageType": "Generic", "templateCode": {"china": "SMS_CN"}},
            "templates[3].templateCode.overseas",
        ),
        (
            {"usageType": "Generic", "templateCode": {"china": 1, "overseas": "X"}},
            "templates[3].templateCode.china",
        ),
        ({"usageType": "Generic", "templateCode": "X", "type": 3}, "templates[3].type"),
        ({"usageType": "Generic", "templateCode": "X", "type": "2"}, "templates[3].type"),
        ({"usageType": "Generic", "templateCode": "X", "type": True}, "templates[3].type"),
        ({"usageType": "Generic", "templateCode": "X", "type": [2]}, "templates[3].type"),
        (
            {"usageType": "Generic", "templateCode": "X", "templateParams": []},
            "templates[3].templateParams",
        ),
        (
            {"usageType": "Generic", "templateCode": "X", "templateParams": "code"},
            "templates[3].templateParams",
        ),
        (
            {"usageType": "Generic", "templateCode": "X", "templateParams": ["a b"]},
            "templates[3].templateParams",
        ),
        (
            {"usageType": "Generic", "templateCode": "X", "templateParams": ["code", "code"]},
            "templates[3].templateParams",
        ),
        ({"templateCode": "X"}, "templates[3].usageType"),
    ],
)
def test_bad_templates(template: dict[str, Any], key: str) -> None:
    templates = [*TEMPLATES[:3], template]
    with pytest.raises(ConfigurationError) as info:
        AliyunConnector(base_config(templates=templates))
    assert info.value.key == f"SMS_OTP_CONNECTOR_CONFIG.{key}"


@pytest.mark.parametrize("kind", [0, 1, 2, 6, 7])
def test_template_types_are_accepted_and_not_sent(kind: int) -> None:
    templates = [{**t, "type": kind} for t in TEMPLATES]
    AliyunConnector(base_config(templates=templates)).close()


def test_strict_flag_must_be_boolean() -> None:
    with pytest.raises(ConfigurationError) as info:
        AliyunConnector(base_config(strictPhoneRegionNumberCheck="yes"))
    assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.strictPhoneRegionNumberCheck"


def test_default_and_custom_endpoint() -> None:
    connector = AliyunConnector(base_config())
    assert connector.url == "https://dysmsapi.aliyuncs.com/"
    connector.close()
    connector = AliyunConnector(
        base_config(endpoint="https://dysmsapi.ap-southeast-1.aliyuncs.com/")
    )
    assert connector.url == "https://dysmsapi.ap-southeast-1.aliyuncs.com/"
    connector.close()


# Security check 36: an answer that repeats the request ------------------------------------

ECHO_SECRET = "ali-secret-3f7c0b95e2d4"


def test_the_redactor_knows_a_signature_and_leaves_the_rest() -> None:
    connector = AliyunConnector(base_config())
    redact = connector.redactor()
    signature = "llJfXJjBW3OacrVgxxsITgYaYm0="
    assert redact(f"Signature={signature}&x=1") == "Signature=[redacted]&x=1"
    assert redact("Signature=llJfXJjBW3OacrVgxxsITgYaYm0%3D&x") == "Signature=[redacted]&x"
    assert redact('{"Signature": "MxbnVAM4w6sft9xjVpe/GCKueuk="}') == '{"Signature": "[redacted]"}'
    assert redact("Signature=Xvhv7fPXrPkLVSnlt0jIr08o8NQ%3D") == "Signature=[redacted]"
    for text in (
        f"SignatureNonce={NONCE}",
        "isv.MOBILE_NUMBER_ILLEGAL (RequestId 2D8E0A5F-6C1B-5E3A-9F47-0B1C2D3E4F50)",
        "SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&Timestamp=2016-10-20T06%3A27%3A56Z",
    ):
        assert redact(text) == text
    connector.close()


def signatures(request: Request) -> list[str]:
    """The request's signature as sent (percent-encoded) and decoded."""
    signature = form_of(request)["Signature"]
    return [signature, quote(signature, safe="")]


@pytest.mark.parametrize("part", [*TestContract.echo_parts, "string-to-sign", "signature"])
def test_a_signature_refusal_repeating_the_request_leaks_nothing(
    make_app: AppFactory, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture, part: str
) -> None:
    """What Aliyun's SignatureDoesNotMatch repeats: the contract's parts, the string it
    signed and the signature."""

    def refuse(request: Request) -> Response:
        form = form_of(request)
        if part == "string-to-sign":  # what Aliyun's SignatureDoesNotMatch really repeats
            signed = {key: value for key, value in form.items() if key != "Signature"}
            text = f"server string to sign is:{string_to_sign(signed)}"
        elif part == "signature":
            text = "signature " + " or ".join(signatures(request))
        else:
            text = echo_of(request, part, form["PhoneNumbers"])
        answer = {
            "Code": "SignatureDoesNotMatch",
            "Message": f"Specified signature is not matched with our calculation. {text}",
            "RequestId": "2D8E0A5F-6C1B-5E3A-9F47-0B1C2D3E4F50",
            "HostId": "dysmsapi.aliyuncs.com",
        }
        return Response(json.dumps(answer), 400, mimetype="application/json")

    httpserver.expect_request("/", method="POST").respond_with_handler(refuse)
    assert_nothing_leaks(
        make_app,
        httpserver,
        caplog,
        connector="aliyun",
        config=base_config(
            endpoint=httpserver.url_for("/").rstrip("/"), accessKeySecret=ECHO_SECRET
        ),
        secrets=[ECHO_SECRET],
        derived=signatures,
        kept=["SignatureDoesNotMatch", "Specified signature is not matched"],
    )
