"""Phone numbers: normalisation to E.164 and the number policy (security bar 22 and 23)."""

from __future__ import annotations

from typing import Any

import pytest

from flask_sms_otp import InvalidPhoneNumber, normalize_phone
from flask_sms_otp.phone import mask_phone, region_of


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("+12015550123", None),
        ("+1 (201) 555-0123", None),
        ("+1-201-555-0123", None),
        ("001 201 555 0123", "GB"),
        ("001 201 555 0123", None),
        ("201.555.0123", "US"),
        ("(201) 555-0123", "US"),
        ("+１２０１５５５０１２３", None),
        ("  +1 201 555 0123  ", None),
    ],
)
def test_common_inputs_normalise_to_one_e164(raw: str, region: str | None) -> None:
    assert normalize_phone(raw, default_region=region) == "+12015550123"


def test_chinese_mobile() -> None:
    assert normalize_phone("+86 138-0013-8000") == "+8613800138000"
    assert normalize_phone("138 0013 8000", default_region="CN") == "+8613800138000"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("+1 201 555 0123 ext 5", "extension"),
        ("+12001230101", "invalid"),
        ("+1" + " " * 21 + "2015550123", "too_long"),
        ("1" * 33, "too_long"),
        ("2015550123", "unparsable"),  # national format without a default region
        ("not a number", "unparsable"),
        ("", "empty"),
        (None, "not_a_string"),
        (12015550123, "not_a_string"),
        (["+12015550123"], "not_a_string"),
    ],
)
def test_bad_inputs_are_rejected_with_a_reason(raw: Any, reason: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as error:
        normalize_phone(raw)
    assert error.value.reason == reason
    assert error.value.code == 400


@pytest.mark.parametrize(
    "number",
    [
        "+449012345678",  # PREMIUM_RATE
        "+33891123456",  # PREMIUM_RATE
        "+18002345678",  # TOLL_FREE
        "+33884012345",  # SHARED_COST
        "+445512345678",  # UAN
        "+447640123456",  # PAGER
        "+447012345678",  # PERSONAL_NUMBER
        "+441212345678",  # FIXED_LINE
        "+445612345678",  # VOIP, refused by default
    ],
)
def test_only_mobile_numbers_are_accepted(number: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as error:
        normalize_phone(number)
    assert error.value.reason == "number_type"


@pytest.mark.parametrize("number", ["+447400123456", "+12015550123", "+4915123456789"])
def test_mobile_and_fixed_line_or_mobile_are_accepted(number: str) -> None:
    assert normalize_phone(number) == number


def test_voip_only_when_allowed() -> None:
    assert normalize_phone("+445612345678", allow_voip=True) == "+445612345678"


def test_region_allow_list() -> None:
    allowed = frozenset({"US", "CN"})
    assert normalize_phone("+12015550123", allowed_regions=allowed) == "+12015550123"
    with pytest.raises(InvalidPhoneNumber) as error:
        normalize_phone("+447400123456", allowed_regions=allowed)
    assert error.value.reason == "region"


def test_mask_and_region() -> None:
    assert mask_phone("+8613800138000") == "+*********8000"
    assert region_of("+8613800138000") == "CN"
    assert region_of("+12015550123") == "US"


def test_blocked_regions_win_over_allowed_ones() -> None:
    assert normalize_phone("+447400123456", blocked_regions=frozenset({"US"})) == "+447400123456"
    with pytest.raises(InvalidPhoneNumber) as refused:
        normalize_phone(
            "+12015550123",
            allowed_regions=frozenset({"US", "GB"}),
            blocked_regions=frozenset({"US"}),
        )
    assert refused.value.reason == "region"
