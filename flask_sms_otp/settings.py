"""The ``SMS_OTP_*`` config keys: one table, and the typed view of them built at ``init_app``.

The body of :class:`Settings` is the table: each attribute is declared with :func:`option`,
giving its config key, default, parser and a one-line summary. From it come
:data:`OPTIONS`, :data:`DEFAULTS` (what ``init_app`` sets), :meth:`Settings.from_config`,
the key list in :class:`~flask_sms_otp.SmsOtp`'s docstring, and the check that
docs/configuration.md documents every key with its default. The rest of the package reads
the :class:`Settings` object, never ``app.config``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields
from types import MappingProxyType
from typing import Any, TypeVar, cast, dataclass_transform

from limits import RateLimitItem

from . import config_parsers as parsers
from .config_parsers import Parser
from .errors import ConfigurationError

T = TypeVar("T")
_C = TypeVar("_C")

#: The name of the one connector of ``SMS_OTP_CONNECTOR``, for routes and receipts.
DEFAULT_CONNECTOR = "default"

_OPTION = "sms_otp_option"


def option(key: str, default: Any, parse: Parser[T], summary: str, /) -> T:
    """Declare a :class:`Settings` attribute: its config ``key``, the key's ``default`` (set
    by ``init_app``), the ``parse`` that reads the key's value, and a one-line ``summary``.

    Typed as what ``parse`` returns, so mypy checks each attribute against its parser; at run
    time a dataclass field with no default of its own. Positional only: a ``default=``
    keyword would make type checkers think the attribute had one.
    """
    return cast(T, field(metadata={_OPTION: (key, default, parse, summary)}))


@dataclass_transform(frozen_default=True, field_specifiers=(option,))
def _table_of_options(cls: type[_C]) -> type[_C]:
    """A frozen, slotted dataclass whose attributes are declared with :func:`option`."""
    return dataclass(frozen=True, slots=True)(cls)


@_table_of_options
class Settings:
    """Every ``SMS_OTP_*`` key, validated; see docs/configuration.md for each."""

    connector: str = option(
        "SMS_OTP_CONNECTOR",
        "console",
        parsers.connector_name,
        "the connector that sends every SMS",
    )
    connector_config: Mapping[str, Any] = option(
        "SMS_OTP_CONNECTOR_CONFIG",
        {},
        parsers.connector_config,
        "the connector's config: Logto's connector JSON, as a dict or a JSON string",
    )
    connectors: Mapping[str, parsers.NamedConnector] = option(
        "SMS_OTP_CONNECTORS",
        {},
        parsers.named_connectors,
        "several named connectors at once (replaces SMS_OTP_CONNECTOR and its config)",
    )
    routes: tuple[parsers.Route, ...] = option(
        "SMS_OTP_ROUTES",
        [],
        parsers.routes,
        "which connectors serve which regions, in the order they are tried",
    )
    circuit_breaker: parsers.CircuitSettings = option(
        "SMS_OTP_CIRCUIT_BREAKER",
        {},
        parsers.circuit_breaker,
        "skip a connector for a while after it failed several times in a row",
    )
    receipt_max_age: int = option(
        "SMS_OTP_RECEIPT_MAX_AGE",
        24 * 3600,
        parsers.integer(300, 7 * 24 * 3600),
        "seconds a signed delivery receipt is taken after its timestamp, 300 to 7 days",
    )
    code_length: int = option(
        "SMS_OTP_CODE_LENGTH",
        6,
        parsers.integer(6, 10),
        "digits per code, 6 to 10",
    )
    code_ttl: int = option(
        "SMS_OTP_CODE_TTL",
        600,
        parsers.integer(30, 600),
        "seconds a code stays valid, 30 to 600",
    )
    max_attempts: int = option(
        "SMS_OTP_MAX_ATTEMPTS",
        5,
        parsers.integer(1, 10),
        "verification attempts per code, 1 to 10",
    )
    resend_cooldown: int = option(
        "SMS_OTP_RESEND_COOLDOWN",
        60,
        parsers.integer(0, 3600),
        "seconds before a challenge's code can be sent again, 0 to 3600",
    )
    max_resends: int = option(
        "SMS_OTP_MAX_RESENDS",
        3,
        parsers.integer(0, 10),
        "resends per challenge, 0 to 10",
    )
    lockout_threshold: int = option(
        "SMS_OTP_LOCKOUT_THRESHOLD",
        10,
        parsers.integer(1, 100),
        "consecutive failed verifications that lock a number, 1 to 100",
    )
    lockout_duration: int = option(
        "SMS_OTP_LOCKOUT_DURATION",
        900,
        parsers.integer(1, 7 * 24 * 3600),
        "seconds a locked number can neither receive nor verify codes, up to 7 days",
    )
    default_region: str | None = option(
        "SMS_OTP_DEFAULT_REGION",
        None,
        parsers.region_or_none,
        "region of numbers typed without a country code; None requires one",
    )
    allowed_regions: frozenset[str] | None = option(
        "SMS_OTP_ALLOWED_REGIONS",
        None,
        parsers.regions,
        "regions whose numbers are accepted; None accepts every region",
    )
    blocked_regions: frozenset[str] | None = option(
        "SMS_OTP_BLOCKED_REGIONS",
        None,
        parsers.regions,
        "regions whose numbers are refused, even when allowed; None blocks none",
    )
    allow_voip: bool = option(
        "SMS_OTP_ALLOW_VOIP",
        False,
        parsers.boolean,
        "accept VoIP numbers as well as mobile ones",
    )
    http_timeout: tuple[float, float] = option(
        "SMS_OTP_HTTP_TIMEOUT",
        (5.0, 10.0),
        parsers.timeouts,
        "the provider's (connect, read) timeouts in seconds; one number sets both",
    )
    delivery: str = option(
        "SMS_OTP_DELIVERY",
        "sync",
        parsers.choice("sync", "celery"),
        "'sync' sends from the web process, 'celery' from a Celery worker",
    )
    sender_threads: int = option(
        "SMS_OTP_SENDER_THREADS",
        4,
        parsers.integer(1, 64),
        "threads of the background sender in each process, 1 to 64",
    )
    sender_backlog: int = option(
        "SMS_OTP_SENDER_BACKLOG",
        100,
        parsers.integer(0, 10_000),
        "sends that may wait for a background sender thread, 0 to 10,000",
    )
    url_prefix: str = option(
        "SMS_OTP_URL_PREFIX",
        "/auth",
        parsers.url_prefix,
        "where the pages live; the API is under /api",
    )
    sign_in_methods: frozenset[str] = option(
        "SMS_OTP_SIGN_IN_METHODS",
        ["password", "code"],
        parsers.sign_in_methods,
        "sign-in methods offered: 'password' and 'code'",
    )
    password_required: bool = option(
        "SMS_OTP_PASSWORD_REQUIRED",
        False,
        parsers.boolean,
        "whether sign-up asks for a password",
    )
    password_min_length: int = option(
        "SMS_OTP_PASSWORD_MIN_LENGTH",
        8,
        parsers.integer(8, 64),
        "minimum password length, 8 to 64",
    )
    password_hash_method: str = option(
        "SMS_OTP_PASSWORD_HASH_METHOD",
        "scrypt:131072:8:1",
        parsers.hash_method,
        "Werkzeug hash method for passwords (scrypt or pbkdf2)",
    )
    reverify_max_age: int = option(
        "SMS_OTP_REVERIFY_MAX_AGE",
        300,
        parsers.integer(30, 3600),
        "seconds an identity confirmation stays fresh, 30 to 3600",
    )
    secure_cookies: bool = option(
        "SMS_OTP_SECURE_COOKIES",
        True,
        parsers.boolean,
        "make the session and remember cookies Secure, HttpOnly and SameSite=Lax",
    )
    send_limit_per_number: tuple[RateLimitItem, ...] = option(
        "SMS_OTP_SEND_LIMIT_PER_NUMBER",
        "1/minute;5/hour;10/day",
        parsers.rate_limits(),
        "SMS sends per number, resends included",
    )
    send_limit_per_ip: tuple[RateLimitItem, ...] = option(
        "SMS_OTP_SEND_LIMIT_PER_IP",
        "10/hour",
        parsers.rate_limits(),
        "SMS sends per client IP",
    )
    send_limit_per_prefix: tuple[RateLimitItem, ...] = option(
        "SMS_OTP_SEND_LIMIT_PER_PREFIX",
        "10/hour",
        parsers.rate_limits(),
        "SMS sends per block of 10,000 numbers",
    )
    invite_limit_per_inviter: tuple[RateLimitItem, ...] = option(
        "SMS_OTP_INVITE_LIMIT_PER_INVITER",
        "5/hour;20/day",
        parsers.rate_limits(),
        "invitations (and their resends) each inviter may text",
    )
    password_limit_per_account: tuple[RateLimitItem, ...] = option(
        "SMS_OTP_PASSWORD_LIMIT_PER_ACCOUNT",
        "5/5minutes;100/hour",
        parsers.rate_limits(max_per_hour=100),
        "failed password attempts per number, at most 100 an hour",
    )
    password_limit_per_ip: tuple[RateLimitItem, ...] = option(
        "SMS_OTP_PASSWORD_LIMIT_PER_IP",
        "10/minute",
        parsers.rate_limits(),
        "password attempts per IP",
    )
    webotp_domain: str | None = option(
        "SMS_OTP_WEBOTP_DOMAIN",
        None,
        parsers.host_name_or_none,
        "host name for the WebOTP line (@host #code) ending built-in code texts",
    )
    android_app_hash: str | None = option(
        "SMS_OTP_ANDROID_APP_HASH",
        None,
        parsers.app_hash_or_none,
        "Android SMS Retriever app hash (11 characters) added to built-in code texts",
    )
    captcha: parsers.CaptchaConfig | None = option(
        "SMS_OTP_CAPTCHA",
        None,
        parsers.captcha,
        "a bot check (Turnstile, hCaptcha, reCAPTCHA) before codes to numbers anyone may name",
    )

    pumping_guard: parsers.GuardSettings = option(
        "SMS_OTP_PUMPING_GUARD",
        {},
        parsers.pumping_guard,
        "hold anonymous sends to a country or number block whose codes stop being used",
    )

    test_numbers: Mapping[str, parsers.TestNumber] = option(
        "SMS_OTP_TEST_NUMBERS",
        {},
        parsers.test_numbers,
        "numbers with a fixed code until a date, never sent to: app-store review and CI",
    )

    admin: bool = option(
        "SMS_OTP_ADMIN",
        False,
        parsers.boolean,
        "the operator's pages under <prefix>/admin, for users the app's admin_check accepts",
    )

    def __post_init__(self) -> None:
        self._check_routes()
        for e164, number in self.test_numbers.items():
            if len(number.code) != self.code_length:
                raise ConfigurationError(
                    "SMS_OTP_TEST_NUMBERS",
                    f"the code of {e164!r} must have {self.code_length} digits "
                    "(SMS_OTP_CODE_LENGTH)",
                )

    @property
    def connector_names(self) -> tuple[str, ...]:
        """The connectors' names: those of ``SMS_OTP_CONNECTORS``, else the one ``default``."""
        return tuple(self.connectors) if self.connectors else (DEFAULT_CONNECTOR,)

    @property
    def effective_routes(self) -> tuple[parsers.Route, ...]:
        """``SMS_OTP_ROUTES``, or one route for every region through every connector."""
        return self.routes or (parsers.Route(None, self.connector_names),)

    def _check_routes(self) -> None:
        """Every route names known connectors, and every region a number may have is
        served by one."""
        known = set(self.connector_names)
        for number, route in enumerate(self.routes, 1):
            unknown = [name for name in route.connectors if name not in known]
            if unknown:
                raise ConfigurationError(
                    "SMS_OTP_ROUTES",
                    f"route {number} names {', '.join(map(repr, unknown))}, not a connector of "
                    + ("SMS_OTP_CONNECTORS" if self.connectors else "this app ('default')"),
                )
        if not self.routes or any(route.regions is None for route in self.routes):
            return
        if self.allowed_regions is None:
            raise ConfigurationError(
                "SMS_OTP_ROUTES",
                "no route serves every region: add {'regions': '*', ...} or set "
                "SMS_OTP_ALLOWED_REGIONS",
            )
        served = set().union(*(route.regions or () for route in self.routes))
        missing = self.allowed_regions - served - (self.blocked_regions or frozenset())
        if missing:
            raise ConfigurationError(
                "SMS_OTP_ROUTES", f"no route serves {', '.join(sorted(missing))}"
            )

    @property
    def connect_timeout(self) -> float:
        return self.http_timeout[0]

    @property
    def read_timeout(self) -> float:
        return self.http_timeout[1]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """Read every option from ``config``; a bad value raises
        :class:`~flask_sms_otp.ConfigurationError` naming its key."""
        return cls(**{opt.attribute: opt.parse(opt.key, config[opt.key]) for opt in OPTIONS})


@dataclass(frozen=True, slots=True)
class Option:
    """One row of the table: a config key and the :class:`Settings` attribute it fills."""

    key: str
    attribute: str
    default: Any
    parse: Parser[Any]
    summary: str


def _row(attribute: Field[Any]) -> Option:
    key, default, parse, summary = attribute.metadata[_OPTION]
    return Option(key=key, attribute=attribute.name, default=default, parse=parse, summary=summary)


#: Every option, in the order of :class:`Settings`.
OPTIONS: tuple[Option, ...] = tuple(_row(attribute) for attribute in fields(Settings))

#: Every key with its default; ``init_app`` sets them with ``app.config.setdefault``.
DEFAULTS: Mapping[str, Any] = MappingProxyType({opt.key: opt.default for opt in OPTIONS})


def keys_reference() -> str:
    """The keys as a reST bullet list, each with its default and summary."""
    return "\n".join(f"- ``{opt.key}`` (``{opt.default!r}``): {opt.summary}" for opt in OPTIONS)
