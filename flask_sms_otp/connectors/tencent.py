"""Tencent Cloud SMS (API 3.0 ``SendSms``, version 2021-01-11) with TC3-HMAC-SHA256.

The wire format is Logto's ``connector-tencent-sms`` (providers.md §2.6, §3.2) with the fixes
of §0: the number goes out in E.164 *with* ``+`` (Tencent reads a bare number as domestic),
``TemplateParamSet`` holds only the template's declared variables (``code`` by default,
never the locale), a missing usage type falls back to ``Generic``, and ``LimitExceeded.*``
is reported as a rate limit.

The signing steps are small pure functions so the official vector (§7.2) can test them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..errors import DeliveryError
from .base import DeliveryResult, SmsMessage
from .httpbase import HttpConnector
from .templates import (
    declared_values,
    find_template,
    template_param_names,
    validate_templates,
)

DEFAULT_ENDPOINT = "https://sms.tencentcloudapi.com"
SERVICE = "sms"
ACTION = "SendSms"
VERSION = "2021-01-11"
ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
SIGNED_HEADERS = "content-type;host"

#: Error code families (``X`` and ``X.*``) meaning too many messages or calls for now.
RATE_LIMIT_CODES = frozenset({"LimitExceeded", "RequestLimitExceeded"})

#: Tencent error codes that are the API's own 5xx: nothing was refused, try again later.
UNAVAILABLE_CODES = frozenset({"InternalError", "ServiceUnavailable"})


# Signature (providers.md §3.2) ---------------------------------------------------------


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_request(payload: bytes, host: str, content_type: str = CONTENT_TYPE) -> str:
    """``POST``, ``/``, empty query, the two canonical headers, signed headers, payload hash."""
    headers = f"content-type:{content_type}\nhost:{host}\n"
    return "\n".join(("POST", "/", "", headers, SIGNED_HEADERS, sha256_hex(payload)))


def utc_date(timestamp: int) -> str:
    """The UTC date of ``timestamp`` as ``YYYY-MM-DD`` (the credential scope's date)."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def credential_scope(timestamp: int, service: str = SERVICE) -> str:
    return f"{utc_date(timestamp)}/{service}/tc3_request"


def tc3_string_to_sign(canonical: str, timestamp: int, service: str = SERVICE) -> str:
    scope = credential_scope(timestamp, service)
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{sha256_hex(canonical.encode())}"


def tc3_signing_key(secret_key: str, date: str, service: str = SERVICE) -> bytes:
    """``kSigning``: HMAC-SHA256 chained over the date, the service and ``tc3_request``."""
    k_date = hmac.new(("TC3" + secret_key).encode(), date.encode(), hashlib.sha256).digest()
    k_service = hmac.new(k_date, service.encode(), hashlib.sha256).digest()
    return hmac.new(k_service, b"tc3_request", hashlib.sha256).digest()


def tc3_signature(
    secret_key: str, timestamp: int, string_to_sign: str, service: str = SERVICE
) -> str:
    """Lower-case hex HMAC-SHA256 of the string to sign with the derived key."""
    key = tc3_signing_key(secret_key, utc_date(timestamp), service)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def tc3_authorization(
    secret_id: str,
    secret_key: str,
    *,
    payload: bytes,
    host: str,
    timestamp: int,
    service: str = SERVICE,
) -> str:
    """The ``Authorization`` header value for a POST of ``payload`` to ``host``."""
    to_sign = tc3_string_to_sign(canonical_request(payload, host), timestamp, service)
    signature = tc3_signature(secret_key, timestamp, to_sign, service)
    return (
        f"{ALGORITHM} Credential={secret_id}/{credential_scope(timestamp, service)}, "
        f"SignedHeaders={SIGNED_HEADERS}, Signature={signature}"
    )


# Request body (providers.md §2.6) ------------------------------------------------------


def template_param_set(names: Sequence[str], payload: Mapping[str, Any]) -> list[str]:
    """The declared variables' values, as strings, in the declared order."""
    return declared_values(names, payload)


def send_sms_payload(
    *, sdk_app_id: str, sign_name: str, template_id: str, params: list[str], phone: str
) -> bytes:
    """Compact UTF-8 JSON with Logto's key order (the bytes that are hashed are the bytes sent)."""
    body = {
        "SmsSdkAppId": sdk_app_id,
        "SignName": sign_name,
        "TemplateId": template_id,
        "TemplateParamSet": params,
        "PhoneNumberSet": [phone],
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


# The connector ------------------------------------------------------------------------


class TencentConnector(HttpConnector):
    """Sends the template id and its parameters; the text itself lives at Tencent."""

    name = "tencent"
    secret_fields = frozenset({"accessKeySecret"})
    #: A request's TC3 ``Signature`` (64 lower-case hex digits, in ``Authorization``).
    secret_patterns = (r"(?<![0-9A-Za-z])[0-9a-f]{64}(?![0-9A-Za-z])",)

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        **kwargs: Any,
    ) -> None:
        # Injected so tests can pin X-TC-Timestamp and so the signature.
        self._clock = clock or (lambda: datetime.now(UTC))
        super().__init__(config, **kwargs)

    def configure(self, config: Mapping[str, Any]) -> None:
        self.secret_id = self.require_str(config, "accessKeyId")
        self._secret_key = self.require_str(config, "accessKeySecret")
        self.sign_name = self.require_str(config, "signName")
        self.sdk_app_id = self.require_str(config, "sdkAppId")
        self.region = self.require_str(config, "region")
        self.templates = validate_templates(config, fields=("templateCode",))
        for index, template in enumerate(self.templates):
            template["templateParams"] = template_param_names(
                template.get("templateParams"), f"templates[{index}].templateParams", distinct=False
            )
        origin = self.endpoint_origin(config, default=DEFAULT_ENDPOINT)
        self.url = origin + "/"
        # The signed host is the host the request really goes to (a proxy or test server).
        self.host = urlsplit(origin).netloc.rpartition("@")[2]

    def send(self, message: SmsMessage) -> DeliveryResult:
        template = find_template(self.templates, message.usage, message.locale)
        payload = send_sms_payload(
            sdk_app_id=self.sdk_app_id,
            sign_name=self.sign_name,
            template_id=template["templateCode"],
            params=template_param_set(template["templateParams"], message.payload),
            phone=message.to,
        )

        def signed() -> dict[str, Any]:
            # Signed afresh for every attempt, so a retry does not carry a stale timestamp.
            timestamp = int(self._clock().timestamp())
            authorization = tc3_authorization(
                self.secret_id,
                self._secret_key,
                payload=payload,
                host=self.host,
                timestamp=timestamp,
            )
            return {
                "content": payload,
                "headers": {
                    "Authorization": authorization,
                    "Content-Type": CONTENT_TYPE,
                    "Host": self.host,
                    "X-TC-Action": ACTION,
                    "X-TC-Timestamp": str(timestamp),
                    "X-TC-Version": VERSION,
                    "X-TC-Region": self.region,
                },
            }

        return self._judge(self.request("POST", self.url, build=signed))

    def _judge(self, response: httpx.Response) -> DeliveryResult:
        body = self.json_body(response)
        answer = body.get("Response") if isinstance(body, dict) else None
        if not isinstance(answer, dict):
            raise self._malformed(response)
        request_id = answer.get("RequestId")
        error = answer.get("Error")
        if isinstance(error, dict):
            raise self._error(response, error.get("Code"), error.get("Message"), request_id)
        if response.is_error:
            raise self.error_for_status(response)
        statuses = answer.get("SendStatusSet")
        if not isinstance(statuses, list) or not statuses:
            raise self._malformed(response)
        for status in statuses:
            if not isinstance(status, dict):
                raise self._malformed(response)
            code = status.get("Code")
            if not isinstance(code, str) or code.lower() != "ok":
                raise self._error(response, code, status.get("Message"), request_id)
        serial = statuses[0].get("SerialNo")
        return DeliveryResult(connector=self.name, message_id=str(serial) if serial else None)

    def _malformed(self, response: httpx.Response) -> DeliveryError:
        if response.is_error:
            return self.error_for_status(response)
        return self.unavailable(
            "the provider's answer has no SendStatusSet", status_code=response.status_code
        )

    def _error(
        self, response: httpx.Response, code: Any, text: Any, request_id: Any
    ) -> DeliveryError:
        code = code if isinstance(code, str) and code else None
        text = self.provider_text(text) if isinstance(text, str) else None
        rate_limited = code is not None and code.split(".", 1)[0] in RATE_LIMIT_CODES
        if response.is_error and not rate_limited:
            return self.error_for_status(response, provider_code=code, provider_message=text)
        # Tencent's own verdict: its text (else code) and the RequestId its support asks for.
        suffix = f" (RequestId {request_id})" if isinstance(request_id, str) and request_id else ""
        summary = (text or code or "unknown error") + suffix
        return self.coded_failure(
            response,
            code,
            text,
            unavailable=UNAVAILABLE_CODES,
            rate_limited=rate_limited,
            summary=summary,
        )
