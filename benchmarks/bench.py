"""flask-sms-otp benchmarks: prints figures, asserts nothing.

    .venv/bin/python benchmarks/bench.py [throughput|verify|slow-provider|session-check|all]
        [--postgres URI]

- throughput: send-code and sign-in-by-code requests per second, in-process (Flask test
  client, memory connector), on SQLite and, with --postgres, on PostgreSQL.
- verify: verify latency with 10 thousand and 1 million stored challenges (SQLite, and
  PostgreSQL with --postgres): the lookup is by primary key, so it should not grow.
- slow-provider: request latency of send-code with a provider that takes 300 ms:
  synchronous (a signed-in usage, which waits for the provider; an anonymous usage, whose
  send runs on the background sender) and queued on Celery (needs Redis at 127.0.0.1:6379).
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, jsonify
from flask_login import current_user, login_required
from flask_sqlalchemy import SQLAlchemy
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from flask_sms_otp import SmsOtp, Usage
from flask_sms_otp.clock import Clock, utcnow
from flask_sms_otp.codes import code_digest
from flask_sms_otp.connectors.memory import outbox
from flask_sms_otp.sessions import check_session
from flask_sms_otp.state import get_state

BASE_CONFIG: dict[str, Any] = {
    "TESTING": True,
    "SECRET_KEY": "bench",
    "WTF_CSRF_ENABLED": False,
    "SMS_OTP_CONNECTOR": "memory",
    "SMS_OTP_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    "SMS_OTP_SEND_LIMIT_PER_NUMBER": "1000000/hour",
    "SMS_OTP_SEND_LIMIT_PER_IP": "1000000/hour",
    "SMS_OTP_SEND_LIMIT_PER_PREFIX": "1000000/hour",
    "RATELIMIT_STORAGE_URI": "memory://",
}


WAL = False


def make_app(uri: str, clock: Clock = utcnow, **config: Any) -> Flask:
    app = Flask("bench")
    app.config.update(BASE_CONFIG, SQLALCHEMY_DATABASE_URI=uri, **config)
    db = SQLAlchemy(app)
    SmsOtp(app, db=db, clock=clock)
    with app.app_context():
        if WAL and uri.startswith("sqlite"):
            sa.event.listen(db.engine, "connect", _wal)
            db.engine.dispose()
        db.drop_all()
        db.create_all()
    return app


def _wal(dbapi_connection: Any, _record: Any) -> None:
    """SQLite in WAL mode with synchronous=NORMAL: what a deployment on SQLite should use."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def phones(n: int) -> Iterator[str]:
    """Valid Chinese mobile numbers, a different one each time."""
    for i in range(n):
        yield f"+86138{i:08d}"


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:8.0f} req/s"


# throughput ------------------------------------------------------------------------------


def throughput(uri: str, label: str, n: int = 500) -> None:
    app = make_app(uri)
    client = app.test_client()
    numbers = list(phones(n))
    with app.app_context():
        for number in numbers:
            get_state(app).users.create(number, None)
        get_state(app).db.session.commit()
    outbox.clear()
    started = time.perf_counter()
    ids = []
    for number in numbers:
        response = client.post(
            "/auth/api/verification-codes", json={"phone": number, "usage": "SignIn"}
        )
        assert response.status_code == 202, response.json
        ids.append(response.json["verification_id"])  # type: ignore[index]
    send_time = time.perf_counter() - started
    codes = [m.code for m in outbox]
    started = time.perf_counter()
    for verification_id, code in zip(ids, codes, strict=True):
        response = client.post(
            "/auth/api/sign-in/code", json={"verification_id": verification_id, "code": code}
        )
        assert response.status_code == 200, response.json
    sign_in_time = time.perf_counter() - started
    print(f"{label:<12} send-code       {rate(n, send_time)}   ({n} requests)")
    print(f"{label:<12} sign-in by code {rate(n, sign_in_time)}   ({n} requests)")


# verify with many stored challenges ---------------------------------------------------------


def fill(app: Flask, count: int) -> None:
    """Insert ``count`` expired-looking challenges in bulk."""
    state = get_state(app)
    table = state.models.Challenge.__table__  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    batch = 20_000
    with app.app_context(), state.db.engine.begin() as conn:
        for start in range(0, count, batch):
            rows = [
                {
                    "id": secrets.token_urlsafe(24),
                    "usage": "SignIn",
                    "phone": f"+86139{(start + i) % 100_000_000:08d}",
                    "user_id": None,
                    "digest": "0" * 64,
                    "delivered": True,
                    "created_at": now,
                    "last_sent_at": now,
                    "expires_at": now + timedelta(minutes=10),
                    "attempts": 0,
                    "resends": 0,
                }
                for i in range(min(batch, count - start))
            ]
            conn.execute(table.insert(), rows)


def verify_latency(uri: str, label: str, sizes: tuple[int, ...], probes: int = 300) -> None:
    for size in sizes:
        app = make_app(uri)
        started = time.perf_counter()
        fill(app, size)
        filled = time.perf_counter() - started
        with app.app_context():
            state = get_state(app)
            key = state.challenges.codes.keys[0]
            timings = []
            for _ in range(probes):
                # A real challenge among the many, then a timed verification of its code.
                challenge_id, code = secrets.token_urlsafe(24), "123456"
                now = datetime.now(UTC)
                state.db.session.execute(
                    sa.insert(state.models.Challenge).values(
                        id=challenge_id,
                        usage="SignIn",
                        phone="+8613800138000",
                        digest=code_digest(key, challenge_id, "SignIn", "+8613800138000", code),
                        delivered=True,
                        created_at=now,
                        last_sent_at=now,
                        expires_at=now + timedelta(minutes=10),
                        attempts=0,
                        resends=0,
                    )
                )
                state.db.session.commit()
                t0 = time.perf_counter()
                state.challenges.verify(challenge_id, code, usage=Usage.SIGN_IN)
                timings.append((time.perf_counter() - t0) * 1000)
        timings.sort()
        median, p95 = statistics.median(timings), timings[int(len(timings) * 0.95)]
        print(
            f"{label:<12} verify with {size:>9,} stored: median {median:.2f} ms, "
            f"p95 {p95:.2f} ms   (filled in {filled:.0f} s)"
        )


# slow provider ----------------------------------------------------------------------------------


@contextmanager
def slow_provider(delay: float) -> Iterator[str]:
    def app(environ: Any, start_response: Any) -> Any:
        Request(environ).get_data()
        time.sleep(delay)
        return Response("{}", content_type="application/json")(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/sms"
    finally:
        server.shutdown()


def timed(work: Callable[[], Any], n: int) -> tuple[float, float]:
    timings = []
    for _ in range(n):
        t0 = time.perf_counter()
        work()
        timings.append((time.perf_counter() - t0) * 1000)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95)]


def report(label: str, median: float, p95: float | None) -> None:
    tail = f", p95 {p95:6.1f} ms" if p95 is not None else ""
    print(f"{label:<48} median {median:6.1f} ms{tail}")


def slow_provider_latency(n: int = 20) -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with slow_provider(0.3) as endpoint, tempfile.TemporaryDirectory() as tmp:
        config = {"SMS_OTP_CONNECTOR": "http", "SMS_OTP_CONNECTOR_CONFIG": {"endpoint": endpoint}}
        app = make_app(f"sqlite:///{tmp}/slow.db", **config)
        client = app.test_client()
        with app.app_context():
            get_state(app).users.create("+8613800138000", "correct horse battery")
            get_state(app).db.session.commit()
        client.post(
            "/auth/api/sign-in",
            json={"phone": "+8613800138000", "password": "correct horse battery"},
        )

        def signed_in_usage() -> None:
            response = client.post(
                "/auth/api/verification-codes", json={"usage": "UserPermissionValidation"}
            )
            assert response.status_code == 202, response.json

        answered: list[float] = []

        def anonymous_usage() -> None:
            t0 = time.perf_counter()
            response = client.post(
                "/auth/api/verification-codes",
                json={"phone": "+8613800138000", "usage": "SignIn"},
            )
            answered.append((time.perf_counter() - t0) * 1000)
            response.close()  # the server closes it: the provider is called now

        median, p95 = timed(signed_in_usage, n)
        report("sync, signed-in usage (waits for the provider)", median, p95)
        median, p95 = timed(anonymous_usage, n)
        answered.sort()
        report("sync, anonymous usage, answer sent after", statistics.median(answered), None)
        print(f"    (the web worker stays busy {median:6.1f} ms)")
        try:
            import redis

            redis.Redis.from_url("redis://127.0.0.1:6379/13", socket_connect_timeout=1).ping()
        except Exception as exc:
            print(f"celery: skipped, Redis not reachable ({type(exc).__name__})")
            return
        os.environ.update(
            SMS_OTP_CELERY_TEST_DB=f"sqlite:///{tmp}/celery.db",
            SMS_OTP_CELERY_TEST_ENDPOINT=endpoint,
            SMS_OTP_CELERY_TEST_BROKER="redis://127.0.0.1:6379/13",
            SMS_OTP_CELERY_TEST_QUEUE=f"sms-otp-bench-{uuid.uuid4().hex}",
        )
        from tests.celery_support import create_app

        limits = {k: v for k, v in BASE_CONFIG.items() if "LIMIT" in k}
        queued_app = create_app(**limits)
        queued_client = queued_app.test_client()
        with queued_app.app_context():
            get_state(queued_app).users.create("+8613800138000", "correct horse battery")
            get_state(queued_app).db.session.commit()
        queued_client.post(
            "/auth/api/sign-in",
            json={"phone": "+8613800138000", "password": "correct horse battery"},
        )

        def queued_usage() -> None:
            response = queued_client.post(
                "/auth/api/verification-codes", json={"usage": "UserPermissionValidation"}
            )
            assert response.status_code == 202, response.json

        median, p95 = timed(queued_usage, n)
        report("celery, signed-in usage (queued)", median, p95)
        import redis as redis_module

        redis_module.Redis.from_url("redis://127.0.0.1:6379/13").delete(
            os.environ["SMS_OTP_CELERY_TEST_QUEUE"]
        )


# the session check on authenticated requests ----------------------------------------------------


class SteppingClock:
    """The real time, or, while ``stepping``, a minute further on at every call (so that
    every session check writes ``last_seen_at``)."""

    def __init__(self) -> None:
        self.stepping = False
        self.ahead = timedelta()

    def __call__(self) -> datetime:
        if self.stepping:
            self.ahead += timedelta(minutes=1)
        return datetime.now(UTC) + self.ahead


def session_check_cost(uri: str, label: str, rounds: int = 20, batch: int = 100) -> None:
    """The variants take turns, ``batch`` requests at a time, so that the machine's other
    load falls on all of them alike."""

    clock = SteppingClock()

    def signed_in_client() -> tuple[Flask, Any]:
        app = make_app(uri, clock=clock, SMS_OTP_SECURE_COOKIES=False)

        @app.get("/whoami")
        @login_required
        def whoami() -> Any:
            return jsonify(id=current_user.get_id())

        with app.app_context():
            get_state(app).users.create("+8613800138000", "correct horse battery")
            get_state(app).db.session.commit()
        client = app.test_client()
        signed = client.post(
            "/auth/api/sign-in",
            json={"phone": "+8613800138000", "password": "correct horse battery"},
        )
        assert signed.status_code == 200, signed.json
        return app, client

    app, client = signed_in_client()
    hooks = app.before_request_funcs[None]

    def checked(path: str) -> Any:
        clock.stepping = False
        if check_session not in hooks:
            hooks.insert(0, check_session)
        return client.get(path)

    def floor(path: str) -> Any:
        if check_session in hooks:
            hooks.remove(check_session)
        return client.get(path)

    def writing(path: str) -> Any:
        clock.stepping = True
        if check_session not in hooks:
            hooks.insert(0, check_session)
        return client.get(path)

    variants: dict[str, Callable[[str], Any]] = {
        "with the check": checked,
        "without (floor)": floor,
        "check writing every time": writing,
    }
    for path in ("/auth/api/account", "/whoami"):
        timings: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(rounds + 1):  # the first round warms pools and caches up
            for name, get in variants.items():
                batch_timings = []
                for _ in range(batch):
                    t0 = time.perf_counter()
                    response = get(path)
                    batch_timings.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200, (name, response.status_code)
                timings[name].append(statistics.median(batch_timings))
                if len(timings[name]) > rounds:
                    timings[name] = timings[name][1:]
        for name, medians in timings.items():
            medians.sort()
            print(
                f"{label:<12} GET {path:<18} {name:<25} median of {rounds} batch medians "
                f"{statistics.median(medians):.2f} ms (batches {medians[0]:.2f}-{medians[-1]:.2f})"
            )
    clock.stepping = False
    if check_session not in hooks:
        hooks.insert(0, check_session)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "what",
        nargs="?",
        default="all",
        choices=["throughput", "verify", "slow-provider", "session-check", "all"],
    )
    parser.add_argument(
        "--postgres",
        help="PostgreSQL URI to benchmark too, e.g. "
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    )
    parser.add_argument(
        "--large", type=int, default=1_000_000, help="challenges stored for the large verify run"
    )
    parser.add_argument("--wal", action="store_true", help="SQLite in WAL mode")
    args = parser.parse_args()
    global WAL
    WAL = args.wal
    with tempfile.TemporaryDirectory() as tmp:
        databases = [(f"sqlite:///{tmp}/bench.db", "SQLite-WAL" if WAL else "SQLite")]
        if args.postgres:
            databases.append((args.postgres, "PostgreSQL"))
        if args.what in ("throughput", "all"):
            for uri, label in databases:
                throughput(uri, label)
        if args.what in ("verify", "all"):
            for uri, label in databases:
                verify_latency(uri, label, (10_000, args.large))
        if args.what in ("session-check", "all"):
            for uri, label in databases:
                session_check_cost(uri, label)
        if args.what in ("slow-provider", "all"):
            slow_provider_latency()


if __name__ == "__main__":
    main()
