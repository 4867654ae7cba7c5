"""The country selector in a real browser (the example app lists China, the United Kingdom and
the United States): with JavaScript the number is grouped as it is typed and still reaches
the right number; without JavaScript the same form works as a plain form."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from flask_sms_otp.testing import outbox

from ..helpers import last_code

pytestmark = pytest.mark.browser

GB_MOBILE = "+447400123456"


def phone_page(browser: Browser, live_example: str, **options: object) -> Page:
    context = browser.new_context(**options)  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(live_example + "/auth/sign-up")
    expect(page.locator("select[name=region]")).to_be_visible()
    return page


def test_the_number_is_grouped_as_typed_and_reaches_the_picked_country(
    browser: Browser, live_example: str
) -> None:
    page = phone_page(browser, live_example, locale="en-GB")
    try:
        country = page.get_by_label("Country or region")
        number = page.get_by_label("Phone number")
        expect(country).to_have_value("GB")  # from the browser's language
        expect(country.locator("option:checked")).to_have_text("United Kingdom (+44)")

        number.press_sequentially("07400123456")
        expect(number).to_have_value("07400 123456")

        # The caret keeps its digit: a digit typed in the middle lands there.
        number.fill("")
        number.press_sequentially("0740012345")
        number.press("Home")
        for _ in range(3):
            number.press("ArrowRight")
        number.press_sequentially("4")
        expect(number).to_have_value("07440 012345")
        assert number.evaluate("input => input.selectionStart") == 4
        # Backspace over the space takes the digit before it.
        number.fill("")
        number.press_sequentially("074001")
        expect(number).to_have_value("07400 1")
        number.press("ArrowLeft")
        number.press("Backspace")
        expect(number).to_have_value("07401")

        # Without the national prefix the shape follows; another country, another shape.
        number.fill("")
        number.press_sequentially("7400123456")
        expect(number).to_have_value("7400 123456")
        country.select_option("US")
        expect(number).to_have_value("(740) 012-3456")
        country.select_option("GB")
        expect(number).to_have_value("7400 123456")

        # A pasted + number is left as it is.
        number.fill("")
        number.evaluate(
            """input => {
                input.focus();
                document.execCommand("insertText", false, "+44 7400 123456");
            }"""
        )
        expect(number).to_have_value("+44 7400 123456")

        number.fill("")
        number.press_sequentially("07400123456")
        expect(number).to_have_value("07400 123456")
        page.get_by_role("button", name="Text me a code").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
        assert [m.to for m in outbox if m.usage == "Register"] == [GB_MOBILE]
        page.get_by_label("Code", exact=True).fill(last_code(GB_MOBILE, "Register"))
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_text("You are signed in as")).to_contain_text(GB_MOBILE)
    finally:
        page.context.close()


def test_the_selector_works_without_javascript(browser: Browser, live_example: str) -> None:
    page = phone_page(browser, live_example, locale="zh-CN", java_script_enabled=False)
    try:
        country = page.get_by_label("国家或地区")
        expect(country).to_have_value("CN")
        country.select_option(label="英国 (+44)")
        number = page.get_by_label("手机号")
        number.press_sequentially("07400123456")
        expect(number).to_have_value("07400123456")  # no script: as typed
        page.get_by_role("button", name="给我发送验证码").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("输入验证码")
        assert [m.to for m in outbox if m.usage == "Register"] == [GB_MOBILE]

        # A wrong number keeps the picked country on the page that says so.
        page.goto(live_example + "/auth/sign-in/code")
        page.get_by_label("国家或地区").select_option("US")
        page.get_by_label("手机号").fill("12")
        page.get_by_role("button", name="给我发送验证码").click()
        expect(page.get_by_text("请输入有效的手机号。")).to_be_visible()
        expect(page.get_by_label("国家或地区")).to_have_value("US")
    finally:
        page.context.close()
