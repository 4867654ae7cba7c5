"""Delivery records: writing one per send, marking it verified, applying the provider's
delivery receipts, and the conversion and delivery reports."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy

from .connectors.receipts import RANK, Receipt
from .errors import DeliveryError
from .limits import prefix_of
from .models import Models, as_utc, utc
from .phone import mask_phone, region_of
from .usage import Usage

logger = logging.getLogger("flask_sms_otp")


@dataclass(frozen=True, slots=True)
class CountryStats:
    country: str
    sent: int
    failed: int
    verified: int

    @property
    def conversion(self) -> float | None:
        """Verified codes per accepted SMS; ``None`` when nothing was sent."""
        return self.verified / self.sent if self.sent else None


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """Per country and connector: accepted code sends, those a receipt said delivered,
    those verified, and the median time from send to delivery."""

    country: str
    connector: str
    sent: int
    delivered: int
    verified: int
    median_delivery_ms: int | None


@dataclass(frozen=True, slots=True)
class ReceiptOutcome:
    """What a receipt did: ``"applied"``; ``"unknown"`` (no record of that message);
    ``"replayed"`` (the very receipt last applied); ``"ignored"`` (not newer than what the
    record holds, or a status that tells nothing)."""

    result: str
    challenge_id: str | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    """Which records the delivery log shows; ``None`` leaves a column unfiltered.
    ``delivery`` is a receipt's status, or ``"none"`` for records no receipt reached."""

    country: str | None = None
    connector: str | None = None
    usage: str | None = None
    status: str | None = None
    delivery: str | None = None
    verified: bool | None = None
    since: datetime | None = None
    until: datetime | None = None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"\A([0-9]{1,18})\.([0-9]{1,18})\Z")


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page of the delivery log ends: its last record's time and id (the log is
    ordered by both, newest first, so the next page is one index range: keyset paging)."""

    created_at: datetime
    id: int

    def encode(self) -> str:
        micros = (as_utc(self.created_at) - _EPOCH) // timedelta(microseconds=1)
        return f"{micros}.{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The cursor ``encode`` wrote; ``ValueError`` for anything else."""
        match = _CURSOR.match(text)
        if match is None:
            raise ValueError("not a cursor")
        try:
            moment = _EPOCH + timedelta(microseconds=int(match[1]))
        except OverflowError:
            raise ValueError("not a cursor") from None
        return cls(moment, int(match[2]))


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """One record as the delivery log shows it (the number masked, as stored)."""

    id: int
    created_at: datetime
    phone_masked: str
    country: str
    usage: str
    connector: str
    status: str
    error: str | None
    delivery_status: str | None
    delivery_error: str | None
    delivered_at: datetime | None
    verified_at: datetime | None

    @property
    def delivery_ms(self) -> int | None:
        """Time from send to delivery, by the provider's receipt."""
        if self.delivered_at is None:
            return None
        elapsed = self.delivered_at - self.created_at
        return max(0, elapsed // timedelta(milliseconds=1))


_BLOCK_CONTEXT = b"flask-sms-otp number block"


def block_key(secret: str | bytes) -> bytes:
    """The key of the number blocks' digests, from the app's ``SECRET_KEY``."""
    raw = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(raw, _BLOCK_CONTEXT, hashlib.sha256).digest()


class DeliveryRecords:
    def __init__(self, db: SQLAlchemy, models: Models, *, block_key: bytes = b"") -> None:
        self.db = db
        self.models = models
        self._block_key = block_key
        Record = models.DeliveryRecord
        moment = Record.__table__.c.created_at.type  # type: ignore[attr-defined]
        # Built once: building a statement costs more than running it.
        Challenge = models.Challenge
        # A code may be verified before its send is recorded (a worker records it after
        # the provider answered): the record then starts verified.
        already_verified = (
            sa.select(Challenge.consumed_at)
            .where(Challenge.id == sa.bindparam("v_challenge_id"))
            .scalar_subquery()
        )
        self._insert = sa.insert(Record).values(verified_at=already_verified)
        self._last_try = (
            sa.select(Record.connector, Record.status)
            .where(Record.challenge_id == sa.bindparam("c_id"))
            .order_by(Record.id.desc())
            .limit(1)
        )
        self._sent_messages = (
            sa.select(Record.connector, Record.provider_message_id)
            .where(
                Record.challenge_id == sa.bindparam("c_id"),
                Record.status == "sent",
                Record.provider_message_id.is_not(None),
            )
            .order_by(Record.id)
        )
        self._verified = (
            sa.update(Record)
            .where(
                Record.challenge_id == sa.bindparam("c_id"),
                # An "unsure" try did reach the person, if its code is used.
                Record.status.in_(("sent", "unsure")),
                Record.verified_at.is_(None),
            )
            .values(verified_at=sa.bindparam("at", type_=moment))
        )

        # Receipts: the newest record of a message, and a forward-only update of it.
        self._receipt_target = (
            sa.select(Record.id, Record.challenge_id, Record.receipt_key)
            .where(
                Record.connector == sa.bindparam("r_connector"),
                Record.provider_message_id == sa.bindparam("r_message_id"),
            )
            .order_by(Record.id.desc())
            .limit(1)
        )
        self._apply_receipt = (
            sa.update(Record)
            .where(
                Record.id == sa.bindparam("r_id"),
                sa.or_(
                    Record.delivery_status.is_(None),
                    Record.delivery_status.in_(sa.bindparam("r_behind", expanding=True)),
                ),
            )
            .values(
                delivery_status=sa.bindparam("r_status"),
                delivery_error=sa.bindparam("r_error"),
                delivered_at=sa.bindparam("r_delivered_at", type_=moment),
                receipt_at=sa.bindparam("r_at", type_=moment),
                receipt_key=sa.bindparam("r_key"),
            )
        )

    def block_of(self, e164: str) -> str:
        """The digest of the number's block of 10,000, as the records hold it."""
        prefix = prefix_of(e164).encode()
        return hmac.new(self._block_key, prefix, hashlib.sha256).hexdigest()[:16]

    def record(
        self,
        *,
        challenge_id: str | None,
        connector: str,
        usage: str,
        phone: str,
        status: str,
        at: datetime,
        latency_ms: int | None = None,
        message_id: str | None = None,
        error: DeliveryError | None = None,
        conn: sa.Connection | None = None,
    ) -> None:
        """Write one record: on ``conn`` (the caller's transaction, inside a savepoint, so
        a failure here never undoes the caller's work), else in a transaction of its own;
        never on the app's session."""
        with _transaction(self.db, conn) as target:
            target.execute(
                self._insert,
                {
                    "v_challenge_id": challenge_id if status == "sent" else None,
                    "challenge_id": challenge_id,
                    "connector": connector,
                    "usage": usage,
                    "phone_masked": mask_phone(phone),
                    "country": region_of(phone) or "ZZ",
                    "block": self.block_of(phone),
                    "status": status,
                    "provider_message_id": (message_id or None) and message_id[:128],
                    "error": error.describe()[:500] if error is not None else None,
                    "latency_ms": latency_ms,
                    "created_at": utc(at),
                },
            )

    def unsure_connector(self, challenge_id: str) -> str | None:
        """The connector of the challenge's last try if that try may have sent the SMS
        (status ``unsure``): its next send starts with the connector after it."""
        with self.db.engine.connect() as conn:
            row = conn.execute(self._last_try, {"c_id": challenge_id}).first()
        return row.connector if row is not None and row.status == "unsure" else None

    def sent_messages(self, challenge_id: str) -> list[tuple[str, str]]:
        """The connector and provider message id of each message the provider accepted
        for the challenge, oldest first."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(self._sent_messages, {"c_id": challenge_id}).all()
        return [(row.connector, row.provider_message_id) for row in rows]

    def mark_verified(self, conn: sa.Connection, challenge_id: str, at: datetime) -> None:
        """Credit the challenge's accepted messages with a verified code, on ``conn`` (the
        transaction that consumes the code), inside a savepoint: a failure here is logged,
        and monitoring never undoes a verification."""
        try:
            with guarded(conn):
                conn.execute(self._verified, {"c_id": challenge_id, "at": utc(at)})
        except sa.exc.SQLAlchemyError:
            logger.exception("could not mark the delivery record verified")

    def apply_receipt(self, connector: str, receipt: Receipt, at: datetime) -> ReceiptOutcome:
        """Apply a verified receipt to the record of its message, in a transaction of its
        own: only a status later than the record's is written (a late "sent" never undoes
        "delivered"), and a receipt identical to the one last applied is a replay."""
        with self.db.engine.begin() as conn:
            row = conn.execute(
                self._receipt_target,
                {"r_connector": connector, "r_message_id": receipt.message_id[:128]},
            ).first()
            if row is None:
                return ReceiptOutcome("unknown")
            record_id, challenge_id, last_key = row
            if last_key is not None and hmac.compare_digest(last_key, receipt.key):
                return ReceiptOutcome("replayed", challenge_id)
            if receipt.status is None:
                return ReceiptOutcome("ignored", challenge_id)
            rank = RANK[receipt.status]
            behind = [status for status, earlier in RANK.items() if earlier < rank]
            delivered_at = None
            if receipt.status == "delivered":
                delivered_at = utc(receipt.occurred_at or at)
            updated = conn.execute(
                self._apply_receipt,
                {
                    "r_id": record_id,
                    "r_behind": behind,
                    "r_status": receipt.status,
                    "r_error": (receipt.error_code or None) and receipt.error_code[:32],
                    "r_delivered_at": delivered_at,
                    "r_at": utc(at),
                    "r_key": receipt.key,
                },
            )
        if updated.rowcount != 1:
            return ReceiptOutcome("ignored", challenge_id)
        return ReceiptOutcome("applied", challenge_id, delivered_at)

    def delivery_stats(self, since: datetime) -> list[DeliveryStats]:
        """Per country and connector since ``since``: code sends accepted, delivered
        (by receipt) and verified, with the median time to delivery. The median is taken
        here, from the delivered rows' two times: SQLite has no percentile function."""
        Record = self.models.DeliveryRecord
        window = (Record.created_at >= utc(since), Record.usage.in_([u.value for u in Usage]))
        sent = sa.func.sum(sa.case((Record.status == "sent", 1), else_=0))
        delivered = sa.func.sum(sa.case((Record.delivery_status == "delivered", 1), else_=0))
        verified = sa.func.count(Record.verified_at)
        group = (Record.country, Record.connector)
        with self.db.engine.connect() as conn:
            counts = conn.execute(
                sa.select(*group, sent, delivered, verified)
                .where(*window)
                .group_by(*group)
                .order_by(sent.desc(), *group)
            ).all()
            times = conn.execute(
                sa.select(*group, Record.created_at, Record.delivered_at).where(
                    *window, Record.delivery_status == "delivered", Record.delivered_at.isnot(None)
                )
            ).all()
        durations: dict[tuple[str, str], list[float]] = {}
        for country, name, created, done in times:
            if done is None:
                continue
            elapsed = (as_utc(done) - as_utc(created)).total_seconds() * 1000
            durations.setdefault((country, name), []).append(max(0.0, elapsed))
        rows = []
        for country, name, s, d, v in counts:
            spans = durations.get((country, name))
            median = round(statistics.median(spans)) if spans else None
            rows.append(DeliveryStats(country, name, int(s or 0), int(d or 0), int(v or 0), median))
        return rows

    def stats(self, since: datetime) -> list[CountryStats]:
        """Per country since ``since``: accepted, failed and verified code sends (notices
        carry no code and are left out), busiest first."""
        Record = self.models.DeliveryRecord
        sent = sa.func.sum(sa.case((Record.status == "sent", 1), else_=0))
        failed = sa.func.sum(sa.case((Record.status.in_(("failed", "unsure")), 1), else_=0))
        verified = sa.func.count(Record.verified_at)
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(Record.country, sent, failed, verified)
                .where(Record.created_at >= utc(since), Record.usage.in_([u.value for u in Usage]))
                .group_by(Record.country)
                .order_by(sent.desc(), Record.country)
            ).all()
        return [CountryStats(c, int(s or 0), int(f or 0), int(v or 0)) for c, s, f, v in rows]

    def failure_rates(self, since: datetime) -> dict[str, tuple[int, int]]:
        """Per connector since ``since``: (tries, tries that failed or may have)."""
        Record = self.models.DeliveryRecord
        failed = sa.func.sum(sa.case((Record.status.in_(("failed", "unsure")), 1), else_=0))
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(Record.connector, sa.func.count(), failed)
                .where(Record.created_at >= utc(since), Record.status != "queued")
                .group_by(Record.connector)
            ).all()
        return {name: (int(tries), int(bad or 0)) for name, tries, bad in rows}

    def log(
        self, where: DeliveryFilter, after: Cursor | None = None, limit: int = 50
    ) -> tuple[list[DeliveryRow], Cursor | None]:
        """A page of records matching ``where``, newest first, from after ``after``; and
        the cursor of the next page (``None`` on the last). Ordered by ``created_at`` and
        ``id``, so each page is a range of the ``created_at`` index (of the
        ``(country, created_at)`` one for a country), however deep."""
        Record = self.models.DeliveryRecord
        conditions: list[sa.ColumnElement[bool]] = []
        for column, value in (
            (Record.country, where.country),
            (Record.connector, where.connector),
            (Record.usage, where.usage),
            (Record.status, where.status),
        ):
            if value is not None:
                conditions.append(column == value)
        if where.delivery == "none":
            conditions.append(Record.delivery_status.is_(None))
        elif where.delivery is not None:
            conditions.append(Record.delivery_status == where.delivery)
        if where.verified is not None:
            verified = Record.verified_at.is_not(None)
            conditions.append(verified if where.verified else ~verified)
        if where.since is not None:
            conditions.append(Record.created_at >= utc(where.since))
        if where.until is not None:
            conditions.append(Record.created_at < utc(where.until))
        if after is not None:
            moment = utc(after.created_at)
            # The first term bounds the index range; the second breaks ties in time by id.
            conditions.append(Record.created_at <= moment)
            # As a BIGINT: a cursor may name an id past the column's INTEGER (on PostgreSQL).
            last = sa.literal(after.id, sa.BigInteger)
            conditions.append(sa.or_(Record.created_at < moment, Record.id < last))
        statement = (
            sa.select(
                Record.id,
                Record.created_at,
                Record.phone_masked,
                Record.country,
                Record.usage,
                Record.connector,
                Record.status,
                Record.error,
                Record.delivery_status,
                Record.delivery_error,
                Record.delivered_at,
                Record.verified_at,
            )
            .where(*conditions)
            .order_by(Record.created_at.desc(), Record.id.desc())
            .limit(limit + 1)
        )
        with self.db.engine.connect() as conn:
            found = conn.execute(statement).all()
        rows = [
            DeliveryRow(
                id=int(row.id),
                created_at=as_utc(row.created_at),
                phone_masked=row.phone_masked,
                country=row.country,
                usage=row.usage,
                connector=row.connector,
                status=row.status,
                error=row.error,
                delivery_status=row.delivery_status,
                delivery_error=row.delivery_error,
                delivered_at=as_utc(row.delivered_at) if row.delivered_at else None,
                verified_at=as_utc(row.verified_at) if row.verified_at else None,
            )
            for row in found[:limit]
        ]
        more = len(found) > limit
        return rows, Cursor(rows[-1].created_at, rows[-1].id) if more and rows else None

    def purge(self, before: datetime) -> int:
        Record = self.models.DeliveryRecord
        with self.db.engine.begin() as conn:
            result = conn.execute(sa.delete(Record).where(Record.created_at < utc(before)))
        return int(result.rowcount)


@contextmanager
def _transaction(db: SQLAlchemy, conn: sa.Connection | None) -> Iterator[sa.Connection]:
    """``conn`` guarded by :func:`guarded` when given, else a transaction of its own,
    committed."""
    if conn is None:
        with db.engine.begin() as own:
            yield own
    else:
        with guarded(conn):
            yield conn


@contextmanager
def guarded(conn: sa.Connection) -> Iterator[None]:
    """Statements whose failure must not undo the rest of ``conn``'s transaction: in a
    savepoint, except on SQLite, where a failed statement undoes only itself (and a
    savepoint would cost two more statements)."""
    if conn.dialect.name == "sqlite":
        yield
        return
    with conn.begin_nested():
        yield
