"""The JSON API as an OpenAPI 3.1 document, served at ``<prefix>/api/openapi.json``.

Built from the app's settings, so it tells the code length, the password rules, whether CSRF
is on and where the API is mounted. It is the API's contract in data: the tests check every
route, status and error code against it, and fuzz the API through it (Schemathesis).

An endpoint is one entry of :func:`_paths`: its body, its answers and the error codes it
may give; the statuses of errors come from :data:`ERROR_CODES`.
"""

from __future__ import annotations

from typing import Any

from werkzeug.http import HTTP_STATUS_CODES

from .config_parsers import CAPTCHA_PROVIDERS
from .flows import PASSWORD_MAX_LENGTH
from .settings import Settings
from .usage import ANONYMOUS_USAGES, SIGNED_IN_USAGES

Schema = dict[str, Any]

#: Every ``error.code`` the API answers, with its status and meaning (docs/json-api.md).
ERROR_CODES: dict[str, tuple[int, str]] = {
    "invalid_request": (
        400,
        "The body is missing, not a JSON object or holds invalid text; "
        "a field is missing or malformed.",
    ),
    "invalid_phone": (400, "Not a mobile number this app accepts."),
    "invalid_code": (
        400,
        "Wrong, expired, used, for another purpose, or unknown: one answer for all.",
    ),
    "csrf_failed": (
        400,
        "The X-CSRFToken header is missing, malformed, expired or another session's.",
    ),
    "unauthorized": (401, "The endpoint needs a signed-in session."),
    "invalid_credentials": (401, "Wrong password, unknown number or no password."),
    "verification_required": (401, "Confirm the identity first (POST /verify-identity)."),
    "account_disabled": (403, "The password or code was right, but the account is not active."),
    "method_disabled": (404, "This sign-in method is turned off."),
    "invitation_invalid": (
        404,
        "No open invitation has that token: unknown, expired, revoked, accepted or resent, alike.",
    ),
    "invitation_wrong_phone": (
        403,
        "The invitation is for another number than the signed-in user's.",
    ),
    "session_not_found": (
        404,
        "No live session of this user has that id: unknown, ended or another user's, alike.",
    ),
    "no_phone": (409, "The account has no phone number."),
    "last_sign_in_method": (409, "The phone is the account's only way to sign in."),
    "mfa_enabled": (409, "Two-step verification is on."),
    "too_many_attempts": (429, "The code is out of attempts, or the number is locked."),
    "resend_not_allowed": (429, "Inside the resend cooldown, or past the resend cap."),
    "rate_limited": (429, "A send or password limit is reached."),
    "sends_held": (429, "The pumping guard holds sends to this country or number block."),
    "captcha_failed": (400, "The bot check was missing or failed; nothing was sent."),
    "server_error": (500, "The database refused a new user for a reason of the app's model."),
    "delivery_failed": (503, "The SMS could not be sent."),
    "rate_limit_unavailable": (503, "The rate-limit storage is down; nothing was sent."),
}

#: The send and password-attempt errors (and their storage failing closed).
_SEND_ERRORS = ("rate_limited", "sends_held", "too_many_attempts", "rate_limit_unavailable")
#: The country picked beside a number typed without its + code.
_REGION: Schema = {
    "type": ["string", "null"],
    "description": (
        "ISO 3166 region (`GB`) of a number typed without its `+` code; read in place of "
        "`SMS_OTP_DEFAULT_REGION`. Ignored for a number with `+`. An unknown region is "
        "`invalid_phone`."
    ),
}
#: How the person wants the code, where the number's route offers WhatsApp and SMS.
_CHANNEL: Schema = {
    "enum": ["sms", "whatsapp", None],
    "description": (
        "`whatsapp` or `sms`, where the number's route holds both (SMS_OTP_ROUTES); "
        "ignored elsewhere. Kept for the resends. `sms` never sends by WhatsApp; "
        "`whatsapp` falls back to SMS for a number not on WhatsApp."
    ),
}
#: What checking a code may answer.
_CODE_ERRORS = ("invalid_code", "too_many_attempts")


def document(
    settings: Settings,
    *,
    server_url: str = "/auth/api",
    csrf: bool = True,
    session_cookie: str = "session",
) -> Schema:
    """The OpenAPI document of the API mounted at ``server_url``. ``csrf``: whether writes
    need ``X-CSRFToken`` (``WTF_CSRF_ENABLED``); ``session_cookie``: the session cookie's name."""
    builder = _Builder(csrf=csrf)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "flask-sms-otp JSON API",
            "version": "1",
            "description": (
                "Phone authentication by SMS one-time codes, for single-page and mobile "
                "clients. Bodies are JSON objects; errors are "
                '`{"error": {"code", "message"}}`. Signed-in endpoints use the cookie '
                "session; every write needs the token of `GET /csrf` in `X-CSRFToken` "
                "(unless the app turned CSRF off) and answers the current one in the same "
                "header."
            ),
        },
        "servers": [{"url": server_url}],
        "paths": _paths(builder, settings),
        "components": {
            "schemas": _schemas(settings),
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": session_cookie},
                **(
                    {"csrfToken": {"type": "apiKey", "in": "header", "name": "X-CSRFToken"}}
                    if csrf
                    else {}
                ),
            },
        },
    }


def _paths(op: _Builder, settings: Settings) -> dict[str, Schema]:
    code = _ref("Code")
    vid = _ref("VerificationId")
    code_body = _object(verification_id=vid, code=code, required=("verification_id", "code"))
    user = _ref("UserAnswer")
    return {
        "/openapi.json": {
            "get": op.read("This document.", {200: {"type": "object"}}),
        },
        "/csrf": {
            "get": op.read(
                "A CSRF token for this session's writes.",
                {200: _object(csrf_token={"type": "string"}, exact=True)},
            ),
        },
        "/verification-codes": {
            "post": op.write(
                "Send a code. The same answer for every number, with or without an account.",
                {202: _ref("Challenge")},
                (
                    "invalid_phone",
                    "captcha_failed",
                    "unauthorized",
                    "verification_required",
                    "method_disabled",
                    "no_phone",
                    "delivery_failed",
                    *_SEND_ERRORS,
                ),
                body=_object(
                    phone={
                        "type": "string",
                        "description": "Ignored for the usages that go to the account's own phone.",
                    },
                    region=_REGION,
                    channel=_CHANNEL,
                    usage={"enum": sorted(u.value for u in ANONYMOUS_USAGES | SIGNED_IN_USAGES)},
                    captcha_token={
                        "type": "string",
                        "description": (
                            "The bot check widget's token, when SMS_OTP_CAPTCHA asks for one "
                            "(captcha_failed says so, with the provider and site key)."
                        ),
                    },
                    required=("usage",),
                ),
            ),
        },
        "/verification-codes/{verification_id}/resend": {
            "parameters": [
                {"name": "verification_id", "in": "path", "required": True, "schema": vid}
            ],
            "post": op.write(
                "A new code for the same challenge; the old one stops working.",
                {202: _ref("Challenge")},
                ("invalid_code", "resend_not_allowed", "delivery_failed", *_SEND_ERRORS),
                body=_object(channel=_CHANNEL),
                body_required=False,
            ),
        },
        "/sign-up": {
            "post": op.write(
                "Create the account with a Register code, and sign it in.",
                {201: user},
                ("account_disabled", "server_error", *_CODE_ERRORS),
                description=(
                    "The app's own `User.new_for_phone` runs before the code is checked and "
                    "may refuse with a 4xx of its own (a field of the app's, sent in the same "
                    "body), which this document cannot list; the code is then not spent."
                ),
                body=_object(
                    verification_id=vid,
                    code=code,
                    password=_ref("NewPassword"),
                    required=("verification_id", "code")
                    + (("password",) if settings.password_required else ()),
                ),
            ),
        },
        "/sign-in": {
            "post": op.write(
                "Sign in with the password; or, with two-step verification on, start it.",
                {200: {"oneOf": [user, _ref("MfaRequired")]}},
                (
                    "invalid_phone",
                    "invalid_credentials",
                    "account_disabled",
                    "method_disabled",
                    "delivery_failed",
                    *_SEND_ERRORS,
                ),
                body=_object(
                    phone={"type": "string"},
                    region=_REGION,
                    password=_ref("Password"),
                    required=("phone", "password"),
                ),
            ),
        },
        "/sign-in/code": {
            "post": op.write(
                "Sign in with a SignIn code.",
                {200: user},
                ("account_disabled", "method_disabled", *_CODE_ERRORS),
                body=code_body,
            ),
        },
        "/mfa": {
            "post": op.write(
                "The second step after /sign-in answered mfa_required, in the same session.",
                {200: user},
                ("account_disabled", *_CODE_ERRORS),
                body=code_body,
            ),
        },
        "/reset-password": {
            "post": op.write(
                "Set a new password with a ForgotPassword code. Signs nobody in; ends every "
                "session of the user.",
                {204: None},
                _CODE_ERRORS,
                body=_object(
                    verification_id=vid,
                    code=code,
                    password=_ref("NewPassword"),
                    required=("verification_id", "code", "password"),
                ),
            ),
        },
        "/account": {
            "get": op.read("The signed-in user.", {200: user}, signed_in=True),
        },
        "/verify-identity": {
            "post": op.write(
                "Confirm it is the user (a UserPermissionValidation code, or the password), "
                "for the sensitive changes that follow.",
                {200: _object(verified_until=_TIME, exact=True)},
                ("invalid_credentials", "rate_limited", "rate_limit_unavailable", *_CODE_ERRORS),
                signed_in=True,
                body={
                    **_object(verification_id=vid, code=code, password=_ref("Password")),
                    "anyOf": [
                        {"required": ["verification_id", "code"]},
                        {"required": ["password"]},
                    ],
                },
            ),
        },
        "/account/phone": {
            "put": op.write(
                "Move the account to a new number, with its BindNewIdentifier code.",
                {200: user},
                ("verification_required", *_CODE_ERRORS),
                signed_in=True,
                body=code_body,
            ),
            "delete": op.write(
                "Remove the account's phone number.",
                {204: None},
                ("verification_required", "last_sign_in_method", "mfa_enabled"),
                signed_in=True,
            ),
        },
        "/account/mfa": {
            "put": op.write(
                "Turn two-step verification on or off: with a recent verification, or, to "
                "turn it on, with a BindMfa code.",
                {200: user},
                ("verification_required", "no_phone", *_CODE_ERRORS),
                signed_in=True,
                body=_object(
                    enabled={"type": "boolean"},
                    verification_id=vid,
                    code=code,
                    required=("enabled",),
                ),
            ),
        },
        "/account/password": {
            "put": op.write(
                "Set a new password. This session stays signed in; the others end.",
                {204: None},
                ("verification_required",),
                signed_in=True,
                body=_object(password=_ref("NewPassword"), required=("password",)),
            ),
        },
        "/account/sessions": {
            "get": op.read(
                "The user's live sessions, this one first, then the most recently used.",
                {200: _ref("SessionList")},
                signed_in=True,
            ),
            "delete": op.write(
                "Sign out every session of the user but this one.",
                {204: None},
                (),
                signed_in=True,
            ),
        },
        "/account/sessions/{session_id}": {
            "parameters": [
                {
                    "name": "session_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "description": "A session's public id."},
                }
            ],
            "delete": op.write(
                "Sign that session out (this one too, when it is this one).",
                {204: None},
                ("session_not_found",),
                signed_in=True,
            ),
        },
        "/invitations/{token}": {
            "parameters": [_TOKEN_PARAMETER],
            "get": op.read(
                "The open invitation the texted link's token opens.",
                {200: _ref("InvitationAnswer")},
                errors=("invitation_invalid",),
            ),
        },
        "/invitations/{token}/accept": {
            "parameters": [_TOKEN_PARAMETER],
            "post": op.write(
                "Accept the invitation, signed in with the invited number.",
                {200: _ref("InvitationAnswer")},
                ("invitation_invalid", "invitation_wrong_phone"),
                signed_in=True,
            ),
        },
        "/sign-out": {
            "post": op.write("End this session.", {204: None}, ()),
        },
    }


_TOKEN_PARAMETER: Schema = {
    "name": "token",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "description": "The token of the texted invitation link."},
}


def _schemas(settings: Settings) -> dict[str, Schema]:
    return {
        "Error": _object(
            error={
                **_object(
                    code={"enum": list(ERROR_CODES)},
                    message={"type": "string", "description": "For people, in their language."},
                    provider={
                        "enum": list(CAPTCHA_PROVIDERS),
                        "description": "captcha_failed only: the bot check's provider.",
                    },
                    site_key={
                        "type": "string",
                        "description": "captcha_failed only: the site key its widget needs.",
                    },
                    required=("code", "message"),
                ),
                "additionalProperties": False,
            },
            exact=True,
        ),
        "VerificationId": {
            "type": "string",
            "description": "The opaque id of a challenge, from POST /verification-codes.",
        },
        "Code": {"type": "string", "pattern": f"^[0-9]{{{settings.code_length}}}$"},
        "Password": {"type": "string", "minLength": 1, "maxLength": PASSWORD_MAX_LENGTH},
        "NewPassword": {
            "type": "string",
            "minLength": settings.password_min_length,
            "maxLength": PASSWORD_MAX_LENGTH,
        },
        "Challenge": _object(
            verification_id=_ref("VerificationId"),
            expires_at={**_TIME, "description": "When the code stops working."},
            resend_after={**_TIME, "description": "When a resend is allowed."},
            exact=True,
        ),
        "MfaRequired": _object(
            mfa_required={"const": True},
            verification_id=_ref("VerificationId"),
            expires_at=_TIME,
            resend_after=_TIME,
            exact=True,
        ),
        "SessionList": _object(
            sessions={
                "type": "array",
                "items": _object(
                    id={"type": "string", "description": "Public id, not the cookie's secret."},
                    browser={"type": ["string", "null"], "description": "From the user agent."},
                    os={"type": ["string", "null"], "description": "From the user agent."},
                    ip={"type": ["string", "null"]},
                    signed_in_at=_TIME,
                    last_seen_at=_TIME,
                    current={"type": "boolean", "description": "The session that asked."},
                    exact=True,
                ),
            },
            exact=True,
        ),
        "InvitationAnswer": _object(
            invitation=_object(
                id={"type": "string"},
                phone={"type": "string", "description": "The invited number, E.164."},
                inviter_name={"type": ["string", "null"]},
                data={"description": "The app's JSON, as given to invite()."},
                expires_at=_TIME,
                accepted_at={**_TIME, "type": ["string", "null"]},
                exact=True,
            ),
            exact=True,
        ),
        "UserAnswer": _object(
            user=_object(
                id={"type": "string"},
                phone={"type": ["string", "null"], "description": "E.164, or null."},
                mfa_enabled={"type": "boolean"},
                exact=True,
            ),
            exact=True,
        ),
    }


class _Builder:
    """Makes operations: the error answers each may give, grouped by status, plus those
    every write (CSRF), every body (``invalid_request``) and every signed-in one share."""

    def __init__(self, *, csrf: bool) -> None:
        self.csrf = csrf

    def read(
        self,
        summary: str,
        answers: dict[int, Schema | None],
        *,
        signed_in: bool = False,
        errors: tuple[str, ...] = (),
    ) -> Schema:
        return self._operation(summary, answers, errors, signed_in=signed_in, write=False)

    def write(
        self,
        summary: str,
        answers: dict[int, Schema | None],
        errors: tuple[str, ...],
        *,
        body: Schema | None = None,
        body_required: bool = True,
        signed_in: bool = False,
        description: str | None = None,
    ) -> Schema:
        operation = self._operation(
            summary,
            answers,
            errors + (("invalid_request",) if body is not None else ()),
            signed_in=signed_in,
            write=True,
        )
        if description is not None:
            operation["description"] = description
        if body is not None:
            operation["requestBody"] = {
                "required": body_required,
                "content": {"application/json": {"schema": body}},
            }
        return operation

    def _operation(
        self,
        summary: str,
        answers: dict[int, Schema | None],
        errors: tuple[str, ...],
        *,
        signed_in: bool,
        write: bool,
    ) -> Schema:
        codes = set(errors)
        if signed_in:
            codes.add("unauthorized")
        if write and self.csrf:
            codes.add("csrf_failed")
        headers = self._headers(write)
        responses: dict[str, Schema] = {}
        for status, schema in answers.items():
            responses[str(status)] = _answer(status, schema, headers)
        for status in sorted({ERROR_CODES[code][0] for code in codes}):
            of_status = [
                code for code in ERROR_CODES if code in codes and ERROR_CODES[code][0] == status
            ]
            responses[str(status)] = _error_answer(status, of_status, headers)
        operation: Schema = {"summary": summary, "responses": responses}
        security: dict[str, list[str]] = {"session": []} if signed_in else {}
        if write and self.csrf:
            security["csrfToken"] = []
        if security:
            operation["security"] = [security]
        return operation

    def _headers(self, write: bool) -> Schema:
        if not (write and self.csrf):
            return {}
        return {
            "X-CSRFToken": {
                "description": "The session's current CSRF token: keep the newest.",
                "required": True,
                "schema": {"type": "string"},
            }
        }


def _answer(status: int, schema: Schema | None, headers: Schema) -> Schema:
    answer: Schema = {"description": HTTP_STATUS_CODES[status]}
    if schema is not None:
        answer["content"] = {"application/json": {"schema": schema}}
    if headers:
        answer["headers"] = headers
    return answer


def _error_answer(status: int, codes: list[str], headers: Schema) -> Schema:
    """An error answer whose ``code`` is one of ``codes``."""
    schema: Schema = {
        "allOf": [
            _ref("Error"),
            _object(error=_object(code={"enum": codes})),
        ]
    }
    answer = _answer(status, schema, headers)
    answer["description"] = "; ".join(f"{code}: {ERROR_CODES[code][1]}" for code in codes)
    if status == 429:
        answer["headers"] = {
            **answer.get("headers", {}),
            "Retry-After": {
                "description": "Seconds until a new try may succeed, when that is known.",
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
            },
        }
    return answer


_TIME: Schema = {"type": "string", "format": "date-time", "description": "UTC, ISO 8601."}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(*, required: tuple[str, ...] = (), exact: bool = False, **properties: Schema) -> Schema:
    """A JSON object schema. ``exact``: an answer that holds these fields and no others (all
    required). Request bodies may carry more: the API ignores unknown fields."""
    schema: Schema = {"type": "object", "properties": properties}
    if exact:
        schema["required"] = list(properties)
        schema["additionalProperties"] = False
    elif required:
        schema["required"] = list(required)
    return schema
