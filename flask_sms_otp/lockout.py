"""The per-number lockout: consecutive failed verifications lock a number for a while.

Every method works on the connection of the caller's transaction, so a verification counts
its attempt, its failure and its lock in one commit. Failures on silent challenges (sent
nothing, because of who has an account) are counted apart and lock only silent challenges:
the answers stay alike, and the real holder is never locked out by them.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from .models import Models, as_utc
from .settings import Settings


class Lockout:
    def __init__(self, models: Models, settings: Settings) -> None:
        self.models = models
        self.settings = settings

    def locked_for(
        self, conn: sa.Connection, phone: str, now: datetime, *, silent: bool
    ) -> int | None:
        """Seconds until ``phone``'s real (or, with ``silent``, its silent) challenges may
        be issued and verified again, or ``None`` when they are not locked."""
        Counter = self.models.FailureCounter
        locked_until = conn.execute(
            sa.select(Counter.locked_until).where(Counter.phone == phone, Counter.silent == silent)
        ).scalar_one_or_none()
        if locked_until is None or as_utc(locked_until) <= now:
            return None
        return max(1, math.ceil((as_utc(locked_until) - now).total_seconds()))

    def record_failure(
        self, conn: sa.Connection, phone: str, now: datetime, *, silent: bool
    ) -> datetime | None:
        """Count one consecutive failure; at the threshold, lock and start counting again.
        Returns until when the number is now locked, or ``None``."""
        Counter = self.models.FailureCounter
        failures = self._count(conn, phone, silent, now)
        if failures < self.settings.lockout_threshold:
            return None
        until = now + timedelta(seconds=self.settings.lockout_duration)
        conn.execute(
            sa.update(Counter)
            .where(Counter.phone == phone, Counter.silent == silent)
            .values(failures=0, locked_until=until, updated_at=now)
        )
        return until

    def reset(self, conn: sa.Connection, phone: str, now: datetime) -> None:
        """A success: the real failures of ``phone`` start again from zero."""
        Counter = self.models.FailureCounter
        conn.execute(
            sa.update(Counter)
            .where(Counter.phone == phone, Counter.silent.is_(False), Counter.failures != 0)
            .values(failures=0, updated_at=now)
        )

    def _count(self, conn: sa.Connection, phone: str, silent: bool, now: datetime) -> int:
        """One more failure, atomically, whether or not the row exists yet (two first
        failures at once make one row with 2)."""
        Counter = self.models.FailureCounter
        values = {"phone": phone, "silent": silent, "failures": 1, "updated_at": now}
        bump = {"failures": Counter.failures + 1, "updated_at": now}
        dialect = conn.dialect.name
        if dialect in ("postgresql", "sqlite"):
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            statement = (
                insert(Counter)
                .values(**values)
                .on_conflict_do_update(index_elements=["phone", "silent"], set_=bump)
                .returning(Counter.failures)
            )
            return int(conn.execute(statement).scalar_one())
        # Other databases: update, else insert in a savepoint and update if another won.
        this = sa.and_(Counter.phone == phone, Counter.silent == silent)
        update = sa.update(Counter).where(this).values(**bump).returning(Counter.failures)
        failures = conn.execute(update).scalar_one_or_none()
        if failures is not None:
            return int(failures)
        try:
            with conn.begin_nested():
                conn.execute(sa.insert(Counter).values(**values))
            return 1
        except sa.exc.IntegrityError:
            return int(conn.execute(update).scalar_one())
