"""Tells the providers that ask (``SmsConnector.reports_verified``: Twilio Verify) which of
their messages carried a code that was then used.

On ``code_verified`` the challenge's accepted messages are read from the delivery records,
and each one sent by such a connector is reported on the background sender: after the
verification was committed, off the person's request, its failure only logged. A full
sender skips the report (logged) rather than wait.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from . import signals
from .connectors.base import SmsConnector, SmsMessage
from .errors import DeliveryError
from .sender import BackgroundSender, SenderBusy
from .state import get_state

logger = logging.getLogger("flask_sms_otp")


def connect(app: Flask) -> None:
    """Report ``app``'s verified codes, when one of its connectors wants them."""
    router = get_state(app).delivery.router
    if any(entry.connector.reports_verified for entry in router.named.values()):
        signals.code_verified.connect(_verified, sender=app, weak=False)


def _verified(
    app: Flask, challenge_id: str | None = None, phone: str | None = None, **_extra: Any
) -> None:
    state = get_state(app)
    records = state.delivery.records
    if challenge_id is None or records is None:
        return
    try:
        sent = records.sent_messages(challenge_id)
    except Exception:
        logger.exception("could not read the delivery records to report a verified code")
        return
    for label, message_id in sent:
        entry = state.delivery.router.by_label(label)
        if entry is None or not entry.connector.reports_verified:
            continue
        _submit(app, state.sender, entry.connector, label, message_id, phone)


def _submit(
    app: Flask,
    sender: BackgroundSender,
    connector: SmsConnector,
    label: str,
    message_id: str,
    phone: str | None,
) -> None:
    """Report on the background sender; a provider's text is redacted of the connector's
    credentials and the number before it is logged."""
    redactor = connector.redactor(SmsMessage(to=phone, usage="", code="") if phone else None)

    def report() -> None:
        try:
            connector.report_verified(message_id)
        except DeliveryError as exc:
            exc.connector = label
            logger.warning(
                "could not report message %s verified: %s",
                message_id,
                redactor.error(exc).describe(),
            )
        else:
            logger.info("reported message %s verified to %s", message_id, label)

    try:
        sender.submit(app, report)
    except SenderBusy:
        logger.warning("the background sender is full: message %s not reported", message_id)
