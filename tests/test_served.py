"""Security check 31, under a real server: the worker that answers a code request is free at
once, whether or not an SMS goes out (gunicorn, one sync worker, a slow fake provider).

When the provider call ran in the worker after the response, the next request to that worker
waited for the provider, and that wait told whether the number has an account. A bound, not
a speed target: the probe must not wait anything like the provider's delay. The median
difference itself is measured by benchmarks/timing_probe.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pytest_httpserver import HTTPServer

from .helpers import (
    slow_provider,
)
from .served_app import serve

KNOWN = "+8613800138000"
UNKNOWN = "+447400123456"
PROVIDER_DELAY = 2.0


@pytest.fixture
def served(tmp_path: Path, httpserver: HTTPServer) -> Iterator[str]:
    """The app under gunicorn with ONE sync worker: every request meets the same worker."""
    handler = slow_provider(PROVIDER_DELAY)
    httpserver.expect_request("/sms", method="POST").respond_with_handler(handler)
    with serve(tmp_path, httpserver.url_for("/sms"), KNOWN) as base:
        yield base


@pytest.mark.parametrize("usage", ["SignIn", "ForgotPassword", "Register"])
def test_the_next_request_does_not_wait_for_the_provider(
    served: str, httpserver: HTTPServer, usage: str
) -> None:
    with httpx.Client(base_url=served, timeout=30) as client:
        for number in (KNOWN, UNKNOWN):
            sent = client.post(
                "/auth/api/verification-codes", json={"phone": number, "usage": usage}
            )
            assert sent.status_code == 202
            started = time.perf_counter()
            probe = client.get("/auth/api/csrf")
            waited = time.perf_counter() - started
            assert probe.status_code == 200
            assert waited < PROVIDER_DELAY / 2, (
                f"{usage} to {number}: the probe waited {waited:.2f} s"
            )
    # The one number that gets a text did get it, from the background sender.
    deadline = time.monotonic() + 10
    while len(httpserver.log) < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(httpserver.log) == 1


def test_a_new_number_does_not_make_the_next_request_wait(
    served: str, httpserver: HTTPServer
) -> None:
    """``BindNewIdentifier``: a signed-in user asks for a code to a new number; a number
    another account holds gets nothing, a free one gets a text. The next request must not
    tell them apart."""
    with httpx.Client(base_url=served, timeout=30) as client:
        body = {"phone": KNOWN, "password": "correct horse battery"}
        assert client.post("/auth/api/sign-in", json=body).status_code == 200
        confirmed = client.post("/auth/api/verify-identity", json={"password": body["password"]})
        assert confirmed.status_code == 200
        for number in (UNKNOWN, KNOWN):
            sent = client.post(
                "/auth/api/verification-codes",
                json={"phone": number, "usage": "BindNewIdentifier"},
            )
            assert sent.status_code == 202
            started = time.perf_counter()
            assert client.get("/auth/api/csrf").status_code == 200
            waited = time.perf_counter() - started
            assert waited < PROVIDER_DELAY / 2, f"to {number}: the probe waited {waited:.2f} s"
