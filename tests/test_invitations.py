"""Invitations by SMS, through the team example (examples/team_app): a member invites a
number, the invited person opens the texted link, signs up (or signs in) with that number by
a code, accepts, and the example's ``invitation_accepted`` handler makes the membership.

Real HTTP through the test client, on SQLite and PostgreSQL; the memory connector's outbox
is the phone."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from werkzeug.test import TestResponse

from examples.team_app import Membership, Team, User, db, sms_otp
from flask_sms_otp import (
    DeliveryError,
    Invitation,
    InvitationInvalid,
    ProviderUnavailable,
    invitation_accepted,
)
from flask_sms_otp.connectors.memory import SentSms
from flask_sms_otp.errors import CaptchaFailed, RateLimited, SendsHeld
from flask_sms_otp.state import get_state

from .helpers import (
    OTHER_PHONE,
    PASSWORD,
    PHONE,
    US_PHONE,
    AppFactory,
    FakeClock,
    Siteverify,
    create_user,
    csrf_of,
    last_code,
    sign_in_with_password,
    submit,
)
from .pages.helpers import check_accessible, without_csrf

LINK = re.compile(r"https?://[^\s]+/auth/invitations/([A-Za-z0-9_-]+)")
#: Alice, the team's owner; the invited number is PHONE.
ALICE_PHONE = US_PHONE


def make_team(app: Flask) -> int:
    """Alice (named, with a password) and her team Rocket; returns the team's id."""
    with app.app_context():
        users = get_state(app).users
        alice = users.create(ALICE_PHONE, PASSWORD)
        alice.name = "Alice"
        team = Team(name="Rocket")
        db.session.add(team)
        db.session.flush()
        db.session.add(Membership(team_id=team.id, user_id=alice.id, role="owner"))
        db.session.commit()
        return int(team.id)


def alice(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert sign_in_with_password(client, ALICE_PHONE).status_code == 302
    return client


def invite(client: FlaskClient, team_id: int, phone: str = PHONE) -> TestResponse:
    """Alice's form on her team's page."""
    return submit(client, f"/teams/{team_id}", {"phone": phone}, to=f"/teams/{team_id}/invitations")


def texted_link(outbox: list[SentSms], phone: str = PHONE) -> tuple[str, str]:
    """The newest invitation texted to ``phone``: its path and its token."""
    sent = [m for m in outbox if m.to == phone and m.usage == "OrganizationInvitation"]
    assert sent, f"no invitation texted to {phone}"
    found = LINK.search(sent[-1].text)
    assert found is not None, sent[-1].text
    return f"/auth/invitations/{found.group(1)}", found.group(1)


def members(app: Flask, team_id: int) -> dict[str, str]:
    """The team's members: phone -> role."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(User.phone, Membership.role)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.team_id == team_id)
        ).all()
        return {str(phone): role for phone, role in rows}


def sign_up_from(client: FlaskClient, page: str, outbox: list[SentSms]) -> TestResponse:
    """On the invitation page: "create an account", the code texted to the invited number,
    then back to the page. Returns the invitation page as it then shows."""
    shown = client.get(page)
    assert shown.status_code == 200
    started = client.post(f"{page}/sign-up", data={"csrf_token": csrf_of(shown.text)})
    assert started.status_code == 302
    assert started.location.startswith("/auth/sign-up/verify?next=")
    verify = client.get(started.location)
    assert verify.status_code == 200
    done = client.post(
        started.location,
        data={"csrf_token": csrf_of(verify.text), "code": last_code(PHONE, "Register")},
    )
    assert done.status_code == 302
    assert done.location == page  # back to the invitation
    return client.get(page)


def accept(client: FlaskClient, page: str, shown: TestResponse) -> TestResponse:
    return client.post(f"{page}/accept", data={"csrf_token": csrf_of(shown.text)})


@pytest.fixture
def accepted_signals(make_team_app: AppFactory) -> Iterator[list[dict[str, Any]]]:
    """What ``invitation_accepted`` receivers are given, beside the example's handler."""
    received: list[dict[str, Any]] = []

    def receiver(_app: Flask, **kwargs: Any) -> None:
        received.append({**kwargs, "phone": kwargs["user"].phone})

    invitation_accepted.connect(receiver)
    yield received
    invitation_accepted.disconnect(receiver)


# The story -----------------------------------------------------------------------------------


def test_invite_sign_up_with_the_number_and_become_a_member(
    make_team_app: AppFactory, sms_outbox: list[SentSms], accepted_signals: list[dict[str, Any]]
) -> None:
    app = make_team_app()
    team_id = make_team(app)
    owner = alice(app)
    assert invite(owner, team_id).status_code == 302

    # The SMS: the inviter's name and a link, in the built-in text.
    (sms,) = [m for m in sms_outbox if m.usage == "OrganizationInvitation"]
    assert sms.to == PHONE
    assert sms.text.startswith("Alice invited you. Open this link to accept: http://")
    page, token = texted_link(sms_outbox)
    assert sms.variables["link"] == f"http://localhost/auth/invitations/{token}"
    assert sms.variables["inviter"] == "Alice"
    assert sms.variables["data"] == {"team_id": team_id, "team": "Rocket", "role": "member"}

    # The page says who invited whom to what (the example's own template) and asks for a code.
    invited = app.test_client()
    shown = invited.get(page)
    assert shown.status_code == 200
    assert "Alice invited <strong>+86 138 0013 8000</strong>" in shown.text
    assert "to join the team <strong>Rocket</strong> as a member" in shown.text
    assert "create an account" in shown.text
    assert members(app, team_id) == {ALICE_PHONE: "owner"}

    # Sign up with the invited number: the code goes to that number, and only there.
    after = sign_up_from(invited, page, sms_outbox)
    assert "Accept the invitation" in after.text
    assert members(app, team_id) == {ALICE_PHONE: "owner"}  # the link alone made nothing

    done = accept(invited, page, after)
    assert done.status_code == 302
    assert members(app, team_id) == {ALICE_PHONE: "owner", PHONE: "member"}
    (signal,) = accepted_signals
    assert signal["data"] == {"team_id": team_id, "team": "Rocket", "role": "member"}
    assert signal["phone"] == PHONE
    assert isinstance(signal["invitation"], Invitation)
    assert signal["invitation"].inviter_name == "Alice"

    # Once: the link is dead now, and Alice's list is empty.
    again = invited.get(page)
    assert again.status_code == 404
    assert "no longer valid" in again.text
    assert "Pending invitations" not in owner.get(f"/teams/{team_id}").text


def test_an_existing_account_signs_in_by_code_and_accepts(
    make_team_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_team_app()
    team_id = make_team(app)
    with app.app_context():
        get_state(app).users.create(PHONE, PASSWORD)
        db.session.commit()
    assert invite(alice(app), team_id).status_code == 302
    page, _ = texted_link(sms_outbox)
    invited = app.test_client()
    shown = invited.get(page)
    started = invited.post(f"{page}/sign-in", data={"csrf_token": csrf_of(shown.text)})
    assert started.location.startswith("/auth/sign-in/code/verify?next=")
    verify = invited.get(started.location)
    done = invited.post(
        started.location,
        data={"csrf_token": csrf_of(verify.text), "code": last_code(PHONE, "SignIn")},
    )
    assert done.location == page
    assert accept(invited, page, invited.get(page)).status_code == 302
    assert members(app, team_id)[PHONE] == "member"


def test_signed_in_with_another_number_the_page_says_so_and_offers_to_switch(
    make_team_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_team_app()
    team_id = make_team(app)
    owner = alice(app)
    invite(owner, team_id)
    page, _ = texted_link(sms_outbox)

    # Alice opens the link herself: the invitation is for another number.
    shown = owner.get(page)
    assert shown.status_code == 200
    assert "This invitation is for <strong>+86 138 0013 8000</strong>" in shown.text
    assert "Accept the invitation" not in shown.text
    refused = accept(owner, page, shown)
    assert refused.status_code == 200  # the page again, nothing accepted
    assert members(app, team_id) == {ALICE_PHONE: "owner"}

    # Switching signs her out and shows the way in with the invited number.
    switched = owner.post(f"{page}/switch", data={"csrf_token": csrf_of(shown.text)})
    assert switched.location == page
    after = owner.get(page)
    assert "create an account" in after.text
    assert owner.get("/auth/account").status_code == 302  # signed out


# Tokens that open nothing all answer alike -----------------------------------------------------


def invalid_answer(client: FlaskClient, path: str) -> tuple[int, str]:
    response = client.get(path)
    return response.status_code, response.text


def test_replayed_expired_revoked_and_resent_tokens_answer_alike(
    make_team_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    clock = FakeClock()
    app = make_team_app()
    get_state(app).invitations.clock = clock
    get_state(app).challenges.clock = clock
    team_id = make_team(app)
    owner = alice(app)
    anyone = app.test_client()

    unknown = invalid_answer(anyone, "/auth/invitations/" + "A" * 43)
    assert unknown[0] == 404
    assert invalid_answer(anyone, "/auth/invitations/not-a-token") == unknown

    # Resent away: the first link dies, the second opens it.
    invite(owner, team_id, PHONE)
    first, _ = texted_link(sms_outbox)
    (pending,) = _pending(app)
    with app.test_request_context():
        sms_otp.resend_invitation(pending.id)
    second, _ = texted_link(sms_outbox)
    assert first != second
    assert invalid_answer(anyone, first) == unknown
    assert anyone.get(second).status_code == 200

    # Revoked.
    with app.app_context():
        assert sms_otp.revoke_invitation(pending.id)
        assert not sms_otp.revoke_invitation(pending.id)
    assert invalid_answer(anyone, second) == unknown

    # Expired: open one second before, closed at its end.
    invite(owner, team_id, OTHER_PHONE)
    late, _ = texted_link(sms_outbox, OTHER_PHONE)
    clock.advance(7 * 24 * 3600 - 1)
    assert anyone.get(late).status_code == 200
    clock.advance(1)
    assert invalid_answer(anyone, late) == unknown

    # Replayed: accepted once, then like the others.
    clock.advance(-1)
    fresh = app.test_client()
    shown = fresh.get(late)
    with app.app_context():
        get_state(app).users.create(OTHER_PHONE, PASSWORD)
        db.session.commit()
    assert sign_in_with_password(fresh, OTHER_PHONE).status_code == 302
    assert shown.status_code == 200
    assert accept(fresh, late, fresh.get(late)).status_code == 302
    assert invalid_answer(anyone, late) == unknown
    # A valid form (the account page's token; its flash shown there) and a spent token.
    replayed = accept(fresh, late, fresh.get("/auth/account"))
    assert replayed.status_code == 404
    status, signed_in_page = invalid_answer(fresh, late)
    assert status == 404
    assert without_csrf(replayed.text) == without_csrf(signed_in_page)


def _pending(app: Flask) -> list[Invitation]:
    with app.app_context():
        alice_user = get_state(app).users.by_phone(ALICE_PHONE)
        return sms_otp.pending_invitations(alice_user)


# Budgets and leaks -----------------------------------------------------------------------------


@pytest.mark.real_limits
def test_the_per_inviter_budget_stops_an_account_texting_numbers(
    make_team_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_team_app(
        SMS_OTP_INVITE_LIMIT_PER_INVITER="3/hour", SMS_OTP_SEND_LIMIT_PER_IP="100/hour"
    )
    team_id = make_team(app)
    owner = alice(app)
    numbers = [f"+44740012345{digit}" for digit in range(5)]
    for number in numbers[:3]:
        invite(owner, team_id, number)
    assert len([m for m in sms_outbox if m.usage == "OrganizationInvitation"]) == 3
    refused = invite(owner, team_id, numbers[3])
    assert refused.status_code == 302
    page = owner.get(f"/teams/{team_id}").text
    assert "Too many requests" in page
    assert len([m for m in sms_outbox if m.usage == "OrganizationInvitation"]) == 3
    # A resend is an invitation too.
    with app.test_request_context():
        (first, *_rest) = _pending(app)
        with pytest.raises(RateLimited):
            sms_otp.resend_invitation(first.id)
    assert len(_pending(app)) == 3


@pytest.mark.real_limits
def test_an_invitation_spends_the_numbers_send_budget(
    make_team_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_team_app(SMS_OTP_SEND_LIMIT_PER_NUMBER="2/hour")
    team_id = make_team(app)
    owner = alice(app)
    invite(owner, team_id)
    invite(owner, team_id)
    invite(owner, team_id)  # the number's budget is spent: no third SMS
    assert len([m for m in sms_outbox if m.to == PHONE]) == 2
    assert len(_pending(app)) == 2


def test_no_token_in_the_database_or_the_logs(
    make_team_app: AppFactory, sms_outbox: list[SentSms], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = make_team_app()
    team_id = make_team(app)
    owner = alice(app)
    invite(owner, team_id)
    page, token = texted_link(sms_outbox)
    invited = app.test_client()
    accept(invited, page, sign_up_from(invited, page, sms_outbox))
    assert members(app, team_id)[PHONE] == "member"
    with app.app_context():
        dump = []
        with db.engine.connect() as conn:
            for table in db.metadata.sorted_tables:
                dump += [repr(tuple(row)) for row in conn.execute(sa.select(table))]
    text = "\n".join(dump)
    assert "sms_otp_invitation" in {t.name for t in db.metadata.sorted_tables}
    assert token not in text
    assert token[:16] not in text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "invitation" in logged  # the flow was logged, its token never
    assert token not in logged
    assert token[:16] not in logged


def test_a_failed_send_keeps_no_invitation(
    make_team_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_team_app()
    team_id = make_team(app)
    owner = alice(app)
    get_state(app).connector.fail_next()  # type: ignore[attr-defined]
    invite(owner, team_id)
    assert "could not be sent" in owner.get(f"/teams/{team_id}").text
    assert _pending(app) == []


# The app's code --------------------------------------------------------------------------------


def test_invite_checks_its_arguments(make_team_app: AppFactory) -> None:
    app = make_team_app()
    with app.test_request_context():
        with pytest.raises(TypeError):
            sms_otp.invite(PHONE, data={"when": object()})
        with pytest.raises(ValueError, match="expires_in"):
            sms_otp.invite(PHONE, expires_in=10)
        with pytest.raises(InvitationInvalid):
            sms_otp.resend_invitation("nope")
        invitation = sms_otp.invite(PHONE, inviter_name="  The   Rocket team ", expires_in=3600)
    assert invitation.inviter_name == "The Rocket team"
    assert invitation.inviter_id is None
    assert invitation.url is not None
    assert invitation.url.startswith("http://localhost/auth/invitations/")
    assert (invitation.expires_at - invitation.created_at).total_seconds() == 3600
    with app.app_context():
        assert [i.id for i in sms_otp.pending_invitations()] == [invitation.id]


def run_cli(app: Flask, *args: str) -> Result:
    result = app.test_cli_runner().invoke(args=["sms-otp", *args])
    assert result.exit_code == 0, result.output
    return result


def test_the_cli_lists_and_purges(make_team_app: AppFactory, sms_outbox: list[SentSms]) -> None:
    clock = FakeClock()
    app = make_team_app()
    get_state(app).invitations.clock = clock
    get_state(app).challenges.clock = clock
    team_id = make_team(app)
    assert run_cli(app, "invitations").output == "no pending invitations\n"
    invite(alice(app), team_id)
    (pending,) = _pending(app)
    listed = run_cli(app, "invitations").output
    assert pending.id in listed
    assert "+*********8000" in listed
    assert PHONE not in listed
    assert "pending" in listed
    clock.advance(8 * 24 * 3600)
    assert run_cli(app, "invitations").output == "no pending invitations\n"
    assert "expired" in run_cli(app, "invitations", "--all").output
    assert run_cli(app, "invitations", "purge", "--days", "7").output.startswith("Deleted 0 ")
    assert run_cli(app, "invitations", "purge", "--days", "0").output.startswith("Deleted 1 ")
    assert run_cli(app, "invitations", "--all").output == "no invitations\n"


# Screening: the bot check and the pumping guard ---------------------------------------------


SITE_KEY = "0x4AAAAAAAsitekey"
CAPTCHA_SECRET = "0x4AAAAAAAsecret-never-shown"
GOOD = "a-token-the-fake-accepts"


def test_the_bot_check_applies_to_invitations(
    make_app: AppFactory, httpserver: HTTPServer, sms_outbox: list[SentSms]
) -> None:
    siteverify = Siteverify(httpserver, CAPTCHA_SECRET, GOOD)
    app = make_app(
        SMS_OTP_CAPTCHA={
            "provider": "turnstile",
            "site_key": SITE_KEY,
            "secret": CAPTCHA_SECRET,
            "when": "always",
            "endpoint": siteverify.url,
        }
    )
    invitations = get_state(app).invitations
    with app.test_request_context():
        with pytest.raises(CaptchaFailed):
            invitations.invite(PHONE)
        with pytest.raises(CaptchaFailed):
            invitations.invite(PHONE, captcha_token="a-bot's-guess")
        assert sms_outbox == []
        assert invitations.pending() == []
        invitations.invite(PHONE, captcha_token=GOOD)
    assert [m.usage for m in sms_outbox] == ["OrganizationInvitation"]
    assert [form["response"] for form in siteverify.forms] == [["a-bot's-guess"], [GOOD]]


def test_a_pumping_guard_hold_stops_invitations_there(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    clock = FakeClock()
    app = make_app(clock=clock)
    state = get_state(app)
    assert state.guard is not None
    with app.app_context(), state.db.engine.begin() as conn:
        conn.execute(
            sa.insert(state.models.GuardHold).values(
                scope="country",
                key="CN",
                country="CN",
                label="CN",
                sent=20,
                verified=0,
                baseline=0.8,
                held_at=clock(),
                until=clock() + timedelta(hours=2),
            )
        )
    with app.test_request_context():
        with pytest.raises(SendsHeld):
            state.invitations.invite(PHONE)  # a Chinese number: held
        state.invitations.invite(OTHER_PHONE)  # a British one: not
    assert [m.to for m in sms_outbox] == [OTHER_PHONE]


def test_posts_without_a_form_token_or_with_a_dead_link_change_nothing(
    make_team_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_team_app()
    team_id = make_team(app)
    invite(alice(app), team_id)
    page, _ = texted_link(sms_outbox)
    texted = len(sms_outbox)
    invited = app.test_client()
    for action in ("sign-up", "sign-in", "switch", "accept"):
        refused = invited.post(f"{page}/{action}")
        assert refused.status_code == 400, action  # the app's CSRFProtect, or the page's
    assert len(sms_outbox) == texted  # no code went out
    shown = invited.get(page)
    dead = "/auth/invitations/" + "B" * 43
    for action in ("sign-up", "sign-in", "accept"):
        answer = invited.post(f"{dead}/{action}", data={"csrf_token": csrf_of(shown.text)})
        assert answer.status_code in (302, 404), action
        if answer.status_code == 302:  # accept, not signed in: back to the (dead) page
            assert answer.location == dead
    assert len(sms_outbox) == texted
    assert invited.get(page).status_code == 200  # still open


def test_the_text_and_the_page_in_simplified_chinese(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app(**{"SMS_OTP_SECURE_COOKIES": False})
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        invitation = get_state(app).invitations.invite(PHONE, inviter_name="小明")
    (sms,) = sms_outbox
    assert sms.text == f"小明 邀请了您。打开此链接即可接受：{invitation.url}"
    assert invitation.url is not None
    page = app.test_client().get(
        invitation.url.removeprefix("http://localhost"), headers={"Accept-Language": "zh-CN"}
    )
    assert page.status_code == 200
    assert "您收到了邀请" in page.text
    assert "小明 邀请了 <strong>+86 138 0013 8000</strong>。" in page.text
    assert "我是新用户：创建账户" in page.text


def test_a_test_send_of_the_invitation_usage_leaves_no_placeholder(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app()
    run_cli(app, "send-test", PHONE, "--usage", "OrganizationInvitation")
    (sms,) = sms_outbox
    assert sms.text == f"You are invited. Open this link to accept: {sms.code}"


def test_a_send_that_may_have_left_keeps_its_invitation(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app()
    state = get_state(app)
    lost = ProviderUnavailable("read timeout", connector="memory", maybe_sent=True)
    state.connector.fail_next(lost)  # type: ignore[attr-defined]
    with app.test_request_context():
        with pytest.raises(DeliveryError):
            state.invitations.invite(PHONE)
        (kept,) = state.invitations.pending()  # to resend or revoke
        state.connector.fail_next()  # type: ignore[attr-defined]
        with pytest.raises(DeliveryError):
            state.invitations.invite(OTHER_PHONE)  # refused: nothing left, nothing kept
        assert [each.id for each in state.invitations.pending()] == [kept.id]


def test_outside_a_request_without_server_name_nothing_is_spent(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app(SMS_OTP_INVITE_LIMIT_PER_INVITER="1/hour")
    state = get_state(app)
    with app.app_context():
        with pytest.raises(RuntimeError):
            state.invitations.invite(PHONE)
        assert state.invitations.pending() == []
    app.config["SERVER_NAME"] = "app.example"
    with app.app_context():
        sent = state.invitations.invite(PHONE)  # the budget of one is still there
    assert sent.url is not None
    assert sent.url.startswith("http://app.example/auth/invitations/")
    assert sms_outbox[-1].variables["link"] == sent.url


def test_the_team_page_resends_and_revokes_only_its_own_invitations(
    make_team_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_team_app()
    team_id = make_team(app)
    owner = alice(app)
    invite(owner, team_id)
    first, _ = texted_link(sms_outbox)
    (pending,) = _pending(app)
    shown = owner.get(f"/teams/{team_id}")
    assert "Pending invitations" in shown.text
    base = f"/teams/{team_id}/invitations/{pending.id}"
    assert owner.post(f"{base}/resend", data={"csrf_token": csrf_of(shown.text)}).status_code == 302
    second, _ = texted_link(sms_outbox)
    assert second != first
    assert app.test_client().get(first).status_code == 404
    assert app.test_client().get(second).status_code == 200

    # Bob, a member of a team of his own, cannot touch Alice's invitation.
    with app.app_context():
        bob = get_state(app).users.create(OTHER_PHONE, PASSWORD)
        db.session.add(Team(id=99, name="Bob's"))
        db.session.flush()
        db.session.add(Membership(team_id=99, user_id=bob.id, role="owner"))
        db.session.commit()
    other = app.test_client()
    assert sign_in_with_password(other, OTHER_PHONE).status_code == 302
    token = csrf_of(other.get("/teams/99").text)
    for action in ("resend", "revoke"):
        answer = other.post(
            f"/teams/99/invitations/{pending.id}/{action}", data={"csrf_token": token}
        )
        assert answer.status_code == 404
    assert app.test_client().get(second).status_code == 200

    assert owner.post(f"{base}/revoke", data={"csrf_token": csrf_of(shown.text)}).status_code == 302
    assert app.test_client().get(second).status_code == 404
    assert "Pending invitations" not in owner.get(f"/teams/{team_id}").text


def test_every_state_of_the_page_is_accessible(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_app(SMS_OTP_SECURE_COOKIES=False)
    create_user(app, US_PHONE)
    create_user(app, PHONE)
    with app.test_request_context():
        invitation = get_state(app).invitations.invite(PHONE, inviter_name="Alice")
    assert invitation.url is not None
    page = invitation.url.removeprefix("http://localhost")
    client = app.test_client()
    confirm = client.get(page)
    assert "Alice invited <strong>+86 138 0013 8000</strong>." in confirm.text
    pages = [confirm]
    assert sign_in_with_password(client, US_PHONE).status_code == 302
    pages.append(client.get(page))  # another number
    client.post(f"{page}/switch", data={"csrf_token": csrf_of(pages[-1].text)})
    assert sign_in_with_password(client, PHONE).status_code == 302
    pages.append(client.get(page))  # the invited number
    pages.append(client.get("/auth/invitations/" + "C" * 43))  # a dead link
    assert [shown.status_code for shown in pages] == [200, 200, 200, 404]
    assert "create an account" in pages[0].text
    assert "you are signed in with your phone ending in 0123" in pages[1].text
    assert "Accept the invitation" in pages[2].text
    for shown in pages:
        check_accessible(shown.text)
