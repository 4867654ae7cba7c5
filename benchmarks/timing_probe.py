"""The timing probe of security check 31, under gunicorn: prints figures, asserts nothing.

    PYTHONPATH=. .venv/bin/python benchmarks/timing_probe.py [--pairs 60] [--delay 0.3]

An attacker asks for a code for a number, then at once sends another request and times it.
If the provider call ran in the worker that answered (after the response, say), the probe
would wait for it whenever an SMS really goes out and it meets that worker, telling whether
the number has an account. This serves ``tests/served_app.py`` with gunicorn (``--workers``
sync workers: 2 as the attack was run; with 1 every probe meets the worker that answered,
the plainest case) against a fake provider that takes ``--delay`` seconds, and for each
anonymous usage times ``--pairs`` probes after a request that sends an SMS and as many after
one that sends nothing, alternating. It prints the median probe time of each and the
difference.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from bench import slow_provider  # benchmarks/ is this script's folder

from tests.served_app import PASSWORD, serve

KNOWN = "+8613800138000"  # has an account (tests/served_app.py makes it)
UNKNOWN = "+447400123456"  # has none


def probe_after(client: httpx.Client, usage: str, number: str) -> float:
    """Ask for a code, then time the very next request."""
    sent = client.post("/auth/api/verification-codes", json={"phone": number, "usage": usage})
    sent.raise_for_status()
    started = time.perf_counter()
    client.get("/auth/api/csrf").raise_for_status()
    return (time.perf_counter() - started) * 1000


def measure(base: str, usage: str, pairs: int, delay: float) -> tuple[float, float]:
    """Median probe time (ms) after a request that sends an SMS, and after one that does not."""
    # Who gets a text: the account's number for SignIn and ForgotPassword; a number without
    # an account for Register and BindNewIdentifier (a held number gets nothing).
    texted, silent = (
        (UNKNOWN, KNOWN) if usage in ("Register", "BindNewIdentifier") else (KNOWN, UNKNOWN)
    )
    with httpx.Client(base_url=base, timeout=30) as client:
        if usage == "BindNewIdentifier":
            client.post("/auth/api/sign-in", json={"phone": KNOWN, "password": PASSWORD})
        with_sms: list[float] = []
        without: list[float] = []
        for i in range(pairs):
            if usage == "BindNewIdentifier":  # a fresh identity check every few minutes
                client.post("/auth/api/verify-identity", json={"password": PASSWORD})
            order = [(texted, with_sms), (silent, without)]
            for number, times in order if i % 2 == 0 else reversed(order):
                times.append(probe_after(client, usage, number))
                time.sleep(delay + 0.05)  # each probe starts with the workers idle
    return statistics.median(with_sms), statistics.median(without)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--delay", type=float, default=0.3, help="provider delay, seconds")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(
        f"gunicorn, {args.workers} sync workers; provider {args.delay * 1000:.0f} ms; "
        f"{args.pairs} pairs per usage; median probe time in ms"
    )
    print(f"{'usage':<20} {'after an SMS':>13} {'after none':>11} {'difference':>11}")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per fake SMS
    with (
        tempfile.TemporaryDirectory() as tmp,
        slow_provider(args.delay) as endpoint,
        serve(Path(tmp), endpoint, KNOWN, workers=args.workers) as base,
    ):
        for usage in ("Register", "SignIn", "ForgotPassword", "BindNewIdentifier"):
            with_sms, without = measure(base, usage, args.pairs, args.delay)
            print(f"{usage:<20} {with_sms:13.2f} {without:11.2f} {with_sms - without:+11.2f}")


if __name__ == "__main__":
    main()
