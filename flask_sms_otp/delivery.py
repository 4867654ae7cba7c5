"""Hands a message to the connectors of its route and reports the outcome.

A send tries the connectors of the number's route (:mod:`.routing`) in turn: after a
failure that proves no SMS left (refused, rate-limited, unreachable, its circuit open), the
next one at once; after one that may have sent it (the provider's answer was lost), none,
and the challenge's next send starts with the connector after that one. Each try is one
delivery record.

Three steps, so the caller can fit them around its transaction: :meth:`Delivery.attempt`
calls the provider and writes nothing, :meth:`Delivery.record` writes the delivery record
(on the caller's transaction or one of its own), :meth:`Delivery.announce` logs and sends
the signals once that is committed. When and where a code is sent is decided in
:mod:`.dispatch`. Logs and signals carry the masked number and the provider's reason, never
the code: a failure is redacted here, once, before it is logged, recorded, signalled or
raised, since a provider may repeat the request (code, number, credentials) in its answer.
"""

from __future__ import annotations

import logging
import math
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask

from . import signals
from .connectors.base import DeliveryResult, SmsConnector, SmsMessage
from .connectors.receipts import Receipt
from .connectors.templates import render
from .errors import DeliveryError, ProviderRejected, ProviderUnavailable, SmsOtpError
from .i18n import translate
from .phone import mask_phone
from .records import DeliveryRecords, ReceiptOutcome
from .redaction import Redactor
from .routing import Named, Router
from .settings import Settings
from .sms_texts import source_text
from .usage import LINK_USAGES, Usage

logger = logging.getLogger("flask_sms_otp")


def builtin_text(usage: str, payload: Mapping[str, Any], locale: str | None) -> str:
    """The built-in text for ``usage`` (flask_sms_otp.sms_texts) translated into ``locale``,
    with ``payload``'s ``{{placeholders}}`` filled in."""
    return render(translate(locale, source_text(usage)), payload)


def autofill_lines(text: str, code: str, *, domain: str | None, app_hash: str | None) -> str:
    """``text`` with the lines that let a phone fill ``code`` in, each when configured: the
    Android SMS Retriever app hash, then the origin-bound line ``@domain #code`` of WebOTP
    and iOS, which must be the message's last line."""
    lines = [text]
    if domain is not None or app_hash is not None:
        lines.append("")
    if app_hash is not None:
        lines.append(app_hash)
    if domain is not None:
        lines.append(f"@{domain} #{code}")
    return "\n".join(lines)


class Delivery:
    def __init__(
        self,
        connector: SmsConnector | Router,
        settings: Settings,
        *,
        records: DeliveryRecords | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.router = connector if isinstance(connector, Router) else Router.single(connector)
        self.settings = settings
        self.records = records
        self.clock = clock

    @property
    def connector(self) -> SmsConnector:
        """The first configured connector (the only one, unless there are several)."""
        return self.router.default.connector

    def message(
        self,
        *,
        to: str,
        usage: str,
        code: str,
        client_ip: str | None = None,
        locale: str | None = None,
        channel: str | None = None,
    ) -> SmsMessage:
        """The message for ``code``, with the variables every template may use, in
        ``locale`` (a BCP 47 tag; the connector picks the template for it) and the
        built-in text rendered in that language. ``channel``: the person's choice (see
        :meth:`Router.by_channel`)."""
        variables: dict[str, Any] = {"minutes": max(1, math.ceil(self.settings.code_ttl / 60))}
        if usage == Usage.ORGANIZATION_INVITATION:
            # A code of this usage is a test send (``send-test``): invitations carry a link
            # (:mod:`.invitations`), which the code stands in for.
            variables["link"] = code
        return SmsMessage(
            to=to,
            usage=usage,
            code=code,
            variables=variables,
            client_ip=client_ip,
            locale=locale,
            channel=channel,
            text=autofill_lines(
                builtin_text(usage, {**variables, "code": code}, locale),
                code,
                domain=self.settings.webotp_domain,
                app_hash=self.settings.android_app_hash,
            ),
        )

    def notice(self, *, to: str, usage: str, locale: str | None = None) -> SmsMessage:
        """A security notice (flask_sms_otp.notices): no code, the built-in text in
        ``locale``."""
        return SmsMessage(
            to=to, usage=usage, code="", locale=locale, text=builtin_text(usage, {}, locale)
        )

    def send(
        self,
        app: Flask,
        message: SmsMessage,
        *,
        challenge_id: str | None = None,
        resend: bool = False,
        will_retry: bool = False,
        through: str | None = None,
    ) -> DeliveryResult:
        """Send ``message`` now, record it in a transaction of its own and announce it.
        Raise :class:`DeliveryError` (also for connector bugs).

        ``will_retry``: a queued send that will be tried again if this attempt fails with a
        transient error; ``delivery_failed`` then waits for the last attempt. ``through``:
        the name of the one connector to use, not the route (``send-test --connector``).
        """
        outcome = self.attempt(message, challenge_id=challenge_id, resend=resend, through=through)
        self.record(outcome)
        self.announce(app, outcome, will_retry=will_retry)
        if outcome.error is not None:
            raise outcome.error
        assert outcome.result is not None  # noqa: S101 - one of the two is set
        return outcome.result

    def attempt(
        self,
        message: SmsMessage,
        *,
        challenge_id: str | None = None,
        resend: bool = False,
        through: str | None = None,
    ) -> Outcome:
        """Hand ``message`` to the connectors of its route now (or only to the connector
        named ``through``), failing over while no SMS can have left. Never raises: a
        failure (also a connector bug) is in the outcome as a :class:`DeliveryError`, its
        provider text redacted."""
        if through is not None:
            route = [self.router.named[through]]
        else:
            route = self._route(message, challenge_id)
        if not route:
            unrouted = ProviderRejected("no route serves this number's region", connector="route")
            return self.failed(message, unrouted, challenge_id=challenge_id)
        circuit = self.router.circuit
        # An open circuit is skipped while another connector is left to try.
        closed = [entry for entry in route if not circuit.is_open(entry.key)] or route
        tries: list[Try] = []
        for entry in closed:
            started = time.perf_counter()
            result, error = self._try(entry.connector, entry.label, message)
            if error is None:
                circuit.succeeded(entry.key)
                tries.append(Try(entry.label, _since(started), result=result))
                break
            circuit.failed(entry.key)
            self._redactor(entry.connector, message).error(error)
            tries.append(Try(entry.label, _since(started), error=error))
            if error.maybe_sent:
                break
        if len(closed) < len(route):
            logger.info(
                "skipped %s: circuit open",
                ", ".join(e.label for e in route if e not in closed),
            )
        return Outcome(message, challenge_id, resend, tuple(tries))

    def _route(self, message: SmsMessage, challenge_id: str | None) -> list[Named]:
        """The route for the message's number, as the person's channel orders it, without
        the connectors that carry only codes when it carries a link (unless nothing else
        serves the number); after a try that may have sent the challenge's code, the
        connectors after that one come first."""
        route = self.router.by_channel(self.router.route_for(message.to), message.channel)
        if message.usage in LINK_USAGES:
            route = [entry for entry in route if not entry.connector.codes_only] or route
        if len(route) > 1 and challenge_id is not None and self.records is not None:
            unsure = self.records.unsure_connector(challenge_id)
            labels = [entry.label for entry in route]
            if unsure in labels:
                turn = labels.index(unsure) + 1
                route = route[turn:] + route[:turn]
        return route

    def _try(
        self, connector: SmsConnector, label: str, message: SmsMessage
    ) -> tuple[DeliveryResult | None, DeliveryError | None]:
        try:
            return connector.send(message), None
        except DeliveryError as exc:
            exc.connector = label
            return None, exc
        except SmsOtpError as exc:  # e.g. TemplateNotFound: a config problem the user cannot fix
            return None, DeliveryError(str(exc), connector=label)
        except Exception as exc:  # a connector bug must not become a 500 or leak a traceback
            # Logged with its traceback, redacted: the bug's text may hold the request.
            logger.error(
                "connector %r raised an unexpected error:\n%s",
                label,
                self._redactor(connector, message)("".join(traceback.format_exception(exc))),
            )
            # It may have failed after the provider took the message: no other is tried.
            return None, ProviderUnavailable(
                f"unexpected {type(exc).__name__}", connector=label, maybe_sent=True
            )

    def failed(
        self,
        message: SmsMessage,
        error: DeliveryError,
        *,
        challenge_id: str | None,
    ) -> Outcome:
        """The outcome of a send that never started (the background sender was full, the
        queue was down, no route): the provider's text redacted."""
        error.connector = error.connector or self.router.default.label
        self._redactor(self.connector, message).error(error)
        return Outcome(message, challenge_id, False, (Try(error.connector, 0, error=error),))

    def record(self, outcome: Outcome, conn: sa.Connection | None = None) -> None:
        """Write the outcome's delivery records, one per try: on ``conn`` (the caller's
        transaction), else in a transaction of its own. Monitoring never fails a send."""
        if self.records is None:
            return
        at = self.clock()
        for attempt in outcome.tries:
            try:
                self.records.record(
                    challenge_id=outcome.challenge_id,
                    connector=attempt.connector,
                    usage=outcome.message.usage,
                    phone=outcome.message.to,
                    status=attempt.status,
                    at=at,
                    latency_ms=attempt.latency_ms,
                    message_id=attempt.result.message_id if attempt.result is not None else None,
                    error=attempt.error,
                    conn=conn,
                )
            except Exception:
                logger.exception("could not write the delivery record")

    def announce(self, app: Flask, outcome: Outcome, *, will_retry: bool = False) -> None:
        """Log the outcome and send ``code_sent`` or ``delivery_failed`` (not for a failure
        that will be tried again). Called once the outcome's writes are committed."""
        message = outcome.message
        for attempt in outcome.tries:
            if attempt.error is not None:
                logger.warning(
                    "SMS %s to %s failed: %s",
                    message.usage,
                    mask_phone(message.to),
                    attempt.error.describe(),
                )
        last = outcome.tries[-1]
        if last.error is None:
            message_id = last.result.message_id if last.result is not None else None
            logger.info(
                "SMS %s sent to %s via %s (message id %s)",
                message.usage,
                mask_phone(message.to),
                last.connector,
                message_id,
            )
            signals.code_sent.send(
                app,
                challenge_id=outcome.challenge_id,
                usage=message.usage,
                phone=message.to,
                connector=last.connector,
                message_id=message_id,
                resend=outcome.resend,
            )
            return
        if not (will_retry and last.error.retryable):
            signals.delivery_failed.send(
                app,
                challenge_id=outcome.challenge_id,
                usage=message.usage,
                phone=message.to,
                connector=last.connector,
                error=last.error,
            )

    def apply_receipt(
        self, app: Flask, receipt: Receipt, *, connector: str | None = None
    ) -> ReceiptOutcome:
        """Apply a verified delivery receipt to its message's record and, when it changed
        the record, send ``delivery_status``. ``connector``: the name the records hold
        (default: this delivery's connector). Logged with the message id only: a receipt
        carries the full number."""
        name = connector or self.connector.name
        if self.records is None:
            return ReceiptOutcome("unknown")
        outcome = self.records.apply_receipt(name, receipt, self.clock())
        logger.info(
            "delivery receipt from %s for message %s: %s (%s)",
            name,
            receipt.message_id,
            receipt.provider_status,
            outcome.result,
        )
        if outcome.result == "applied":
            signals.delivery_status.send(
                app,
                challenge_id=outcome.challenge_id,
                connector=name,
                message_id=receipt.message_id,
                status=receipt.status,
                error_code=receipt.error_code,
                delivered_at=outcome.delivered_at,
            )
        return outcome

    def _redactor(self, connector: SmsConnector, message: SmsMessage) -> Redactor:
        """The connector's redactor for ``message``; should the connector's part of it fail,
        the code and the number are still redacted."""
        try:
            return connector.redactor(message)
        except Exception:
            logger.exception("connector %r could not build its redactor", connector.name)
            return Redactor(code=message.code, phone=message.to)


@dataclass(frozen=True, slots=True)
class Try:
    """One connector's try at a message: its result, or its error (redacted)."""

    connector: str
    latency_ms: int
    result: DeliveryResult | None = None
    error: DeliveryError | None = None

    @property
    def status(self) -> str:
        """The delivery record's status: ``sent``, ``failed``, or ``unsure`` when the SMS
        may have left."""
        if self.error is None:
            return "sent"
        return "unsure" if self.error.maybe_sent else "failed"


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one send went: each connector's try, the last one deciding."""

    message: SmsMessage
    challenge_id: str | None
    resend: bool
    tries: tuple[Try, ...]

    @property
    def result(self) -> DeliveryResult | None:
        return self.tries[-1].result

    @property
    def error(self) -> DeliveryError | None:
        return self.tries[-1].error

    @property
    def latency_ms(self) -> int:
        return sum(attempt.latency_ms for attempt in self.tries)


def _since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
