"""The error types: configuration, delivery (from connectors) and HTTP-facing answers.

HTTP-facing errors subclass werkzeug's, as Flask-WTF's ``CSRFError`` does, so an app that
does nothing gets a sensible status. Each carries a stable ``error_code`` and its ``data``
(``retry_after``, ``field``, ``reason``...), never a text: the words live in :mod:`.texts`,
looked up when the error is shown, in the user's language. This module imports no
translation machinery, so the connectors (which raise the delivery errors) need none.
"""

from __future__ import annotations

from typing import Any, ClassVar

from werkzeug.exceptions import (
    BadRequest,
    Conflict,
    Forbidden,
    HTTPException,
    InternalServerError,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)


class SmsOtpError(Exception):
    """Base class of every error this extension raises on purpose."""


class ConfigurationError(SmsOtpError, ValueError):
    """A config key is missing or wrong. Raised at ``init_app``, never at a user's request."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


class TemplateNotFound(SmsOtpError):
    """The connector config has no template for the usage type and no ``Generic`` one."""

    def __init__(self, usage: str) -> None:
        self.usage = usage
        super().__init__(f"no SMS template for usage type {usage!r} and no 'Generic' template")


class DeliveryError(SmsOtpError):
    """A connector could not hand the message to its provider.

    Carries what an operator needs: the connector, the HTTP status, the provider's own
    error code and text, and whether trying again later may succeed. Never the code or secrets.
    """

    def __init__(
        self,
        message: str,
        *,
        connector: str = "",
        status_code: int | None = None,
        provider_code: str | None = None,
        provider_message: str | None = None,
        retryable: bool = False,
        maybe_sent: bool = False,
    ) -> None:
        self.connector = connector
        self.status_code = status_code
        self.provider_code = provider_code
        self.provider_message = provider_message
        self.retryable = retryable
        #: The request reached the provider and its answer was lost (a read timeout): the
        #: SMS may have left, so no other connector is tried for this send.
        self.maybe_sent = maybe_sent
        super().__init__(message)

    def describe(self) -> str:
        """One line for logs and the CLI: connector, status, provider code and text."""
        parts = [f"{self.connector or 'connector'}: {self}"]
        if self.status_code is not None:
            parts.append(f"HTTP {self.status_code}")
        if self.provider_code:
            parts.append(f"provider code {self.provider_code}")
        if self.provider_message and self.provider_message not in str(self):
            parts.append(self.provider_message)
        return "; ".join(parts)


class ProviderRejected(DeliveryError):
    """The provider answered and refused the message (bad number, blocked, bad credentials...)."""


class ProviderRateLimited(DeliveryError):
    """The provider refused the message because of its own rate limits or quotas."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        kwargs.setdefault("retryable", True)
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class ProviderUnavailable(DeliveryError):
    """Transient: timeout, connection failure or a 5xx answer."""

    def __init__(self, message: str, **kwargs: object) -> None:
        kwargs.setdefault("retryable", True)
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class HttpError(SmsOtpError, HTTPException):
    """An answer to the user's request: a werkzeug error with a stable ``error_code`` and the
    ``data`` its text needs. ``description`` (what werkzeug and an app's own error handlers
    show) is the text of :func:`.texts.error_text`, in the language of the request or app
    context it is read in, English outside one."""

    error_code: str
    #: Keys of ``data`` that the JSON API's error object carries beside ``code`` and
    #: ``message``: what a client needs to act on the error, never a secret.
    json_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **data: Any) -> None:
        #: What the text says besides the code (``None`` values left out).
        self.data: dict[str, Any] = {key: value for key, value in data.items() if value is not None}
        self._description: str | None = None
        super().__init__()

    @property
    def description(self) -> str:
        if self._description is not None:
            return self._description
        # Imported when read, not with this module: the texts need Flask-Babel.
        from . import texts

        return texts.error_text(self.error_code, self.data)

    @description.setter
    def description(self, text: str | None) -> None:
        """A text set on the error (werkzeug's way) is shown instead of ours."""
        self._description = text


class InvalidPhoneNumber(HttpError, BadRequest):
    """The input is not a phone number this app accepts. ``reason`` says why (for logs, tests)."""

    error_code = "invalid_phone"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason=reason)


class InvalidCode(HttpError, BadRequest):
    """Wrong, expired, used, foreign or unknown: one answer for all, on purpose."""

    error_code = "invalid_code"


class TooManyAttempts(HttpError, TooManyRequests):
    """The challenge ran out of attempts, or the number is locked after repeated failures.
    ``sign_in_again``: the pending second step ended with it (the password is asked again)."""

    error_code = "too_many_attempts"

    def __init__(self, retry_after: int | None = None, *, sign_in_again: bool = False) -> None:
        super().__init__(retry_after=retry_after, sign_in_again=sign_in_again or None)
        self.retry_after = self.retry_after_seconds = retry_after


class ResendNotAllowed(HttpError, TooManyRequests):
    """A resend inside the cooldown (``retry_after``), or past the per-challenge resend cap."""

    error_code = "resend_not_allowed"

    def __init__(self, retry_after: int | None = None) -> None:
        super().__init__(retry_after=retry_after)
        self.retry_after = self.retry_after_seconds = retry_after


class DeliveryFailed(HttpError, ServiceUnavailable):
    """The SMS could not be sent. The user sees a calm message; the log has the reason."""

    error_code = "delivery_failed"


class RateLimited(HttpError, TooManyRequests):
    """A send or password limit was reached. ``Retry-After`` says when to try again."""

    error_code = "rate_limited"

    def __init__(self, retry_after: int | None = None) -> None:
        super().__init__(retry_after=retry_after)
        self.retry_after = self.retry_after_seconds = retry_after


class SendsHeld(HttpError, TooManyRequests):
    """The pumping guard holds sends to the number's country or block (:mod:`.guard`): no
    SMS. The same answer for every number there, with or without an account."""

    error_code = "sends_held"

    def __init__(self, retry_after: int | None = None) -> None:
        super().__init__(retry_after=retry_after)
        self.retry_after = self.retry_after_seconds = retry_after


class CaptchaFailed(HttpError, BadRequest):
    """The bot check before an anonymous send was missing or failed: nothing was sent.
    ``data`` carries the widget's ``provider`` and ``site_key`` (the JSON error too), so a
    client can show the widget and try again with its token."""

    error_code = "captcha_failed"
    json_fields = ("provider", "site_key")


class RateLimitUnavailable(HttpError, ServiceUnavailable):
    """The rate-limit storage cannot be reached: fail closed, send nothing."""

    error_code = "rate_limit_unavailable"


class InvalidCredentials(HttpError, Unauthorized):
    """Wrong password, unknown number or locked account: one answer for all."""

    error_code = "invalid_credentials"


class AccountDisabled(HttpError, Forbidden):
    """The password or code was right, but the app's ``is_active`` says no: no session.
    Said only after the secret was right, so it tells nothing to someone who guesses."""

    error_code = "account_disabled"


class ServerError(HttpError, InternalServerError):
    """Something on the server's side failed (logged with its cause); the user sees a calm
    message, never a traceback."""

    error_code = "server_error"


class SignInRequired(HttpError, Unauthorized):
    error_code = "unauthorized"


class VerificationRequired(HttpError, Unauthorized):
    """The action needs a recent identity verification (a code to the current phone)."""

    error_code = "verification_required"


class InvalidRequest(HttpError, BadRequest):
    """A field is missing or malformed. ``reason`` says what is wrong (the text is chosen by
    it), ``field`` names the field; other keywords are the text's values (``minimum``)."""

    error_code = "invalid_request"

    def __init__(self, reason: str, *, field: str | None = None, **data: Any) -> None:
        self.reason = reason
        self.field = field
        super().__init__(reason=reason, field=field, **data)


class ActionNotAllowed(HttpError, Conflict):
    """The account's state forbids the action (e.g. removing the last way to sign in);
    ``error_code`` says which state."""

    def __init__(self, error_code: str) -> None:
        self.error_code = error_code
        super().__init__()


class SessionNotFound(HttpError, NotFound):
    """No live session of the signed-in user has this id: unknown, ended, or another
    user's (one answer for all)."""

    error_code = "session_not_found"


class InvitationInvalid(HttpError, NotFound):
    """No open invitation has this token: unknown, expired, revoked, accepted, or replaced by
    a resend (one answer for all)."""

    error_code = "invitation_invalid"


class InvitationForAnotherNumber(HttpError, Forbidden):
    """The invitation is for another number than the signed-in user's: sign in with the
    invited number (the invitation itself stays open)."""

    error_code = "invitation_wrong_phone"


class MethodDisabled(HttpError, NotFound):
    """The app turned this sign-in method off."""

    error_code = "method_disabled"


class ReceiptError(SmsOtpError):
    """A delivery receipt a provider posted was not applied. ``reason`` is a stable word for
    the answer and the log; the receipt's content is never in it."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class ReceiptRejected(ReceiptError):
    """Not proven to come from the provider: no signature, a wrong one, a stale signed
    timestamp, or a replay of a receipt already applied (403: a forger learns nothing)."""


class ReceiptMalformed(ReceiptError):
    """The body is not a receipt of this provider's format (400)."""
