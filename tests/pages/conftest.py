"""Fixtures of the HTML page tests: an app with roomy send limits on a fake clock, a visitor,
a member with a password."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ..helpers import PLAIN_HTTP, AppFactory, FakeClock, add_user


@pytest.fixture
def site(make_app: AppFactory, clock: FakeClock) -> Flask:
    return make_app(clock=clock, **PLAIN_HTTP)


@pytest.fixture
def visitor(site: Flask) -> FlaskClient:
    return site.test_client()


@pytest.fixture
def member(site: Flask) -> Any:
    """A registered user with a password: KNOWN / PASSWORD."""
    return add_user(site)
