"""The Tencent connector: TC3 signature vectors, the SendSms request, answers and config."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
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
from flask_sms_otp.connectors.tencent import (
    TencentConnector,
    canonical_request,
    credential_scope,
    send_sms_payload,
    sha256_hex,
    tc3_authorization,
    tc3_signature,
    tc3_signing_key,
    tc3_string_to_sign,
    template_param_set,
)
from flask_sms_otp.errors import DeliveryError
from tests.connectors.contract import HttpConnectorContract, TemplatesContract
from tests.connectors.echoes import PARTS, assert_nothing_leaks, echo_of
from tests.helpers import AppFactory

SECRET_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******"
SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3*******"
TIMESTAMP = 1551113065
MOMENT = datetime.fromtimestamp(TIMESTAMP, UTC)


# The official vector (providers.md §7.2) ---------------------------------------------------

CVM_PAYLOAD = (
    b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
)
CVM_HASH = "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
CVM_SIGNATURE = "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"


def test_official_vector_canonical_request() -> None:
    assert sha256_hex(CVM_PAYLOAD) == CVM_HASH
    assert canonical_request(CVM_PAYLOAD, "cvm.tencentcloudapi.com") == (
        "POST\n/\n\ncontent-type:application/json; charset=utf-8\n"
        "host:cvm.tencentcloudapi.com\n\ncontent-type;host\n" + CVM_HASH
    )


def test_official_vector_string_to_sign() -> None:
    canonical = canonical_request(CVM_PAYLOAD, "cvm.tencentcloudapi.com")
    assert credential_scope(TIMESTAMP, "cvm") == "2019-02-25/cvm/tc3_request"
    assert tc3_string_to_sign(canonical, TIMESTAMP, "cvm") == (
        "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    )


def test_official_vector_signing_key_and_signature() -> None:
    assert tc3_signing_key(SECRET_KEY, "2019-02-25", "cvm").hex() == (
        "8aa8ab5755582f576e94bcfe383b8e29325b0ca90c3590d569221c6a63a091ed"
    )
    canonical = canonical_request(CVM_PAYLOAD, "cvm.tencentcloudapi.com")
    to_sign = tc3_string_to_sign(canonical, TIMESTAMP, "cvm")
    assert tc3_signature(SECRET_KEY, TIMESTAMP, to_sign, "cvm") == CVM_SIGNATURE


def test_official_vector_authorization() -> None:
    header = tc3_authorization(
        SECRET_ID,
        SECRET_KEY,
        payload=CVM_PAYLOAD,
        host="cvm.tencentcloudapi.com",
        timestamp=TIMESTAMP,
        service="cvm",
    )
    assert header == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/"
        "tc3_request, SignedHeaders=content-type;host, Signature=" + CVM_SIGNATURE
    )


def test_logto_shaped_sms_vector() -> None:
    payload = send_sms_payload(
        sdk_app_id="1400006666",
        sign_name="腾讯云",
        template_id="1234",
        params=["123456"],
        phone="8613800138000",
    )
    assert (
        payload
        == (
            '{"SmsSdkAppId":"1400006666","SignName":"腾讯云","TemplateId":"1234",'
            '"TemplateParamSet":["123456"],"PhoneNumberSet":["8613800138000"]}'
        ).encode()
    )
    assert sha256_hex(payload) == "f2113f90070cd6af6822933627e4ed742a1152ce108fcf9791000336593be170"
    canonical = canonical_request(payload, "sms.tencentcloudapi.com")
    assert sha256_hex(canonical.encode()) == (
        "802f5781daa5c13f7c623e604e01ce388eb89e073fc6fd2f5e91fe4fdc856aa6"
    )
    header = tc3_authorization(
        SECRET_ID, SECRET_KEY, payload=payload, host="sms.tencentcloudapi.com", timestamp=TIMESTAMP
    )
    assert header == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/sms/"
        "tc3_request, SignedHeaders=content-type;host, "
        "Signature=300292ba46a87539dd39b351fc7a4a8032e4411e9c0bf5b5762dd4d4ec5421c8"
    )


def test_credential_date_is_utc() -> None:
    # 2019-02-25 23:30 UTC is already the 26th in Beijing: the scope keeps the UTC date.
    assert credential_scope(1551137400) == "2019-02-25/sms/tc3_request"


def test_template_param_set_keeps_declared_order() -> None:
    payload = {"code": "123456", "minutes": 10, "locale": "en", "uiLocales": "fr-CA fr en"}
    assert template_param_set(("code",), payload) == ["123456"]
    assert template_param_set(("minutes", "code"), payload) == ["10", "123456"]
    with pytest.raises(ConfigurationError, match="otp"):
        template_param_set(("otp",), payload)


# The connector against a fake Tencent ------------------------------------------------------

TEMPLATES: list[dict[str, Any]] = [
    {"usageType": "SignIn", "templateCode": "1001"},
    {"usageType": "Register", "templateCode": "1002"},
    {"usageType": "ForgotPassword", "templateCode": "1003"},
    {"usageType": "Generic", "templateCode": "1004"},
]


def ok_answer(phone: str = "+8613800138000") -> dict[str, Any]:
    return {
        "Response": {
            "SendStatusSet": [
                {
                    "SerialNo": "5000:1045710669157053657849499619",
                    "PhoneNumber": phone,
                    "Fee": 1,
                    "SessionContext": "",
                    "Code": "Ok",
                    "Message": "send success",
                    "IsoCode": "CN",
                }
            ],
            "RequestId": "a0aabda6-cf91-4f3e-a81f-9198114a2279",
        }
    }


def status_answer(code: str, text: str) -> dict[str, Any]:
    answer = ok_answer()
    answer["Response"]["SendStatusSet"][0].update(Code=code, Message=text, SerialNo="")
    return answer


def error_answer(code: str, text: str) -> dict[str, Any]:
    return {"Response": {"Error": {"Code": code, "Message": text}, "RequestId": "req-1"}}


def base_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "accessKeyId": SECRET_ID,
        "accessKeySecret": SECRET_KEY,
        "signName": "腾讯云",
        "sdkAppId": "1400006666",
        "region": "ap-guangzhou",
        "templates": [dict(t) for t in TEMPLATES],
    }
    config.update(overrides)
    return config


Factory = Callable[..., TencentConnector]


@pytest.fixture
def connector_for(httpserver: HTTPServer) -> Iterator[Factory]:
    """Connectors aimed at the fake server with a pinned clock; closed at the end."""
    made: list[TencentConnector] = []

    def factory(**overrides: Any) -> TencentConnector:
        config = base_config(endpoint=httpserver.url_for("/").rstrip("/"), **overrides)
        connector = TencentConnector(config, clock=lambda: MOMENT, sleep=lambda s: None)
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


def server_host(httpserver: HTTPServer) -> str:
    return f"{httpserver.host}:{httpserver.port}"


def assert_signed(request: Request, host: str) -> None:
    """The request carries TC3 headers signed over its own body and the host it reached."""
    body = request.get_data()
    timestamp = int(request.headers["X-TC-Timestamp"])
    assert request.headers["Host"] == host
    assert request.headers["Authorization"] == tc3_authorization(
        SECRET_ID, SECRET_KEY, payload=body, host=host, timestamp=timestamp
    )


# The contract every HTTP connector keeps ---------------------------------------------------


class TestContract(HttpConnectorContract, TemplatesContract):
    connector_class = TencentConnector
    send_path = "/"
    message_id = "5000:1045710669157053657849499619"
    refusal_code = "InvalidParameter"
    required_strings = ("accessKeyId", "accessKeySecret", "signName", "sdkAppId", "region")
    secret_field = "accessKeySecret"
    bad_endpoints = (
        "sms.tencentcloudapi.com",
        "ftp://sms.tencentcloudapi.com",
        "https://h/path",
        "https://h#x",
    )
    template_field = "templateCode"
    redirect_error = ProviderUnavailable  # its answers are JSON, a bodiless 302 is not

    def config(self, endpoint: str) -> dict[str, Any]:
        return base_config(endpoint=endpoint)

    def accept(self, request: Request) -> Response:
        answer = ok_answer(self.recipient(request))  # Tencent repeats the number
        return Response(json.dumps(answer), 200, mimetype="application/json")

    def refuse(self, request: Request, status: int, text: str) -> Response:
        answer = error_answer("InvalidParameter", text)
        return Response(json.dumps(answer), status, mimetype="application/json")

    def recipient(self, request: Request) -> str:
        return str(request.get_json()["PhoneNumberSet"][0])

    def on_wire(self, phone: str) -> str:
        return phone  # E.164 with its +

    def assert_sent_code(self, request: Request, phone: str) -> None:
        body = request.get_json()
        assert body["TemplateId"] == "1004"  # send-test uses the Generic template
        (code,) = body["TemplateParamSet"]
        assert len(code) == 6
        assert code.isdigit()
        assert_signed(request, request.headers["Host"])

    def derived(self, request: Request) -> list[str]:
        return signatures(request)


def test_send_posts_signed_json(httpserver: HTTPServer, connector_for: Factory) -> None:
    httpserver.expect_oneshot_request("/", method="POST").respond_with_json(ok_answer())
    result = connector_for().send(message())

    assert result.connector == "tencent"
    assert result.message_id == "5000:1045710669157053657849499619"
    request = only_request(httpserver)
    assert request.method == "POST"
    assert request.path == "/"
    assert request.query_string == b""
    expected_body = (
        '{"SmsSdkAppId":"1400006666","SignName":"腾讯云","TemplateId":"1001",'
        '"TemplateParamSet":["123456"],"PhoneNumberSet":["+8613800138000"]}'
    ).encode()
    assert request.get_data() == expected_body
    headers = request.headers
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["X-TC-Action"] == "SendSms"
    assert headers["X-TC-Version"] == "2021-01-11"
    assert headers["X-TC-Timestamp"] == "1551113065"
    assert headers["X-TC-Region"] == "ap-guangzhou"
    assert "X-TC-Language" not in headers
    assert "X-TC-Token" not in headers
    host = server_host(httpserver)
    assert headers["Authorization"].startswith(
        f"TC3-HMAC-SHA256 Credential={SECRET_ID}/2019-02-25/sms/tc3_request, "
        "SignedHeaders=content-type;host, Signature="
    )
    assert_signed(request, host)


def test_signature_follows_the_configured_host() -> None:
    connector = TencentConnector(
        base_config(endpoint="https://sms.ap-guangzhou.tencentcloudapi.com")
    )
    assert connector.host == "sms.ap-guangzhou.tencentcloudapi.com"
    assert connector.url == "https://sms.ap-guangzhou.tencentcloudapi.com/"
    connector.close()
    connector = TencentConnector(base_config())
    assert connector.host == "sms.tencentcloudapi.com"
    assert connector.url == "https://sms.tencentcloudapi.com/"
    connector.close()


@pytest.mark.parametrize(
    ("to", "usage", "template_id"),
    [
        ("+12015550123", "Register", "1002"),
        ("+85268326366", "ForgotPassword", "1003"),
        ("+8613800138000", "BindMfa", "1004"),  # no BindMfa template: Generic
        ("+447700900123", "MfaVerification", "1004"),
    ],
)
def test_numbers_keep_plus_and_templates_fall_back(
    httpserver: HTTPServer, connector_for: Factory, to: str, usage: str, template_id: str
) -> None:
    httpserver.expect_oneshot_request("/", method="POST").respond_with_json(ok_answer(to))
    connector_for().send(message(to=to, usage=usage))
    body = json.loads(only_request(httpserver).get_data())
    assert body["PhoneNumberSet"] == [to]
    assert body["TemplateId"] == template_id


def test_only_declared_parameters_in_order(httpserver: HTTPServer, connector_for: Factory) -> None:
    httpserver.expect_request("/", method="POST").respond_with_json(ok_answer())
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
    connector.send(
        SmsMessage(
            to="+8613800138000", usage="Generic", code="012345", variables={"locale": "zh-CN"}
        )
    )
    first, second = (json.loads(entry[0].get_data()) for entry in httpserver.log)
    assert first["TemplateParamSet"] == ["012345", "10"]
    assert second["TemplateParamSet"] == ["012345"]
    for entry in httpserver.log:
        assert_signed(entry[0], server_host(httpserver))


def assert_error(error: DeliveryError, *, status: int, code: str | None, text: str | None) -> None:
    assert error.connector == "tencent"
    assert error.status_code == status
    assert error.provider_code == code
    assert error.provider_message == text
    assert SECRET_KEY not in str(error)
    assert SECRET_KEY not in error.describe()


@pytest.mark.parametrize(
    ("answer", "code", "text"),
    [
        (
            status_answer(
                "LimitExceeded.PhoneNumberThirtySecondLimit",
                "the number of SMS messages sent from a single mobile number within 30 "
                "seconds exceeds the upper limit",
            ),
            "LimitExceeded.PhoneNumberThirtySecondLimit",
            "the number of SMS messages sent from a single mobile number within 30 "
            "seconds exceeds the upper limit",
        ),
        (
            status_answer("LimitExceeded.PhoneNumberDailyLimit", "daily limit"),
            "LimitExceeded.PhoneNumberDailyLimit",
            "daily limit",
        ),
        (
            error_answer("LimitExceeded.AppDailyLimit", "app daily limit"),
            "LimitExceeded.AppDailyLimit",
            "app daily limit",
        ),
        (
            error_answer("RequestLimitExceeded", "Your current request times equals to `20`."),
            "RequestLimitExceeded",
            "Your current request times equals to `20`.",
        ),
    ],
)
def test_limit_exceeded_is_rate_limited(
    httpserver: HTTPServer,
    connector_for: Factory,
    answer: dict[str, Any],
    code: str,
    text: str,
) -> None:
    httpserver.expect_oneshot_request("/", method="POST").respond_with_json(answer)
    with pytest.raises(ProviderRateLimited) as info:
        connector_for().send(message())
    assert_error(info.value, status=200, code=code, text=text)
    assert len(httpserver.log) == 1


@pytest.mark.parametrize(
    ("answer", "code", "text"),
    [
        (
            status_answer("InvalidParameterValue.IncorrectPhoneNumber", "invalid mobile number"),
            "InvalidParameterValue.IncorrectPhoneNumber",
            "invalid mobile number",
        ),
        (
            status_answer("FailedOperation.InsufficientBalanceInSmsPackage", "no balance"),
            "FailedOperation.InsufficientBalanceInSmsPackage",
            "no balance",
        ),
        (
            error_answer(
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated.",
            ),
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated.",
        ),
        (
            error_answer("FailedOperation.TemplateIncorrectOrUnapproved", "template unapproved"),
            "FailedOperation.TemplateIncorrectOrUnapproved",
            "template unapproved",
        ),
        (
            error_answer("LimitExceededish", "not a limit family"),
            "LimitExceededish",
            "not a limit family",
        ),
    ],
)
def test_refusals_carry_tencent_code_and_message(
    httpserver: HTTPServer,
    connector_for: Factory,
    answer: dict[str, Any],
    code: str,
    text: str,
) -> None:
    httpserver.expect_oneshot_request("/", method="POST").respond_with_json(answer)
    with pytest.raises(ProviderRejected) as info:
        connector_for().send(message())
    assert type(info.value) is ProviderRejected
    assert_error(info.value, status=200, code=code, text=text)
    assert code in info.value.describe()
    assert text in info.value.describe()


@pytest.mark.parametrize("code", ["InternalError", "ServiceUnavailable"])
def test_tencent_internal_errors_are_unavailable(
    httpserver: HTTPServer, connector_for: Factory, code: str
) -> None:
    httpserver.expect_oneshot_request("/", method="POST").respond_with_json(
        error_answer(code, "try again later")
    )
    with pytest.raises(ProviderUnavailable) as info:
        connector_for().send(message())
    assert_error(info.value, status=200, code=code, text="try again later")
    assert "req-1" in str(info.value)


def test_a_retry_is_signed_again_with_a_fresh_timestamp(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/", method="POST").respond_with_data("busy", status=503)
    httpserver.expect_ordered_request("/", method="POST").respond_with_json(ok_answer())
    moments = iter([MOMENT, datetime.fromtimestamp(TIMESTAMP + 2, UTC)])
    connector = TencentConnector(
        base_config(endpoint=httpserver.url_for("/").rstrip("/")),
        clock=lambda: next(moments),
        sleep=lambda s: None,
    )
    try:
        connector.send(message())
    finally:
        connector.close()

    first, second = (entry[0] for entry in httpserver.log)
    assert first.headers["X-TC-Timestamp"] == str(TIMESTAMP)
    assert second.headers["X-TC-Timestamp"] == str(TIMESTAMP + 2)
    assert first.get_data() == second.get_data()
    assert first.headers["Authorization"] != second.headers["Authorization"]
    for request in (first, second):
        assert_signed(request, server_host(httpserver))


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ("<html>bad gateway</html>", 502, ProviderUnavailable),
        ("<html>forbidden</html>", 403, ProviderRejected),
        ("not json", 200, ProviderUnavailable),
        ('{"Response": {"SendStatusSet": [], "RequestId": "r"}}', 200, ProviderUnavailable),
        ('{"Response": {"RequestId": "r"}}', 200, ProviderUnavailable),
        ('{"Response": {"SendStatusSet": ["x"]}}', 200, ProviderUnavailable),
        ('{"Something": "else"}', 200, ProviderUnavailable),
        ('{"Something": "else"}', 404, ProviderRejected),
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
        ({"usageType": "Generic", "templateCode": 1004}, "templates[3].templateCode"),
        ({"usageType": "Generic", "templateCode": ""}, "templates[3].templateCode"),
        (
            {"usageType": "Generic", "templateCode": "1", "templateParams": []},
            "templates[3].templateParams",
        ),
        (
            {"usageType": "Generic", "templateCode": "1", "templateParams": [1]},
            "templates[3].templateParams",
        ),
        ({"templateCode": "1"}, "templates[3].usageType"),
    ],
)
def test_bad_templates(template: dict[str, Any], key: str) -> None:
    templates = [*TEMPLATES[:3], template]
    with pytest.raises(ConfigurationError) as info:
        TencentConnector(base_config(templates=templates))
    assert info.value.key == f"SMS_OTP_CONNECTOR_CONFIG.{key}"


# Security check 36: an answer that repeats the request ------------------------------------

ECHO_SECRET = "tc-secret-8d2f6a0c41b7"


def test_the_redactor_knows_a_signature_and_leaves_the_rest() -> None:
    connector = TencentConnector(base_config())
    redact = connector.redactor()
    header = tc3_authorization(
        SECRET_ID, SECRET_KEY, payload=b"{}", host="sms.tencentcloudapi.com", timestamp=TIMESTAMP
    )
    redacted = redact(f"Authorization: {header}")
    assert redacted.endswith(", SignedHeaders=content-type;host, Signature=[redacted]")
    assert f"Credential={SECRET_ID}/2019-02-25/sms/tc3_request" in redacted
    for text in (
        "AuthFailure.SignatureFailure (RequestId a0aabda6-cf91-4f3e-a81f-9198114a2279)",
        "SerialNo 5000:1045710669157053657849499619",
    ):
        assert redact(text) == text
    connector.close()


def signatures(request: Request) -> list[str]:
    """The TC3 signature of the request's ``Authorization`` header."""
    return re.findall(r"Signature=([0-9a-f]{64})", request.headers["Authorization"])


@pytest.mark.parametrize("where", ["Error", "SendStatusSet"])
@pytest.mark.parametrize("part", PARTS)
def test_a_200_refusal_repeating_the_request_leaks_nothing(
    make_app: AppFactory,
    httpserver: HTTPServer,
    caplog: pytest.LogCaptureFixture,
    part: str,
    where: str,
) -> None:
    """Tencent refuses with HTTP 200, in ``Error`` or in the number's ``SendStatusSet``
    entry (the contract's check covers its HTTP errors)."""

    def refuse(request: Request) -> Response:
        phone = request.get_json()["PhoneNumberSet"][0]
        text = echo_of(request, part, phone)
        code = "InvalidParameterValue.IncorrectPhoneNumber"
        answer = error_answer(code, text) if where == "Error" else status_answer(code, text)
        return Response(json.dumps(answer), 200, mimetype="application/json")

    httpserver.expect_request("/", method="POST").respond_with_handler(refuse)
    assert_nothing_leaks(
        make_app,
        httpserver,
        caplog,
        connector="tencent",
        config=base_config(
            endpoint=httpserver.url_for("/").rstrip("/"), accessKeySecret=ECHO_SECRET
        ),
        secrets=[ECHO_SECRET],
        derived=signatures,
        kept=["InvalidParameterValue.IncorrectPhoneNumber"],
    )
