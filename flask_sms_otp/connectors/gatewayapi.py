"""GatewayAPI (providers.md §2.3): one JSON POST to the configured ``mtsms`` URL.

The token is the Basic-auth username with an empty password, as Logto sends it. Unlike
Logto we read GatewayAPI's error JSON (``code``, ``message`` with ``%1``-style
``variables``), so an operator sees GatewayAPI's own reason, and a 429 is typed as a rate
limit instead of a generic failure.

Delivery receipts are GatewayAPI's status webhooks: a JSON post of the message's ``id``,
``msisdn``, ``time``, ``status``, ``error``, ``code``, ``userref``... taken only when the
webhook has a secret and ``webhookSecret`` is configured. GatewayAPI then adds a JSON Web
Token in ``X-Gwapi-Signature``, HS256-signed with that secret, whose claims repeat the
body: the token is verified (RFC 7519 / RFC 7515, HMAC-SHA256 over ``header.payload``; any
other ``alg``, ``none`` included, is refused), the receipt is read from its claims, and a
body that differs from them is refused (GatewayAPI's REST docs on webhooks: "we will use
it to make a JWT token, which we will send back to your server in the X-Gwapi-Signature
header"; client libraries such as nickdnk/gatewayapi-php likewise read the whole receipt
from the token). Its ``iat``, else its ``time`` (GatewayAPI sends no ``iat``), is the
receipt's ``signed_at``, which the receipt endpoint checks against
``SMS_OTP_RECEIPT_MAX_AGE``; an ``exp`` in the past is refused here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import httpx

from ..errors import ReceiptMalformed, ReceiptRejected
from .base import DeliveryResult, SmsMessage
from .httpbase import HttpConnector, basic_auth
from .receipts import Receipt, ReceiptRequest, scalar_text, unix_time
from .templates import find_template, render, validate_templates

#: Logto's default; EU accounts use ``https://gatewayapi.eu/rest/mtsms``.
DEFAULT_ENDPOINT = "https://gatewayapi.com/rest/mtsms"
_VARIABLE = re.compile(r"%(\d+)")
SIGNATURE_HEADER = "X-Gwapi-Signature"
#: GatewayAPI's message statuses, normalised; ``UNKNOWN`` tells nothing.
STATUSES: Mapping[str, str] = {
    "SCHEDULED": "accepted",
    "ACCEPTED": "accepted",
    "ENROUTE": "sent",
    "BUFFERED": "buffered",
    "DELIVERED": "delivered",
    "UNDELIVERABLE": "undelivered",
    "UNDELIVERED": "undelivered",
    "EXPIRED": "expired",
    "REJECTED": "rejected",
    "DELETED": "failed",
    "SKIPPED": "failed",
}


class GatewayApiConnector(HttpConnector):
    name = "gatewayapi"
    secret_fields = frozenset({"apiToken", "webhookSecret"})

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
        self._webhook_secret = self.optional_str(config, "webhookSecret")
        #: Our receipt endpoint, sent as each message's ``callback_url`` when set.
        self.status_callback = self.optional_url(config, "statusCallback")

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
        if self.status_callback is not None:
            body["callback_url"] = self.status_callback
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

    @property
    def accepts_receipts(self) -> bool:
        return self._webhook_secret is not None

    def receipt(self, request: ReceiptRequest, now: datetime) -> Receipt:
        token = request.header(SIGNATURE_HEADER)
        if not token:
            raise ReceiptRejected("missing_signature")
        claims = verify_hs256(token, str(self._webhook_secret))
        body = request.json_object()
        if any(claims[name] != value for name, value in body.items() if name in claims):
            raise ReceiptRejected("body_not_signed")
        signed = claims.get("iat", claims.get("time"))
        if signed is None:
            raise ReceiptRejected("missing_timestamp")
        signed_at = unix_time(signed)
        if "exp" in claims and unix_time(claims["exp"]) < now:
            raise ReceiptRejected("stale")
        message_id = scalar_text(claims.get("id"), reason="bad_message_id")
        status = scalar_text(claims.get("status"), reason="bad_status")
        if message_id is None:
            raise ReceiptMalformed("no_message_id")
        if status is None:
            raise ReceiptMalformed("no_status")
        occurred = claims.get("time")
        return Receipt(
            message_id=message_id,
            status=STATUSES.get(status.upper()),
            provider_status=status,
            error_code=scalar_text(claims.get("code"), reason="bad_error_code"),
            occurred_at=unix_time(occurred) if occurred is not None else None,
            signed_at=signed_at,
        )

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


def verify_hs256(token: str, secret: str | bytes) -> dict[str, Any]:
    """The claims of a compact JWS signed with HMAC-SHA256 under ``secret``;
    :class:`ReceiptRejected` for any other algorithm, a wrong signature or a token that is
    not one."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ReceiptRejected("bad_signature")
    header_part, payload_part, signature_part = parts
    try:
        header = json.loads(_b64url(header_part))
        signature = _b64url(signature_part)
    except (ValueError, RecursionError):
        raise ReceiptRejected("bad_signature") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise ReceiptRejected("bad_signature")
    signing_input = f"{header_part}.{payload_part}".encode("ascii", "replace")
    key = secret.encode() if isinstance(secret, str) else secret
    expected = hmac.new(key, signing_input, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise ReceiptRejected("bad_signature")
    try:
        claims = json.loads(_b64url(payload_part))
    except (ValueError, RecursionError):
        raise ReceiptMalformed("token_not_json") from None
    if not isinstance(claims, dict):
        raise ReceiptMalformed("token_not_object")
    return claims


def _b64url(part: str) -> bytes:
    """Base64url without padding (RFC 7515 §2); ValueError when it is not."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", part):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc
