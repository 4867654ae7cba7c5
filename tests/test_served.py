"""Security check 31, under a real server: the worker that answers a code request is free at
once, whether or not an SMS goes out (gunicorn, one sync worker, a slow fake provider).

When the provider call ran in the worker after the response, the next request to that worker
waited for the provider, and that wait told whether the number has an account. A bound, not
a speed target: the probe must not wait anything like the provider's delay. The median
difference itself is measured by benchmarks/timing_probe.py.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

KNOWN = "+8613800138000"
UNKNOWN = "+447400123456"
PROVIDER_DELAY = 2.0
ROOT = Path(__file__).resolve().parent.parent


def slow_provider(request: Request) -> Response:
    time.sleep(PROVIDER_DELAY)
    return Response('{"ok": true}', status=200, content_type="application/json")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path, httpserver: HTTPServer) -> Iterator[str]:
    """The app under gunicorn with ONE sync worker: every request meets the same worker."""
    httpserver.expect_request("/sms", method="POST").respond_with_handler(slow_provider)
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SMS_OTP_SERVED_DB": f"sqlite:///{tmp_path}/served.db",
        "SMS_OTP_SERVED_ENDPOINT": httpserver.url_for("/sms"),
        "SMS_OTP_SERVED_KNOWN": KNOWN,
    }
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(  # noqa: S603 - a fixed command line of our own
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers=1",
            "--worker-class=sync",
            f"--bind=127.0.0.1:{port}",
            "tests.served_app:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/auth/api/csrf", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail("gunicorn did not start:\n" + (tmp_path / "gunicorn.log").read_text())
            time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


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
