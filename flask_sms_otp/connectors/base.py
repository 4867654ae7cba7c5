"""The connector contract: one message in, one result out, typed errors on failure.

Modelled on Django's ``BaseEmailBackend``: a tiny base class, one module per provider. A
connector is built once per app at ``init_app`` (so bad config fails there) and reused for
every send; it must be safe to call from several threads.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Self

from ..errors import ConfigurationError
from ..redaction import Redactor

if TYPE_CHECKING:
    from datetime import datetime

    from ..settings import Settings
    from .receipts import Receipt, ReceiptRequest

CONFIG_KEY = "SMS_OTP_CONNECTOR_CONFIG"


@dataclass(frozen=True, slots=True)
class SmsMessage:
    """What to send: the E.164 number, why, the code, any extra template variables and the
    language.

    New fields get defaults, so third-party connectors keep working as this grows.
    """

    to: str
    usage: str
    code: str
    variables: Mapping[str, Any] = field(default_factory=dict)
    client_ip: str | None = None
    #: The user's language as a BCP 47 tag (``en``, ``zh-Hans-CN``), or None when unknown:
    #: picks a template carrying that ``locale`` first.
    locale: str | None = None
    #: The built-in text for the usage type, rendered (code and lifetime filled in) in
    #: ``locale`` by the delivery; what a connector with no templates of its own sends
    #: (``console``, ``memory``). None when the message was not made by the delivery.
    text: str | None = None
    #: How the person asked to get the code (``"sms"``, ``"whatsapp"``), or None: the
    #: delivery then tries the route's connectors in their configured order.
    channel: str | None = None

    @property
    def payload(self) -> dict[str, Any]:
        """Template variables, ``code`` included (Logto's ``payload``)."""
        return {**self.variables, "code": self.code}

    def __repr__(self) -> str:  # the code stays out of reprs, and so out of logs and tracebacks
        return f"SmsMessage(to={self.to!r}, usage={self.usage!r}, code='******')"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The provider accepted the message. ``message_id`` is the provider's id when it gives one."""

    connector: str
    message_id: str | None = None
    status: str = "accepted"


class SmsConnector(ABC):
    """Base class of every connector. Subclasses set :attr:`name` and implement :meth:`send`.

    ``config`` is the connector's Logto-shaped config. :meth:`configure` validates it and
    raises :class:`~flask_sms_otp.ConfigurationError` naming the bad field.
    """

    name: ClassVar[str] = ""
    #: What the person receives the code by: ``"sms"``, or ``"whatsapp"``. A route that
    #: holds both lets the person choose (see docs/connectors/whatsapp.md).
    channel: ClassVar[str] = "sms"
    #: Config fields holding secrets. They never appear in ``repr``, errors or logs.
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    #: Regular expressions for secrets made anew for each request (a signature), redacted
    #: from provider texts wherever they match; a group named ``secret`` limits it to that.
    secret_patterns: ClassVar[tuple[str, ...]] = ()
    #: True for a connector whose sends must be seen at once and cost nothing (``memory``,
    #: for tests): they run inside the request. Every other connector's sends that must not
    #: reveal whether a number has an account run on the background sender, so that not
    #: even a console print shows in the worker's timing.
    instant: ClassVar[bool] = False
    #: True when the connector has a built-in text for every usage and notice (``console``,
    #: ``memory``), so a notice needs no template of the app's.
    builtin_texts: ClassVar[bool] = False
    #: True when the provider wants to hear which of its messages' codes were used
    #: (:meth:`report_verified`), as Twilio Verify does for codes it did not make.
    reports_verified: ClassVar[bool] = False
    #: True when the provider carries nothing but a one-time code (a WhatsApp
    #: authentication template, Twilio Verify): a route passes it over for a message that
    #: carries a link instead (``usage.LINK_USAGES``, an invitation).
    codes_only: ClassVar[bool] = False

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.config: dict[str, Any] = dict(config or {})
        self.configure(self.config)

    @classmethod
    def from_settings(cls, config: Mapping[str, Any], settings: Settings) -> Self:
        """The connector ``init_app`` builds from ``SMS_OTP_CONNECTOR_CONFIG``.

        Default: ``cls(config)``. Override it to take more of the app's settings, as
        :class:`~flask_sms_otp.connectors.HttpConnector` takes the HTTP timeouts.
        """
        return cls(config)

    def configure(self, config: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        """Validate ``config`` and keep what :meth:`send` needs. Default: accept anything."""

    @abstractmethod
    def send(self, message: SmsMessage) -> DeliveryResult:
        """Hand ``message`` to the provider; raise a :class:`DeliveryError` subclass on failure."""

    def check(self) -> str | None:
        """Ping the provider without sending an SMS, if it offers a way.

        Return a short description of what was checked, or ``None`` when the connector has
        no such check. Raise a :class:`DeliveryError` when the check fails.
        """
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release pooled connections."""

    @property
    def accepts_receipts(self) -> bool:
        """True when :meth:`receipt` can verify this provider's delivery receipts: the
        connector reads them and its config holds what they are signed with."""
        return False

    def receipt(self, request: ReceiptRequest, now: datetime) -> Receipt:
        """The delivery receipt in ``request``, its signature verified; raise
        ``ReceiptRejected`` or ``ReceiptMalformed`` otherwise (see
        ``flask_sms_otp.connectors.receipts`` and docs/receipts.md). Only called when
        :attr:`accepts_receipts` is true."""
        raise NotImplementedError(f"the {self.name} connector takes no delivery receipts")

    def report_verified(self, message_id: str) -> None:  # noqa: B027 - optional hook
        """Tell the provider that the code its message ``message_id`` carried was used.

        Called only when :attr:`reports_verified` is true, on the background sender after
        the verification was committed: a slow or failing provider never holds or fails
        the person's sign-in. Raise a :class:`DeliveryError` on failure (it is logged).
        """

    def derived_secrets(self) -> Iterable[str]:
        """Secrets computed from the config that a provider may echo, such as the token of a
        Basic-auth header: redacted like the :attr:`secret_fields`. Default: none."""
        return ()

    def redactor(self, message: SmsMessage | None = None) -> Redactor:
        """What hides this connector's credentials, and ``message``'s code and number, in
        provider texts (see ``flask_sms_otp.redaction``)."""
        secrets = [self.config.get(name) for name in sorted(self.secret_fields)]
        return Redactor(
            code=message.code if message is not None else None,
            phone=message.to if message is not None else None,
            secrets=[*secrets, *self.derived_secrets()],
            patterns=self.secret_patterns,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    # Helpers for configure() -------------------------------------------------------------

    @staticmethod
    def config_error(field_name: str, problem: str) -> ConfigurationError:
        return ConfigurationError(f"{CONFIG_KEY}.{field_name}", problem)

    def require_str(self, config: Mapping[str, Any], field_name: str) -> str:
        """A required, non-empty string field."""
        value = config.get(field_name)
        if value is None or value == "":
            raise self.config_error(field_name, f"is required by the {self.name} connector")
        if not isinstance(value, str):
            raise self.config_error(field_name, "must be a string")
        return value

    def optional_str(self, config: Mapping[str, Any], field_name: str) -> str | None:
        value = config.get(field_name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.config_error(field_name, "must be a string")
        return value
