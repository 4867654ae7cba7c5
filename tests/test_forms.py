"""The HTML forms read posted form fields and nothing else: a JSON body (which Flask-WTF
would read) is an empty form, so neither its lone surrogates nor its nesting reach a flow;
odd encodings, content types, repeated and huge fields are a 4xx page, never a 5xx."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import TestResponse, encode_multipart

from flask_sms_otp.state import get_state
from flask_sms_otp.testing import outbox
from flask_sms_otp.views import html_blueprint

from .helpers import (
    PASSWORD,
    PLAIN_HTTP,
    US_PHONE,
    AppFactory,
    FakeClock,
    add_user,
    csrf_of,
    sign_in_with_password,
    signed_in,
    submit,
    verify_with_password,
)

SIGN_IN = "/auth/sign-in"


@pytest.fixture
def site(make_app: AppFactory, clock: FakeClock) -> Flask:
    # One password attempt a minute per address: a counted attempt shows as a refused sign-in.
    app = make_app(clock=clock, **{**PLAIN_HTTP, "SMS_OTP_PASSWORD_LIMIT_PER_IP": "1/minute"})
    add_user(app)
    return app


def token(client: FlaskClient, page: str = SIGN_IN) -> str:
    shown = client.get(page)
    assert shown.status_code == 200
    return csrf_of(shown.text)


def assert_form_refused(response: TestResponse) -> None:
    """The page again with the form-level CSRF message: the body held no form."""
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "The form has expired" in response.text


@pytest.mark.real_limits
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            json.dumps({"csrf_token": "{token}", "phone": US_PHONE, "password": "\ud800aaaaaaaa"}),
            id="lone-surrogate",
        ),
        pytest.param(json.dumps({"csrf_token": "{token}", "phone": [US_PHONE]}), id="list-values"),
        pytest.param("[" * 100_000, id="deep-nesting"),
        pytest.param('"{token}"', id="json-string"),
        pytest.param("5", id="json-number"),
        pytest.param('[["csrf_token", "{token}", "x"]]', id="json-triples"),
    ],
)
def test_a_json_body_is_no_form_and_counts_no_attempt(
    site: Flask, visitor: FlaskClient, body: str
) -> None:
    sent = body.replace("{token}", token(visitor))
    response = visitor.post(SIGN_IN, data=sent.encode(), content_type="application/json")
    assert_form_refused(response)
    # The address's one password attempt of the minute is still there.
    assert submit_sign_in(visitor).status_code == 302
    assert signed_in(visitor)
    assert outbox == []


def submit_sign_in(client: FlaskClient) -> TestResponse:
    return client.post(
        SIGN_IN, data={"csrf_token": token(client), "phone": US_PHONE, "password": PASSWORD}
    )


@pytest.fixture
def visitor(site: Flask) -> FlaskClient:
    return site.test_client()


@pytest.mark.real_limits
@pytest.mark.parametrize(
    "body",
    [
        pytest.param("password=" + "x" * 600_000, id="a-field-past-the-form-memory-limit"),
        pytest.param("&".join(f"f{i}=1" for i in range(2000)), id="more-fields-than-allowed"),
        pytest.param("phone=%ff%fe%ed%a0%80&password=%c3", id="bytes-that-are-not-utf-8"),
    ],
)
def test_odd_form_bodies_are_refused_without_an_attempt(
    site: Flask, visitor: FlaskClient, body: str
) -> None:
    content_type = "application/x-www-form-urlencoded"
    response = visitor.post(
        SIGN_IN, data=f"csrf_token={token(visitor)}&{body}", content_type=content_type
    )
    assert 400 <= response.status_code < 500
    assert "Traceback" not in response.text
    assert submit_sign_in(visitor).status_code == 302


# Fuzzing every POST page ------------------------------------------------------------------------

MFA_PHONE = "+12015550126"
NEW_PHONE = "+12015550124"
OTHER_PHONE = "+12015550125"

#: The relaxed limits of every test app and a lockout threshold big enough that a fuzzed run
#: meets none: the pages are about input, not about limits.
FUZZ_CONFIG: dict[str, Any] = {
    **PLAIN_HTTP,
    "SMS_OTP_LOCKOUT_THRESHOLD": 100,
    "PROPAGATE_EXCEPTIONS": False,
}


@dataclass(frozen=True)
class Setup:
    """How a visitor gets to where posting a page does something: signed in (and verified)
    or not, then the posts that start its flow; ``token_page`` shows a form to take the CSRF
    token from (the page itself unless it has no GET)."""

    signed_in: bool = False
    steps: tuple[tuple[str, dict[str, str], str | None], ...] = ()
    token_page: str | None = None


def _flow(
    start: str,
    fields: dict[str, str],
    *,
    signed_in: bool = False,
    to: str | None = None,
    token_page: str | None = None,
) -> Setup:
    return Setup(signed_in, ((start, fields, to),), token_page)


SIGNED_IN = Setup(signed_in=True)
POST_PAGES: dict[str, Setup] = {
    "/auth/sign-up": Setup(),
    "/auth/sign-up/verify": _flow("/auth/sign-up", {"phone": NEW_PHONE}),
    "/auth/sign-up/resend": _flow(
        "/auth/sign-up", {"phone": NEW_PHONE}, token_page="/auth/sign-up/verify"
    ),
    "/auth/sign-in": Setup(),
    "/auth/sign-in/code": Setup(),
    "/auth/sign-in/code/verify": _flow("/auth/sign-in/code", {"phone": US_PHONE}),
    "/auth/sign-in/code/resend": _flow(
        "/auth/sign-in/code", {"phone": US_PHONE}, token_page="/auth/sign-in/code/verify"
    ),
    "/auth/mfa": _flow("/auth/sign-in", {"phone": MFA_PHONE, "password": PASSWORD}),
    "/auth/mfa/resend": _flow(
        "/auth/sign-in", {"phone": MFA_PHONE, "password": PASSWORD}, token_page="/auth/mfa"
    ),
    "/auth/reset-password": Setup(),
    "/auth/reset-password/verify": _flow("/auth/reset-password", {"phone": US_PHONE}),
    "/auth/reset-password/resend": _flow(
        "/auth/reset-password", {"phone": US_PHONE}, token_page="/auth/reset-password/verify"
    ),
    "/auth/sign-out": Setup(signed_in=True, token_page="/auth/account"),
    "/auth/verify-identity": SIGNED_IN,
    "/auth/verify-identity/send": Setup(signed_in=True, token_page="/auth/verify-identity"),
    "/auth/verify-identity/code": _flow(
        "/auth/verify-identity", {}, signed_in=True, to="/auth/verify-identity/send"
    ),
    "/auth/verify-identity/resend": _flow(
        "/auth/verify-identity",
        {},
        signed_in=True,
        to="/auth/verify-identity/send",
        token_page="/auth/verify-identity/code",
    ),
    "/auth/account/phone": SIGNED_IN,
    "/auth/account/phone/verify": _flow(
        "/auth/account/phone", {"phone": OTHER_PHONE}, signed_in=True
    ),
    "/auth/account/phone/resend": _flow(
        "/auth/account/phone",
        {"phone": OTHER_PHONE},
        signed_in=True,
        token_page="/auth/account/phone/verify",
    ),
    "/auth/account/phone/remove": SIGNED_IN,
    "/auth/account/mfa/enable": SIGNED_IN,
    "/auth/account/mfa/verify": _flow("/auth/account/mfa/enable", {}, signed_in=True),
    "/auth/account/mfa/resend": _flow(
        "/auth/account/mfa/enable", {}, signed_in=True, token_page="/auth/account/mfa/verify"
    ),
    "/auth/account/mfa/disable": SIGNED_IN,
    "/auth/account/password": SIGNED_IN,
    "/auth/account/sessions/end-others": Setup(signed_in=True, token_page="/auth/account"),
    "/auth/account/sessions/<session_id>/end": Setup(signed_in=True, token_page="/auth/account"),
    # An open invitation of the signed-in member's number (see ``fuzzed_site``).
    "/auth/invitations/<token>/sign-up": Setup(token_page="/auth/sign-up"),
    "/auth/invitations/<token>/sign-in": Setup(token_page="/auth/sign-up"),
    "/auth/invitations/<token>/switch": Setup(signed_in=True, token_page="/auth/account"),
    "/auth/invitations/<token>/accept": Setup(signed_in=True, token_page="/auth/account"),
}
#: A value for each page's URL variables: an id no session has. ``<token>`` is the fuzzed
#: site's invitation's (its config's ``FUZZED_INVITATION``).
URL_VALUES = {"<session_id>": "not-a-session-id"}


def test_every_post_page_is_fuzzed(make_app: AppFactory) -> None:
    app = make_app()
    posted = {
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(f"{html_blueprint.name}.") and "POST" in (rule.methods or ())
    }
    assert posted == set(POST_PAGES)


def prepared(app: Flask, page: str) -> tuple[FlaskClient, str]:
    """A fresh visitor at ``page``'s step, and the CSRF token its form would carry."""
    setup = POST_PAGES[page]
    reset_members(app)
    client = app.test_client()
    if setup.signed_in:
        assert sign_in_with_password(client).status_code == 302
        assert verify_with_password(client).status_code == 302
    for start, fields, to in setup.steps:
        assert submit(client, start, fields, to=to).status_code == 302, start
    return client, token(client, setup.token_page or page)


def reset_members(app: Flask) -> None:
    """The two members as the fixture made them, whatever an earlier example changed (a
    removed phone, a new password, two-step verification turned on or off)."""
    with app.app_context():
        users = get_state(app).users
        for user_id, phone, mfa in ((1, US_PHONE, False), (2, MFA_PHONE, True)):
            user = users.get(user_id)
            users.set_phone(user, phone)
            users.set_password(user, PASSWORD)
            users.set_mfa(user, mfa)
        users.db.session.commit()


_TEXT = st.text(st.characters(exclude_categories=()) | st.characters(categories=["Cs"]))
#: Any JSON value, its strings with lone surrogates too (``json.dumps`` escapes them).
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_TEXT, children, max_size=4),
    max_leaves=8,
)
_FIELD_NAMES = st.sampled_from(["csrf_token", "phone", "code", "password", "next"]) | _TEXT
_FIELD_VALUES = (
    st.sampled_from([US_PHONE, OTHER_PHONE, "000000", PASSWORD, "", "\x00", "\ufeff"])
    | _TEXT
    | st.text(min_size=500, max_size=1500)
)
_CONTENT_TYPES = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=latin-1",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "application/json",
        "text/plain",
        "application/octet-stream",
        "",
    ]
) | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)


def _urlencoded(pairs: list[tuple[str, str]]) -> bytes:
    # surrogatepass: a lone surrogate goes out as bytes that are not UTF-8.
    return "&".join(
        f"{quote_plus(k, errors='surrogatepass')}={quote_plus(v, errors='surrogatepass')}"
        for k, v in pairs
    ).encode()


@st.composite
def submissions(draw: st.DrawFn, csrf_token: str) -> dict[str, Any]:
    """Keyword arguments for ``client.post``: fields (repeated, odd, huge, with or without the
    right CSRF token) encoded as a form, multipart, JSON or raw bytes, under any content type."""
    pairs = draw(st.lists(st.tuples(_FIELD_NAMES, _FIELD_VALUES), max_size=6))
    if draw(st.booleans()):
        pairs.insert(draw(st.integers(0, len(pairs))), ("csrf_token", csrf_token))
    encoding = draw(st.sampled_from(["form", "multipart", "json", "deep", "raw"]))
    if encoding == "form":
        body = _urlencoded(pairs)
        content_type = "application/x-www-form-urlencoded"
    elif encoding == "multipart":
        values: MultiDict[str, Any] = MultiDict(
            [
                (k.encode(errors="replace").decode(), v.encode(errors="replace").decode())
                for k, v in pairs
            ]
        )
        if draw(st.booleans()):
            values.add("phone", FileStorage(io.BytesIO(draw(st.binary(max_size=200))), "x.txt"))
        boundary, body = encode_multipart(values, boundary="fuzz-boundary")
        content_type = f"multipart/form-data; boundary={boundary}"
    elif encoding == "json":
        body = json.dumps(draw(st.just(dict(pairs)) | JSON_VALUES)).encode()
        content_type = "application/json"
    elif encoding == "deep":
        body = (draw(st.sampled_from(["[", '{"a":'])) * draw(st.integers(1, 3000))).encode()
        content_type = "application/json"
    else:
        body = draw(st.binary(max_size=500)) + _urlencoded(pairs)
        content_type = draw(_CONTENT_TYPES)
    if draw(st.booleans()):
        content_type = draw(_CONTENT_TYPES)
    return {"data": body, "content_type": content_type}


@pytest.fixture
def fuzzed_site(make_app: AppFactory, clock: FakeClock) -> Flask:
    app = make_app(clock=clock, **FUZZ_CONFIG)
    add_user(app)
    add_user(app, MFA_PHONE, mfa_enabled=True)
    with app.test_request_context():
        invitation = get_state(app).invitations.invite(US_PHONE, data={"team": "fuzz"})
    assert invitation.url is not None
    app.config["FUZZED_INVITATION"] = invitation.url.rsplit("/", 1)[1]
    return app


@pytest.mark.parametrize("url", list(POST_PAGES))
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_post_to_a_page_is_a_server_error(
    fuzzed_site: Flask, url: str, data: st.DataObject
) -> None:
    client, csrf_token = prepared(fuzzed_site, url)
    for variable, value in URL_VALUES.items():
        url = url.replace(variable, value)
    url = url.replace("<token>", fuzzed_site.config["FUZZED_INVITATION"])
    response = client.post(url, **data.draw(submissions(csrf_token)))
    assert response.status_code < 500, response.text[:500]
    assert "Traceback" not in response.text
