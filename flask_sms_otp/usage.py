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


#: Codes to the account's own number, for someone who has entered its password or is signed
#: in. They draw on a per-number budget of their own, which anonymous requests cannot spend:
#: an attacker who fills a number's (or its block's) anonymous budget does not lock its holder
#: out of the second step or of confirming it is them.
HOLDER_USAGES = frozenset(
    {Usage.MFA_VERIFICATION, Usage.USER_PERMISSION_VALIDATION, Usage.BIND_MFA}
)

#: Usages anyone may request; the answer must not depend on the number having an account.
ANONYMOUS_USAGES = frozenset({Usage.REGISTER, Usage.SIGN_IN, Usage.FORGOT_PASSWORD})
#: Usages whose sends must not reveal whether the number has an account: their outcome never
#: shows in the answer, nor in how long it takes (see :mod:`flask_sms_otp.dispatch`).
PROTECTED_USAGES = ANONYMOUS_USAGES | {Usage.BIND_NEW_IDENTIFIER}
#: Sends to a number someone else names, screened by the bot check and the pumping guard
#: before they spend any budget: the protected usages, and invitations (which an account
#: could otherwise turn into a pumping tool).
SCREENED_USAGES = PROTECTED_USAGES | {Usage.ORGANIZATION_INVITATION}
#: Usages whose message carries a link, not a one-time code (an invitation): connectors that
#: carry nothing but codes (``SmsConnector.codes_only``) are passed over for them.
LINK_USAGES = frozenset({Usage.ORGANIZATION_INVITATION.value})
#: Usages for the signed-in user.
SIGNED_IN_USAGES = frozenset(
    {Usage.USER_PERMISSION_VALIDATION, Usage.BIND_NEW_IDENTIFIER, Usage.BIND_MFA}
)
