"""Fixtures for the JSON API tests; their helpers (the API client, users made in the
database, what the memory connector "sent") are in :mod:`tests.helpers`."""

from __future__ import annotations

import pytest

from flask_sms_otp.connectors.registry import BUILTIN_CONNECTORS

from ..helpers import SlowConnector


@pytest.fixture
def slow_connector(monkeypatch: pytest.MonkeyPatch) -> str:
    """Registers :class:`tests.helpers.SlowConnector` as ``SMS_OTP_CONNECTOR = "slow"``."""
    monkeypatch.setitem(
        BUILTIN_CONNECTORS, "slow", f"{SlowConnector.__module__}:{SlowConnector.__qualname__}"
    )
    return "slow"
