"""Test connector: keeps every sent message in :data:`outbox`, like Django's ``mail.outbox``.

``from flask_sms_otp.testing import outbox`` reads it; the package's pytest plugin empties
it before each test. :meth:`MemoryConnector.fail_next` makes the next send fail, to test
provider outages.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..errors import DeliveryError, ProviderUnavailable
from .base import DeliveryResult, SmsConnector, SmsMessage
from .templates import text_for, validate_templates


@dataclass(frozen=True, slots=True)
class SentSms:
    """One message in the outbox."""

    to: str
    usage: str
    code: str
    text: str
    message_id: str
    variables: Mapping[str, Any] = field(default_factory=dict)
    sent_at: datetime = field(default_factory=lambda: datetime.now(UTC))


#: Every message sent by any memory connector in this process, oldest first.
outbox: list[SentSms] = []
_outbox_lock = threading.Lock()


class MemoryConnector(SmsConnector):
    name = "memory"
    instant = True
    builtin_texts = True

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self._failures: list[DeliveryError] = []
        self._lock = threading.Lock()
        super().__init__(config)

    def configure(self, config: Mapping[str, Any]) -> None:
        if config.get("templates"):
            validate_templates(config, required=())

    def fail_next(self, error: DeliveryError | None = None, *, times: int = 1) -> None:
        """Make the next ``times`` sends raise ``error`` (default: a transient provider outage)."""
        error = error or ProviderUnavailable("simulated provider outage", connector=self.name)
        with self._lock:
            self._failures.extend([error] * times)

    def send(self, message: SmsMessage) -> DeliveryResult:
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            raise failure
        text = text_for(message, self.config)
        sent = SentSms(
            to=message.to,
            usage=message.usage,
            code=message.code,
            text=text,
            message_id=f"memory-{secrets.token_hex(8)}",
            variables=dict(message.variables),
        )
        with _outbox_lock:
            outbox.append(sent)
        return DeliveryResult(connector=self.name, message_id=sent.message_id)
