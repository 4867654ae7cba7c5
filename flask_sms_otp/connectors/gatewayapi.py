"""GatewayAPI (providers.md §2.3): one JSON POST to the configured ``mtsms`` URL.

The token is the Basic-auth username with an empty password, as Logto sends it. Unlike
Logto we read GatewayAPI's error JSON (``code``, ``message`` with ``%1``-style
``variables``), so an operator sees GatewayAPI's own reason, and a 429 is typed as a rate
limit instead of a generic failure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from .base import DeliveryResult, SmsMessage
from .httpbase import HttpConnector, basic_auth
from .templates import find_template, render, validate_templates

#: Logto's default; EU accounts use ``https://gatewayapi.eu/rest/mtsms``.
DEFAULT_ENDPOINT = "https://gatewayapi.com/rest/mtsms"
_VARIABLE = re.compile(r"%(\d+)")


class GatewayApiConnector(HttpConnector):
    name = "gatewayapi"
    secret_fields = frozenset({"apiToken"})

    def configure(self, config: Mapping[str, Any]) -> None:
        # Logto's form pre-fills the endpoint, so a missing one means the documented
        # default; a given one must be a full http(s) URL, as for every full-URL endpoint.
        if self.optional_str(config, "endpoint") is None:
            self.endpoint = DEFAULT_ENDPOINT
        else:
            self.endpoint = self.endpoint_url(config)
        api_token = self.require_str(config, "apiToken")
        self.sender = self.require_str(config, "sender")
        self.templates = validate_templates(config)
        self._authorization = basic_auth(api_token, "")

    def derived_secrets(self) -> Iterable[str]:
        # The header's credentials, as a proxy might echo them.
        return (self._authorization.removeprefix("Basic "),)

    def send(self, message: SmsMessage) -> DeliveryResult:
        template = find_template(self.templates, message.usage, message.locale)
        text = render(str(template["content"]), message.payload)
        body = {
            "sender": self.sender,
            "message": text,
            # Logto's digits, as a JSON string: GatewayAPI's MSISDN has no "+".
            "recipients": [{"msisdn": message.to.removeprefix("+")}],
        }
        response = self.request(
            "POST",
            self.endpoint,
            # Compact and UTF-8, the bytes JS ``JSON.stringify`` gives Logto.
            content=json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
            headers={"Authorization": self._authorization, "Content-Type": "application/json"},
        )
        if not response.is_success:
            code, reason = self._error_details(response)
            raise self.error_for_status(response, provider_code=code, provider_message=reason)
        return DeliveryResult(connector=self.name, message_id=_first_id(response))

    def _error_details(self, response: httpx.Response) -> tuple[str | None, str | None]:
        """GatewayAPI's ``{code, message, variables, incident_uuid}``, else the raw body."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            variables = body.get("variables")
            values = [str(v) for v in variables] if isinstance(variables, list) else []
            text = _fill_variables(body["message"], values)
            code = body.get("code")
            return (str(code) if code not in (None, "") else None), self.provider_text(text)
        return None, self.provider_text(response.text)


def _fill_variables(message: str, variables: list[str]) -> str:
    """GatewayAPI writes ``%1``, ``%2``... in ``message`` for the items of ``variables``."""

    def replace(match: re.Match[str]) -> str:
        index = int(match.group(1)) - 1
        return variables[index] if 0 <= index < len(variables) else match.group(0)

    return _VARIABLE.sub(replace, message)


def _first_id(response: httpx.Response) -> str | None:
    """The message id from GatewayAPI's ``{"ids": [...]}``; Logto ignores the body."""
    try:
        body = response.json()
    except ValueError:
        return None
    ids = body.get("ids") if isinstance(body, dict) else None
    first = ids[0] if isinstance(ids, list) and ids else None
    if isinstance(first, bool) or not isinstance(first, int | str) or first == "":
        return None
    return str(first)
