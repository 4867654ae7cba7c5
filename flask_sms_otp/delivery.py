"""Hands a message to the configured connector and reports the outcome.

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
from .errors import DeliveryError, ProviderUnavailable, SmsOtpError
from .i18n import translate
from .phone import mask_phone
from .records import DeliveryRecords, ReceiptOutcome
from .redaction import Redactor
from .settings import Settings
from .sms_texts import source_text

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
        connector: SmsConnector,
        settings: Settings,
        *,
        records: DeliveryRecords | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.connector = connector
        self.settings = settings
        self.records = records
        self.clock = clock

    def message(
        self,
        *,
        to: str,
        usage: str,
        code: str,
        client_ip: str | None = None,
        locale: str | None = None,
    ) -> SmsMessage:
        """The message for ``code``, with the variables every template may use, in
        ``locale`` (a BCP 47 tag; the connector picks the template for it) and the
        built-in text rendered in that language."""
        variables = {"minutes": max(1, math.ceil(self.settings.code_ttl / 60))}
        return SmsMessage(
            to=to,
            usage=usage,
            code=code,
            variables=variables,
            client_ip=client_ip,
            locale=locale,
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
    ) -> DeliveryResult:
        """Send ``message`` now, record it in a transaction of its own and announce it.
        Raise :class:`DeliveryError` (also for connector bugs).

        ``will_retry``: a queued send that will be tried again if this attempt fails with a
        transient error; ``delivery_failed`` then waits for the last attempt.
        """
        outcome = self.attempt(message, challenge_id=challenge_id, resend=resend)
        self.record(outcome)
        self.announce(app, outcome, will_retry=will_retry)
        if outcome.error is not None:
            raise outcome.error
        assert outcome.result is not None  # noqa: S101 - one of the two is set
        return outcome.result

    def attempt(
        self, message: SmsMessage, *, challenge_id: str | None = None, resend: bool = False
    ) -> Outcome:
        """Hand ``message`` to the connector now. Never raises: a failure (also a connector
        bug) is in the outcome as a :class:`DeliveryError`, its provider text redacted."""
        name = self.connector.name
        started = time.perf_counter()
        try:
            result = self.connector.send(message)
        except DeliveryError as exc:
            error = exc
        except SmsOtpError as exc:  # e.g. TemplateNotFound: a config problem the user cannot fix
            error = DeliveryError(str(exc), connector=name)
        except Exception as exc:  # a connector bug must not become a 500 or leak a traceback
            # Logged with its traceback, redacted: the bug's text may hold the request.
            logger.error(
                "connector %r raised an unexpected error:\n%s",
                name,
                self._redactor(message)("".join(traceback.format_exception(exc))),
            )
            error = ProviderUnavailable(f"unexpected {type(exc).__name__}", connector=name)
        else:
            return Outcome(message, challenge_id, resend, _since(started), result=result)
        return self.failed(message, error, challenge_id=challenge_id, started=started)

    def failed(
        self,
        message: SmsMessage,
        error: DeliveryError,
        *,
        challenge_id: str | None,
        started: float | None = None,
    ) -> Outcome:
        """The outcome of a send that failed, or never started (the background sender was
        full, the queue was down): the provider's text redacted."""
        error.connector = error.connector or self.connector.name
        self._redactor(message).error(error)
        latency = 0 if started is None else _since(started)
        return Outcome(message, challenge_id, False, latency, error=error)

    def record(self, outcome: Outcome, conn: sa.Connection | None = None) -> None:
        """Write the outcome's delivery record: on ``conn`` (the caller's transaction),
        else in a transaction of its own. Monitoring never fails a send."""
        if self.records is None:
            return
        try:
            self.records.record(
                challenge_id=outcome.challenge_id,
                connector=self.connector.name,
                usage=outcome.message.usage,
                phone=outcome.message.to,
                status="failed" if outcome.error is not None else "sent",
                at=self.clock(),
                latency_ms=outcome.latency_ms,
                message_id=outcome.result.message_id if outcome.result is not None else None,
                error=outcome.error,
                conn=conn,
            )
        except Exception:
            logger.exception("could not write the delivery record")

    def announce(self, app: Flask, outcome: Outcome, *, will_retry: bool = False) -> None:
        """Log the outcome and send ``code_sent`` or ``delivery_failed`` (not for a failure
        that will be tried again). Called once the outcome's writes are committed."""
        message, error = outcome.message, outcome.error
        if error is None:
            message_id = outcome.result.message_id if outcome.result is not None else None
            logger.info(
                "SMS %s sent to %s via %s (message id %s)",
                message.usage,
                mask_phone(message.to),
                self.connector.name,
                message_id,
            )
            signals.code_sent.send(
                app,
                challenge_id=outcome.challenge_id,
                usage=message.usage,
                phone=message.to,
                connector=self.connector.name,
                message_id=message_id,
                resend=outcome.resend,
            )
            return
        logger.warning(
            "SMS %s to %s failed: %s", message.usage, mask_phone(message.to), error.describe()
        )
        if not (will_retry and error.retryable):
            signals.delivery_failed.send(
                app,
                challenge_id=outcome.challenge_id,
                usage=message.usage,
                phone=message.to,
                connector=self.connector.name,
                error=error,
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

    def _redactor(self, message: SmsMessage) -> Redactor:
        """The connector's redactor for ``message``; should the connector's part of it fail,
        the code and the number are still redacted."""
        try:
            return self.connector.redactor(message)
        except Exception:
            logger.exception("connector %r could not build its redactor", self.connector.name)
            return Redactor(code=message.code, phone=message.to)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one send went: the provider's result, or the error (redacted)."""

    message: SmsMessage
    challenge_id: str | None
    resend: bool
    latency_ms: int
    result: DeliveryResult | None = None
    error: DeliveryError | None = None


def _since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
