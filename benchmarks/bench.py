"""flask-sms-otp benchmarks: prints figures, asserts nothing.

    .venv/bin/python benchmarks/bench.py
        [throughput|verify|slow-provider|session-check|ratios|all]
        [--wal] [--postgres URI] [--redis URI] [--rounds N] [--requests N] [--profile]

- throughput: send-code and sign-in-by-code requests per second, in-process (Flask test
  client, memory connector), on SQLite and, with --postgres, on PostgreSQL.
- verify: verify latency with 10 thousand and 1 million stored challenges (SQLite, and
  PostgreSQL with --postgres): the lookup is by primary key, so it should not grow.
- slow-provider: request latency of send-code with a provider that takes 300 ms:
  synchronous (a signed-in usage, which waits for the provider; an anonymous usage, whose
  send runs on the background sender) and queued on Celery (needs Redis at 127.0.0.1:6379).
- session-check: the cost of the server-side session check on an authenticated request.
- ratios: send-code and sign-in by code against a hand-written floor (a plain Flask app
  doing the same honest work with one commit), in the same process, taking turns; on
  SQLite and PostgreSQL, limits on memory:// and, with --redis, on Redis. Prints req/s,
  the ratio ours/floor, and per request the commits, statements and time in the database
  and in the limits; with --profile, the rest by package.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import hmac
import logging
import os
import pstats
import secrets
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import phonenumbers
import sqlalchemy as sa
from flask import Flask, jsonify, request
from flask_login import LoginManager, current_user, login_required, login_user
from flask_sqlalchemy import SQLAlchemy
from limits import parse as parse_limit
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

import flask_sms_otp
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


def make_app(uri: str, *, clock: Clock = utcnow, **config: Any) -> Flask:
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
        config: dict[str, Any] = {
            "SMS_OTP_CONNECTOR": "http",
            "SMS_OTP_CONNECTOR_CONFIG": {"endpoint": endpoint},
        }
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
        # The background sends finish here, while the provider and the database still exist.
        get_state(app).sender.drain()
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

        def whoami() -> Any:
            return jsonify(id=current_user.get_id())

        app.get("/whoami")(login_required(whoami))  # Flask-Login is untyped

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


# against a hand-written floor -----------------------------------------------------------------
#
# The floor is the least a Flask app can do and still be honest about sign-in by SMS code:
# the same libraries (Flask, phonenumbers, limits, SQLAlchemy, Flask-Login), the same kind
# of database and limit storage, one row per code, one commit per request. It is written
# plainly with SQLAlchemy Core on an engine of its own, so that the work is seen to be the
# same kind as ours. It is a yardstick, not a design: it has no lockout, no silent
# challenges, no delivery records, no server-side sessions, no signals.

FLOOR_SECRET = b"bench-floor-secret"
FLOOR_MAX_ATTEMPTS = 5
FLOOR_CODE_TTL = timedelta(minutes=10)
#: Counted on every send, never refused, as ours with its relaxed send limits.
FLOOR_SEND_LIMIT = parse_limit("1000000/hour")


class FloorUser:
    """What Flask-Login needs of a user, and nothing more."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user_id: int, phone: str) -> None:
        self.id = user_id
        self.phone = phone

    def get_id(self) -> str:
        return str(self.id)


class Floor:
    """The hand-written floor: a Flask app with its own engine, tables and limit storage."""

    def __init__(self, uri: str, storage_uri: str, key_prefix: str) -> None:
        self.engine = sa.create_engine(uri)
        if WAL and uri.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _wal)
        metadata = sa.MetaData()
        self.users = sa.Table(
            "floor_users",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("phone", sa.String(20), nullable=False, unique=True),
        )
        self.codes = sa.Table(
            "floor_codes",
            metadata,
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("phone", sa.String(20), nullable=False),
            sa.Column("digest", sa.String(64), nullable=False),
            sa.Column("attempts", sa.Integer, nullable=False),
            sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("consumed_at", sa.DateTime(timezone=True)),
        )
        metadata.drop_all(self.engine)
        metadata.create_all(self.engine)
        self.storage = storage_from_string(storage_uri)
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.key_prefix = key_prefix
        self.outbox: list[tuple[str, str]] = []
        self.app = self._make_app()

    def _make_app(self) -> Flask:
        app = Flask("bench-floor")
        app.config.update({"TESTING": True, "SECRET_KEY": "bench-floor"})
        login_manager = LoginManager(app)
        login_manager.user_loader(self.load_user)
        app.post("/codes")(self.send_code)
        app.post("/sign-in/code")(self.sign_in_code)
        return app

    def load_user(self, user_id: str) -> FloorUser | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(self.users).where(self.users.c.id == int(user_id))
            ).one_or_none()
        return None if row is None else FloorUser(row.id, row.phone)

    def add_users(self, numbers: list[str]) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.users.insert(), [{"phone": number} for number in numbers])

    @staticmethod
    def digest(code_id: str, phone: str, code: str) -> str:
        message = "\x1f".join((code_id, phone, code)).encode()
        return hmac.new(FLOOR_SECRET, message, hashlib.sha256).hexdigest()

    def send_code(self) -> tuple[Response, int]:
        data = request.get_json()
        try:
            number = phonenumbers.parse(data["phone"], None)
        except (KeyError, TypeError, phonenumbers.NumberParseException):
            return jsonify(error="invalid_phone"), 400
        if not phonenumbers.is_valid_number(number):
            return jsonify(error="invalid_phone"), 400
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if not self.limiter.hit(FLOOR_SEND_LIMIT, self.key_prefix, "send", e164):
            return jsonify(error="rate_limited"), 429
        code = f"{secrets.randbelow(10**6):06d}"
        code_id = secrets.token_urlsafe(24)
        with self.engine.begin() as conn:
            conn.execute(
                self.codes.insert().values(
                    id=code_id,
                    phone=e164,
                    digest=self.digest(code_id, e164, code),
                    attempts=0,
                    expires_at=datetime.now(UTC) + FLOOR_CODE_TTL,
                )
            )
        self.outbox.append((e164, code))
        return jsonify(id=code_id), 202

    def sign_in_code(self) -> tuple[Response, int]:
        data = request.get_json()
        code_id, code = str(data.get("id", "")), str(data.get("code", ""))
        now = datetime.now(UTC)
        codes, users = self.codes, self.users
        with self.engine.begin() as conn:
            # The attempt is counted before the comparison, in the same transaction.
            row = conn.execute(
                sa.update(codes)
                .where(
                    codes.c.id == code_id,
                    codes.c.consumed_at.is_(None),
                    codes.c.attempts < FLOOR_MAX_ATTEMPTS,
                )
                .values(attempts=codes.c.attempts + 1)
                .returning(codes.c.phone, codes.c.digest, codes.c.expires_at)
            ).one_or_none()
            if row is None:
                return jsonify(error="invalid_code"), 400
            expires_at = row.expires_at
            if expires_at.tzinfo is None:  # SQLite gives naive datetimes back
                expires_at = expires_at.replace(tzinfo=UTC)
            matches = hmac.compare_digest(self.digest(code_id, row.phone, code), row.digest)
            if not matches or now >= expires_at:
                return jsonify(error="invalid_code"), 400  # the attempt is still committed
            conn.execute(
                sa.update(codes)
                .where(codes.c.id == code_id, codes.c.consumed_at.is_(None))
                .values(consumed_at=now)
            )
            user_row = conn.execute(
                sa.select(users.c.id, users.c.phone).where(users.c.phone == row.phone)
            ).one()
        user = FloorUser(user_row.id, user_row.phone)
        login_user(user)
        return jsonify(user={"id": user.get_id(), "phone": user.phone}), 200


@dataclass
class Tally:
    commits: int = 0
    rollbacks: int = 0
    statements: int = 0
    checkouts: int = 0
    hits: int = 0
    db_seconds: float = 0.0
    commit_seconds: float = 0.0
    limit_seconds: float = 0.0


class Meter:
    """Counts and times what one app does, step by step (``send``, then ``sign-in``):
    commits (an SQLAlchemy ``commit`` event on its engine), rollbacks (a pooled connection's
    reset on return included), statements, pool checkouts, the time in the database
    (statements, COMMIT, ROLLBACK), and the hits on the limit storage and their time.
    Installed only for the breakdown round, never while the rates are measured."""

    def __init__(self, engine: sa.Engine, strategy: Any) -> None:
        self.engine = engine
        self.strategy = strategy
        self.steps = {"send": Tally(), "sign-in": Tally()}
        self.step = "send"
        self._started: list[float] = []

    @property
    def tally(self) -> Tally:
        return self.steps[self.step]

    def _commit(self, _conn: Any) -> None:
        self.tally.commits += 1

    def _checkout(self, *_args: Any) -> None:
        self.tally.checkouts += 1

    def _before(self, *_args: Any) -> None:
        self.tally.statements += 1
        self._started.append(time.perf_counter())

    def _after(self, *_args: Any) -> None:
        self.tally.db_seconds += time.perf_counter() - self._started.pop()

    def _timed(self, function: Callable[..., Any], kind: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - t0
                if kind == "hit":
                    self.tally.hits += 1
                    self.tally.limit_seconds += elapsed
                else:
                    self.tally.rollbacks += kind == "rollback"
                    self.tally.commit_seconds += elapsed if kind == "commit" else 0.0
                    self.tally.db_seconds += elapsed

        return timed

    @contextmanager
    def installed(self) -> Iterator[Meter]:
        listeners: list[tuple[Any, str, Callable[..., None]]] = [
            (self.engine, "commit", self._commit),
            (self.engine, "before_cursor_execute", self._before),
            (self.engine, "after_cursor_execute", self._after),
            (self.engine.pool, "checkout", self._checkout),
        ]
        for target, name, listener in listeners:
            sa.event.listen(target, name, listener)
        # COMMIT and ROLLBACK themselves are the dialect's calls: wrapped on this engine's
        # dialect instance only, and unwrapped after.
        dialect = self.engine.dialect
        wrapped = [
            (dialect, "do_commit", "commit"),
            (dialect, "do_rollback", "rollback"),
            (self.strategy, "hit", "hit"),
        ]
        for obj, name, kind in wrapped:
            setattr(obj, name, self._timed(getattr(obj, name), kind))
        try:
            yield self
        finally:
            for target, name, listener in listeners:
                sa.event.remove(target, name, listener)
            for obj, name, _kind in wrapped:
                delattr(obj, name)


class Contestant:
    """Ours or the floor, driven the same way: each request from a client without cookies,
    as a new visitor's; the codes read from the app's outbox."""

    def __init__(
        self,
        name: str,
        app: Flask,
        send: Callable[[Any, str], str],
        sign_in: Callable[[Any, str, str], None],
        codes: Callable[[], list[str]],
        engine: sa.Engine,
        strategy: Any,
    ) -> None:
        self.name = name
        self.client = app.test_client(use_cookies=False)
        self._send, self._sign_in, self.codes = send, sign_in, codes
        self.engine, self.strategy = engine, strategy

    def send(self, number: str) -> str:
        return self._send(self.client, number)

    def sign_in(self, challenge_id: str, code: str) -> None:
        self._sign_in(self.client, challenge_id, code)


def take_turns(
    order: list[Contestant],
    numbers: list[str],
    between: Callable[[], object] = lambda: None,
    turn: int = 20,
) -> tuple[dict[str, float], dict[str, float]]:
    """Send a code to each number then sign in with each code, the contestants taking
    turns ``turn`` requests at a time in ``order``, so that the machine's other load falls
    on both alike; return the seconds each spent sending and signing in. (Turns of single
    requests would charge each with the other's leftovers: the limit storage's expiry
    thread, which runs 10 ms after a hit, and caches.)"""
    sending = {c.name: 0.0 for c in order}
    signing_in = {c.name: 0.0 for c in order}
    ids: dict[str, list[str]] = {c.name: [] for c in order}
    gc.collect()
    for start in range(0, len(numbers), turn):
        for contestant in order:
            t0 = time.perf_counter()
            for number in numbers[start : start + turn]:
                ids[contestant.name].append(contestant.send(number))
            sending[contestant.name] += time.perf_counter() - t0
    pending = {c.name: list(zip(ids[c.name], c.codes(), strict=True)) for c in order}
    between()
    gc.collect()
    for start in range(0, len(numbers), turn):
        for contestant in order:
            t0 = time.perf_counter()
            for challenge_id, code in pending[contestant.name][start : start + turn]:
                contestant.sign_in(challenge_id, code)
            signing_in[contestant.name] += time.perf_counter() - t0
    return sending, signing_in


def ours_contestant(uri: str, storage_uri: str, key_prefix: str, numbers: list[str]) -> Contestant:
    app = make_app(uri, RATELIMIT_STORAGE_URI=storage_uri, RATELIMIT_KEY_PREFIX=key_prefix)
    state = get_state(app)
    with app.app_context():
        for number in numbers:
            state.users.create(number, None)
        state.db.session.commit()
        engine = state.db.engine

    def send(client: Any, number: str) -> str:
        response = client.post(
            "/auth/api/verification-codes", json={"phone": number, "usage": "SignIn"}
        )
        assert response.status_code == 202, response.json
        return str(response.json["verification_id"])

    def sign_in(client: Any, challenge_id: str, code: str) -> None:
        response = client.post(
            "/auth/api/sign-in/code", json={"verification_id": challenge_id, "code": code}
        )
        assert response.status_code == 200, response.json

    def codes() -> list[str]:
        sent = [message.code for message in outbox]
        outbox.clear()
        return sent

    return Contestant("ours", app, send, sign_in, codes, engine, state.limits.limiter.limiter)


def floor_contestant(uri: str, storage_uri: str, key_prefix: str, numbers: list[str]) -> Contestant:
    floor = Floor(uri, storage_uri, key_prefix)
    floor.add_users(numbers)

    def send(client: Any, number: str) -> str:
        response = client.post("/codes", json={"phone": number})
        assert response.status_code == 202, response.json
        return str(response.json["id"])

    def sign_in(client: Any, code_id: str, code: str) -> None:
        response = client.post("/sign-in/code", json={"id": code_id, "code": code})
        assert response.status_code == 200, response.json

    def codes() -> list[str]:
        sent = [code for _phone, code in floor.outbox]
        floor.outbox.clear()
        return sent

    return Contestant("floor", floor.app, send, sign_in, codes, floor.engine, floor.limiter)


def _package(file: str, function: str) -> str:
    """The package a profiled function belongs to (a standard module by its name); C
    functions by what they work on."""
    if file == "~":
        for marker, name in (
            ("sqlite3", "sqlite3"),
            ("psycopg", "psycopg"),
            ("socket", "socket"),
            ("select", "socket"),
            ("_thread.lock", "lock waits"),
        ):
            if marker in function:
                return name
        return "builtins"
    if "site-packages/" in file:
        return file.split("site-packages/")[1].split("/")[0].removesuffix(".py")
    if file.startswith(os.path.dirname(flask_sms_otp.__file__)):
        return "flask_sms_otp"
    if file == __file__:
        return "bench.py"
    if file.startswith(sys.base_prefix):
        return file.rsplit("/python3.", 1)[-1].split("/")[1].removesuffix(".py")
    return "other"


#: bench.py's functions that drive a contestant, not part of the floor's work.
_DRIVER = frozenset({"send", "sign_in", "codes", "<listcomp>", "take_turns", "profile_by_package"})


def profile_by_package(contestants: list[Contestant], numbers: list[str], top: int = 8) -> None:
    """Profile each one's sends then sign-ins (alone, not taking turns) and print the own
    time of its functions grouped by package, per request: what "the rest" is made of.
    The profiler slows Python more than the database, so read the shares, not the ms."""
    pending: dict[str, list[tuple[str, str]]] = {}
    for step in ("send", "sign-in"):
        for contestant in contestants:
            profiler = cProfile.Profile()
            if step == "send":
                profiler.enable()
                ids = [contestant.send(number) for number in numbers]
                profiler.disable()
                pending[contestant.name] = list(zip(ids, contestant.codes(), strict=True))
            else:
                profiler.enable()
                for challenge_id, code in pending[contestant.name]:
                    contestant.sign_in(challenge_id, code)
                profiler.disable()
            own: dict[str, float] = {}
            stats: dict[tuple[str, int, str], tuple[Any, ...]]
            stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
            for (file, _line, function), (_cc, _nc, own_time, *_rest) in stats.items():
                group = _package(file, function)
                own[group] = own.get(group, 0.0) + own_time
            total = sum(own.values())
            parts = sorted(own.items(), key=lambda item: -item[1])[:top]
            shown = ", ".join(f"{name} {seconds / total:.0%}" for name, seconds in parts)
            title = "send-code" if step == "send" else "sign-in by code"
            print(
                f"{'':<20} {title:<16} {contestant.name:<5} profiled "
                f"{total / len(numbers) * 1000:.2f} ms/request: {shown}"
            )
            # Each function of the package's (the floor's, in bench.py) with the library
            # time it calls for, less what it spends in the package's other functions: the
            # work step by step; "around" is the rest (Flask, Werkzeug, the test client).
            own_code = {
                key
                for key in stats
                if _package(key[0], key[2]) == "flask_sms_otp"
                or (_package(key[0], key[2]) == "bench.py" and key[2] not in _DRIVER)
            }
            steps = {key: stats[key][3] for key in own_code}
            for key in own_code:
                for caller, (*_counts, cumulative) in stats[key][4].items():
                    if caller in steps:
                        steps[caller] -= cumulative
            around = max(0.0, total - sum(max(0.0, seconds) for seconds in steps.values()))
            largest = sorted(steps.items(), key=lambda item: -item[1])[:top]
            shown = ", ".join(
                f"{os.path.basename(file)}:{function} {seconds / total:.0%}"
                for (file, _line, function), seconds in largest
            )
            print(f"{'':<20} {'':<16} {'':<5} around {around / total:.0%}; {shown}")


def ratios(
    uri: str,
    label: str,
    storage_uri: str,
    *,
    n: int = 500,
    rounds: int = 5,
    warm_up: int = 50,
    profile: bool = False,
) -> None:
    """Ours against the floor on one database and one limit storage: a warm-up, then
    ``rounds`` rounds of ``n`` sends then ``n`` sign-ins each, the two taking turns 20
    requests at a time, and which goes first alternating from round to round; the ratio is the
    median of the rounds' ratios. Then one more round on half the numbers, counted and
    timed, says where each one's time goes."""
    numbers = list(phones(n))
    key_prefix = f"bench-{uuid.uuid4().hex[:12]}"
    outbox.clear()
    # On SQLite each has a file of its own: sharing one, each would find its page cache
    # made stale by the other's last commit. On PostgreSQL they share the database.
    floor_uri = uri.removesuffix(".db") + "-floor.db" if uri.startswith("sqlite") else uri
    contestants = [
        ours_contestant(uri, storage_uri, f"{key_prefix}-ours", numbers),
        floor_contestant(floor_uri, storage_uri, f"{key_prefix}-floor", numbers),
    ]
    take_turns(contestants, numbers[:warm_up])
    rates: dict[str, dict[str, list[float]]] = {
        step: {c.name: [] for c in contestants} for step in ("send", "sign-in")
    }
    for round_ in range(rounds):
        order = contestants if round_ % 2 == 0 else contestants[::-1]
        sending, signing_in = take_turns(order, numbers)
        for contestant in contestants:
            rates["send"][contestant.name].append(n / sending[contestant.name])
            rates["sign-in"][contestant.name].append(n / signing_in[contestant.name])
    where = f"{label} + {storage_uri.split(':')[0]}"
    for step, title in (("send", "send-code"), ("sign-in", "sign-in by code")):
        ours, floor = rates[step]["ours"], rates[step]["floor"]
        each = sorted(o / f for o, f in zip(ours, floor, strict=True))
        print(
            f"{where:<20} {title:<16} ours {statistics.median(ours):6.0f} req/s   "
            f"floor {statistics.median(floor):6.0f} req/s   ratio {statistics.median(each):.2f} "
            f"(rounds {each[0]:.2f}-{each[-1]:.2f}; {rounds} x {n} requests)"
        )
    batch = numbers[: max(1, n // 2)]
    with ExitStack() as stack:
        meters = {
            c.name: stack.enter_context(Meter(c.engine, c.strategy).installed())
            for c in contestants
        }

        def next_step() -> None:
            for meter in meters.values():
                meter.step = "sign-in"

        sending, signing_in = take_turns(contestants, batch, next_step)
    for step, title, spent in (
        ("send", "send-code", sending),
        ("sign-in", "sign-in by code", signing_in),
    ):
        for contestant in contestants:
            tally, k = meters[contestant.name].steps[step], len(batch)
            elapsed = spent[contestant.name]
            print(
                f"{'':<20} {title:<16} {contestant.name:<5} per request: "
                f"{tally.commits / k:.1f} commits, {tally.rollbacks / k:.1f} rollbacks, "
                f"{tally.statements / k:.1f} statements, {tally.checkouts / k:.1f} checkouts, "
                f"{tally.hits / k:.1f} limit hits; {elapsed / k * 1000:.2f} ms: "
                f"{tally.db_seconds / k * 1000:.2f} in the database "
                f"({tally.commit_seconds / k * 1000:.2f} in COMMIT), "
                f"{tally.limit_seconds / k * 1000:.2f} in the limits, "
                f"{(elapsed - tally.db_seconds - tally.limit_seconds) / k * 1000:.2f} the rest"
            )
    if profile:
        profile_by_package(contestants, batch)
    for contestant in contestants:
        contestant.engine.dispose()
    if storage_uri.startswith("redis"):
        import redis

        connection = redis.Redis.from_url(storage_uri)
        for key in connection.scan_iter(match=f"*{key_prefix}*"):
            connection.delete(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "what",
        nargs="?",
        default="all",
        choices=["throughput", "verify", "slow-provider", "session-check", "ratios", "all"],
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
    parser.add_argument(
        "--redis",
        help="Redis URI for the limits too in the ratios part, e.g. redis://127.0.0.1:6379/13",
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the ratios part")
    parser.add_argument(
        "--requests", type=int, default=500, help="sends and sign-ins per round (ratios)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="ratios: also profile each one and print its time by package",
    )
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
        if args.what in ("ratios", "all"):
            storages = ["memory://", *([args.redis] if args.redis else [])]
            for uri, label in databases:
                for storage_uri in storages:
                    ratios(
                        uri,
                        label,
                        storage_uri,
                        n=args.requests,
                        rounds=args.rounds,
                        profile=args.profile,
                    )
        if args.what in ("slow-provider", "all"):
            slow_provider_latency()


if __name__ == "__main__":
    main()
