"""SMS Aero (providers.md §2.2): a JSON POST to ``/v2/sms/send`` with Basic auth.

SMS Aero can answer 200 with ``{"success": false, "message": ...}``. Logto treats any 2xx
as sent; we require ``success: true`` and otherwise raise with SMS Aero's ``message``
(providers.md §0). Template lookup falls back to ``Generic`` like every other connector.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from ..errors import DeliveryError, ProviderRejected
from .base import DeliveryResult, SmsMessage
from .httpbase import HttpConnector, basic_auth
from .templates import find_template, render, validate_templates

DEFAULT_ORIGIN = "https://gate.smsaero.ru"
SEND_PATH = "/v2/sms/send"
AUTH_PATH = "/v2/auth"

#: zod's ``.email()`` pattern (Logto validates ``email`` with it). ASCII-only on purpose:
#: with IGNORECASE alone, Python would let U+017F (long s) and U+212A (Kelvin) match ``[A-Z]``.
EMAIL_PATTERN = re.compile(
    r"^(?!\.)(?!.*\.\.)([A-Z0-9_'+\-\.]*)[A-Z0-9_+-]@([A-Z0-9][A-Z0-9\-]*\.)+[A-Z]{2,}$",
    re.IGNORECASE | re.ASCII,
)


class SmsAeroConnector(HttpConnector):
    name = "smsaero"
    secret_fields = frozenset({"apiKey"})

    def configure(self, config: Mapping[str, Any]) -> None:
        self.email = self.require_str(config, "email")
        if not EMAIL_PATTERN.fullmatch(self.email):
            raise self.config_error("email", "must be the e-mail address of the SMS Aero account")
        api_key = self.require_str(config, "apiKey")
        self.sender_name = self.require_str(config, "senderName")
        self.templates = validate_templates(config)
        origin = self.endpoint_origin(config, default=DEFAULT_ORIGIN)
        self.send_url = origin + SEND_PATH
        self.auth_url = origin + AUTH_PATH
        self._authorization = basic_auth(self.email, api_key)

    def derived_secrets(self) -> Iterable[str]:
        # The header's credentials, as a proxy might echo them.
        return (self._authorization.removeprefix("Basic "),)

    def send(self, message: SmsMessage) -> DeliveryResult:
        template = find_template(self.templates, message.usage, message.locale)
        text = render(str(template["content"]), message.payload)
        payload = {
            "number": message.to.removeprefix("+"),  # SMS Aero wants the digits, no "+"
            "sign": self.sender_name,
            "text": text,
        }
        body = self._post(self.send_url, payload)
        data = body.get("data")
        message_id = data.get("id") if isinstance(data, dict) else None
        return DeliveryResult(
            connector=self.name, message_id=None if message_id is None else str(message_id)
        )

    def check(self) -> str | None:
        """SMS Aero's ``auth`` method: proves the e-mail and key without sending anything."""
        body = self._post(self.auth_url, {})
        text = self.provider_text(body.get("message"))
        return f"SMS Aero account {self.email}: {text or 'authorized'}"

    def _post(self, url: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """POST ``payload``; return the answer only when it is 2xx and ``success: true``."""
        response = self.request(
            "POST",
            url,
            content=json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode(),
            headers={"Authorization": self._authorization, "Content-Type": "application/json"},
        )
        if not response.is_success:
            raise self._failure(response)
        body = self.json_body(response)
        if not isinstance(body, dict) or body.get("success") is not True:
            raise self._failure(response, body)
        return body

    def _failure(self, response: httpx.Response, body: Any = None) -> DeliveryError:
        """SMS Aero's answers are ``{success, data, message}``; ``message`` is the reason."""
        if body is None:
            try:
                body = response.json()
            except ValueError:
                body = None
        if isinstance(body, dict):
            text = self.provider_text(body.get("message"))
        else:
            text = self.provider_text(response.text)
        if not response.is_success:
            return self.error_for_status(response, provider_message=text)
        return ProviderRejected(
            f"rejected by the provider: {text or 'the answer does not say success: true'}",
            connector=self.name,
            status_code=response.status_code,
            provider_message=text,
        )
