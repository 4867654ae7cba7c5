"""Send and password-attempt limits on Flask-Limiter's storage.

Limits are checked explicitly in the flows, after the number is normalised, rather than by
decorators: the key is the E.164 number (one bucket for every way of typing it, a constant
``invalid`` bucket for garbage, never an empty key that Flask-Limiter would skip), and a
storage outage fails closed with a 503 instead of a 500 or, worse, an unmetered SMS.

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
        self.send_per_number = parse_many(settings.send_limit_per_number)
        self.send_per_ip = parse_many(settings.send_limit_per_ip)
        self.send_per_prefix = parse_many(settings.send_limit_per_prefix)
        self.password_per_account = parse_many(settings.password_limit_per_account)
        self.password_per_ip = parse_many(settings.password_limit_per_ip)

    def hit_send(self, phone_key: str, client_ip: str | None) -> None:
        """Count one SMS send for this IP, number and prefix; raise when one is over.
        ``client_ip`` ``None`` (a script or job, outside any request) leaves the per-IP
        limit out."""
        if client_ip is not None:
            self._apply("send-ip", client_ip, self.send_per_ip)
        self._apply("send-number", phone_key, self.send_per_number)
        prefix = prefix_of(phone_key) if phone_key and phone_key != INVALID_KEY else INVALID_KEY
        self._apply("send-prefix", prefix, self.send_per_prefix)

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
        identifiers = self._identifiers(scope, key or INVALID_KEY)
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

    def _identifiers(self, scope: str, key: str) -> tuple[str, ...]:
        """The bucket's name, under the app's ``RATELIMIT_KEY_PREFIX`` as Flask-Limiter's own
        limits are, so apps sharing one Redis keep their counters apart."""
        prefix = getattr(self.limiter, "_key_prefix", "") or ""
        return (prefix, "sms_otp", scope, key) if prefix else ("sms_otp", scope, key)

    def _retry_after(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> int:
        stats = self.limiter.limiter.get_window_stats(item, *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))
