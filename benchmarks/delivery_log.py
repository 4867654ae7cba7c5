"""The admin pages' delivery log on a million records: prints figures, asserts nothing.

    PYTHONPATH=. .venv/bin/python benchmarks/delivery_log.py \
        [--sqlite PATH] [--postgres URI] [--rows N] [--rounds N]

Fills ``sms_otp_delivery`` with ``--rows`` records (a million by default) in one bulk
insert per 20,000 rows: 30 days of sends over a dozen countries, most accepted, some failed,
receipts on most, about two thirds verified. Then an admin, signed in, asks
``GET /auth/admin/deliveries`` through Flask's test client (rendering included): the first
page; pages filtered by a common country, by a rare country and status, and by a day; and
the 20th page, reached by its cursor; and two filters no index serves, matching no record
at all (the whole time index is walked). Prints the median and p95 of each, on SQLite (a
file, in WAL mode) and, with ``--postgres``, on PostgreSQL. Tables are dropped at the end.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_sqlalchemy import SQLAlchemy

from flask_sms_otp import SmsOtp
from flask_sms_otp.state import get_state

ADMIN = "+12015550123"
PASSWORD = "bench password"  # noqa: S105 - a throwaway account
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
#: Countries and their share of the sends: a few large, a long tail.
COUNTRIES = [("CN", 40), ("US", 20), ("GB", 12), ("IN", 8), ("BR", 6), ("DE", 4)] + [
    (code, 1) for code in ("FR", "ES", "IT", "JP", "KZ", "NG")
]
CONNECTORS = ("twilio", "vonage", "aliyun")
USAGES = ("SignIn", "Register", "ForgotPassword", "MfaVerification")
CHUNK = 20_000
CONFIG: dict[str, Any] = {
    "TESTING": True,
    "SECRET_KEY": "bench",
    "WTF_CSRF_ENABLED": False,
    "SMS_OTP_CONNECTOR": "memory",
    "SMS_OTP_ADMIN": True,
    "SMS_OTP_SECURE_COOKIES": False,
    "SMS_OTP_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    "RATELIMIT_STORAGE_URI": "memory://",
}


def make_app(uri: str) -> Flask:
    app = Flask("bench_delivery_log")
    app.config.update(CONFIG, SQLALCHEMY_DATABASE_URI=uri)
    db = SQLAlchemy(app)
    SmsOtp(app, db=db, admin_check=lambda user: user.phone == ADMIN, clock=lambda: NOW)
    with app.app_context():
        if uri.startswith("sqlite"):
            with db.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        db.drop_all()
        db.create_all()
        get_state(app).users.create(ADMIN, PASSWORD)
        db.session.commit()
    return app


def fill(app: Flask, rows: int) -> float:
    """Bulk-insert ``rows`` delivery records; returns the seconds it took."""
    rng = random.Random(7)
    countries = [code for code, weight in COUNTRIES for _ in range(weight)]
    span = int(timedelta(days=30).total_seconds() * 1000)
    started = time.perf_counter()
    with app.app_context():
        state = get_state(app)
        table = state.models.DeliveryRecord.__table__  # type: ignore[attr-defined]
        insert = sa.insert(table)
        for start in range(0, rows, CHUNK):
            batch: list[dict[str, Any]] = []
            for i in range(start, min(rows, start + CHUNK)):
                # In time order, as sends arrive: the ids grow with created_at.
                at = NOW - timedelta(milliseconds=span * (rows - i) // rows)
                status = "sent" if rng.random() < 0.95 else "failed"
                delivered = status == "sent" and rng.random() < 0.85
                batch.append(
                    {
                        "challenge_id": None,
                        "connector": rng.choice(CONNECTORS),
                        "usage": rng.choice(USAGES),
                        "phone_masked": f"+*********{i % 10000:04d}",
                        "country": rng.choice(countries),
                        "block": f"{rng.getrandbits(64):016x}",
                        "status": status,
                        "provider_message_id": f"m{i}",
                        "error": None if status == "sent" else "ProviderRejected: 21211",
                        "latency_ms": rng.randint(80, 900),
                        "created_at": at,
                        "verified_at": at + timedelta(seconds=20)
                        if delivered and rng.random() < 0.75
                        else None,
                        "delivery_status": "delivered" if delivered else None,
                        "delivered_at": at + timedelta(seconds=rng.randint(2, 30))
                        if delivered
                        else None,
                    }
                )
            with state.db.engine.begin() as conn:
                conn.execute(insert, batch)
        with state.db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("ANALYZE sms_otp_delivery")
            else:
                conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def signed_in(app: Flask) -> FlaskClient:
    client = app.test_client()
    answer = client.post("/auth/sign-in", data={"phone": ADMIN, "password": PASSWORD})
    assert answer.status_code == 302, answer.status_code
    return client


def timed(client: FlaskClient, url: str, rounds: int) -> tuple[float, float, str]:
    """Median and p95 in milliseconds of ``rounds`` GETs of ``url`` after one untimed GET
    (which compiles the template and warms the database's cache), and the last page."""
    client.get(url)
    times = []
    text = ""
    for _ in range(rounds):
        started = time.perf_counter()
        answer = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (url, answer.status_code)
        text = answer.text
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))], text


def next_link(text: str) -> str:
    found = re.search(r'href="([^"]+)" rel="next"', text)
    assert found is not None, "no next page"
    return found[1].replace("&amp;", "&")


def run(uri: str, label: str, rows: int, rounds: int) -> None:
    app = make_app(uri)
    seconds = fill(app, rows)
    print(f"\n{label}: {rows:,} records inserted in {seconds:.0f} s")
    client = signed_in(app)
    base = "/auth/admin/deliveries"
    day = (NOW - timedelta(days=10)).date().isoformat()
    cases = [
        ("first page", base),
        ("country=GB", f"{base}?country=GB"),
        ("country=KZ&status=failed", f"{base}?country=KZ&status=failed"),
        (f"since=until={day}", f"{base}?since={day}&until={day}"),
        # Worst cases: filters without an index of their own, matching few records or none.
        ("status=failed&verified=yes", f"{base}?status=failed&verified=yes"),
        ("connector=nobody", f"{base}?connector=nobody"),
    ]
    url = base
    for _ in range(19):
        url = next_link(client.get(url).text)
    cases.append(("20th page (cursor)", url))
    print(f"{'page':<32}{'rows':>6}{'median':>10}{'p95':>10}")
    for name, target in cases:
        median, p95, text = timed(client, target, rounds)
        shown = text.count("<tr>") - 1
        print(f"{name:<32}{shown:>6}{median:>8.1f}ms{p95:>8.1f}ms")
    with app.app_context():
        get_state(app).db.drop_all()
        get_state(app).db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sqlite", default="/tmp/sms_otp_delivery_log.db")  # noqa: S108
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URI to run on too")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    run(f"sqlite:///{args.sqlite}", "SQLite (WAL)", args.rows, args.rounds)
    if args.postgres:
        run(args.postgres, "PostgreSQL", args.rows, args.rounds)


if __name__ == "__main__":
    main()
