"""Browser tests: the example app served on a free local port, driven by Debian's Chromium
through pytest-playwright (``playwright install`` cannot download browsers here)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from ..helpers import REQUIRE_SERVICES, US_PHONE, AppFactory

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    """pytest-playwright's launch options: the system Chromium, or skip (fail in CI)."""
    if not CHROMIUM.exists():
        reason = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if REQUIRE_SERVICES:
            pytest.fail(reason)
        pytest.skip(reason)
    return {
        "executable_path": str(CHROMIUM),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def base_url() -> str | None:
    """Replaces pytest-playwright's fallback ``base_url`` fixture (used when pytest-base-url
    is not installed), which pytest 9 flags as deprecated (a session fixture defined as an
    instance method): under ``filterwarnings = error`` that would fail every browser test.
    The tests pass full URLs, so there is no base URL."""
    return None


@pytest.fixture
def live_example(make_example_app: AppFactory) -> Iterator[str]:
    """The example app on http://127.0.0.1:<free port>, with the memory connector so the
    test reads the codes from ``flask_sms_otp.testing.outbox``. Yields the base URL."""
    app = make_example_app(
        TESTING=False,
        SECRET_KEY="browser-test",
        SMS_OTP_SECURE_COOKIES=False,
    )
    with served(app) as url:
        yield url


@pytest.fixture
def live_admin_example(make_example_app: AppFactory) -> Iterator[tuple[Flask, str]]:
    """The example app with its admin pages, open to ``US_PHONE``: the app and its base
    URL."""
    app = make_example_app(
        TESTING=False,
        SECRET_KEY="browser-test",
        SMS_OTP_SECURE_COOKIES=False,
        SMS_OTP_ADMIN=True,
        ADMIN_PHONES=[US_PHONE],
    )
    with served(app) as url:
        yield app, url


@contextmanager
def served(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="example-app", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def live_team(make_team_app: AppFactory) -> Iterator[tuple[str, Flask]]:
    """The invitations example (examples/team_app) on http://127.0.0.1:<free port>, with the
    memory connector. Yields the base URL and the app (to make its first users)."""
    app = make_team_app(TESTING=False)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="team-app", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
