"""The pumping guard: hold anonymous sends to a country or number block whose codes stop
being used.

SMS pumping sends codes to numbers the fraudster is paid for, and nobody types those codes:
the share of sent codes that get used (the delivery records' ``verified_at``) collapses
where the pumping goes and holds steady everywhere else. Per country and per block of
10,000 numbers, the guard compares that share over a recent window with the usual one (the
country's own, before the window, where at least ``min_sends`` codes were used; else every
country's; with no history, a default) and holds the country or block when it falls below
``ratio`` of it. While held, a new code there needs the bot check (when one is configured,
:mod:`.captcha`) or is refused (:class:`.SendsHeld`), alike for every number there, with an
account or not.

A hold is a denial of service to the people it covers, and anyone can make codes go unused.
So a country with a history of its own (at least ``min_sends`` codes used there: the app's
own users) is held only when a bot check can let its people through; without one the guard
only warns. Blocks, and countries the app
has no history in (where pumping goes), are held either way.

A code counts once it had ``grace`` seconds to be used, or sooner if it was. A hold ends at
its ``until``; sooner when codes sent there after the bot check are used again; or when an
operator releases it, after which only later sends are judged. Test numbers and holder
codes (the second step, identity checks) leave no mark in the figures: neither is counted.

Holds are rows of ``sms_otp_guard_hold``, shared by every process. Each process keeps a copy,
read again at most every ``interval`` seconds, and judges a country or block at most that
often, so most sends cost no query.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from flask_sqlalchemy import SQLAlchemy

from . import signals
from .config_parsers import GuardSettings
from .limits import prefix_of
from .models import Models, as_utc, as_utc_or_none, utc
from .phone import region_of
from .records import DeliveryRecords
from .usage import PROTECTED_USAGES

logger = logging.getLogger("flask_sms_otp")

COUNTRY = "country"
BLOCK = "block"


@dataclass(frozen=True, slots=True)
class Hold:
    """A country's or block's hold, active or past, and the figures that started it."""

    scope: str
    key: str
    country: str
    label: str
    #: Codes counted in the window when the hold began, and how many of them were used.
    sent: int
    verified: int
    #: The share of codes used that was expected.
    baseline: float
    held_at: datetime
    until: datetime
    released_at: datetime | None = None
    released_by: str | None = None

    def active(self, now: datetime) -> bool:
        return self.released_at is None and now < self.until

    @property
    def share(self) -> float:
        return self.verified / self.sent if self.sent else 0.0


@dataclass(frozen=True, slots=True)
class Tally:
    sent: int
    verified: int

    @property
    def share(self) -> float:
        return self.verified / self.sent if self.sent else 0.0


class PumpingGuard:
    """The guard of one app (held in ``app.extensions``), on its delivery records."""

    def __init__(
        self,
        db: SQLAlchemy,
        models: Models,
        records: DeliveryRecords,
        settings: GuardSettings,
        *,
        bot_check: bool = False,
    ) -> None:
        self.db = db
        self.models = models
        self.records = records
        self.settings = settings
        #: Whether a held send can still pass a bot check (else it is refused).
        self.bot_check = bot_check
        self._spared: dict[str, datetime] = {}
        self._holds: dict[tuple[str, str], Hold] = {}
        self._read_at: datetime | None = None
        self._next_judgement: dict[tuple[str, str], datetime] = {}
        self._blocks_seen: dict[str, datetime] = {}
        self._baselines: dict[str, tuple[datetime, float]] = {}
        self._everywhere: tuple[datetime, float] | None = None
        Record, HoldRow = models.DeliveryRecord, models.GuardHold
        moment = Record.__table__.c.created_at.type  # type: ignore[attr-defined]
        recent = Record.created_at >= sa.bindparam("recent_from", type_=moment)
        usual = Record.created_at < sa.bindparam("usual_until", type_=moment)
        counted = sa.and_(
            Record.status == "sent",
            Record.usage.in_([usage.value for usage in PROTECTED_USAGES]),
            Record.created_at >= sa.bindparam("since", type_=moment),
            # A code counts once it had its grace to be used, or sooner if it was used.
            sa.or_(
                Record.created_at < sa.bindparam("grace_edge", type_=moment),
                Record.verified_at.is_not(None),
            ),
        )
        figures = (
            sa.func.count(sa.case((recent, 1))),
            sa.func.count(sa.case((recent, Record.verified_at))),
            sa.func.count(sa.case((usual, 1))),
            sa.func.count(sa.case((usual, Record.verified_at))),
        )
        # Built once: building a statement costs more than running it.
        self._tally = {
            COUNTRY: sa.select(*figures).where(Record.country == sa.bindparam("key"), counted),
            BLOCK: sa.select(*figures).where(Record.block == sa.bindparam("key"), counted),
        }
        self._tally_everywhere = sa.select(*figures).where(counted)
        self._read = sa.select(HoldRow.__table__)  # type: ignore[attr-defined]

    # What the engine asks ------------------------------------------------------------------

    def retry_after(self, e164: str, now: datetime) -> int | None:
        """Seconds until the holds on ``e164``'s country and block end; ``None`` if none
        holds it. Judges the country and the block first when their turn has come."""
        if not self.settings.enabled:
            return None
        now = utc(now)
        self._read_holds(now)
        country = region_of(e164) or "ZZ"
        block = self.records.block_of(e164)
        if self._due(COUNTRY, country, now):
            self._judge(COUNTRY, country, country, country, now)
        if self._seen_before(block, now) and self._due(BLOCK, block, now):
            self._judge(BLOCK, block, country, _block_label(e164), now)
        ends = [
            hold.until
            for hold in (self._holds.get((COUNTRY, country)), self._holds.get((BLOCK, block)))
            if hold is not None and hold.active(now)
        ]
        if not ends:
            return None
        return max(1, math.ceil((max(ends) - now).total_seconds()))

    # What operators ask (``flask sms-otp guard``) ------------------------------------------

    def holds(self, now: datetime, *, past: bool = False) -> list[Hold]:
        """The active holds, newest first; with ``past``, the ended ones too."""
        self._read_holds(utc(now), force=True)
        found = [hold for hold in self._holds.values() if past or hold.active(utc(now))]
        return sorted(found, key=lambda hold: hold.held_at, reverse=True)

    def release(self, scope: str, key: str, now: datetime, *, by: str = "operator") -> bool:
        """End an active hold; from now on only later sends are judged there. Returns
        whether there was one to end."""
        HoldRow = self.models.GuardHold
        now = utc(now)
        with self.db.engine.begin() as conn:
            result = conn.execute(
                sa.update(HoldRow)
                .where(
                    HoldRow.scope == scope,
                    HoldRow.key == key,
                    HoldRow.released_at.is_(None),
                    HoldRow.until > now,
                )
                .values(released_at=now, released_by=by)
            )
        if result.rowcount != 1:
            return False
        self._read_holds(now, force=True)
        hold = self._holds.get((scope, key))
        if hold is not None:
            logger.warning("pumping guard: %s %s released (%s)", scope, hold.label, by)
            if has_app_context():
                signals.pumping_released.send(_app(), hold=hold, by=by)
        return True

    def purge(self, before: datetime) -> int:
        """Delete the holds that ended before ``before``."""
        HoldRow = self.models.GuardHold
        cutoff = utc(before)
        with self.db.engine.begin() as conn:
            result = conn.execute(
                sa.delete(HoldRow).where(
                    sa.or_(HoldRow.released_at < cutoff, HoldRow.until < cutoff)
                )
            )
        return int(result.rowcount)

    # Judging -------------------------------------------------------------------------------

    def _judge(self, scope: str, key: str, country: str, label: str, now: datetime) -> None:
        """Hold ``key`` if its codes stopped being used, or lift its hold if they are used
        again; figures start after an operator's release and, for a held one, at its hold."""
        config = self.settings
        hold = self._holds.get((scope, key))
        window_start = now - timedelta(seconds=config.window)
        since = window_start
        if hold is not None and hold.released_by == "operator" and hold.released_at:
            since = max(since, hold.released_at)
        held = hold is not None and hold.active(now)
        if held and hold is not None:
            since = max(since, hold.held_at)
        minimum = config.min_sends if scope == COUNTRY else config.min_block_sends
        established = False
        if scope == COUNTRY:
            recent, usual = self._tallies(scope, key, since, now)
            baseline = self._remember_baseline(country, usual, now)
            established = usual.verified >= config.min_sends
        else:
            recent, _ = self._tallies(scope, key, since, now, history=False)
            baseline = self._baseline_of(country, now)
        if recent.sent < minimum:
            return
        low = recent.share < config.ratio * baseline
        if held and not low:
            self.release(scope, key, now, by="recovered")
        elif not held and low and established and not self.bot_check:
            self._spare(country, recent, baseline, now)
        elif not held and low:
            self._hold(scope, key, country, label, recent, baseline, now)

    def _spare(self, country: str, recent: Tally, baseline: float, now: datetime) -> None:
        """A country with a history of its own is not held without a bot check to let its
        people through: anyone could otherwise shut the app's own country off by asking
        for codes nobody types. Operators are told, once per window."""
        if now < self._spared.get(country, now):
            return
        self._spared[country] = now + timedelta(seconds=self.settings.window)
        logger.warning(
            "pumping suspected: codes to %s are going unused (%d of %d used in the window; "
            "%.0f%% expected), not held without a bot check (SMS_OTP_CAPTCHA)",
            country,
            recent.verified,
            recent.sent,
            baseline * 100,
        )

    def _tallies(
        self, scope: str, key: str, since: datetime, now: datetime, *, history: bool = True
    ) -> tuple[Tally, Tally]:
        """Codes counted since ``since``, and (with ``history``) in the baseline period
        before the window."""
        config = self.settings
        params = {
            "key": key,
            "recent_from": since,
            "usual_until": now - timedelta(seconds=config.window),
            "since": now - timedelta(seconds=config.baseline) if history else since,
            "grace_edge": now - timedelta(seconds=config.grace),
        }
        with self.db.engine.connect() as conn:
            row = conn.execute(self._tally[scope], params).one()
        return Tally(int(row[0]), int(row[1])), Tally(int(row[2]), int(row[3]))

    def _remember_baseline(self, country: str, usual: Tally, now: datetime) -> float:
        """The country's own share where at least ``min_sends`` of its codes were used
        (sends nobody used, a past pumping say, make no baseline), else every country's."""
        baseline = (
            usual.share
            if usual.verified >= self.settings.min_sends
            else self._everywhere_share(now)
        )
        self._baselines[country] = (now, baseline)
        return baseline

    def _baseline_of(self, country: str, now: datetime) -> float:
        """The country's usual share, as last judged within ``interval``, else afresh."""
        known = self._baselines.get(country)
        if known is not None and now - known[0] <= timedelta(seconds=self.settings.interval):
            return known[1]
        window_start = now - timedelta(seconds=self.settings.window)
        _, usual = self._tallies(COUNTRY, country, window_start, now)
        return self._remember_baseline(country, usual, now)

    def _everywhere_share(self, now: datetime) -> float:
        """The share of codes used in every country over the baseline period, else the
        default; kept for ten judging intervals (it moves slowly)."""
        known = self._everywhere
        if known is not None and now - known[0] <= timedelta(seconds=10 * self.settings.interval):
            return known[1]
        config = self.settings
        params = {
            "recent_from": now - timedelta(seconds=config.window),
            "usual_until": now - timedelta(seconds=config.window),
            "since": now - timedelta(seconds=config.baseline),
            "grace_edge": now - timedelta(seconds=config.grace),
        }
        with self.db.engine.connect() as conn:
            row = conn.execute(self._tally_everywhere, params).one()
        usual = Tally(int(row[2]), int(row[3]))
        share = usual.share if usual.sent >= config.min_sends else config.default_share
        self._everywhere = (now, share)
        return share

    def _hold(
        self,
        scope: str,
        key: str,
        country: str,
        label: str,
        recent: Tally,
        baseline: float,
        now: datetime,
    ) -> None:
        """Start a hold, unless another process just did (then it is only read)."""
        HoldRow = self.models.GuardHold
        values: dict[str, Any] = {
            "country": country,
            "label": label,
            "sent": recent.sent,
            "verified": recent.verified,
            "baseline": baseline,
            "held_at": now,
            "until": now + timedelta(seconds=self.settings.hold),
            "released_at": None,
            "released_by": None,
        }
        try:
            with self.db.engine.begin() as conn:
                # Taken over only if it is not active: one process starts a hold.
                result = conn.execute(
                    sa.update(HoldRow)
                    .where(
                        HoldRow.scope == scope,
                        HoldRow.key == key,
                        sa.or_(HoldRow.released_at.is_not(None), HoldRow.until <= now),
                    )
                    .values(**values)
                )
                started = result.rowcount == 1
                if (
                    not started
                    and conn.execute(
                        sa.select(HoldRow.key).where(HoldRow.scope == scope, HoldRow.key == key)
                    ).first()
                    is None
                ):
                    conn.execute(sa.insert(HoldRow).values(scope=scope, key=key, **values))
                    started = True
        except sa.exc.IntegrityError:
            started = False  # another process inserted it first
        except sa.exc.SQLAlchemyError:
            # Still held here, for this process: failing to write must not let sends go.
            logger.exception("pumping guard: could not store a hold")
            self._holds[(scope, key)] = Hold(scope=scope, key=key, **values)
            return
        self._read_holds(now, force=True)
        hold = self._holds.get((scope, key))
        if started and hold is not None:
            logger.warning(
                "pumping suspected: anonymous sends to %s %s held until %s "
                "(%d of %d codes used in the window; %.0f%% expected)",
                scope,
                label,
                hold.until.isoformat(timespec="seconds"),
                recent.verified,
                recent.sent,
                baseline * 100,
            )
            if has_app_context():
                signals.pumping_suspected.send(_app(), hold=hold)

    # Bookkeeping ---------------------------------------------------------------------------

    def _due(self, scope: str, key: str, now: datetime) -> bool:
        """Whether ``key`` is to be judged now; if so, its next turn is booked."""
        if now < self._next_judgement.get((scope, key), now):
            return False
        self._next_judgement[(scope, key)] = now + timedelta(seconds=self.settings.interval)
        if len(self._next_judgement) > 100_000:  # blocks seen once must not pile up
            self._next_judgement = {
                item: at for item, at in self._next_judgement.items() if at > now
            }
        return True

    def _seen_before(self, block: str, now: datetime) -> bool:
        """Whether this process sent to ``block`` within the window before. Most sends go
        to a block for the first time, and a block is judged only from its second: a first
        costs no query. (Each process sees part of a burst; one of them soon sees two.)"""
        window = timedelta(seconds=self.settings.window)
        last = self._blocks_seen.get(block)
        self._blocks_seen[block] = now
        if len(self._blocks_seen) > 100_000:
            self._blocks_seen = {b: at for b, at in self._blocks_seen.items() if now - at < window}
        return last is not None and now - last < window

    def _read_holds(self, now: datetime, *, force: bool = False) -> None:
        """Read every hold again when the copy is older than ``interval``."""
        interval = timedelta(seconds=self.settings.interval)
        if not force and self._read_at is not None and now - self._read_at < interval:
            return
        with self.db.engine.connect() as conn:
            rows = conn.execute(self._read).all()
        self._holds = {(row.scope, row.key): _hold_of(row) for row in rows}
        self._read_at = now


def _hold_of(row: Any) -> Hold:
    return Hold(
        scope=row.scope,
        key=row.key,
        country=row.country,
        label=row.label,
        sent=int(row.sent),
        verified=int(row.verified),
        baseline=float(row.baseline),
        held_at=as_utc(row.held_at),
        until=as_utc(row.until),
        released_at=as_utc_or_none(row.released_at),
        released_by=row.released_by,
    )


def _block_label(e164: str) -> str:
    """The block as an operator reads it, without its last two digits: with the records'
    last four digits, the block in clear would be the number."""
    prefix = prefix_of(e164)
    return prefix[:-2] + "*" * 6


def _app() -> Flask:
    return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]
