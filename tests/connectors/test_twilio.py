"""Twilio connector against a local fake of the Messages API (providers.md §2.1)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flask_sms_otp import (
    ConfigurationError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from flask_sms_otp.connectors.base import SmsMessage
from flask_sms_otp.connectors.twilio import TwilioConnector, form_urlencode

from ..conftest import AppFactory
from .echoes import (
    PARTS,
    assert_accepted_answer_stays_out,
    assert_nothing_leaks,
    echo_of,
    retry_then,
)

# providers.md §7.3: base64("account-sid:auth-token").
BASIC_AUTH = "Basic YWNjb3VudC1zaWQ6YXV0aC10b2tlbg=="
MESSAGES_PATH = "/2010-04-01/Accounts/account-sid/Messages.json"
FORM = "application/x-www-form-urlencoded"

TEMPLATES = [
    {"usageType": "Generic", "content": "code {{code}}"},
    {"usageType": "SignIn", "content": "Your sign-in code is {{code}}."},
    {"usageType": "Register", "content": "Your sign-up code is {{code}}."},
    {"usageType": "ForgotPassword", "content": "Your password code is {{code}}."},
]
BASE_CONFIG: dict[str, Any] = {
    "accountSID": "account-sid",
    "authToken": "auth-token",
    "fromMessagingServiceSID": "from-messaging-service-sid",
    "templates": TEMPLATES,
}


def origin(httpserver: HTTPServer) -> str:
    return str(httpserver.url_for("/")).rstrip("/")


def make(httpserver: HTTPServer, **overrides: Any) -> TwilioConnector:
    config = {**BASE_CONFIG, "endpoint": origin(httpserver), **overrides}
    return TwilioConnector(config, sleep=lambda s: None)


def message(to: str = "+4512345678", usage: str = "Generic", code: str = "123456") -> SmsMessage:
    return SmsMessage(to=to, usage=usage, code=code)


def expect_send(httpserver: HTTPServer) -> Any:
    return httpserver.expect_oneshot_request(
        MESSAGES_PATH,
        method="POST",
        headers={"Authorization": BASIC_AUTH, "Content-Type": FORM},
    )


def sent_body(httpserver: HTTPServer, index: int = 0) -> bytes:
    request = httpserver.log[index][0]
    data: bytes = request.get_data()
    return data


# Request shape ---------------------------------------------------------------------------


def test_send_posts_the_exact_form_and_returns_the_message_sid(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_json({"sid": "SM0123", "status": "accepted"}, status=201)
    result = make(httpserver).send(message())
    assert result.connector == "twilio"
    assert result.message_id == "SM0123"
    assert len(httpserver.log) == 1
    request = httpserver.log[0][0]
    assert request.method == "POST"
    assert request.path == MESSAGES_PATH
    assert request.headers["Authorization"] == BASIC_AUTH
    assert request.headers["Content-Type"] == FORM
    # providers.md §2.1's example body, byte for byte (field order, + as %2B, space as +).
    assert sent_body(httpserver) == (
        b"To=%2B4512345678&MessagingServiceSid=from-messaging-service-sid"
        b"&Body=code+123456&RiskCheck=enable"
    )


def test_disable_risk_check_sends_risk_check_disable(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_json({"sid": "SM1"}, status=201)
    make(httpserver, disableRiskCheck=True).send(message())
    assert sent_body(httpserver).endswith(b"&RiskCheck=disable")


def test_risk_check_enable_is_sent_when_explicitly_false(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_json({"sid": "SM1"}, status=201)
    make(httpserver, disableRiskCheck=False).send(message())
    assert sent_body(httpserver).endswith(b"&RiskCheck=enable")


def test_plus_is_added_when_missing(httpserver: HTTPServer) -> None:
    # Logto's nock test: input 4512345678 is sent as +4512345678.
    expect_send(httpserver).respond_with_json({"sid": "SM1"}, status=201)
    make(httpserver).send(message(to="4512345678"))
    assert parse_qs(sent_body(httpserver).decode())["To"] == ["+4512345678"]


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ("SignIn", "Your sign-in code is 654321."),
        ("Register", "Your sign-up code is 654321."),
        ("BindMfa", "code 654321"),  # no BindMfa template: Generic fallback
    ],
)
def test_template_by_usage_then_generic(httpserver: HTTPServer, usage: str, expected: str) -> None:
    expect_send(httpserver).respond_with_json({"sid": "SM1"}, status=201)
    make(httpserver).send(message(usage=usage, code="654321"))
    assert parse_qs(sent_body(httpserver).decode())["Body"] == [expected]


def test_body_is_encoded_like_url_search_params(httpserver: HTTPServer) -> None:
    templates = [{**t, "content": "Код {{code}}: a+b ~*'!()"} for t in TEMPLATES]
    expect_send(httpserver).respond_with_json({"sid": "SM1"}, status=201)
    make(httpserver, templates=templates).send(message())
    body = sent_body(httpserver)
    assert b"&Body=%D0%9A%D0%BE%D0%B4+123456%3A+a%2Bb+%7E*%27%21%28%29&" in body
    assert parse_qs(body.decode())["Body"] == ["Код 123456: a+b ~*'!()"]


def test_form_urlencode_matches_url_search_params() -> None:
    assert form_urlencode([("a b", "x+y"), ("k", "-._*~/")]) == "a+b=x%2By&k=-._*%7E%2F"


def test_a_2xx_without_json_is_still_accepted(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_data("ok", status=201)
    assert make(httpserver).send(message()).message_id is None


def test_default_endpoint_is_twilio() -> None:
    connector = TwilioConnector(BASE_CONFIG)
    assert connector.messages_url == (
        "https://api.twilio.com/2010-04-01/Accounts/account-sid/Messages.json"
    )


# Failure shapes --------------------------------------------------------------------------


def twilio_error(code: int, text: str, status: int) -> dict[str, Any]:
    return {
        "code": code,
        "message": text,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def test_invalid_number_is_rejected_with_twilio_code_and_message(httpserver: HTTPServer) -> None:
    text = "The 'To' number +4512345678 is not a valid phone number."
    expect_send(httpserver).respond_with_json(twilio_error(21211, text, 400), status=400)
    with pytest.raises(ProviderRejected) as info:
        make(httpserver).send(message())
    error = info.value
    assert (error.status_code, error.provider_code, error.provider_message) == (400, "21211", text)
    assert error.connector == "twilio"
    assert not error.retryable
    assert text in str(error)
    assert "provider code 21211" in error.describe()


def test_bad_credentials_are_rejected(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_json(twilio_error(20003, "Authenticate", 401), status=401)
    with pytest.raises(ProviderRejected) as info:
        make(httpserver).send(message())
    assert (info.value.status_code, info.value.provider_code) == (401, "20003")
    assert info.value.provider_message == "Authenticate"


def test_429_with_long_retry_after_is_rate_limited_at_once(httpserver: HTTPServer) -> None:
    httpserver.expect_request(MESSAGES_PATH, method="POST").respond_with_json(
        twilio_error(20429, "Too Many Requests", 429), status=429, headers={"Retry-After": "60"}
    )
    with pytest.raises(ProviderRateLimited) as info:
        make(httpserver).send(message())
    error = info.value
    assert (error.status_code, error.provider_code) == (429, "20429")
    assert error.provider_message == "Too Many Requests"
    assert error.retry_after == 60
    assert error.retryable
    assert len(httpserver.log) == 1  # a wait longer than max_retry_wait is not slept through


def test_429_is_retried_with_backoff_then_rate_limited(httpserver: HTTPServer) -> None:
    httpserver.expect_request(MESSAGES_PATH, method="POST").respond_with_json(
        twilio_error(20429, "Too Many Requests", 429), status=429
    )
    waits: list[float] = []
    connector = TwilioConnector({**BASE_CONFIG, "endpoint": origin(httpserver)}, sleep=waits.append)
    with pytest.raises(ProviderRateLimited):
        connector.send(message())
    assert len(httpserver.log) == 3
    assert waits == [0.25, 0.5]
    assert all(sent_body(httpserver, i) == sent_body(httpserver, 0) for i in range(3))


def test_error_code_20429_is_rate_limited_whatever_the_status(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_json(
        twilio_error(20429, "Too Many Requests", 400), status=400
    )
    with pytest.raises(ProviderRateLimited) as info:
        make(httpserver).send(message())
    assert (info.value.status_code, info.value.provider_code) == (400, "20429")


def test_5xx_is_unavailable(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_json(
        twilio_error(20500, "Internal Server Error", 500), status=500
    )
    with pytest.raises(ProviderUnavailable) as info:
        make(httpserver).send(message())
    assert (info.value.status_code, info.value.provider_code) == (500, "20500")
    assert info.value.retryable


def test_non_json_error_keeps_the_raw_body(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_data(
        "<html>\n  Bad   gateway\n</html>", status=502, content_type="text/html"
    )
    with pytest.raises(ProviderUnavailable) as info:
        make(httpserver).send(message())
    assert info.value.status_code == 502
    assert info.value.provider_code is None
    assert info.value.provider_message == "<html> Bad gateway </html>"


def test_non_json_4xx_is_rejected(httpserver: HTTPServer) -> None:
    expect_send(httpserver).respond_with_data("Forbidden", status=403)
    with pytest.raises(ProviderRejected) as info:
        make(httpserver).send(message())
    assert (info.value.status_code, info.value.provider_message) == (403, "Forbidden")


def test_read_timeout_is_unavailable_and_not_retried() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("slow", request=request)

    connector = TwilioConnector(
        BASE_CONFIG, transport=httpx.MockTransport(handler), sleep=lambda s: None
    )
    with pytest.raises(ProviderUnavailable, match="did not answer in time"):
        connector.send(message())
    assert len(calls) == 1  # Twilio may have accepted it: never sent twice


def test_connect_error_is_retried_then_unavailable() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("refused", request=request)

    connector = TwilioConnector(
        BASE_CONFIG, transport=httpx.MockTransport(handler), sleep=lambda s: None
    )
    with pytest.raises(ProviderUnavailable, match="cannot connect"):
        connector.send(message())
    assert len(calls) == 3


# Provider check --------------------------------------------------------------------------


def test_check_fetches_the_account_without_sending(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(
        "/2010-04-01/Accounts/account-sid.json",
        method="GET",
        headers={"Authorization": BASIC_AUTH},
    ).respond_with_json({"sid": "account-sid", "status": "active"})
    assert make(httpserver).check() == "Twilio account account-sid is active"
    assert len(httpserver.log) == 1


def test_check_reports_bad_credentials(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/2010-04-01/Accounts/account-sid.json").respond_with_json(
        twilio_error(20003, "Authenticate", 401), status=401
    )
    with pytest.raises(ProviderRejected) as info:
        make(httpserver).check()
    assert info.value.provider_code == "20003"


# Configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["accountSID", "authToken", "fromMessagingServiceSID"])
@pytest.mark.parametrize("bad", [None, "", 42])
def test_required_strings(field: str, bad: Any) -> None:
    config = dict(BASE_CONFIG)
    if bad is None:
        del config[field]
    else:
        config[field] = bad
    with pytest.raises(ConfigurationError) as info:
        TwilioConnector(config)
    assert info.value.key == f"SMS_OTP_CONNECTOR_CONFIG.{field}"


@pytest.mark.parametrize("bad", ["true", 1, "yes"])
def test_disable_risk_check_must_be_boolean(bad: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        TwilioConnector({**BASE_CONFIG, "disableRiskCheck": bad})
    assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.disableRiskCheck"


def test_templates_are_required() -> None:
    config = {k: v for k, v in BASE_CONFIG.items() if k != "templates"}
    with pytest.raises(ConfigurationError) as info:
        TwilioConnector(config)
    assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.templates"


def test_missing_required_templates_are_named() -> None:
    templates = [t for t in TEMPLATES if t["usageType"] not in ("Generic", "ForgotPassword")]
    with pytest.raises(ConfigurationError) as info:
        TwilioConnector({**BASE_CONFIG, "templates": templates})
    assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.templates"
    assert "ForgotPassword" in info.value.problem
    assert "Generic" in info.value.problem


def test_template_without_content_is_named() -> None:
    templates = [*TEMPLATES, {"usageType": "BindMfa"}]
    with pytest.raises(ConfigurationError) as info:
        TwilioConnector({**BASE_CONFIG, "templates": templates})
    assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.templates[4].content"


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://api.twilio.com/2010-04-01",
        "ftp://api.twilio.com",
        "api.twilio.com",
        "https://api.twilio.com?x=1",
        42,
    ],
)
def test_bad_endpoint_is_rejected(endpoint: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        TwilioConnector({**BASE_CONFIG, "endpoint": endpoint})
    assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.endpoint"


def test_endpoint_with_trailing_slash_is_an_origin() -> None:
    connector = TwilioConnector({**BASE_CONFIG, "endpoint": "http://127.0.0.1:8080/"})
    assert connector.messages_url == f"http://127.0.0.1:8080{MESSAGES_PATH}"


# Secrets ---------------------------------------------------------------------------------


def test_repr_and_errors_hide_the_token(httpserver: HTTPServer) -> None:
    connector = make(httpserver)
    assert "auth-token" not in repr(connector)
    assert "YWNjb3VudC1zaWQ6YXV0aC10b2tlbg" not in repr(connector)
    # A provider (or proxy) echoing the token must not carry it into our errors.
    expect_send(httpserver).respond_with_json(
        twilio_error(20003, "bad token auth-token", 401), status=401
    )
    with pytest.raises(ProviderRejected) as info:
        connector.send(message())
    for text in (str(info.value), info.value.describe(), repr(info.value)):
        assert "auth-token" not in text
    assert info.value.provider_message == "bad token [redacted]"


def test_config_errors_hide_the_token() -> None:
    with pytest.raises(ConfigurationError) as info:
        TwilioConnector({**BASE_CONFIG, "fromMessagingServiceSID": ""})
    assert "auth-token" not in str(info.value)


# CLI end to end --------------------------------------------------------------------------


def cli_app(make_app: AppFactory, httpserver: HTTPServer) -> Any:
    return make_app(
        SMS_OTP_CONNECTOR="twilio",
        SMS_OTP_CONNECTOR_CONFIG={**BASE_CONFIG, "endpoint": origin(httpserver)},
    )


@pytest.mark.parametrize("phone", ["+8613800138000", "+12015550123"])
def test_cli_send_test(make_app: AppFactory, httpserver: HTTPServer, phone: str) -> None:
    expect_send(httpserver).respond_with_json({"sid": "SM42", "status": "accepted"}, status=201)
    app = cli_app(make_app, httpserver)
    result = app.test_cli_runner().invoke(args=["sms-otp", "send-test", phone])
    assert result.exit_code == 0, result.output
    assert "SM42" in result.output
    assert len(httpserver.log) == 1
    fields = parse_qs(sent_body(httpserver).decode())
    assert fields["To"] == [phone]
    assert fields["MessagingServiceSid"] == ["from-messaging-service-sid"]
    assert fields["RiskCheck"] == ["enable"]
    assert re.fullmatch(r"code \d{6}", fields["Body"][0])


def test_cli_send_test_failure_names_twilio_reason(
    make_app: AppFactory, httpserver: HTTPServer
) -> None:
    text = "Attempt to send to unsubscribed recipient"
    expect_send(httpserver).respond_with_json(twilio_error(21610, text, 400), status=400)
    app = cli_app(make_app, httpserver)
    result = app.test_cli_runner().invoke(args=["sms-otp", "send-test", "+12015550123"])
    assert result.exit_code != 0
    assert text in result.output
    assert "21610" in result.output
    assert "auth-token" not in result.output


# Security check 36: an answer that repeats the request ------------------------------------

ECHO_TOKEN = "tw-auth-7d41c09b2e5a"


@pytest.mark.parametrize("part", PARTS)
def test_an_answer_repeating_the_request_leaks_nothing(
    make_app: AppFactory, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture, part: str
) -> None:
    def refuse(request: Request) -> Response:
        text = "Invalid 'To' Phone Number: " + echo_of(request, part, request.form["To"])
        return Response(
            json.dumps(twilio_error(21211, text, 400)), 400, mimetype="application/json"
        )

    httpserver.expect_request(MESSAGES_PATH, method="POST").respond_with_handler(refuse)
    assert_nothing_leaks(
        make_app,
        httpserver,
        caplog,
        connector="twilio",
        config={**BASE_CONFIG, "authToken": ECHO_TOKEN, "endpoint": origin(httpserver)},
        secrets=[ECHO_TOKEN],
        kept=["21211", "Invalid 'To' Phone Number"],
    )


def test_a_refused_check_repeating_the_headers_shows_no_credential(
    make_app: AppFactory, httpserver: HTTPServer
) -> None:
    def refuse(request: Request) -> Response:
        text = "Authenticate: " + echo_of(request, "headers", "")
        return Response(
            json.dumps(twilio_error(20003, text, 401)), 401, mimetype="application/json"
        )

    httpserver.expect_request(
        "/2010-04-01/Accounts/account-sid.json", method="GET"
    ).respond_with_handler(refuse)
    app = make_app(
        SMS_OTP_CONNECTOR="twilio",
        SMS_OTP_CONNECTOR_CONFIG={
            **BASE_CONFIG,
            "authToken": ECHO_TOKEN,
            "endpoint": origin(httpserver),
        },
    )
    result = app.test_cli_runner().invoke(args=["sms-otp", "check", "--ping"])
    assert result.exit_code != 0
    authorization = httpserver.log[0][0].headers["Authorization"]
    assert authorization in httpserver.log[0][1].get_data(as_text=True)
    assert "20003" in result.output
    assert "Basic [redacted]" in result.output
    for secret in (ECHO_TOKEN, authorization, authorization.removeprefix("Basic ")):
        assert secret not in result.output


def test_the_accepted_answer_repeating_the_message_stays_out_of_the_log(
    make_app: AppFactory, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    def accept(request: Request) -> Response:
        # Twilio's Message resource repeats the number and the text.
        answer = {"sid": "SM7e3c", "to": request.form["To"], "body": request.form["Body"]}
        return Response(json.dumps(answer), 201, mimetype="application/json")

    httpserver.expect_request(MESSAGES_PATH, method="POST").respond_with_handler(retry_then(accept))
    assert_accepted_answer_stays_out(
        make_app,
        httpserver,
        caplog,
        connector="twilio",
        config={**BASE_CONFIG, "endpoint": origin(httpserver)},
        message_id="SM7e3c",
    )
