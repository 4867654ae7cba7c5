"""The error types: configuration, delivery (from connectors) and HTTP-facing answers.

HTTP-facing errors subclass werkzeug's, as Flask-WTF's ``CSRFError`` does, so an app that
does nothing gets a sensible status, and each carries a stable ``error_code`` for the JSON API.
Their ``description`` is the user-facing text, translated when the error is made (in the
request, so in the user's language); ``InvalidRequest`` and ``ActionNotAllowed`` take theirs
already translated.
"""

from __future__ import annotations

from werkzeug.exceptions import (
    BadRequest,
    Conflict,
    Forbidden,
    InternalServerError,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)

from .i18n import gettext as _


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
    ) -> None:
        self.connector = connector
        self.status_code = status_code
        self.provider_code = provider_code
        self.provider_message = provider_message
        self.retryable = retryable
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


class InvalidPhoneNumber(BadRequest, SmsOtpError):
    """The input is not a phone number this app accepts. ``reason`` says why (for logs, tests)."""

    error_code = "invalid_phone"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(_("Enter a valid mobile phone number."))


class InvalidCode(BadRequest, SmsOtpError):
    """Wrong, expired, used, foreign or unknown: one answer for all, on purpose."""

    error_code = "invalid_code"

    def __init__(self) -> None:
        super().__init__(_("The code is invalid or has expired."))


class TooManyAttempts(TooManyRequests, SmsOtpError):
    """The challenge ran out of attempts, or the number is locked after repeated failures."""

    error_code = "too_many_attempts"

    def __init__(self, retry_after: int | None = None) -> None:
        self.retry_after_seconds = retry_after
        super().__init__(_("Too many attempts. Request a new code later."), retry_after=retry_after)


class ResendNotAllowed(TooManyRequests, SmsOtpError):
    """A resend inside the cooldown, or past the per-challenge resend cap."""

    error_code = "resend_not_allowed"

    def __init__(self, retry_after: int | None = None) -> None:
        self.retry_after_seconds = retry_after
        super().__init__(_("A new code cannot be sent yet."), retry_after=retry_after)


class DeliveryFailed(ServiceUnavailable, SmsOtpError):
    """The SMS could not be sent. The user sees this calm message; the log has the reason."""

    error_code = "delivery_failed"

    def __init__(self) -> None:
        super().__init__(_("The text message could not be sent. Please try again later."))


class RateLimited(TooManyRequests, SmsOtpError):
    """A send or password limit was reached. ``Retry-After`` says when to try again."""

    error_code = "rate_limited"

    def __init__(self, retry_after: int | None = None) -> None:
        self.retry_after_seconds = retry_after
        super().__init__(_("Too many requests. Try again later."), retry_after=retry_after)


class RateLimitUnavailable(ServiceUnavailable, SmsOtpError):
    """The rate-limit storage cannot be reached: fail closed, send nothing."""

    error_code = "rate_limit_unavailable"

    def __init__(self) -> None:
        super().__init__(_("The service is busy. Please try again later."))


class InvalidCredentials(Unauthorized, SmsOtpError):
    """Wrong password, unknown number or locked account: one answer for all."""

    error_code = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__(_("The phone number or password is incorrect."))


class AccountDisabled(Forbidden, SmsOtpError):
    """The password or code was right, but the app's ``is_active`` says no: no session.
    Said only after the secret was right, so it tells nothing to someone who guesses."""

    error_code = "account_disabled"

    def __init__(self) -> None:
        super().__init__(_("This account is disabled."))


class ServerError(InternalServerError, SmsOtpError):
    """Something on the server's side failed (logged with its cause); the user sees a calm
    message, never a traceback."""

    error_code = "server_error"

    def __init__(self) -> None:
        super().__init__(_("Something went wrong on our side. Please try again later."))


class SignInRequired(Unauthorized, SmsOtpError):
    error_code = "unauthorized"

    def __init__(self) -> None:
        super().__init__(_("Sign in first."))


class VerificationRequired(Unauthorized, SmsOtpError):
    """The action needs a recent identity verification (a code to the current phone)."""

    error_code = "verification_required"

    def __init__(self) -> None:
        super().__init__(_("Confirm it is you first."))


class InvalidRequest(BadRequest, SmsOtpError):
    """A field is missing or malformed. ``field`` names it."""

    error_code = "invalid_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class ActionNotAllowed(Conflict, SmsOtpError):
    """The account's state forbids the action (e.g. removing the last way to sign in)."""

    def __init__(self, error_code: str, message: str) -> None:
        self.error_code = error_code
        super().__init__(message)


class SessionNotFound(NotFound, SmsOtpError):
    """No live session of the signed-in user has this id: unknown, ended, or another
    user's (one answer for all)."""

    error_code = "session_not_found"

    def __init__(self) -> None:
        super().__init__(_("This session does not exist or has already ended."))


class MethodDisabled(NotFound, SmsOtpError):
    """The app turned this sign-in method off."""

    error_code = "method_disabled"

    def __init__(self) -> None:
        super().__init__(_("This sign-in method is not available."))
