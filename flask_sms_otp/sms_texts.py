"""The built-in SMS texts (Logto's defaults, without its brand and with the real lifetime),
in English, the catalog's msgids.

The delivery translates one into the message's language and renders it into
``SmsMessage.text`` (see :func:`flask_sms_otp.delivery.builtin_text`); the ``console`` and
``memory`` connectors send that text when their config has no ``templates``. This module
imports nothing of Flask, so connectors may read the English fallback from it.
"""

from __future__ import annotations

from .usage import Usage


def N_(string: str) -> str:
    """Mark ``string`` for the catalog; the delivery translates it when it sends."""
    return string


#: The texts of the usage types, each with ``{{code}}`` and ``{{minutes}}``.
CODE_TEXTS: dict[str, str] = {
    Usage.SIGN_IN: N_(
        "Your sign-in verification code is {{code}}. "
        "The code will remain active for {{minutes}} minutes."
    ),
    Usage.REGISTER: N_(
        "Your sign-up verification code is {{code}}. "
        "The code will remain active for {{minutes}} minutes."
    ),
    Usage.FORGOT_PASSWORD: N_(
        "Your password change verification code is {{code}}. "
        "The code will remain active for {{minutes}} minutes."
    ),
    Usage.GENERIC: N_(
        "Your verification code is {{code}}. The code will remain active for {{minutes}} minutes."
    ),
    Usage.USER_PERMISSION_VALIDATION: N_(
        "Your permission validation code is {{code}}. "
        "The code will remain active for {{minutes}} minutes."
    ),
    Usage.BIND_NEW_IDENTIFIER: N_(
        "Your new identifier binding code is {{code}}. "
        "The code will remain active for {{minutes}} minutes."
    ),
    Usage.MFA_VERIFICATION: N_(
        "Your MFA verification code is {{code}}. "
        "The code will remain active for {{minutes}} minutes."
    ),
    Usage.BIND_MFA: N_(
        "Your 2-step verification setup code is {{code}}. "
        "The code will remain active for {{minutes}} minutes."
    ),
}

#: The texts of the security notices (flask_sms_otp.notices), which carry no code.
NOTICE_TEXTS: dict[str, str] = {
    "PasswordChanged": N_("Your password was changed. If this was not you, reset it now."),
    "PhoneChanged": N_(
        "This number was removed from your account. If this was not you, contact support."
    ),
    "MfaFailed": N_(
        "Someone entered your password but not the code we sent. If this was not you, "
        "change your password."
    ),
}


#: The texts of an invitation (flask_sms_otp.invitations), which carries a link, not a code:
#: with the inviter's name, and without one.
INVITATION_TEXT = N_("{{inviter}} invited you. Open this link to accept: {{link}}")
INVITATION_TEXT_UNNAMED = N_("You are invited. Open this link to accept: {{link}}")


def source_text(usage: str) -> str:
    """The English built-in text for ``usage``: its own, a notice's, else ``Generic``'s."""
    if usage == Usage.ORGANIZATION_INVITATION:  # the invitations pick the named text themselves
        return INVITATION_TEXT_UNNAMED
    return CODE_TEXTS.get(usage) or NOTICE_TEXTS.get(usage) or CODE_TEXTS[Usage.GENERIC.value]
