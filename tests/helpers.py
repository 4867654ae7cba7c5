"""What the tests share, in one place: the fake clock, phone numbers and user agents, the
JSON API client, reading codes from the memory connector's outbox, the HTML forms' CSRF
dance, users made in the database, and the relaxed limits every test app runs with.

Fixtures live in the conftest modules and import from here; test modules import from here
and never from a conftest or from another test module.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import phonenumbers
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response
from werkzeug.test import TestResponse

from flask_sms_otp.connectors.base import DeliveryResult, SmsMessage
from flask_sms_otp.connectors.memory import MemoryConnector, SentSms
from flask_sms_otp.connectors.memory import outbox as memory_outbox
from flask_sms_otp.state import get_state

# Services and app factories ----------------------------------------------------------------

POSTGRES_URI = os.environ.get(
    "SMS_OTP_TEST_POSTGRES_URI", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
#: Set in CI: a missing service fails the run instead of skipping its tests.
REQUIRE_SERVICES = os.environ.get("SMS_OTP_REQUIRE_SERVICES") == "1"

#: ``make_app(**config)`` and ``make_example_app(**config)``.
AppFactory = Callable[..., Flask]

#: Send and password limits no test meets by accident: every app the fixtures build runs
#: with these unless the test is marked ``real_limits`` (then the package's defaults hold,
#: and whatever limit the test sets itself). The per-account password limit is at the most
#: the settings allow.
RELAXED_LIMITS: Mapping[str, str] = {
    "SMS_OTP_SEND_LIMIT_PER_NUMBER": "100000/hour",
    "SMS_OTP_SEND_LIMIT_PER_IP": "100000/hour",
    "SMS_OTP_SEND_LIMIT_PER_PREFIX": "100000/hour",
    "SMS_OTP_PASSWORD_LIMIT_PER_ACCOUNT": "100/hour",
    "SMS_OTP_PASSWORD_LIMIT_PER_IP": "100000/minute",
}
#: The test client speaks plain HTTP: session cookies without ``Secure`` come back to it.
PLAIN_HTTP: Mapping[str, Any] = {"SMS_OTP_SECURE_COOKIES": False}


def postgres_unavailable() -> str | None:
    """None when the test PostgreSQL server answers, else why not."""
    try:
        engine = sa.create_engine(POSTGRES_URI)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # any failure to reach it means: no server here
        return f"PostgreSQL not reachable at {POSTGRES_URI}: {type(exc).__name__}"
    return None


def require_redis(url: str) -> str:
    """``url`` if a Redis server answers there; else skip (fail in CI) with the reason."""
    import redis

    connection = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        connection.ping()
    except redis.RedisError as exc:
        reason = f"Redis not reachable at {url}: {type(exc).__name__}"
        if REQUIRE_SERVICES:
            pytest.fail(reason)
        pytest.skip(reason)
    finally:
        connection.close()
    return url


class FakeClock:
    """An aware UTC clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


# Test data ---------------------------------------------------------------------------------

PASSWORD = "correct horse battery"
#: Example mobile numbers from phonenumbers (``example_number_for_type``).
PHONE = "+8613800138000"
OTHER_PHONE = "+447400123456"
US_PHONE = "+12015550123"
#: ``PHONE`` as logs and errors show it.
MASKED = "+*********8000"

#: Real user agents, for the sessions list (browser and OS read from them).
CHROME_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
SAFARI_ON_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
FIREFOX_ON_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"


def valid_mobile(number: str) -> str:
    """``number`` after checking it is a valid mobile-capable number (guards the test data)."""
    parsed = phonenumbers.parse(number, None)
    assert phonenumbers.is_valid_number(parsed), number
    assert phonenumbers.number_type(parsed) in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ), number
    return number


# What the memory connector "sent" ----------------------------------------------------------


def last_code(
    phone: str | None = None,
    usage: str | None = None,
    *,
    outbox: Sequence[SentSms] = memory_outbox,
) -> str:
    """The code of the newest message (to ``phone``, of ``usage``, when given) in the memory
    connector's outbox (the one the ``sms_outbox`` fixture empties before each test)."""
    sent = [
        m
        for m in outbox
        if (phone is None or m.to == phone) and (usage is None or m.usage == usage)
    ]
    assert sent, f"no {usage or ''} SMS to {phone or 'anyone'}"
    return sent[-1].code


def sent_to(outbox: list[SentSms], phone: str) -> list[SentSms]:
    return [m for m in outbox if m.to == phone]


def wrong(code: str) -> str:
    """A well-formed code that is not ``code``."""
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


# Fake providers ----------------------------------------------------------------------------


def slow_provider(seconds: float, status: int = 200) -> Callable[[Request], Response]:
    """A fake provider's handler (pytest-httpserver) that answers after ``seconds``."""

    def handler(request: Request) -> Response:
        time.sleep(seconds)
        return Response(json.dumps({"ok": status == 200}), status=status)

    return handler


class Siteverify:
    """A fake bot-check verification endpoint (Turnstile's, hCaptcha's and reCAPTCHA's
    ``siteverify`` take the same form) on pytest-httpserver: ``success`` only for ``good``
    sent with ``secret``. Keeps every form it was sent; ``url`` is the ``endpoint`` to set."""

    path = "/siteverify"

    def __init__(self, httpserver: HTTPServer, secret: str, good: str) -> None:
        self.secret = secret
        self.good = good
        self.forms: list[dict[str, list[str]]] = []
        self.url: str = httpserver.url_for(self.path)
        httpserver.expect_request(self.path, method="POST").respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        assert request.mimetype == "application/x-www-form-urlencoded"
        form = parse_qs(request.get_data(as_text=True))
        self.forms.append(form)
        ok = form.get("secret") == [self.secret] and form.get("response") == [self.good]
        return Response(json.dumps({"success": ok}), 200, mimetype="application/json")


class SlowConnector(MemoryConnector):
    """A memory connector that takes 150 ms per send, like a provider across the internet.
    Not instant: sends that must not reveal an account run after the response."""

    name = "slow"
    instant = False
    delay = 0.15

    def send(self, message: SmsMessage) -> DeliveryResult:
        time.sleep(self.delay)
        return super().send(message)


# The database ------------------------------------------------------------------------------


def create_user(
    app: Flask, phone: str, password: str | None = PASSWORD, *, mfa: bool = False
) -> str:
    """A user with this number, made in the database; returns the user's id."""
    with app.app_context():
        users = get_state(app).users
        user = users.create(phone, password)
        assert user is not None
        if mfa:
            users.set_mfa(user, True)
        users.db.session.commit()
        return str(user.get_id())


def add_user(
    app: Flask, phone: str = US_PHONE, password: str | None = PASSWORD, **extra: Any
) -> Any:
    """A user made in the database with ``extra`` set on the row; returns the row's id."""
    with app.app_context():
        users = get_state(app).users
        user = users.create(phone, password)
        for name, value in extra.items():
            setattr(user, name, value)
        users.db.session.commit()
        return user.id


def challenges_for(app: Flask, phone: str) -> list[Any]:
    """Every challenge row for ``phone``, oldest first."""
    with app.app_context():
        state = get_state(app)
        Challenge = state.models.Challenge
        rows = list(
            state.db.session.execute(
                sa.select(Challenge).where(Challenge.phone == phone).order_by(Challenge.created_at)
            ).scalars()
        )
        state.db.session.expunge_all()
        return rows


def reset_user(app: Flask) -> None:
    """The user of ``PHONE`` back to ``PASSWORD``, that phone and no MFA."""
    with app.app_context():
        users = get_state(app).users
        user = users.by_phone(PHONE) or users.get("1")
        users.set_password(user, PASSWORD)
        users.set_phone(user, PHONE)
        users.set_mfa(user, False)
        users.db.session.commit()


# The HTML pages ----------------------------------------------------------------------------

CSRF_INPUT = re.compile(r'<input name="csrf_token" type="hidden" value="([^"]*)">')


def csrf_of(html: str) -> str:
    tokens = CSRF_INPUT.findall(html)
    assert tokens, "the page has no CSRF token"
    return str(tokens[0])


def submit(
    client: FlaskClient, page: str, data: dict[str, str], *, to: str | None = None
) -> TestResponse:
    """Fetch ``page``, read its CSRF token, post ``data`` (to ``to``, default the page)."""
    shown = client.get(page)
    assert shown.status_code == 200, (page, shown.status_code, shown.location)
    return client.post(to or page, data={"csrf_token": csrf_of(shown.text), **data})


def signed_in(client: FlaskClient) -> bool:
    """Whether the HTML account page answers (the client is signed in)."""
    response = client.get("/auth/account")
    return response.status_code == 200


def sign_in_with_password(
    client: FlaskClient, phone: str = US_PHONE, password: str = PASSWORD
) -> TestResponse:
    return submit(client, "/auth/sign-in", {"phone": phone, "password": password})


def verify_with_password(client: FlaskClient, password: str = PASSWORD) -> TestResponse:
    return submit(client, "/auth/verify-identity", {"password": password})


# The JSON API ------------------------------------------------------------------------------

API = "/auth/api"

#: Endpoints that read a JSON body.
BODY_ENDPOINTS = [
    ("POST", "/verification-codes"),
    ("POST", "/sign-up"),
    ("POST", "/sign-in"),
    ("POST", "/sign-in/code"),
    ("POST", "/mfa"),
    ("POST", "/reset-password"),
    ("POST", "/verify-identity"),
    ("PUT", "/account/phone"),
    ("PUT", "/account/mfa"),
    ("PUT", "/account/password"),
]
#: Every state-changing endpoint (resend gets a real-looking id in the tests).
WRITE_ENDPOINTS = [
    *BODY_ENDPOINTS,
    ("POST", "/verification-codes/{vid}/resend"),
    ("DELETE", "/account/phone"),
    ("POST", "/sign-out"),
]
#: A number no test user has, for the sign-up body below.
NEW_PHONE = "+447400123457"
#: What a valid-looking body for each endpoint holds.
BODIES: dict[str, dict[str, Any]] = {
    "/verification-codes": {"phone": NEW_PHONE, "usage": "Register"},
    "/sign-up": {"verification_id": "x" * 32, "code": "123456", "password": PASSWORD},
    "/sign-in": {"phone": PHONE, "password": PASSWORD},
    "/sign-in/code": {"verification_id": "x" * 32, "code": "123456"},
    "/mfa": {"verification_id": "x" * 32, "code": "123456"},
    "/reset-password": {"verification_id": "x" * 32, "code": "123456", "password": PASSWORD},
    "/verify-identity": {"verification_id": "x" * 32, "code": "123456"},
    "/account/phone": {"verification_id": "x" * 32, "code": "123456"},
    "/account/mfa": {"enabled": True},
    "/account/password": {"password": "another password"},
}

_NO_BODY = object()


class ApiClient:
    """One user agent of the JSON API: its own cookie jar and client IP.

    Writes carry the CSRF token in ``X-CSRFToken``, fetched from ``GET /auth/api/csrf`` the
    first time and then taken from the ``X-CSRFToken`` header every write answer carries.
    """

    def __init__(self, app: Flask, *, ip: str = "127.0.0.1") -> None:
        self.app = app
        self.http: FlaskClient = app.test_client()
        self.ip = ip
        self.csrf_token: str | None = None

    def fetch_csrf(self) -> str:
        response = self.http.get(f"{API}/csrf", environ_base={"REMOTE_ADDR": self.ip})
        assert response.status_code == 200
        token = response.get_json()["csrf_token"]
        assert isinstance(token, str)
        assert token
        self.csrf_token = token
        return token

    def open(
        self,
        method: str,
        path: str,
        body: Any = _NO_BODY,
        *,
        csrf: bool | str = True,
        headers: Mapping[str, str] | None = None,
        ip: str | None = None,
        **kwargs: Any,
    ) -> TestResponse:
        """``csrf``: ``True`` sends the current token, ``False`` none, a string that string."""
        sent_headers = dict(headers or {})
        if csrf is True:
            sent_headers["X-CSRFToken"] = self.csrf_token or self.fetch_csrf()
        elif isinstance(csrf, str):
            sent_headers["X-CSRFToken"] = csrf
        if body is not _NO_BODY:
            kwargs["json"] = body
        response = self.http.open(
            API + path,
            method=method,
            headers=sent_headers,
            environ_base={"REMOTE_ADDR": ip or self.ip},
            **kwargs,
        )
        token = response.headers.get("X-CSRFToken")
        if token:
            self.csrf_token = token
        return response

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.open("GET", path, csrf=False, **kwargs)

    def post(self, path: str, body: Any = _NO_BODY, **kwargs: Any) -> TestResponse:
        return self.open("POST", path, body, **kwargs)

    def put(self, path: str, body: Any = _NO_BODY, **kwargs: Any) -> TestResponse:
        return self.open("PUT", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return self.open("DELETE", path, **kwargs)

    # The steps of the flows -------------------------------------------------------------

    def send_code(
        self, phone: Any, usage: str, *, channel: str | None = None, **kwargs: Any
    ) -> TestResponse:
        body = {"phone": phone, "usage": usage}
        if channel is not None:
            body["channel"] = channel
        return self.post("/verification-codes", body, **kwargs)

    def request_code(
        self, phone: Any, usage: str, *, channel: str | None = None, **kwargs: Any
    ) -> str:
        """Send a code and return its ``verification_id`` (the answer must be 202)."""
        response = self.send_code(phone, usage, channel=channel, **kwargs)
        assert response.status_code == 202, response.get_json()
        vid = response.get_json()["verification_id"]
        assert isinstance(vid, str)
        return vid

    def sign_in_password(self, phone: str, password: str = PASSWORD) -> TestResponse:
        return self.post("/sign-in", {"phone": phone, "password": password})

    def sign_in_by_code(self, phone: str, outbox: list[SentSms]) -> TestResponse:
        vid = self.request_code(phone, "SignIn")
        return self.post(
            "/sign-in/code", {"verification_id": vid, "code": last_code(outbox=outbox)}
        )

    def verify_identity(self, outbox: list[SentSms]) -> TestResponse:
        """A code to the account's current phone, then ``/verify-identity``."""
        vid = self.request_code(None, "UserPermissionValidation")
        return self.post(
            "/verify-identity", {"verification_id": vid, "code": last_code(outbox=outbox)}
        )

    def account(self) -> TestResponse:
        return self.get("/account")

    def signed_in_phone(self) -> str | None:
        """The phone of the signed-in user, or ``None`` when ``/account`` answers 401."""
        response = self.account()
        if response.status_code == 401:
            return None
        assert response.status_code == 200
        phone = response.get_json()["user"]["phone"]
        assert phone is None or isinstance(phone, str)
        return phone


def error_code(response: TestResponse) -> str:
    """The ``error.code`` of a JSON error answer (and checks the answer's shape)."""
    assert response.mimetype == "application/json", response.data[:200]
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    code = body["error"]["code"]
    assert isinstance(code, str)
    return code


SessionCookie = Callable[[], dict[str, str]]


def verified_session_cookie(app: Flask) -> SessionCookie:
    """For fuzzing while signed in: a function giving the cookies of a session signed in as
    ``PHONE`` and recently verified (a fake clock never lets that go stale). It makes a new
    one, with the user as :func:`create_user` made it, when the fuzzer has ended the last one
    (a password change or reset moves the user's session epoch)."""
    name = app.config["SESSION_COOKIE_NAME"]
    current: dict[str, str] = {}

    def cookies() -> dict[str, str]:
        client = ApiClient(app)
        if current:
            client.http.set_cookie(name, current[name])
            if client.account().status_code == 200:
                return current
        reset_user(app)
        assert client.sign_in_password(PHONE).status_code == 200
        assert client.post("/verify-identity", {"password": PASSWORD}).status_code == 200
        stored = client.http.get_cookie(name)
        assert stored is not None
        current[name] = stored.value
        return current

    return cookies


# Provider configs for delivery receipts ----------------------------------------------------

#: The four templates every template connector requires.
PROVIDER_TEMPLATES: Sequence[Mapping[str, str]] = [
    {"usageType": usage, "content": "Your code is {{code}}."}
    for usage in ("Generic", "SignIn", "Register", "ForgotPassword")
]
#: Logto-shaped configs of the connectors that take receipts, without their receipt keys.
TWILIO_CONFIG: Mapping[str, Any] = {
    "accountSID": "account-sid",
    "authToken": "auth-token",
    "fromMessagingServiceSID": "from-messaging-service-sid",
    "templates": PROVIDER_TEMPLATES,
}
VONAGE_CONFIG: Mapping[str, Any] = {
    "apiKey": "api-key",
    "apiSecret": "api-secret",
    "brandName": "Acme",
    "templates": PROVIDER_TEMPLATES,
}
GATEWAYAPI_CONFIG: Mapping[str, Any] = {
    "apiToken": "api-token",
    "sender": "ExampleSMS",
    "templates": PROVIDER_TEMPLATES,
}
