"""Security check 36 for every connector: a provider whose answer repeats the request.

The contract (``contract.py``) makes each provider's fake refuse the message in its own
error format, with a text that repeats one part of what it received (:func:`echo_of`); some
provider modules add refusals of their own shape. The same check then runs for all
(:func:`assert_nothing_leaks`): a code sent through the app, by
``flask sms-otp send-test`` and by the JSON API, leaves no code, no number in any spelling and
no credential in the log, the delivery records, the ``delivery_failed`` signal or the
command's output, while the provider's own error code and words are still there.

Every connector also gets :func:`assert_accepted_answer_stays_out`, which matters most
where the accepted answer repeats the number or the text (Twilio, SMS Aero, Vonage,
Tencent): after a retry, the success is logged with the message id and nothing of the
answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import phonenumbers
import pytest
import sqlalchemy as sa
from flask import Flask
from phonenumbers import PhoneNumberFormat
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flask_sms_otp import DeliveryError, delivery_failed
from flask_sms_otp.state import get_state
from flask_sms_otp.testing import wait_for_sends

from ..helpers import AppFactory

CODE = "914263"
PHONE = "+8613800138000"
MASKED = "+*********8000"
#: What a fake may repeat: the request line and raw body, the decoded form or JSON fields,
#: the headers (``Authorization`` first), or the number it was given in every spelling.
PARTS = ("raw", "fields", "headers", "number")
#: The markers that show a redacted text did reach the output.
MARKERS = ("[code]", "[redacted]", MASKED)


def spellings(number: str) -> list[str]:
    """``number`` as a provider may write it back: E.164 with and without ``+``, the
    national number, and the national and international formats, spaced and dashed."""
    parsed = phonenumbers.parse(number if number.startswith("+") else f"+{number}")
    e164 = phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
    national = phonenumbers.format_number(parsed, PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(parsed, PhoneNumberFormat.INTERNATIONAL)
    return [
        e164,
        e164.removeprefix("+"),
        phonenumbers.national_significant_number(parsed),
        national,
        national.replace(" ", "-"),
        international,
        international.replace(" ", "-"),
    ]


def echo_of(request: Request, part: str, number: str) -> str:
    """``part`` of ``request`` as a provider repeating it would write it. ``number`` is the
    recipient as the provider's own request field holds it."""
    if part == "raw":
        return f"{request.method} {request.full_path} {request.get_data(as_text=True)}"
    if part == "fields":
        if request.mimetype == "application/json":
            return json.dumps(request.get_json(), ensure_ascii=False)
        return "; ".join(f"{key}={value}" for key, value in request.form.items(multi=True))
    if part == "headers":
        headers = sorted(request.headers.items(), key=lambda kv: kv[0].lower() != "authorization")
        return "; ".join(f"{key}: {value}" for key, value in headers)
    if part == "number":
        return "invalid number " + " / ".join(spellings(number))
    raise ValueError(f"unknown part {part!r}")


def assert_nothing_leaks(
    make_app: AppFactory,
    httpserver: HTTPServer,
    caplog: pytest.LogCaptureFixture,
    *,
    connector: str,
    config: dict[str, Any],
    secrets: Sequence[str],
    kept: Sequence[str],
    derived: Callable[[Request], Iterable[str]] = lambda request: (),
) -> None:
    """Send a code through the app to the fake behind ``httpserver``, then look for it.

    ``secrets`` are the config's credential values; ``derived`` gives more to look for in
    each request the fake received (a signature). ``kept``: the provider's own error code
    and words, which must still reach the log, the records and the command's output.
    """
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="flask_sms_otp")
    app = make_app(
        SMS_OTP_CONNECTOR=connector,
        SMS_OTP_CONNECTOR_CONFIG=config,
        WTF_CSRF_ENABLED=False,
        code_generator=lambda length: CODE,
    )
    errors: list[DeliveryError] = []

    def failed(sender: Flask, error: DeliveryError, **extra: Any) -> None:
        errors.append(error)

    with delivery_failed.connected_to(failed, app):
        result = app.test_cli_runner().invoke(args=["sms-otp", "send-test", PHONE])
        response = app.test_client().post(
            "/auth/api/verification-codes", json={"phone": PHONE, "usage": "Register"}
        )
        assert response.status_code == 202
        wait_for_sends(app)  # a send to a number that may have no account runs in the background
    assert result.exit_code != 0
    assert len(httpserver.log) == 2
    assert len(errors) == 2

    forbidden = [CODE, *spellings(PHONE), *secrets]
    for request, _ in httpserver.log:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        forbidden += [f"{scheme} {credentials}", credentials, *derived(request)]
    forbidden = [text for text in forbidden if text.strip()]
    answers = "\n".join(answer.get_data(as_text=True) for _, answer in httpserver.log)
    # The fake did repeat something that must not leak: else this would prove nothing.
    assert any(text in answers for text in forbidden), answers

    with app.app_context():
        Record = get_state(app).models.DeliveryRecord
        rows = get_state(app).db.session.execute(sa.select(Record)).scalars().all()
        columns = [column.key for column in sa.inspect(Record).columns]
        records = "\n".join(" ".join(str(getattr(row, key)) for key in columns) for row in rows)
    seen = {
        "log": "\n".join([caplog.text, *(record.getMessage() for record in caplog.records)]),
        "delivery records": records,
        "delivery_failed signal": "\n".join(
            f"{error}\n{error.describe()}\n{error.provider_message}\n{error.provider_code}"
            for error in errors
        ),
        "send-test output": result.output,
    }
    for where, text in seen.items():
        for secret in forbidden:
            assert secret not in text, f"{secret!r} leaked into the {where}:\n{text}"
    # Still useful: the number masked, the provider's reason, and the redacted echo itself.
    assert MASKED in seen["log"]
    for where in ("log", "delivery records", "send-test output"):
        for word in kept:
            assert word in seen[where], f"{word!r} missing from the {where}"
    assert any(marker in result.output for marker in MARKERS), result.output


def retry_then(accept: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """A fake's handler: a 503 that repeats the request and asks to retry at once, then
    ``accept`` for every later request."""
    answered: list[Request] = []

    def handler(request: Request) -> Response:
        answered.append(request)
        if len(answered) == 1:
            return Response(echo_of(request, "raw", ""), 503, headers={"Retry-After": "0"})
        return accept(request)

    return handler


def assert_accepted_answer_stays_out(
    make_app: AppFactory,
    httpserver: HTTPServer,
    caplog: pytest.LogCaptureFixture,
    *,
    connector: str,
    config: dict[str, Any],
    message_id: str | None,
) -> None:
    """Send a code by ``flask sms-otp send-test`` to a fake using :func:`retry_then`: the
    log, the record and the output hold the message id (if the provider gives one), never
    the code or the number."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="flask_sms_otp")
    app = make_app(
        SMS_OTP_CONNECTOR=connector,
        SMS_OTP_CONNECTOR_CONFIG=config,
        code_generator=lambda length: CODE,
    )
    result = app.test_cli_runner().invoke(args=["sms-otp", "send-test", PHONE])
    assert result.exit_code == 0, result.output
    assert len(httpserver.log) == 2  # the retry, then the success
    answers = "\n".join(answer.get_data(as_text=True) for _, answer in httpserver.log)
    assert CODE in answers or PHONE.removeprefix("+") in answers  # the fake did repeat it
    with app.app_context():
        Record = get_state(app).models.DeliveryRecord
        (row,) = get_state(app).db.session.execute(sa.select(Record)).scalars().all()
        record = " ".join(str(getattr(row, c.key)) for c in sa.inspect(Record).columns)
    assert (row.status, row.provider_message_id) == ("sent", message_id)
    assert "via " + connector + (f" (message id {message_id})" if message_id else "") in (
        result.output
    )
    assert f"via {connector} (message id {message_id})" in caplog.text
    for where, text in (("log", caplog.text), ("record", record), ("output", result.output)):
        for secret in (CODE, *spellings(PHONE)):
            assert secret not in text, f"{secret!r} leaked into the {where}:\n{text}"
