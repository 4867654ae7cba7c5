"""Invitations through the JSON API, on the team example (examples/team_app), on SQLite and
PostgreSQL: read the invitation, sign up with its number, accept; and what wrong numbers,
strangers and spent tokens get."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from examples.team_app import Membership, Team, User, db, sms_otp
from flask_sms_otp import Invitation, invitation_accepted
from flask_sms_otp.state import get_state
from flask_sms_otp.testing import SentSms

from ..helpers import (
    OTHER_PHONE,
    PASSWORD,
    PHONE,
    US_PHONE,
    ApiClient,
    AppFactory,
    FakeClock,
    error_code,
    last_code,
)

LINK = re.compile(r"/auth/invitations/([A-Za-z0-9_-]{43})")
DATA = {"team_id": 1, "team": "Rocket", "role": "member"}
INVITATION_KEYS = {"id", "phone", "inviter_name", "data", "expires_at", "accepted_at"}


def team_with_invitation(app: Flask, sms_outbox: list[SentSms], phone: str = PHONE) -> str:
    """Alice's team Rocket, and her invitation of ``phone`` to it; returns the texted token."""
    with app.app_context():
        alice = get_state(app).users.create(US_PHONE, PASSWORD)
        alice.name = "Alice"
        db.session.add(Team(id=1, name="Rocket"))
        db.session.flush()
        db.session.add(Membership(team_id=1, user_id=alice.id, role="owner"))
        db.session.commit()
    return invite(app, sms_outbox, phone)


def invite(app: Flask, sms_outbox: list[SentSms], phone: str = PHONE) -> str:
    with app.test_request_context():
        alice = get_state(app).users.by_phone(US_PHONE)
        sms_otp.invite(phone, invited_by=alice, data=DATA)
    found = LINK.search(sms_outbox[-1].text)
    assert found is not None
    return found.group(1)


def members(app: Flask) -> dict[str, str]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(User.phone, Membership.role).join(Membership, Membership.user_id == User.id)
        ).all()
        return {str(phone): role for phone, role in rows}


def test_read_sign_up_with_the_number_and_accept(
    make_team_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_team_app()
    token = team_with_invitation(app, sms_outbox)
    received: list[dict[str, Any]] = []

    def receiver(_app: Flask, **kwargs: Any) -> None:
        received.append({**kwargs, "phone": kwargs["user"].phone})

    client = ApiClient(app)
    shown = client.get(f"/invitations/{token}")
    assert shown.status_code == 200
    invitation = shown.get_json()["invitation"]
    assert set(invitation) == INVITATION_KEYS
    assert invitation["phone"] == PHONE
    assert invitation["inviter_name"] == "Alice"
    assert invitation["data"] == DATA
    assert invitation["accepted_at"] is None

    # Not signed in: the link proves nothing.
    assert error_code(client.post(f"/invitations/{token}/accept")) == "unauthorized"

    # Sign up with the invited number (the existing endpoints), then accept.
    vid = client.request_code(invitation["phone"], "Register")
    signed_up = client.post(
        "/sign-up", {"verification_id": vid, "code": last_code(PHONE, "Register")}
    )
    assert signed_up.status_code == 201
    with invitation_accepted.connected_to(receiver):
        accepted = client.post(f"/invitations/{token}/accept")
    assert accepted.status_code == 200
    body = accepted.get_json()["invitation"]
    assert body["id"] == invitation["id"]
    assert body["accepted_at"] is not None
    (signal,) = received
    assert signal["data"] == DATA
    assert signal["phone"] == PHONE
    assert isinstance(signal["invitation"], Invitation)
    assert members(app) == {US_PHONE: "owner", PHONE: "member"}  # the example's handler

    # Once.
    again = client.post(f"/invitations/{token}/accept")
    assert again.status_code == 404
    assert error_code(again) == "invitation_invalid"
    assert len(received) == 1


def test_another_number_is_refused_and_the_invitation_stays_open(
    make_team_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_team_app()
    token = team_with_invitation(app, sms_outbox)
    alice = ApiClient(app)
    assert alice.sign_in_password(US_PHONE).status_code == 200
    refused = alice.post(f"/invitations/{token}/accept")
    assert refused.status_code == 403
    assert error_code(refused) == "invitation_wrong_phone"
    assert members(app) == {US_PHONE: "owner"}
    assert alice.get(f"/invitations/{token}").status_code == 200  # still open

    # The invited number, signed up, accepts what Alice could not.
    invited = ApiClient(app)
    vid = invited.request_code(PHONE, "Register")
    code = last_code(PHONE, "Register")
    assert invited.post("/sign-up", {"verification_id": vid, "code": code}).status_code == 201
    assert invited.post(f"/invitations/{token}/accept").status_code == 200
    assert members(app)[PHONE] == "member"


def test_every_token_that_opens_nothing_answers_alike(
    make_team_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    clock = FakeClock()
    app = make_team_app()
    get_state(app).invitations.clock = clock
    token = team_with_invitation(app, sms_outbox)
    client = ApiClient(app)

    def answer(value: str) -> tuple[int, Any]:
        response = client.get(f"/invitations/{value}")
        return response.status_code, response.get_json()

    unknown = answer("A" * 43)
    assert unknown[0] == 404
    assert unknown[1]["error"]["code"] == "invitation_invalid"
    for malformed in ("x", "A" * 42, "A" * 44, "%00" * 20, "é" * 43, "A" * 5000):
        assert answer(malformed) == unknown, malformed

    # Resent away.
    (pending,) = _pending(app)
    with app.test_request_context():
        sms_otp.resend_invitation(pending.id)
    resent = LINK.search(sms_outbox[-1].text)
    assert resent is not None
    assert answer(token) == unknown
    assert answer(resent.group(1))[0] == 200
    # Revoked.
    with app.app_context():
        assert sms_otp.revoke_invitation(pending.id)
    assert answer(resent.group(1)) == unknown
    # Expired.
    late = invite(app, sms_outbox, OTHER_PHONE)
    clock.advance(7 * 24 * 3600)
    assert answer(late) == unknown


def _pending(app: Flask) -> list[Invitation]:
    with app.app_context():
        return sms_otp.pending_invitations(get_state(app).users.by_phone(US_PHONE))


def test_concurrent_acceptances_accept_once(
    make_team_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    app = make_team_app()
    token = team_with_invitation(app, sms_outbox)
    with app.app_context():
        get_state(app).users.create(PHONE, PASSWORD)
        db.session.commit()
    clients = [ApiClient(app) for _ in range(6)]
    for client in clients:
        assert client.sign_in_password(PHONE).status_code == 200
        client.fetch_csrf()
    received: list[object] = []
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def accept(client: ApiClient) -> None:
        barrier.wait()
        statuses.append(client.post(f"/invitations/{token}/accept").status_code)

    with invitation_accepted.connected_to(lambda _app, **kwargs: received.append(kwargs)):
        threads = [threading.Thread(target=accept, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert sorted(statuses) == [200] + [404] * (len(clients) - 1)
    assert len(received) == 1
    assert members(app)[PHONE] == "member"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_accept_takes_only_post(make_team_app: AppFactory, method: str) -> None:
    app = make_team_app()
    client = ApiClient(app)
    assert client.open(method, f"/invitations/{'A' * 43}/accept").status_code == 405
