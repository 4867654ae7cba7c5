"""English and Simplified Chinese, as a user sees them: the example app's pages, flashes and
errors, the JSON API's messages and the SMS texts follow ``Accept-Language`` or the app's own
locale selector; per-locale connector templates are picked first."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import Babel
from flask_sqlalchemy import SQLAlchemy
from werkzeug.test import TestResponse

from flask_sms_otp import SmsOtp, i18n
from flask_sms_otp.connectors.memory import SentSms

from .helpers import (
    PASSWORD,
    PHONE,
    ApiClient,
    AppFactory,
    create_user,
    csrf_of,
    error_code,
    last_code,
)

CHINESE = "zh-CN,zh;q=0.9,en;q=0.5"
NEW_PHONE = "+8613900139000"
#: Latin words a Chinese page may show: the product's name, the numbers' notation, and
#: "IP" (Chinese writes an address "IP 地址").
ALLOWED_LATIN = {"flask", "sms", "otp", "SMS", "IP"}
HAN = re.compile(r"[\u4e00-\u9fff]")


# Locale negotiation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "served"),
    [
        ("zh-CN", "zh_Hans_CN"),
        ("zh", "zh_Hans_CN"),
        ("zh-Hans", "zh_Hans_CN"),
        ("zh_Hans_CN", "zh_Hans_CN"),
        ("zh-SG", "zh_Hans_CN"),  # Simplified script elsewhere: still Simplified Chinese
        ("zh-TW", None),  # Traditional: not served by the Simplified catalog
        ("zh-Hant", None),
        ("en-GB", "en"),
        ("en", "en"),
        ("fr", None),
        ("*", None),
        ("", None),
        ("not a locale", None),
    ],
)
def test_best_locale_matches_language_and_script(asked: str, served: str | None) -> None:
    assert i18n.best_locale(asked) == served


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("fr-FR,fr;q=0.9,zh-CN;q=0.8,en;q=0.7", "zh_Hans_CN"),
        ("zh-TW,zh;q=0.8,en;q=0.6", "zh_Hans_CN"),  # zh (any script) after zh-TW
        ("zh-TW,en;q=0.6", "en"),
        ("de", None),
        (None, None),
        # Only the first ten entries count: a padded header costs no more than that.
        (",".join(f"x-pad{n}" for n in range(12)) + ",zh-CN", None),
    ],
)
def test_accept_language_picks_the_first_language_served(
    header: str | None, chosen: str | None
) -> None:
    app = Flask(__name__)
    headers = {"Accept-Language": header} if header else {}
    with app.test_request_context(headers=headers):
        assert i18n.select_locale() == chosen


# Pages --------------------------------------------------------------------------------------


class _VisibleText(HTMLParser):
    """The text a person reads or hears: text nodes, button values, ARIA labels, titles;
    not scripts, styles or ``<code>`` (commands and names, the same in every language)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0
        self.lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "html":
            self.lang = found.get("lang")
        if tag in ("script", "style", "code"):
            self._skip += 1
        for name in ("aria-label", "title", "placeholder", "alt"):
            if found.get(name):
                self.parts.append(str(found[name]))
        if tag == "input" and found.get("type") in ("submit", "button") and found.get("value"):
            self.parts.append(str(found["value"]))
        for name, value in attrs:  # the resend countdown's texts, for the script
            if name.startswith("data-text") and value:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "code"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def english_left(html: str) -> list[str]:
    """Latin words on the page that a Chinese reader would see untranslated."""
    parser = _VisibleText()
    parser.feed(html)
    words = re.findall(r"[A-Za-z]{2,}", " ".join(parser.parts))
    return [word for word in words if word not in ALLOWED_LATIN]


def assert_chinese(response: TestResponse) -> str:
    """The page is wholly in Simplified Chinese, and says so in ``<html lang>``."""
    html = response.text
    parser = _VisibleText()
    parser.feed(html)
    assert parser.lang == "zh-Hans-CN", (response.request.path, parser.lang)
    assert english_left(html) == [], response.request.path
    assert HAN.search(html), response.request.path
    return html


class Browser:
    """A Chinese-speaking user agent on the example app: every page it gets is checked."""

    def __init__(self, app: Flask) -> None:
        self.client: FlaskClient = app.test_client()
        self.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = CHINESE

    def page(self, path: str) -> str:
        response = self.client.get(path, follow_redirects=True)
        assert response.status_code == 200, (path, response.status_code)
        return assert_chinese(response)

    def submit(self, path: str, data: dict[str, str], *, to: str | None = None) -> TestResponse:
        """Post the form of the (checked) page at ``path``; check where it leads."""
        token = csrf_of(self.page(path))
        response = self.client.post(
            to or path, data={"csrf_token": token, **data}, follow_redirects=True
        )
        assert_chinese(response)
        return response


@pytest.fixture
def example(make_example_app: AppFactory) -> Flask:
    return make_example_app(SMS_OTP_SECURE_COOKIES=False)


def test_every_page_of_the_example_app_in_chinese(
    example: Flask, sms_outbox: list[SentSms]
) -> None:
    me = Browser(example)
    me.page("/")
    assert "请登录后查看此页面。" in me.page("/settings/danger")  # Flask-Login's flash
    me.page("/auth/sign-in/code")
    me.page("/auth/reset-password")

    # Sign up: the number, a wrong code (the error), the right code.
    me.submit("/auth/sign-up", {"phone": PHONE})
    wrong = me.submit("/auth/sign-up/verify", {"code": "000000"})
    assert "验证码" in wrong.text
    assert HAN.search(sms_outbox[-1].text)
    me.submit("/auth/sign-up/verify", {"code": last_code(PHONE), "password": PASSWORD})
    me.page("/")
    me.page("/auth/account")

    # Confirm it is you, by password and by code; then the protected page.
    me.page("/auth/verify-identity")
    me.submit("/auth/verify-identity", {}, to="/auth/verify-identity/send")
    me.submit("/auth/verify-identity/code", {"code": last_code(PHONE)})
    me.page("/settings/danger")

    # Account settings, each with its success flash.
    me.submit("/auth/account/phone", {"phone": NEW_PHONE})
    changed = me.submit("/auth/account/phone/verify", {"code": last_code(NEW_PHONE)})
    assert "您的手机号已更换。" in changed.text
    me.submit("/auth/account/mfa/enable", {})
    enabled = me.submit("/auth/account/mfa/verify", {"code": last_code(NEW_PHONE)})
    assert "两步验证已开启。" in enabled.text
    me.page("/auth/account/mfa/disable")
    me.page("/auth/account/phone/remove")
    changed = me.submit("/auth/account/password", {"password": "a new passphrase"})
    assert "您的密码已修改。其他设备已退出登录。" in changed.text
    me.submit("/auth/account", {}, to="/auth/sign-out")

    # Sign in by password with the second step; by code; reset the password.
    me.submit("/auth/sign-in", {"phone": NEW_PHONE, "password": "a new passphrase"})
    assert "您已登录" in me.submit("/auth/mfa", {"code": last_code(NEW_PHONE)}).text
    me.submit("/auth/account", {}, to="/auth/sign-out")
    me.submit("/auth/sign-in/code", {"phone": NEW_PHONE})
    me.submit("/auth/sign-in/code/verify", {"code": last_code(NEW_PHONE)})
    me.submit("/auth/account", {}, to="/auth/sign-out")
    me.submit("/auth/reset-password", {"phone": NEW_PHONE})
    reset = me.submit(
        "/auth/reset-password/verify",
        {"code": last_code(NEW_PHONE), "password": "yet another passphrase"},
    )
    assert "您的密码已修改。请使用新密码登录。" in reset.text

    # Every text message, codes and security notices alike, was in Chinese too.
    assert {sms.usage for sms in sms_outbox} >= {
        "Register",
        "UserPermissionValidation",
        "BindNewIdentifier",
        "BindMfa",
        "MfaVerification",
        "SignIn",
        "ForgotPassword",
        "PhoneChanged",
        "PasswordChanged",
    }
    assert [sms.text for sms in sms_outbox if not HAN.search(sms.text)] == []


def test_the_same_pages_stay_english_by_default(example: Flask) -> None:
    client = example.test_client()
    page = client.get("/auth/sign-in").text
    assert '<html lang="en">' in page
    assert "Sign in" in page
    assert not HAN.search(page)
    traditional = client.get("/auth/sign-in", headers={"Accept-Language": "zh-TW"}).text
    assert not HAN.search(traditional)  # no Traditional catalog: English, not Simplified


# JSON API and SMS ---------------------------------------------------------------------------


def test_api_errors_follow_accept_language(example: Flask) -> None:
    client = ApiClient(example)
    chinese = client.send_code("12345", "Register", headers={"Accept-Language": CHINESE})
    english = client.send_code("12345", "Register", headers={"Accept-Language": "en"})
    assert error_code(chinese) == error_code(english) == "invalid_phone"
    assert english.get_json()["error"]["message"] == "Enter a valid mobile phone number."
    assert HAN.search(chinese.get_json()["error"]["message"])


def test_a_sign_in_code_arrives_in_chinese(example: Flask, sms_outbox: list[SentSms]) -> None:
    create_user(example, PHONE)
    client = ApiClient(example)
    vid = client.request_code(PHONE, "SignIn", headers={"Accept-Language": CHINESE})
    client.request_code(PHONE, "SignIn", headers={"Accept-Language": "en"})
    chinese, english = sms_outbox
    assert chinese.text == f"您的登录验证码是 {chinese.code}，10 分钟内有效。"
    assert english.text == (
        f"Your sign-in verification code is {english.code}. "
        "The code will remain active for 10 minutes."
    )
    # The words change, not the code: the Chinese one signs in.
    signed_in = client.post("/sign-in/code", {"verification_id": vid, "code": chinese.code})
    assert signed_in.status_code == 200


def test_a_template_for_the_locale_is_picked_first(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    templates = [
        {"usageType": "Register", "content": "Sign-up code {{code}}"},
        {"usageType": "Register", "locale": "zh-CN", "content": "注册验证码 {{code}}"},
        {"usageType": "Generic", "content": "Code {{code}}"},
    ]
    app = make_app(SMS_OTP_CONNECTOR_CONFIG={"templates": templates})
    client = ApiClient(app)
    client.request_code(PHONE, "Register", headers={"Accept-Language": CHINESE})
    client.request_code("+447400123456", "Register", headers={"Accept-Language": "fr"})
    assert [sms.text for sms in sms_outbox] == [
        f"注册验证码 {sms_outbox[0].code}",
        f"Sign-up code {sms_outbox[1].code}",
    ]


def test_send_test_takes_a_locale(make_app: AppFactory, sms_outbox: list[SentSms]) -> None:
    runner = make_app().test_cli_runner()
    result = runner.invoke(args=["sms-otp", "send-test", PHONE, "--locale", "zh-CN"])
    assert result.exit_code == 0, result.output
    assert HAN.search(sms_outbox[0].text)


# The app's own Flask-Babel set-up wins ------------------------------------------------------


def _own_app(
    sqlite_uri: str, selector: Any = None, *, babel_first: bool = True
) -> tuple[Flask, SmsOtp]:
    """An app made by hand: with its own Flask-Babel set-up (before or after the extension)
    when given a ``selector``; the extension object too, for its code-engine methods."""
    app = Flask("own_babel")
    app.config.update(
        TESTING=True,
        SECRET_KEY="test",
        SQLALCHEMY_DATABASE_URI=sqlite_uri,
        SMS_OTP_CONNECTOR="memory",
    )
    db = SQLAlchemy(app)
    if selector is not None and babel_first:
        Babel(app, locale_selector=selector)
    sms_otp = SmsOtp(app, db=db)
    if selector is not None and not babel_first:
        Babel(app, locale_selector=selector)
    with app.app_context():
        db.create_all()
    return app, sms_otp


@pytest.mark.parametrize("babel_first", [True, False])
def test_the_apps_locale_selector_is_used(sqlite_uri: str, babel_first: bool) -> None:
    """Whatever the browser asks, the app's selector decides; ``zh_CN`` (the app's spelling)
    finds the ``zh_Hans_CN`` catalog; a language without a catalog shows English."""
    chinese, _ = _own_app(sqlite_uri, lambda: "zh_CN", babel_first=babel_first)
    page = chinese.test_client().get("/auth/sign-in", headers={"Accept-Language": "en"})
    assert_chinese(page)

    french, _ = _own_app(sqlite_uri, lambda: "fr", babel_first=babel_first)
    page = french.test_client().get("/auth/sign-in", headers={"Accept-Language": CHINESE})
    assert '<html lang="en">' in page.text
    assert not HAN.search(page.text)


def test_direct_callers_name_the_language(sqlite_uri: str, sms_outbox: list[SentSms]) -> None:
    """Outside a request (a script, a job) the text is English unless the caller names one."""
    app, sms_otp = _own_app(sqlite_uri)
    with app.app_context():
        sms_otp.send_code(PHONE, "SignIn")
        # Another number: direct callers meet the same send limits (one a minute per number).
        sms_otp.send_code("+12015550123", "Register", locale="zh-CN")
    english, chinese = sms_outbox
    assert english.text.startswith("Your sign-in verification code is")
    assert chinese.text.startswith("您的注册验证码是")
