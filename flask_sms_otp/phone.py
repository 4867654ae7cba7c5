"""Phone numbers: parse what people type, normalise to E.164, apply the number policy.

Only MOBILE and FIXED_LINE_OR_MOBILE numbers can receive codes by default (the US has no
distinct MOBILE type). Premium, toll-free, shared-cost and other types are where SMS-pumping
fraud makes its money, so they are refused before any SMS is sent. VOIP is opt-in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from .errors import InvalidPhoneNumber
from .models import utc
from .settings import Settings

MAX_INPUT_LENGTH = 32

_ACCEPTED_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


def normalize_phone(
    raw: Any,
    *,
    default_region: str | None = None,
    allowed_regions: frozenset[str] | None = None,
    allow_voip: bool = False,
    blocked_regions: frozenset[str] | None = None,
) -> str:
    """Return ``raw`` as an E.164 string, or raise :class:`InvalidPhoneNumber`.

    A number of a region outside ``allowed_regions`` (when given) or in ``blocked_regions``
    is refused like any unacceptable number (``reason`` ``"region"``).

    Accepts spaces, dashes, dots, brackets, full-width and other Unicode digits, a ``+``
    or ``00`` international prefix, and national formats when ``default_region`` is set.
    """
    if not isinstance(raw, str):
        raise InvalidPhoneNumber("not_a_string")
    text = raw.strip()
    if not text:
        raise InvalidPhoneNumber("empty")
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidPhoneNumber("too_long")
    if default_region is None and text.startswith("00"):
        # Without a region phonenumbers cannot read the common "00" international prefix.
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, default_region)
    except NumberParseException:
        raise InvalidPhoneNumber("unparsable") from None
    if number.extension:
        raise InvalidPhoneNumber("extension")
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber("invalid")
    number_type = phonenumbers.number_type(number)
    if number_type not in _ACCEPTED_TYPES and not (
        allow_voip and number_type == PhoneNumberType.VOIP
    ):
        raise InvalidPhoneNumber("number_type")
    region = phonenumbers.region_code_for_number(number)
    if (allowed_regions is not None and region not in allowed_regions) or (
        blocked_regions is not None and region in blocked_regions
    ):
        raise InvalidPhoneNumber("region")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def normalize_with(settings: Settings, raw: Any, *, now: datetime, region: object = None) -> str:
    """:func:`normalize_phone` with the app's configured policy. A configured test number
    (``SMS_OTP_TEST_NUMBERS``) passes it until its day is over, fictional or not; after
    that it is an ordinary number again.

    ``region`` (the country the person picked beside the number) reads a national number
    as one of that region's, in place of ``SMS_OTP_DEFAULT_REGION``; a number typed with
    its ``+`` country code is read as typed. A region phonenumbers does not know is
    refused like an unacceptable number."""
    default_region = settings.default_region if region is None else _region(region)
    if settings.test_numbers and isinstance(raw, str) and len(raw) <= MAX_INPUT_LENGTH:
        try:
            number = phonenumbers.parse(raw.strip(), default_region)
        except NumberParseException:
            number = None
        if number is not None and not number.extension:
            e164 = str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
            if test_code(settings, e164, now) is not None:
                return e164
    return normalize_phone(
        raw,
        default_region=default_region,
        allowed_regions=settings.allowed_regions,
        allow_voip=settings.allow_voip,
        blocked_regions=settings.blocked_regions,
    )


def _region(value: object) -> str:
    if not isinstance(value, str) or value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidPhoneNumber("region")
    return value.upper()


def region_of(e164: str) -> str | None:
    """The ISO region of an E.164 number, e.g. ``"CN"``; ``None`` if unknown."""
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except NumberParseException:
        return None
    return str(region) if region and region != "ZZ" else None


def mask_phone(e164: str) -> str:
    """Hide all but the last four digits, for logs: ``+8613800138000`` -> ``+*********8000``."""
    digits = e164.removeprefix("+")
    if len(digits) <= 4:
        return "+" + "*" * len(digits)
    return "+" + "*" * (len(digits) - 4) + digits[-4:]


def test_code(settings: Settings, e164: str, now: datetime) -> str | None:
    """The fixed code of ``e164`` if it is a test number on ``now`` (through its ``until``
    day, UTC), else ``None``: past it, the number is an ordinary one."""
    number = settings.test_numbers.get(e164)
    if number is None or utc(now).date() > number.until:
        return None
    return number.code
