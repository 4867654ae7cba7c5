"""The phone-number policy through the API (security.md §9, checks 22 and 23): what is not an
acceptable mobile number is a 400 before any SMS, and what is stored is E.164."""

from __future__ import annotations

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from flask_sms_otp.state import get_state
from flask_sms_otp.testing import SentSms

from ..helpers import (
    PASSWORD,
    US_PHONE,
    ApiClient,
    AppFactory,
    error_code,
)


def example(region: str, number_type: int) -> str:
    number = phonenumbers.example_number_for_type(region, number_type)
    assert number is not None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


REFUSED = [
    pytest.param("+12001230101", id="invalid-npa-200"),
    pytest.param("+1 201 555 0123 ext 5", id="extension"),
    pytest.param("+1 201 555 0123" + " " * 10 + "0" * 8, id="over-32-characters"),
    pytest.param("+449012345678", id="premium-rate-gb"),
    pytest.param("+33891123456", id="premium-rate-fr"),
    pytest.param("+18002345678", id="toll-free"),
    pytest.param("+33884012345", id="shared-cost"),
    pytest.param("+445512345678", id="uan"),
    pytest.param("+447640123456", id="pager"),
    pytest.param("+447012345678", id="personal-number"),
    pytest.param(example("CH", PhoneNumberType.VOICEMAIL), id="voicemail"),
    pytest.param("+445612345678", id="voip-by-default"),
    pytest.param("+80012345678", id="non-geographic"),
    pytest.param("+999123456789", id="no-such-country"),
]


@pytest.mark.parametrize("phone", REFUSED)
@pytest.mark.parametrize("usage", ["Register", "SignIn", "ForgotPassword"])
def test_refused_numbers_are_400_and_send_nothing(
    make_app: AppFactory, sms_outbox: list[SentSms], phone: str, usage: str
) -> None:
    app = make_app()
    response = ApiClient(app).send_code(phone, usage)
    assert (response.status_code, error_code(response)) == (400, "invalid_phone")
    assert sms_outbox == []


@pytest.mark.parametrize("phone", REFUSED)
def test_refused_numbers_cannot_sign_in_by_password(make_app: AppFactory, phone: str) -> None:
    response = ApiClient(make_app()).sign_in_password(phone, PASSWORD)
    assert (response.status_code, error_code(response)) == (400, "invalid_phone")


@pytest.mark.parametrize(
    "phone",
    [
        pytest.param("+447400123456", id="mobile"),
        pytest.param(US_PHONE, id="fixed-line-or-mobile"),
    ],
)
def test_mobile_numbers_are_accepted(
    make_app: AppFactory, sms_outbox: list[SentSms], phone: str
) -> None:
    response = ApiClient(make_app()).send_code(phone, "Register")
    assert response.status_code == 202
    assert [m.to for m in sms_outbox] == [phone]


def test_voip_is_accepted_when_the_app_allows_it(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    response = ApiClient(make_app(SMS_OTP_ALLOW_VOIP=True)).send_code("+445612345678", "Register")
    assert response.status_code == 202
    assert [m.to for m in sms_outbox] == ["+445612345678"]


def test_regions_outside_the_allow_list_are_refused(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app(SMS_OTP_ALLOWED_REGIONS=["GB"])
    client = ApiClient(app)
    refused = client.send_code(US_PHONE, "Register")
    assert (refused.status_code, error_code(refused)) == (400, "invalid_phone")
    assert sms_outbox == []
    assert client.send_code("+447400123456", "Register").status_code == 202
    assert [m.to for m in sms_outbox] == ["+447400123456"]


def test_the_stored_number_is_e164_however_it_was_typed(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app(SMS_OTP_DEFAULT_REGION="US")
    client = ApiClient(app)
    vid = client.request_code("(201) 555-0123", "Register")
    assert sms_outbox[-1].to == US_PHONE
    signed_up = client.post(
        "/sign-up", {"verification_id": vid, "code": sms_outbox[-1].code, "password": PASSWORD}
    )
    assert signed_up.get_json()["user"]["phone"] == US_PHONE
    assert client.post("/sign-out").status_code == 204
    # Any spelling signs in to the one account.
    assert client.sign_in_password("＋１ ２０１ ５５５ ０１２３").status_code == 200


def test_a_blocked_region_is_refused_like_an_invalid_number_even_when_allowed(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app(SMS_OTP_ALLOWED_REGIONS=["GB", "US"], SMS_OTP_BLOCKED_REGIONS="US")
    client = ApiClient(app)
    blocked = client.send_code(US_PHONE, "Register")
    invalid = client.send_code("+12001230101", "Register")  # not an assigned range
    assert (blocked.status_code, error_code(blocked)) == (400, "invalid_phone")
    assert blocked.get_json() == invalid.get_json()
    assert sms_outbox == []
    assert client.send_code("+447400123456", "Register").status_code == 202
    assert [m.to for m in sms_outbox] == ["+447400123456"]


def test_the_example_app_starts_from_an_allow_list(make_example_app: AppFactory) -> None:
    app = make_example_app()
    assert get_state(app).settings.allowed_regions == frozenset({"CN", "GB", "US"})
    response = ApiClient(app).send_code("+33612345678", "Register")  # a French mobile
    assert (response.status_code, error_code(response)) == (400, "invalid_phone")
