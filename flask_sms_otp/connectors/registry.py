"""Connector names to classes: the built-ins, plus third-party connectors that register
under the ``flask_sms_otp.connectors`` entry-point group. Imported lazily, by name."""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points

from ..errors import ConfigurationError
from .base import SmsConnector

ENTRY_POINT_GROUP = "flask_sms_otp.connectors"

BUILTIN_CONNECTORS: dict[str, str] = {
    "console": "flask_sms_otp.connectors.console:ConsoleConnector",
    "memory": "flask_sms_otp.connectors.memory:MemoryConnector",
    "twilio": "flask_sms_otp.connectors.twilio:TwilioConnector",
    "smsaero": "flask_sms_otp.connectors.smsaero:SmsAeroConnector",
    "gatewayapi": "flask_sms_otp.connectors.gatewayapi:GatewayApiConnector",
    "vonage": "flask_sms_otp.connectors.vonage:VonageConnector",
    "aliyun": "flask_sms_otp.connectors.aliyun:AliyunConnector",
    "tencent": "flask_sms_otp.connectors.tencent:TencentConnector",
    "sns": "flask_sms_otp.connectors.sns:SnsConnector",
    "twilio_verify": "flask_sms_otp.connectors.twilio_verify:TwilioVerifyConnector",
    "whatsapp": "flask_sms_otp.connectors.whatsapp:WhatsAppConnector",
    "http": "flask_sms_otp.connectors.webhook:WebhookConnector",  # Logto's name
}


def available_connectors() -> dict[str, str]:
    """Every connector name and where it comes from (``module:Class``), built-ins first."""
    found = dict(BUILTIN_CONNECTORS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def get_connector_class(name: str) -> type[SmsConnector]:
    """Import and return the connector class registered as ``name``."""
    target = available_connectors().get(name)
    if target is None:
        known = ", ".join(sorted(available_connectors()))
        raise ConfigurationError(
            "SMS_OTP_CONNECTOR", f"unknown connector {name!r} (known: {known})"
        )
    module_name, _, attr = target.partition(":")
    try:
        cls = getattr(import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(
            "SMS_OTP_CONNECTOR", f"connector {name!r} ({target}) cannot be loaded: {exc}"
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, SmsConnector)):
        raise ConfigurationError("SMS_OTP_CONNECTOR", f"{target} is not an SmsConnector subclass")
    return cls
