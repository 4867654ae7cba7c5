"""pytest plugin (registered through the ``pytest11`` entry point): a clean outbox per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .connectors.memory import SentSms, outbox


@pytest.fixture(autouse=True)
def _sms_otp_clean_outbox() -> Iterator[None]:
    outbox.clear()
    yield
    outbox.clear()


@pytest.fixture
def sms_outbox() -> list[SentSms]:
    """The memory connector's outbox, empty at the start of the test."""
    return outbox
