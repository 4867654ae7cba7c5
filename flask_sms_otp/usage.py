"""Usage types: why a code is sent. Logto's names, used in templates, signals and the API."""

from __future__ import annotations

from enum import StrEnum


class Usage(StrEnum):
    REGISTER = "Register"
    SIGN_IN = "SignIn"
    FORGOT_PASSWORD = "ForgotPassword"  # noqa: S105 - a usage name, not a secret
    GENERIC = "Generic"
    USER_PERMISSION_VALIDATION = "UserPermissionValidation"
    BIND_NEW_IDENTIFIER = "BindNewIdentifier"
    MFA_VERIFICATION = "MfaVerification"
    BIND_MFA = "BindMfa"
    ORGANIZATION_INVITATION = "OrganizationInvitation"
