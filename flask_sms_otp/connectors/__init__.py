"""SMS connectors: the base contract, the HTTP base class, template helpers and the
built-in providers.

Third-party connectors subclass :class:`SmsConnector`, or :class:`HttpConnector` when they
call a provider over HTTP.
"""

from .base import DeliveryResult, SmsConnector, SmsMessage
from .httpbase import HttpConnector

__all__ = ["DeliveryResult", "HttpConnector", "SmsConnector", "SmsMessage"]
