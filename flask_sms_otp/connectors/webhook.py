"""The webhook connector, config name ``http`` (Logto's HTTP SMS, providers.md §2.7): hand
the code to your own endpoint, which sends the SMS.

No templates: the endpoint gets the usage type and the template variables and words the
message itself. The body is Logto's ``{to, type, payload, ip?}``, so an endpoint written for
Logto's HTTP SMS connector works unchanged. Any 2xx is success, as in Logto.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .base import DeliveryResult, SmsMessage
from .httpbase import HttpConnector

#: The credential part of ``authorization`` is redacted on its own only when it is at
#: least this long, so a toy value cannot blank out ordinary words of an error body.
_MIN_REDACTED = 8


class WebhookConnector(HttpConnector):
    """Posts Logto's HTTP SMS body to the configured ``endpoint``."""

    name = "http"
    secret_fields = frozenset({"authorization"})

    def configure(self, config: Mapping[str, Any]) -> None:
        self.endpoint = self.endpoint_url(config)
        self._authorization = self.optional_str(config, "authorization")

    def derived_secrets(self) -> Iterable[str]:
        # Besides the whole value: its credential part, as an endpoint might echo it.
        credential = (self._authorization or "").partition(" ")[2].strip()
        return (credential,) if len(credential) >= _MIN_REDACTED else ()

    def send(self, message: SmsMessage) -> DeliveryResult:
        # Logto's key order: code, locale, then the other variables. Nothing from the config.
        payload: dict[str, Any] = {"code": message.code}
        if message.locale:
            payload["locale"] = message.locale
        payload.update({k: v for k, v in message.variables.items() if k not in payload})
        body: dict[str, Any] = {
            # Logto's stored form: country code and digits, no "+" (what a Logto endpoint gets).
            "to": message.to.removeprefix("+"),
            "type": message.usage,
            "payload": payload,
        }
        if message.client_ip:
            body["ip"] = message.client_ip
        headers = {"Content-Type": "application/json"}
        if self._authorization:
            headers["Authorization"] = self._authorization
        response = self.request(
            "POST",
            self.endpoint,
            content=json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
            headers=headers,
        )
        if not response.is_success:
            # The endpoint is yours, so its body has no fixed shape: keep it as the reason.
            raise self.error_for_status(
                response,
                provider_message=self.provider_text(response.text),
            )
        return DeliveryResult(connector=self.name)
