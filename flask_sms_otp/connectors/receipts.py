"""Delivery receipts: what a provider posts about a message after accepting it.

A connector that can take receipts sets :attr:`~flask_sms_otp.SmsConnector.accepts_receipts`
and turns a :class:`ReceiptRequest` (the post as received: URL, headers, raw body) into a
:class:`Receipt`, after checking the provider's own signature. It raises
:class:`~flask_sms_otp.errors.ReceiptRejected` for a missing or wrong signature, and
:class:`~flask_sms_otp.errors.ReceiptMalformed` for a body it cannot read. The receipt's
signed timestamp is checked by the caller (:func:`check_fresh`, against
``SMS_OTP_RECEIPT_MAX_AGE``), and replays of an applied receipt against the delivery record
(:meth:`flask_sms_otp.records.DeliveryRecords.apply_receipt`).

Why a signed receipt is taken for hours, not minutes: providers retry a post the app did not
answer with a 2xx (GatewayAPI after 1, 2, 6 and 24 minutes, 2 hours and 12 hours) and
GatewayAPI dates its token by the status's own time, so a window of minutes would lose every
receipt sent while the app was down. The age limit is not what stops a replay: statuses only
move forward and the receipt last applied is refused when it comes again, so an old receipt
replayed changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from ..errors import ReceiptMalformed, ReceiptRejected

#: Statuses after which nothing changes, and those on the way there, in order. A receipt is
#: applied only when its status comes later than the record's (statuses only move forward).
FINAL_STATUSES = ("delivered", "undelivered", "failed", "expired", "rejected")
INTERIM_STATUSES = ("accepted", "sent", "buffered")
RANK: Mapping[str, int] = {
    **{status: rank for rank, status in enumerate(INTERIM_STATUSES, start=1)},
    **dict.fromkeys(FINAL_STATUSES, len(INTERIM_STATUSES) + 1),
}
#: How far ahead of our clock a signed timestamp may be: further is a clock we cannot trust.
MAX_SKEW = timedelta(minutes=5)
#: A receipt is a few hundred bytes; anything far larger is not one.
MAX_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class ReceiptRequest:
    """A provider's post as it reached us. ``url`` is the full URL (scheme, host, port as
    received, path, query); ``headers`` any mapping, looked up case-insensitively."""

    url: str
    headers: Mapping[str, str]
    body: bytes
    content_type: str = ""
    _lower: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lower = {str(k).lower(): str(v) for k, v in self.headers.items()}
        object.__setattr__(self, "_lower", lower)

    def header(self, name: str) -> str | None:
        value = self._lower.get(name.lower())
        return value.strip() if value else None

    @property
    def is_json(self) -> bool:
        return self.content_type.split(";")[0].strip().lower() == "application/json"

    def text(self) -> str:
        if len(self.body) > MAX_BODY:
            raise ReceiptMalformed("body_too_large")
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError:
            raise ReceiptMalformed("body_not_utf8") from None

    def form(self) -> list[tuple[str, str]]:
        """The ``application/x-www-form-urlencoded`` pairs, in order, repeats kept."""
        try:
            return parse_qsl(self.text(), keep_blank_values=True, strict_parsing=bool(self.body))
        except ValueError:
            raise ReceiptMalformed("body_not_form") from None

    def json_object(self) -> dict[str, Any]:
        try:
            data = json.loads(self.text())
        except (ValueError, RecursionError):
            raise ReceiptMalformed("body_not_json") from None
        if not isinstance(data, dict):
            raise ReceiptMalformed("body_not_object")
        return data


@dataclass(frozen=True, slots=True)
class Receipt:
    """One status report on one message, verified.

    ``status`` is normalised (:data:`FINAL_STATUSES`, :data:`INTERIM_STATUSES`), or None for
    a provider status that tells nothing (Vonage's ``unknown``); ``provider_status`` is the
    provider's word. ``occurred_at`` is when the provider says the status happened;
    ``signed_at`` the signed timestamp of the post itself, when the scheme has one.
    """

    message_id: str
    status: str | None
    provider_status: str
    error_code: str | None = None
    occurred_at: datetime | None = None
    signed_at: datetime | None = None

    @property
    def key(self) -> str:
        """What makes two posts the same receipt: the message, the provider's status and
        the signed timestamp. An applied receipt's key is kept to refuse its replay."""
        signed = self.signed_at.isoformat() if self.signed_at else ""
        raw = "\0".join((self.message_id, self.provider_status, signed))
        return hashlib.sha256(raw.encode()).hexdigest()[:32]


def check_fresh(signed_at: datetime, now: datetime, max_age: timedelta) -> None:
    """Refuse a signed timestamp older than ``max_age`` (``stale``) or more than
    :data:`MAX_SKEW` ahead of ``now`` (``clock_ahead``)."""
    if signed_at - now > MAX_SKEW:
        raise ReceiptRejected("clock_ahead")
    if now - signed_at > max_age:
        raise ReceiptRejected("stale")


def unix_time(value: Any, *, reason: str = "bad_timestamp") -> datetime:
    """A Unix timestamp (seconds, as a number or a string of digits) as an aware UTC
    datetime; :class:`ReceiptMalformed` otherwise."""
    if isinstance(value, bool):
        raise ReceiptMalformed(reason)
    if isinstance(value, str):
        if not value.strip().isdigit():
            raise ReceiptMalformed(reason)
        value = int(value.strip())
    if not isinstance(value, int | float):
        raise ReceiptMalformed(reason)
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise ReceiptMalformed(reason) from None


def scalar_text(value: Any, *, reason: str) -> str | None:
    """A JSON or form value as text: strings and numbers; None for null or empty."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ReceiptMalformed(reason)
    return str(value)
