"""Security notices: texts without a code, telling the owner of an account that something
changed (NIST 800-63B and OWASP ask for them after a reset, a change of phone, and failed
second steps).

A notice goes out when the connector can say it: a template whose ``usageType`` is exactly
the notice's name (``PasswordChanged``, ``PhoneChanged``, ``MfaFailed``; never the
``Generic`` fallback, whose text is about a code), or the built-in texts of the console and
memory connectors. A notice that cannot be sent is logged; it never fails the action that
caused it.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from flask import Flask

from .delivery import Delivery
from .errors import DeliveryError, RateLimited, RateLimitUnavailable
from .i18n import message_locale
from .limits import RateLimits
from .phone import mask_phone

logger = logging.getLogger("flask_sms_otp")


class Notice(StrEnum):
    PASSWORD_CHANGED = "PasswordChanged"  # noqa: S105 - a notice name, not a secret
    PHONE_CHANGED = "PhoneChanged"
    MFA_FAILED = "MfaFailed"


class Notices:
    def __init__(self, delivery: Delivery, limits: RateLimits) -> None:
        self.delivery = delivery
        self.limits = limits

    def can_send(self, notice: Notice, phone: str | None = None) -> bool:
        """Whether the connector that would carry it (the first of ``phone``'s route, else
        the first configured) can say ``notice``."""
        route = self.delivery.router.route_for(phone) if phone else []
        connector = route[0].connector if route else self.delivery.connector
        templates = connector.config.get("templates")
        if templates:
            return any(t.get("usageType") == notice.value for t in templates)
        return connector.builtin_texts  # console and memory speak the built-in texts

    def send(self, app: Flask, notice: Notice, phone: str | None) -> bool:
        """Send ``notice`` to ``phone``; ``True`` if the provider accepted it."""
        if not phone or not self.can_send(notice, phone):
            logger.debug("no %s notice: no number or no template for it", notice.value)
            return False
        try:  # notices are SMS too: a loop of password changes must not text a number freely
            self.limits.hit_notice(phone, notice.value)
        except (RateLimited, RateLimitUnavailable):
            logger.info("no %s notice to %s: over its limits", notice.value, mask_phone(phone))
            return False
        try:
            message = self.delivery.notice(to=phone, usage=notice.value, locale=message_locale())
            self.delivery.send(app, message)
        except DeliveryError:
            return False  # logged and signalled by the delivery
        return True
