"""What a view needs before it runs: a signed-in user (Flask-Login's own check, so the app's
login view applies), and for sensitive actions a recent identity confirmation
(``SMS_OTP_REVERIFY_MAX_AGE``).

"Confirm it is you first" has one answer, for the extension's pages and for the app's own
views behind :meth:`~flask_sms_otp.SmsOtp.verification_required`: browsers go to the
verify-identity page and come back to ``next`` once confirmed; JSON clients get the API's
own ``401 verification_required`` error body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import redirect, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from .api import _json_error
from .errors import VerificationRequired

P = ParamSpec("P")
R = TypeVar("R")


def verify_identity_first(next_url: str | None = None) -> Response:
    """The answer to a request that needs the user to confirm it is them: for a browser, a
    redirect to the verify-identity page with ``next_url`` (default: this request's own
    path and query, under the script root) to come back to; for a JSON client, ``401``
    ``{"error": {"code": "verification_required", ...}}``."""
    if wants_json():
        return _json_error(VerificationRequired())
    return redirect(url_for("sms_otp.verify_identity", next=next_url or requested_url()))


def requested_url() -> str:
    """This request's path and query as the browser asked for it: an app mounted under a
    prefix (``SCRIPT_NAME``) keeps it."""
    path = request.full_path if request.query_string else request.path
    return request.script_root + path


def wants_json() -> bool:
    """The client sent JSON or prefers it to HTML."""
    if request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def signed_in(view: Callable[P, R]) -> Callable[P, R]:
    """Flask-Login's own ``login_required``, with its types (Flask-Login has none): the
    app's ``login_view``, ``unauthorized_handler`` and ``LOGIN_DISABLED`` apply."""
    guarded: Callable[P, R] = login_required(view)
    return guarded
