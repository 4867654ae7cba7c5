"""The receipt signature schemes against their published vectors, and the connectors'
receipt config, without Flask: what :mod:`tests.test_receipts` then drives over HTTP.

The vectors are fixed strings from the providers' and standards' own pages, never
recomputed by the product code: Twilio's "Webhooks security" example, the
vonage-python-sdk's signature test, and RFC 7515 appendix A.1 (HS256).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flask_sms_otp import ConfigurationError
from flask_sms_otp.connectors.gatewayapi import GatewayApiConnector, verify_hs256
from flask_sms_otp.connectors.receipts import RANK, Receipt, ReceiptRequest, check_fresh
from flask_sms_otp.connectors.twilio import TwilioConnector, twilio_signature, url_variants
from flask_sms_otp.connectors.vonage import VonageConnector, vonage_signature
from flask_sms_otp.errors import ReceiptMalformed, ReceiptRejected

from ..helpers import GATEWAYAPI_CONFIG, TWILIO_CONFIG, VONAGE_CONFIG

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

# Twilio's "Webhooks security" page: auth token 12345, this URL and these parameters.
TWILIO_DOCS_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_DOCS_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
TWILIO_DOCS_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="

# RFC 7515 appendix A.1: a JWS with HMAC SHA-256, its key given as a JWK "k".
RFC7515_KEY = base64.urlsafe_b64decode(
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow=="
)
RFC7515_JWS = (
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)


def test_twilio_signature_matches_the_docs_example() -> None:
    assert twilio_signature("12345", TWILIO_DOCS_URL, TWILIO_DOCS_PARAMS.items()) == (
        TWILIO_DOCS_SIGNATURE
    )
    changed = {**TWILIO_DOCS_PARAMS, "Digits": "1235"}
    assert twilio_signature("12345", TWILIO_DOCS_URL, changed.items()) != TWILIO_DOCS_SIGNATURE


def test_twilio_receipt_accepts_the_docs_example_with_or_without_the_port() -> None:
    connector = TwilioConnector({**TWILIO_CONFIG, "authToken": "12345"})
    body = "&".join(f"{k}={v}" for k, v in TWILIO_DOCS_PARAMS.items()).replace("+", "%2B")
    body += "&MessageSid=SM1&MessageStatus=delivered"
    params = {**TWILIO_DOCS_PARAMS, "MessageSid": "SM1", "MessageStatus": "delivered"}
    signature = twilio_signature("12345", TWILIO_DOCS_URL, params.items())
    for url in (TWILIO_DOCS_URL, "https://mycompany.com:443/myapp.php?foo=1&bar=2"):
        request = ReceiptRequest(
            url,
            {"x-twilio-signature": signature},
            body.encode(),
            "application/x-www-form-urlencoded",
        )
        receipt = connector.receipt(request, NOW)
        assert (receipt.message_id, receipt.status, receipt.signed_at) == ("SM1", "delivered", None)


def test_twilio_url_variants() -> None:
    assert url_variants("https://a.example/r?x=1") == [
        "https://a.example/r?x=1",
        "https://a.example:443/r?x=1",
    ]
    assert url_variants("http://a.example:8080/r") == [
        "http://a.example/r",
        "http://a.example:8080/r",
    ]


def test_twilio_json_body_is_signed_by_its_hash_in_the_url() -> None:
    connector = TwilioConnector(TWILIO_CONFIG)
    body = json.dumps({"MessageSid": "SM9", "MessageStatus": "failed", "ErrorCode": 30008})
    digest = hashlib.sha256(body.encode()).hexdigest()
    url = f"https://app.example/auth/api/receipts/default?bodySHA256={digest}"
    # The signature covers the URL alone (no parameters): computed by hand.
    mac = hmac.new(b"auth-token", url.encode(), hashlib.sha1).digest()
    headers = {"X-Twilio-Signature": base64.b64encode(mac).decode()}
    receipt = connector.receipt(
        ReceiptRequest(url, headers, body.encode(), "application/json"), NOW
    )
    assert (receipt.message_id, receipt.status, receipt.error_code) == ("SM9", "failed", "30008")
    altered = body.replace("failed", "delivered").encode()
    with pytest.raises(ReceiptRejected):
        connector.receipt(ReceiptRequest(url, headers, altered, "application/json"), NOW)


def test_vonage_signature_matches_the_sdk_vector() -> None:
    # vonage-python-sdk tests: params a=1, b=2, timestamp=1461605396, secret "secret", md5hash.
    params = {"a": "1", "b": "2", "timestamp": "1461605396"}
    assert vonage_signature(params, "secret") == "6af838ef94998832dbfc29020b564830"


@pytest.mark.parametrize("method", ["md5", "sha1", "sha256", "sha512"])
def test_vonage_hmac_methods(method: str) -> None:
    params = {"messageId": "0A1", "status": "delivered", "text": "a&b=c", "timestamp": "1"}
    # By hand: "&name=value" sorted, "&" and "=" in values made "_", HMAC keyed by the secret.
    signed = "&messageId=0A1&status=delivered&text=a_b_c&timestamp=1"
    expected = hmac.new(b"s3cret", signed.encode(), getattr(hashlib, method)).hexdigest()
    assert vonage_signature(params, "s3cret", method) == expected


def test_vonage_config_keys() -> None:
    assert not VonageConnector(VONAGE_CONFIG).accepts_receipts
    connector = VonageConnector({**VONAGE_CONFIG, "signatureSecret": "x"})
    assert connector.accepts_receipts
    assert connector.signature_method == "md5hash"
    assert "signatureSecret" in connector.secret_fields
    with pytest.raises(ConfigurationError, match="signatureMethod"):
        VonageConnector({**VONAGE_CONFIG, "signatureSecret": "x", "signatureMethod": "md4"})


@pytest.mark.parametrize(
    ("cls", "config"),
    [
        (TwilioConnector, TWILIO_CONFIG),
        (VonageConnector, VONAGE_CONFIG),
        (GatewayApiConnector, GATEWAYAPI_CONFIG),
    ],
)
@pytest.mark.parametrize("bad", ["/relative", "ftp://x.example/r", "not a url", 42])
def test_status_callback_must_be_an_absolute_url(
    cls: Any, config: dict[str, Any], bad: Any
) -> None:
    with pytest.raises(ConfigurationError, match="statusCallback"):
        cls({**config, "statusCallback": bad})


def test_hs256_verifies_the_rfc_7515_example() -> None:
    claims = verify_hs256(RFC7515_JWS, RFC7515_KEY)
    assert claims == {"iss": "joe", "exp": 1300819380, "http://example.com/is_root": True}
    with pytest.raises(ReceiptRejected):
        verify_hs256(RFC7515_JWS, RFC7515_KEY[:-1])


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "header", [{"alg": "none"}, {"alg": "HS512"}, {"alg": "hs256"}, {"typ": "JWT"}]
)
def test_hs256_refuses_other_algorithms(header: dict[str, Any]) -> None:
    payload = _b64({"id": 1, "status": "DELIVERED"})
    unsigned = f"{_b64(header)}.{payload}."
    with pytest.raises(ReceiptRejected):
        verify_hs256(unsigned, "secret")
    signing_input = f"{_b64(header)}.{payload}".encode()
    mac = hmac.new(b"secret", signing_input, hashlib.sha256).digest()
    signed = f"{signing_input.decode()}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(ReceiptRejected):
        verify_hs256(signed, "secret")


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", "!!.??.**", "e30.e30.%%%"])
def test_hs256_refuses_what_is_not_a_token(token: str) -> None:
    with pytest.raises(ReceiptRejected):
        verify_hs256(token, "secret")


def test_gatewayapi_config_keys() -> None:
    assert not GatewayApiConnector(GATEWAYAPI_CONFIG).accepts_receipts
    connector = GatewayApiConnector({**GATEWAYAPI_CONFIG, "webhookSecret": "w"})
    assert connector.accepts_receipts
    assert "webhookSecret" in connector.secret_fields


def test_statuses_only_move_forward() -> None:
    assert RANK["accepted"] < RANK["sent"] < RANK["buffered"] < RANK["delivered"]
    assert RANK["delivered"] == RANK["failed"] == RANK["expired"]


def test_freshness_window() -> None:
    day = timedelta(hours=24)
    check_fresh(NOW - day + timedelta(seconds=1), NOW, day)  # a provider's late retry
    check_fresh(NOW + timedelta(minutes=4), NOW, day)  # a clock a little ahead of ours
    with pytest.raises(ReceiptRejected, match="stale"):
        check_fresh(NOW - day - timedelta(seconds=1), NOW, day)
    with pytest.raises(ReceiptRejected, match="clock_ahead"):
        check_fresh(NOW + timedelta(minutes=6), NOW, day)


def test_receipt_key_tells_replays_from_new_receipts() -> None:
    one = Receipt("M1", "delivered", "delivered", signed_at=NOW)
    assert one.key == Receipt("M1", "delivered", "delivered", signed_at=NOW).key
    assert one.key != Receipt("M1", "failed", "failed", signed_at=NOW).key
    assert one.key != Receipt("M2", "delivered", "delivered", signed_at=NOW).key
    assert one.key != Receipt("M1", "delivered", "delivered").key


@pytest.mark.parametrize("body", [b"\xff\xfe", b"[1, 2]", b"{", b"[" * 100_000, b"x" * 70_000])
def test_request_bodies_that_are_not_receipts(body: bytes) -> None:
    request = ReceiptRequest("https://a.example/r", {}, body, "application/json")
    with pytest.raises(ReceiptMalformed):
        request.json_object()


# A status webhook's token as GatewayAPI sends it (no "iat": its "time" dates it), from the
# tests of nickdnk/gatewayapi-php, a GatewayAPI client library; signed with "secret".
GATEWAYAPI_LIBRARY_JWT = (
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9"
    ".eyJpZCI6MjM4MTcwMywibXNpc2RuIjo0NTQyNjA5MDQ1LCJ0aW1lIjoxNTIyNzY0MDYyLCJzdGF0dXMiOiJERUxJVkVSRUQi"
    "LCJlcnJvciI6ImVycm9yIHRleHQiLCJjb2RlIjoiZXJyb3IgY29kZSIsImNvdW50cnlfcHJlZml4Ijo0NSwiY291bnRyeV9j"
    "b2RlIjoiREsiLCJjaGFyZ2Vfc3RhdHVzIjoiQVVUSE9SSVpFRCIsInVzZXJyZWYiOiJhIHJlZmVyZW5jZSJ9"
    ".LgbbsxAj61SQhDA0A3dGlcT8OZN2UJsTgBiifNHEeh8"
)
GATEWAYAPI_LIBRARY_TIME = datetime.fromtimestamp(1522764062, UTC)


def test_gatewayapi_receipt_from_a_library_vector_is_dated_by_its_time() -> None:
    connector = GatewayApiConnector({**GATEWAYAPI_CONFIG, "webhookSecret": "secret"})
    claims = verify_hs256(GATEWAYAPI_LIBRARY_JWT, "secret")
    body = json.dumps(claims).encode()
    request = ReceiptRequest(
        "https://a.example/r",
        {"X-Gwapi-Signature": GATEWAYAPI_LIBRARY_JWT},
        body,
        "application/json",
    )
    soon = GATEWAYAPI_LIBRARY_TIME + timedelta(seconds=20)
    receipt = connector.receipt(request, soon)
    assert (receipt.message_id, receipt.status, receipt.error_code) == (
        "2381703",
        "delivered",
        "error code",
    )
    # Dated by its "time": the endpoint judges its age from that (GatewayAPI's retries of
    # the same status keep that time, so their age grows).
    assert receipt.occurred_at == receipt.signed_at == GATEWAYAPI_LIBRARY_TIME
    wrong = GatewayApiConnector({**GATEWAYAPI_CONFIG, "webhookSecret": "wrong"})
    with pytest.raises(ReceiptRejected, match="bad_signature"):
        wrong.receipt(request, soon)
