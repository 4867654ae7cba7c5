"""What the flows keep in the user's session: never a code, only ids and timestamps.

- ``_sms_otp_epoch``: the user's session epoch when this session signed in; a password reset
  bumps the user's epoch, and every older session is signed out on its next request.
- ``_sms_otp_mfa``: a pending second step (user id, challenge id, expiry). Not signed in.
- ``_sms_otp_verified_at``: when the user last confirmed their identity.
- ``_sms_otp_flow``: the challenge id of an HTML flow in progress.

Times come from the code engine's clock (``SmsOtp(clock=...)``), so a pending second step
expires with its code, and tests can move both at once.
"""

from __future__ import annotations

from typing import Any

from flask import session
from flask_login import current_user, login_user, logout_user

EPOCH = "_sms_otp_epoch"
MFA = "_sms_otp_mfa"
VERIFIED_AT = "_sms_otp_verified_at"
FLOW = "_sms_otp_flow"


def sign_in(user: Any) -> None:
    """Sign ``user`` in with a fresh session: nothing from before survives (fixation)."""
    session.clear()
    login_user(user)
    session[EPOCH] = int(user.session_epoch or 0)


def sign_out() -> None:
    logout_user()
    session.clear()


def enforce_epoch() -> None:
    """``before_request``: end a session the user's epoch has moved past."""
    if "_user_id" not in session or not current_user.is_authenticated:
        return
    epoch = getattr(current_user, "session_epoch", None)
    if epoch is None:
        return
    if EPOCH not in session:  # signed in by the app's own code: adopt the current epoch
        session[EPOCH] = int(epoch)
    elif session[EPOCH] != int(epoch):
        sign_out()


def start_mfa(user: Any, verification_id: str, ttl: int) -> None:
    """Remember a pending second step; whoever was signed in is signed out first."""
    session.clear()
    logout_user()
    session[MFA] = {"uid": str(user.get_id()), "vid": verification_id, "exp": _now() + ttl}


def pending_mfa() -> dict[str, Any] | None:
    pending = session.get(MFA)
    if not isinstance(pending, dict):
        return None
    if pending.get("exp", 0) < _now():
        session.pop(MFA, None)
        return None
    return pending


def extend_mfa(verification_id: str, ttl: int) -> None:
    """Give the pending second step of this challenge a new lifetime (after a resend)."""
    pending = pending_mfa()
    if pending is not None and pending.get("vid") == verification_id:
        session[MFA] = {**pending, "exp": _now() + ttl}


def clear_mfa() -> None:
    session.pop(MFA, None)


def mark_verified() -> float:
    now = _now()
    session[VERIFIED_AT] = now
    return now


def verified_within(max_age: int) -> bool:
    at = session.get(VERIFIED_AT)
    return isinstance(at, int | float) and _now() - at <= max_age


def _now() -> float:
    """Seconds since the epoch by the code engine's clock."""
    from .state import get_state  # late: the state imports the flows, which import this module

    return get_state().challenges.clock().timestamp()


def set_flow(name: str, verification_id: str, **extra: Any) -> None:
    session[FLOW] = {"name": name, "vid": verification_id, **extra}


def get_flow(name: str) -> dict[str, Any] | None:
    flow = session.get(FLOW)
    return flow if isinstance(flow, dict) and flow.get("name") == name else None


def clear_flow() -> None:
    session.pop(FLOW, None)
