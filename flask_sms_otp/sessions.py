"""What the flows keep in the user's session: never a code, only ids and timestamps.

- ``_sms_otp_sid``: the secret token of this session's server-side record
  (:mod:`.session_records`). A signed-in session authenticates only while its record is
  live: sign-out, a password reset or change, and the user's own "sign out" on the sessions
  list end records, and with them every copy of the cookie.
- ``_sms_otp_epoch``: the user's session epoch when this session signed in; a password reset
  bumps the user's epoch, and every older session is signed out on its next request.
- ``_sms_otp_mfa``: a pending second step (user id, challenge id, expiry, the user's session
  epoch). Not signed in.
- ``_sms_otp_verified_at``: when the user last confirmed their identity.
- ``_sms_otp_flow``: the challenge id of an HTML flow in progress.

Flask-Login's remember-me cookie carries only the user id, and is the same for every device
of a user: beside it the extension keeps a signed cookie (:data:`REMEMBER_EPOCH`) with the
user's session epoch and the token of the session record it belongs to, so that a remember
cookie signs in only while that record is live and the epoch has not moved. The app's own
``login_user(user, remember=True)``, ``logout_user()`` and ``user_loader`` work unchanged:
they get records through Flask-Login's signals.

Times come from the code engine's clock (``SmsOtp(clock=...)``), so a pending second step
expires with its code, and tests can move both at once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, after_this_request, current_app, g, request, session
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user, logout_user, user_logged_in, user_logged_out
from flask_login.config import COOKIE_DURATION, COOKIE_NAME
from flask_login.utils import decode_cookie
from itsdangerous import BadData, URLSafeSerializer
from werkzeug.wrappers import Response

from . import transaction
from .session_records import SessionRecord, SessionRecords, new_token
from .state import get_state

SID = "_sms_otp_sid"
EPOCH = "_sms_otp_epoch"
MFA = "_sms_otp_mfa"
VERIFIED_AT = "_sms_otp_verified_at"
FLOW = "_sms_otp_flow"
#: The remember cookie's companion: a signed ``[user id, session epoch, record token]``.
REMEMBER_EPOCH = "sms_otp_remember_epoch"
#: On ``g`` while :func:`sign_in` calls ``login_user``: it makes the record itself.
_SIGNING_IN = "_sms_otp_signing_in"


def sign_in(user: Any, *, keep_record: bool = False, token: str | None = None) -> None:
    """Sign ``user`` in with a fresh session: nothing from before survives (fixation), and
    the session gets a new record and token. The record this browser had is ended, unless
    ``keep_record`` (a password change): then it carries on, as the same device, under the
    new token. The flows check ``is_active`` first; Flask-Login would refuse an inactive
    user. ``token``: the record is written already (:func:`record_sign_in`); else it is
    written once the view's changes are committed."""
    previous = _token()
    session.clear()
    setattr(g, _SIGNING_IN, True)
    try:
        signed_in = login_user(user)
    finally:
        g.pop(_SIGNING_IN, None)
    if not signed_in:
        raise RuntimeError("Flask-Login refused to sign in an inactive user")
    session[EPOCH] = int(user.session_epoch or 0)
    if token is not None:
        session[SID] = token
    else:
        _start_record(user, previous, keep=keep_record)


def record_sign_in(user: Any, conn: sa.Connection) -> str:
    """Write, on ``conn`` (a code's verification), the record of a sign-in :func:`sign_in`
    makes after the commit, ending this browser's previous one; return its token. Nothing
    of the app's (Flask-Login's signals) runs inside that transaction."""
    token = new_token()
    previous = _token()
    records = _records()
    ip, agent = _client()
    if previous is not None:
        records.end(previous, conn)
    records.start(token, str(user.get_id()), ip=ip, user_agent=agent, conn=conn)
    return token


def sign_out() -> None:
    """Sign out and end this session's record (through ``user_logged_out``); the remember
    cookie, if any, is deleted with the answer."""
    logout_user()
    remember = session.get("_remember")
    session.clear()
    if remember == "clear":  # Flask-Login's flag to delete the remember cookie
        session["_remember"] = "clear"


def check_session() -> None:
    """``before_request``, the app's first, before any view or hook of the app's can use
    the user: a signed-in session whose record has ended or is gone, or whose user's epoch
    has moved, is signed out now. A session signed in without a record (by code from
    before records were kept) gets one. Otherwise the record's ``last_seen_at`` is
    updated, at most once a minute. Without a session, a remember cookie is checked."""
    if "_user_id" not in session:
        _check_remember_cookie()
        return
    if not current_user.is_authenticated:
        return
    user = current_user._get_current_object()
    epoch = getattr(user, "session_epoch", None)
    if epoch is not None:
        if EPOCH not in session:  # signed in by the app's own code: adopt the current epoch
            session[EPOCH] = int(epoch)
        elif session[EPOCH] != int(epoch):
            sign_out()
            return
    token = _token()
    if token is None:
        _start_record(user, None, keep=False)
        return
    record = _records().find(token)
    if record is None or not record.active or record.user_id != str(user.get_id()):
        sign_out()
        return
    _touch(record)


# Records --------------------------------------------------------------------------------------


def current_token() -> str | None:
    """This session's record token, if it has one."""
    return _token()


def end_every_record(user: Any) -> None:
    """End every session of ``user`` (a password reset), once the reset is committed."""
    records, user_id = _records(), str(user.get_id())
    transaction.after_commit(lambda: records.end_all(user_id))


def end_other_records(user: Any) -> None:
    """End every session of ``user`` but this one (a password change, or the user's own
    "sign out other sessions"), once the change is committed."""
    records, user_id, token = _records(), str(user.get_id()), _token()
    transaction.after_commit(lambda: records.end_all(user_id, keep_token=token))


def _start_record(user: Any, previous: str | None, *, keep: bool) -> None:
    """Give this session a new token and a record for it, written once the view's changes
    are committed (a new user is not in the table before). ``previous`` is the token this
    browser had: its record ends, or with ``keep`` takes the new token."""
    token = new_token()
    session[SID] = token
    records, user_id = _records(), str(user.get_id())
    ip, agent = _client()

    def write() -> None:
        if previous is not None:
            if keep and records.rotate(previous, token, user_id):
                return
            records.end(previous)
        records.start(token, user_id, ip=ip, user_agent=agent)

    transaction.after_commit(write)


def _touch(record: SessionRecord) -> None:
    ip, agent = _client()
    _records().touch(record, ip=ip, user_agent=agent)


def _token() -> str | None:
    token = session.get(SID)
    return token if isinstance(token, str) and token else None


def _client() -> tuple[str, str]:
    return str(get_remote_address() or ""), request.headers.get("User-Agent", "")


def _records() -> SessionRecords:
    return get_state().session_records


# Pending second step and identity checks ------------------------------------------------------


def start_mfa(user: Any, verification_id: str, ttl: int) -> None:
    """Remember a pending second step, with the user's session epoch: a password reset or
    change before the code is entered ends it. Whoever was signed in is signed out first."""
    sign_out()
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
    return get_state().challenges.clock().timestamp()


def set_flow(name: str, verification_id: str, **extra: Any) -> None:
    session[FLOW] = {"name": name, "vid": verification_id, **extra}


def get_flow(name: str) -> dict[str, Any] | None:
    flow = session.get(FLOW)
    return flow if isinstance(flow, dict) and flow.get("name") == name else None


def clear_flow() -> None:
    session.pop(FLOW, None)


def cookie_withheld_over_http() -> bool:
    """Whether every CSRF check fails on this request because of the cookie's Secure flag:
    the browser keeps a Secure session cookie to itself over plain HTTP."""
    return not request.is_secure and bool(current_app.config.get("SESSION_COOKIE_SECURE"))


# Flask-Login's signals and the remember cookie ---------------------------------------------


def connect_signals(app: Flask) -> None:
    """Records for the app's own ``login_user`` and ``logout_user``, and the companion
    cookie beside Flask-Login's remember cookie, for ``app``."""
    user_logged_in.connect(_logged_in, sender=app)
    user_logged_out.connect(_logged_out, sender=app)


def _logged_in(_app: Flask, user: Any = None, **_extra: Any) -> None:
    """``user_logged_in``: the app's own ``login_user`` gets a record too (replacing the one
    this browser had), and a remember cookie its companion. :func:`sign_in` makes its own."""
    if user is None or getattr(g, _SIGNING_IN, False):
        return
    _start_record(user, _token(), keep=False)
    if session.get("_remember") == "set":
        _set_companion(user)


def _logged_out(_app: Flask, **_extra: Any) -> None:
    """``user_logged_out`` (the extension's sign-out or the app's own ``logout_user``): the
    session's record ends, so no copy of the cookie signs in again; the remember cookie's
    companion goes with the remember cookie."""
    token = session.pop(SID, None)
    if isinstance(token, str) and token:
        records = _records()
        transaction.after_commit(lambda: records.end(token))
    if REMEMBER_EPOCH in request.cookies:
        _delete_companion()


def _check_remember_cookie() -> None:
    """Before Flask-Login signs a visitor in from the remember cookie: the cookie counts
    only with a companion naming a live record of the same user, issued under the user's
    current session epoch. Then this session takes that record's token; otherwise
    Flask-Login is told to ignore and delete the cookie. (Flask-Login's cookie is the same
    for every device of a user and never changes: alone it proves nothing.)"""
    name = current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME)
    cookie = request.cookies.get(name)
    if not cookie or session.get("_remember") == "clear":
        return
    user_id = decode_cookie(cookie)
    if user_id is None:
        return  # not a valid remember cookie: Flask-Login ignores it too
    user = get_state().users.get(user_id)
    if user is None:
        return
    carried = _companion(str(user.get_id()))
    if carried is not None:
        epoch, token = carried
        record = _records().find(token) if epoch == int(user.session_epoch or 0) else None
        if record is not None and record.active and record.user_id == str(user.get_id()):
            session[EPOCH] = epoch
            session[SID] = token
            _touch(record)
            return
    session["_remember"] = "clear"  # Flask-Login skips the cookie and deletes it
    _delete_companion()


def _companion(user_id: str) -> tuple[int, str] | None:
    """The epoch and record token the companion cookie carries for ``user_id``."""
    value = request.cookies.get(REMEMBER_EPOCH)
    if value is None:
        return None
    try:
        carried_id, epoch, token = _serializer().loads(value)
    except (BadData, TypeError, ValueError):
        return None
    if carried_id != user_id or not isinstance(epoch, int) or not isinstance(token, str):
        return None
    return epoch, token


def _set_companion(user: Any) -> None:
    """Set the companion beside the remember cookie Flask-Login is about to set."""
    value = _serializer().dumps(
        [str(user.get_id()), int(getattr(user, "session_epoch", 0) or 0), session[SID]]
    )
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
