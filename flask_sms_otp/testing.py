"""Helpers for testing an app that uses flask-sms-otp with the ``memory`` connector.

``outbox`` lists every message sent, like Django's ``mail.outbox``; the package's pytest
plugin empties it before each test (fixture ``sms_outbox`` returns it).
"""

from __future__ import annotations

from flask import Flask

from .connectors.memory import MemoryConnector, SentSms, outbox
from .errors import DeliveryError
from .state import get_state

__all__ = ["SentSms", "fail_next_send", "outbox", "wait_for_sends"]


def fail_next_send(
    error: DeliveryError | None = None, *, times: int = 1, app: Flask | None = None
) -> None:
    """Make the app's next ``times`` sends fail with ``error`` (default: a provider outage)."""
    connector = get_state(app).connector
    if not isinstance(connector, MemoryConnector):
        raise RuntimeError("fail_next_send needs SMS_OTP_CONNECTOR = 'memory'")
    connector.fail_next(error, times=times)


def wait_for_sends(app: Flask | None = None) -> None:
    """Wait until the app's background sends are done. With a connector other than
    ``memory`` (the ``http`` one against a fake endpoint, say), codes anyone may ask for are
    sent on a pool of threads after the answer; call this before looking for them."""
    get_state(app).sender.drain()
