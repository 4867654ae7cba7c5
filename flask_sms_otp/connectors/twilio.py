"""Twilio Programmable Messaging (providers.md §2.1).

One form-encoded POST to the account's ``Messages.json``, always through a Messaging
Service (Logto supports no raw "From" number). Unlike Logto we read Twilio's error JSON,
so an operator sees Twilio's own ``code`` and ``message``, and rate limits are typed.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

import httpx

from ..errors import DeliveryError, ProviderRateLimited
from ._http import HttpConnector, retry_after_seconds
from .base import DeliveryResult, SmsMessage
from .templates import find_template, render, validate_templates

DEFAULT_ORIGIN = "https://api.twilio.com"
API_VERSION = "2010-04-01"
#: Twilio's "Too Many Requests" error code; it normally comes with HTTP 429, but the code
#: alone is enough to call it a rate limit.
RATE_LIMIT_CODES = frozenset({"20429"})
_MAX_PROVIDER_TEXT = 300


class TwilioConnector(HttpConnector):
    name = "twilio"
    secret_fields = frozenset({"authToken"})

    def configure(self, config: Mapping[str, Any]) -> None:
        self.account_sid = self.require_str(config, "accountSID")
        self._auth_token = self.require_str(config, "authToken")
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
        self._authorization = basic_auth(self.account_sid, self._auth_token)

    def send(self, message: SmsMessage) -> DeliveryResult:
        template = find_template(self.templates, message.usage)
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
        if code is None and text is None:
            text = self._provider_text(response.text)
        else:
            text = self._provider_text(text)
        if code in RATE_LIMIT_CODES and response.status_code != 429:
            return ProviderRateLimited(
                f"rate-limited by the provider: {text or code}",
                retry_after=retry_after_seconds(response),
                connector=self.name,
                status_code=response.status_code,
                provider_code=code,
                provider_message=text,
            )
        return self.error_for_status(response, provider_code=code, provider_message=text)

    def _provider_text(self, value: str | None) -> str | None:
        """Provider text for errors: one line, bounded, and never carrying our token."""
        if not value:
            return None
        text = " ".join(value.replace(self._auth_token, "[redacted]").split())
        return text[:_MAX_PROVIDER_TEXT] or None


def basic_auth(username: str, password: str) -> str:
    """``Basic base64(user:password)`` over UTF-8, as Node's ``Buffer`` encodes it."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


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
