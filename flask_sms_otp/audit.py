"""The audit trail of the admin pages: every action an operator takes, who took it and
when, as a row of ``sms_otp_admin_action`` and the ``admin_action`` signal.

Written in a transaction of its own, never on the app's session: the trail is kept
whatever the app does with its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask

from . import signals
from .models import as_utc, utc
from .state import SmsOtpState

logger = logging.getLogger("flask_sms_otp")

TEST_SEND = "test_send"
RELEASE_HOLD = "release_hold"
UNLOCK = "unlock"
CLEAR_LIMITS = "clear_limits"


@dataclass(frozen=True, slots=True)
class AdminAction:
    at: datetime
    user_id: str
    action: str
    target: str
    detail: str


def record(
    app: Flask,
    state: SmsOtpState,
    user: Any,
    action: str,
    target: str,
    detail: str,
    at: datetime,
) -> AdminAction:
    """Write the action, then signal it (``admin_action``)."""
    entry = AdminAction(utc(at), str(user.get_id()), action, target[:64], detail[:500])
    with state.db.engine.begin() as conn:
        conn.execute(
            sa.insert(state.models.AdminAction).values(
                at=entry.at,
                user_id=entry.user_id[:64],
                action=entry.action,
                target=entry.target,
                detail=entry.detail,
            )
        )
    logger.info("admin: user %s did %s on %s (%s)", entry.user_id, action, target, detail)
    signals.admin_action.send(
        app, user=user, action=action, target=entry.target, detail=entry.detail, at=entry.at
    )
    return entry


def recent(state: SmsOtpState, limit: int = 100) -> list[AdminAction]:
    """The latest actions, newest first."""
    Action = state.models.AdminAction
    with state.db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(Action.at, Action.user_id, Action.action, Action.target, Action.detail)
            .order_by(Action.at.desc(), Action.id.desc())
            .limit(limit)
        ).all()
    return [AdminAction(as_utc(r.at), r.user_id, r.action, r.target, r.detail) for r in rows]
