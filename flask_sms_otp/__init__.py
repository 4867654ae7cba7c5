"""flask-sms-otp: phone-number authentication for Flask by SMS one-time codes."""

from .challenges import IssuedChallenge, VerifiedChallenge
from .connectors.base import DeliveryResult, SmsConnector, SmsMessage
from .errors import (
    ConfigurationError,
    DeliveryError,
    DeliveryFailed,
    InvalidCode,
    InvalidPhoneNumber,
    InvitationForAnotherNumber,
    InvitationInvalid,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    ResendNotAllowed,
    SmsOtpError,
    TemplateNotFound,
    TooManyAttempts,
)
from .extension import SmsOtp
from .invitations import Invitation
from .phone import normalize_phone
from .signals import (
    admin_action,
    code_sent,
    code_verified,
    delivery_failed,
    delivery_status,
    invitation_accepted,
    mfa_changed,
    mfa_failed,
    password_changed,
    password_reset,
    phone_changed,
    phone_locked,
    sign_in_failed,
    user_registered,
    user_signed_in,
    verification_failed,
)
from .usage import Usage
from .users import PhoneUserMixin

__version__ = "0.1.0.dev0"

__all__ = [
    "ConfigurationError",
    "DeliveryError",
    "DeliveryFailed",
    "DeliveryResult",
    "InvalidCode",
    "InvalidPhoneNumber",
    "Invitation",
    "InvitationForAnotherNumber",
    "InvitationInvalid",
    "IssuedChallenge",
    "PhoneUserMixin",
    "ProviderRateLimited",
    "ProviderRejected",
    "ProviderUnavailable",
    "ResendNotAllowed",
    "SmsConnector",
    "SmsMessage",
    "SmsOtp",
    "SmsOtpError",
    "TemplateNotFound",
    "TooManyAttempts",
    "Usage",
    "VerifiedChallenge",
    "admin_action",
    "code_sent",
    "code_verified",
    "delivery_failed",
    "delivery_status",
    "invitation_accepted",
    "mfa_changed",
    "mfa_failed",
    "normalize_phone",
    "password_changed",
    "password_reset",
    "phone_changed",
    "phone_locked",
    "sign_in_failed",
    "user_registered",
    "user_signed_in",
    "verification_failed",
]
