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
from flask import Flask, current_app
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.exc import IntegrityError

from . import signals
from .delivery import Delivery
from .errors import (
    DeliveryError,
    InvalidCode,
    ProviderUnavailable,
    ResendNotAllowed,
    TooManyAttempts,
)
from .i18n import message_locale
from .models import Models
from .phone import normalize_with
from .settings import Settings
from .usage import Usage

Clock = Callable[[], datetime]
CodeGenerator = Callable[[int], str]
#: Takes the send as a function and runs it: now, or after the response.
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


class ChallengeService:
    """Issues, resends and verifies codes for one app (held in ``app.extensions``)."""

    def __init__(
        self,
        *,
        db: SQLAlchemy,
        models: Models,
        settings: Settings,
        delivery: Delivery,
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
        self.keys = tuple(keys)
        self.clock = clock
        self.code_generator = code_generator
        #: Set for queued delivery: the worker makes the code (see :meth:`send_queued`).
        self.enqueue = enqueue

    # Issue and resend ------------------------------------------------------------------

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
        """Create a challenge and send its code to ``phone`` (normalised to E.164 first).

        With ``deliver=False`` the challenge looks the same to the client but nothing is
        sent and no code can ever verify it: the answer for a number that must not learn
        whether it has an account.

        With ``schedule`` the send is handed to it (to run after the response, or in a
        worker) and its errors are the scheduler's to handle. Without, the send happens
        now and a failure raises :class:`DeliveryError` (the challenge is then closed).
        Also raises :class:`InvalidPhoneNumber`, or :class:`TooManyAttempts` while the
        number is locked.

        ``locale`` (a tag such as ``zh-CN``) picks the SMS text's language; by default the
        current request's locale.
        """
        usage = Usage(usage).value
        e164 = normalize_with(self.settings, phone)
        now = self.clock()
        self._raise_if_locked(e164, now)
        challenge_id = secrets.token_urlsafe(24)
        code, digest = self._new_code(challenge_id, usage, e164, usable=deliver)
        session = self.db.session
        session.execute(
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
        session.commit()
        issued = self._issued(challenge_id, usage, e164, now)
        if deliver:
            self._send(
                issued, code, client_ip=client_ip, resend=False, schedule=schedule, locale=locale
            )
        return issued

    def resend(
        self,
        challenge_id: str,
        *,
        client_ip: str | None = None,
        schedule: Scheduler | None = None,
        locale: str | None = None,
    ) -> IssuedChallenge:
        """Replace the challenge's code with a new one and send it.

        The old code dies, the per-challenge attempt budget starts again for the new code,
        the per-number failure count does not. Refused inside the cooldown and past the cap
        (:class:`ResendNotAllowed`); used or unknown challenges raise :class:`InvalidCode`.
        A challenge closed by a failed delivery may be resent: its new code reopens it, as a
        silent challenge could be resent (otherwise the resend would tell them apart).
        """
        Challenge = self.models.Challenge
        session = self.db.session
        row = self.find(challenge_id)
        session.commit()  # end the read so the UPDATE below starts its own write
        now = self.clock()
        if row is None or row.consumed_at is not None:
            raise InvalidCode()
        self._raise_if_locked(row.phone, now)
        code, digest = self._new_code(row.id, row.usage, row.phone, usable=row.delivered)
        cooldown_edge = now - timedelta(seconds=self.settings.resend_cooldown)
        result = session.execute(
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
            .execution_options(synchronize_session=False)
        )
        session.commit()
        if _rowcount(result) != 1:
            # Refused by the conditions above (or a concurrent resend): say why.
            raise self.resend_refusal(row, now) or ResendNotAllowed()
        issued = self._issued(row.id, row.usage, row.phone, now)
        if row.delivered:
            self._send(
                issued, code, client_ip=client_ip, resend=True, schedule=schedule, locale=locale
            )
        return issued

    def resend_refusal(self, row: Any, now: datetime | None = None) -> ResendNotAllowed | None:
        """Why a resend of ``row`` would be refused now (cap or cooldown), or ``None``.

        Lets callers refuse before spending send-limit budget on a resend that would not
        happen; :meth:`resend` still decides atomically.
        """
        now = now or self.clock()
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
        session = self.db.session
        # 1. Count the attempt before anything is compared; refuse past the limit.
        counted = session.execute(
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
            )
            .execution_options(synchronize_session=False)
        ).one_or_none()
        session.commit()
        now = self.clock()
        if counted is None:
            row = self.find(challenge_id)
            session.commit()
            if row is not None and row.consumed_at is None and row.closed_at is None:
                self._failed(app, challenge_id, usage, row.phone, "too_many_attempts")
                raise TooManyAttempts()
            self._failed(app, challenge_id, usage, None, "invalid")
            raise InvalidCode()
        c_usage, c_phone, c_user_id, c_digest, c_expires_at = counted
        # 2. A locked number verifies nothing, and failures while locked are not counted.
        try:
            self._raise_if_locked(c_phone, now)
        except TooManyAttempts:
            self._failed(app, challenge_id, usage, c_phone, "locked")
            raise
        # 3. Compare: strict format first, then the digest in constant time, then the binding.
        matches = self._code_matches(challenge_id, c_usage, c_phone, code, c_digest)
        bound = (
            c_usage == usage
            and (phone is None or phone == c_phone)
            and (user_id is None or str(user_id) == c_user_id)
            and now < c_expires_at
        )
        if matches and bound:
            # 4. Consume: exactly one concurrent caller sees a row count of 1.
            consumed = session.execute(
                sa.update(Challenge)
                .where(
                    Challenge.id == challenge_id,
                    Challenge.consumed_at.is_(None),
                    Challenge.closed_at.is_(None),
                )
                .values(consumed_at=now)
                .execution_options(synchronize_session=False)
            )
            if _rowcount(consumed) == 1:
                self._reset_failures(c_phone, now)
                session.commit()
                if self.delivery.records is not None:
                    self.delivery.records.mark_verified(challenge_id, now)
                signals.code_verified.send(
                    app, challenge_id=challenge_id, usage=c_usage, phone=c_phone, user_id=c_user_id
                )
                return VerifiedChallenge(challenge_id, c_usage, c_phone, c_user_id)
            session.commit()
        else:
            self._record_failure(app, c_phone, now)
        self._failed(app, challenge_id, usage, c_phone, "invalid")
        raise InvalidCode()

    # Housekeeping ----------------------------------------------------------------------

    def purge(self) -> tuple[int, int]:
        """Delete expired challenges and failure counters that hold nothing.

        Returns (challenges deleted, counters deleted).
        """
        Challenge, Counter = self.models.Challenge, self.models.FailureCounter
        now = self.clock()
        session = self.db.session
        challenges = session.execute(
            sa.delete(Challenge)
            .where(Challenge.expires_at < now)
            .execution_options(synchronize_session=False)
        )
        counters = session.execute(
            sa.delete(Counter)
            .where(
                Counter.failures == 0,
                sa.or_(Counter.locked_until.is_(None), Counter.locked_until < now),
            )
            .execution_options(synchronize_session=False)
        )
        session.commit()
        return _rowcount(challenges), _rowcount(counters)

    # Internals -------------------------------------------------------------------------

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
        else:
            schedule(work)

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
        self.db.session.commit()
        if row is None or not row.delivered:
            return False
        code = self.code_generator(self.settings.code_length)
        digest = code_digest(self.keys[0], row.id, row.usage, row.phone, code)
        Challenge = self.models.Challenge
        stored = self.db.session.execute(
            sa.update(Challenge)
            .where(
                Challenge.id == row.id,
                Challenge.consumed_at.is_(None),
                Challenge.closed_at.is_(None),
            )
            .values(digest=digest)
            .execution_options(synchronize_session=False)
        )
        self.db.session.commit()
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
        self.db.session.execute(
            sa.update(Challenge)
            .where(Challenge.id == challenge_id)
            .values(closed_at=self.clock())
            .execution_options(synchronize_session=False)
        )
        self.db.session.commit()

    def find(self, challenge_id: Any) -> Any:
        """The challenge row for ``challenge_id``, or ``None`` (also for malformed ids)."""
        Challenge = self.models.Challenge
        if not isinstance(challenge_id, str) or not _CHALLENGE_ID.fullmatch(challenge_id):
            return None
        return self.db.session.execute(
            sa.select(Challenge).where(Challenge.id == challenge_id)
        ).scalar_one_or_none()

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

    def _raise_if_locked(self, phone: str, now: datetime) -> None:
        Counter = self.models.FailureCounter
        locked_until = self.db.session.execute(
            sa.select(Counter.locked_until).where(Counter.phone == phone)
        ).scalar_one_or_none()
        self.db.session.commit()
        if locked_until is not None and locked_until > now:
            raise TooManyAttempts(
                retry_after=max(1, math.ceil((locked_until - now).total_seconds()))
            )

    def _record_failure(self, app: Flask, phone: str, now: datetime) -> None:
        """Count one consecutive failure for ``phone``; lock it at the threshold."""
        Counter = self.models.FailureCounter
        session = self.db.session
        failures = self._increment_failures(phone, now)
        if failures >= self.settings.lockout_threshold:
            until = now + timedelta(seconds=self.settings.lockout_duration)
            session.execute(
                sa.update(Counter)
                .where(Counter.phone == phone)
                .values(failures=0, locked_until=until, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            session.commit()
            signals.phone_locked.send(app, phone=phone, until=until)

    def _increment_failures(self, phone: str, now: datetime) -> int:
        Counter = self.models.FailureCounter
        session = self.db.session
        increment = (
            sa.update(Counter)
            .where(Counter.phone == phone)
            .values(failures=Counter.failures + 1, updated_at=now)
            .returning(Counter.failures)
            .execution_options(synchronize_session=False)
        )
        for _ in range(2):
            failures = session.execute(increment).scalar_one_or_none()
            if failures is not None:
                session.commit()
                return int(failures)
            try:
                session.execute(sa.insert(Counter).values(phone=phone, failures=1, updated_at=now))
                session.commit()
                return 1
            except IntegrityError:  # a concurrent first failure inserted the row; count again
                session.rollback()
        raise RuntimeError("could not count a failed verification")  # pragma: no cover

    def _reset_failures(self, phone: str, now: datetime) -> None:
        Counter = self.models.FailureCounter
        self.db.session.execute(
            sa.update(Counter)
            .where(Counter.phone == phone, Counter.failures != 0)
            .values(failures=0, updated_at=now)
            .execution_options(synchronize_session=False)
        )

    def _failed(
        self, app: Flask, challenge_id: str | None, usage: str, phone: str | None, reason: str
    ) -> None:
        signals.verification_failed.send(
            app, challenge_id=challenge_id, usage=usage, phone=phone, reason=reason
        )


def _is_code(code: str, length: int) -> bool:
    return len(code) == length and code.isascii() and code.isdigit()


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


def _app() -> Flask:
    return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]
