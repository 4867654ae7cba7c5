"""One typed, validated view of the ``SMS_OTP_*`` config keys.

Built once at ``init_app``; the rest of the package reads this object, never ``app.config``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import phonenumbers
from limits import parse_many

from .errors import ConfigurationError

#: Every key this extension reads, with its default. ``init_app`` sets these with
#: ``app.config.setdefault``; docs/configuration.md documents each one.
DEFAULTS: dict[str, Any] = {
    "SMS_OTP_CONNECTOR": "console",
    "SMS_OTP_CONNECTOR_CONFIG": {},
    "SMS_OTP_CODE_LENGTH": 6,
    "SMS_OTP_CODE_TTL": 600,
    "SMS_OTP_MAX_ATTEMPTS": 5,
    "SMS_OTP_RESEND_COOLDOWN": 60,
    "SMS_OTP_MAX_RESENDS": 3,
    "SMS_OTP_LOCKOUT_THRESHOLD": 10,
    "SMS_OTP_LOCKOUT_DURATION": 900,
    "SMS_OTP_DEFAULT_REGION": None,
    "SMS_OTP_ALLOWED_REGIONS": None,
    "SMS_OTP_ALLOW_VOIP": False,
    "SMS_OTP_HTTP_TIMEOUT": (5.0, 10.0),
    "SMS_OTP_DELIVERY": "sync",
    "SMS_OTP_SENDER_THREADS": 4,
    "SMS_OTP_SENDER_BACKLOG": 100,
    "SMS_OTP_URL_PREFIX": "/auth",
    "SMS_OTP_SIGN_IN_METHODS": ["password", "code"],
    "SMS_OTP_PASSWORD_REQUIRED": False,
    "SMS_OTP_PASSWORD_MIN_LENGTH": 8,
    "SMS_OTP_PASSWORD_HASH_METHOD": "scrypt:131072:8:1",
    "SMS_OTP_REVERIFY_MAX_AGE": 300,
    "SMS_OTP_SECURE_COOKIES": True,
    "SMS_OTP_SEND_LIMIT_PER_NUMBER": "1/minute;5/hour;10/day",
    "SMS_OTP_SEND_LIMIT_PER_IP": "10/hour",
    "SMS_OTP_SEND_LIMIT_PER_PREFIX": "10/hour",
    "SMS_OTP_PASSWORD_LIMIT_PER_ACCOUNT": "5/5minutes;100/hour",
    "SMS_OTP_PASSWORD_LIMIT_PER_IP": "10/minute",
}

MIN_CODE_LENGTH = 6
MAX_CODE_LENGTH = 10
MAX_CODE_TTL = 600
MAX_LOCKOUT_THRESHOLD = 100


@dataclass(frozen=True, slots=True)
class Settings:
    connector: str
    connector_config: Mapping[str, Any]
    code_length: int
    code_ttl: int
    max_attempts: int
    resend_cooldown: int
    max_resends: int
    lockout_threshold: int
    lockout_duration: int
    default_region: str | None
    allowed_regions: frozenset[str] | None
    allow_voip: bool
    connect_timeout: float
    read_timeout: float
    delivery: str
    sender_threads: int
    sender_backlog: int
    url_prefix: str
    sign_in_methods: frozenset[str]
    password_required: bool
    password_min_length: int
    password_hash_method: str
    reverify_max_age: int
    secure_cookies: bool
    send_limit_per_number: str
    send_limit_per_ip: str
    send_limit_per_prefix: str
    password_limit_per_account: str
    password_limit_per_ip: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """Validate the ``SMS_OTP_*`` keys; raise :class:`ConfigurationError` naming the key."""
        connect_timeout, read_timeout = _timeouts(config["SMS_OTP_HTTP_TIMEOUT"])
        return cls(
            connector=_connector_name(config["SMS_OTP_CONNECTOR"]),
            connector_config=_connector_config(config["SMS_OTP_CONNECTOR_CONFIG"]),
            code_length=_int(config, "SMS_OTP_CODE_LENGTH", MIN_CODE_LENGTH, MAX_CODE_LENGTH),
            code_ttl=_int(config, "SMS_OTP_CODE_TTL", 30, MAX_CODE_TTL),
            max_attempts=_int(config, "SMS_OTP_MAX_ATTEMPTS", 1, 10),
            resend_cooldown=_int(config, "SMS_OTP_RESEND_COOLDOWN", 0, 3600),
            max_resends=_int(config, "SMS_OTP_MAX_RESENDS", 0, 10),
            lockout_threshold=_int(config, "SMS_OTP_LOCKOUT_THRESHOLD", 1, MAX_LOCKOUT_THRESHOLD),
            lockout_duration=_int(config, "SMS_OTP_LOCKOUT_DURATION", 1, 7 * 24 * 3600),
            default_region=_region_or_none(config["SMS_OTP_DEFAULT_REGION"]),
            allowed_regions=_regions(config["SMS_OTP_ALLOWED_REGIONS"]),
            allow_voip=_bool(config, "SMS_OTP_ALLOW_VOIP"),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            delivery=_choice(config, "SMS_OTP_DELIVERY", ("sync", "celery")),
            sender_threads=_int(config, "SMS_OTP_SENDER_THREADS", 1, 64),
            sender_backlog=_int(config, "SMS_OTP_SENDER_BACKLOG", 0, 10_000),
            url_prefix=_url_prefix(config["SMS_OTP_URL_PREFIX"]),
            sign_in_methods=_sign_in_methods(config["SMS_OTP_SIGN_IN_METHODS"]),
            password_required=_bool(config, "SMS_OTP_PASSWORD_REQUIRED"),
            password_min_length=_int(config, "SMS_OTP_PASSWORD_MIN_LENGTH", 8, 64),
            password_hash_method=_hash_method(config["SMS_OTP_PASSWORD_HASH_METHOD"]),
            reverify_max_age=_int(config, "SMS_OTP_REVERIFY_MAX_AGE", 30, 3600),
            secure_cookies=_bool(config, "SMS_OTP_SECURE_COOKIES"),
            send_limit_per_number=_limit(config, "SMS_OTP_SEND_LIMIT_PER_NUMBER"),
            send_limit_per_ip=_limit(config, "SMS_OTP_SEND_LIMIT_PER_IP"),
            send_limit_per_prefix=_limit(config, "SMS_OTP_SEND_LIMIT_PER_PREFIX"),
            password_limit_per_account=_limit(
                config, "SMS_OTP_PASSWORD_LIMIT_PER_ACCOUNT", max_per_hour=100
            ),
            password_limit_per_ip=_limit(config, "SMS_OTP_PASSWORD_LIMIT_PER_IP"),
        )


def _connector_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError("SMS_OTP_CONNECTOR", "must name a connector, e.g. 'console'")
    return value.strip()


def _connector_config(value: Any) -> Mapping[str, Any]:
    key = "SMS_OTP_CONNECTOR_CONFIG"
    if value is None:
        return {}
    if isinstance(value, str | bytes):
        # From the environment: FLASK_SMS_OTP_CONNECTOR_CONFIG='{"accountSID": ...}'.
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError as exc:
            raise ConfigurationError(key, f"is not valid JSON ({exc.args[0]})") from None
    if not isinstance(value, Mapping):
        raise ConfigurationError(key, "must be a dict (Logto's connector JSON) or a JSON object")
    return dict(value)


def _int(config: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = config[key]
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(key, f"must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ConfigurationError(key, f"must be between {low} and {high}, got {value}")
    return value


def _bool(config: Mapping[str, Any], key: str) -> bool:
    value = config[key]
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {
        "1",
        "true",
        "yes",
        "on",
        "0",
        "false",
        "no",
        "off",
    }:
        return value.lower() in {"1", "true", "yes", "on"}
    raise ConfigurationError(key, f"must be true or false, got {value!r}")


def _region(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(key, f"region codes are strings like 'US', got {value!r}")
    region = value.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigurationError(key, f"{value!r} is not an ISO 3166 region phonenumbers knows")
    return region


def _region_or_none(value: Any) -> str | None:
    if value in (None, ""):
        return None
    return _region(value, "SMS_OTP_DEFAULT_REGION")


def _regions(value: Any) -> frozenset[str] | None:
    key = "SMS_OTP_ALLOWED_REGIONS"
    if value in (None, ""):
        return None
    if isinstance(value, str):
        value = [part for part in value.replace(";", ",").split(",") if part.strip()]
    if not isinstance(value, list | tuple | set | frozenset) or not value:
        raise ConfigurationError(
            key, "must be a list of region codes such as ['US', 'GB'], or None"
        )
    return frozenset(_region(item, key) for item in value)


def _timeouts(value: Any) -> tuple[float, float]:
    key = "SMS_OTP_HTTP_TIMEOUT"
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ConfigurationError(
                key, f"must be seconds or [connect, read], got {value!r}"
            ) from None
    pair = (value, value) if isinstance(value, int | float) else value
    if (
        not isinstance(pair, list | tuple)
        or len(pair) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pair)
        or not all(0 < v <= 120 for v in pair)
    ):
        raise ConfigurationError(
            key, f"must be seconds (0-120] or a [connect, read] pair of them, got {value!r}"
        )
    return float(pair[0]), float(pair[1])


def _choice(config: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> str:
    value = config[key]
    if value not in choices:
        raise ConfigurationError(
            key, f"must be one of {', '.join(map(repr, choices))}, got {value!r}"
        )
    return str(value)


SIGN_IN_METHODS = frozenset({"password", "code"})


def _url_prefix(value: Any) -> str:
    key = "SMS_OTP_URL_PREFIX"
    if not isinstance(value, str) or not value.startswith("/") or value.endswith("/"):
        raise ConfigurationError(
            key, f"must be a path like '/auth' (no trailing slash), got {value!r}"
        )
    return value


def _sign_in_methods(value: Any) -> frozenset[str]:
    key = "SMS_OTP_SIGN_IN_METHODS"
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple | set | frozenset) or not value:
        raise ConfigurationError(key, "must list at least one of 'password' and 'code'")
    methods = frozenset(value)
    unknown = methods - SIGN_IN_METHODS
    if unknown:
        raise ConfigurationError(
            key, f"unknown sign-in methods: {', '.join(sorted(map(str, unknown)))}"
        )
    return methods


_HASH_METHOD = re.compile(r"scrypt(:\d+:\d+:\d+)?|pbkdf2:sha(256|512)(:\d+)?")


def _hash_method(value: Any) -> str:
    if not isinstance(value, str) or not _HASH_METHOD.fullmatch(value):
        raise ConfigurationError(
            "SMS_OTP_PASSWORD_HASH_METHOD",
            f"must be a Werkzeug method such as 'scrypt:131072:8:1' or "
            f"'pbkdf2:sha256:1000000', got {value!r}",
        )
    return value


def _limit(config: Mapping[str, Any], key: str, *, max_per_hour: int | None = None) -> str:
    value = config[key]
    if not isinstance(value, str):
        raise ConfigurationError(
            key, f"must be a rate-limit string like '5/hour;10/day', got {value!r}"
        )
    try:
        items = parse_many(value)
    except ValueError:
        raise ConfigurationError(
            key, f"is not a rate-limit string like '5/hour;10/day': {value!r}"
        ) from None
    if not items:
        raise ConfigurationError(key, "must set at least one limit")
    if max_per_hour is not None:
        # The most any one hour can see under these limits.
        per_hour = min(i.amount * max(1, math.ceil(3600 / i.get_expiry())) for i in items)
        if per_hour > max_per_hour:
            raise ConfigurationError(
                key, f"allows {per_hour} per hour; at most {max_per_hour} are allowed"
            )
    return value
