"""What only the HTML page tests share: their numbers, reading pages (accessibility, errors,
cookies) and copies of a session; the rest is in ``tests.helpers``."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from flask_sms_otp.sessions import FLOW
from flask_sms_otp.state import get_state

from ..helpers import CSRF_INPUT, US_PHONE

KNOWN = US_PHONE
UNKNOWN = "+12015550124"
OTHER = "+12015550125"
NEW_PASSWORD = "staple battery horse"


def without_csrf(html: str) -> str:
    return CSRF_INPUT.sub('<input name="csrf_token" type="hidden" value="">', html)


def neutral(html: str, phone: str) -> str:
    """The page with its CSRF token and the number typed (as typed and as shown) blanked."""
    shown = f"+1 {phone[2:5]}-{phone[5:8]}-{phone[8:]}"
    return without_csrf(html).replace(phone, "P").replace(shown, "P")


def cookie_names(response: TestResponse) -> set[str]:
    return {value.split("=", 1)[0] for value in response.headers.getlist("Set-Cookie")}


def flow_id(client: FlaskClient) -> str:
    with client.session_transaction() as session:
        return str(session[FLOW]["vid"])


def user_row(app: Flask, user_id: Any) -> Any:
    with app.app_context():
        user = get_state(app).users.get(user_id)
        get_state(app).users.db.session.expunge(user)
        return user


class Page(HTMLParser):
    """What the accessibility checks need from a page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.inputs: list[dict[str, str | None]] = []
        self.labels: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        self.headings: list[str] = []
        self._label_for: str | None = None
        self._in_h1 = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids[str(values["id"])] = tag
        if tag == "input":
            self.inputs.append(values)
        elif tag == "label":
            self._label_for = values.get("for")
            if self._label_for:
                self.labels[self._label_for] = ""
        elif tag == "h1":
            self._in_h1 = True
            self.headings.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._label_for = None
        elif tag == "h1":
            self._in_h1 = False

    def handle_data(self, data: str) -> None:
        if self._label_for:
            self.labels[self._label_for] += data.strip()
        if self._in_h1:
            self.headings[-1] += data.strip()

    def field(self, name: str) -> dict[str, str | None]:
        found = [i for i in self.inputs if i.get("name") == name]
        assert len(found) == 1, f"{len(found)} inputs named {name}"
        return found[0]

    def error_of(self, name: str) -> str:
        """The text of the error a field's aria-describedby points to."""
        described = (self.field(name).get("aria-describedby") or "").split()
        errors = [i for i in described if i.endswith("-error")]
        assert errors, f"{name} has no error linked by aria-describedby"
        assert errors[0] in self.ids
        return errors[0]


def error_text(html: str, name: str) -> str:
    error_id = Page(html).error_of(name)
    found = re.search(rf'id="{error_id}">([^<]*)<', html)
    assert found is not None
    return found.group(1)


def check_accessible(html: str) -> None:
    page = Page(html)
    assert len(page.headings) == 1, "one clear heading per page"
    assert page.headings[0]
    for field in page.inputs:
        if field.get("type") == "hidden":
            assert field.get("id") is None  # several forms on a page: no duplicate ids
            continue
        assert field.get("id") in page.labels, f"input {field.get('name')} has no label"
        assert page.labels[str(field.get("id"))]
        described = (field.get("aria-describedby") or "").split()
        assert all(i in page.ids for i in described)
        if field.get("name") == "phone":
            assert (field.get("type"), field.get("autocomplete")) == ("tel", "tel")
        if field.get("name") == "code":
            assert field.get("inputmode") == "numeric"
            assert field.get("autocomplete") == "one-time-code"
            assert field.get("pattern") == "[0-9]*"
        if field.get("type") == "password":
            assert field.get("autocomplete") in ("current-password", "new-password")


def session_cookie(client: FlaskClient) -> str | None:
    cookie = client.get_cookie("session")
    return cookie.value if cookie is not None else None


def copy_of(site: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of ``client``'s session cookie, as a thief would."""
    thief = site.test_client()
    cookie = session_cookie(client)
    assert cookie is not None
    thief.set_cookie("session", cookie)
    return thief


class Selects(HTMLParser):
    """The ``<select>`` elements of a page: each one's attributes and its options as
    ``(value, label, attributes)``, in page order."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.selects: dict[str, dict[str, str | None]] = {}
        self.options: dict[str, list[tuple[str, str, dict[str, str | None]]]] = {}
        self._select: str | None = None
        self._option: dict[str, str | None] | None = None
        self._text = ""
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "select":
            self._select = str(values.get("name"))
            self.selects[self._select] = values
            self.options[self._select] = []
        elif tag == "option" and self._select is not None:
            self._option, self._text = values, ""

    def handle_data(self, data: str) -> None:
        if self._option is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "option" and self._select is not None and self._option is not None:
            value = str(self._option.get("value"))
            self.options[self._select].append((value, self._text, self._option))
            self._option = None
        elif tag == "select":
            self._select = None


def region_choices(html: str) -> list[tuple[str, str]]:
    """The country selector's options, as ``(ISO code, label)``."""
    return [(value, label) for value, label, _attrs in Selects(html).options["region"]]


def selected_region(html: str) -> str | None:
    """The option of the country selector the page picked, or ``None``."""
    picked = [v for v, _label, attrs in Selects(html).options["region"] if "selected" in attrs]
    assert len(picked) <= 1
    return picked[0] if picked else None
