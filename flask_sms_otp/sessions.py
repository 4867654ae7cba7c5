"""What the flows keep in the user's session: never a code, only ids and timestamps.

- ``_sms_otp_epoch``: the user's session epoch when this session signed in; a password reset
  bumps the user's epoch, and every older session is signed out on its next request.
- ``_sms_otp_mfa``: a pending second step (user id, challenge id, expiry, the user's session
  epoch). Not signed in.
- ``_sms_otp_verified_at``: when the user last confirmed their identity.
- ``_sms_otp_flow``: the challenge id of an HTML flow in progress.

Flask-Login's remember-me cookie carries only the user id: beside it the extension keeps a
signed cookie with the user's session epoch when it was issued (:data:`REMEMBER_EPOCH`), so
that a remember cookie from before a password reset or change signs nobody in. The app's
own ``login_user(user, remember=True)`` and ``user_loader`` work unchanged.

Times come from the code engine's clock (``SmsOtp(clock=...)``), so a pending second step
expires with its code, and tests can move both at once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, after_this_request, current_app, request, session
from flask_login import current_user, login_user, logout_user, user_logged_in, user_logged_out
from flask_login.config import COOKIE_DURATION, COOKIE_NAME
from flask_login.utils import decode_cookie
from itsdangerous import BadData, URLSafeSerializer
from werkzeug.wrappers import Response

from .i18n import gettext as _

EPOCH = "_sms_otp_epoch"
MFA = "_sms_otp_mfa"
VERIFIED_AT = "_sms_otp_verified_at"
FLOW = "_sms_otp_flow"
#: The remember cookie's companion: a signed ``[user id, session epoch]``.
REMEMBER_EPOCH = "sms_otp_remember_epoch"


def sign_in(user: Any) -> None:
    """Sign ``user`` in with a fresh session: nothing from before survives (fixation).
    The flows check ``is_active`` first; Flask-Login would refuse an inactive user."""
    session.clear()
    if not login_user(user):
        raise RuntimeError("Flask-Login refused to sign in an inactive user")
    session[EPOCH] = int(user.session_epoch or 0)


def sign_out() -> None:
    logout_user()
    session.clear()


def enforce_epoch() -> None:
    """``before_request``, the app's first: end a session the user's epoch has moved past,
    and refuse a remember cookie issued before the epoch moved."""
    if "_user_id" not in session:
        _check_remember_cookie()
        return
    if not current_user.is_authenticated:
        return
    epoch = getattr(current_user, "session_epoch", None)
    if epoch is None:
        return
    if EPOCH not in session:  # signed in by the app's own code: adopt the current epoch
        session[EPOCH] = int(epoch)
    elif session[EPOCH] != int(epoch):
        sign_out()


def start_mfa(user: Any, verification_id: str, ttl: int) -> None:
    """Remember a pending second step, with the user's session epoch: a password reset or
    change before the code is entered ends it. Whoever was signed in is signed out first."""
    session.clear()
    logout_user()
    session[MFA] = {
        "uid": str(user.get_id()),
        "vid": verification_id,
        "exp": _now() + ttl,
        "epoch": int(user.session_epoch or 0),
    }


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


def insecure_cookie_hint() -> str | None:
    """Why every CSRF check fails on this request, when it is the cookie's Secure flag: the
    browser keeps a Secure session cookie to itself over plain HTTP."""
    if request.is_secure or not current_app.config.get("SESSION_COOKIE_SECURE"):
        return None
    return _(
        "The session cookie is Secure, so the browser does not send it over plain HTTP: "
        "use HTTPS, or set SMS_OTP_SECURE_COOKIES = False for local development."
    )


# The remember cookie's epoch ----------------------------------------------------------------


def connect_remember_cookie(app: Flask) -> None:
    """Keep the companion cookie beside Flask-Login's remember cookie, for ``app``."""
    user_logged_in.connect(_remembered, sender=app)
    user_logged_out.connect(_forgotten, sender=app)


def _check_remember_cookie() -> None:
    """Before Flask-Login signs a visitor in from the remember cookie: if the cookie was
    issued under an older session epoch (or its companion is missing once the epoch has
    moved), tell Flask-Login to ignore and delete it."""
    name = current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME)
    cookie = request.cookies.get(name)
    if not cookie or session.get("_remember") == "clear":
        return
    user_id = decode_cookie(cookie)
    if user_id is None:
        return  # not a valid remember cookie: Flask-Login ignores it too
    from .state import get_state  # late: the state imports the flows, which import this

    user = get_state().users.get(user_id)
    if user is None:
        return
    epoch = int(getattr(user, "session_epoch", 0) or 0)
    if _remembered_epoch(user_id) == epoch:
        session[EPOCH] = epoch
        return
    session["_remember"] = "clear"  # Flask-Login skips the cookie and deletes it
    _delete_companion()


def _remembered_epoch(user_id: str) -> int | None:
    """The epoch the companion cookie carries for ``user_id``; 0 without one (a cookie
    from before the extension, valid until the user's epoch first moves)."""
    value = request.cookies.get(REMEMBER_EPOCH)
    if value is None:
        return 0
    try:
        carried_id, epoch = _serializer().loads(value)
    except (BadData, TypeError, ValueError):
        return None
    return int(epoch) if carried_id == str(user_id) and isinstance(epoch, int) else None


def _remembered(_app: Flask, user: Any = None, **_extra: Any) -> None:
    """``user_logged_in``: when Flask-Login is about to set a remember cookie, set ours."""
    if session.get("_remember") != "set" or user is None:
        return
    value = _serializer().dumps([str(user.get_id()), int(getattr(user, "session_epoch", 0) or 0)])
    config = current_app.config
    seconds = session.get("_remember_seconds")
    duration = (
        timedelta(seconds=seconds)
        if seconds is not None
        else config.get("REMEMBER_COOKIE_DURATION", COOKIE_DURATION)
    )
    if not isinstance(duration, timedelta):
        duration = timedelta(seconds=int(duration))

    @after_this_request
    def set_companion(response: Response) -> Response:
        response.set_cookie(
            REMEMBER_EPOCH,
            value,
            max_age=int(duration.total_seconds()),
            domain=config.get("REMEMBER_COOKIE_DOMAIN"),
            path=config.get("REMEMBER_COOKIE_PATH", "/"),
            secure=bool(config.get("REMEMBER_COOKIE_SECURE", False)),
            httponly=bool(config.get("REMEMBER_COOKIE_HTTPONLY", True)),
            samesite=config.get("REMEMBER_COOKIE_SAMESITE"),
        )
        return response


def _forgotten(_app: Flask, **_extra: Any) -> None:
    """``user_logged_out``: the remember cookie goes, and its companion with it."""
    if REMEMBER_EPOCH in request.cookies:
        _delete_companion()


def _delete_companion() -> None:
    config = current_app.config

    @after_this_request
    def delete(response: Response) -> Response:
        response.delete_cookie(
            REMEMBER_EPOCH,
            domain=config.get("REMEMBER_COOKIE_DOMAIN"),
            path=config.get("REMEMBER_COOKIE_PATH", "/"),
        )
        return response


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key or "", salt="flask-sms-otp.remember-epoch")
