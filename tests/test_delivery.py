"""The delivery redacts a failure once, for every connector, third-party ones included, before
it is logged, recorded, signalled or raised (security check 36)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa
from flask import Flask

from flask_sms_otp import (
    DeliveryError,
    DeliveryResult,
    ProviderRejected,
    ProviderUnavailable,
    SmsConnector,
    SmsMessage,
    Usage,
    delivery_failed,
)
from flask_sms_otp.delivery import Delivery
from flask_sms_otp.state import get_state
from flask_sms_otp.testing import fail_next_send

from .helpers import (
    MASKED,
    PHONE,
    AppFactory,
)

CODE = "914263"
LOFT_KEY = "loft-key-5e81c2a9"
DERIVED = "bG9mdC1rZXk6ZGVyaXZlZA"
NONCE = "nonce-0c4f9a2e"
#: Everything that must not leak, the number in several spellings.
FORBIDDEN = (CODE, PHONE, "8613800138000", "13800138000", "138 0013 8000", LOFT_KEY, DERIVED)
ECHO = f"to={PHONE} national=138 0013 8000 text=Code {CODE} key={LOFT_KEY} auth={DERIVED} {NONCE}"


class Pigeon(SmsConnector):
    """A third-party connector whose provider repeats the whole request when it refuses."""

    name = "pigeon"
    secret_fields = frozenset({"loftKey"})
    secret_patterns = (r"nonce-[0-9a-f]{8}",)
    failure: ClassVar[type[Exception]] = ProviderRejected

    def derived_secrets(self) -> Iterable[str]:
        return (DERIVED,)

    def send(self, message: SmsMessage) -> DeliveryResult:
        try:
            raise ValueError(ECHO)  # say, the provider's client library failing with the echo
        except ValueError as exc:
            if self.failure is not ProviderRejected:
                raise self.failure(ECHO) from exc
            raise ProviderRejected(
                f"rejected by the provider: {ECHO}",
                connector=self.name,
                status_code=400,
                provider_code=f"E-{CODE}",
                provider_message=ECHO,
            ) from exc


class BrokenRedactor(Pigeon):
    def derived_secrets(self) -> Iterable[str]:
        raise KeyError("derived")


@pytest.fixture
def app(make_app: AppFactory) -> Iterator[Flask]:
    app = make_app(code_generator=lambda length: CODE)
    with app.app_context():
        yield app


def deliver(app: Flask, connector: SmsConnector) -> tuple[DeliveryError, list[DeliveryError]]:
    """Send a code through ``connector`` with the app's settings and records."""
    state = get_state(app)
    delivery = Delivery(connector, state.settings, records=state.delivery.records)
    signalled: list[DeliveryError] = []

    def failed(sender: Flask, error: DeliveryError, **extra: Any) -> None:
        signalled.append(error)

    message = delivery.message(to=PHONE, usage=Usage.SIGN_IN.value, code=CODE)
    with delivery_failed.connected_to(failed, app), pytest.raises(DeliveryError) as info:
        delivery.send(app, message)
    return info.value, signalled


def record_errors(app: Flask) -> str:
    Record = get_state(app).models.DeliveryRecord
    rows = get_state(app).db.session.execute(sa.select(Record.error)).scalars().all()
    get_state(app).db.session.commit()
    return "\n".join(str(row) for row in rows)


def error_texts(error: DeliveryError) -> str:
    return f"{error}\n{error.describe()}\n{error.provider_message}\n{error.provider_code}"


def assert_clean(*texts: str) -> None:
    for text in texts:
        for secret in FORBIDDEN:
            assert secret not in text, f"{secret!r} leaked into {text!r}"


def test_a_third_party_connector_declares_its_secrets_and_is_redacted(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    error, signalled = deliver(app, Pigeon({"loftKey": LOFT_KEY}))
    assert signalled == [error]
    assert isinstance(error, ProviderRejected)
    assert error.provider_message == (
        f"to={MASKED} national={MASKED} text=Code [code] key=[redacted] auth=[redacted] [redacted]"
    )
    assert error.provider_code == "E-[code]"
    assert error.__cause__ is None
    assert error.__context__ is None
    assert MASKED in caplog.text
    assert "E-[code]" in record_errors(app)
    assert_clean(caplog.text, record_errors(app), error_texts(error))


def test_a_connector_bug_is_logged_with_its_traceback_redacted(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    class Buggy(Pigeon):
        failure = RuntimeError

    caplog.set_level(logging.DEBUG)
    error, _ = deliver(app, Buggy({"loftKey": LOFT_KEY}))
    assert isinstance(error, ProviderUnavailable)
    assert str(error) == "unexpected RuntimeError"
    (bug,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    logged = bug.getMessage()
    assert "Traceback" in logged
    assert "RuntimeError: to=+*********8000" in logged
    assert bug.exc_info is None  # the traceback is in the redacted text, not raw
    assert_clean(caplog.text, record_errors(app), error_texts(error))


def test_a_connector_that_cannot_build_its_redactor_still_hides_the_code_and_number(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    error, _ = deliver(app, BrokenRedactor({"loftKey": LOFT_KEY}))
    assert "could not build its redactor" in caplog.text
    for text in (caplog.text, record_errors(app), error_texts(error)):
        for secret in (CODE, PHONE, "13800138000"):
            assert secret not in text


def test_the_caller_gets_the_redacted_error(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    """The engine, the views and the Celery task only ever see the redacted error."""
    caplog.set_level(logging.DEBUG)
    fail_next_send(
        ProviderRejected(
            f"rejected by the provider: {CODE} to {PHONE}",
            connector="memory",
            provider_message=f"echo {PHONE} {CODE}",
        )
    )
    with pytest.raises(ProviderRejected) as info:
        get_state(app).dispatcher.issue(PHONE, Usage.SIGN_IN, protect=False)
    assert str(info.value) == f"rejected by the provider: [code] to {MASKED}"
    assert info.value.provider_message == f"echo {MASKED} [code]"
    assert_clean(caplog.text, record_errors(app), error_texts(info.value))
