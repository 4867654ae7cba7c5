"""Malformed bodies are ``400 invalid_request`` before any flow runs: a string JSON can spell
but UTF-8 cannot hold (a lone surrogate), nesting deeper than the parser's recursion limit.
Nothing is spent: no code, no attempt, no password attempt."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from flask_sms_otp.testing import SentSms

from ..helpers import (
    BODIES,
    BODY_ENDPOINTS,
    PASSWORD,
    PHONE,
    WRITE_ENDPOINTS,
    ApiClient,
    AppFactory,
    FakeClock,
    SessionCookie,
    create_user,
    error_code,
    last_code,
    verified_session_cookie,
)

#: A password JSON can carry (``"\ud800aaaaaaaa"``) but no password hash can read.
LONE_SURROGATE = "\ud800aaaaaaaa"
NEW_PASSWORD = "staple battery horse"
#: Room for one password attempt per address: a second one in the same minute is a 429.
ONE_PASSWORD_ATTEMPT = {"SMS_OTP_PASSWORD_LIMIT_PER_IP": "1/minute"}


def raw_json(client: ApiClient, method: str, path: str, text: str, **kwargs: Any) -> TestResponse:
    """Send ``text`` as the JSON body, byte for byte (``\\ud800`` stays an escape)."""
    return client.open(method, path, data=text.encode(), content_type="application/json", **kwargs)


def as_json(body: dict[str, Any]) -> str:
    """JSON text in ASCII: a lone surrogate becomes the escape ``\\udXXX`` (valid JSON)."""
    return json.dumps(body)


def assert_invalid_request(response: TestResponse) -> None:
    assert (response.status_code, error_code(response)) == (400, "invalid_request")


@pytest.fixture
def app(make_app: AppFactory, clock: FakeClock) -> Flask:
    app = make_app(clock=clock, **ONE_PASSWORD_ATTEMPT)
    create_user(app, PHONE)
    return app


@pytest.mark.real_limits
def test_a_lone_surrogate_password_at_sign_in_counts_no_attempt(app: Flask) -> None:
    client = ApiClient(app)
    body = as_json({"phone": PHONE, "password": LONE_SURROGATE})
    assert_invalid_request(raw_json(client, "POST", "/sign-in", body))
    # The address's one password attempt of the minute is still there.
    assert client.sign_in_password(PHONE).status_code == 200


def test_a_lone_surrogate_password_at_sign_up_spends_no_code(
    app: Flask, sms_outbox: list[SentSms]
) -> None:
    client = ApiClient(app)
    new_phone = "+447400123456"
    vid = client.request_code(new_phone, "Register")
    code = last_code()
    body = as_json({"verification_id": vid, "code": code, "password": LONE_SURROGATE})
    assert_invalid_request(raw_json(client, "POST", "/sign-up", body))
    signed_up = client.post(
        "/sign-up", {"verification_id": vid, "code": code, "password": NEW_PASSWORD}
    )
    assert signed_up.status_code == 201, signed_up.get_json()
    assert client.signed_in_phone() == new_phone


def test_a_lone_surrogate_password_at_reset_spends_no_code(
    app: Flask, sms_outbox: list[SentSms]
) -> None:
    client = ApiClient(app)
    vid = client.request_code(PHONE, "ForgotPassword")
    code = last_code()
    body = as_json({"verification_id": vid, "code": code, "password": LONE_SURROGATE})
    assert_invalid_request(raw_json(client, "POST", "/reset-password", body))
    reset = client.post(
        "/reset-password", {"verification_id": vid, "code": code, "password": NEW_PASSWORD}
    )
    assert reset.status_code == 204
    assert client.sign_in_password(PHONE, NEW_PASSWORD).status_code == 200


@pytest.mark.real_limits
def test_a_lone_surrogate_password_at_verify_identity_counts_no_attempt(app: Flask) -> None:
    client = ApiClient(app)
    assert client.sign_in_password(PHONE).status_code == 200
    # From another address, whose one password attempt of the minute is untouched.
    elsewhere = "10.0.0.2"
    body = as_json({"password": LONE_SURROGATE})
    assert_invalid_request(raw_json(client, "POST", "/verify-identity", body, ip=elsewhere))
    verified = client.post("/verify-identity", {"password": PASSWORD}, ip=elsewhere)
    assert verified.status_code == 200, verified.get_json()


def test_a_lone_surrogate_new_password_changes_nothing(app: Flask) -> None:
    client = ApiClient(app)
    assert client.sign_in_password(PHONE).status_code == 200
    assert client.post("/verify-identity", {"password": PASSWORD}, ip="10.0.0.2").status_code == 200
    body = as_json({"password": LONE_SURROGATE})
    assert_invalid_request(raw_json(client, "PUT", "/account/password", body))
    assert client.signed_in_phone() == PHONE
    assert client.put("/account/password", {"password": NEW_PASSWORD}).status_code == 204
    assert ApiClient(app, ip="10.0.0.3").sign_in_password(PHONE, NEW_PASSWORD).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"phone": "+86138001\udfff38000", "usage": "SignIn"}, id="in-a-value"),
        pytest.param({"phone": PHONE, "usage": "SignIn", "\udc80": 1}, id="in-a-key"),
        pytest.param({"phone": PHONE, "usage": "SignIn", "x": [{"y": ["\ud83d"]}]}, id="nested"),
    ],
)
def test_a_lone_surrogate_anywhere_in_the_body_sends_nothing(
    app: Flask, sms_outbox: list[SentSms], body: dict[str, Any]
) -> None:
    client = ApiClient(app)
    assert_invalid_request(raw_json(client, "POST", "/verification-codes", as_json(body)))
    assert sms_outbox == []


def test_a_surrogate_pair_is_a_character_like_any_other(app: Flask) -> None:
    """``"\\ud83d\\ude00"`` is one emoji, which UTF-8 holds: a password like any other."""
    client = ApiClient(app)
    body = as_json({"phone": PHONE, "password": "\ud83d\ude00 " + PASSWORD})
    assert "\\ud83d\\ude00" in body
    response = raw_json(client, "POST", "/sign-in", body)
    assert (response.status_code, error_code(response)) == (401, "invalid_credentials")


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
def test_a_deeply_nested_body_is_invalid_request(
    app: Flask, sms_outbox: list[SentSms], method: str, path: str
) -> None:
    client = ApiClient(app)
    assert client.sign_in_password(PHONE).status_code == 200
    assert_invalid_request(raw_json(client, method, path, "[" * 100_000))
    assert_invalid_request(raw_json(client, method, path, '{"a": ' * 100_000))
    assert sms_outbox == []
    assert client.signed_in_phone() == PHONE  # nothing changed


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
def test_nesting_the_parser_can_read_is_just_a_wrong_field(
    app: Flask, method: str, path: str
) -> None:
    """Deep but readable: each field is judged as usual (a list is no phone or password)."""
    client = ApiClient(app)
    assert client.sign_in_password(PHONE).status_code == 200
    body = {**BODIES[path], "extra": [[[[[[[[[[[]]]]]]]]]]]}
    body = {key: [[[["x"]]]] if key != "extra" else value for key, value in body.items()}
    response = client.open(method, path, body)
    assert 400 <= response.status_code < 500
    error_code(response)


# Fuzzing: any body under any content type, any CSRF token ---------------------------------------

#: Any text, lone surrogates included (``json.dumps`` escapes them), and some that matter.
_TEXT = st.text(st.characters(exclude_categories=()) | st.characters(categories=["Cs"]))
_STRINGS = _TEXT | st.sampled_from([LONE_SURROGATE, PASSWORD, PHONE, "SignIn", "123456"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _STRINGS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_TEXT, children, max_size=4),
    max_leaves=8,
)
FIELDS = ["phone", "usage", "verification_id", "code", "password", "enabled"]
JSON_TYPES = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "application/vnd.api+json"]
)
OTHER_TYPES = st.sampled_from(
    [
        "application/json; charset=utf-16",
        "application/json; charset=latin-1",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain",
        "",
    ]
) | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    """A body and its content type: an object of the API's fields holding any JSON, any
    JSON, nesting past the parser's recursion limit (1000), or bytes; half of them as JSON."""
    kind = draw(st.sampled_from(["fields", "json", "deep", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300)), draw(JSON_TYPES | OTHER_TYPES)
    if kind == "fields":
        text = json.dumps(
            draw(st.fixed_dictionaries({}, optional=dict.fromkeys(FIELDS, JSON_VALUES)))
        )
    elif kind == "json":
        text = json.dumps(draw(JSON_VALUES))
    else:  # kept under 30 kB, past which Hypothesis will not report a failing example
        depth = draw(st.sampled_from([3000, 1001, 10]))
        nested = draw(st.sampled_from(["[", '{"a":', "-"])) * depth
        return nested.encode(), draw(JSON_TYPES)
    return text.encode(), draw(JSON_TYPES if draw(st.booleans()) else OTHER_TYPES)


FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def fuzz_app(make_app: AppFactory, clock: FakeClock) -> Flask:
    app = make_app(
        clock=clock,
        SMS_OTP_SECURE_COOKIES=False,
        WTF_CSRF_ENABLED=False,
        PROPAGATE_EXCEPTIONS=False,
    )
    create_user(app, PHONE)
    return app


@pytest.fixture
def fuzz_session(fuzz_app: Flask) -> SessionCookie:
    return verified_session_cookie(fuzz_app)


@pytest.fixture
def fuzz_document(fuzz_app: Flask) -> dict[str, Any]:
    doc = fuzz_app.test_client().get("/auth/api/openapi.json").get_json()
    assert isinstance(doc, dict)
    return doc


def documented_errors(doc: dict[str, Any], method: str, path: str) -> dict[int, list[str]]:
    """The error codes the document allows ``method path`` to answer, by status."""
    found: dict[int, list[str]] = {}
    for status, answer in doc["paths"][path][method.lower()]["responses"].items():
        schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
        for part in schema.get("allOf", []):
            if "properties" in part:
                found[int(status)] = part["properties"]["error"]["properties"]["code"]["enum"]
    return found


OPERATIONS = [*BODY_ENDPOINTS, ("POST", "/sign-out"), ("DELETE", "/account/phone")]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
@FUZZ
@given(request=bodies())
def test_any_body_under_any_content_type_is_answered_as_documented(
    fuzz_app: Flask,
    fuzz_session: SessionCookie,
    fuzz_document: dict[str, Any],
    method: str,
    path: str,
    request: tuple[bytes, str],
) -> None:
    """Signed in and verified, so every endpoint reads its body; the answer is a 2xx or
    one of the endpoint's documented errors, never a 5xx."""
    client = ApiClient(fuzz_app)
    for name, value in fuzz_session().items():
        client.http.set_cookie(name, value)
    body, content_type = request
    response = client.open(method, path, data=body, content_type=content_type)
    assert response.status_code < 500, response.data[:300]
    if response.status_code >= 400:
        code = error_code(response)
        allowed = documented_errors(fuzz_document, method, path)
        assert code in allowed.get(response.status_code, []), (response.status_code, code)


@pytest.mark.parametrize(("method", "path"), WRITE_ENDPOINTS)
@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(token=st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=200))
def test_any_wrong_csrf_token_is_csrf_failed(
    app: Flask, sms_outbox: list[SentSms], method: str, path: str, token: str
) -> None:
    """The fuzzed app runs without CSRF; the check itself, with any token but the right one."""
    client = ApiClient(app)
    client.fetch_csrf()  # the session has a token: the one sent is not it
    path = path.replace("{vid}", "x" * 32)
    response = client.open(method, path, BODIES.get(path, {}), csrf=token)
    assert (response.status_code, error_code(response)) == (400, "csrf_failed")
    assert sms_outbox == []
