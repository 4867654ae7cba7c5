"""What operators ask and do, shared by the ``flask sms-otp`` commands and the admin pages:
the connectors' state, a test send, a number's locks and send limits.

Nothing here returns a credential or a number in clear: configs come with their secrets
replaced, numbers masked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from .connectors.base import DeliveryResult, SmsConnector
from .limits import prefix_of
from .models import as_utc
from .phone import normalize_with, test_code
from .redaction import SECRET_MARKER
from .state import SmsOtpState

#: How far back the connectors' failure rate looks.
FAILURE_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class ConnectorStatus:
    """One configured connector as an operator sees it."""

    key: str
    label: str
    kind: str
    #: The routes (their regions, ``*`` for every other) that try it.
    routes: tuple[str, ...]
    #: "off" (no circuit breaker, or no storage), "open" (skipped) or "closed".
    circuit: str
    #: Failures in a row so far, while closed.
    failures_in_row: int
    #: Tries in :data:`FAILURE_WINDOW`, and those that failed or may have.
    tries: int
    failed: int
    #: Its config, each field's value as shown: secrets replaced (see :func:`shown_config`).
    config: tuple[tuple[str, str], ...]

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.tries if self.tries else None


def connector_statuses(state: SmsOtpState, now: datetime) -> list[ConnectorStatus]:
    """Every configured connector, in the order of ``SMS_OTP_CONNECTORS``."""
    router = state.delivery.router
    records = state.delivery.records
    rates = records.failure_rates(now - FAILURE_WINDOW) if records is not None else {}
    found = []
    for key, entry in router.named.items():
        circuit = router.circuit
        if circuit.storage is None:
            shown, in_row = "off", 0
        elif circuit.is_open(key):
            shown, in_row = "open", 0
        else:
            shown, in_row = "closed", circuit.failures(key)
        tries, failed = rates.get(entry.label, (0, 0))
        found.append(
            ConnectorStatus(
                key=key,
                label=entry.label,
                kind=entry.connector.name,
                routes=tuple(router.routes_of(key)),
                circuit=shown,
                failures_in_row=in_row,
                tries=tries,
                failed=failed,
                config=shown_config(entry.connector),
            )
        )
    return found


def shown_config(connector: SmsConnector) -> tuple[tuple[str, str], ...]:
    """``connector``'s config as text an operator may read: a secret field's value is
    replaced by a marker, and every other value (nested ones as JSON) passes through the
    connector's redactor, so a credential copied into another field is hidden there too."""
    redact = connector.redactor()
    shown = []
    for name in sorted(connector.config):
        value = connector.config[name]
        if name in connector.secret_fields:
            text = SECRET_MARKER if value not in (None, "") else ""
        else:
            text = redact(_as_text(value))
        shown.append((name, text))
    return tuple(shown)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


class UnknownConnector(ValueError):
    """A test send names no configured connector."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no connector {name!r} (configured: {', '.join(known)})")
        self.name = name
        self.known = known


class TestNumberGiven(ValueError):
    """A test send to a test number (``SMS_OTP_TEST_NUMBERS``): nothing is ever sent to it."""

    __test__ = False  # not a pytest test class, whatever its name


def send_test(
    state: SmsOtpState,
    app: Flask,
    phone: str,
    usage: str,
    *,
    locale: str | None = None,
    through: str | None = None,
) -> tuple[str, DeliveryResult]:
    """Send a test code to ``phone`` through its route (failover included), or through the
    connector ``through`` only. Returns the number (E.164) and the provider's answer.

    Raises :class:`UnknownConnector`, ``InvalidPhoneNumber``, :class:`TestNumberGiven`,
    or the :class:`DeliveryError` of the send."""
    if through is not None and through not in state.delivery.router.named:
        raise UnknownConnector(through, list(state.delivery.router.named))
    now = state.challenges.clock()
    e164 = normalize_with(state.settings, phone, now=now)
    if test_code(state.settings, e164, now) is not None:
        raise TestNumberGiven("a test number (SMS_OTP_TEST_NUMBERS): nothing is ever sent to it")
    code = state.challenges.codes.generator(state.settings.code_length)
    message = state.delivery.message(to=e164, usage=usage, code=code, locale=locale)
    return e164, state.delivery.send(app, message, through=through)


# Locks and send limits ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lock:
    """A number locked by failed codes. ``silent``: the lock of its silent challenges (no
    account to send to), which never stops the real holder."""

    phone: str
    silent: bool
    until: datetime


def locked_numbers(state: SmsOtpState, now: datetime, limit: int = 200) -> list[Lock]:
    """Numbers locked now by consecutive failed codes, the longest lock first."""
    Counter = state.models.FailureCounter
    with state.db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(Counter.phone, Counter.silent, Counter.locked_until)
            .where(Counter.locked_until > now)
            .order_by(Counter.locked_until.desc(), Counter.phone)
            .limit(limit)
        ).all()
    return [Lock(row.phone, bool(row.silent), as_utc(row.locked_until)) for row in rows]


def unlock(state: SmsOtpState, e164: str, now: datetime) -> bool:
    """End ``e164``'s lock (its silent one too) and forget its failures. Returns whether
    it was locked."""
    Counter = state.models.FailureCounter
    with state.db.engine.begin() as conn:
        was = conn.execute(
            sa.select(sa.func.count())
            .select_from(Counter)
            .where(Counter.phone == e164, Counter.locked_until > now)
        ).scalar_one()
        conn.execute(
            sa.update(Counter)
            .where(Counter.phone == e164)
            .values(failures=0, locked_until=None, updated_at=now)
        )
    return bool(was)


@dataclass(frozen=True, slots=True)
class LimitState:
    """One send limit of a number or its block: what is left in the current window."""

    bucket: str
    limit: str
    remaining: int
    reset_at: datetime | None

    @property
    def reached(self) -> bool:
        return self.remaining <= 0


#: The send buckets an operator can see and clear for one number: the number's own (what
#: anyone may ask for, and its holder's), and its block of 10,000.
SEND_BUCKETS = ("send-number", "send-holder", "send-prefix")


def send_limits(state: SmsOtpState, e164: str) -> list[LimitState]:
    """Where ``e164`` and its block stand against the send limits (empty while
    Flask-Limiter is off). Reading counts nothing."""
    limits = state.limits
    if not limits.enabled:
        return []
    found = []
    for bucket, key, items in _buckets(state, e164):
        for item in items:
            stats = limits.limiter.limiter.get_window_stats(item, *limits.identifiers(bucket, key))
            used = stats.remaining < item.amount
            reset = datetime.fromtimestamp(stats.reset_time, UTC) if used else None
            found.append(LimitState(bucket, str(item), int(stats.remaining), reset))
    return found


@dataclass(frozen=True, slots=True)
class AtLimit:
    """A number at one of its send limits, or in a block at its own: the limits reached."""

    phone: str
    reached: tuple[LimitState, ...]


def numbers_at_limits(state: SmsOtpState, now: datetime, candidates: int = 200) -> list[AtLimit]:
    """The numbers at a send limit now, or whose block is, most asked for first.

    The rate-limit storage cannot list its keys, so the candidates are the numbers that
    were asked for codes within the longest send window (the challenges kept in the
    database: ``purge`` removes old ones), at most ``candidates`` of them; each is then
    read from the limiter, which counts nothing."""
    limits = state.limits
    if not limits.enabled:
        return []
    items = [*limits.send_per_number, *limits.send_per_prefix]
    if not items:
        return []
    window = timedelta(seconds=max(item.get_expiry() for item in items))
    Challenge = state.models.Challenge
    asked = sa.func.count().label("asked")
    with state.db.engine.connect() as conn:
        phones = conn.execute(
            sa.select(Challenge.phone, asked)
            .where(Challenge.created_at >= now - window)
            .group_by(Challenge.phone)
            .order_by(asked.desc(), Challenge.phone)
            .limit(candidates)
        ).scalars()
        found = []
        for phone in phones:
            reached = tuple(limit for limit in send_limits(state, phone) if limit.reached)
            if reached:
                found.append(AtLimit(phone, reached))
    return found


def clear_send_limits(state: SmsOtpState, e164: str) -> None:
    """Empty ``e164``'s send buckets and its block's, as if nothing had been sent there."""
    limits = state.limits
    if not limits.enabled:
        return
    for bucket, key, items in _buckets(state, e164):
        for item in items:
            limits.limiter.limiter.clear(item, *limits.identifiers(bucket, key))


def _buckets(state: SmsOtpState, e164: str) -> list[tuple[str, str, Any]]:
    limits = state.limits
    return [
        ("send-number", e164, limits.send_per_number),
        ("send-holder", e164, limits.send_per_number),
        ("send-prefix", prefix_of(e164), limits.send_per_prefix),
    ]


def normalized(state: SmsOtpState, phone: str, now: datetime) -> str:
    """``phone`` as E.164 under the app's number policy; raises ``InvalidPhoneNumber``."""
    return normalize_with(state.settings, phone, now=now)
