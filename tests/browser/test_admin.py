"""The admin pages in a real browser, as an operator uses them: a test send from the
connectors page, the delivery log filtered, the conversion chart and a hold released, a
locked number unlocked, and each action in the audit trail. Without JavaScript too: the
pages load no script."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from flask_sms_otp.state import get_state
from flask_sms_otp.testing import outbox

from ..helpers import OTHER_PHONE, PASSWORD, PHONE, US_PHONE, create_user

pytestmark = pytest.mark.browser


def given_activity(app: Flask) -> None:
    """Sends to three countries (some codes used), a held country and a locked number."""
    with app.app_context():
        state = get_state(app)
        records = state.delivery.records
        assert records is not None
        now = datetime.now(UTC)
        for n, phone in enumerate([PHONE] * 6 + [OTHER_PHONE] * 3 + ["+77012345678"] * 4):
            records.record(
                challenge_id=None,
                connector="memory",
                usage="SignIn",
                phone=phone,
                status="sent",
                at=now - timedelta(minutes=n),
            )
        Record = state.models.DeliveryRecord
        with state.db.engine.begin() as conn:
            conn.execute(
                sa.update(Record)
                .where(Record.country != "KZ")
                .values(delivery_status="delivered", verified_at=Record.created_at)
            )
            conn.execute(
                sa.insert(state.models.GuardHold).values(
                    scope="country",
                    key="KZ",
                    country="KZ",
                    label="KZ",
                    sent=4,
                    verified=0,
                    baseline=0.6,
                    held_at=now,
                    until=now + timedelta(hours=1),
                )
            )
            conn.execute(
                sa.insert(state.models.FailureCounter).values(
                    phone=OTHER_PHONE,
                    silent=False,
                    failures=0,
                    locked_until=now + timedelta(minutes=15),
                    updated_at=now,
                )
            )


def sign_in(page: Page, base: str) -> None:
    page.goto(base + "/auth/sign-in")
    page.get_by_label("Phone number").fill(US_PHONE)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_text("You are signed in as")).to_be_visible()


def test_an_operator_walks_the_admin_pages(
    browser: Browser, live_admin_example: tuple[Flask, str]
) -> None:
    app, base = live_admin_example
    create_user(app, US_PHONE)
    given_activity(app)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, base)

    # Connectors: the memory connector, and a test send through its route.
    page.goto(base + "/auth/admin/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Connectors")
    expect(page.get_by_role("cell", name="memory").first).to_be_visible()
    page.get_by_label("Phone number").fill(PHONE)
    page.get_by_label("Usage").select_option("Generic")
    page.get_by_role("button", name="Send a test code").click()
    expect(page.get_by_text("Sent a test code to +*********8000 through memory.")).to_be_visible()
    assert [sms.to for sms in outbox if sms.usage == "Generic"] == [PHONE]

    # Deliveries, filtered by country in the form.
    page.get_by_role("link", name="Deliveries").click()
    expect(page.get_by_role("row")).to_have_count(14 + 1)  # the test send is recorded too
    page.get_by_label("Country").fill("gb")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("row")).to_have_count(3 + 1)
    expect(page.get_by_role("cell", name="+********3456").first).to_be_visible()

    # Conversion: the chart and the table, the held country, released.
    page.get_by_role("link", name="Conversion").click()
    expect(page.get_by_role("img", name="Sent, delivered and verified")).to_be_visible()
    expect(page.get_by_role("row", name="KZ (held) memory 4 0 0 0%")).to_be_visible()
    page.get_by_role("button", name="Release").click()
    expect(page.get_by_text("Released the hold on KZ.")).to_be_visible()
    expect(page.get_by_text("No country or number block is held.")).to_be_visible()

    # Locks: the locked number, masked, unlocked.
    page.get_by_role("link", name="Locks").click()
    expect(page.get_by_role("cell", name="+********3456")).to_be_visible()
    page.get_by_role("button", name="Unlock", exact=True).click()
    expect(page.get_by_text("Unlocked +********3456.")).to_be_visible()
    expect(page.get_by_text("No number is locked.")).to_be_visible()

    # The audit trail: the three actions, newest first.
    page.get_by_role("link", name="Audit").click()
    actions = page.locator("tbody tr td:nth-child(3)")
    expect(actions).to_have_text(["unlock", "release_hold", "test_send"])
    context.close()


def test_a_member_who_is_not_an_admin_meets_a_404(
    page: Page, live_admin_example: tuple[Flask, str]
) -> None:
    app, base = live_admin_example
    create_user(app, OTHER_PHONE)
    page.goto(base + "/auth/sign-in")
    page.get_by_label("Phone number").fill(OTHER_PHONE)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    for path in ("/", "/deliveries", "/conversion", "/locks", "/audit"):
        answer = page.goto(base + "/auth/admin" + path)
        assert answer is not None
        assert answer.status == 404
