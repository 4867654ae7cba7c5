"""Amazon SNS connector against a local fake of the SNS query API.

The fake checks each request's SigV4 signature by recomputing it with botocore's own
signer, from the request it received: a wrong canonical request, host, date, scope or key
fails the test.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flask_sms_otp import (
    ConfigurationError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    SmsMessage,
)
from flask_sms_otp.connectors import HttpConnector
from flask_sms_otp.connectors.sns import SnsConnector, default_origin

from ..helpers import AppFactory
from .contract import HttpConnectorContract, TemplatesContract, origin_of

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "eu-west-1"
FORM = "application/x-www-form-urlencoded; charset=utf-8"
XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"
MESSAGE_ID = "567910cd-659e-55d4-8ccb-5aaf14679dc0"

TEMPLATES = [
    {"usageType": "Generic", "content": "code {{code}}"},
    {"usageType": "SignIn", "content": "Your sign-in code is {{code}}."},
    {"usageType": "Register", "content": "Your sign-up code is {{code}}."},
    {"usageType": "ForgotPassword", "content": "Your password code is {{code}}."},
    {"usageType": "Generic", "locale": "zh-CN", "content": "验证码 {{code}}"},
]
BASE_CONFIG: dict[str, Any] = {
    "accessKeyId": ACCESS_KEY,
    "secretAccessKey": SECRET_KEY,
    "region": REGION,
    "templates": TEMPLATES,
}


@pytest.fixture(autouse=True)
def no_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """The credential chain sees nothing of the machine: no variables, no files, no
    instance metadata."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def make(httpserver: HTTPServer, **overrides: Any) -> SnsConnector:
    config = {**BASE_CONFIG, "endpoint": origin_of(httpserver), **overrides}
    return SnsConnector(config, sleep=lambda s: None)


def published(message_id: str = MESSAGE_ID) -> Response:
    body = (
        f'<PublishResponse xmlns="{XMLNS}"><PublishResult><MessageId>{message_id}</MessageId>'
        "</PublishResult><ResponseMetadata><RequestId>d74b8436-ae13-5ab4-a9ff-ce54dfea72a0"
        "</RequestId></ResponseMetadata></PublishResponse>"
    )
    return Response(body, 200, mimetype="text/xml")


def sns_error(code: str, text: str, status: int) -> Response:
    body = (
        f'<ErrorResponse xmlns="{XMLNS}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{escape(text)}</Message></Error>"
        "<RequestId>9dd01905-5012-5f99-8663-4b3ecd0dfaef</RequestId></ErrorResponse>"
    )
    return Response(body, status, mimetype="text/xml")


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def recomputed_signature(
    request: Request, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY
) -> str:
    """The SigV4 signature botocore's signer gives the request the fake received, with the
    date it carries."""
    signed_names = request.headers["Authorization"].split("SignedHeaders=")[1].split(",")[0]
    headers = {name: request.headers[name] for name in signed_names.split(";")}
    aws = AWSRequest(
        method=request.method,
        url=f"http://{request.headers['Host']}{request.full_path.rstrip('?')}",
        data=request.get_data(),
        headers=headers,
    )
    aws.context["timestamp"] = request.headers["X-Amz-Date"]
    token = request.headers.get("X-Amz-Security-Token")
    auth = SigV4Auth(Credentials(access_key, secret_key, token), "sns", REGION)
    canonical = auth.canonical_request(aws)
    return str(auth.signature(auth.string_to_sign(aws, canonical), aws))


def signature_of(request: Request) -> str:
    return request.headers["Authorization"].rsplit("Signature=", 1)[1]


def fields(request: Request) -> list[tuple[str, str]]:
    return parse_qsl(request.get_data(as_text=True), keep_blank_values=True)


# The contract every HTTP connector keeps ---------------------------------------------------


class TestContract(HttpConnectorContract, TemplatesContract):
    connector_class = SnsConnector
    send_path = "/"
    message_id = MESSAGE_ID
    refusal_code = "InvalidParameter"
    required_strings = ("accessKeyId", "secretAccessKey", "region")
    secret_field = "secretAccessKey"
    bad_endpoints = (
        "https://sns.eu-west-1.amazonaws.com/v1",
        "ftp://sns.eu-west-1.amazonaws.com",
        "sns.eu-west-1.amazonaws.com",
        42,
    )
    template_field = "content"
    check_result = (
        f"Amazon SNS in {REGION} answered (default SMS type Promotional; codes go as Transactional)"
    )

    def config(self, endpoint: str) -> dict[str, Any]:
        return {**BASE_CONFIG, "endpoint": endpoint}

    def accept(self, request: Request) -> Response:
        assert signature_of(request) == recomputed_signature(request)
        return published()

    def refuse(self, request: Request, status: int, text: str) -> Response:
        return sns_error("InvalidParameter", text, status)

    def recipient(self, request: Request) -> str:
        return str(request.form["PhoneNumber"])

    def on_wire(self, phone: str) -> str:
        return phone

    def assert_sent_code(self, request: Request, phone: str) -> None:
        sent = dict(fields(request))
        assert sent["Action"] == "Publish"
        assert sent["Message"].startswith("code ")
        assert sent["MessageAttributes.entry.1.Value.StringValue"] == "Transactional"

    def answer_check(self, request: Request) -> Response:
        assert dict(fields(request))["Action"] == "GetSMSAttributes"
        assert signature_of(request) == recomputed_signature(request)
        body = (
            f'<GetSMSAttributesResponse xmlns="{XMLNS}"><GetSMSAttributesResult><attributes>'
            "<entry><key>DefaultSMSType</key><value>Promotional</value></entry>"
            "</attributes></GetSMSAttributesResult><ResponseMetadata><RequestId>r</RequestId>"
            "</ResponseMetadata></GetSMSAttributesResponse>"
        )
        return Response(body, 200, mimetype="text/xml")

    def test_check_sends_no_message(self, httpserver: HTTPServer, connector: HttpConnector) -> None:
        # Every SNS action is a POST to /: the action, not the path, tells them apart.
        httpserver.expect_request("/").respond_with_handler(self.answer_check)
        assert connector.check() == self.check_result
        assert [dict(fields(r))["Action"] for r, _ in httpserver.log] == ["GetSMSAttributes"]

    def retried_form(self, request: Request) -> bytes:
        data: bytes = request.get_data()
        return data

    def derived(self, request: Request) -> Iterable[str]:
        return (signature_of(request),)


# The exact request -----------------------------------------------------------------------


def test_publish_is_the_exact_signed_form(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/", method="POST").respond_with_handler(
        lambda request: published()
    )
    connector = make(httpserver, senderId="ACME", originationNumber="+12065550100")
    result = connector.send(SmsMessage(to="+8613800138000", usage="SignIn", code="123456"))
    assert (result.connector, result.message_id) == ("sns", MESSAGE_ID)
    (request, _), *others = httpserver.log
    assert others == []
    assert (request.method, request.path, request.query_string) == ("POST", "/", b"")
    assert request.headers["Content-Type"] == FORM
    # The body, byte for byte: SNS's query protocol as botocore's serializer writes it.
    assert request.get_data() == (
        b"Action=Publish&Version=2010-03-31&PhoneNumber=%2B8613800138000"
        b"&Message=Your+sign-in+code+is+123456."
        b"&MessageAttributes.entry.1.Name=AWS.SNS.SMS.SMSType"
        b"&MessageAttributes.entry.1.Value.DataType=String"
        b"&MessageAttributes.entry.1.Value.StringValue=Transactional"
        b"&MessageAttributes.entry.2.Name=AWS.SNS.SMS.SenderID"
        b"&MessageAttributes.entry.2.Value.DataType=String"
        b"&MessageAttributes.entry.2.Value.StringValue=ACME"
        b"&MessageAttributes.entry.3.Name=AWS.MM.SMS.OriginationNumber"
        b"&MessageAttributes.entry.3.Value.DataType=String"
        b"&MessageAttributes.entry.3.Value.StringValue=%2B12065550100"
    )
    authorization = request.headers["Authorization"]
    date = request.headers["X-Amz-Date"]
    assert authorization.startswith(
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{date[:8]}/{REGION}/sns/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, Signature="
    )
    assert signature_of(request) == recomputed_signature(request)
    # A different key gives a different signature: the recomputation proves something.
    assert signature_of(request) != recomputed_signature(request, secret_key="other")
    assert "X-Amz-Security-Token" not in request.headers


def test_a_session_token_is_sent_and_signed(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/").respond_with_handler(lambda request: published())
    make(httpserver, sessionToken="FwoGZXIvYXdzEXAMPLETOKEN").send(
        SmsMessage(to="+12015550123", usage="Generic", code="123456")
    )
    request = httpserver.log[0][0]
    assert request.headers["X-Amz-Security-Token"] == "FwoGZXIvYXdzEXAMPLETOKEN"
    assert "x-amz-security-token" in request.headers["Authorization"].split("SignedHeaders=")[1]
    assert signature_of(request) == recomputed_signature(request)


def test_the_template_is_picked_by_usage_and_locale(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/").respond_with_handler(lambda request: published())
    connector = make(httpserver)
    connector.send(SmsMessage(to="+8613800138000", usage="BindMfa", code="111111"))
    connector.send(
        SmsMessage(to="+8613800138000", usage="SignIn", code="222222", locale="zh-Hans-CN")
    )
    texts = [dict(fields(request))["Message"] for request, _ in httpserver.log]
    assert texts == ["code 111111", "验证码 222222"]


def test_credentials_and_region_come_from_the_aws_chain(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDCHAIN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "chain-secret-8d1f")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "chain-token-2c7a")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    config = {"templates": TEMPLATES, "endpoint": origin_of(httpserver)}
    connector = SnsConnector(config)
    assert connector.region == REGION
    assert set(connector.derived_secrets()) == {"chain-secret-8d1f", "chain-token-2c7a"}
    httpserver.expect_oneshot_request("/").respond_with_handler(lambda request: published())
    connector.send(SmsMessage(to="+12015550123", usage="Generic", code="123456"))
    request = httpserver.log[0][0]
    assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDCHAIN/")
    assert request.headers["X-Amz-Security-Token"] == "chain-token-2c7a"
    assert signature_of(request) == recomputed_signature(request, "AKIDCHAIN", "chain-secret-8d1f")


def test_the_default_endpoint_is_the_regional_one() -> None:
    assert SnsConnector(BASE_CONFIG).url == "https://sns.eu-west-1.amazonaws.com/"
    assert default_origin("cn-north-1") == "https://sns.cn-north-1.amazonaws.com.cn"


def test_the_signing_material_stays_out_of_the_debug_log(
    httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    httpserver.expect_oneshot_request("/").respond_with_handler(lambda request: published())
    make(httpserver, sessionToken="FwoGZXIvYXdzEXAMPLETOKEN").send(
        SmsMessage(to="+12015550123", usage="Generic", code="123456")
    )
    request = httpserver.log[0][0]
    assert "FwoGZXIvYXdzEXAMPLETOKEN" not in caplog.text
    assert signature_of(request) not in caplog.text
    assert "Calculating signature using v4 auth" in caplog.text  # botocore did log


def test_the_apps_own_boto3_debug_log_is_left_alone(caplog: pytest.LogCaptureFixture) -> None:
    """The filter is ours only while the connector signs and reads: a request the app signs
    itself (its own boto3 calls) still logs what the app asked botocore to log."""
    caplog.set_level(logging.DEBUG, logger="botocore")
    request = AWSRequest(method="POST", url="https://sns.us-east-1.amazonaws.com/", data=b"x=1")
    SigV4Auth(Credentials("AKIDEXAMPLE", "app-secret"), "sns", "us-east-1").add_auth(request)
    assert "StringToSign:" in caplog.text
    assert "CanonicalRequest:" in caplog.text


# Errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["Throttling", "Throttled", "ThrottlingException"])
def test_throttling_is_rate_limited(httpserver: HTTPServer, code: str) -> None:
    httpserver.expect_request("/").respond_with_handler(
        lambda request: sns_error(code, "Rate exceeded", 400)
    )
    with pytest.raises(ProviderRateLimited) as info:
        make(httpserver).send(SmsMessage(to="+12015550123", usage="Generic", code="123456"))
    assert (info.value.status_code, info.value.provider_code) == (400, code)
    assert info.value.provider_message == "Rate exceeded"
    assert len(httpserver.log) == 1


def test_an_opted_out_number_is_a_permanent_refusal(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/").respond_with_handler(
        lambda request: sns_error("OptedOut", "Phone number is opted out", 400)
    )
    with pytest.raises(ProviderRejected) as info:
        make(httpserver).send(SmsMessage(to="+12015550123", usage="Generic", code="123456"))
    assert info.value.provider_code == "OptedOut"
    assert not info.value.retryable
    assert not info.value.maybe_sent


def test_an_internal_error_is_unavailable(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/").respond_with_handler(
        lambda request: sns_error("InternalError", "oops", 500)
    )
    with pytest.raises(ProviderUnavailable) as info:
        make(httpserver).send(SmsMessage(to="+12015550123", usage="Generic", code="123456"))
    assert info.value.provider_code == "InternalError"


def test_an_unreadable_success_may_have_sent(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/").respond_with_data("<html>ok</html>", status=200)
    with pytest.raises(ProviderUnavailable) as info:
        make(httpserver).send(SmsMessage(to="+12015550123", usage="Generic", code="123456"))
    assert info.value.maybe_sent


# Configuration ---------------------------------------------------------------------------


def test_a_session_token_alone_is_refused() -> None:
    config = {k: v for k, v in BASE_CONFIG.items() if k not in ("accessKeyId", "secretAccessKey")}
    with pytest.raises(ConfigurationError) as info:
        SnsConnector({**config, "sessionToken": "t"})
    assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.accessKeyId"


def test_no_keys_and_no_chain_is_a_configuration_error() -> None:
    config = {k: v for k, v in BASE_CONFIG.items() if k not in ("accessKeyId", "secretAccessKey")}
    with pytest.raises(ConfigurationError, match="credential chain") as info:
        SnsConnector(config)
    assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.accessKeyId"


def test_init_app_names_the_bad_key(make_app: AppFactory) -> None:
    with pytest.raises(ConfigurationError) as info:
        make_app(SMS_OTP_CONNECTOR="sns", SMS_OTP_CONNECTOR_CONFIG={**BASE_CONFIG, "region": 1})
    assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.region"


def test_without_botocore_the_error_says_which_extra_to_install() -> None:
    script = (
        "import sys; sys.modules['botocore'] = None\n"
        "from flask_sms_otp.connectors.registry import get_connector_class\n"
        "from flask_sms_otp.connectors.registry import BUILTIN_CONNECTORS\n"
        "assert 'sns' in BUILTIN_CONNECTORS\n"
        "import flask_sms_otp\n"
        "try:\n"
        "    get_connector_class('sns')\n"
        "except flask_sms_otp.ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert "pip install 'flask-sms-otp[sns]'" in result.stdout
