"""Twilio Verify with a custom code, against a local fake of Verify v2: the start of each
verification, and the approval report once the code was used, which never holds or fails
the person's sign-up."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flask_sms_otp import ProviderRateLimited, ProviderRejected, SmsMessage
from flask_sms_otp.connectors.twilio_verify import TwilioVerifyConnector
from flask_sms_otp.testing import wait_for_sends

from ..helpers import PLAIN_HTTP, ApiClient, AppFactory
from .contract import HttpConnectorContract, origin_of

SERVICE = "VA0123456789abcdef0123456789abcdef"
VERIFICATION = "VE0123456789abcdef0123456789abcdef"
VERIFICATIONS_PATH = f"/v2/Services/{SERVICE}/Verifications"
APPROVAL_PATH = f"{VERIFICATIONS_PATH}/{VERIFICATION}"
# base64("account-sid:auth-token"), as for the Messaging API.
BASIC_AUTH = "Basic YWNjb3VudC1zaWQ6YXV0aC10b2tlbg=="
FORM = "application/x-www-form-urlencoded"
CODE = "914263"
PHONE = "+12015550123"
BASE_CONFIG: dict[str, Any] = {
    "accountSID": "account-sid",
    "authToken": "auth-token",
    "serviceSID": SERVICE,
}


def verification(request: Request, status: str = "pending") -> Response:
    """Verify's Verification resource (it repeats the number, never the code)."""
    answer = {
        "sid": VERIFICATION,
        "service_sid": SERVICE,
        "account_sid": "account-sid",
        "to": request.form.get("To", PHONE),
        "channel": "sms",
        "status": status,
        "valid": status == "approved",
    }
    return Response(json.dumps(answer), 201 if status == "pending" else 200)


def twilio_error(code: int, text: str, status: int) -> Response:
    answer = {
        "code": code,
        "message": text,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return Response(json.dumps(answer), status, mimetype="application/json")


class TestContract(HttpConnectorContract):
    connector_class = TwilioVerifyConnector
    send_path = VERIFICATIONS_PATH
    message_id = VERIFICATION
    refusal_code = "60200"
    required_strings = ("accountSID", "authToken", "serviceSID")
    secret_field = "authToken"
    bad_endpoints = ("https://verify.twilio.com/v2", "verify.twilio.com", 42)
    check_result = f"Twilio Verify service {SERVICE} (ACME) answered"

    def config(self, endpoint: str) -> dict[str, Any]:
        return {**BASE_CONFIG, "endpoint": endpoint}

    def accept(self, request: Request) -> Response:
        return verification(request)

    def refuse(self, request: Request, status: int, text: str) -> Response:
        return twilio_error(60200, text, status)

    def recipient(self, request: Request) -> str:
        return str(request.form["To"])

    def on_wire(self, phone: str) -> str:
        return phone

    def assert_sent_code(self, request: Request, phone: str) -> None:
        assert request.form["Channel"] == "sms"
        assert len(request.form["CustomCode"]) == 6

    def answer_check(self, request: Request) -> Response:
        assert (request.method, request.path) == ("GET", f"/v2/Services/{SERVICE}")
        assert request.headers["Authorization"] == BASIC_AUTH
        answer = {"sid": SERVICE, "friendly_name": "ACME", "custom_code_enabled": True}
        return Response(json.dumps(answer), 200)


def make(httpserver: HTTPServer) -> TwilioVerifyConnector:
    return TwilioVerifyConnector({**BASE_CONFIG, "endpoint": origin_of(httpserver)})


# The exact requests ----------------------------------------------------------------------


def test_a_send_starts_a_verification_with_our_code(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(
        VERIFICATIONS_PATH,
        method="POST",
        headers={"Authorization": BASIC_AUTH, "Content-Type": FORM},
    ).respond_with_handler(verification)
    result = make(httpserver).send(SmsMessage(to=PHONE, usage="SignIn", code="123456"))
    assert (result.connector, result.message_id) == ("twilio_verify", VERIFICATION)
    ((request, _),) = httpserver.log
    assert (request.method, request.path) == ("POST", VERIFICATIONS_PATH)
    assert request.get_data() == b"To=%2B12015550123&Channel=sms&CustomCode=123456"


def test_the_approval_report_sets_the_verification_approved(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(
        APPROVAL_PATH,
        method="POST",
        headers={"Authorization": BASIC_AUTH, "Content-Type": FORM},
    ).respond_with_handler(lambda request: verification(request, "approved"))
    make(httpserver).report_verified(VERIFICATION)
    ((request, _),) = httpserver.log
    assert (request.method, request.path) == ("POST", APPROVAL_PATH)
    assert request.get_data() == b"Status=approved"


def test_a_notice_is_not_sent(httpserver: HTTPServer) -> None:
    with pytest.raises(Exception, match="only codes"):
        make(httpserver).send(SmsMessage(to=PHONE, usage="PasswordChanged", code=""))
    assert httpserver.log == []


@pytest.mark.parametrize(
    ("code", "kind"), [(60203, ProviderRateLimited), (60410, ProviderRejected)]
)
def test_verify_errors_are_typed(httpserver: HTTPServer, code: int, kind: type[Exception]) -> None:
    status = 429 if code == 60203 else 403
    httpserver.expect_request(VERIFICATIONS_PATH).respond_with_response(
        twilio_error(code, "Max send attempts reached" if status == 429 else "Blocked", status)
    )
    with pytest.raises(kind) as info:
        make(httpserver).send(SmsMessage(to=PHONE, usage="SignIn", code="123456"))
    assert getattr(info.value, "provider_code", None) == str(code)


def test_check_refuses_a_service_without_custom_codes(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/v2/Services/{SERVICE}").respond_with_json(
        {"sid": SERVICE, "friendly_name": "ACME", "custom_code_enabled": False}
    )
    with pytest.raises(ProviderRejected, match="Enable Custom Verification Code"):
        make(httpserver).check()


# Through the app: the report follows the verification, off the request --------------------


def verify_app(make_app: AppFactory, httpserver: HTTPServer) -> Any:
    return make_app(
        **PLAIN_HTTP,
        SMS_OTP_CONNECTOR="twilio_verify",
        SMS_OTP_CONNECTOR_CONFIG={**BASE_CONFIG, "endpoint": origin_of(httpserver)},
        code_generator=lambda length: CODE,
    )


def sign_up(app: Any) -> tuple[ApiClient, str]:
    client = ApiClient(app)
    vid = client.request_code(PHONE, "Register")
    wait_for_sends(app)
    return client, vid


def test_a_used_code_is_reported_approved_after_the_sign_up(
    make_app: AppFactory, httpserver: HTTPServer
) -> None:
    release = threading.Event()

    def approve(request: Request) -> Response:
        release.wait(5)  # a report on the person's request would hold the sign-up here
        return verification(request, "approved")

    httpserver.expect_request(VERIFICATIONS_PATH, method="POST").respond_with_handler(verification)
    httpserver.expect_request(APPROVAL_PATH, method="POST").respond_with_handler(approve)
    app = verify_app(make_app, httpserver)
    client, vid = sign_up(app)
    start = httpserver.log[0][0]
    assert start.get_data() == f"To=%2B12015550123&Channel=sms&CustomCode={CODE}".encode()
    began = time.monotonic()
    response = client.post("/sign-up", {"verification_id": vid, "code": CODE})
    assert response.status_code == 201, response.get_json()
    assert time.monotonic() - began < 2
    release.set()
    wait_for_sends(app)
    assert [(r.method, r.path) for r, _ in httpserver.log] == [
        ("POST", VERIFICATIONS_PATH),
        ("POST", APPROVAL_PATH),
    ]
    approval = httpserver.log[1][0]
    assert approval.headers["Authorization"] == BASIC_AUTH
    assert approval.headers["Content-Type"] == FORM
    assert approval.get_data() == b"Status=approved"


def test_a_failed_report_never_fails_the_sign_up(
    make_app: AppFactory, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flask_sms_otp")
    httpserver.expect_request(VERIFICATIONS_PATH, method="POST").respond_with_handler(verification)
    httpserver.expect_request(APPROVAL_PATH, method="POST").respond_with_handler(
        lambda request: twilio_error(20404, f"not found auth-token {PHONE}", 404)
    )
    app = verify_app(make_app, httpserver)
    client, vid = sign_up(app)
    response = client.post("/sign-up", {"verification_id": vid, "code": CODE})
    assert response.status_code == 201
    wait_for_sends(app)
    assert client.signed_in_phone() == PHONE
    assert f"could not report message {VERIFICATION} verified" in caplog.text
    assert "provider code 20404" in caplog.text
    for secret in ("auth-token", PHONE, PHONE.removeprefix("+"), CODE):
        assert secret not in caplog.text


def test_a_wrong_code_reports_nothing(make_app: AppFactory, httpserver: HTTPServer) -> None:
    httpserver.expect_request(VERIFICATIONS_PATH, method="POST").respond_with_handler(verification)
    app = verify_app(make_app, httpserver)
    client, vid = sign_up(app)
    response = client.post("/sign-up", {"verification_id": vid, "code": "000000"})
    assert response.status_code == 400
    wait_for_sends(app)
    assert [r.path for r, _ in httpserver.log] == [VERIFICATIONS_PATH]


def test_an_app_without_such_a_connector_listens_to_nothing(make_app: AppFactory) -> None:
    from flask_sms_otp import signals

    app = make_app()
    assert not signals.code_verified.has_receivers_for(app)
