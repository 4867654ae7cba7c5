"""When and where a code is sent: one dispatcher per app, chosen at ``init_app``.

- :class:`InlineDispatcher`, for a connector whose sends are instant (``memory``): the code
  goes out inside the transaction that issues it, so the challenge and its delivery record
  take one commit.
- :class:`PooledDispatcher`, for every other connector with ``SMS_OTP_DELIVERY = "sync"``:
  a protected send (one whose outcome would tell whether a number has an account, see
  :data:`~flask_sms_otp.usage.PROTECTED_USAGES`) runs on the background sender once the
  challenge is committed, so not even the provider's latency shows in the worker; any
  other send runs in the request, after the commit, and the request waits for it.
- :class:`QueuedDispatcher`, for ``SMS_OTP_DELIVERY = "celery"``: the challenge is
  committed without a code and only its id is queued; the worker makes the code, stores
  its digest and sends it (:meth:`QueuedDispatcher.deliver_queued`).

A failed send closes its challenge (no valid code stays outstanding), is recorded, logged
and signalled. A protected send never raises: the client gets the same answer either way
and may ask again. Any other send raises :class:`~flask_sms_otp.errors.DeliveryError`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app

from .challenges import ChallengeService, Issued, IssuedChallenge
from .connectors.base import SmsMessage
from .delivery import Delivery, Outcome
from .errors import DeliveryError, ProviderUnavailable
from .i18n import message_locale
from .sender import BackgroundSender, SenderBusy
from .usage import PROTECTED_USAGES, Usage

logger = logging.getLogger("flask_sms_otp")

#: Makes the challenge (or its new code) on the dispatcher's transaction.
Make = Callable[[sa.Connection], Issued]
#: Queues the delivery of a challenge: (id, resend, client ip, locale).
Enqueue = Callable[[str, bool, str | None, str | None], Any]


class Dispatcher:
    """Issues codes through the engine and has them sent. Subclasses decide when."""

    #: Whether the code is made with the challenge (else by whoever sends it).
    makes_code = True

    def __init__(self, challenges: ChallengeService, delivery: Delivery) -> None:
        self.challenges = challenges
        self.delivery = delivery

    def issue(
        self,
        e164: str,
        usage: Usage | str,
        *,
        user_id: Any = None,
        deliver: bool = True,
        client_ip: str | None = None,
        locale: str | None = None,
        protect: bool = True,
        channel: str | None = None,
    ) -> IssuedChallenge:
        """Create a challenge for a number the engine has admitted and have its code sent
        (with ``deliver=False``, a silent one that sends nothing). ``protect=False``: the
        caller wants to hear of a failed send even for a protected usage. ``channel``: how
        the person asked to get it, kept with the challenge for its resends."""

        def make(conn: sa.Connection) -> Issued:
            return self.challenges.create(
                conn,
                e164,
                usage,
                user_id=user_id,
                deliver=deliver,
                make_code=self.makes_code,
                channel=channel,
            )

        return self._dispatch(make, client_ip, locale, protect)

    def resend(
        self,
        challenge_id: Any,
        *,
        client_ip: str | None = None,
        locale: str | None = None,
        protect: bool = True,
        channel: str | None = None,
    ) -> IssuedChallenge:
        """Give the challenge a new code and have it sent (see
        :meth:`ChallengeService.renew`), by ``channel`` when given, else as before."""

        def make(conn: sa.Connection) -> Issued:
            return self.challenges.renew(
                conn,
                challenge_id,
                client_ip=client_ip,
                make_code=self.makes_code,
                channel=channel,
            )

        return self._dispatch(make, client_ip, locale, protect)

    def _dispatch(
        self, make: Make, client_ip: str | None, locale: str | None, protect: bool
    ) -> IssuedChallenge:
        # The language is the request's, taken now: a send may run after the request.
        language = locale or message_locale()
        with self.challenges.transaction() as conn:
            issued = make(conn)
        if _sends(issued):
            self._send(_app(), issued, client_ip, language, self._protected(issued, protect))
        return issued.challenge

    def _send(
        self,
        app: Flask,
        issued: Issued,
        client_ip: str | None,
        locale: str | None,
        protected: bool,
    ) -> None:
        """Send a committed challenge's code now; the request waits."""
        self._deliver(app, issued, self._message(issued, client_ip, locale), quiet=protected)

    def _deliver(self, app: Flask, issued: Issued, message: SmsMessage, *, quiet: bool) -> None:
        """Send now, then record (closing the challenge on failure) in one transaction."""
        outcome = self.delivery.attempt(
            message, challenge_id=issued.challenge.id, resend=issued.resend
        )
        self._settle(app, issued, outcome, quiet=quiet)

    def _settle(self, app: Flask, issued: Issued, outcome: Outcome, *, quiet: bool) -> None:
        with self.challenges.transaction() as conn:
            self.delivery.record(outcome, conn)
            if outcome.error is not None:
                self.challenges.close(conn, issued.challenge.id)
        self.delivery.announce(app, outcome)
        if outcome.error is not None and not quiet:
            raise outcome.error

    def _refused(
        self, app: Flask, issued: Issued, message: SmsMessage, error: DeliveryError, quiet: bool
    ) -> None:
        """A send that could not even start: closed, recorded, logged and signalled."""
        outcome = self.delivery.failed(message, error, challenge_id=issued.challenge.id)
        self._settle(app, issued, outcome, quiet=quiet)

    def _message(self, issued: Issued, client_ip: str | None, locale: str | None) -> SmsMessage:
        challenge = issued.challenge
        return self.delivery.message(
            to=challenge.phone,
            usage=challenge.usage,
            code=issued.code or "",
            client_ip=client_ip,
            locale=locale,
            channel=challenge.channel,
        )

    @staticmethod
    def _protected(issued: Issued, protect: bool) -> bool:
        return protect and issued.challenge.usage in PROTECTED_USAGES


class InlineDispatcher(Dispatcher):
    """The code goes out inside the issuing transaction: for instant connectors only."""

    def _dispatch(
        self, make: Make, client_ip: str | None, locale: str | None, protect: bool
    ) -> IssuedChallenge:
        language = locale or message_locale()
        outcome: Outcome | None = None
        with self.challenges.transaction() as conn:
            issued = make(conn)
            if _sends(issued):
                outcome = self.delivery.attempt(
                    self._message(issued, client_ip, language),
                    challenge_id=issued.challenge.id,
                    resend=issued.resend,
                )
                self.delivery.record(outcome, conn)
                if outcome.error is not None:
                    self.challenges.close(conn, issued.challenge.id)
        if outcome is not None:
            self.delivery.announce(_app(), outcome)
            if outcome.error is not None and not self._protected(issued, protect):
                raise outcome.error
        return issued.challenge


class PooledDispatcher(Dispatcher):
    """Protected sends on the background sender, the others in the request."""

    def __init__(
        self, challenges: ChallengeService, delivery: Delivery, sender: BackgroundSender
    ) -> None:
        super().__init__(challenges, delivery)
        self.sender = sender

    def _send(
        self,
        app: Flask,
        issued: Issued,
        client_ip: str | None,
        locale: str | None,
        protected: bool,
    ) -> None:
        if not protected:
            super()._send(app, issued, client_ip, locale, protected)
            return
        message = self._message(issued, client_ip, locale)
        try:
            self.sender.submit(app, lambda: self._deliver(app, issued, message, quiet=True))
        except SenderBusy as busy:  # refused, not dropped: closed, recorded and signalled
            self._refused(app, issued, message, busy, quiet=True)


class QueuedDispatcher(Dispatcher):
    """Only the challenge's id goes through the broker; the worker makes the code."""

    makes_code = False

    def __init__(self, challenges: ChallengeService, delivery: Delivery, enqueue: Enqueue) -> None:
        super().__init__(challenges, delivery)
        self.enqueue = enqueue

    def _send(
        self,
        app: Flask,
        issued: Issued,
        client_ip: str | None,
        locale: str | None,
        protected: bool,
    ) -> None:
        try:
            self.enqueue(issued.challenge.id, issued.resend, client_ip, locale)
        except Exception as exc:  # the broker is down: the same as a provider outage
            logger.exception("could not queue the delivery of challenge %s", issued.challenge.id)
            error = ProviderUnavailable(
                f"the delivery queue is unavailable ({type(exc).__name__})", connector="queue"
            )
            message = self._message(issued, client_ip, locale)
            self._refused(app, issued, message, error, quiet=protected)

    def deliver_queued(
        self,
        challenge_id: str,
        *,
        resend: bool = False,
        client_ip: str | None = None,
        locale: str | None = None,
        final_attempt: bool = True,
    ) -> bool:
        """In the worker: make a code for a queued challenge, store its digest and send it.

        Returns ``False`` when there is nothing to send any more (used, closed, silent or
        unknown). A :class:`DeliveryError` that may pass is raised without closing the
        challenge unless ``final_attempt``; the next attempt makes a new code.
        """
        with self.challenges.transaction() as conn:
            issued = self.challenges.rearm(conn, challenge_id)
        if issued is None:
            return False
        app = _app()
        message = self._message(issued, client_ip, locale)
        outcome = self.delivery.attempt(message, challenge_id=challenge_id, resend=resend)
        error = outcome.error
        closes = error is not None and (final_attempt or not error.retryable)
        with self.challenges.transaction() as conn:
            self.delivery.record(outcome, conn)
            if closes:
                self.challenges.close(conn, challenge_id)
        self.delivery.announce(app, outcome, will_retry=not final_attempt)
        if error is not None:
            raise error
        return True


def _sends(issued: Issued) -> bool:
    """Whether the issued code goes out: never for a silent challenge, and never for a
    configured test number (its code is fixed; no provider, no delivery record)."""
    return issued.delivered and not issued.test


def _app() -> Flask:
    return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]
