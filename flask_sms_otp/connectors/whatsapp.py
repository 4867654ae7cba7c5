"""WhatsApp Cloud API: the code in an approved authentication template with a copy-code
button.

``POST {endpoint}/{apiVersion}/{phoneNumberId}/messages`` with a bearer token and a JSON
``template`` message (Meta's *Authentication templates* page): the code fills the body's
one parameter and the parameter of the button (``sub_type`` ``url``, index ``0``), which is
what the copy-code and one-tap buttons read. Logto's ``connector-whatsapp`` sends the same
shape. The template's name and language are chosen per usage type and per locale, from
``templates`` entries ``{"usageType", "name", "language"}`` (plus ``locale``).

A number that is not on WhatsApp is refused (error 131026, "Message undeliverable"): a
refusal, so a route that offers SMS after WhatsApp tries SMS at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from ..errors import DeliveryError
from ..usage import LINK_USAGES
from .base import DeliveryResult, SmsMessage
from .httpbase import HttpConnector
from .templates import find_template, validate_templates

DEFAULT_ORIGIN = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"
CONTENT_TYPE = "application/json"
#: "Message undeliverable": not a WhatsApp user, an old app, terms not accepted.
NOT_ON_WHATSAPP = "131026"
#: Graph and WhatsApp throughput limits: the app's (4), the account's (80007), the
#: number's (130429), per recipient (131056) and the spam limit (131048).
RATE_LIMIT_CODES = frozenset({"4", "80007", "130429", "131048", "131056"})
#: Meta's own failures: unknown (1, 131000), temporarily unavailable (2, 131016).
UNAVAILABLE_CODES = frozenset({"1", "2", "131000", "131016"})
_API_VERSION = re.compile(r"v\d{1,3}\.\d{1,3}")


def template_message(to: str, name: str, language: str, code: str) -> bytes:
    """The request body: compact UTF-8 JSON, keys in Meta's documented order."""
    body = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": {
            "name": name,
            "language": {"code": language},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": code}]},
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": "0",
                    "parameters": [{"type": "text", "text": code}],
                },
            ],
        },
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


class WhatsAppConnector(HttpConnector):
    name = "whatsapp"
    channel = "whatsapp"
    codes_only = True
    secret_fields = frozenset({"accessToken"})

    def configure(self, config: Mapping[str, Any]) -> None:
        self._token = self.require_str(config, "accessToken")
        self.phone_number_id = self.require_str(config, "phoneNumberId")
        version = self.optional_str(config, "apiVersion") or DEFAULT_API_VERSION
        if not _API_VERSION.fullmatch(version):
            raise self.config_error("apiVersion", f"must look like v21.0, got {version!r}")
        self.api_version = version
        self.templates = validate_templates(config, fields=("name", "language"))
        origin = self.endpoint_origin(config, default=DEFAULT_ORIGIN)
        self.number_url = f"{origin}/{version}/{quote(self.phone_number_id, safe='')}"
        self.messages_url = f"{self.number_url}/messages"

    def send(self, message: SmsMessage) -> DeliveryResult:
        if not message.code or message.usage in LINK_USAGES:
            # An authentication template carries a code; a notice has none, an invitation
            # a link (which Meta would show as the code to copy).
            raise DeliveryError(
                "WhatsApp authentication templates carry only codes", connector=self.name
            )
        template = find_template(self.templates, message.usage, message.locale)
        body = template_message(
            message.to.removeprefix("+"),
            str(template["name"]),
            str(template["language"]),
            message.code,
        )
        response = self.request(
            "POST",
            self.messages_url,
            content=body,
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": CONTENT_TYPE},
        )
        if not response.is_success:
            raise self._failure(response)
        answer = self.json_body(response)
        messages = answer.get("messages") if isinstance(answer, dict) else None
        first = messages[0] if isinstance(messages, list) and messages else None
        message_id = first.get("id") if isinstance(first, dict) else None
        return DeliveryResult(
            connector=self.name, message_id=str(message_id) if message_id else None
        )

    def check(self) -> str | None:
        """Fetch the business phone number: proves the token and the id without sending."""
        response = self.request(
            "GET",
            self.number_url,
            params={"fields": "display_phone_number,verified_name"},
            headers={"Authorization": f"Bearer {self._token}"},
        )
        if not response.is_success:
            raise self._failure(response)
        answer = self.json_body(response)
        answer = answer if isinstance(answer, dict) else {}
        shown = " ".join(
            str(answer[key]) for key in ("display_phone_number", "verified_name") if answer.get(key)
        )
        return (
            f"WhatsApp number {self.phone_number_id}"
            + (f" ({shown})" if shown else "")
            + " answered"
        )

    def _failure(self, response: httpx.Response) -> DeliveryError:
        """Graph's ``{"error": {"message", "type", "code", "error_data": {"details"}}}``."""
        try:
            body = response.json()
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return self.error_for_status(
                response, provider_message=self.provider_text(response.text)
            )
        raw_code = error.get("code")
        code = str(raw_code) if isinstance(raw_code, int | str) and raw_code != "" else None
        data = error.get("error_data")
        details = data.get("details") if isinstance(data, dict) else None
        text = error.get("message")
        if isinstance(details, str) and details and details != text:
            text = f"{text}: {details}" if text else details
        text = self.provider_text(text) if isinstance(text, str) else None
        # 131026 (not on WhatsApp) and every other refusal: a route tries its next connector.
        return self.coded_failure(
            response,
            code,
            text,
            unavailable=UNAVAILABLE_CODES,
            rate_limited=code in RATE_LIMIT_CODES,
        )
