"""The sessions on the account page: listed per device, ended one by one or all but this one;
a copied cookie dies with its session."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from ..helpers import (
    CHROME_ON_WINDOWS,
    SAFARI_ON_IPHONE,
    FakeClock,
    add_user,
    csrf_of,
    sign_in_with_password,
    signed_in,
    submit,
    verify_with_password,
)
from .helpers import NEW_PASSWORD, OTHER, check_accessible, copy_of, without_csrf

END_SESSION = re.compile(r'action="(/auth/account/sessions/[^"/]+/end)"')


def device(site: Flask, user_agent: str, ip: str) -> FlaskClient:
    client = site.test_client()
    client.environ_base.update(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
    return client


def session_items(html: str) -> list[str]:
    """The text of each entry of the sessions list, spaces collapsed."""
    listed = html.split('<ul class="sessions"', 1)[1].split("</ul>", 1)[0]
    items = re.findall(r"<li>(.*?)</li>", listed, re.DOTALL)
    return [" ".join(re.sub(r"<[^>]+>", "", item).split()) for item in items]


def test_a_cookie_copied_before_sign_out_authenticates_nothing_after(
    site: Flask, visitor: FlaskClient, member: Any
) -> None:
    sign_in_with_password(visitor)
    thief = copy_of(site, visitor)
    assert signed_in(thief)
    done = submit(visitor, "/auth/account", {}, to="/auth/sign-out")
    assert (done.status_code, done.location) == (302, "/")
    assert not signed_in(thief)
    assert not signed_in(visitor)


def test_a_password_change_on_the_page_ends_every_other_session_and_copy(
    site: Flask, member: Any
) -> None:
    here, elsewhere = site.test_client(), site.test_client()
    sign_in_with_password(here)
    sign_in_with_password(elsewhere)
    copies = [copy_of(site, here), copy_of(site, elsewhere)]
    verify_with_password(here)
    changed = submit(here, "/auth/account/password", {"password": NEW_PASSWORD})
    assert changed.location == "/auth/account"
    assert signed_in(here)
    assert not any(signed_in(client) for client in [elsewhere, *copies])


def test_the_account_page_lists_the_sessions(site: Flask, member: Any, clock: FakeClock) -> None:
    desktop = device(site, CHROME_ON_WINDOWS, "203.0.113.7")
    sign_in_with_password(desktop)
    clock.advance(300)
    iphone = device(site, SAFARI_ON_IPHONE, "198.51.100.20")
    sign_in_with_password(iphone)
    clock.advance(120)

    page = desktop.get("/auth/account")

    assert page.status_code == 200
    check_accessible(page.text)
    assert session_items(page.text) == [
        "Chrome 124 on Windows 10 (this device) IP address 203.0.113.7 "
        "Signed in Jan 1, 2026, 12:00:00 PM Last seen Jan 1, 2026, 12:07:00 PM Sign out",
        "Mobile Safari 17 on iOS 17.4 IP address 198.51.100.20 "
        "Signed in Jan 1, 2026, 12:05:00 PM Last seen Jan 1, 2026, 12:05:00 PM Sign out",
    ]
    assert '<time datetime="2026-01-01T12:00:00+00:00">' in page.text
    assert "Sign out everywhere else" in page.text
    # Alone, there is nobody else to sign out.
    add_user(site, OTHER)
    alone = site.test_client()
    sign_in_with_password(alone, phone=OTHER)
    assert "Sign out everywhere else" not in alone.get("/auth/account").text
    assert session_items(alone.get("/auth/account").text)[0].startswith(
        "Unknown browser on an unknown system (this device)"
    )


def test_ending_sessions_from_the_account_page(site: Flask, member: Any) -> None:
    mine, lost, old = site.test_client(), site.test_client(), site.test_client()
    for client in (mine, lost, old):
        sign_in_with_password(client)
    thief = copy_of(site, lost)
    page = mine.get("/auth/account")
    this_one, *others = END_SESSION.findall(page.text)
    assert len(others) == 2

    ended = mine.post(others[0], data={"csrf_token": csrf_of(page.text)})
    assert (ended.status_code, ended.location) == (302, "/auth/account")
    assert "That session was signed out." in mine.get(ended.location).text
    assert [signed_in(c) for c in (mine, lost, old, thief)].count(True) == 2

    page = mine.get("/auth/account")
    everywhere = submit(mine, "/auth/account", {}, to="/auth/account/sessions/end-others")
    assert everywhere.location == "/auth/account"
    assert "Every other session was signed out." in mine.get("/auth/account").text
    assert [signed_in(c) for c in (mine, lost, old, thief)] == [True, False, False, False]

    page = mine.get("/auth/account")
    assert END_SESSION.findall(page.text) == [this_one]
    out = mine.post(this_one, data={"csrf_token": csrf_of(page.text)})
    assert (out.status_code, out.location) == (302, "/auth/sign-in")
    assert "You signed out on this device." in mine.get(out.location).text
    assert not signed_in(mine)


def test_ending_a_session_needs_csrf_and_ones_own_session(site: Flask, member: Any) -> None:
    victim, attacker = site.test_client(), site.test_client()
    sign_in_with_password(victim)
    add_user(site, OTHER)
    sign_in_with_password(attacker, phone=OTHER)
    [victims] = END_SESSION.findall(victim.get("/auth/account").text)

    forged = victim.post(victims, data={"csrf_token": "forged"})
    assert forged.status_code == 400
    assert "The form has expired or was not sent from this site." in forged.text
    assert signed_in(victim)

    page = attacker.get("/auth/account")
    foreign = attacker.post(victims, data={"csrf_token": csrf_of(page.text)})
    unknown = attacker.post(
        "/auth/account/sessions/no-such-session/end", data={"csrf_token": csrf_of(page.text)}
    )
    assert foreign.status_code == unknown.status_code == 404
    assert "This session does not exist or has already ended." in foreign.text
    assert without_csrf(foreign.text) == without_csrf(unknown.text)
    assert signed_in(victim)
