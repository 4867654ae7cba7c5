"""flask-sms-otp: phone-number authentication for Flask by SMS one-time codes."""

from .challenges import IssuedChallenge, VerifiedChallenge
from .connectors.base import DeliveryResult, SmsConnector, SmsMessage
from .errors import (
    ConfigurationError,
    DeliveryError,
    DeliveryFailed,
    InvalidCode,
    InvalidPhoneNumber,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    ResendNotAllowed,
    SmsOtpError,
    TemplateNotFound,
    TooManyAttempts,
)
from .extension import SmsOtp
from .phone import normalize_phone
from .signals import code_sent, code_verified, delivery_failed, phone_locked, verification_failed
from .usage import Usage

__all__ = [
    "ConfigurationError",
    "DeliveryError",
    "DeliveryFailed",
    "DeliveryResult",
    "InvalidCode",
    "InvalidPhoneNumber",
    "IssuedChallenge",
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
    "code_sent",
    "code_verified",
    "delivery_failed",
    "normalize_phone",
    "phone_locked",
    "verification_failed",
]
