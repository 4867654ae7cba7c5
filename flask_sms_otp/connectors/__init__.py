"""SMS connectors: the base contract, template helpers and the built-in providers."""

from .base import DeliveryResult, SmsConnector, SmsMessage

__all__ = ["DeliveryResult", "SmsConnector", "SmsMessage"]
