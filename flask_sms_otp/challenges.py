"""The code engine: the challenges table. Issue, resend and verify one-time codes.

Every step that must hold under concurrency is one conditional ``UPDATE`` whose row count
or ``RETURNING`` row decides: the attempt is counted before any comparison (so N parallel
guesses get at most ``max_attempts`` comparisons), and a code is consumed by
``UPDATE ... WHERE consumed_at IS NULL`` (so two parallel right answers give one success).
Wrong, expired, used, foreign-purpose and unknown challenges all raise :class:`InvalidCode`.

The engine writes on connections of its own (never the app's ``db.session``), one
transaction per step: an app that rolls its work back cannot undo an attempt count. It
sends nothing: it returns what it issued, and :mod:`.dispatch` decides when and where the
code goes. Codes and digests are :mod:`.codes`'; the per-number lockout is :mod:`.lockout`'s.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from flask import Flask, current_app, has_request_context
from flask_limiter.util import get_remote_address
from flask_sqlalchemy import SQLAlchemy

from . import signals
from .clock import Clock, utcnow
from .codes import Codes, unusable_digest
from .errors import (
    InvalidCode,
    InvalidPhoneNumber,
    ResendNotAllowed,
    SendsHeld,
    TooManyAttempts,
)
from .limits import RateLimits
from .lockout import Lockout
from .models import Models, as_utc, as_utc_or_none, utc
from .phone import normalize_with, test_code
from .records import DeliveryRecords
from .settings import Settings
from .usage import HOLDER_USAGES, PROTECTED_USAGES, SCREENED_USAGES, Usage

#: Work done inside a successful verification's transaction (see :meth:`ChallengeService.verify`).
AfterVerify = Callable[[sa.Connection, "VerifiedChallenge"], None]

logger = logging.getLogger("flask_sms_otp")

_CHALLENGE_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


class BotCheck(Protocol):
    """A bot check asked before a code goes to a number anyone may name (:mod:`.captcha`)."""

    #: ``"always"``, ``"guard"`` (only while the pumping guard holds the number) or ``"never"``.
    when: str

    def require(self, token: str | None, remote_ip: str | None) -> None:
        """Return if ``token`` proves a person; else raise :class:`.CaptchaFailed`."""


class SendGuard(Protocol):
    """Holds sends to countries and number blocks that look pumped (:mod:`.guard`)."""

    def retry_after(self, e164: str, now: datetime) -> int | None:
        """Seconds until a hold on ``e164``'s country or block ends; ``None`` if none."""


@dataclass(frozen=True, slots=True)
class IssuedChallenge:
    """What a client may know about a challenge: never the code."""

    id: str
    usage: str
    phone: str
    expires_at: datetime
    resend_after: datetime
    #: The channel the person chose ("sms", "whatsapp"), or None: the route's order.
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class VerifiedChallenge:
    id: str
    usage: str
    phone: str
    user_id: str | None


@dataclass(frozen=True, slots=True)
class ChallengeRow:
    """A challenge as stored, its times aware UTC: what :meth:`ChallengeService.find` gives."""

    id: str
    usage: str
    phone: str
    user_id: str | None
    delivered: bool
    created_at: datetime
    last_sent_at: datetime
    expires_at: datetime
    attempts: int
    resends: int
    consumed_at: datetime | None
    closed_at: datetime | None
    channel: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> ChallengeRow:
        return cls(
            id=row.id,
            usage=row.usage,
            phone=row.phone,
            user_id=row.user_id,
            delivered=bool(row.delivered),
            created_at=as_utc(row.created_at),
            last_sent_at=as_utc(row.last_sent_at),
            expires_at=as_utc(row.expires_at),
            attempts=int(row.attempts),
            resends=int(row.resends),
            consumed_at=as_utc_or_none(row.consumed_at),
            closed_at=as_utc_or_none(row.closed_at),
            channel=row.channel,
        )


@dataclass(frozen=True, slots=True)
class Issued:
    """What the engine issued: the challenge, and the code to send when one was made now
    (``None`` for a silent challenge, and for a code the worker will make)."""

    challenge: IssuedChallenge
    code: str | None
    #: False for a silent challenge: nothing is ever sent, and no code verifies it.
    delivered: bool
    resend: bool
    #: A configured test number's challenge: its code is the fixed one, and nothing is sent.
    test: bool = False


class ChallengeService:
    """Issues, resends and verifies codes for one app (held in ``app.extensions``)."""

    def __init__(
        self,
        *,
        db: SQLAlchemy,
        models: Models,
        settings: Settings,
        limits: RateLimits,
        codes: Codes,
        lockout: Lockout,
        records: DeliveryRecords | None = None,
        clock: Clock = utcnow,
        guard: SendGuard | None = None,
        bot_check: BotCheck | None = None,
    ) -> None:
        self.db = db
        self.models = models
        self.settings = settings
        self.limits = limits
        self.codes = codes
        self.lockout = lockout
        self.records = records
        self.clock = clock
        self.guard = guard
        self.bot_check = bot_check
        self._sql = _Statements(models, settings, lockout)

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """A connection in a transaction of the engine's own, committed on leaving."""
        with self.db.engine.begin() as conn:
            yield conn

    # Issue and resend ------------------------------------------------------------------

    def admit(
        self,
        phone: Any,
        usage: Usage | str,
        client_ip: str | None = None,
        *,
        region: object = None,
        captcha_token: str | None = None,
    ) -> str:
        """Normalise ``phone`` and count one send of ``usage`` against the send limits;
        return the E.164 number.

        Codes anyone may ask for count per number, per IP and per number block; codes to an
        account's own number for its holder (:data:`~flask_sms_otp.usage.HOLDER_USAGES`) per
        IP and in the number's holder budget, which anonymous requests cannot spend.
        Input that is not an acceptable number is counted for the client that sent it
        before it is refused. ``client_ip`` defaults to the current request's; outside a
        request and without one, only the per-IP limits are left out. Raises
        :class:`InvalidPhoneNumber`, :class:`RateLimited` (429) or
        :class:`RateLimitUnavailable` (503, nothing sent while the storage is down).

        A number anyone may name (:data:`~flask_sms_otp.usage.SCREENED_USAGES`: the protected
        usages and invitations) is screened first, before it can spend any budget: the bot
        check when asked for (:class:`.CaptchaFailed`), and the pumping guard's holds
        (:class:`.SendsHeld`).
        ``region`` reads a national number as one of that region's.
        """
        ip = _client_ip(client_ip)
        now = self._now()
        try:
            e164 = normalize_with(self.settings, phone, now=now, region=region)
        except InvalidPhoneNumber:
            self.limits.hit_invalid(ip)
            raise
        if test_code(self.settings, e164, now) is None:  # a test number sends nothing
            usage = Usage(usage)
            if usage in SCREENED_USAGES:
                self._screen(e164, ip, captcha_token, now)
            self._count_send(e164, usage, ip)
        return e164

    def create(
        self,
        conn: sa.Connection,
        e164: str,
        usage: Usage | str,
        *,
        user_id: Any = None,
        deliver: bool = True,
        make_code: bool = True,
        channel: str | None = None,
    ) -> Issued:
        """Create a challenge for a number :meth:`admit` has counted, on ``conn``.
        ``channel``: how the person asked to get the code, kept for the resends.

        With ``deliver=False`` the challenge looks the same to the client but nothing is
        to be sent and no code can ever verify it: the answer for a number that must not
        learn whether it has an account. With ``make_code=False`` the code is made where
        it is sent (:meth:`rearm`). Raises :class:`TooManyAttempts` while the number is
        locked.
        """
        usage = Usage(usage).value
        now = self._now()
        challenge_id = secrets.token_urlsafe(24)
        fixed = test_code(self.settings, e164, now)
        code, digest = self._new_code(
            challenge_id, usage, e164, deliver and (make_code or fixed is not None), fixed
        )
        # One round trip: the row goes in unless the number is locked.
        inserted = conn.execute(
            self._sql.insert_unless_locked,
            {
                "v_id": challenge_id,
                "v_usage": usage,
                "v_phone": e164,
                "v_user_id": None if user_id is None else str(user_id),
                "v_digest": digest,
                "v_delivered": deliver,
                "v_silent": not deliver,
                "v_now": now,
                "v_expires_at": now + timedelta(seconds=self.settings.code_ttl),
                "v_channel": channel,
            },
        )
        if inserted.first() is None:
            locked = self.lockout.locked_for(conn, e164, now, silent=not deliver)
            raise TooManyAttempts(retry_after=locked)
        issued = self._issued(challenge_id, usage, e164, now, channel)
        return Issued(issued, code, deliver, False, test=fixed is not None)

    def renew(
        self,
        conn: sa.Connection,
        challenge_id: Any,
        *,
        client_ip: str | None = None,
        make_code: bool = True,
        channel: str | None = None,
    ) -> Issued:
        """Replace the challenge's code with a new one, on ``conn``, within the send
        limits of its number (a refused resend spends none of them). ``channel``, when
        given, replaces the one the person chose before (else that one is kept).

        The old code dies, the per-challenge attempt budget starts again for the new code,
        the per-number failure count does not. Refused inside the cooldown and past the cap
        (:class:`ResendNotAllowed`); used or unknown challenges raise :class:`InvalidCode`.
        A challenge closed by a failed delivery may be resent: its new code reopens it, as a
        silent challenge could be resent (otherwise the resend would tell them apart).
        """
        row = self._find(conn, challenge_id)
        now = self._now()
        if row is None or row.consumed_at is not None:
            raise InvalidCode()
        refusal = self.resend_refusal(row, now)
        if refusal is not None:
            raise refusal
        locked = self.lockout.locked_for(conn, row.phone, now, silent=not row.delivered)
        if locked is not None:
            raise TooManyAttempts(retry_after=locked)
        fixed = test_code(self.settings, row.phone, now)
        if fixed is None:  # a test number sends nothing
            try:  # the policy of now: a test number's day may be over, the regions changed
                normalize_with(self.settings, row.phone, now=now)
            except InvalidPhoneNumber:
                raise InvalidCode() from None
            if Usage(row.usage) in PROTECTED_USAGES:
                # A resend asks no bot check (its challenge passed one), but a hold stops it,
                # silent challenge or not: the answer must not tell them apart.
                self._refuse_held(row.phone, now)
            self._count_send(row.phone, Usage(row.usage), _client_ip(client_ip))
        code, digest = self._new_code(
            row.id, row.usage, row.phone, row.delivered and (make_code or fixed is not None), fixed
        )
        cooldown_edge = now - timedelta(seconds=self.settings.resend_cooldown)
        result = conn.execute(
            self._sql.renew,
            {
                "challenge_id": row.id,
                "cooldown_edge": cooldown_edge,
                "new_digest": digest,
                "now": now,
                "new_expires_at": now + timedelta(seconds=self.settings.code_ttl),
                "new_channel": channel or row.channel,
            },
        )
        if _rowcount(result) != 1:  # a concurrent resend or use won the row
            raise ResendNotAllowed()
        issued = self._issued(row.id, row.usage, row.phone, now, channel or row.channel)
        return Issued(issued, code, row.delivered, True, test=fixed is not None)

    def rearm(self, conn: sa.Connection, challenge_id: str) -> Issued | None:
        """A new code for a queued challenge, made where it is sent (the worker), its
        digest stored on ``conn``. ``None`` when there is nothing to send any more (used,
        closed, silent or unknown)."""
        row = self._find(conn, challenge_id)
        if row is None or not row.delivered:
            return None
        code, digest = self.codes.new(row.id, row.usage, row.phone)
        stored = conn.execute(self._sql.rearm, {"challenge_id": row.id, "new_digest": digest})
        if _rowcount(stored) != 1:
            return None
        issued = self._issued(row.id, row.usage, row.phone, row.last_sent_at, row.channel)
        return Issued(issued, code, True, row.resends > 0)

    def close(self, conn: sa.Connection, challenge_id: str) -> None:
        """No code of this challenge verifies any more (its send failed). A resend may
        reopen it."""
        conn.execute(self._sql.close, {"challenge_id": challenge_id, "now": self._now()})

    def resend_refusal(
        self, row: ChallengeRow, now: datetime | None = None
    ) -> ResendNotAllowed | None:
        """Why a resend of ``row`` would be refused now (cap or cooldown), or ``None``."""
        now = now or self._now()
        if row.resends >= self.settings.max_resends:
            return ResendNotAllowed()
        wait = row.last_sent_at + timedelta(seconds=self.settings.resend_cooldown) - now
        if wait.total_seconds() > 0:
            return ResendNotAllowed(retry_after=max(1, math.ceil(wait.total_seconds())))
        return None

    def find(self, challenge_id: Any) -> ChallengeRow | None:
        """The challenge with this id, or ``None`` (also for malformed ids)."""
        with self.db.engine.connect() as conn:
            return self._find(conn, challenge_id)

    # Verify ----------------------------------------------------------------------------

    def verify(
        self,
        challenge_id: Any,
        code: Any,
        *,
        usage: Usage | str,
        phone: str | None = None,
        user_id: Any = None,
        then: AfterVerify | None = None,
    ) -> VerifiedChallenge:
        """Check ``code`` for the challenge and consume it. Succeeds at most once.

        ``usage`` (and ``phone`` / ``user_id`` when given) must match what the challenge
        was issued for. Raises :class:`InvalidCode` for every kind of wrong answer and
        :class:`TooManyAttempts` past the attempt limit or while the number is locked.

        One transaction: the attempt is counted first (its row stays locked until the
        commit, so parallel guesses wait their turn), then compared, then the code consumed
        or the failure counted. ``then`` runs in that transaction after a success, so what
        follows a verification (a session record) costs no commit of its own; an error it
        raises (before writing anything) leaves the verification done and is raised after
        the commit.
        """
        usage = Usage(usage).value
        app = _app()
        if not isinstance(challenge_id, str) or not _CHALLENGE_ID.fullmatch(challenge_id):
            self._failed(app, None, usage, None, "invalid")
            raise InvalidCode()
        now = self._now()
        open_phone: str | None = None
        locked: int | None = None
        matches = False
        locked_until: datetime | None = None
        verified: VerifiedChallenge | None = None
        followed: Exception | None = None
        with self.transaction() as conn:
            # 1. Count the attempt before anything is compared; refuse past the limit.
            counted = conn.execute(
                self._sql.count_attempt, {"challenge_id": challenge_id}
            ).one_or_none()
            if counted is None:
                open_phone = conn.execute(
                    self._sql.open_phone, {"challenge_id": challenge_id}
                ).scalar_one_or_none()
            else:
                (c_usage, c_phone, c_user_id, c_digest, c_expires_at, c_delivered) = counted[:6]
                silent = not c_delivered
                # 2. A locked number verifies nothing, and failures while locked are not
                #    counted. (Its lock was read by the same statement.)
                locked, failures = self.lockout.assess(counted[6], counted[7], now)
            if counted is not None and locked is None:
                # 3. Compare: strict format, the digest in constant time, then the binding.
                matches = self.codes.matches(challenge_id, c_usage, c_phone, code, c_digest) and (
                    c_usage == usage
                    and (phone is None or phone == c_phone)
                    and (user_id is None or str(user_id) == c_user_id)
                    and now < as_utc(c_expires_at)
                )
                if not matches:
                    locked_until = self.lockout.record_failure(conn, c_phone, now, silent=silent)
                else:
                    # 4. Consume: exactly one concurrent caller sees a row count of 1.
                    if self._consume(conn, challenge_id, now):
                        if failures:  # a silent challenge never gets here: these are real
                            self.lockout.reset(conn, c_phone, now)
                        if self.records is not None:
                            self.records.mark_verified(conn, challenge_id, now)
                        verified = VerifiedChallenge(challenge_id, c_usage, c_phone, c_user_id)
                        if then is not None:
                            followed = _follow(conn, then, verified)
        if counted is None:
            if open_phone is not None:  # open, but out of attempts
                self._failed(app, challenge_id, usage, open_phone, "too_many_attempts")
                raise TooManyAttempts()
            self._failed(app, challenge_id, usage, None, "invalid")
            raise InvalidCode()
        if locked is not None:
            self._failed(app, challenge_id, usage, c_phone, "locked")
            raise TooManyAttempts(retry_after=locked)
        if verified is None:
            if locked_until is not None and not silent:
                signals.phone_locked.send(app, phone=c_phone, until=locked_until)
            self._failed(app, challenge_id, usage, c_phone, "invalid")
            raise InvalidCode()
        signals.code_verified.send(
            app, challenge_id=challenge_id, usage=c_usage, phone=c_phone, user_id=c_user_id
        )
        if followed is not None:
            raise followed
        return verified

    # Housekeeping ----------------------------------------------------------------------

    def purge(self) -> tuple[int, int]:
        """Delete expired challenges and failure counters that hold nothing.

        Returns (challenges deleted, counters deleted).
        """
        Challenge, Counter = self.models.Challenge, self.models.FailureCounter
        now = self._now()
        with self.transaction() as conn:
            challenges = conn.execute(sa.delete(Challenge).where(Challenge.expires_at < now))
            counters = conn.execute(
                sa.delete(Counter).where(
                    Counter.failures == 0,
                    sa.or_(Counter.locked_until.is_(None), Counter.locked_until < now),
                )
            )
        return _rowcount(challenges), _rowcount(counters)

    # Internals -------------------------------------------------------------------------

    def _screen(self, e164: str, ip: str | None, token: str | None, now: datetime) -> None:
        """The bot check and the guard's holds, for a new code to a number anyone may name.
        While the guard holds the number's country or block, a passed bot check lets the
        send through (when one is configured), and without one the send is refused."""
        check = self.bot_check
        held = self.guard.retry_after(e164, now) if self.guard is not None else None
        if check is not None and (
            check.when == "always" or (check.when == "guard" and held is not None)
        ):
            check.require(token, ip)
            return
        if held is not None:
            raise SendsHeld(retry_after=held)

    def _refuse_held(self, e164: str, now: datetime) -> None:
        held = self.guard.retry_after(e164, now) if self.guard is not None else None
        if held is not None:
            raise SendsHeld(retry_after=held)

    def _count_send(self, e164: str, usage: Usage, ip: str | None) -> None:
        if usage in HOLDER_USAGES:
            self.limits.hit_holder_send(e164, ip)
        else:
            self.limits.hit_send(e164, ip)

    def _find(self, conn: sa.Connection, challenge_id: Any) -> ChallengeRow | None:
        if not isinstance(challenge_id, str) or not _CHALLENGE_ID.fullmatch(challenge_id):
            return None
        row = conn.execute(self._sql.find, {"challenge_id": challenge_id}).one_or_none()
        return None if row is None else ChallengeRow.from_row(row)

    def _consume(self, conn: sa.Connection, challenge_id: str, now: datetime) -> bool:
        result = conn.execute(self._sql.consume, {"challenge_id": challenge_id, "now": now})
        return _rowcount(result) == 1

    def _new_code(
        self, challenge_id: str, usage: str, phone: str, make: bool, fixed: str | None = None
    ) -> tuple[str | None, str]:
        """A code and the digest to store; without ``make``, no code and a digest that
        matches none (a silent challenge, or one whose code the worker makes). A test
        number's code is its ``fixed`` one, stored as a digest like any other."""
        if not make:
            return None, unusable_digest()
        if fixed is not None:
            return fixed, self.codes.digest(challenge_id, usage, phone, fixed)
        return self.codes.new(challenge_id, usage, phone)

    def _now(self) -> datetime:
        return utc(self.clock())

    def _issued(
        self,
        challenge_id: str,
        usage: str,
        phone: str,
        now: datetime,
        channel: str | None = None,
    ) -> IssuedChallenge:
        return IssuedChallenge(
            id=challenge_id,
            usage=usage,
            phone=phone,
            expires_at=now + timedelta(seconds=self.settings.code_ttl),
            resend_after=now + timedelta(seconds=self.settings.resend_cooldown),
            channel=channel,
        )

    def _failed(
        self, app: Flask, challenge_id: str | None, usage: str, phone: str | None, reason: str
    ) -> None:
        signals.verification_failed.send(
            app, challenge_id=challenge_id, usage=usage, phone=phone, reason=reason
        )


class _Statements:
    """The engine's statements, built once per app: building one anew (and its cache key)
    costs several times what running it costs."""

    def __init__(self, models: Models, settings: Settings, lockout: Lockout) -> None:
        Challenge = models.Challenge
        table: sa.Table = Challenge.__table__  # type: ignore[attr-defined]
        this = Challenge.id == sa.bindparam("challenge_id")
        is_open = sa.and_(this, Challenge.consumed_at.is_(None), Challenge.closed_at.is_(None))
        moment = table.c.created_at.type  # every time column's type
        now = sa.bindparam("now", type_=moment)
        columns = ("id", "usage", "phone", "user_id", "digest", "delivered", "channel")
        values = [sa.bindparam(f"v_{name}", type_=table.c[name].type) for name in columns]
        created = sa.bindparam("v_now", type_=moment)
        self.insert_unless_locked = (
            sa.insert(Challenge)
            .from_select(
                [*columns, "created_at", "last_sent_at", "expires_at", "attempts", "resends"],
                sa.select(
                    *values,
                    created,
                    created,
                    sa.bindparam("v_expires_at", type_=moment),
                    sa.literal(0),
                    sa.literal(0),
                ).where(
                    lockout.not_locked(
                        values[2], sa.bindparam("v_silent", type_=sa.Boolean()), created
                    )
                ),
            )
            .returning(Challenge.id)
        )
        self.find = sa.select(table).where(table.c.id == sa.bindparam("challenge_id"))
        self.count_attempt = (
            sa.update(Challenge)
            .where(is_open, Challenge.attempts < settings.max_attempts)
            .values(attempts=Challenge.attempts + 1)
            .returning(
                Challenge.usage,
                Challenge.phone,
                Challenge.user_id,
                Challenge.digest,
                Challenge.expires_at,
                Challenge.delivered,
                # Qualified by hand: SQLite's RETURNING names columns bare, and inside
                # the subquery a bare name would be the counter's own.
                *lockout.state_of(
                    sa.literal_column(f"{table.name}.phone", sa.String()),
                    sa.literal_column(f"{table.name}.delivered", sa.Boolean()),
                ),
            )
        )
        self.open_phone = sa.select(Challenge.phone).where(is_open)
        self.consume = sa.update(Challenge).where(is_open).values(consumed_at=now)
        self.renew = (
            sa.update(Challenge)
            .where(
                this,
                Challenge.consumed_at.is_(None),
                Challenge.resends < settings.max_resends,
                Challenge.last_sent_at <= sa.bindparam("cooldown_edge", type_=moment),
            )
            .values(
                closed_at=None,
                digest=sa.bindparam("new_digest"),
                resends=Challenge.resends + 1,
                attempts=0,
                last_sent_at=now,
                expires_at=sa.bindparam("new_expires_at", type_=moment),
                channel=sa.bindparam("new_channel", type_=table.c.channel.type),
            )
        )
        self.rearm = sa.update(Challenge).where(is_open).values(digest=sa.bindparam("new_digest"))
        self.close = sa.update(Challenge).where(this).values(closed_at=now)


def _follow(
    conn: sa.Connection, then: AfterVerify, verified: VerifiedChallenge
) -> Exception | None:
    """Run ``then``; what it raises is returned, to raise after the commit. (It raises its
    own errors before it writes; a database error fails the whole transaction.)"""
    try:
        then(conn, verified)
    except Exception as exc:
        return exc
    return None


def _client_ip(client_ip: str | None) -> str | None:
    """The IP the send limits count for: the one given, else the current request's."""
    if client_ip is not None:
        return client_ip
    if has_request_context():
        return str(get_remote_address() or "") or None
    return None


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


def _app() -> Flask:
    return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]
