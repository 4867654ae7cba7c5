"""Vonage (Nexmo) SMS API (providers.md §2.4).

The request is what Logto's locked SDK versions send: a JSON POST to ``/sms/json`` with the
key and secret in the body. Vonage answers 200 even when it refuses a message, so the
verdict is each ``messages[].status``; unlike Logto we keep Vonage's ``error-text`` and
status code, and type status 1 (throttled) as a rate limit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from ..errors import DeliveryError, ProviderRateLimited, ProviderRejected, ProviderUnavailable
from .base import DeliveryResult, SmsMessage
from .httpbase import HttpConnector, basic_auth
from .templates import find_template, render, validate_templates

DEFAULT_ORIGIN = "https://rest.nexmo.com"
SEND_PATH = "/sms/json"
BALANCE_PATH = "/account/get-balance"
#: ``status`` values that are not a refusal of this message: 1 Throttled (the account's
#: throughput limit) and 5 Internal Error (Vonage's platform failed; try later).
THROTTLED = "1"
INTERNAL_ERROR = "5"


class VonageConnector(HttpConnector):
    name = "vonage"
    secret_fields = frozenset({"apiSecret"})

    def configure(self, config: Mapping[str, Any]) -> None:
        self.api_key = self.require_str(config, "apiKey")
        self._api_secret = self.require_str(config, "apiSecret")
        self.brand_name = self.require_str(config, "brandName")
        self.templates = validate_templates(config)
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
