"""The app owns its transaction; one set of limits for every caller; no silent overrides.

An app with an ``Order`` model of its own calls the code engine from its own code, keeps
work pending on ``db.session`` and rolls back; the engine's writes (challenges, attempts,
lockouts, delivery records) are its own and survive, and the app's are left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, abort, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flask_sms_otp import (
    DeliveryError,
    InvalidCode,
    InvalidPhoneNumber,
    ResendNotAllowed,
    SmsOtp,
    TooManyAttempts,
    Usage,
)
from flask_sms_otp.connectors.memory import SentSms
from flask_sms_otp.errors import RateLimited
from flask_sms_otp.testing import fail_next_send

from .helpers import (
    PHONE,
    ApiClient,
    FakeClock,
    error_code,
    last_code,
    wrong,
)


class Built:
    def __init__(self, app: Flask, db: SQLAlchemy, sms_otp: SmsOtp, order: type[Any]) -> None:
        self.app, self.db, self.sms_otp, self.Order = app, db, sms_otp, order

    def rows(self, table: str) -> int:
        """Rows committed in ``table``, counted on a connection of its own."""
        with self.app.app_context(), self.db.engine.connect() as conn:
            return int(conn.execute(sa.text(f"select count(*) from {table}")).scalar_one())  # noqa: S608

    def attempts(self, challenge_id: str) -> int:
        with self.app.app_context(), self.db.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text("select attempts from sms_otp_challenge where id = :id"),
                    {"id": challenge_id},
                ).scalar_one()
            )


def make_built(database_uri: str, clock: FakeClock, **config: Any) -> Built:
    """The app, on fresh tables: its own ``Order`` model and the extension."""
    db = SQLAlchemy(model_class=type("Base", (DeclarativeBase,), {}))

    class Order(db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "orders"
        id: Mapped[int] = mapped_column(primary_key=True)
        item: Mapped[str] = mapped_column(sa.String(50))

    app = Flask("transactions_test")
    app.config.update(
        TESTING=True,
        SECRET_KEY="transactions-test",
        SQLALCHEMY_DATABASE_URI=database_uri,
        SMS_OTP_CONNECTOR="memory",
        SMS_OTP_PASSWORD_HASH_METHOD="pbkdf2:sha256:1000",
    )
    app.config.update(config)
    db.init_app(app)
    sms_otp = SmsOtp(app, db=db, clock=clock)
    with app.app_context():
        db.drop_all()
        db.create_all()
    return Built(app, db, sms_otp, Order)


def drop(built: Built) -> None:
    with built.app.app_context():
        built.db.session.remove()
        built.db.drop_all()
        built.db.engine.dispose()


@pytest.fixture
def build(
    database_uri: str, clock: FakeClock, app_limits: dict[str, Any]
) -> Iterator[Callable[..., Built]]:
    """``build(**config)``, on SQLite and on PostgreSQL, with the fixtures' limits."""
    made: list[Built] = []

    def factory(**config: Any) -> Built:
        made.append(make_built(database_uri, clock, **{**app_limits, **config}))
        return made[-1]

    yield factory
    for built in made:
        drop(built)


# The app's transaction ----------------------------------------------------------------------


def test_pending_work_survives_send_code_and_goes_with_the_apps_rollback(
    build: Callable[..., Built], sms_outbox: list[SentSms]
) -> None:
    built = build()
    with built.app.test_request_context():
        order = built.Order(item="tea")
        built.db.session.add(order)
        issued = built.sms_otp.send_code(PHONE, Usage.SIGN_IN)
        assert order in built.db.session.new  # still pending: nothing committed it
        assert built.rows("orders") == 0
        assert built.rows("sms_otp_challenge") == 1  # the engine's own write is committed
        assert built.rows("sms_otp_delivery") == 1
        built.db.session.rollback()  # the app changes its mind
        assert built.rows("orders") == 0
        verified = built.sms_otp.verify_code(issued.id, last_code(), usage="SignIn")
        assert verified.phone == PHONE


def test_pending_work_survives_an_invitation_and_its_revocation(
    build: Callable[..., Built], sms_outbox: list[SentSms]
) -> None:
    built = build()
    with built.app.test_request_context():
        order = built.Order(item="tea")
        built.db.session.add(order)
        invitation = built.sms_otp.invite(PHONE, data={"order": "tea"})
        assert order in built.db.session.new  # still pending: nothing committed it
        assert built.rows("orders") == 0
        assert built.rows("sms_otp_invitation") == 1  # the extension's own write is committed
        assert built.sms_otp.revoke_invitation(invitation.id)
        assert order in built.db.session.new
        built.db.session.rollback()  # the app changes its mind; the invitation is its own
        assert built.rows("orders") == 0
        assert built.rows("sms_otp_invitation") == 1
        assert built.sms_otp.pending_invitations() == []


@pytest.mark.postgres
def test_flushed_work_is_not_committed_by_the_engine(
    postgres_uri: str, clock: FakeClock, app_limits: dict[str, Any], sms_outbox: list[SentSms]
) -> None:
    """Flushed (not committed) rows of the app's stay in the app's transaction. On
    PostgreSQL only: SQLite lets one connection write at a time, so there the engine would
    wait for the app's transaction (send before flushing, or after committing)."""
    built = make_built(postgres_uri, clock, **app_limits)
    try:
        with built.app.test_request_context():
            built.db.session.add(built.Order(item="tea"))
            built.db.session.flush()
            built.sms_otp.send_code(PHONE, Usage.SIGN_IN)
            assert built.rows("orders") == 0
            assert built.rows("sms_otp_challenge") == 1
            built.db.session.rollback()
        assert built.rows("orders") == 0
        assert built.rows("sms_otp_challenge") == 1
    finally:
        drop(built)


def test_a_wrong_code_counted_in_a_request_the_app_rolls_back_stays_counted(
    build: Callable[..., Built], sms_outbox: list[SentSms]
) -> None:
    built = build(SMS_OTP_LOCKOUT_THRESHOLD=2)
    app, db = built.app, built.db

    @app.post("/confirm-order")
    def confirm_order() -> str:
        db.session.add(built.Order(item="tea"))
        body = request.get_json()
        try:
            built.sms_otp.verify_code(body["id"], body["code"], usage=Usage.SIGN_IN)
        except InvalidCode:
            db.session.rollback()  # the app's whole unit of work goes...
            abort(400)
        db.session.commit()
        return "ok"

    with app.app_context():
        issued = built.sms_otp.send_code(PHONE, Usage.SIGN_IN)
    code = last_code()
    client = app.test_client()
    assert client.post("/confirm-order", json={"id": issued.id, "code": wrong(code)}).status_code
    assert built.attempts(issued.id) == 1  # ...but the attempt it spent does not
    assert built.rows("orders") == 0
    client.post("/confirm-order", json={"id": issued.id, "code": wrong(code)})
    # Two consecutive failures lock the number: the count survived both rollbacks.
    assert client.post("/confirm-order", json={"id": issued.id, "code": code}).status_code == 429
    assert built.rows("orders") == 0


def test_a_failed_delivery_leaves_the_apps_work_alone(
    build: Callable[..., Built], sms_outbox: list[SentSms]
) -> None:
    built = build()
    with built.app.test_request_context():
        order = built.Order(item="tea")
        built.db.session.add(order)
        fail_next_send()
        with pytest.raises(DeliveryError):
            built.sms_otp.send_code(PHONE, Usage.USER_PERMISSION_VALIDATION)
        assert order in built.db.session.new
        built.db.session.commit()
    assert built.rows("orders") == 1
    assert built.rows("sms_otp_delivery") == 1  # the failure is on record


# One set of send limits for every caller -----------------------------------------------------


@pytest.mark.real_limits
def test_send_code_meets_the_per_number_limit_shared_with_the_pages(
    build: Callable[..., Built], sms_outbox: list[SentSms]
) -> None:
    built = build(SMS_OTP_SEND_LIMIT_PER_NUMBER="2/hour")
    assert ApiClient(built.app).send_code(PHONE, "SignIn").status_code == 202
    with built.app.app_context():
        built.sms_otp.send_code(PHONE, Usage.SIGN_IN)
        with pytest.raises(RateLimited) as refused:
            built.sms_otp.send_code("+86 138 0013 8000", Usage.SIGN_IN)
    assert refused.value.code == 429
    assert refused.value.retry_after_seconds
    assert len(sms_outbox) == 1  # the API's SignIn for a number without an account is silent
    assert built.rows("sms_otp_challenge") == 2


@pytest.mark.real_limits
def test_send_code_meets_the_per_ip_limit_of_the_request_or_of_client_ip(
    build: Callable[..., Built], sms_outbox: list[SentSms]
) -> None:
    built = build(SMS_OTP_SEND_LIMIT_PER_IP="2/hour")
    numbers = iter(
        [
            *("+8613800138000", "+447400123456", "+12015550123"),
            *("+8613900139000", "+447400123457", "+12015550124"),
        ]
    )
    with built.app.test_request_context(environ_base={"REMOTE_ADDR": "198.51.100.7"}):
        built.sms_otp.send_code(next(numbers), "Register")
        built.sms_otp.send_code(next(numbers), "Register")
        with pytest.raises(RateLimited):
            built.sms_otp.send_code(next(numbers), "Register")
    with built.app.app_context():  # a job, outside any request: the IP it names
        built.sms_otp.send_code(next(numbers), "Register", client_ip="203.0.113.9")
        built.sms_otp.send_code(next(numbers), "Register", client_ip="203.0.113.9")
        with pytest.raises(RateLimited):
            built.sms_otp.send_code(next(numbers), "Register", client_ip="203.0.113.9")
    assert len(sms_outbox) == 4


@pytest.mark.real_limits
def test_send_code_meets_the_per_block_limit_and_counts_garbage(
    build: Callable[..., Built], sms_outbox: list[SentSms]
) -> None:
    built = build(SMS_OTP_SEND_LIMIT_PER_PREFIX="2/hour", SMS_OTP_SEND_LIMIT_PER_IP="100/hour")
    with built.app.app_context():
        built.sms_otp.send_code("+447400123400", "Register")
        built.sms_otp.send_code("+447400123401", "Register")
        with pytest.raises(RateLimited):
            built.sms_otp.send_code("+447400123402", "Register")
    # Garbage is counted for the client that sent it (the per-number limit, 1/minute).
    with built.app.test_request_context(environ_base={"REMOTE_ADDR": "198.51.100.7"}):
        with pytest.raises(InvalidPhoneNumber):
            built.sms_otp.send_code("not a number", "Register")
        with pytest.raises(RateLimited):
            built.sms_otp.send_code("still not a number", "Register")
    with built.app.test_request_context(environ_base={"REMOTE_ADDR": "198.51.100.8"}):
        with pytest.raises(InvalidPhoneNumber):  # another visitor's typo is just a typo
            built.sms_otp.send_code("+44 7400 12345", "Register")


@pytest.mark.real_limits
def test_resend_code_spends_the_numbers_budget_unless_refused(
    build: Callable[..., Built], sms_outbox: list[SentSms], clock: FakeClock
) -> None:
    built = build(SMS_OTP_SEND_LIMIT_PER_NUMBER="2/hour")
    with built.app.app_context():
        issued = built.sms_otp.send_code(PHONE, "Register")
        for _ in range(3):  # inside the cooldown: refused, and no budget spent
            with pytest.raises(ResendNotAllowed):
                built.sms_otp.resend_code(issued.id)
        clock.advance(60)
        built.sms_otp.resend_code(issued.id)
        clock.advance(60)
        with pytest.raises(RateLimited):
            built.sms_otp.resend_code(issued.id)
    assert len(sms_outbox) == 2


def test_verify_code_counts_toward_the_numbers_lockout(
    build: Callable[..., Built], sms_outbox: list[SentSms]
) -> None:
    built = build(SMS_OTP_LOCKOUT_THRESHOLD=3)
    with built.app.app_context():
        issued = built.sms_otp.send_code(PHONE, "Register")
        code = last_code()
        for _ in range(3):
            with pytest.raises(InvalidCode):
                built.sms_otp.verify_code(issued.id, wrong(code), usage="Register")
        with pytest.raises(TooManyAttempts):
            built.sms_otp.send_code(PHONE, "Register")
    # The pages see the same lock.
    client = ApiClient(built.app)
    response = client.send_code(PHONE, "Register")
    assert (response.status_code, error_code(response)) == (429, "too_many_attempts")


@pytest.mark.real_limits
def test_ratelimit_enabled_false_turns_the_limits_off_and_says_so(
    build: Callable[..., Built], sms_outbox: list[SentSms], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="flask_sms_otp"):
        built = build(RATELIMIT_ENABLED=False, SMS_OTP_SEND_LIMIT_PER_NUMBER="1/hour")
    assert "RATELIMIT_ENABLED" in caplog.text
    client = ApiClient(built.app)
    for _ in range(3):
        assert client.send_code(PHONE, "Register").status_code == 202
    for _ in range(12):
        assert client.sign_in_password(PHONE, "wrong password").status_code == 401
    assert len(sms_outbox) == 3


# No silent overrides -------------------------------------------------------------------------


def test_cookie_settings_the_extension_changes_are_logged(
    build: Callable[..., Built], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="flask_sms_otp"):
        built = build(SESSION_COOKIE_SECURE=False)
    assert built.app.config["SESSION_COOKIE_SECURE"] is True
    assert "SESSION_COOKIE_SECURE = True (was False)" in caplog.text
    assert "SMS_OTP_SECURE_COOKIES = False" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="flask_sms_otp"):
        kept = build(SESSION_COOKIE_SECURE=False, SMS_OTP_SECURE_COOKIES=False)
    assert kept.app.config["SESSION_COOKIE_SECURE"] is False
    assert "SESSION_COOKIE" not in caplog.text


def test_a_csrf_failure_over_plain_http_names_the_secure_cookie(
    build: Callable[..., Built],
) -> None:
    built = build()
    plain = built.app.test_client()
    api = plain.post("/auth/api/sign-out", headers={"X-CSRFToken": "stale"})
    assert error_code(api) == "csrf_failed"
    assert "HTTPS" in api.get_json()["error"]["message"]
    page = plain.post("/auth/sign-in", data={"phone": PHONE, "password": "x"})
    assert page.status_code == 400
    assert "SMS_OTP_SECURE_COOKIES" in page.text

    secure = built.app.test_client()
    over_https = secure.post(
        "/auth/api/sign-out", headers={"X-CSRFToken": "stale"}, base_url="https://localhost"
    )
    assert "HTTPS" not in over_https.get_json()["error"]["message"]
