"""Several connectors at once: which ones serve a number, in what order, and which to skip.

``SMS_OTP_CONNECTORS`` names the connectors and ``SMS_OTP_ROUTES`` says, per region, which
of them to try in turn (first matching route wins); the single ``SMS_OTP_CONNECTOR`` is one
connector named ``default`` on one route for every region. :class:`Router` answers "which
connectors, in order, for this number"; :mod:`.delivery` walks that list and fails over.

:class:`Circuit` skips a connector that failed ``failures`` times in a row for ``cool_off``
seconds. Its counters live in the rate-limit storage, so with Redis every process sees the
same circuit; with the in-memory storage each process keeps its own. A storage that fails
leaves every circuit closed: it only ever reorders connectors, so failing open sends nothing
it should not.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from limits.storage import Storage

from .config_parsers import CircuitSettings, Route
from .connectors.base import SmsConnector
from .connectors.registry import get_connector_class
from .errors import ConfigurationError
from .phone import region_of
from .settings import DEFAULT_CONNECTOR, Settings

logger = logging.getLogger("flask_sms_otp")


@dataclass(frozen=True, slots=True)
class Named:
    """A configured connector and the name records, signals and receipts know it by: its
    key in ``SMS_OTP_CONNECTORS``, or, for the single ``SMS_OTP_CONNECTOR``, its type
    (``"twilio"``) as before there were several."""

    key: str
    label: str
    connector: SmsConnector


class Circuit:
    """Consecutive failures per connector, in the rate-limit storage."""

    def __init__(
        self, storage: Storage | None, settings: CircuitSettings, prefix: str = ""
    ) -> None:
        self.storage = storage if settings.enabled else None
        self.settings = settings
        self.prefix = prefix

    def is_open(self, name: str) -> bool:
        if self.storage is None:
            return False
        try:
            return bool(self.storage.get(self._key("open", name)))
        except Exception:
            logger.exception("circuit breaker: the storage failed; %s is tried", name)
            return False

    def failed(self, name: str) -> None:
        """Count a failure; the ``failures``-th in a row opens the circuit for ``cool_off``."""
        if self.storage is None:
            return
        cool_off = self.settings.cool_off
        try:
            count = self.storage.incr(self._key("failures", name), cool_off)
            if count >= self.settings.failures:
                self.storage.incr(self._key("open", name), cool_off)
                self.storage.clear(self._key("failures", name))
                logger.warning(
                    "circuit breaker: connector %s failed %d times in a row; skipped for %d s",
                    name,
                    count,
                    cool_off,
                )
        except Exception:
            logger.exception("circuit breaker: the storage failed counting %s", name)

    def succeeded(self, name: str) -> None:
        if self.storage is None:
            return
        try:
            self.storage.clear(self._key("failures", name))
        except Exception:
            logger.exception("circuit breaker: the storage failed clearing %s", name)

    def failures(self, name: str) -> int:
        """Failures in a row so far (for the CLI)."""
        if self.storage is None:
            return 0
        try:
            return int(self.storage.get(self._key("failures", name)))
        except Exception:
            return 0

    def _key(self, kind: str, name: str) -> str:
        return f"{self.prefix}sms_otp/circuit/{kind}/{name}"


class Router:
    """The configured connectors and routes of one app."""

    def __init__(self, named: Sequence[Named], routes: Sequence[Route], circuit: Circuit) -> None:
        self.named = {entry.key: entry for entry in named}
        self.routes = tuple(routes)
        self.circuit = circuit

    @classmethod
    def from_settings(
        cls, settings: Settings, storage: Storage | None = None, prefix: str = ""
    ) -> Router:
        """Build (and so validate) every connector once."""
        if settings.connectors:
            named = []
            for key, entry in settings.connectors.items():
                try:
                    connector = _build(entry.connector, entry.config, settings)
                except ConfigurationError as exc:  # named after the one key it came from
                    raise ConfigurationError(
                        f"SMS_OTP_CONNECTORS[{key!r}]", f"{exc.key}: {exc.problem}"
                    ) from None
                named.append(Named(key, key, connector))
        else:
            connector = _build(settings.connector, settings.connector_config, settings)
            named = [Named(DEFAULT_CONNECTOR, connector.name, connector)]
        return cls(
            named, settings.effective_routes, Circuit(storage, settings.circuit_breaker, prefix)
        )

    @classmethod
    def single(cls, connector: SmsConnector) -> Router:
        """One connector for every number, no circuit (a :class:`Delivery` built by hand)."""
        return cls(
            [Named(DEFAULT_CONNECTOR, connector.name, connector)],
            [Route(None, (DEFAULT_CONNECTOR,))],
            Circuit(None, CircuitSettings(enabled=False)),
        )

    @property
    def default(self) -> Named:
        """The first configured connector: what a notice check or the CLI shows first."""
        return next(iter(self.named.values()))

    @property
    def instant(self) -> bool:
        """Whether every connector's sends are instant (``memory``)."""
        return all(entry.connector.instant for entry in self.named.values())

    def route_for(self, e164: str) -> list[Named]:
        """The connectors for ``e164``'s region, in the order they are tried."""
        region = region_of(e164)
        for route in self.routes:
            if route.serves(region):
                return [self.named[key] for key in route.connectors]
        return []  # a region the number policy refuses: nothing serves it

    @property
    def offers_choice(self) -> bool:
        """Whether some route holds connectors of more than one channel (WhatsApp and
        SMS): then the pages and the API let the person choose."""
        return any(len(self.channels_of(route.connectors)) > 1 for route in self.routes)

    def channels_of(self, keys: Sequence[str]) -> list[str]:
        """The channels of the connectors ``keys``, in route order, each once."""
        return list(dict.fromkeys(self.named[key].connector.channel for key in keys))

    @staticmethod
    def by_channel(route: list[Named], channel: str | None) -> list[Named]:
        """``route`` as the person's choice orders it. ``"sms"``: its SMS connectors only
        (the person asked for no WhatsApp message). Another channel: that channel's
        connectors first, the rest after them, so a number the first cannot reach still
        gets a text. No choice, or one the route cannot serve: the route as configured."""
        if channel is None or not any(e.connector.channel == channel for e in route):
            return route
        if channel == "sms":
            return [entry for entry in route if entry.connector.channel == "sms"]
        return sorted(route, key=lambda entry: entry.connector.channel != channel)

    def by_label(self, label: str) -> Named | None:
        """The connector that records and signals call ``label``."""
        for entry in self.named.values():
            if entry.label == label:
                return entry
        return None

    def routes_of(self, key: str) -> list[str]:
        """The routes (their regions) that use the connector ``key``, for the CLI."""
        return [
            "*" if route.regions is None else ",".join(sorted(route.regions))
            for route in self.routes
            if key in route.connectors
        ]


def _build(kind: str, config: Mapping[str, Any], settings: Settings) -> SmsConnector:
    return get_connector_class(kind).from_settings(config, settings)
