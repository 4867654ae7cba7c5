"""Development connector: prints each message in a framed block instead of sending it.

Codes appear in clear on the stream, so ``init_app`` warns when neither ``DEBUG`` nor
``TESTING`` is set.
"""

from __future__ import annotations

import secrets
import sys
import threading
from collections.abc import Mapping
from typing import Any, TextIO

from .base import DeliveryResult, SmsConnector, SmsMessage
from .templates import text_for, validate_templates


class ConsoleConnector(SmsConnector):
    name = "console"
    builtin_texts = True

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        stream: TextIO | None = None,
    ) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        super().__init__(config)

    def configure(self, config: Mapping[str, Any]) -> None:
        if config.get("templates"):
            validate_templates(config, required=())

    def send(self, message: SmsMessage) -> DeliveryResult:
        text = text_for(message, self.config)
        rule = "-" * 72
        block = f"{rule}\nSMS to {message.to} ({message.usage})\n\n{text}\n{rule}\n"
        stream = self._stream or sys.stdout  # looked up per send so capture tools see it
        with self._lock:
            stream.write(block)
            stream.flush()
        return DeliveryResult(connector=self.name, message_id=f"console-{secrets.token_hex(6)}")
