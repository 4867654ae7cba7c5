"""The per-number lockout: consecutive failed verifications lock a number for a while.

Every method works on the connection of the caller's transaction, so a verification counts
its attempt, its failure and its lock in one commit. Failures on silent challenges (sent
nothing, because of who has an account) are counted apart and lock only silent challenges:
the answers stay alike, and the real holder is never locked out by them.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from .models import Models, as_utc
from .settings import Settings


class Lockout:
    def __init__(self, models: Models, settings: Settings) -> None:
        self.models = models
        self.settings = settings
        Counter = models.FailureCounter
        moment = Counter.__table__.c.updated_at.type  # type: ignore[attr-defined]
        now = sa.bindparam("p_now", type_=moment)
        this = sa.and_(
            Counter.phone == sa.bindparam("p_phone"), Counter.silent == sa.bindparam("p_silent")
        )
        # Built once: building a statement costs more than running it.
        self._read = sa.select(Counter.locked_until, Counter.failures).where(this)
        self._lock = (
            sa.update(Counter)
            .where(this)
            .values(failures=0, locked_until=sa.bindparam("p_until", type_=moment), updated_at=now)
        )
        self._reset = (
            sa.update(Counter)
            .where(
                Counter.phone == sa.bindparam("p_phone"),
                Counter.silent.is_(False),
                Counter.failures != 0,
            )
            .values(failures=0, updated_at=now)
        )
        self._bump = (
            sa.update(Counter)
            .where(this)
            .values(failures=Counter.failures + 1, updated_at=now)
            .returning(Counter.failures)
        )
        self._upserts: dict[str, sa.Executable] = {}

    def not_locked(
        self,
        phone: sa.ColumnElement[str],
        silent: sa.ColumnElement[bool],
        now: sa.BindParameter[Any],
    ) -> sa.ColumnElement[bool]:
        """A condition true when the number ``phone`` (a column or parameter) is not locked
        at ``now``, for statements that must check it in the same round trip."""
        Counter = self.models.FailureCounter
        return ~sa.exists().where(
            Counter.phone == phone, Counter.silent == silent, Counter.locked_until > now
        )

    def locked_for(
        self, conn: sa.Connection, phone: str, now: datetime, *, silent: bool
    ) -> int | None:
        """Seconds until ``phone``'s real (or, with ``silent``, its silent) challenges may
        be issued and verified again, or ``None`` when they are not locked."""
        row = conn.execute(self._read, {"p_phone": phone, "p_silent": silent}).one_or_none()
        return None if row is None else self.assess(row[0], row[1], now)[0]

    def state_of(
        self, phone: sa.ColumnElement[str], delivered: sa.ColumnElement[bool]
    ) -> tuple[sa.ScalarSelect[Any], sa.ScalarSelect[Any]]:
        """The ``locked_until`` and failures of the number ``phone`` for challenges like
        one with ``delivered`` (its silent ones when false), as subqueries, for a statement
        that reads them in its own round trip (then see :meth:`assess`)."""
        Counter = self.models.FailureCounter
        this = sa.and_(Counter.phone == phone, Counter.silent != delivered)
        return (
            sa.select(Counter.locked_until).where(this).scalar_subquery(),
            sa.select(Counter.failures).where(this).scalar_subquery(),
        )

    @staticmethod
    def assess(
        locked_until: datetime | None, failures: int | None, now: datetime
    ) -> tuple[int | None, int]:
        """Seconds the number stays locked (or ``None``) and its consecutive failures, from
        the values :meth:`state_of` read."""
        if locked_until is None or as_utc(locked_until) <= now:
            return None, int(failures or 0)
        return max(1, math.ceil((as_utc(locked_until) - now).total_seconds())), int(failures or 0)

    def record_failure(
        self, conn: sa.Connection, phone: str, now: datetime, *, silent: bool
    ) -> datetime | None:
        """Count one consecutive failure; at the threshold, lock and start counting again.
        Returns until when the number is now locked, or ``None``."""
        failures = self._count(conn, phone, silent, now)
        if failures < self.settings.lockout_threshold:
            return None
        until = now + timedelta(seconds=self.settings.lockout_duration)
        conn.execute(
            self._lock, {"p_phone": phone, "p_silent": silent, "p_until": until, "p_now": now}
        )
        return until

    def reset(self, conn: sa.Connection, phone: str, now: datetime) -> None:
        """A success: the real failures of ``phone`` start again from zero."""
        conn.execute(self._reset, {"p_phone": phone, "p_now": now})

    def _count(self, conn: sa.Connection, phone: str, silent: bool, now: datetime) -> int:
        """One more failure, atomically, whether or not the row exists yet (two first
        failures at once make one row with 2)."""
        Counter = self.models.FailureCounter
        values = {"phone": phone, "silent": silent, "failures": 1, "updated_at": now}
        upsert = self._upsert(conn.dialect.name)
        if upsert is not None:
            return int(conn.execute(upsert, values).scalar_one())
        # Other databases: update, else insert in a savepoint and update if another won.
        key = {"p_phone": phone, "p_silent": silent, "p_now": now}
        failures = conn.execute(self._bump, key).scalar_one_or_none()
        if failures is not None:
            return int(failures)
        try:
            with conn.begin_nested():
                conn.execute(sa.insert(Counter), values)
            return 1
        except sa.exc.IntegrityError:
            return int(conn.execute(self._bump, key).scalar_one())

    def _upsert(self, dialect: str) -> sa.Executable | None:
        """``INSERT ... ON CONFLICT DO UPDATE`` where the database has it."""
        if dialect not in ("postgresql", "sqlite"):
            return None
        if dialect not in self._upserts:
            Counter = self.models.FailureCounter
            insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Counter)
            self._upserts[dialect] = insert.on_conflict_do_update(
                index_elements=["phone", "silent"],
                set_={"failures": Counter.failures + 1, "updated_at": insert.excluded.updated_at},
            ).returning(Counter.failures)
        return self._upserts[dialect]
