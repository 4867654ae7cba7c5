"""The code engine: issue, resend and verify one-time codes against the database.

Every step that must hold under concurrency is one conditional ``UPDATE`` whose row count
or ``RETURNING`` row decides: the attempt is counted before any comparison (so N parallel
guesses get at most ``max_attempts`` comparisons), and a code is consumed by
``UPDATE ... WHERE consumed_at IS NULL`` (so two parallel right answers give one success).
Wrong, expired, used, foreign-purpose and unknown challenges all raise :class:`InvalidCode`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, has_request_context
from flask_limiter.util import get_remote_address
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.exc import IntegrityError

from . import signals
from .delivery import Delivery
from .errors import (
    DeliveryError,
    InvalidCode,
    InvalidPhoneNumber,
    ProviderUnavailable,
    ResendNotAllowed,
    TooManyAttempts,
)
from .i18n import message_locale
from .limits import RateLimits
from .models import Models, as_utc, as_utc_or_none, utc
from .phone import normalize_with
from .sender import SenderBusy
from .settings import Settings
from .usage import HOLDER_USAGES, Usage

Clock = Callable[[], datetime]
CodeGenerator = Callable[[int], str]
#: Takes the send as a function and runs it: now, or on the background sender.
Scheduler = Callable[[Callable[[], None]], None]
#: Queues the delivery of a challenge (id, resend, client ip, locale) to a task queue.
Enqueue = Callable[[str, bool, str | None, str | None], Any]

logger = logging.getLogger("flask_sms_otp")

_CHALLENGE_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_KEY_CONTEXT = b"flask-sms-otp:code-digest:v1"


def utcnow() -> datetime:
    return datetime.now(UTC)


def generate_code(length: int) -> str:
    """``length`` decimal digits from the OS's secure random source; leading zeros kept."""
    return f"{secrets.randbelow(10**length):0{length}d}"


def derive_keys(secrets_: Sequence[str | bytes]) -> tuple[bytes, ...]:
    """Digest keys from the app's ``SECRET_KEY`` then ``SECRET_KEY_FALLBACKS``.

    New codes use the first; verification accepts any, so rotating the secret key the
    Flask way keeps codes sent just before the rotation valid.
    """
    keys = []
    for secret in secrets_:
        raw = secret.encode() if isinstance(secret, str) else secret
        keys.append(hmac.new(raw, _KEY_CONTEXT, hashlib.sha256).digest())
    return tuple(keys)


def code_digest(key: bytes, challenge_id: str, usage: str, phone: str, code: str) -> str:
    """HMAC-SHA256 of the code bound to its challenge, purpose and number, as hex."""
    message = "\x1f".join((challenge_id, usage, phone, code)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedChallenge:
    """What a client may know about a challenge: never the code."""

    id: str
    usage: str
    phone: str
    expires_at: datetime
    resend_after: datetime


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
        )


class ChallengeService:
    """Issues, resends and verifies codes for one app (held in ``app.extensions``).

    Every write goes through a connection and transaction of the engine's own, never the
    app's ``db.session``: an app that rolls its work back cannot undo an attempt count, and
    an app calling :meth:`issue` inside its own unit of work keeps control of it. (With an
    in-memory SQLite database, which has one connection, the two cannot be kept apart.)
    """

    def __init__(
        self,
        *,
        db: SQLAlchemy,
        models: Models,
        settings: Settings,
        delivery: Delivery,
        limits: RateLimits,
        keys: Sequence[bytes],
        clock: Clock = utcnow,
        code_generator: CodeGenerator = generate_code,
        enqueue: Enqueue | None = None,
    ) -> None:
        if not keys:
            raise ValueError("at least one digest key is required")
        self.db = db
        self.models = models
        self.settings = settings
        self.delivery = delivery
        self.limits = limits
        self.keys = tuple(keys)
        self.clock = clock
        self.code_generator = code_generator
        #: Set for queued delivery: the worker makes the code (see :meth:`send_queued`).
        self.enqueue = enqueue

    # Issue and resend ------------------------------------------------------------------

    def admit(self, phone: Any, usage: Usage | str, client_ip: str | None = None) -> str:
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
        """
        ip = _client_ip(client_ip)
        try:
            e164 = normalize_with(self.settings, phone)
        except InvalidPhoneNumber:
            self.limits.hit_invalid(ip)
            raise
        self._count_send(e164, Usage(usage), ip)
        return e164

    def _count_send(self, e164: str, usage: Usage, ip: str | None) -> None:
        if usage in HOLDER_USAGES:
            self.limits.hit_holder_send(e164, ip)
        else:
            self.limits.hit_send(e164, ip)

    def issue(
        self,
        phone: str,
        usage: Usage | str,
        *,
        user_id: Any = None,
        deliver: bool = True,
        client_ip: str | None = None,
        schedule: Scheduler | None = None,
        locale: str | None = None,
    ) -> IssuedChallenge:
        """Create a challenge and send its code to ``phone``, within the send limits
        (see :meth:`admit`).

        With ``deliver=False`` the challenge looks the same to the client but nothing is
        sent and no code can ever verify it: the answer for a number that must not learn
        whether it has an account.

        With ``schedule`` the send is handed to it (to run on the background sender) and
        its errors are the scheduler's to handle; a send the scheduler refuses
        (:class:`~flask_sms_otp.sender.SenderBusy`) closes the challenge and is recorded and
        signalled as a failed delivery. Without, the send happens now and a failure raises
        :class:`DeliveryError` (the challenge is then closed).
        Also raises :class:`InvalidPhoneNumber`, :class:`RateLimited`, or
        :class:`TooManyAttempts` while the number is locked.

        ``locale`` (a tag such as ``zh-CN``) picks the SMS text's language; by default the
        current request's locale.
        """
        e164 = self.admit(phone, usage, client_ip)
        return self.issue_admitted(
            e164,
            usage,
            user_id=user_id,
            deliver=deliver,
            client_ip=client_ip,
            schedule=schedule,
            locale=locale,
        )

    def issue_admitted(
        self,
        e164: str,
        usage: Usage | str,
        *,
        user_id: Any = None,
        deliver: bool = True,
        client_ip: str | None = None,
        schedule: Scheduler | None = None,
        locale: str | None = None,
    ) -> IssuedChallenge:
        """:meth:`issue` for a number :meth:`admit` has already counted."""
        usage = Usage(usage).value
        now = self._now()
        challenge_id = secrets.token_urlsafe(24)
        code, digest = self._new_code(challenge_id, usage, e164, usable=deliver)
        with self._begin() as conn:
            locked = self._locked_for(conn, e164, now, silent=not deliver)
            if locked is None:
                conn.execute(
                    sa.insert(self.models.Challenge).values(
                        id=challenge_id,
                        usage=usage,
                        phone=e164,
                        user_id=None if user_id is None else str(user_id),
                        digest=digest,
                        delivered=deliver,
                        created_at=now,
                        last_sent_at=now,
                        expires_at=now + timedelta(seconds=self.settings.code_ttl),
                        attempts=0,
                        resends=0,
                    )
                )
        if locked is not None:
            raise TooManyAttempts(retry_after=locked)
        issued = self._issued(challenge_id, usage, e164, now)
        if deliver:
            self._send(
                issued, code, client_ip=client_ip, resend=False, schedule=schedule, locale=locale
            )
        return issued

    def resend(
        self,
        challenge_id: Any,
        *,
        client_ip: str | None = None,
        schedule: Scheduler | None = None,
        locale: str | None = None,
    ) -> IssuedChallenge:
        """Replace the challenge's code with a new one and send it, within the send limits
        of its number (a refused resend spends none of them).

        The old code dies, the per-challenge attempt budget starts again for the new code,
        the per-number failure count does not. Refused inside the cooldown and past the cap
        (:class:`ResendNotAllowed`); used or unknown challenges raise :class:`InvalidCode`.
        A challenge closed by a failed delivery may be resent: its new code reopens it, as a
        silent challenge could be resent (otherwise the resend would tell them apart).
        """
        Challenge = self.models.Challenge
        row = self.find(challenge_id)
        now = self._now()
        if row is None or row.consumed_at is not None:
            raise InvalidCode()
        refusal = self.resend_refusal(row, now)
        if refusal is not None:
            raise refusal
        with self._connect() as conn:
            locked = self._locked_for(conn, row.phone, now, silent=not row.delivered)
        if locked is not None:
            raise TooManyAttempts(retry_after=locked)
        self._count_send(row.phone, Usage(row.usage), _client_ip(client_ip))
        code, digest = self._new_code(row.id, row.usage, row.phone, usable=row.delivered)
        cooldown_edge = now - timedelta(seconds=self.settings.resend_cooldown)
        with self._begin() as conn:
            result = conn.execute(
                sa.update(Challenge)
                .where(
                    Challenge.id == row.id,
                    Challenge.consumed_at.is_(None),
                    Challenge.resends < self.settings.max_resends,
                    Challenge.last_sent_at <= cooldown_edge,
                )
                .values(
                    closed_at=None,
                    digest=digest,
                    resends=Challenge.resends + 1,
                    attempts=0,
                    last_sent_at=now,
                    expires_at=now + timedelta(seconds=self.settings.code_ttl),
                )
            )
        if _rowcount(result) != 1:  # a concurrent resend or use won the row
            raise ResendNotAllowed()
        issued = self._issued(row.id, row.usage, row.phone, now)
        if row.delivered:
            self._send(
                issued, code, client_ip=client_ip, resend=True, schedule=schedule, locale=locale
            )
        return issued

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

    # Verify ----------------------------------------------------------------------------

    def verify(
        self,
        challenge_id: Any,
        code: Any,
        *,
        usage: Usage | str,
        phone: str | None = None,
        user_id: Any = None,
    ) -> VerifiedChallenge:
        """Check ``code`` for the challenge and consume it. Succeeds at most once.

        ``usage`` (and ``phone`` / ``user_id`` when given) must match what the challenge
        was issued for. Raises :class:`InvalidCode` for every kind of wrong answer and
        :class:`TooManyAttempts` past the attempt limit or while the number is locked.
        """
        usage = Usage(usage).value
        app = _app()
        if not isinstance(challenge_id, str) or not _CHALLENGE_ID.fullmatch(challenge_id):
            self._failed(app, None, usage, None, "invalid")
            raise InvalidCode()
        Challenge = self.models.Challenge
        now = self._now()
        # 1. Count the attempt before anything is compared; refuse past the limit. The count
        #    is committed at once, in the engine's own transaction: nothing undoes it.
        open_phone: str | None = None
        locked: int | None = None
        with self._begin() as conn:
            counted = conn.execute(
                sa.update(Challenge)
                .where(
                    Challenge.id == challenge_id,
                    Challenge.consumed_at.is_(None),
                    Challenge.closed_at.is_(None),
                    Challenge.attempts < self.settings.max_attempts,
                )
                .values(attempts=Challenge.attempts + 1)
                .returning(
                    Challenge.usage,
                    Challenge.phone,
                    Challenge.user_id,
                    Challenge.digest,
                    Challenge.expires_at,
                    Challenge.delivered,
                )
            ).one_or_none()
            if counted is None:
                open_phone = conn.execute(
                    sa.select(Challenge.phone).where(
                        Challenge.id == challenge_id,
                        Challenge.consumed_at.is_(None),
                        Challenge.closed_at.is_(None),
                    )
                ).scalar_one_or_none()
            else:
                locked = self._locked_for(conn, counted.phone, now, silent=not counted.delivered)
        if counted is None:
            if open_phone is not None:  # open, but out of attempts
                self._failed(app, challenge_id, usage, open_phone, "too_many_attempts")
                raise TooManyAttempts()
            self._failed(app, challenge_id, usage, None, "invalid")
            raise InvalidCode()
        c_usage, c_phone, c_user_id, c_digest, c_expires_at, c_delivered = counted
        # 2. A locked number verifies nothing, and failures while locked are not counted.
        if locked is not None:
            self._failed(app, challenge_id, usage, c_phone, "locked")
            raise TooManyAttempts(retry_after=locked)
        # 3. Compare: strict format first, then the digest in constant time, then the binding.
        matches = self._code_matches(challenge_id, c_usage, c_phone, code, c_digest)
        bound = (
            c_usage == usage
            and (phone is None or phone == c_phone)
            and (user_id is None or str(user_id) == c_user_id)
            and now < as_utc(c_expires_at)
        )
        if not (matches and bound):
            self._record_failure(app, c_phone, now, silent=not c_delivered)
            self._failed(app, challenge_id, usage, c_phone, "invalid")
            raise InvalidCode()
        # 4. Consume: exactly one concurrent caller sees a row count of 1.
        with self._begin() as conn:
            consumed = _rowcount(
                conn.execute(
                    sa.update(Challenge)
                    .where(
                        Challenge.id == challenge_id,
                        Challenge.consumed_at.is_(None),
                        Challenge.closed_at.is_(None),
                    )
                    .values(consumed_at=now)
                )
            )
            if consumed == 1:
                self._reset_failures(conn, c_phone, now)
                if self.delivery.records is not None:
                    self.delivery.records.mark_verified(conn, challenge_id, now)
        if consumed != 1:
            self._failed(app, challenge_id, usage, c_phone, "invalid")
            raise InvalidCode()
        signals.code_verified.send(
            app, challenge_id=challenge_id, usage=c_usage, phone=c_phone, user_id=c_user_id
        )
        return VerifiedChallenge(challenge_id, c_usage, c_phone, c_user_id)

    # Housekeeping ----------------------------------------------------------------------

    def purge(self) -> tuple[int, int]:
        """Delete expired challenges and failure counters that hold nothing.

        Returns (challenges deleted, counters deleted).
        """
        Challenge, Counter = self.models.Challenge, self.models.FailureCounter
        now = self._now()
        with self._begin() as conn:
            challenges = conn.execute(sa.delete(Challenge).where(Challenge.expires_at < now))
            counters = conn.execute(
                sa.delete(Counter).where(
                    Counter.failures == 0,
                    sa.or_(Counter.locked_until.is_(None), Counter.locked_until < now),
                )
            )
        return _rowcount(challenges), _rowcount(counters)

    def find(self, challenge_id: Any) -> ChallengeRow | None:
        """The challenge with this id, or ``None`` (also for malformed ids)."""
        if not isinstance(challenge_id, str) or not _CHALLENGE_ID.fullmatch(challenge_id):
            return None
        table: sa.Table = self.models.Challenge.__table__  # type: ignore[attr-defined]
        with self._connect() as conn:
            row = conn.execute(sa.select(table).where(table.c.id == challenge_id)).one_or_none()
        return None if row is None else ChallengeRow.from_row(row)

    # Queued delivery -------------------------------------------------------------------

    def send_queued(
        self,
        challenge_id: str,
        *,
        resend: bool = False,
        client_ip: str | None = None,
        final_attempt: bool = True,
        locale: str | None = None,
    ) -> bool:
        """In the worker: make a code for a queued challenge, store its digest and send it.

        Returns ``False`` when there is nothing to send any more (used, closed, silent or
        unknown). A :class:`DeliveryError` that may pass is re-raised without closing the
        challenge unless ``final_attempt``; the next attempt makes a new code.
        """
        row = self.find(challenge_id)
        if row is None or not row.delivered:
            return False
        code = self.code_generator(self.settings.code_length)
        digest = code_digest(self.keys[0], row.id, row.usage, row.phone, code)
        Challenge = self.models.Challenge
        with self._begin() as conn:
            stored = conn.execute(
                sa.update(Challenge)
                .where(
                    Challenge.id == row.id,
                    Challenge.consumed_at.is_(None),
                    Challenge.closed_at.is_(None),
                )
                .values(digest=digest)
            )
        if _rowcount(stored) != 1:
            return False
        message = self.delivery.message(
            to=row.phone, usage=row.usage, code=code, client_ip=client_ip, locale=locale
        )
        try:
            self.delivery.send(
                _app(), message, challenge_id=row.id, resend=resend, will_retry=not final_attempt
            )
        except DeliveryError as error:
            if final_attempt or not error.retryable:
                self._close(row.id)
            raise
        return True

    # Internals -------------------------------------------------------------------------

    def _begin(self) -> Any:
        """A connection in a transaction of the engine's own, committed on leaving."""
        return self.db.engine.begin()

    def _connect(self) -> Any:
        return self.db.engine.connect()

    def _now(self) -> datetime:
        return utc(self.clock())

    def _issued(self, challenge_id: str, usage: str, phone: str, now: datetime) -> IssuedChallenge:
        return IssuedChallenge(
            id=challenge_id,
            usage=usage,
            phone=phone,
            expires_at=now + timedelta(seconds=self.settings.code_ttl),
            resend_after=now + timedelta(seconds=self.settings.resend_cooldown),
        )

    def _send(
        self,
        issued: IssuedChallenge,
        code: str,
        *,
        client_ip: str | None,
        resend: bool,
        schedule: Scheduler | None,
        locale: str | None,
    ) -> None:
        # The language is the request's, taken now: a scheduled send may run after it.
        language = locale or message_locale()

        def work() -> None:
            if self.enqueue is not None:
                self._enqueue(issued, client_ip=client_ip, resend=resend, locale=language)
            else:
                self._deliver(issued, code, client_ip=client_ip, resend=resend, locale=language)

        if schedule is None:
            work()
            return
        try:
            schedule(work)
        except SenderBusy as busy:  # refused, not dropped: closed, recorded and signalled
            self._close(issued.id)
            message = self.delivery.message(
                to=issued.phone, usage=issued.usage, code="", client_ip=client_ip, locale=language
            )
            self.delivery.report_failure(_app(), message, busy, challenge_id=issued.id)

    def _new_code(
        self, challenge_id: str, usage: str, phone: str, *, usable: bool
    ) -> tuple[str, str]:
        """A code and the digest to store. A silent challenge stores a digest that matches
        no code; with queued delivery the worker makes the code, so none exists yet."""
        if not usable or self.enqueue is not None:
            return "", secrets.token_hex(32)
        code = self.code_generator(self.settings.code_length)
        return code, code_digest(self.keys[0], challenge_id, usage, phone, code)

    def _enqueue(
        self, issued: IssuedChallenge, *, client_ip: str | None, resend: bool, locale: str | None
    ) -> None:
        assert self.enqueue is not None  # noqa: S101 - only called when set
        try:
            self.enqueue(issued.id, resend, client_ip, locale)
        except Exception as exc:  # the broker is down: same as a provider outage
            logger.exception("could not queue the delivery of challenge %s", issued.id)
            self._close(issued.id)
            raise ProviderUnavailable(
                f"the delivery queue is unavailable ({type(exc).__name__})", connector="queue"
            ) from None

    def _deliver(
        self,
        issued: IssuedChallenge,
        code: str,
        *,
        client_ip: str | None,
        resend: bool,
        locale: str | None,
    ) -> None:
        message = self.delivery.message(
            to=issued.phone, usage=issued.usage, code=code, client_ip=client_ip, locale=locale
        )
        try:
            self.delivery.send(_app(), message, challenge_id=issued.id, resend=resend)
        except DeliveryError:
            self._close(issued.id)  # no valid code may stay outstanding after a failed send
            raise

    def _close(self, challenge_id: str) -> None:
        Challenge = self.models.Challenge
        with self._begin() as conn:
            conn.execute(
                sa.update(Challenge)
                .where(Challenge.id == challenge_id)
                .values(closed_at=self._now())
            )

    def _code_matches(
        self, challenge_id: str, usage: str, phone: str, code: Any, stored: str
    ) -> bool:
        # Only ASCII digits of the exact length reach the comparison: compare_digest raises
        # on non-ASCII str, and int() would accept full-width or Arabic-Indic digits.
        if not isinstance(code, str) or not _is_code(code, self.settings.code_length):
            return False
        found = False
        for key in self.keys:
            candidate = code_digest(key, challenge_id, usage, phone, code)
            found = hmac.compare_digest(candidate, stored) or found
        return found

    def _locked_for(self, conn: Any, phone: str, now: datetime, *, silent: bool) -> int | None:
        """Seconds until ``phone``'s real (or, with ``silent``, its silent) challenges may
        be issued and verified again, or ``None`` when they are not locked."""
        Counter = self.models.FailureCounter
        locked_until = conn.execute(
            sa.select(Counter.locked_until).where(Counter.phone == phone, Counter.silent == silent)
        ).scalar_one_or_none()
        if locked_until is None or as_utc(locked_until) <= now:
            return None
        return max(1, math.ceil((as_utc(locked_until) - now).total_seconds()))

    def _record_failure(self, app: Flask, phone: str, now: datetime, *, silent: bool) -> None:
        """Count one consecutive failure for ``phone`` (on its real or its silent
        challenges); lock those at the threshold. One transaction; a concurrent first
        failure that inserted the row first is retried. Only a real lock is signalled."""
        Counter = self.models.FailureCounter
        until = now + timedelta(seconds=self.settings.lockout_duration)
        this = sa.and_(Counter.phone == phone, Counter.silent == silent)
        for _ in range(2):
            try:
                with self._begin() as conn:
                    failures = conn.execute(
                        sa.update(Counter)
                        .where(this)
                        .values(failures=Counter.failures + 1, updated_at=now)
                        .returning(Counter.failures)
                    ).scalar_one_or_none()
                    if failures is None:
                        conn.execute(
                            sa.insert(Counter).values(
                                phone=phone, silent=silent, failures=1, updated_at=now
                            )
                        )
                        failures = 1
                    locks = failures >= self.settings.lockout_threshold
                    if locks:
                        conn.execute(
                            sa.update(Counter)
                            .where(this)
                            .values(failures=0, locked_until=until, updated_at=now)
                        )
            except IntegrityError:
                continue
            if locks and not silent:
                signals.phone_locked.send(app, phone=phone, until=until)
            return
        raise RuntimeError("could not count a failed verification")  # pragma: no cover

    def _reset_failures(self, conn: Any, phone: str, now: datetime) -> None:
        Counter = self.models.FailureCounter
        conn.execute(
            sa.update(Counter)
            .where(Counter.phone == phone, Counter.silent.is_(False), Counter.failures != 0)
            .values(failures=0, updated_at=now)
        )

    def _failed(
        self, app: Flask, challenge_id: str | None, usage: str, phone: str | None, reason: str
    ) -> None:
        signals.verification_failed.send(
            app, challenge_id=challenge_id, usage=usage, phone=phone, reason=reason
        )


def _client_ip(client_ip: str | None) -> str | None:
    """The IP the send limits count for: the one given, else the current request's."""
    if client_ip is not None:
        return client_ip
    if has_request_context():
        return str(get_remote_address() or "") or None
    return None


def _is_code(code: str, length: int) -> bool:
    return len(code) == length and code.isascii() and code.isdigit()


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


def _app() -> Flask:
    return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]
