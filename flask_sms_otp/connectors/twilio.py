"""Twilio Programmable Messaging (providers.md §2.1).

One form-encoded POST to the account's ``Messages.json``, always through a Messaging
Service (Logto supports no raw "From" number). Unlike Logto we read Twilio's error JSON,
so an operator sees Twilio's own ``code`` and ``message``, and rate limits are typed.

Delivery receipts are Twilio's message status callbacks (``MessageSid``, ``MessageStatus``,
``ErrorCode``), signed as Twilio's "Webhooks security" page describes and twilio-python's
``twilio/request_validator.py`` (``RequestValidator.validate``) implements: ``X-Twilio-Signature``
is base64 HMAC-SHA1, keyed by the auth token, of the full URL followed by each POST
parameter, sorted by name, as name then value. The URL is tried with and without its
default port (Twilio's signing is inconsistent about it); a URL carrying ``bodySHA256``
signs a JSON body by its SHA-256 instead. Twilio signs no timestamp: a repeated receipt
is refused against the delivery record instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus, urlsplit, urlunsplit

import httpx

from ..errors import DeliveryError, ReceiptMalformed, ReceiptRejected
from .base import DeliveryResult, SmsMessage
from .httpbase import HttpConnector, basic_auth
from .receipts import Receipt, ReceiptRequest, scalar_text
from .templates import find_template, render, validate_templates

DEFAULT_ORIGIN = "https://api.twilio.com"
API_VERSION = "2010-04-01"
#: Twilio's "Too Many Requests" error code; it normally comes with HTTP 429, but the code
#: alone is enough to call it a rate limit.
RATE_LIMIT_CODES = frozenset({"20429"})
SIGNATURE_HEADER = "X-Twilio-Signature"
#: Twilio's ``MessageStatus`` values, normalised (``read``: delivered, and then read).
STATUSES: Mapping[str, str] = {
    "accepted": "accepted",
    "scheduled": "accepted",
    "queued": "accepted",
    "sending": "accepted",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}


class TwilioConnector(HttpConnector):
    name = "twilio"
    secret_fields = frozenset({"authToken"})

    def configure(self, config: Mapping[str, Any]) -> None:
        self.account_sid = self.require_str(config, "accountSID")
        auth_token = self.require_str(config, "authToken")
        self._auth_token = auth_token
        #: Our receipt endpoint, sent as each message's ``StatusCallback`` when set.
        self.status_callback = self.optional_url(config, "statusCallback")
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
        fields = [
            ("To", to),
            ("MessagingServiceSid", self.messaging_service_sid),
            ("Body", text),
            ("RiskCheck", "disable" if self.disable_risk_check else "enable"),
        ]
        if self.status_callback is not None:
            fields.append(("StatusCallback", self.status_callback))
        body = form_urlencode(fields)
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
        sid = json_field(response, "sid")
        return DeliveryResult(connector=self.name, message_id=sid)

    def check(self) -> str | None:
        """Fetch the account resource: proves the SID and token without sending anything."""
        response = self.request(
            "GET", self.account_url, headers={"Authorization": self._authorization}
        )
        if not response.is_success:
            raise self._failure(response)
        status = json_field(response, "status")
        return f"Twilio account {self.account_sid} " + (f"is {status}" if status else "answered")

    @property
    def accepts_receipts(self) -> bool:
        return True  # signed with the auth token, which every config has

    def receipt(self, request: ReceiptRequest, now: datetime) -> Receipt:
        signature = request.header(SIGNATURE_HEADER)
        if not signature:
            raise ReceiptRejected("missing_signature")
        body_hash = parse_qs(urlsplit(request.url).query).get("bodySHA256")
        if body_hash:
            # A JSON body: the URL carries its hash, and the signature covers the URL alone.
            digest = hashlib.sha256(request.body).hexdigest()
            if not hmac.compare_digest(digest.encode(), body_hash[0].lower().encode()):
                raise ReceiptRejected("bad_signature")
            params: list[tuple[str, str]] = []
        else:
            params = request.form()
        urls = [*url_variants(request.url)]
        if self.status_callback is not None:  # the URL Twilio was given, behind a proxy
            urls.append(self.status_callback)
        expected = signature.encode()
        if not any(
            hmac.compare_digest(twilio_signature(self._auth_token, url, params).encode(), expected)
            for url in urls
        ):
            raise ReceiptRejected("bad_signature")
        fields: dict[str, Any] = request.json_object() if body_hash else dict(params)
        sid = scalar_text(fields.get("MessageSid") or fields.get("SmsSid"), reason="no_message_id")
        status = scalar_text(
            fields.get("MessageStatus") or fields.get("SmsStatus"), reason="no_status"
        )
        if sid is None:
            raise ReceiptMalformed("no_message_id")
        if status is None:
            raise ReceiptMalformed("no_status")
        return Receipt(
            message_id=sid,
            status=STATUSES.get(status.lower()),
            provider_status=status,
            error_code=scalar_text(fields.get("ErrorCode"), reason="bad_error_code"),
        )

    def _failure(self, response: httpx.Response) -> DeliveryError:
        """Twilio's error JSON is ``{code, message, more_info, status}``."""
        code = json_field(response, "code")
        text = json_field(response, "message")
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


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """``X-Twilio-Signature`` for a post of ``params`` to ``url``: base64 HMAC-SHA1 of the URL
    followed by each name and its values, names sorted, a name's values sorted."""
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    pairs = (name + value for name in sorted(values) for value in sorted(values[name]))
    signed = url + "".join(pairs)
    mac = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def url_variants(url: str) -> list[str]:
    """``url`` without any port and with one (its own, else the scheme's default), the two
    forms twilio-python's validator accepts."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return [url]
    userinfo, _, hostport = parts.netloc.rpartition("@")
    host = hostport if port is None else hostport[: hostport.rindex(":")]
    prefix = f"{userinfo}@" if userinfo else ""
    port = port or (443 if parts.scheme == "https" else 80)
    return [
        urlunsplit(parts._replace(netloc=f"{prefix}{host}")),
        urlunsplit(parts._replace(netloc=f"{prefix}{host}:{port}")),
    ]


def json_field(response: httpx.Response, key: str) -> str | None:
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
