"""The country selector beside every phone field: which countries it lists and how they are
named, which one it starts on, and that a national number posted with it reaches the right
E.164 number (memory outbox), through every page that takes a number."""

from __future__ import annotations

from typing import Any

import phonenumbers
import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_sms_otp.connectors.memory import SentSms

from ..helpers import (
    PASSWORD,
    PLAIN_HTTP,
    AppFactory,
    FakeClock,
    create_user,
    csrf_of,
    sign_in_with_password,
    submit,
    valid_mobile,
    verify_with_password,
)
from .helpers import Page, check_accessible, error_text, region_choices, selected_region

GB_MOBILE = valid_mobile("+447400123456")
CN_MOBILE = valid_mobile("+8613123456789")
US_MOBILE = valid_mobile("+12015550123")
FR_MOBILE = valid_mobile("+33612345678")
POLICY = {"SMS_OTP_ALLOWED_REGIONS": ["CN", "GB", "US", "FR"], "SMS_OTP_BLOCKED_REGIONS": ["FR"]}
ANONYMOUS_PAGES = ["/auth/sign-up", "/auth/sign-in", "/auth/sign-in/code", "/auth/reset-password"]


@pytest.fixture
def site(make_app: AppFactory, clock: FakeClock) -> Flask:
    return make_app(clock=clock, **PLAIN_HTTP, **POLICY)


def page(client: FlaskClient, path: str, language: str | None = None) -> str:
    headers = {"Accept-Language": language} if language else {}
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.location
    return response.text


def post(client: FlaskClient, path: str, data: dict[str, str]) -> Any:
    """Post the page's form as a browser would, with its CSRF token."""
    return submit(client, path, data)


def signed_in_and_verified(site: Flask, phone: str = US_MOBILE) -> FlaskClient:
    client = site.test_client()
    create_user(site, phone)
    assert sign_in_with_password(client, phone).status_code == 302
    assert verify_with_password(client).status_code == 302
    return client


# What it lists ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ANONYMOUS_PAGES)
def test_every_anonymous_phone_page_lists_the_allowed_minus_blocked_regions(
    site: Flask, path: str
) -> None:
    html = page(site.test_client(), path, "en-US")
    assert region_choices(html) == [
        ("", "Other: type the number with its + code"),
        ("CN", "China (+86)"),
        ("GB", "United Kingdom (+44)"),
        ("US", "United States (+1)"),
    ]
    check_accessible(html)
    select = Page(html)
    assert select.labels["region"] == "Country or region"  # the select's accessible name
    assert 'data-phone-for="phone"' in html


def test_the_new_number_page_has_the_selector_too(site: Flask) -> None:
    client = signed_in_and_verified(site)
    html = page(client, "/auth/account/phone", "en-GB")
    assert [code for code, _label in region_choices(html)] == ["", "CN", "GB", "US"]
    assert selected_region(html) == "GB"
    check_accessible(html)


def test_names_follow_the_page_language_chinese(site: Flask) -> None:
    html = page(site.test_client(), "/auth/sign-up", "zh")
    # Han names in code-point (radical-and-stroke) order: 中 U+4E2D, 美 U+7F8E, 英 U+82F1.
    assert region_choices(html) == [
        ("", "其他：请输入带 + 国家代码的号码"),
        ("CN", "中国 (+86)"),
        ("US", "美国 (+1)"),
        ("GB", "英国 (+44)"),
    ]
    assert Page(html).labels["region"] == "国家或地区"


def test_without_an_allow_list_every_mobile_region_but_the_blocked_ones(
    make_app: AppFactory,
) -> None:
    site = make_app(**PLAIN_HTTP, SMS_OTP_BLOCKED_REGIONS=["RU", "CN"])
    choices = dict(region_choices(page(site.test_client(), "/auth/sign-up", "en")))
    mobile = {
        region
        for region in phonenumbers.SUPPORTED_REGIONS
        if phonenumbers.PhoneNumberType.MOBILE in phonenumbers.supported_types_for_region(region)
        or phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE
        in phonenumbers.supported_types_for_region(region)
    }
    assert set(choices) - {""} == mobile - {"RU", "CN"}
    assert "TA" not in choices  # Tristan da Cunha has no mobile numbers
    assert choices["DE"] == "Germany (+49)"
    assert choices["AX"] == "Åland Islands (+358)"
    names = [label for code, label in region_choices(page(site.test_client(), "/auth/sign-up"))]
    # Accents set aside: Åland among the A's, before Albania.
    assert names.index("Åland Islands (+358)") < names.index("Albania (+355)")


def test_options_carry_the_shape_of_a_national_number(site: Flask) -> None:
    html = page(site.test_client(), "/auth/sign-up", "en")
    assert 'data-pattern="##### ######" data-short="#### ######" data-trunk="0" ' in html
    assert 'data-pattern="(###) ###-####" value="US"' in html
    assert 'data-pattern="### #### ####" value="CN"' in html


# Which one it starts on ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en-GB", "GB"),
        ("zh-CN", "CN"),
        ("en-US,en;q=0.8", "US"),
        ("en, en-GB;q=0.9", "GB"),  # the first language that names a territory
        ("fr-FR", None),  # France is blocked, and no default region
        ("de-DE", None),  # not listed
        ("en", None),  # no territory
        (None, None),
    ],
)
def test_preselected_from_the_language_territory(
    site: Flask, language: str | None, expected: str | None
) -> None:
    assert selected_region(page(site.test_client(), "/auth/sign-in/code", language)) == expected


def test_preselected_from_the_default_region_when_the_language_names_none(
    make_app: AppFactory,
) -> None:
    site = make_app(**PLAIN_HTTP, **POLICY, SMS_OTP_DEFAULT_REGION="CN")
    client = site.test_client()
    assert selected_region(page(client, "/auth/sign-up", "en")) == "CN"
    assert selected_region(page(client, "/auth/sign-up", "de-DE")) == "CN"
    assert selected_region(page(client, "/auth/sign-up")) == "CN"
    assert selected_region(page(client, "/auth/sign-up", "en-GB")) == "GB"  # the language wins


def test_no_preselection_when_the_default_region_is_not_listed(make_app: AppFactory) -> None:
    site = make_app(**PLAIN_HTTP, **POLICY, SMS_OTP_DEFAULT_REGION="FR")  # blocked
    assert selected_region(page(site.test_client(), "/auth/sign-up", "de-DE")) is None


# Posting a national number ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "region", "e164"),
    [
        ("07400 123456", "GB", GB_MOBILE),
        ("7400123456", "GB", GB_MOBILE),
        ("131 2345 6789", "CN", CN_MOBILE),
        ("(201) 555-0123", "US", US_MOBILE),
    ],
)
def test_sign_up_reads_a_national_number_in_the_picked_region(
    site: Flask, sms_outbox: list[SentSms], typed: str, region: str, e164: str
) -> None:
    response = post(site.test_client(), "/auth/sign-up", {"phone": typed, "region": region})
    assert response.status_code == 302
    assert response.location == "/auth/sign-up/verify"
    assert [(m.to, m.usage) for m in sms_outbox] == [(e164, "Register")]


@pytest.mark.parametrize(
    ("path", "usage"),
    [("/auth/sign-in/code", "SignIn"), ("/auth/reset-password", "ForgotPassword")],
)
def test_member_pages_read_a_national_number_in_the_picked_region(
    site: Flask, sms_outbox: list[SentSms], path: str, usage: str
) -> None:
    create_user(site, GB_MOBILE)
    response = post(site.test_client(), path, {"phone": "07400 123456", "region": "GB"})
    assert response.status_code == 302
    assert [(m.to, m.usage) for m in sms_outbox] == [(GB_MOBILE, usage)]


def test_password_sign_in_reads_a_national_number_in_the_picked_region(
    site: Flask, sms_outbox: list[SentSms]
) -> None:
    create_user(site, GB_MOBILE, mfa=True)
    client = site.test_client()
    data = {"phone": "07400 123456", "region": "GB", "password": PASSWORD}
    response = post(client, "/auth/sign-in", data)
    assert response.status_code == 302
    assert response.location == "/auth/mfa"
    assert [(m.to, m.usage) for m in sms_outbox] == [(GB_MOBILE, "MfaVerification")]
    # Read as a US number it is no member's: the same 401 as a wrong password.
    refused = post(site.test_client(), "/auth/sign-in", {**data, "region": "US"})
    assert refused.status_code in (400, 401)
    assert len(sms_outbox) == 1


def test_change_phone_reads_a_national_number_in_the_picked_region(
    site: Flask, sms_outbox: list[SentSms]
) -> None:
    client = signed_in_and_verified(site)
    response = post(client, "/auth/account/phone", {"phone": "131 2345 6789", "region": "CN"})
    assert response.status_code == 302
    assert response.location == "/auth/account/phone/verify"
    assert [(m.to, m.usage) for m in sms_outbox] == [(CN_MOBILE, "BindNewIdentifier")]


@pytest.mark.parametrize("region", ["GB", "US", ""])
def test_a_plus_number_is_read_as_typed_whatever_is_picked(
    site: Flask, sms_outbox: list[SentSms], region: str
) -> None:
    response = post(
        site.test_client(), "/auth/sign-up", {"phone": "+86 131 2345 6789", "region": region}
    )
    assert response.status_code == 302
    assert [m.to for m in sms_outbox] == [CN_MOBILE]


def test_a_form_without_region_falls_back_to_the_default_region(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    """A page of the app's own that posts no ``region`` works as before the selector."""
    site = make_app(**PLAIN_HTTP, SMS_OTP_DEFAULT_REGION="GB")
    response = post(site.test_client(), "/auth/sign-up", {"phone": "07400 123456"})
    assert response.status_code == 302
    assert [m.to for m in sms_outbox] == [GB_MOBILE]


@pytest.mark.parametrize(
    ("typed", "region"),
    [
        ("06 12 34 56 78", "FR"),  # blocked: a French number is refused
        ("07400 123456", "ZZ"),  # no such region
        ("07400 123456", "gbr"),
        ("07400 123456", ""),  # none picked, no default region
    ],
)
def test_a_region_outside_the_policy_or_unknown_is_refused_like_an_invalid_number(
    site: Flask, sms_outbox: list[SentSms], typed: str, region: str
) -> None:
    response = post(site.test_client(), "/auth/sign-up", {"phone": typed, "region": region})
    assert response.status_code == 400
    assert error_text(response.text, "phone") == "Enter a valid mobile phone number."
    assert sms_outbox == []


# After an error -----------------------------------------------------------------------------


def test_the_picked_region_stays_picked_after_an_error(
    site: Flask, sms_outbox: list[SentSms]
) -> None:
    client = site.test_client()
    shown = client.get("/auth/sign-in/code", headers={"Accept-Language": "en-GB"})
    assert selected_region(shown.text) == "GB"
    response = client.post(
        "/auth/sign-in/code",
        data={"csrf_token": csrf_of(shown.text), "phone": "12", "region": "CN"},
        headers={"Accept-Language": "en-GB"},  # the posted choice wins over the language
    )
    assert response.status_code == 400
    assert selected_region(response.text) == "CN"
    assert 'value="12"' in response.text
    assert sms_outbox == []


def test_the_picked_region_stays_picked_after_a_wrong_password(site: Flask) -> None:
    create_user(site, GB_MOBILE)
    data = {"phone": "07400 123456", "region": "GB", "password": "not the password"}
    response = post(site.test_client(), "/auth/sign-in", data)
    assert response.status_code == 401
    assert selected_region(response.text) == "GB"


def test_none_picked_stays_none_after_an_error(site: Flask) -> None:
    client = site.test_client()
    shown = client.get("/auth/sign-up", headers={"Accept-Language": "en-GB"})
    response = client.post(
        "/auth/sign-up",
        data={"csrf_token": csrf_of(shown.text), "phone": "07400 123456", "region": ""},
        headers={"Accept-Language": "en-GB"},
    )
    assert response.status_code == 400
    assert selected_region(response.text) == ""
