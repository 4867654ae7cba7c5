"""Vonage (Nexmo) SMS API (providers.md §2.4).

The request is what Logto's locked SDK versions send: a JSON POST to ``/sms/json`` with the
key and secret in the body. Vonage answers 200 even when it refuses a message, so the
verdict is each ``messages[].status``; unlike Logto we keep Vonage's ``error-text`` and
status code, and type status 1 (throttled) as a rate limit.

Delivery receipts are the SMS API's delivery receipt webhook (``messageId``, ``status``,
``err-code``, ``message-timestamp``...), as a form or JSON post, taken only when signed
webhooks are on and ``signatureSecret`` is configured. The signature follows Vonage's
"Signing messages" page and vonage-python-sdk's ``Client.signature`` /
``check_signature``: every parameter but ``sig``, sorted by name, each written
``&name=value`` with ``&`` and ``=`` in values replaced by ``_``; then with ``md5hash`` (the
dashboard's default) the MD5 of that string followed by the secret, or else the HMAC
(MD5, SHA-1, SHA-256 or SHA-512) of it keyed by the secret; hex, compared without case.
The signed ``timestamp`` is the receipt's ``signed_at``, which the receipt endpoint checks
against ``SMS_OTP_RECEIPT_MAX_AGE``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from ..errors import (
    DeliveryError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    ReceiptMalformed,
    ReceiptRejected,
)
from .base import DeliveryResult, SmsMessage
from .httpbase import HttpConnector, basic_auth
from .receipts import Receipt, ReceiptRequest, scalar_text, unix_time
from .templates import find_template, render, validate_templates

DEFAULT_ORIGIN = "https://rest.nexmo.com"
SEND_PATH = "/sms/json"
BALANCE_PATH = "/account/get-balance"
#: ``status`` values that are not a refusal of this message: 1 Throttled (the account's
#: throughput limit) and 5 Internal Error (Vonage's platform failed; try later).
THROTTLED = "1"
INTERNAL_ERROR = "5"
#: ``signatureMethod`` values (vonage-python-sdk's names): the plain MD5 hash, or an HMAC.
SIGNATURE_METHODS = ("md5hash", "md5", "sha1", "sha256", "sha512")
#: Delivery receipt ``status`` values, normalised; ``unknown`` tells nothing.
STATUSES: Mapping[str, str] = {
    "accepted": "accepted",
    "buffered": "buffered",
    "delivered": "delivered",
    "expired": "expired",
    "failed": "failed",
    "rejected": "rejected",
}


class VonageConnector(HttpConnector):
    name = "vonage"
    secret_fields = frozenset({"apiSecret", "signatureSecret"})

    def configure(self, config: Mapping[str, Any]) -> None:
        self.api_key = self.require_str(config, "apiKey")
        self._api_secret = self.require_str(config, "apiSecret")
        self.brand_name = self.require_str(config, "brandName")
        self.templates = validate_templates(config)
        self._signature_secret = self.optional_str(config, "signatureSecret")
        method = self.optional_str(config, "signatureMethod") or "md5hash"
        if method not in SIGNATURE_METHODS:
            raise self.config_error(
                "signatureMethod", f"must be one of {', '.join(SIGNATURE_METHODS)}"
            )
        self.signature_method = method
        #: Our receipt endpoint, sent as each message's ``callback`` when set.
        self.status_callback = self.optional_url(config, "statusCallback")
        origin = self.endpoint_origin(config, default=DEFAULT_ORIGIN)
        self.send_url = origin + SEND_PATH
        self.balance_url = origin + BALANCE_PATH

    def derived_secrets(self) -> Iterable[str]:
        # The Basic-auth credentials of the balance check, as a proxy might echo them.
        return (basic_auth(self.api_key, self._api_secret).removeprefix("Basic "),)

    def send(self, message: SmsMessage) -> DeliveryResult:
        template = find_template(self.templates, message.usage, message.locale)
        text = render(str(template["content"]), message.payload)
        payload = {
            "from": self.brand_name,
            "to": message.to.removeprefix("+"),  # Vonage wants the digits, no "+"
            "text": text,
            "api_key": self.api_key,
            "api_secret": self._api_secret,
        }
        if self.status_callback is not None:
            payload["callback"] = self.status_callback
        response = self.request(
            "POST",
            self.send_url,
            content=json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json"},
        )
        if not response.is_success:
            raise self._http_failure(response)
        body = self.json_body(response)
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages:
            raise ProviderUnavailable(
                "the provider's answer has no messages[]",
                connector=self.name,
                status_code=response.status_code,
            )
        # Long texts are split into parts, one entry each: every part must be accepted.
        for part in messages:
            status = str(part.get("status")) if isinstance(part, dict) else "None"
            if status != "0":
                error_text = part.get("error-text") if isinstance(part, dict) else None
                raise self._refusal(response, status, error_text)
        first = messages[0]
        message_id = first.get("message-id") if isinstance(first, dict) else None
        return DeliveryResult(
            connector=self.name, message_id=str(message_id) if message_id else None
        )

    def check(self) -> str | None:
        """Read the account balance: proves the key and secret without sending anything."""
        authorization = basic_auth(self.api_key, self._api_secret)
        response = self.request("GET", self.balance_url, headers={"Authorization": authorization})
        if not response.is_success:
            raise self._http_failure(response)
        body = self.json_body(response)
        value = body.get("value") if isinstance(body, dict) else None
        return f"Vonage account {self.api_key}" + (
            f" has a balance of {value}" if value is not None else " answered"
        )

    @property
    def accepts_receipts(self) -> bool:
        return self._signature_secret is not None

    def receipt(self, request: ReceiptRequest, now: datetime) -> Receipt:
        params = _params(request)
        sig = params.pop("sig", None)
        if not sig or "timestamp" not in params:
            raise ReceiptRejected("missing_signature")
        expected = vonage_signature(
            params, str(self._signature_secret), self.signature_method
        ).encode()
        if not hmac.compare_digest(expected, sig.lower().encode()):
            raise ReceiptRejected("bad_signature")
        signed_at = unix_time(params["timestamp"])
        message_id = params.get("messageId")
        status = params.get("status")
        if not message_id:
            raise ReceiptMalformed("no_message_id")
        if not status:
            raise ReceiptMalformed("no_status")
        error_code = params.get("err-code")
        return Receipt(
            message_id=message_id,
            status=STATUSES.get(status.lower()),
            provider_status=status,
            error_code=None if error_code in (None, "", "0") else error_code,
            occurred_at=_message_time(params.get("message-timestamp")),
            signed_at=signed_at,
        )

    def _refusal(self, response: httpx.Response, status: str, error_text: Any) -> DeliveryError:
        text = self.provider_text(error_text) or f"status {status}"
        fields: dict[str, Any] = {
            "connector": self.name,
            "status_code": response.status_code,
            "provider_code": status,
            "provider_message": self.provider_text(error_text),
        }
        if status == THROTTLED:
            return ProviderRateLimited(f"rate-limited by the provider: {text}", **fields)
        if status == INTERNAL_ERROR:
            return ProviderUnavailable(f"provider error: {text}", **fields)
        return ProviderRejected(f"rejected by the provider: {text}", **fields)

    def _http_failure(self, response: httpx.Response) -> DeliveryError:
        """A non-2xx answer: keep whatever reason Vonage gave (``error-text``, or the
        ``title``/``detail`` of its newer problem-JSON errors), else the raw body."""
        code: str | None = None
        text: str | None = None
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            parts = body.get("messages")
            first = parts[0] if isinstance(parts, list) and parts else None
            if isinstance(first, dict):
                code = str(first["status"]) if first.get("status") is not None else None
                text = self.provider_text(first.get("error-text"))
            else:
                pieces = [body.get(k) for k in ("error-text", "title", "detail")]
                text = self.provider_text(" - ".join(str(p) for p in pieces if p))
        else:
            text = self.provider_text(response.text)
        return self.error_for_status(response, provider_code=code, provider_message=text)


def vonage_signature(params: Mapping[str, str], secret: str, method: str = "md5hash") -> str:
    """The lower-case hex ``sig`` of ``params`` (``sig`` itself left out)."""
    signed = "".join(
        f"&{name}={params[name].replace('&', '_').replace('=', '_')}"
        for name in sorted(params)
        if name != "sig"
    )
    if method == "md5hash":
        return hashlib.md5((signed + secret).encode(), usedforsecurity=False).hexdigest()
    return hmac.new(secret.encode(), signed.encode(), method).hexdigest()


def _params(request: ReceiptRequest) -> dict[str, str]:
    """The receipt's parameters: a JSON object (Vonage's "POST-JSON") or a form."""
    if request.is_json:
        pairs = list(request.json_object().items())
    else:
        pairs = request.form()
    params: dict[str, str] = {}
    for name, value in pairs:
        text = scalar_text(value, reason="bad_parameter")
        if name in params:
            raise ReceiptMalformed("repeated_parameter")
        params[name] = "" if text is None else text
    return params


def _message_time(value: str | None) -> datetime | None:
    """``message-timestamp`` (``2020-01-01 12:00:00``, UTC); None when absent or unreadable:
    a receipt is not refused for an informative field."""
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
