"""Twilio Programmable Messaging (providers.md §2.1).

One form-encoded POST to the account's ``Messages.json``, always through a Messaging
Service (Logto supports no raw "From" number). Unlike Logto we read Twilio's error JSON,
so an operator sees Twilio's own ``code`` and ``message``, and rate limits are typed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

import httpx

from ..errors import DeliveryError
from .base import DeliveryResult, SmsMessage
from .httpbase import HttpConnector, basic_auth
from .templates import find_template, render, validate_templates

DEFAULT_ORIGIN = "https://api.twilio.com"
API_VERSION = "2010-04-01"
#: Twilio's "Too Many Requests" error code; it normally comes with HTTP 429, but the code
#: alone is enough to call it a rate limit.
RATE_LIMIT_CODES = frozenset({"20429"})


class TwilioConnector(HttpConnector):
    name = "twilio"
    secret_fields = frozenset({"authToken"})

    def configure(self, config: Mapping[str, Any]) -> None:
        self.account_sid = self.require_str(config, "accountSID")
        auth_token = self.require_str(config, "authToken")
        self.messaging_service_sid = self.require_str(config, "fromMessagingServiceSID")
        disable = config.get("disableRiskCheck")
        if disable is not None and not isinstance(disable, bool):
            raise self.config_error("disableRiskCheck", "must be true or false")
        self.disable_risk_check = bool(disable)
        self.templates = validate_templates(config)
        origin = self.endpoint_origin(config, default=DEFAULT_ORIGIN)
        # The SID is pasted into the path (Logto's URL template); quoting only matters for
        # a malformed SID, which Twilio will then reject by name instead of by accident.
        account_path = f"{origin}/{API_VERSION}/Accounts/{quote(self.account_sid, safe='')}"
        self.messages_url = f"{account_path}/Messages.json"
        self.account_url = f"{account_path}.json"
        self._authorization = basic_auth(self.account_sid, auth_token)

    def derived_secrets(self) -> Iterable[str]:
        # The header's credentials, as a proxy might echo them.
        return (self._authorization.removeprefix("Basic "),)

    def send(self, message: SmsMessage) -> DeliveryResult:
        template = find_template(self.templates, message.usage, message.locale)
        text = render(str(template["content"]), message.payload)
        to = message.to if message.to.startswith("+") else f"+{message.to}"
        body = form_urlencode(
            [
                ("To", to),
                ("MessagingServiceSid", self.messaging_service_sid),
                ("Body", text),
                ("RiskCheck", "disable" if self.disable_risk_check else "enable"),
            ]
        )
        response = self.request(
            "POST",
            self.messages_url,
            content=body.encode("ascii"),
            headers={
                "Authorization": self._authorization,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        if not response.is_success:
            raise self._failure(response)
        # Logto ignores the body; we keep Twilio's message SID when it is there.
        sid = _json_field(response, "sid")
        return DeliveryResult(connector=self.name, message_id=sid)

    def check(self) -> str | None:
        """Fetch the account resource: proves the SID and token without sending anything."""
        response = self.request(
            "GET", self.account_url, headers={"Authorization": self._authorization}
        )
        if not response.is_success:
            raise self._failure(response)
        status = _json_field(response, "status")
        return f"Twilio account {self.account_sid} " + (f"is {status}" if status else "answered")

    def _failure(self, response: httpx.Response) -> DeliveryError:
        """Twilio's error JSON is ``{code, message, more_info, status}``."""
        code = _json_field(response, "code")
        text = _json_field(response, "message")
        # No Twilio error JSON: the raw body is the best reason there is.
        text = self.provider_text(response.text if code is None and text is None else text)
        return self.error_for_status(
            response,
            provider_code=code,
            provider_message=text,
            rate_limited=code in RATE_LIMIT_CODES,
        )


def form_urlencode(pairs: Iterable[tuple[str, str]]) -> str:
    """``application/x-www-form-urlencoded`` exactly as JS ``URLSearchParams`` writes it.

    Only ``A-Z a-z 0-9 * - . _`` stay literal and a space becomes ``+``. Python's
    ``urlencode`` differs on ``*`` and ``~``; the provider decodes both the same, but the
    bytes then match Logto's and the spec's examples.
    """

    def enc(value: str) -> str:
        return quote_plus(value, safe="*").replace("~", "%7E")

    return "&".join(f"{enc(key)}={enc(value)}" for key, value in pairs)


def _json_field(response: httpx.Response, key: str) -> str | None:
    """``body[key]`` as a string when the body is a JSON object holding it, else ``None``."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    value = body.get(key)
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)
