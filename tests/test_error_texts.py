"""One error, one text: what the JSON API's ``message`` says is what the page shows, in
English and in Chinese, for every error the pages show. The texts live in ``texts.py``;
``errors.py`` carries codes and data and needs no translation machinery."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

import flask_sms_otp
from flask_sms_otp import errors, texts
from flask_sms_otp.openapi import ERROR_CODES
from flask_sms_otp.testing import fail_next_send, outbox

from .helpers import (
    PASSWORD,
    PLAIN_HTTP,
    ApiClient,
    AppFactory,
    FakeClock,
    add_user,
    csrf_of,
    error_code,
    submit,
    wrong,
)

CHINESE = "zh-CN,zh;q=0.9"
HAN = re.compile(r"[\u4e00-\u9fff]")
#: The API's user and the page's user have numbers of their own (limits count per number).
API_PHONE = "+12015550126"
PAGE_PHONE = "+12015550127"


class _ShownErrors(HTMLParser):
    """The error messages of a page: each ``<p>`` in or of an element whose class says
    ``error`` (a field's error, the alert above a form)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.messages: list[str] = []
        self._stack: list[tuple[str, bool]] = []
        self._current: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        in_error = any(flag for _tag, flag in self._stack)
        is_error = "error" in (dict(attrs).get("class") or "").split()
        self._stack.append((tag, is_error))
        if tag == "p" and (in_error or is_error):
            self._current = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "p" and self._current is not None:
            self.messages.append("".join(self._current).strip())
            self._current = None
        while self._stack:
            if self._stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current.append(data)


def shown_errors(html: str) -> list[str]:
    return _ShownErrors(html).messages


# The cases: one error, reached through the API and through the pages ------------------------

Step = Callable[[Flask, Any, FakeClock, str], TestResponse]


@dataclass(frozen=True)
class Case:
    code: str
    english: str
    api: Step
    page: Step
    config: dict[str, Any] = field(default_factory=dict)


def _api_sign_up_code(client: ApiClient, phone: str) -> str:
    return client.request_code(phone, "Register")


def _page_code_step(browser: FlaskClient, start: str, phone: str) -> str:
    step = submit(browser, start, {"phone": phone})
    assert step.status_code == 302, step.text
    assert step.location is not None
    return step.location


def _api_signed_in(app: Flask, client: ApiClient, phone: str, **user: Any) -> None:
    add_user(app, phone, **user)
    if user.get("password", PASSWORD) is None:
        vid = client.request_code(phone, "SignIn")
        signed = client.post("/sign-in/code", {"verification_id": vid, "code": _code(phone)})
    else:
        signed = client.sign_in_password(phone)
    if user.get("mfa_enabled"):
        vid = signed.get_json()["verification_id"]
        signed = client.post("/mfa", {"verification_id": vid, "code": _code(phone)})
    assert signed.status_code == 200, signed.get_json()


def _page_signed_in(app: Flask, browser: FlaskClient, phone: str, **user: Any) -> None:
    add_user(app, phone, **user)
    if user.get("password", PASSWORD) is None:
        step = _page_code_step(browser, "/auth/sign-in/code", phone)
        done = submit(browser, step, {"code": _code(phone)})
    else:
        done = submit(browser, "/auth/sign-in", {"phone": phone, "password": PASSWORD})
    if user.get("mfa_enabled"):
        done = submit(browser, "/auth/mfa", {"code": _code(phone)})
    assert done.status_code == 302, done.text


def _api_verified(client: ApiClient, phone: str) -> None:
    vid = client.request_code(None, "UserPermissionValidation")
    verified = client.post("/verify-identity", {"verification_id": vid, "code": _code(phone)})
    assert verified.status_code == 200


def _page_verified(browser: FlaskClient, phone: str) -> None:
    sent = submit(browser, "/auth/verify-identity", {}, to="/auth/verify-identity/send")
    assert sent.location is not None
    assert submit(browser, sent.location, {"code": _code(phone)}).status_code == 302


def _code(phone: str) -> str:
    return [sms for sms in outbox if sms.to == phone][-1].code


def _api_wrong_codes(client: ApiClient, path: str, vid: str, times: int, **body: Any) -> None:
    for _ in range(times):
        refused = client.post(path, {"verification_id": vid, "code": "000000", **body})
        assert refused.status_code == 400


def _page_wrong_codes(browser: FlaskClient, step: str, times: int) -> None:
    for _ in range(times):
        assert submit(browser, step, {"code": "000000"}).status_code == 400


def _api_out_of_attempts(app: Flask, client: ApiClient, clock: FakeClock, phone: str) -> Any:
    vid = _api_sign_up_code(client, phone)
    right = _code(phone)
    refused = client.post("/sign-up", {"verification_id": vid, "code": wrong(right)})
    assert refused.status_code == 400
    _api_wrong_codes(client, "/sign-up", vid, 4)
    return client.post("/sign-up", {"verification_id": vid, "code": right})


def _page_out_of_attempts(app: Flask, browser: FlaskClient, clock: FakeClock, phone: str) -> Any:
    step = _page_code_step(browser, "/auth/sign-up", phone)
    right = _code(phone)
    assert submit(browser, step, {"code": wrong(right)}).status_code == 400
    _page_wrong_codes(browser, step, 4)
    return submit(browser, step, {"code": right})


def _api_locked(app: Flask, client: ApiClient, clock: FakeClock, phone: str) -> Any:
    vid = client.request_code(phone, "SignIn")  # no account: a silent challenge
    _api_wrong_codes(client, "/sign-in/code", vid, 3)
    return client.post("/sign-in/code", {"verification_id": vid, "code": "000000"})


def _page_locked(app: Flask, browser: FlaskClient, clock: FakeClock, phone: str) -> Any:
    step = _page_code_step(browser, "/auth/sign-in/code", phone)
    _page_wrong_codes(browser, step, 3)
    return submit(browser, step, {"code": "000000"})


def _api_mfa_ended(app: Flask, client: ApiClient, clock: FakeClock, phone: str) -> Any:
    add_user(app, phone, mfa_enabled=True)
    vid = client.sign_in_password(phone).get_json()["verification_id"]
    right = _code(phone)
    refused = client.post("/mfa", {"verification_id": vid, "code": wrong(right)})
    assert refused.status_code == 400
    _api_wrong_codes(client, "/mfa", vid, 4)
    return client.post("/mfa", {"verification_id": vid, "code": right})


def _page_mfa_ended(app: Flask, browser: FlaskClient, clock: FakeClock, phone: str) -> Any:
    add_user(app, phone, mfa_enabled=True)
    submit(browser, "/auth/sign-in", {"phone": phone, "password": PASSWORD})
    right = _code(phone)
    assert submit(browser, "/auth/mfa", {"code": wrong(right)}).status_code == 400
    _page_wrong_codes(browser, "/auth/mfa", 4)
    return submit(browser, "/auth/mfa", {"code": right})


def _api_resend_early(app: Flask, client: ApiClient, clock: FakeClock, phone: str) -> Any:
    vid = client.request_code(phone, "SignIn")
    return client.post(f"/verification-codes/{vid}/resend")


def _page_resend_early(app: Flask, browser: FlaskClient, clock: FakeClock, phone: str) -> Any:
    step = _page_code_step(browser, "/auth/sign-in/code", phone)
    return submit(browser, step, {}, to="/auth/sign-in/code/resend")


def _api_resend_cap(app: Flask, client: ApiClient, clock: FakeClock, phone: str) -> Any:
    vid = client.request_code(phone, "ForgotPassword")
    clock.advance(61)
    assert client.post(f"/verification-codes/{vid}/resend").status_code == 202
    clock.advance(61)
    return client.post(f"/verification-codes/{vid}/resend")


def _page_resend_cap(app: Flask, browser: FlaskClient, clock: FakeClock, phone: str) -> Any:
    step = _page_code_step(browser, "/auth/reset-password", phone)
    clock.advance(61)
    assert submit(browser, step, {}, to="/auth/reset-password/resend").status_code == 302
    clock.advance(61)
    page = browser.get(step)
    return browser.post("/auth/reset-password/resend", data={"csrf_token": csrf_of(page.text)})


def _api_rate_limited(app: Flask, client: ApiClient, clock: FakeClock, phone: str) -> Any:
    for _ in range(2):
        client.request_code(phone, "Register")
    return client.send_code(phone, "Register")


def _page_rate_limited(app: Flask, browser: FlaskClient, clock: FakeClock, phone: str) -> Any:
    for _ in range(2):
        _page_code_step(browser, "/auth/sign-up", phone)
    return submit(browser, "/auth/sign-up", {"phone": phone})


def _api_delivery_failed(app: Flask, client: ApiClient, clock: FakeClock, phone: str) -> Any:
    add_user(app, phone, mfa_enabled=True)
    fail_next_send(app=app)
    return client.sign_in_password(phone)


def _page_delivery_failed(app: Flask, browser: FlaskClient, clock: FakeClock, phone: str) -> Any:
    add_user(app, phone, mfa_enabled=True)
    fail_next_send(app=app)
    return submit(browser, "/auth/sign-in", {"phone": phone, "password": PASSWORD})


def _api_session_not_found(app: Flask, client: ApiClient, clock: FakeClock, phone: str) -> Any:
    _api_signed_in(app, client, phone)
    return client.delete("/account/sessions/no-such-session")


def _page_session_not_found(app: Flask, browser: FlaskClient, clock: FakeClock, phone: str) -> Any:
    _page_signed_in(app, browser, phone)
    page = browser.get("/auth/account")
    return browser.post(
        "/auth/account/sessions/no-such-session/end", data={"csrf_token": csrf_of(page.text)}
    )


def _api_remove_phone(**user: Any) -> Step:
    def run(app: Flask, client: ApiClient, clock: FakeClock, phone: str) -> Any:
        _api_signed_in(app, client, phone, **user)
        _api_verified(client, phone)
        return client.delete("/account/phone")

    return run


def _page_remove_phone(**user: Any) -> Step:
    def run(app: Flask, browser: FlaskClient, clock: FakeClock, phone: str) -> Any:
        _page_signed_in(app, browser, phone, **user)
        _page_verified(browser, phone)
        return submit(browser, "/auth/account/phone/remove", {})

    return run


def _api_no_phone(app: Flask, client: ApiClient, clock: FakeClock, phone: str) -> Any:
    _api_signed_in(app, client, phone)
    _api_verified(client, phone)
    assert client.delete("/account/phone").status_code == 204
    return client.send_code(None, "BindMfa")


def _page_no_phone(app: Flask, browser: FlaskClient, clock: FakeClock, phone: str) -> Any:
    _page_signed_in(app, browser, phone)
    _page_verified(browser, phone)
    assert submit(browser, "/auth/account/phone/remove", {}).status_code == 302
    return submit(browser, "/auth/account/mfa/enable", {})


def _api_short_password(app: Flask, client: ApiClient, clock: FakeClock, phone: str) -> Any:
    vid = _api_sign_up_code(client, phone)
    return client.post(
        "/sign-up", {"verification_id": vid, "code": _code(phone), "password": "short"}
    )


def _page_short_password(app: Flask, browser: FlaskClient, clock: FakeClock, phone: str) -> Any:
    step = _page_code_step(browser, "/auth/sign-up", phone)
    return submit(browser, step, {"code": _code(phone), "password": "short"})


CASES = [
    Case(
        "invalid_phone",
        "Enter a valid mobile phone number.",
        lambda app, client, clock, phone: client.send_code("12345", "Register"),
        lambda app, browser, clock, phone: submit(browser, "/auth/sign-up", {"phone": "12345"}),
    ),
    Case(
        "invalid_code",
        "The code is invalid or has expired.",
        lambda app, client, clock, phone: client.post(
            "/sign-up", {"verification_id": _api_sign_up_code(client, phone), "code": "000000"}
        ),
        lambda app, browser, clock, phone: submit(
            browser, _page_code_step(browser, "/auth/sign-up", phone), {"code": "000000"}
        ),
    ),
    Case(
        "too_many_attempts",
        "Too many attempts. Ask for a new code.",
        _api_out_of_attempts,
        _page_out_of_attempts,
    ),
    Case(
        "too_many_attempts",
        "Too many attempts. Try again in 15 minutes.",
        _api_locked,
        _page_locked,
        {"SMS_OTP_LOCKOUT_THRESHOLD": 3},
    ),
    Case(
        "too_many_attempts",
        "Too many attempts. Please sign in again.",
        _api_mfa_ended,
        _page_mfa_ended,
    ),
    Case(
        "resend_not_allowed",
        "You can ask for a new code in 1 minute.",
        _api_resend_early,
        _page_resend_early,
    ),
    Case(
        "resend_not_allowed",
        "No more codes can be sent for this request. Please start again.",
        _api_resend_cap,
        _page_resend_cap,
        {"SMS_OTP_MAX_RESENDS": 1},
    ),
    Case(
        "rate_limited",
        "Too many requests. Try again in 1 hour.",
        _api_rate_limited,
        _page_rate_limited,
        {"SMS_OTP_SEND_LIMIT_PER_NUMBER": "2/hour"},
    ),
    Case(
        "delivery_failed",
        "The text message could not be sent. Please try again later.",
        _api_delivery_failed,
        _page_delivery_failed,
    ),
    Case(
        "rate_limit_unavailable",
        "The service is busy. Please try again later.",
        lambda app, client, clock, phone: client.send_code(phone, "Register"),
        lambda app, browser, clock, phone: submit(browser, "/auth/sign-up", {"phone": phone}),
        {"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1"},
    ),
    Case(
        "invalid_credentials",
        "The phone number or password is incorrect.",
        lambda app, client, clock, phone: client.sign_in_password(phone, "not the password"),
        lambda app, browser, clock, phone: submit(
            browser, "/auth/sign-in", {"phone": phone, "password": "not the password"}
        ),
    ),
    Case(
        "invalid_request",
        "Enter your password.",
        lambda app, client, clock, phone: client.post("/sign-in", {"phone": phone}),
        lambda app, browser, clock, phone: submit(
            browser, "/auth/sign-in", {"phone": phone, "password": ""}
        ),
    ),
    Case(
        "invalid_request",
        "Use at least 8 characters.",
        _api_short_password,
        _page_short_password,
    ),
    Case(
        "session_not_found",
        "This session does not exist or has already ended.",
        _api_session_not_found,
        _page_session_not_found,
    ),
    Case(
        "last_sign_in_method",
        "Set a password before removing your only way to sign in.",
        _api_remove_phone(password=None),
        _page_remove_phone(password=None),
    ),
    Case(
        "mfa_enabled",
        "Turn off two-step verification first.",
        _api_remove_phone(mfa_enabled=True),
        _page_remove_phone(mfa_enabled=True),
    ),
    Case(
        "no_phone",
        "The account has no phone number.",
        _api_no_phone,
        _page_no_phone,
    ),
]


@pytest.mark.parametrize("language", ["en", CHINESE])
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.english)
def test_an_error_reads_the_same_in_json_and_on_the_page(
    make_app: AppFactory, clock: FakeClock, case: Case, language: str
) -> None:
    app = make_app(clock=clock, **{**PLAIN_HTTP, **case.config})
    client = ApiClient(app, ip="192.0.2.1")
    client.http.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    browser = app.test_client()
    browser.environ_base.update(HTTP_ACCEPT_LANGUAGE=language, REMOTE_ADDR="192.0.2.2")

    answer = case.api(app, client, clock, API_PHONE)
    page = case.page(app, browser, clock, PAGE_PHONE)

    assert error_code(answer) == case.code
    assert page.status_code == answer.status_code
    assert page.headers.get("Retry-After") == answer.headers.get("Retry-After")
    message = answer.get_json()["error"]["message"]
    assert message in shown_errors(page.text), (message, shown_errors(page.text))
    if language == "en":
        assert message == case.english
    else:
        assert HAN.search(message), message


def test_the_form_level_errors_are_found_too() -> None:
    """The parser above reads both places a page shows an error."""
    html = (
        '<div class="alert error" role="alert" id="form-errors"><p>Above &amp; all</p></div>'
        '<p class="error" id="code-error">On the field</p><p>Not an error</p>'
        '<p class="alert error" role="alert">Ended</p>'
    )
    assert shown_errors(html) == ["Above & all", "On the field", "Ended"]


# Where the texts live ------------------------------------------------------------------------


def _imported_modules(source: str) -> set[str]:
    """Every module ``source`` imports, at any depth (``.i18n`` for ``from .i18n import x``,
    ``.`` plus the name for ``from . import x``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            found.add(base)
            if not node.module:
                found |= {base + alias.name for alias in node.names}
    return found


def test_errors_import_no_translation_machinery() -> None:
    imported = _imported_modules(inspect.getsource(errors))
    assert not {name for name in imported if "babel" in name or name.endswith("i18n")}, imported
    # Nor does anything else it imports when it is loaded (texts is imported when read).
    top_level = {
        node.module
        for node in ast.parse(inspect.getsource(errors)).body
        if isinstance(node, ast.ImportFrom) and node.level
    }
    assert top_level == set()


def test_errors_hold_no_text_of_their_own() -> None:
    """No ``description`` is set in errors.py: every text comes from texts.py."""
    source = ast.parse(inspect.getsource(errors))
    assigned = {
        target.id
        for node in ast.walk(source)
        if isinstance(node, ast.ClassDef)
        for statement in node.body
        if isinstance(statement, ast.Assign)
        for target in statement.targets
        if isinstance(target, ast.Name)
    }
    assert "description" not in assigned


def test_every_error_code_and_reason_has_a_text() -> None:
    """Every code the API answers (the OpenAPI test ties them to the code) has its words,
    and so has every ``InvalidRequest`` reason raised anywhere in the package."""
    assert set(texts.ERROR_TEXTS) == set(ERROR_CODES)
    reasons: set[str] = set()
    for path in Path(flask_sms_otp.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == errors.InvalidRequest.__name__
            ):
                first = node.args[0]
                assert isinstance(first, ast.Constant), ast.unparse(node)
                reasons.add(str(first.value))
    assert reasons == set(texts.INVALID_REQUEST_TEXTS)


def test_description_is_the_text_in_the_current_language(make_app: AppFactory) -> None:
    """Werkzeug's ``description`` (what an app's own error handler shows) is the same text,
    in the request's language; outside a request, English."""
    app = make_app()
    error = errors.RateLimited(retry_after=90)
    assert error.description == "Too many requests. Try again in 2 minutes."
    with app.test_request_context(headers={"Accept-Language": CHINESE}):
        assert HAN.search(error.description)
        assert error.description == texts.message(error)
    assert str(errors.InvalidCode()) == "400 Bad Request: The code is invalid or has expired."


def test_an_app_can_reword_an_error_for_pages_and_json_at_once(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(texts.ERROR_TEXTS, "invalid_phone", lambda data: "Not a mobile number.")
    monkeypatch.setitem(
        texts.INVALID_REQUEST_TEXTS, "password_missing", lambda data: "Your password, please."
    )
    app = make_app(**PLAIN_HTTP)
    client = ApiClient(app)
    page = submit(app.test_client(), "/auth/sign-up", {"phone": "12345"})
    assert "Not a mobile number." in shown_errors(page.text)
    answer = client.send_code("12345", "Register")
    assert answer.get_json()["error"]["message"] == "Not a mobile number."
    no_password = client.post("/sign-in", {"phone": API_PHONE})
    assert no_password.get_json()["error"]["message"] == "Your password, please."
