"""Helpers for the JSON API tests: a client that handles the CSRF token the way a single-page
app would, users made straight in the database, and what the memory connector "sent"."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import phonenumbers
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from flask_sms_otp.connectors.base import DeliveryResult, SmsMessage
from flask_sms_otp.connectors.memory import MemoryConnector, SentSms
from flask_sms_otp.connectors.registry import BUILTIN_CONNECTORS
from flask_sms_otp.state import get_state

API = "/auth/api"
PASSWORD = "correct horse battery"
#: Example mobile numbers from phonenumbers (``example_number_for_type``).
PHONE = "+8613800138000"
OTHER_PHONE = "+447400123456"
US_PHONE = "+12015550123"

#: Send limits loose enough that a test sending several codes to one number meets none.
RELAXED_LIMITS: dict[str, Any] = {
    "SMS_OTP_SEND_LIMIT_PER_NUMBER": "1000/hour",
    "SMS_OTP_SEND_LIMIT_PER_IP": "1000/hour",
    "SMS_OTP_SEND_LIMIT_PER_PREFIX": "1000/hour",
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

    def send_code(self, phone: Any, usage: str, **kwargs: Any) -> TestResponse:
        return self.post("/verification-codes", {"phone": phone, "usage": usage}, **kwargs)

    def request_code(self, phone: Any, usage: str, **kwargs: Any) -> str:
        """Send a code and return its ``verification_id`` (the answer must be 202)."""
        response = self.send_code(phone, usage, **kwargs)
        assert response.status_code == 202, response.get_json()
        vid = response.get_json()["verification_id"]
        assert isinstance(vid, str)
        return vid

    def sign_in_password(self, phone: str, password: str = PASSWORD) -> TestResponse:
        return self.post("/sign-in", {"phone": phone, "password": password})

    def sign_in_by_code(self, phone: str, outbox: list[SentSms]) -> TestResponse:
        vid = self.request_code(phone, "SignIn")
        return self.post("/sign-in/code", {"verification_id": vid, "code": last_code(outbox)})

    def verify_identity(self, outbox: list[SentSms]) -> TestResponse:
        """A code to the account's current phone, then ``/verify-identity``."""
        vid = self.request_code(None, "UserPermissionValidation")
        return self.post("/verify-identity", {"verification_id": vid, "code": last_code(outbox)})

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


class SlowConnector(MemoryConnector):
    """A memory connector that takes 150 ms per send, like a provider across the internet.
    Not instant: sends that must not reveal an account run after the response."""

    name = "slow"
    instant = False
    delay = 0.15

    def send(self, message: SmsMessage) -> DeliveryResult:
        time.sleep(self.delay)
        return super().send(message)


@pytest.fixture
def slow_connector(monkeypatch: pytest.MonkeyPatch) -> str:
    """Registers :class:`SlowConnector` as ``SMS_OTP_CONNECTOR = "slow"``."""
    monkeypatch.setitem(BUILTIN_CONNECTORS, "slow", f"{__name__}:SlowConnector")
    return "slow"


# Reading answers and the world ---------------------------------------------------------------


def error_code(response: TestResponse) -> str:
    """The ``error.code`` of a JSON error answer (and checks the answer's shape)."""
    assert response.mimetype == "application/json", response.data[:200]
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    code = body["error"]["code"]
    assert isinstance(code, str)
    return code


def last_code(outbox: list[SentSms], phone: str | None = None) -> str:
    """The code of the newest message (to ``phone`` when given)."""
    sent = [m for m in outbox if phone is None or m.to == phone]
    assert sent, f"no SMS to {phone or 'anyone'}"
    return sent[-1].code


def sent_to(outbox: list[SentSms], phone: str) -> list[SentSms]:
    return [m for m in outbox if m.to == phone]


def wrong(code: str) -> str:
    """A well-formed code that is not ``code``."""
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


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


def valid_mobile(number: str) -> str:
    """``number`` after checking it is a valid mobile-capable number (guards the test data)."""
    parsed = phonenumbers.parse(number, None)
    assert phonenumbers.is_valid_number(parsed), number
    assert phonenumbers.number_type(parsed) in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ), number
    return number


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


def reset_user(app: Flask) -> None:
    """The user of ``PHONE`` back to ``PASSWORD``, that phone and no MFA."""
    with app.app_context():
        users = get_state(app).users
        user = users.by_phone(PHONE) or users.get("1")
        users.set_password(user, PASSWORD)
        users.set_phone(user, PHONE)
        users.set_mfa(user, False)
        users.db.session.commit()
