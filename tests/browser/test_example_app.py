"""The example app in a real browser: sign up, sign out, sign in by code, reset the password,
sign in with it. Fields are found by their labels and buttons by their roles, so the pages
are usable with assistive technology."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from flask_sms_otp.testing import outbox

from ..helpers import last_code

PHONE = "+12015550123"
FIRST_PASSWORD = "first correct horse"
NEW_PASSWORD = "second battery staple"

pytestmark = pytest.mark.browser


def sign_out(page: Page) -> None:
    page.get_by_role("main").get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are not signed in.")).to_be_visible()


def test_sign_up_sign_in_by_code_and_reset_the_password(page: Page, live_example: str) -> None:
    page.goto(live_example + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("flask-sms-otp example")
    expect(page.get_by_text("You are not signed in.")).to_be_visible()

    # Sign up: number, then the code and a password.
    page.get_by_role("link", name="Create an account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Create an account")
    page.get_by_label("Phone number").fill(PHONE)
    page.get_by_role("button", name="Text me a code").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
    # The resend button waits for its cooldown (the countdown script ran).
    expect(page.get_by_role("button", name="Send a new code")).to_be_disabled()
    expect(page.get_by_text("You can ask for a new code in")).to_be_visible()
    page.get_by_label("Code", exact=True).fill(last_code(PHONE, "Register"))
    page.get_by_label("Choose a password (optional)").fill(FIRST_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("You are signed in as")).to_contain_text(PHONE)
    sign_out(page)

    # Sign in by code.
    page.get_by_role("link", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    page.get_by_role("link", name="Sign in with a code instead").click()
    page.get_by_label("Phone number").fill(PHONE)
    page.get_by_role("button", name="Text me a code").click()
    page.get_by_label("Code", exact=True).fill(last_code(PHONE, "SignIn"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("You are signed in as")).to_contain_text(PHONE)
    sign_out(page)

    # Reset the password: it never signs in, it sends to the sign-in page.
    page.get_by_role("link", name="Sign in", exact=True).click()
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reset your password")
    page.get_by_label("Phone number").fill(PHONE)
    page.get_by_role("button", name="Text me a code").click()
    page.get_by_label("Code", exact=True).fill(last_code(PHONE, "ForgotPassword"))
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Your password was changed.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")

    # The old password is refused, the new one works.
    page.get_by_label("Phone number").fill(PHONE)
    page.get_by_label("Password", exact=True).fill(FIRST_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text("The phone number or password is incorrect.")
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_text("You are signed in as")).to_contain_text(PHONE)


def test_sign_up_in_chinese_with_the_countdown_translated(
    browser: Browser, live_example: str
) -> None:
    """A browser whose language is Chinese gets Chinese pages, and the resend countdown the
    script draws every second is Chinese too (its texts come from the page)."""
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(live_example + "/")
        expect(page.locator("html")).to_have_attribute("lang", "zh-Hans-CN")
        expect(page.get_by_role("heading", level=1)).to_have_text("flask-sms-otp 示例")
        page.get_by_role("link", name="创建账户").click()
        page.get_by_label("手机号").fill(PHONE)
        page.get_by_role("button", name="给我发送验证码").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("输入验证码")

        expect(page.get_by_role("button", name="重新发送验证码")).to_be_disabled()
        status = page.locator("#resend-status")
        expect(status).to_have_text(re.compile(r"^\d+ 秒后可以获取新的验证码。$"))
        first = status.inner_text()
        expect(status).not_to_have_text(first, timeout=5000)  # the script counts down
        expect(status).to_have_text(re.compile(r"^\d+ 秒后可以获取新的验证码。$"))

        page.get_by_label("验证码", exact=True).fill(last_code(PHONE, "Register"))
        page.get_by_label("设置密码（可选）").fill(FIRST_PASSWORD)
        page.get_by_role("button", name="创建账户").click()
        expect(page.get_by_text("您已登录")).to_contain_text(PHONE)
        assert "您的注册验证码是" in [s for s in outbox if s.usage == "Register"][-1].text
    finally:
        context.close()


# A stand-in for the browser's WebOTP: navigator.credentials.get answers once the test hands
# it the code, as Chrome does when the SMS ending "@host #code" arrives.
FAKE_WEBOTP = """
window.OTPCredential = function OTPCredential() {};
window.__webotpRequests = [];
navigator.credentials.get = function (options) {
  window.__webotpRequests.push(JSON.stringify(options.otp));
  return new Promise(function (resolve, reject) {
    window.__deliverSms = function (code) { resolve({type: "otp", code: code}); };
    options.signal.addEventListener("abort", function () {
      sessionStorage.setItem("webotp-aborted", "yes");
      reject(new DOMException("aborted", "AbortError"));
    });
  });
};
"""


def test_webotp_fills_the_code_in_and_signs_in(page: Page, live_example: str) -> None:
    page.add_init_script(FAKE_WEBOTP)
    page.goto(live_example + "/auth/sign-up")
    page.get_by_label("Phone number").fill(PHONE)
    page.get_by_role("button", name="Text me a code").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
    page.wait_for_function("() => typeof window.__deliverSms === 'function'")
    assert page.evaluate("window.__webotpRequests") == ['{"transport":["sms"]}']
    page.evaluate("code => window.__deliverSms(code)", last_code(PHONE, "Register"))
    expect(page.get_by_text("You are signed in as")).to_contain_text(PHONE)
    sign_out(page)

    # Submitted by hand, the form aborts the request and signs in all the same.
    page.goto(live_example + "/auth/sign-in/code")
    page.evaluate("sessionStorage.clear()")
    page.get_by_label("Phone number").fill(PHONE)
    page.get_by_role("button", name="Text me a code").click()
    page.wait_for_function("() => typeof window.__deliverSms === 'function'")
    page.get_by_label("Code", exact=True).fill(last_code(PHONE, "SignIn"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("You are signed in as")).to_contain_text(PHONE)
    assert page.evaluate("sessionStorage.getItem('webotp-aborted')") == "yes"
