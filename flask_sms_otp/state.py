"""Per-app state of the extension, kept in ``app.extensions["sms_otp"]``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_sqlalchemy import SQLAlchemy

if TYPE_CHECKING:
    # Only the field types: at run time this module imports nothing of the package, so the
    # layers below the extension (flows, sessions, transaction) can read the state.
    from .challenges import ChallengeService
    from .connectors.base import SmsConnector
    from .delivery import Delivery
    from .dispatch import Dispatcher
    from .flows import Flows
    from .guard import PumpingGuard
    from .invitations import Invitations
    from .limits import RateLimits
    from .models import Models
    from .routing import Named
    from .sender import BackgroundSender
    from .session_records import SessionRecords
    from .settings import Settings
    from .users import UserStore

EXTENSION_KEY = "sms_otp"
#: The name of the one configured connector, in receipt URLs (``/api/receipts/default``).
DEFAULT_CONNECTOR = "default"


@dataclass(frozen=True, slots=True)
class SmsOtpState:
    """Everything the extension keeps for one app."""

    settings: Settings
    connector: SmsConnector
    delivery: Delivery
    challenges: ChallengeService
    dispatcher: Dispatcher
    models: Models
    db: SQLAlchemy
    users: UserStore
    limiter: Limiter
    limits: RateLimits
    flows: Flows
    sender: BackgroundSender
    session_records: SessionRecords
    invitations: Invitations
    #: ``None`` with ``SMS_OTP_PUMPING_GUARD = False``.
    guard: PumpingGuard | None = None
    #: The app's ``is_admin(user) -> bool`` (``SmsOtp.admin_check``); ``None``: no admin pages.
    admin_check: Callable[[Any], bool] | None = None

    def connector_named(self, name: str) -> Named | None:
        """The connector configured under ``name`` (a key of ``SMS_OTP_CONNECTORS``, or
        ``default`` for the one ``SMS_OTP_CONNECTOR``), or None: what receipt URLs name."""
        return self.delivery.router.named.get(name)

    @property
    def user_model(self) -> type[Any]:
        return self.users.model


def get_state(app: Flask | None = None) -> SmsOtpState:
    """The extension's state for ``app`` (default: the current app)."""
    target = app if app is not None else current_app
    try:
        state: SmsOtpState = target.extensions[EXTENSION_KEY]
    except KeyError:
        raise RuntimeError(
            "flask-sms-otp is not initialised on this app (SmsOtp.init_app)"
        ) from None
    return state
