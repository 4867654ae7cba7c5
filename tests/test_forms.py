"""The HTML forms read posted form fields and nothing else: a JSON body (which Flask-WTF
would read) is an empty form, so neither its lone surrogates nor its nesting reach a flow;
odd encodings, content types, repeated and huge fields are a 4xx page, never a 5xx."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from flask_sms_otp.testing import outbox

from .conftest import AppFactory, FakeClock
from .test_views import KNOWN, PASSWORD, ROOMY, add_user, csrf_of, signed_in

SIGN_IN = "/auth/sign-in"


@pytest.fixture
def site(make_app: AppFactory, clock: FakeClock) -> Flask:
    # One password attempt a minute per address: a counted attempt shows as a refused sign-in.
    app = make_app(clock=clock, **{**ROOMY, "SMS_OTP_PASSWORD_LIMIT_PER_IP": "1/minute"})
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


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            json.dumps({"csrf_token": "{token}", "phone": KNOWN, "password": "\ud800aaaaaaaa"}),
            id="lone-surrogate",
        ),
        pytest.param(json.dumps({"csrf_token": "{token}", "phone": [KNOWN]}), id="list-values"),
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
        SIGN_IN, data={"csrf_token": token(client), "phone": KNOWN, "password": PASSWORD}
    )


@pytest.fixture
def visitor(site: Flask) -> FlaskClient:
    return site.test_client()
