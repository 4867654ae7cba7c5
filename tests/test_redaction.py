"""The redactor (security check 36): no code, number or credential in a provider's text,
and nothing else touched, so the provider's own reason stays readable."""

from __future__ import annotations

import pytest

from flask_sms_otp import ProviderRateLimited, ProviderRejected
from flask_sms_otp.redaction import MAX_MESSAGE, MAX_TEXT, Redactor, number_pattern

from .helpers import (
    MASKED,
    PHONE,
)

CODE = "914263"


@pytest.mark.parametrize(
    ("phone", "spelling"),
    [
        (PHONE, "+8613800138000"),
        (PHONE, "8613800138000"),
        (PHONE, "008613800138000"),
        (PHONE, "%2B8613800138000"),
        (PHONE, "%2b8613800138000"),
        (PHONE, "13800138000"),
        (PHONE, "138 0013 8000"),
        (PHONE, "138-0013-8000"),
        (PHONE, "+86 138 0013 8000"),
        (PHONE, "+86-138-0013-8000"),
        (PHONE, "+86 (138) 0013.8000"),
        (PHONE, "%2B86+138+0013+8000"),  # form-encoded spaces
        (PHONE, "86%20138%200013%208000"),
        ("+12015550123", "(201) 555-0123"),
        ("+12015550123", "+1 201-555-0123"),
        ("+12015550123", "12015550123"),
        ("+447700900123", "07700 900123"),
        ("+447700900123", "+44 (0)7700 900123"),
        ("+447700900123", "447700900123"),
    ],
)
def test_every_spelling_of_the_number_becomes_the_masked_number(phone: str, spelling: str) -> None:
    redact = Redactor(phone=phone)
    text = redact(f"The 'To' number {spelling} is not valid.")
    digits = phone.removeprefix("+")
    assert "".join(c for c in text if c.isdigit()) in (digits[-4:], "0" + digits[-4:])
    assert text.startswith("The 'To' number ")
    assert text.endswith(" is not valid.")


def test_the_code_is_redacted_wherever_its_digits_stand_in_a_row() -> None:
    redact = Redactor(code=CODE)
    assert redact(f"Body=Your+code+is+{CODE}.") == "Body=Your+code+is+[code]."
    # A form-encoded JSON echo glues the code to the digits of %22.
    assert redact(f"TemplateParam=%7B%22code%22%3A%22{CODE}%22%7D") == (
        "TemplateParam=%7B%22code%22%3A%22[code]%22%7D"
    )
    assert redact(f"TemplateParamSet%253A%255B%2522{CODE}") == (
        "TemplateParamSet%253A%255B%2522[code]"
    )


def test_ordinary_provider_texts_are_left_alone() -> None:
    redact = Redactor(code=CODE, phone=PHONE, secrets=["tok-8c1f0e"])
    for text in (
        "21211: The 'To' number is not a valid phone number.",
        "isv.MOBILE_NUMBER_ILLEGAL (RequestId 2D8E0A5F-6C1B-5E3A-9F47-0B1C2D3E4F50)",
        "Insufficient credit: balance 0.0321, 1 message of 160 characters",
        "InvalidParameterValue.IncorrectPhoneNumber: +8613800138001 is not 13800138999",
        "code 914264 differs; 91426 and 14263 too",
        "SerialNo 5000:1045710669157053657849499619",
    ):
        assert redact(text) == text


def test_a_short_national_number_is_not_redacted_on_its_own() -> None:
    # Niue: +683 and a four-digit national number. Its full form is still redacted.
    pattern = number_pattern("+6837001")
    assert pattern is not None
    redact = Redactor(phone="+6837001")
    assert redact("call 7001 or +6837001") == "call 7001 or +***7001"
    assert number_pattern("not a number") is None
    assert Redactor(phone="n/a")("+ 00 n/a") == "+ 00 n/a"


def test_secrets_are_redacted_as_sent_and_percent_encoded() -> None:
    secret = "s3cr+t/key=="
    redact = Redactor(secrets=[secret, "", None, 42, "s3cr"])
    assert redact(f"key {secret}") == "key [redacted]"
    assert redact("key=s3cr%2Bt%2Fkey%3D%3D") == "key=[redacted]"  # quote
    assert redact("key=s3cr%2Bt%2Fkey%3D%3D&x=1") == "key=[redacted]&x=1"
    # Longest first: a secret holding another is redacted whole.
    assert redact(f"{secret} and s3cr") == "[redacted] and [redacted]"
    assert redact("42 None") == "42 None"


def test_patterns_redact_the_whole_match_or_the_secret_group() -> None:
    redact = Redactor(patterns=[r"sig_[0-9a-f]{8}", r"Signature=(?P<secret>[^&]+)"])
    assert redact("a sig_0badf00d b") == "a [redacted] b"
    assert redact("x=1&Signature=abc%2Bdef&y=2") == "x=1&Signature=[redacted]&y=2"


def test_overlapping_matches_are_replaced_as_one() -> None:
    """A secret that holds the code's digits, or a number that does: nothing is left over."""
    redact = Redactor(code="138001", phone=PHONE, secrets=["key-9142638"])
    assert redact("key-9142638 +8613800138000") == "[redacted] " + MASKED
    assert Redactor(code=CODE, secrets=[f"xx{CODE}yy"])(f"xx{CODE}yy {CODE}") == (
        "[redacted] [code]"
    )


def test_text_is_one_line_cut_after_the_redaction() -> None:
    redact = Redactor(code=CODE)
    assert redact.text(f"  bad\n\t code {CODE}  ") == "bad code [code]"
    # The code straddles the cut: cut first, "9142" would be left.
    text = redact.text("x" * (MAX_TEXT - 4) + CODE)
    assert text is not None
    assert len(text) == MAX_TEXT
    assert "9142" not in text
    assert redact.text(None) is None
    assert redact.text(" ") is None
    assert redact.text(21211) == "21211"


def test_an_error_is_redacted_in_place_and_loses_its_chain() -> None:
    redact = Redactor(code=CODE, phone=PHONE, secrets=["tok-8c1f0e"])
    try:
        try:
            raise ValueError(f"body To={PHONE}&Body={CODE}")
        except ValueError as cause:
            raise ProviderRateLimited(
                f"rate-limited by the provider: {CODE} for {PHONE}",
                connector="pigeon",
                status_code=429,
                provider_code=f"E{CODE}",
                provider_message=f"slow down, {PHONE}, token tok-8c1f0e",
                retry_after=30,
            ) from cause
    except ProviderRateLimited as raised:
        error = raised
    assert redact.error(error) is error
    assert str(error) == f"rate-limited by the provider: [code] for {MASKED}"
    assert error.provider_message == f"slow down, {MASKED}, token [redacted]"
    assert error.provider_code == "E[code]"
    assert (error.status_code, error.retry_after, error.retryable) == (429, 30, True)
    assert error.__cause__ is None
    assert error.__context__ is None
    assert error.__suppress_context__


def test_the_message_keeps_the_whole_provider_text_it_quotes() -> None:
    """``describe()`` leaves the provider text out when the message quotes it: the two cuts
    keep that true for long texts."""
    long = "reason " * 100
    error = ProviderRejected(
        f"rejected by the provider: {long}", connector="pigeon", provider_message=long
    )
    Redactor().error(error)
    assert error.provider_message is not None
    assert len(error.provider_message) == MAX_TEXT
    assert len(str(error)) == MAX_MESSAGE
    assert error.provider_message in str(error)
    assert error.describe().count("reason") == str(error).count("reason")
