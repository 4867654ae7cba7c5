"""Hands a code to the configured connector and reports the outcome.

The web request waits for the provider here (synchronous delivery, the default). Logs and
signals carry the masked number and the provider's reason, never the code: a failure is
redacted here, once, before it is logged, recorded, signalled or raised to the caller, since
a provider may repeat the request (code, number, credentials) in its answer.
"""

from __future__ import annotations

import logging
import math
import time
import traceback
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Flask

from . import signals
from .connectors.base import DeliveryResult, SmsConnector, SmsMessage
from .connectors.templates import render
from .errors import DeliveryError, ProviderUnavailable, SmsOtpError
from .i18n import translate
from .phone import mask_phone
from .records import DeliveryRecords
from .redaction import Redactor
from .settings import Settings
from .sms_texts import source_text

logger = logging.getLogger("flask_sms_otp")


def builtin_text(usage: str, payload: Mapping[str, Any], locale: str | None) -> str:
    """The built-in text for ``usage`` (flask_sms_otp.sms_texts) translated into ``locale``,
    with ``payload``'s ``{{placeholders}}`` filled in."""
    return render(translate(locale, source_text(usage)), payload)


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
            text=builtin_text(usage, {**variables, "code": code}, locale),
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
        """Send ``message`` now. Raise :class:`DeliveryError` (also for connector bugs).

        ``will_retry``: a queued send that will be tried again if this attempt fails with a
        transient error; ``delivery_failed`` then waits for the last attempt.
        """
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
            self._record(message, challenge_id, "sent", started, message_id=result.message_id)
            logger.info(
                "SMS %s sent to %s via %s (message id %s)",
                message.usage,
                mask_phone(message.to),
                name,
                result.message_id,
            )
            signals.code_sent.send(
                app,
                challenge_id=challenge_id,
                usage=message.usage,
                phone=message.to,
                connector=name,
                message_id=result.message_id,
                resend=resend,
            )
            return result
        error.connector = error.connector or name
        self.report_failure(
            app,
            message,
            error,
            challenge_id=challenge_id,
            started=started,
            signal=not (will_retry and error.retryable),
        )
        raise error

    def report_failure(
        self,
        app: Flask,
        message: SmsMessage,
        error: DeliveryError,
        *,
        challenge_id: str | None,
        started: float | None = None,
        signal: bool = True,
    ) -> None:
        """A send that failed, or never started (the background sender was full): redact
        the provider's text, write the record, log the reason, and (unless it will be tried
        again) signal it."""
        self._redactor(message).error(error)
        self._record(
            message,
            challenge_id,
            "failed",
            time.perf_counter() if started is None else started,
            error=error,
        )
        logger.warning(
            "SMS %s to %s failed: %s", message.usage, mask_phone(message.to), error.describe()
        )
        if signal:
            signals.delivery_failed.send(
                app,
                challenge_id=challenge_id,
                usage=message.usage,
                phone=message.to,
                connector=self.connector.name,
                error=error,
            )

    def _redactor(self, message: SmsMessage) -> Redactor:
        """The connector's redactor for ``message``; should the connector's part of it fail,
        the code and the number are still redacted."""
        try:
            return self.connector.redactor(message)
        except Exception:
            logger.exception("connector %r could not build its redactor", self.connector.name)
            return Redactor(code=message.code, phone=message.to)

    def _record(
        self,
        message: SmsMessage,
        challenge_id: str | None,
        status: str,
        started: float,
        *,
        message_id: str | None = None,
        error: DeliveryError | None = None,
    ) -> None:
        if self.records is None:
            return
        try:
            self.records.record(
                challenge_id=challenge_id,
                connector=self.connector.name,
                usage=message.usage,
                phone=message.to,
                status=status,
                at=self.clock(),
                latency_ms=round((time.perf_counter() - started) * 1000),
                message_id=message_id,
                error=error,
            )
        except Exception:  # monitoring must never turn a sent SMS into an error
            logger.exception("could not write the delivery record")
