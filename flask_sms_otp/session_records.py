"""Server-side records of signed-in sessions (table ``sms_otp_session``).

Flask's session is a signed cookie: clearing it at sign-out leaves every earlier copy valid.
So each signed-in session also has a row here, and the cookie carries only a random token
whose SHA-256 the row keeps; a session authenticates only while its row has not ended
(:func:`.sessions.check_session`). Ending the row (sign-out, a password reset, the user's
"sign out" on the sessions list) ends every copy of the cookie at once.

Like the code engine, this writes through the engine's own connections, never the app's
``db.session``.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy

from .clock import Clock
from .devices import Device, describe
from .models import Models, as_utc, as_utc_or_none, utc

#: ``last_seen_at`` is written at most this often per session, in seconds: most requests
#: cost one indexed read and no write.
TOUCH_INTERVAL = 60
#: How much of the client's ``User-Agent`` is kept; the table's column size.
USER_AGENT_LENGTH = 512
#: An IPv6 address in text takes at most 45 characters.
IP_LENGTH = 45


def new_token() -> str:
    """The secret a session cookie carries: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the table keeps of a token: a stolen table gives no usable session."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    user_id: str
    created_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None
    ip: str
    user_agent: str
    #: The session of the request that asked (only set by :meth:`SessionRecords.active_for`).
    current: bool = False

    @property
    def active(self) -> bool:
        return self.ended_at is None

    @property
    def device(self) -> Device:
        """The browser and operating system its user agent names."""
        return describe(self.user_agent)


class SessionRecords:
    """Start, check, touch and end session records. One per app, in the extension state."""

    def __init__(self, db: SQLAlchemy, models: Models, clock: Clock) -> None:
        self.db = db
        self.models = models
        self.clock = clock

    @property
    def _table(self) -> sa.Table:
        return self.models.SessionRecord.__table__  # type: ignore[attr-defined,no-any-return]

    @functools.cached_property
    def _insert(self) -> sa.Insert:
        return sa.insert(self._table)

    @functools.cached_property
    def _find(self) -> sa.Select[tuple[object, ...]]:
        """Built once: building a statement costs more than running it."""
        table = self._table
        return sa.select(table).where(table.c.token_hash == sa.bindparam("token_hash"))

    def start(
        self,
        token: str,
        user_id: str,
        *,
        ip: str,
        user_agent: str,
        conn: sa.Connection | None = None,
    ) -> str:
        """A new record for ``token``; returns its public id. Written on ``conn`` when
        given (the caller's transaction), else in a transaction of its own."""
        now = utc(self.clock())
        record_id = secrets.token_urlsafe(12)
        with self._writing(conn) as conn:
            conn.execute(
                self._insert,
                {
                    "id": record_id,
                    "token_hash": token_hash(token),
                    "user_id": user_id,
                    "created_at": now,
                    "last_seen_at": now,
                    "ended_at": None,
                    "ip": ip[:IP_LENGTH],
                    "user_agent": user_agent[:USER_AGENT_LENGTH],
                },
            )
        return record_id

    def find(self, token: str) -> SessionRecord | None:
        """The record of ``token``, ended or not: one read by a unique index."""
        with self.db.engine.connect() as conn:
            row = conn.execute(self._find, {"token_hash": token_hash(token)}).first()
        return _record(row) if row is not None else None

    def touch(self, record: SessionRecord, *, ip: str, user_agent: str) -> None:
        """Note that ``record`` is in use, from this address and agent, unless it was
        noted less than :data:`TOUCH_INTERVAL` seconds ago (then nothing is written)."""
        now = self.clock()
        due = now - timedelta(seconds=TOUCH_INTERVAL)
        if record.last_seen_at > due:
            return
        table = self._table
        with self.db.engine.begin() as conn:
            conn.execute(
                sa.update(table)
                .where(
                    table.c.id == record.id,
                    table.c.ended_at.is_(None),
                    table.c.last_seen_at <= utc(due),  # another request may have just done it
                )
                .values(
                    last_seen_at=utc(now),
                    ip=ip[:IP_LENGTH],
                    user_agent=user_agent[:USER_AGENT_LENGTH],
                )
            )

    def rotate(
        self, old_token: str, new_token: str, user_id: str, conn: sa.Connection | None = None
    ) -> bool:
        """Give ``user_id``'s live record of ``old_token`` a new token (a renewed session
        carries on as the same device); ``False`` if there is no such record."""
        table = self._table
        with self._writing(conn) as conn:
            result = conn.execute(
                sa.update(table)
                .where(
                    table.c.token_hash == token_hash(old_token),
                    table.c.user_id == user_id,
                    table.c.ended_at.is_(None),
                )
                .values(token_hash=token_hash(new_token))
            )
        return bool(result.rowcount)

    def end(self, token: str, conn: sa.Connection | None = None) -> None:
        """End the record of ``token``, if it is live."""
        table = self._table
        self._end(table.c.token_hash == token_hash(token), conn=conn)

    def end_one(self, user_id: str, record_id: str) -> bool:
        """End ``user_id``'s live record ``record_id``; ``False`` when there is none (unknown,
        already ended, or another user's: the same answer)."""
        table = self._table
        return self._end(table.c.id == record_id, table.c.user_id == user_id) > 0

    def end_all(self, user_id: str, *, keep_token: str | None = None) -> int:
        """End every live record of ``user_id`` (but the one of ``keep_token``)."""
        table = self._table
        where = [table.c.user_id == user_id]
        if keep_token is not None:
            where.append(table.c.token_hash != token_hash(keep_token))
        return self._end(*where)

    def active_for(self, user_id: str, current_token: str | None) -> list[SessionRecord]:
        """``user_id``'s live records, the one of ``current_token`` first, then the most
        recently seen."""
        table = self._table
        current = token_hash(current_token) if current_token else None
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(table)
                .where(table.c.user_id == user_id, table.c.ended_at.is_(None))
                .order_by(table.c.last_seen_at.desc(), table.c.created_at.desc())
            ).all()
        records = [_record(row, current=row.token_hash == current) for row in rows]
        return sorted(records, key=lambda record: not record.current)  # stable: keeps the order

    def purge(self, before: datetime) -> int:
        """Delete records that ended, or were last seen, before ``before``. A remember-me
        cookie of a deleted record signs nobody in: this is also an idle timeout."""
        table = self._table
        cutoff = utc(before)
        with self.db.engine.begin() as conn:
            result = conn.execute(
                sa.delete(table).where(
                    sa.or_(table.c.last_seen_at < cutoff, table.c.ended_at < cutoff)
                )
            )
        return int(result.rowcount)

    @contextmanager
    def _writing(self, conn: sa.Connection | None) -> Iterator[sa.Connection]:
        """``conn`` when given, else a transaction of the engine's own, committed."""
        if conn is not None:
            yield conn
            return
        with self.db.engine.begin() as own:
            yield own

    def _end(self, *where: sa.ColumnElement[bool], conn: sa.Connection | None = None) -> int:
        table = self._table
        with self._writing(conn) as conn:
            result = conn.execute(
                sa.update(table)
                .where(*where, table.c.ended_at.is_(None))
                .values(ended_at=utc(self.clock()))
            )
        return int(result.rowcount)


def _record(row: sa.Row[tuple[object, ...]], *, current: bool = False) -> SessionRecord:
    values = row._mapping
    return SessionRecord(
        id=values["id"],
        user_id=values["user_id"],
        created_at=as_utc(values["created_at"]),
        last_seen_at=as_utc(values["last_seen_at"]),
        ended_at=as_utc_or_none(values["ended_at"]),
        ip=values["ip"] or "",
        user_agent=values["user_agent"] or "",
        current=current,
    )
