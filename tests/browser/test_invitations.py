"""Invitations in a real browser, on the team example (examples/team_app): Alice invites a
number from her team's page; the invited person, new here, opens the texted link in another
browser, creates an account with that number by a code, accepts, and is in the team."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Browser, expect

from examples.team_app import Membership, Team, db
from flask_sms_otp.state import get_state
from flask_sms_otp.testing import outbox

from ..helpers import PASSWORD, US_PHONE, last_code

INVITED = "+8613800138000"
LINK = re.compile(r"https?://\S+/auth/invitations/[A-Za-z0-9_-]{43}")

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("database_uri", ["sqlite"], indirect=True)
def test_a_new_user_accepts_an_invitation(browser: Browser, live_team: tuple[str, Flask]) -> None:
    base, app = live_team
    _alice_and_her_team(app)

    # Alice invites the number from her team's page.
    alice = browser.new_context().new_page()
    alice.goto(f"{base}/auth/sign-in?next=/teams/1")
    alice.get_by_label("Phone number").fill(US_PHONE)
    alice.get_by_label("Password", exact=True).fill(PASSWORD)
    alice.get_by_role("button", name="Sign in", exact=True).click()
    expect(alice.get_by_role("heading", level=1)).to_have_text("Rocket")
    alice.get_by_label("Mobile number").fill(INVITED)
    alice.get_by_role("button", name="Text an invitation").click()
    expect(alice.get_by_text("Invitation sent.")).to_be_visible()
    expect(alice.get_by_role("heading", name="Pending invitations")).to_be_visible()

    # The invited person opens the texted link in a browser of their own.
    (sms,) = [m for m in outbox if m.usage == "OrganizationInvitation"]
    found = LINK.search(sms.text)
    assert found is not None
    page = browser.new_context().new_page()
    page.goto(found.group(0))
    expect(page.get_by_role("heading", level=1)).to_have_text("You're invited")
    expect(page.get_by_text("to join the team Rocket as a member")).to_be_visible()
    page.get_by_role("button", name="I'm new here: create an account").click()

    # The code goes to the invited number; the page does not ask for a number.
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
    expect(page.get_by_label("Phone number")).to_have_count(0)
    page.get_by_label("Code", exact=True).fill(last_code(INVITED, "Register"))
    page.get_by_role("button", name="Create account").click()

    # Back to the invitation, signed in with the invited number.
    expect(page.get_by_role("heading", level=1)).to_have_text("You're invited")
    page.get_by_role("button", name="Accept the invitation").click()
    expect(page.get_by_text("You accepted the invitation.")).to_be_visible()
    expect(page.get_by_role("link", name="Rocket")).to_be_visible()  # a member now
    page.get_by_role("link", name="Rocket").click()
    expect(page.get_by_role("list").filter(has_text="Alice")).to_contain_text(INVITED)

    # Alice's list of pending invitations is empty again.
    alice.reload()
    expect(alice.get_by_role("heading", name="Pending invitations")).to_have_count(0)


def _alice_and_her_team(app: Flask) -> None:
    """Alice (with a password) and her team, made in the served app's database."""
    with app.app_context():
        alice = get_state(app).users.create(US_PHONE, PASSWORD)
        alice.name = "Alice"
        db.session.add(Team(id=1, name="Rocket"))
        db.session.flush()
        db.session.add(Membership(team_id=1, user_id=alice.id, role="owner"))
        db.session.commit()
