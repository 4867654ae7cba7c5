"""The JSON API's optional ``region`` beside ``phone``: a national number read as one of the
picked country's, E.164 as before without it, and a bad region a 400 that sends nothing."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from flask_sms_otp.testing import SentSms

from ..helpers import PASSWORD, ApiClient, AppFactory, create_user, error_code, valid_mobile

GB_MOBILE = valid_mobile("+447400123456")
CN_MOBILE = valid_mobile("+8613123456789")


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app(SMS_OTP_ALLOWED_REGIONS=["CN", "GB", "US"])


@pytest.mark.parametrize(
    ("phone", "region", "e164"),
    [
        ("07400 123456", "GB", GB_MOBILE),
        ("7400 123456", "gb", GB_MOBILE),
        ("131 2345 6789", "CN", CN_MOBILE),
        ("+86 131 2345 6789", "GB", CN_MOBILE),  # a + number is read as typed
        (GB_MOBILE, None, GB_MOBILE),  # null: no region
    ],
)
def test_send_code_reads_a_national_number_in_the_region(
    app: Flask, sms_outbox: list[SentSms], phone: str, region: str | None, e164: str
) -> None:
    body = {"phone": phone, "usage": "Register", "region": region}
    response = ApiClient(app).post("/verification-codes", body)
    assert response.status_code == 202, response.get_json()
    assert [(m.to, m.usage) for m in sms_outbox] == [(e164, "Register")]


def test_e164_works_without_a_region(app: Flask, sms_outbox: list[SentSms]) -> None:
    response = ApiClient(app).send_code(GB_MOBILE, "Register")
    assert response.status_code == 202
    assert [m.to for m in sms_outbox] == [GB_MOBILE]


def test_a_national_number_without_a_region_or_default_is_refused(
    app: Flask, sms_outbox: list[SentSms]
) -> None:
    response = ApiClient(app).send_code("07400 123456", "Register")
    assert (response.status_code, error_code(response)) == (400, "invalid_phone")
    assert sms_outbox == []


def test_the_region_replaces_the_default_region(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app(SMS_OTP_DEFAULT_REGION="US")
    client = ApiClient(app)
    assert client.send_code("(201) 555-0123", "Register").status_code == 202
    body = {"phone": "07400 123456", "usage": "Register", "region": "GB"}
    assert client.post("/verification-codes", body).status_code == 202
    assert [m.to for m in sms_outbox] == ["+12015550123", GB_MOBILE]


BAD_REGIONS = [
    pytest.param(44, id="number"),
    pytest.param(["GB"], id="list"),
    pytest.param({"code": "GB"}, id="object"),
    pytest.param(True, id="boolean"),
    pytest.param("", id="empty"),
    pytest.param("ZZ", id="unknown"),
    pytest.param("GBR", id="alpha-3"),
    pytest.param("United Kingdom", id="name"),
    pytest.param("FR", id="outside-the-allow-list"),
]


@pytest.mark.parametrize("region", BAD_REGIONS)
def test_a_bad_region_is_invalid_phone_and_sends_nothing(
    app: Flask, sms_outbox: list[SentSms], region: Any
) -> None:
    body = {"phone": "06 12 34 56 78", "usage": "Register", "region": region}
    response = ApiClient(app).post("/verification-codes", body)
    assert (response.status_code, error_code(response)) == (400, "invalid_phone")
    assert sms_outbox == []


def test_password_sign_in_takes_a_region(app: Flask) -> None:
    create_user(app, GB_MOBILE)
    client = ApiClient(app)
    body = {"phone": "07400 123456", "password": PASSWORD, "region": "GB"}
    response = client.post("/sign-in", body)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["user"]["phone"] == GB_MOBILE


@pytest.mark.parametrize("region", BAD_REGIONS)
def test_password_sign_in_with_a_bad_region_is_invalid_phone(app: Flask, region: Any) -> None:
    create_user(app, GB_MOBILE)
    body = {"phone": "07400 123456", "password": PASSWORD, "region": region}
    response = ApiClient(app).post("/sign-in", body)
    assert (response.status_code, error_code(response)) == (400, "invalid_phone")


def test_a_new_number_takes_a_region(app: Flask, sms_outbox: list[SentSms]) -> None:
    create_user(app, GB_MOBILE)
    client = ApiClient(app)
    assert client.sign_in_password(GB_MOBILE).status_code == 200
    assert client.post("/verify-identity", {"password": PASSWORD}).status_code == 200
    body = {"phone": "131 2345 6789", "usage": "BindNewIdentifier", "region": "CN"}
    assert client.post("/verification-codes", body).status_code == 202
    assert [(m.to, m.usage) for m in sms_outbox] == [(CN_MOBILE, "BindNewIdentifier")]


def test_the_openapi_document_describes_region(app: Flask) -> None:
    doc = ApiClient(app).get("/openapi.json").get_json()
    for path in ("/verification-codes", "/sign-in"):
        schema = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        region = schema["schema"]["properties"]["region"]
        assert region["type"] == ["string", "null"]
        assert "ISO 3166" in region["description"]
        assert "region" not in schema["schema"].get("required", [])
