"""Every error text a user reads, for the HTML pages and the JSON API alike.

An error (:mod:`.errors`) carries a stable code and its data, never words: its text is
chosen here when it is shown, in the user's language, so the same error reads the same on a
page and in a JSON ``message``. The other texts (labels, headings, the pages' flashes)
live in the templates and views.

Each code has a :data:`Wording`: a function of the error's ``data`` returning the translated
text; ``invalid_request`` has one per ``reason`` (:data:`INVALID_REQUEST_TEXTS`), and
``csrf_failed`` chooses by its ``reason`` too. An app that wants
other words replaces entries of :data:`ERROR_TEXTS` or :data:`INVALID_REQUEST_TEXTS` at
start-up (see docs/i18n.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from werkzeug.exceptions import HTTPException

from .i18n import gettext as _
from .i18n import ngettext

#: The text of an error from its data (``retry_after``, ``reason``, ``minimum``...).
Wording = Callable[[Mapping[str, Any]], str]


def error_text(code: str, data: Mapping[str, Any]) -> str:
    """The text of the error ``code`` with its ``data``, in the current language (English
    outside a request). :mod:`.errors` asks for it; this module knows no error class."""
    return ERROR_TEXTS[code](data)


def message(error: HTTPException) -> str:
    """What the user reads for ``error``: ours from :data:`ERROR_TEXTS` (unless the app set
    a ``description`` on it), any other werkzeug or Flask-WTF error its own description."""
    return str(error.description or error.name)


def when(seconds: int) -> str:
    """``in 5 minutes``, rounded up, in the user's language."""
    if seconds < 60:
        return ngettext("in %(num)d second", "in %(num)d seconds", seconds)
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return ngettext("in %(num)d minute", "in %(num)d minutes", minutes)
    hours = math.ceil(minutes / 60)
    return ngettext("in %(num)d hour", "in %(num)d hours", hours)


# The codes that need their data --------------------------------------------------------------


def _too_many_attempts(data: Mapping[str, Any]) -> str:
    if data.get("sign_in_again"):
        return _("Too many attempts. Please sign in again.")
    if data.get("retry_after"):
        return _("Too many attempts. Try again %(when)s.", when=when(data["retry_after"]))
    return _("Too many attempts. Ask for a new code.")


def _resend_not_allowed(data: Mapping[str, Any]) -> str:
    if data.get("retry_after"):
        return _("You can ask for a new code %(when)s.", when=when(data["retry_after"]))
    return _("No more codes can be sent for this request. Please start again.")


def _rate_limited(data: Mapping[str, Any]) -> str:
    if data.get("retry_after"):
        return _("Too many requests. Try again %(when)s.", when=when(data["retry_after"]))
    return _("Too many requests. Try again later.")


def _sends_held(data: Mapping[str, Any]) -> str:
    if data.get("retry_after"):
        return _(
            "Codes cannot be sent to this number right now. Try again %(when)s.",
            when=when(data["retry_after"]),
        )
    return _("Codes cannot be sent to this number right now. Try again later.")


def _invalid_request(data: Mapping[str, Any]) -> str:
    return INVALID_REQUEST_TEXTS[data["reason"]](data)


def _csrf_failed(data: Mapping[str, Any]) -> str:
    reason = data.get("reason")
    if reason == "insecure_cookie":
        return insecure_cookie()
    if reason == "expired":
        return _("The CSRF token has expired. Get a new one and try again.")
    return _("The CSRF token is missing or invalid.")


def insecure_cookie() -> str:
    """Why every CSRF check fails when the session cookie is Secure and the request is not."""
    return _(
        "The session cookie is Secure, so the browser does not send it over plain HTTP: "
        "use HTTPS, or set SMS_OTP_SECURE_COOKIES = False for local development."
    )


def form_expired() -> str:
    """A page's form came without a valid CSRF token (Flask-WTF's own text is technical)."""
    return _("The form has expired or was not sent from this site. Please try again.")


#: ``error_code`` → its wording.
ERROR_TEXTS: dict[str, Wording] = {
    "invalid_request": _invalid_request,
    "invalid_phone": lambda data: _("Enter a valid mobile phone number."),
    "invalid_code": lambda data: _("The code is invalid or has expired."),
    "csrf_failed": _csrf_failed,
    "unauthorized": lambda data: _("Sign in first."),
    "invalid_credentials": lambda data: _("The phone number or password is incorrect."),
    "verification_required": lambda data: _("Confirm it is you first."),
    "account_disabled": lambda data: _("This account is disabled."),
    "method_disabled": lambda data: _("This sign-in method is not available."),
    "invitation_invalid": lambda data: _(
        "This invitation is no longer valid. Ask the person who invited you for a new one."
    ),
    "invitation_wrong_phone": lambda data: _(
        "This invitation is for another phone number. Sign in with that number to accept it."
    ),
    "session_not_found": lambda data: _("This session does not exist or has already ended."),
    "no_phone": lambda data: _("The account has no phone number."),
    "last_sign_in_method": lambda data: _(
        "Set a password before removing your only way to sign in."
    ),
    "mfa_enabled": lambda data: _("Turn off two-step verification first."),
    "too_many_attempts": _too_many_attempts,
    "resend_not_allowed": _resend_not_allowed,
    "rate_limited": _rate_limited,
    "sends_held": _sends_held,
    "captcha_failed": lambda data: _("Please complete the check that you are not a robot."),
    "server_error": lambda data: _("Something went wrong on our side. Please try again later."),
    "delivery_failed": lambda data: _(
        "The text message could not be sent. Please try again later."
    ),
    "rate_limit_unavailable": lambda data: _("The service is busy. Please try again later."),
}

#: ``invalid_request``'s ``reason`` → its wording.
INVALID_REQUEST_TEXTS: dict[str, Wording] = {
    "body_not_object": lambda data: _("The body must be a JSON object."),
    "body_not_unicode": lambda data: _("The body holds text that is not valid Unicode."),
    "password_missing": lambda data: _("Enter your password."),
    "new_password_missing": lambda data: _("Choose a password."),
    "password_not_text": lambda data: _("The password must be text."),
    "password_too_short": lambda data: ngettext(
        "Use at least %(num)d character.", "Use at least %(num)d characters.", data["minimum"]
    ),
    "password_too_long": lambda data: _("Use at most %(num)d characters.", num=data["maximum"]),
    "enabled_not_boolean": lambda data: _("'enabled' must be true or false."),
    "usage_unknown": lambda data: _("Unknown usage type."),
    "usage_not_requestable": lambda data: _("This usage type cannot be requested."),
    "channel_unknown": lambda data: _("Choose SMS or WhatsApp."),
}
