"""The flows as a JSON API for single-page and mobile clients, under ``/auth/api``.

Bodies are JSON objects with snake_case keys; errors are
``{"error": {"code": "...", "message": "..."}}`` with a fitting status (and ``Retry-After``
on 429). Writes need the CSRF token from ``GET /auth/api/csrf`` in ``X-CSRFToken``, unless
the app sets ``WTF_CSRF_ENABLED = False``; every write answer carries the current token in
the same header (it changes when the session is renewed at sign-in and sign-out).

The exception is ``POST /auth/api/receipts/<connector>``, where providers post delivery
receipts server to server: no CSRF token and no session, the provider's signature instead.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user
from flask_wtf.csrf import generate_csrf, validate_csrf
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from wtforms import ValidationError

from . import headers, openapi, sessions, texts, transaction
from .challenges import IssuedChallenge
from .connectors.receipts import MAX_BODY, ReceiptRequest, check_fresh
from .errors import HttpError, InvalidRequest, ReceiptMalformed, ReceiptRejected, SignInRequired
from .flows import Flows, MfaRequired, PhoneUser
from .invitations import Invitation
from .session_records import SessionRecord
from .state import get_state

logger = logging.getLogger("flask_sms_otp")

api_blueprint = Blueprint("sms_otp_api", __name__)
api_blueprint.before_request(transaction.begin)
api_blueprint.after_request(transaction.finish)
api_blueprint.teardown_request(transaction.end)
api_blueprint.after_request(headers.protect)

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Posted by providers, not browsers: signed by them, so no CSRF token and no session.
RECEIPT_ENDPOINT = "sms_otp_api.receive_receipt"
#: Where Flask-WTF's ``CSRFProtect`` finds the view, to exempt it (``csrf.exempt``).
RECEIPT_VIEW = "flask_sms_otp.api.receive_receipt"
#: Answers every URL under the API's prefix that no endpoint serves.
UNROUTED_ENDPOINT = "sms_otp_api.unrouted"


class CsrfFailed(InvalidRequest):
    """The ``X-CSRFToken`` header is missing or wrong. ``reason``: ``expired``, ``invalid``,
    or ``insecure_cookie`` (the browser keeps a Secure session cookie off plain HTTP)."""

    error_code = "csrf_failed"


@api_blueprint.before_request
def _check_csrf() -> None:
    if request.method not in _WRITES or not _csrf_enabled() or _is_receipt():
        return
    if request.endpoint == UNROUTED_ENDPOINT:
        return  # nothing is written there: the 404 or 405 says more than a CSRF error
    try:
        validate_csrf(request.headers.get("X-CSRFToken"))
    except ValidationError as exc:
        if sessions.cookie_withheld_over_http():
            reason = "insecure_cookie"
        elif exc.args and "expired" in str(exc.args[0]):
            reason = "expired"
        else:
            reason = "invalid"
        raise CsrfFailed(reason) from None


def exempt_receipts_from_csrf() -> None:
    """An app ``before_request`` placed before all others: exempts the receipt endpoint
    from Flask-WTF's ``CSRFProtect`` when the app has one, whenever it was set up."""
    if request.endpoint == RECEIPT_ENDPOINT:
        csrf = current_app.extensions.get("csrf")
        if csrf is not None and hasattr(csrf, "exempt"):
            csrf.exempt(RECEIPT_VIEW)


@api_blueprint.after_request
def _current_csrf_token(response: Response) -> Response:
    """Signing in or out starts a new session and so a new CSRF token: every write
    answer carries the current one, so clients need not ask ``/csrf`` again."""
    if request.method in _WRITES and _csrf_enabled() and not _is_receipt():
        response.headers["X-CSRFToken"] = _session_csrf_token()
    return response


@api_blueprint.errorhandler(HTTPException)
def _json_error(error: HTTPException) -> Response:
    code = getattr(error, "error_code", None)
    if code is None:
        code = "csrf_failed" if type(error).__name__ == "CSRFError" else _snake(error.name)
    body = {"code": code, "message": texts.message(error)}
    if isinstance(error, HttpError):
        body.update({key: error.data[key] for key in error.json_fields if key in error.data})
    response = jsonify({"error": body})
    response.status_code = error.code or 500
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


# Endpoints -----------------------------------------------------------------------------------


@api_blueprint.get("/openapi.json")
def openapi_document() -> Response:
    """The API's contract as this app serves it: its prefix, code length, password rules."""
    return jsonify(
        openapi.document(
            get_state().settings,
            # The API's root as mounted here: the script root and SMS_OTP_URL_PREFIX.
            server_url=url_for(".csrf").removesuffix("/csrf"),
            csrf=_csrf_enabled(),
            session_cookie=current_app.config["SESSION_COOKIE_NAME"],
        )
    )


@api_blueprint.get("/csrf")
def csrf() -> Response:
    return jsonify({"csrf_token": _session_csrf_token()})


@api_blueprint.post("/verification-codes")
def send_code() -> tuple[Response, int]:
    data = _body()
    token = data.get("captcha_token")
    issued = _flows().request_code(
        data.get("phone"),
        data.get("usage"),
        user=_user_or_none(),
        client_ip=_ip(),
        # Anything but text is no token: the bot check refuses it (captcha_failed).
        captcha_token=token if isinstance(token, str) else None,
        region=data.get("region"),
        channel=data.get("channel"),
    )
    return _challenge(issued), 202


@api_blueprint.post("/verification-codes/<verification_id>/resend")
def resend_code(verification_id: str) -> tuple[Response, int]:
    # The body is optional: none keeps the channel chosen for the first code.
    data = _body() if request.get_data(cache=True) else {}
    issued = _flows().resend_code(verification_id, client_ip=_ip(), channel=data.get("channel"))
    return _challenge(issued), 202


@api_blueprint.post("/sign-up")
def sign_up() -> tuple[Response, int]:
    data = _body()
    user = _flows().sign_up(data.get("verification_id"), data.get("code"), data.get("password"))
    return jsonify({"user": _user(user)}), 201


@api_blueprint.post("/sign-in")
def sign_in() -> Response:
    data = _body()
    result = _flows().sign_in_password(
        data.get("phone"), data.get("password"), client_ip=_ip(), region=data.get("region")
    )
    if isinstance(result, MfaRequired):
        return jsonify(
            {
                "mfa_required": True,
                "verification_id": result.challenge.id,
                "expires_at": _iso(result.challenge.expires_at),
                "resend_after": _iso(result.challenge.resend_after),
            }
        )
    return jsonify({"user": _user(result)})


@api_blueprint.post("/sign-in/code")
def sign_in_code() -> Response:
    data = _body()
    user = _flows().sign_in_code(data.get("verification_id"), data.get("code"))
    return jsonify({"user": _user(user)})


@api_blueprint.post("/mfa")
def mfa() -> Response:
    data = _body()
    user = _flows().complete_mfa(data.get("verification_id"), data.get("code"))
    return jsonify({"user": _user(user)})


@api_blueprint.post("/reset-password")
def reset_password() -> tuple[str, int]:
    data = _body()
    _flows().reset_password(data.get("verification_id"), data.get("code"), data.get("password"))
    return "", 204


@api_blueprint.get("/account")
def account() -> Response:
    return jsonify({"user": _user(_signed_in())})


@api_blueprint.post("/verify-identity")
def verify_identity() -> Response:
    data = _body()
    until = _flows().verify_identity(
        _signed_in(),
        data.get("verification_id"),
        data.get("code"),
        data.get("password"),
        client_ip=_ip(),
    )
    return jsonify({"verified_until": _iso(until)})


@api_blueprint.put("/account/phone")
def change_phone() -> Response:
    data = _body()
    user = _flows().change_phone(_signed_in(), data.get("verification_id"), data.get("code"))
    return jsonify({"user": _user(user)})


@api_blueprint.delete("/account/phone")
def remove_phone() -> tuple[str, int]:
    _flows().remove_phone(_signed_in())
    return "", 204


@api_blueprint.put("/account/mfa")
def set_mfa() -> Response:
    data = _body()
    user = _signed_in()
    _flows().set_mfa(user, data.get("enabled"), data.get("verification_id"), data.get("code"))
    return jsonify({"user": _user(user)})


@api_blueprint.put("/account/password")
def change_password() -> tuple[str, int]:
    _flows().change_password(_signed_in(), _body().get("password"))
    return "", 204


@api_blueprint.get("/account/sessions")
def list_sessions() -> Response:
    records = _flows().list_sessions(_signed_in())
    return jsonify({"sessions": [_session(record) for record in records]})


@api_blueprint.delete("/account/sessions/<session_id>")
def end_session(session_id: str) -> tuple[str, int]:
    _flows().end_session(_signed_in(), session_id)
    return "", 204


@api_blueprint.delete("/account/sessions")
def end_other_sessions() -> tuple[str, int]:
    _flows().end_other_sessions(_signed_in())
    return "", 204


@api_blueprint.get("/invitations/<token>")
def invitation(token: str) -> Response:
    """The open invitation this token opens (404 ``invitation_invalid`` for any other):
    to sign up or sign in with its number, then accept it."""
    return jsonify({"invitation": _invitation(get_state().invitations.find(token))})


@api_blueprint.post("/invitations/<token>/accept")
def accept_invitation(token: str) -> Response:
    """Accept, signed in with the invited number (403 ``invitation_wrong_phone`` with
    another)."""
    accepted = get_state().invitations.accept(token, _signed_in())
    return jsonify({"invitation": _invitation(accepted)})


@api_blueprint.post("/sign-out")
def sign_out() -> tuple[str, int]:
    sessions.sign_out()
    return "", 204


@api_blueprint.post("/receipts/<connector_name>")
def receive_receipt(connector_name: str) -> tuple[Response, int]:
    """A delivery receipt posted by the provider (see docs/receipts.md).

    404 for a name with no connector, or one that takes no receipts (or lacks its signing
    secret); 403, changing nothing, when the signature is missing or wrong, its timestamp
    older than ``SMS_OTP_RECEIPT_MAX_AGE`` or ahead of our clock, or the receipt a replay of
    the one last applied; 400 for a body that is not a receipt. Otherwise 200, also for a
    message we have no record of and a status that changes nothing, so that the provider
    does not retry it for ever."""
    state = get_state()
    named = state.connector_named(connector_name)
    connector = named.connector if named is not None else None
    if named is None or connector is None or not connector.accepts_receipts:
        return _receipt_answer(404, "no_receipts", "no connector here takes receipts")
    # Read no more than a receipt can hold, also when no Content-Length says how much.
    body = request.stream.read(MAX_BODY + 1)
    if (request.content_length or 0) > MAX_BODY or len(body) > MAX_BODY:
        return _receipt_answer(400, "receipt_malformed", "body_too_large")
    incoming = ReceiptRequest(
        url=request.url,
        headers=dict(request.headers.items()),
        body=body,
        content_type=request.content_type or "",
    )
    now = state.delivery.clock()
    try:
        receipt = connector.receipt(incoming, now)
        if receipt.signed_at is not None:
            check_fresh(receipt.signed_at, now, timedelta(seconds=state.settings.receipt_max_age))
    except ReceiptRejected as exc:
        # The reason only: a receipt's content holds the full number.
        logger.warning("refused a delivery receipt for %s: %s", connector.name, exc.reason)
        return _receipt_answer(403, "receipt_rejected", exc.reason)
    except ReceiptMalformed as exc:
        logger.warning("malformed delivery receipt for %s: %s", connector.name, exc.reason)
        return _receipt_answer(400, "receipt_malformed", exc.reason)
    outcome = state.delivery.apply_receipt(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        receipt,
        connector=named.label,  # the name its delivery records hold
    )
    if outcome.result == "replayed":
        logger.warning("refused a replayed delivery receipt for %s", connector.name)
        return _receipt_answer(403, "receipt_rejected", "replayed")
    return jsonify({"result": outcome.result}), 200


#: Every method a client may try; HEAD comes with GET.
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_UNROUTED: dict[str, Any] = {
    "methods": [*_METHODS, "OPTIONS"],
    "provide_automatic_options": False,
    "strict_slashes": False,
}


@api_blueprint.route("", **_UNROUTED)
@api_blueprint.route("/", **_UNROUTED)
@api_blueprint.route("/<path:_path>", **_UNROUTED)
def unrouted(_path: str = "") -> NoReturn:
    """No endpoint at this URL, or none for this method: the JSON 404 or 405 (with
    ``Allow``) a client of the API can read. Flask's own answers would be HTML pages, and
    no blueprint error handler sees them: routing fails before the blueprint is known."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in _METHODS:
        try:
            endpoint, _ = adapter.match(method=method)
        except HTTPException:  # no rule for this method (or a redirect to one): not allowed
            continue
        if endpoint != UNROUTED_ENDPOINT:
            allowed.append(method)
    if allowed:
        raise MethodNotAllowed(
            valid_methods=[*allowed, *(["HEAD"] if "GET" in allowed else []), "OPTIONS"]
        )
    raise NotFound()


# Helpers ---------------------------------------------------------------------------------------


def _is_receipt() -> bool:
    return request.endpoint == RECEIPT_ENDPOINT


def _receipt_answer(status: int, code: str, reason: str) -> tuple[Response, int]:
    """A machine's answer: a code and a reason, in English (providers log it as it is)."""
    return jsonify({"error": {"code": code, "message": reason}}), status


def _session_csrf_token() -> str:
    """A token for the session as it is now. Flask-WTF caches the token on ``g``, which lives
    as long as the app context: when a test keeps one open around its requests (pytest-flask
    does), the cached token may belong to a session that signing in or out has cleared."""
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
    return str(generate_csrf())


def _csrf_enabled() -> bool:
    return bool(current_app.config.get("WTF_CSRF_ENABLED", True))


def _flows() -> Flows:
    return get_state().flows


def _body() -> dict[str, Any]:
    """The JSON object of the body, or ``400 invalid_request`` before any flow sees it.

    Python's parser accepts what the flows cannot use: ``"\\ud800"`` (a lone surrogate, which
    no password hash, database or SMS can encode) and nesting deeper than its recursion limit
    (a ``RecursionError``, not the ``ValueError`` Flask silences)."""
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        data = None
    if not isinstance(data, dict):
        raise InvalidRequest("body_not_object")
    if not _encodable(data):
        raise InvalidRequest("body_not_unicode")
    return data


def _encodable(data: Any) -> bool:
    """Every string in ``data`` (keys too) can be written as UTF-8. Walked with a stack, not
    recursion: the parser allows nesting deeper than a recursive walk could follow."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode()
            except UnicodeEncodeError:
                return False
    return True


def _user_or_none() -> PhoneUser | None:
    if not current_user.is_authenticated:
        return None
    user: PhoneUser = current_user._get_current_object()
    return user


def _signed_in() -> PhoneUser:
    user = _user_or_none()
    if user is None:
        raise SignInRequired()
    return user


def _ip() -> str:
    return str(get_remote_address() or "")


def _user(user: PhoneUser) -> dict[str, Any]:
    return {"id": user.get_id(), "phone": user.phone, "mfa_enabled": bool(user.mfa_enabled)}


def _session(record: SessionRecord) -> dict[str, Any]:
    device = record.device
    return {
        "id": record.id,
        "browser": device.browser,
        "os": device.os,
        "ip": record.ip or None,
        "signed_in_at": _iso(record.created_at),
        "last_seen_at": _iso(record.last_seen_at),
        "current": record.current,
    }


def _invitation(invitation: Invitation) -> dict[str, Any]:
    return {
        "id": invitation.id,
        "phone": invitation.phone,
        "inviter_name": invitation.inviter_name,
        "data": invitation.data,
        "expires_at": _iso(invitation.expires_at),
        "accepted_at": _iso(invitation.accepted_at) if invitation.accepted_at else None,
    }


def _challenge(issued: IssuedChallenge) -> Response:
    return jsonify(
        {
            "verification_id": issued.id,
            "expires_at": _iso(issued.expires_at),
            "resend_after": _iso(issued.resend_after),
        }
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _snake(name: str) -> str:
    return name.lower().replace(" ", "_")
