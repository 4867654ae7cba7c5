"""Server-side sessions through the JSON API (security.md §9, check 37): a cookie captured
before sign-out, a password reset or change authenticates nothing afterwards; the user sees
their sessions (browser, system, address, times) and ends one or all others.

"Captured" is a second client given a copy of the victim's session cookie, as a thief with
the cookie would be."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_login import current_user

from flask_sms_otp.sessions import SID
from flask_sms_otp.state import get_state
from flask_sms_otp.testing import SentSms

from ..helpers import (
    CHROME_ON_WINDOWS,
    FIREFOX_ON_LINUX,
    OTHER_PHONE,
    PASSWORD,
    PHONE,
    SAFARI_ON_IPHONE,
    ApiClient,
    AppFactory,
    FakeClock,
    create_user,
    error_code,
    last_code,
)

NEW_PASSWORD = "a brand new passphrase"


def captured(client: ApiClient, *, ip: str = "198.51.100.66") -> ApiClient:
    """Another user agent, elsewhere, holding a copy of ``client``'s session cookie."""
    cookie = client.http.get_cookie("session")
    assert cookie is not None
    thief = ApiClient(client.app, ip=ip)
    thief.http.set_cookie("session", cookie.value)
    return thief


def browser(app: Flask, user_agent: str, ip: str) -> ApiClient:
    client = ApiClient(app, ip=ip)
    client.http.environ_base["HTTP_USER_AGENT"] = user_agent
    return client


def sessions_of(client: ApiClient) -> list[dict[str, Any]]:
    response = client.get("/account/sessions")
    assert response.status_code == 200, response.get_json()
    listed = response.get_json()["sessions"]
    assert isinstance(listed, list)
    return listed


def rows(app: Flask) -> list[Any]:
    """Every session record, oldest first."""
    with app.app_context():
        state = get_state(app)
        table = state.models.SessionRecord.__table__  # type: ignore[attr-defined]
        with state.db.engine.connect() as conn:
            return list(conn.execute(sa.select(table).order_by(table.c.created_at)).all())


@pytest.fixture
def site(make_app: AppFactory, database_uri: str, clock: FakeClock) -> Flask:
    """The app, with one user (PHONE). Not named ``app``: pytest-flask would keep one request
    context, and so one ``g`` (Flask-Login's cached user), around every request of a test."""
    app = make_app(clock=clock, SQLALCHEMY_DATABASE_URI=database_uri)
    create_user(app, PHONE)
    return app


# Sign-out, reset, change: captured cookies die --------------------------------------------


def test_a_cookie_captured_before_sign_out_authenticates_nothing_after(site: Flask) -> None:
    owner = ApiClient(site)
    assert owner.sign_in_password(PHONE).status_code == 200
    thief = captured(owner)
    assert thief.signed_in_phone() == PHONE  # the copy works while the session lives

    assert owner.post("/sign-out").status_code == 204

    assert thief.signed_in_phone() is None
    assert thief.get("/account/sessions").status_code == 401
    assert owner.signed_in_phone() is None
    [record] = rows(site)
    assert record.ended_at is not None


def test_a_password_reset_ends_every_session_and_every_copy(
    site: Flask, sms_outbox: list[SentSms]
) -> None:
    phone, laptop = ApiClient(site), ApiClient(site)
    assert phone.sign_in_password(PHONE).status_code == 200
    assert laptop.sign_in_password(PHONE).status_code == 200
    copies = [captured(phone), captured(laptop)]
    assert all(copy.signed_in_phone() == PHONE for copy in copies)

    stranger = ApiClient(site)
    vid = stranger.request_code(PHONE, "ForgotPassword")
    body = {"verification_id": vid, "code": last_code(), "password": NEW_PASSWORD}
    assert stranger.post("/reset-password", body).status_code == 204

    for client in [phone, laptop, *copies]:
        assert client.signed_in_phone() is None
    assert all(record.ended_at is not None for record in rows(site))


def test_a_password_change_ends_every_other_session_and_every_copy(site: Flask) -> None:
    here, elsewhere = ApiClient(site), ApiClient(site)
    assert here.sign_in_password(PHONE).status_code == 200
    assert elsewhere.sign_in_password(PHONE).status_code == 200
    [here_before] = [s for s in sessions_of(here) if s["current"]]
    copy_of_here, copy_of_elsewhere = captured(here), captured(elsewhere)
    assert copy_of_here.signed_in_phone() == copy_of_elsewhere.signed_in_phone() == PHONE

    assert here.post("/verify-identity", {"password": PASSWORD}).status_code == 200
    assert here.put("/account/password", {"password": NEW_PASSWORD}).status_code == 204

    # This session carries on, as the same device, under a new token: even a copy of its
    # own cookie from before the change is dead.
    assert here.signed_in_phone() == PHONE
    assert [s["id"] for s in sessions_of(here)] == [here_before["id"]]
    for client in (elsewhere, copy_of_here, copy_of_elsewhere):
        assert client.signed_in_phone() is None


def test_signing_in_again_ends_the_session_this_browser_had(site: Flask) -> None:
    """Whoever signs in on a browser replaces its session: a copy of the earlier cookie is
    not left signed in."""
    client = ApiClient(site)
    assert client.sign_in_password(PHONE).status_code == 200
    earlier = captured(client)
    assert client.sign_in_password(PHONE).status_code == 200
    assert earlier.signed_in_phone() is None
    assert client.signed_in_phone() == PHONE
    assert len(sessions_of(client)) == 1


# The sessions list ---------------------------------------------------------------------------


def test_the_list_shows_browser_system_address_and_times(site: Flask, clock: FakeClock) -> None:
    desktop = browser(site, CHROME_ON_WINDOWS, "203.0.113.7")
    assert desktop.sign_in_password(PHONE).status_code == 200
    clock.advance(300)
    iphone = browser(site, SAFARI_ON_IPHONE, "2001:db8::1")
    assert iphone.sign_in_password(PHONE).status_code == 200
    clock.advance(120)

    listed = sessions_of(desktop)

    assert [(s["browser"], s["os"], s["current"]) for s in listed] == [
        ("Chrome 124", "Windows 10", True),
        ("Mobile Safari 17", "iOS 17.4", False),
    ]
    mine, other = listed
    assert set(mine) == {"id", "browser", "os", "ip", "signed_in_at", "last_seen_at", "current"}
    assert (mine["ip"], mine["signed_in_at"]) == ("203.0.113.7", "2026-01-01T12:00:00Z")
    assert mine["last_seen_at"] == "2026-01-01T12:07:00Z"  # this very request
    assert (other["ip"], other["signed_in_at"], other["last_seen_at"]) == (
        "2001:db8::1",
        "2026-01-01T12:05:00Z",
        "2026-01-01T12:05:00Z",
    )
    # The other device sees the same two, itself marked.
    assert [(s["id"], s["current"]) for s in sessions_of(iphone)] == [
        (other["id"], True),
        (mine["id"], False),
    ]
    # The public id is not the secret the cookie carries.
    with desktop.http.session_transaction() as session:
        assert mine["id"] not in session[SID]
        assert session[SID] not in mine["id"]


def test_last_seen_is_written_at_most_once_a_minute(site: Flask, clock: FakeClock) -> None:
    client = browser(site, CHROME_ON_WINDOWS, "203.0.113.7")
    assert client.sign_in_password(PHONE).status_code == 200
    clock.advance(59)
    assert client.signed_in_phone() == PHONE
    assert rows(site)[0].last_seen_at.replace(tzinfo=None).isoformat() == "2026-01-01T12:00:00"
    clock.advance(1)
    moved = captured(client, ip="192.0.2.9")
    moved.http.environ_base["HTTP_USER_AGENT"] = FIREFOX_ON_LINUX
    assert moved.signed_in_phone() == PHONE
    [record] = sessions_of(moved)
    assert record["last_seen_at"] == "2026-01-01T12:01:00Z"
    # Where and with what it was last seen: a thief using the cookie shows up in the list.
    assert (record["ip"], record["browser"], record["os"]) == ("192.0.2.9", "Firefox 125", "Linux")


def test_ending_one_session_from_the_list(site: Flask) -> None:
    mine, lost_phone = ApiClient(site), ApiClient(site)
    assert mine.sign_in_password(PHONE).status_code == 200
    assert lost_phone.sign_in_password(PHONE).status_code == 200
    thief = captured(lost_phone)
    [other] = [s for s in sessions_of(mine) if not s["current"]]

    assert mine.delete(f"/account/sessions/{other['id']}").status_code == 204

    assert lost_phone.signed_in_phone() is None
    assert thief.signed_in_phone() is None
    assert [s["current"] for s in sessions_of(mine)] == [True]
    again = mine.delete(f"/account/sessions/{other['id']}")
    assert (again.status_code, error_code(again)) == (404, "session_not_found")


def test_ending_every_other_session(site: Flask) -> None:
    mine = ApiClient(site)
    others = [ApiClient(site) for _ in range(3)]
    assert mine.sign_in_password(PHONE).status_code == 200
    for other in others:
        assert other.sign_in_password(PHONE).status_code == 200
    copies = [captured(other) for other in others]
    assert len(sessions_of(mine)) == 4

    assert mine.delete("/account/sessions").status_code == 204

    assert all(client.signed_in_phone() is None for client in [*others, *copies])
    assert [s["current"] for s in sessions_of(mine)] == [True]
    assert mine.signed_in_phone() == PHONE


def test_ending_this_session_from_the_list_signs_out(site: Flask) -> None:
    client = ApiClient(site)
    assert client.sign_in_password(PHONE).status_code == 200
    copy = captured(client)
    [this] = sessions_of(client)
    assert client.delete(f"/account/sessions/{this['id']}").status_code == 204
    assert client.signed_in_phone() is None
    assert copy.signed_in_phone() is None


def test_another_users_session_answers_like_an_unknown_one(site: Flask) -> None:
    create_user(site, OTHER_PHONE)
    victim, attacker = ApiClient(site), ApiClient(site)
    assert victim.sign_in_password(PHONE).status_code == 200
    assert attacker.sign_in_password(OTHER_PHONE).status_code == 200
    [victims] = sessions_of(victim)

    foreign = attacker.delete(f"/account/sessions/{victims['id']}")
    unknown = attacker.delete("/account/sessions/no-such-session")

    assert (foreign.status_code, error_code(foreign)) == (404, "session_not_found")
    assert foreign.get_json() == unknown.get_json()
    assert victim.signed_in_phone() == PHONE
    assert [s["id"] for s in sessions_of(attacker)] != [victims["id"]]
    assert attacker.delete("/account/sessions").status_code == 204  # ends only the attacker's
    assert victim.signed_in_phone() == PHONE


def test_the_session_endpoints_need_a_signed_in_session_and_csrf(site: Flask) -> None:
    anonymous = ApiClient(site)
    for method, path in [
        ("GET", "/account/sessions"),
        ("DELETE", "/account/sessions"),
        ("DELETE", "/account/sessions/anything"),
    ]:
        response = anonymous.open(method, path)
        assert (response.status_code, error_code(response)) == (401, "unauthorized"), path
    client = ApiClient(site)
    assert client.sign_in_password(PHONE).status_code == 200
    [this] = sessions_of(client)
    forged = client.delete(f"/account/sessions/{this['id']}", csrf=False)
    assert (forged.status_code, error_code(forged)) == (400, "csrf_failed")
    assert client.delete("/account/sessions", csrf="forged").status_code == 400
    assert client.signed_in_phone() == PHONE


# The check on every request -----------------------------------------------------------------


@pytest.mark.parametrize("how", ["ended", "deleted"])
def test_a_gone_record_signs_the_session_out_before_the_apps_code_runs(
    make_app: AppFactory, database_uri: str, how: str
) -> None:
    site = make_app(SQLALCHEMY_DATABASE_URI=database_uri)
    seen: list[tuple[str, bool]] = []

    @site.before_request
    def app_hook() -> None:
        seen.append(("hook", current_user.is_authenticated))

    @site.get("/whoami")
    def whoami() -> str:
        seen.append(("view", current_user.is_authenticated))
        return "ok"

    create_user(site, PHONE)
    client = ApiClient(site)
    assert client.sign_in_password(PHONE).status_code == 200
    assert client.http.get("/whoami").status_code == 200
    assert seen[-2:] == [("hook", True), ("view", True)]

    with site.app_context():
        state = get_state(site)
        table = state.models.SessionRecord.__table__  # type: ignore[attr-defined]
        with state.db.engine.begin() as conn:
            if how == "ended":
                conn.execute(sa.update(table).values(ended_at=sa.func.current_timestamp()))
            else:
                conn.execute(sa.delete(table))

    assert client.http.get("/whoami").status_code == 200
    assert seen[-2:] == [("hook", False), ("view", False)]
    with client.http.session_transaction() as session:
        assert "_user_id" not in session
        assert SID not in session
    assert client.signed_in_phone() is None


def test_a_session_signed_in_before_records_were_kept_is_adopted(site: Flask) -> None:
    """A session cookie from before this version: signed in, but with no record."""
    user_id = create_user(site, OTHER_PHONE)
    client = ApiClient(site)
    with client.http.session_transaction() as session:
        session["_user_id"] = user_id
        session["_fresh"] = True
    assert client.signed_in_phone() == OTHER_PHONE
    [adopted] = sessions_of(client)
    assert adopted["current"] is True
    # From now on it is a session like any other: ending it ends every copy.
    copy = captured(client)
    assert client.post("/sign-out").status_code == 204
    assert copy.signed_in_phone() is None


def test_sign_up_and_code_sign_in_get_records_too(site: Flask, sms_outbox: list[SentSms]) -> None:
    newcomer = ApiClient(site)
    vid = newcomer.request_code(OTHER_PHONE, "Register")
    signed_up = newcomer.post("/sign-up", {"verification_id": vid, "code": last_code()})
    assert signed_up.status_code == 201
    by_code = ApiClient(site)
    assert by_code.sign_in_by_code(PHONE, sms_outbox).status_code == 200
    for client in (newcomer, by_code):
        [record] = sessions_of(client)
        assert record["current"] is True
        thief = captured(client)
        assert client.post("/sign-out").status_code == 204
        assert thief.signed_in_phone() is None
