"""Send and password-attempt limits on Flask-Limiter's storage.

Limits are checked explicitly by the code engine, after the number is normalised, rather
than by decorators: the key is the E.164 number (one bucket for every way of typing it,
never an empty key that Flask-Limiter would skip), and a storage outage fails closed with a
503 instead of a 500 or, worse, an unmetered SMS.

The buckets, each with its own limits:

- ``send-number``, ``send-prefix`` (the number's block of 10,000), ``send-ip``: codes anyone
  may ask for (sign-up, sign-in by code, reset, a new number). They count alike whether or
  not the number has an account, so their answers tell nothing.
- ``send-holder``: codes to an account's own number for someone past its password or signed
  in (the second step, identity checks) and the security notices. Anonymous requests cannot
  spend it; it is capped per number like ``send-number``.
- ``send-invalid``: input that is not an acceptable number, per client IP (one visitor's
  junk does not refuse the next visitor's typo).
- ``notice-<Kind>``: at most one security notice of a kind per number per 10 minutes.
- ``invite-inviter``: invitations texted per inviter (an account, or the app itself), on top
  of the number's own send budget, which an invitation spends like any code.

The per-code counters (attempts, consecutive failures) live in the database, not here, so
they hold even when this storage is down.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence

from flask_limiter import Limiter
from limits import RateLimitItem, parse_many

from .errors import RateLimited, RateLimitUnavailable
from .settings import Settings

logger = logging.getLogger("flask_sms_otp")

INVALID_KEY = "invalid"
#: At most one security notice of each kind per number in this window.
NOTICE_INTERVAL = "1/10minutes"


def prefix_of(e164: str) -> str:
    """The number without its last four digits: one bucket per block of 10,000 numbers,
    which is how SMS-pumping fraud walks a premium range."""
    return e164[:-4] if len(e164) > 5 else INVALID_KEY


class RateLimits:
    """The send and password limits of one app. With Flask-Limiter's own
    ``RATELIMIT_ENABLED = False`` (``enabled=False``) nothing is counted or refused."""

    def __init__(self, limiter: Limiter, settings: Settings, *, enabled: bool = True) -> None:
        self.limiter = limiter
        self.enabled = enabled
        self.send_per_number = settings.send_limit_per_number
        self.send_per_ip = settings.send_limit_per_ip
        self.send_per_prefix = settings.send_limit_per_prefix
        self.password_per_account = settings.password_limit_per_account
        self.password_per_ip = settings.password_limit_per_ip
        self.invite_per_inviter = settings.invite_limit_per_inviter
        self.notice_interval = parse_many(NOTICE_INTERVAL)

    def hit_send(self, e164: str, client_ip: str | None) -> None:
        """Count one code anyone may ask for, per IP, number and block; raise when one is
        over. ``client_ip`` ``None`` (a script or job, outside any request) leaves the
        per-IP limit out."""
        if client_ip is not None:
            self._apply("send-ip", client_ip, self.send_per_ip)
        self._apply("send-number", e164, self.send_per_number)
        self._apply("send-prefix", prefix_of(e164), self.send_per_prefix)

    def hit_holder_send(self, e164: str, client_ip: str | None) -> None:
        """Count one code to an account's own number for its holder (past the password or
        signed in): per IP, and per number in a budget anonymous requests cannot spend."""
        if client_ip is not None:
            self._apply("send-ip", client_ip, self.send_per_ip)
        self._apply("send-holder", e164, self.send_per_number)

    def hit_invalid(self, client_ip: str | None) -> None:
        """Count input that is not an acceptable number, for the client that sent it."""
        if client_ip is not None:
            self._apply("send-invalid", client_ip, self.send_per_number)

    def hit_notice(self, e164: str, kind: str) -> None:
        """Count one security notice: from the holder's budget of the number, and at most
        one of each kind per number per 10 minutes."""
        self._apply(f"notice-{kind}", e164, self.notice_interval)
        self._apply("send-holder", e164, self.send_per_number)

    def hit_invite(self, inviter: str) -> None:
        """Count one invitation texted on behalf of ``inviter`` (a user id, or ``app``)."""
        self._apply("invite-inviter", inviter, self.invite_per_inviter)

    def hit_password_attempt(self, phone_key: str, client_ip: str) -> None:
        """Count a password attempt for the IP; refuse if the account has failed too often.
        Failures are counted by :meth:`password_failed`; unknown numbers count the same."""
        self._apply("password-ip", client_ip, self.password_per_ip)
        self._apply("password-account", phone_key, self.password_per_account, consume=False)

    def password_failed(self, phone_key: str) -> None:
        self._apply("password-account", phone_key, self.password_per_account, enforce=False)

    def _apply(
        self,
        scope: str,
        key: str,
        items: Sequence[RateLimitItem],
        *,
        consume: bool = True,
        enforce: bool = True,
    ) -> None:
        """Count (``consume``) or only test each limit of a bucket; with ``enforce`` raise
        :class:`RateLimited` at the first one over. Any storage failure fails closed."""
        if not self.enabled:
            return
        identifiers = self.identifiers(scope, key or INVALID_KEY)
        strategy = self.limiter.limiter
        try:
            for item in items:
                allowed = (
                    strategy.hit(item, *identifiers)
                    if consume
                    else strategy.test(item, *identifiers)
                )
                if enforce and not allowed:
                    raise RateLimited(self._retry_after(item, identifiers))
        except RateLimited:
            raise
        except Exception:
            logger.exception("rate-limit storage failed")
            raise RateLimitUnavailable() from None

    def identifiers(self, scope: str, key: str) -> tuple[str, ...]:
        """The bucket's name, under the app's ``RATELIMIT_KEY_PREFIX`` as Flask-Limiter's own
        limits are, so apps sharing one Redis keep their counters apart."""
        prefix = getattr(self.limiter, "_key_prefix", "") or ""
        return (prefix, "sms_otp", scope, key) if prefix else ("sms_otp", scope, key)

    def _retry_after(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> int:
        stats = self.limiter.limiter.get_window_stats(item, *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))
