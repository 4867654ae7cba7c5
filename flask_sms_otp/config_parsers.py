"""How each ``SMS_OTP_*`` value is read and checked.

Every parser has one signature, ``parse(key, value)``: it returns the typed value or raises
:class:`ConfigurationError` naming ``key``. Values may come from Python config or from the
environment (``app.config.from_prefixed_env``), so where a value has an obvious text form
(digits, ``"true"``, a comma-separated list, JSON) the text is accepted too.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar
from urllib.parse import urlsplit

import phonenumbers
from limits import RateLimitItem, parse_many

from .errors import ConfigurationError

T = TypeVar("T")

#: ``parse(key, value)``: the value of config ``key``, read and checked.
Parser = Callable[[str, Any], T]

SIGN_IN_METHODS = frozenset({"password", "code"})

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_APP_HASH = re.compile(r"[A-Za-z0-9+/]{11}")
_HASH_METHOD = re.compile(r"scrypt(:\d+:\d+:\d+)?|pbkdf2:sha(256|512)(:\d+)?")


def integer(low: int, high: int) -> Parser[int]:
    """An integer from ``low`` to ``high``, or a string of its digits."""

    def parse(key: str, value: Any) -> int:
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigurationError(key, f"must be an integer, got {value!r}")
        if not low <= value <= high:
            raise ConfigurationError(key, f"must be between {low} and {high}, got {value}")
        return value

    return parse


def choice(*choices: str) -> Parser[str]:
    """One of ``choices``."""

    def parse(key: str, value: Any) -> str:
        if value not in choices:
            raise ConfigurationError(
                key, f"must be one of {', '.join(map(repr, choices))}, got {value!r}"
            )
        return str(value)

    return parse


def rate_limits(*, max_per_hour: int | None = None) -> Parser[tuple[RateLimitItem, ...]]:
    """Flask-Limiter's notation (``"5/hour;10/day"``), parsed once here into its items;
    with ``max_per_hour``, the most any one hour can see under them is capped."""

    def parse(key: str, value: Any) -> tuple[RateLimitItem, ...]:
        if not isinstance(value, str):
            raise ConfigurationError(
                key, f"must be a rate-limit string like '5/hour;10/day', got {value!r}"
            )
        try:
            items = tuple(parse_many(value))
        except ValueError:
            raise ConfigurationError(
                key, f"is not a rate-limit string like '5/hour;10/day': {value!r}"
            ) from None
        if not items:
            raise ConfigurationError(key, "must set at least one limit")
        if max_per_hour is not None:
            per_hour = min(i.amount * max(1, math.ceil(3600 / i.get_expiry())) for i in items)
            if per_hour > max_per_hour:
                raise ConfigurationError(
                    key, f"allows {per_hour} per hour; at most {max_per_hour} are allowed"
                )
        return items

    return parse


def boolean(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise ConfigurationError(key, f"must be true or false, got {value!r}")


def connector_name(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(key, "must name a connector, e.g. 'console'")
    return value.strip()


def connector_config(key: str, value: Any) -> Mapping[str, Any]:
    """Logto's connector JSON, as a dict or its JSON text."""
    if value is None:
        return {}
    if isinstance(value, str | bytes):
        value = _json_text(key, value) if value.strip() else {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(key, "must be a dict (Logto's connector JSON) or a JSON object")
    return dict(value)


def host_name_or_none(key: str, value: Any) -> str | None:
    """A bare host name (``example.com``: no scheme, port, path or trailing dot), lower
    case; ``None`` or ``""`` for none."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ConfigurationError(key, "must be a host name such as 'example.com'")
    host = value.strip().lower()
    labels = host.split(".")
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise ConfigurationError(
            key, "must be a bare host name such as 'example.com' (no scheme, port or path)"
        )
    return host


def app_hash_or_none(key: str, value: Any) -> str | None:
    """An Android SMS Retriever app hash: 11 characters of base64; ``None`` or ``""``."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not _APP_HASH.fullmatch(value.strip()):
        raise ConfigurationError(key, "must be the app's 11-character hash (base64)")
    return value.strip()


def region_or_none(key: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    return _region(key, value)


def regions(key: str, value: Any) -> frozenset[str] | None:
    """Region codes as a list or a comma-separated string; ``None`` for every region."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        value = [part for part in value.replace(";", ",").split(",") if part.strip()]
    if not isinstance(value, list | tuple | set | frozenset) or not value:
        raise ConfigurationError(
            key, "must be a list of region codes such as ['US', 'GB'], or None"
        )
    return frozenset(_region(key, item) for item in value)


def _region(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(key, f"region codes are strings like 'US', got {value!r}")
    region = value.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigurationError(key, f"{value!r} is not an ISO 3166 region phonenumbers knows")
    return region


def timeouts(key: str, value: Any) -> tuple[float, float]:
    """``(connect, read)`` seconds; one number sets both."""
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


def url_prefix(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/") or value.endswith("/"):
        raise ConfigurationError(
            key, f"must be a path like '/auth' (no trailing slash), got {value!r}"
        )
    return value


def sign_in_methods(key: str, value: Any) -> frozenset[str]:
    """Some of :data:`SIGN_IN_METHODS`, as a list or a comma-separated string."""
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


def hash_method(key: str, value: Any) -> str:
    """A Werkzeug password-hash method this package allows."""
    if not isinstance(value, str) or not _HASH_METHOD.fullmatch(value):
        raise ConfigurationError(
            key,
            f"must be a Werkzeug method such as 'scrypt:131072:8:1' or "
            f"'pbkdf2:sha256:1000000', got {value!r}",
        )
    return value


@dataclass(frozen=True, slots=True)
class TestNumber:
    """A configured test number's fixed code and the last day (UTC) it is one."""

    __test__ = False  # not a pytest class

    code: str
    until: date


def test_numbers(key: str, value: Any) -> Mapping[str, TestNumber]:
    """``{"+15555550100": {"code": "123456", "until": "2027-03-01"}}``, as a dict or its
    JSON text: E.164 numbers (fictional ones too), each with a code of digits and an ISO
    date. The code's length is checked against ``SMS_OTP_CODE_LENGTH`` by the settings."""
    if value in (None, ""):
        return {}
    value = _json_text(key, value)
    if not isinstance(value, Mapping):
        raise ConfigurationError(key, "must map numbers to {'code': ..., 'until': 'YYYY-MM-DD'}")
    numbers: dict[str, TestNumber] = {}
    for raw, entry in value.items():
        e164 = _test_e164(key, raw)
        if not isinstance(entry, Mapping) or set(entry) != {"code", "until"}:
            raise ConfigurationError(
                key, f"{raw!r} must map to {{'code': ..., 'until': 'YYYY-MM-DD'}}"
            )
        code = entry["code"]
        if not isinstance(code, str) or not (code.isascii() and code.isdigit()):
            raise ConfigurationError(key, f"the code of {raw!r} must be a string of digits")
        numbers[e164] = TestNumber(code=code, until=_iso_date(key, raw, entry["until"]))
    return numbers


def _test_e164(key: str, raw: Any) -> str:
    """A number written in E.164; it may be fictional (+1 555-0100), never unparsable."""
    if not isinstance(raw, str) or not raw.startswith("+"):
        raise ConfigurationError(key, f"{raw!r} is not an E.164 number such as '+15555550100'")
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        raise ConfigurationError(key, f"{raw!r} is not a phone number") from None
    e164 = str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    if number.extension or not phonenumbers.is_possible_number(number) or e164 != raw:
        raise ConfigurationError(key, f"{raw!r} is not an E.164 number such as '+15555550100'")
    return e164


def _iso_date(key: str, raw: str, value: Any) -> date:
    if type(value) is date:
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigurationError(key, f"the 'until' of {raw!r} must be a date like '2027-03-01'")


@dataclass(frozen=True, slots=True)
class GuardSettings:
    """The pumping guard's thresholds (see :mod:`flask_sms_otp.guard`); times in seconds."""

    enabled: bool = True
    #: How far back the recent share of codes used is measured.
    window: int = 3600
    #: How far back (before the window) the usual share is measured.
    baseline: int = 7 * 86400
    #: How long a code has to be used before it counts as never used.
    grace: int = 300
    #: How long a hold lasts unless codes are used again or an operator releases it.
    hold: int = 12 * 3600
    #: At most this long between two judgements of one country or block, per process.
    interval: int = 30
    #: Codes a country (a block) must have sent in the window before it can be judged.
    min_sends: int = 20
    min_block_sends: int = 5
    #: Held when the recent share falls below ``ratio`` times the usual one.
    ratio: float = 0.5
    #: The usual share assumed where there is not enough history yet.
    default_share: float = 0.6


_GUARD_INTS = {
    "window": (60, 30 * 86400),
    "baseline": (3600, 365 * 86400),
    "grace": (0, 86400),
    "hold": (60, 30 * 86400),
    "interval": (0, 3600),
    "min_sends": (1, 1_000_000),
    "min_block_sends": (1, 1_000_000),
}
_GUARD_SHARES = ("ratio", "default_share")


def pumping_guard(key: str, value: Any) -> GuardSettings:
    """``False`` (off), or a dict (or its JSON text) of :class:`GuardSettings` fields, each
    optional: ``{}`` is the guard with its defaults."""
    if isinstance(value, str | bytes):
        text = value.decode() if isinstance(value, bytes) else value
        value = False if text.strip().lower() in _FALSE else _json_text(key, text)
    if value is False or value is None:
        return GuardSettings(enabled=False)
    if value is True:
        return GuardSettings()
    if not isinstance(value, Mapping):
        raise ConfigurationError(key, "must be False or a dict of thresholds")
    unknown = set(value) - {"enabled", *_GUARD_INTS, *_GUARD_SHARES}
    if unknown:
        raise ConfigurationError(key, f"unknown setting(s): {', '.join(sorted(map(str, unknown)))}")
    fields: dict[str, Any] = {}
    if "enabled" in value:
        fields["enabled"] = boolean(f"{key}['enabled']", value["enabled"])
    for name, (low, high) in _GUARD_INTS.items():
        if name in value:
            fields[name] = integer(low, high)(f"{key}[{name!r}]", value[name])
    for name in _GUARD_SHARES:
        if name in value:
            share = value[name]
            if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
                raise ConfigurationError(key, f"{name!r} must be a number above 0, at most 1")
            fields[name] = float(share)
    guard = GuardSettings(**fields)
    if guard.grace >= guard.window:
        raise ConfigurationError(key, "'grace' must be shorter than 'window'")
    return guard


_CONNECTOR_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


@dataclass(frozen=True, slots=True)
class NamedConnector:
    """One entry of ``SMS_OTP_CONNECTORS``: a connector type and its Logto JSON."""

    connector: str
    config: Mapping[str, Any]


def named_connectors(key: str, value: Any) -> Mapping[str, NamedConnector]:
    """``{"name": {"connector": "twilio", "config": {...}}}`` (or its JSON text): several
    connectors at once, each under a name of lower-case letters, digits, ``-`` and ``_``."""
    value = _json_or_value(key, value)
    if value in (None, {}):
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(key, "must map names to {'connector': ..., 'config': {...}}")
    found: dict[str, NamedConnector] = {}
    for name, entry in value.items():
        if not isinstance(name, str) or not _CONNECTOR_NAME.fullmatch(name):
            raise ConfigurationError(
                key, f"{name!r} is not a connector name (a-z, 0-9, '-', '_'; at most 40)"
            )
        if not isinstance(entry, Mapping) or not set(entry) <= {"connector", "config"}:
            raise ConfigurationError(key, f"{name!r} must be {{'connector': ..., 'config': {{}}}}")
        if "connector" not in entry:
            raise ConfigurationError(key, f"{name!r} names no connector type")
        found[name] = NamedConnector(
            connector=connector_name(f"{key}[{name!r}]", entry["connector"]),
            config=connector_config(f"{key}[{name!r}]", entry.get("config") or {}),
        )
    return found


@dataclass(frozen=True, slots=True)
class Route:
    """One entry of ``SMS_OTP_ROUTES``: the regions it serves (``None`` for every region)
    and the connectors it tries, in order."""

    regions: frozenset[str] | None
    connectors: tuple[str, ...]

    def serves(self, region: str | None) -> bool:
        return self.regions is None or region in self.regions


def routes(key: str, value: Any) -> tuple[Route, ...]:
    """``[{"regions": ["CN"], "connectors": ["aliyun", "tencent"]}, {"regions": "*", ...}]``
    (or its JSON text): the first route serving a number's region wins. The names are
    checked against ``SMS_OTP_CONNECTORS`` by the settings."""
    value = _json_or_value(key, value)
    if value in (None, [], ()):
        return ()
    if not isinstance(value, list | tuple):
        raise ConfigurationError(key, "must be a list of {'regions': ..., 'connectors': [...]}")
    found = []
    for number, entry in enumerate(value, 1):
        where = f"route {number}"
        if not isinstance(entry, Mapping) or set(entry) != {"regions", "connectors"}:
            raise ConfigurationError(
                key, f"{where} must be {{'regions': ..., 'connectors': [...]}}"
            )
        regions = entry["regions"]
        if regions == "*":
            served = None
        elif isinstance(regions, list | tuple) and regions:
            for region in regions:
                if not isinstance(region, str) or region not in phonenumbers.SUPPORTED_REGIONS:
                    raise ConfigurationError(
                        key, f"{where}: {region!r} is not an ISO 3166 region code such as 'CN'"
                    )
            served = frozenset(regions)
        else:
            raise ConfigurationError(key, f"{where}: 'regions' must be '*' or a list of regions")
        names = entry["connectors"]
        if (
            not isinstance(names, list | tuple)
            or not names
            or not all(isinstance(n, str) for n in names)
        ):
            raise ConfigurationError(key, f"{where}: 'connectors' must list connector names")
        if len(set(names)) != len(names):
            raise ConfigurationError(key, f"{where} names a connector twice")
        found.append(Route(served, tuple(names)))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class CircuitSettings:
    """A connector that failed ``failures`` times in a row is skipped for ``cool_off`` s."""

    enabled: bool = True
    failures: int = 5
    cool_off: int = 60


def circuit_breaker(key: str, value: Any) -> CircuitSettings:
    """``False`` (off), or ``{"failures": 5, "cool_off": 60}`` (each optional) or its JSON."""
    value = _json_or_value(key, value)
    if value is False or value is None:
        return CircuitSettings(enabled=False)
    if value is True:
        return CircuitSettings()
    if not isinstance(value, Mapping) or not set(value) <= {"failures", "cool_off"}:
        raise ConfigurationError(key, "must be False or {'failures': ..., 'cool_off': ...}")
    defaults = CircuitSettings()
    return CircuitSettings(
        failures=integer(1, 1000)(f"{key}['failures']", value.get("failures", defaults.failures)),
        cool_off=integer(1, 86400)(f"{key}['cool_off']", value.get("cool_off", defaults.cool_off)),
    )


def _json_or_value(key: str, value: Any) -> Any:
    """A value given as JSON text (from the environment) read; ``"false"`` is ``False``."""
    if isinstance(value, bytes):
        value = value.decode()
    if not isinstance(value, str):
        return value
    if value.strip().lower() in _FALSE:
        return False
    if not value.strip():
        return None
    return _json_text(key, value)


def _json_text(key: str, value: Any) -> Any:
    """A value given as JSON text (from the environment) read; any other value as it is."""
    if not isinstance(value, str | bytes):
        return value
    try:
        return json.loads(value)
    except ValueError as exc:
        raise ConfigurationError(key, f"is not valid JSON ({exc.args[0]})") from None


#: The bot-check providers (:mod:`.captcha`) and when their check is asked.
CAPTCHA_PROVIDERS = ("turnstile", "hcaptcha", "recaptcha")
CAPTCHA_WHEN = ("always", "guard", "never")
_CAPTCHA_COMMON = frozenset({"provider", "site_key", "secret", "when", "endpoint"})
_CAPTCHA_RECAPTCHA = frozenset({"min_score", "action", "project_id", "version"})
_PROJECT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")


@dataclass(frozen=True, slots=True)
class CaptchaConfig:
    """``SMS_OTP_CAPTCHA`` read: which provider's widget, its keys, and when it is asked.
    ``repr`` leaves the secret out, so a logged or printed config cannot show it."""

    provider: str
    site_key: str
    secret: str = field(repr=False)
    when: str = "always"
    #: The verification URL instead of the provider's (a proxy, a test's fake).
    endpoint: str | None = None
    #: reCAPTCHA: the lowest score (v3, Enterprise) that passes.
    min_score: float = 0.5
    #: reCAPTCHA: the action the token must carry; ``None`` checks none.
    action: str | None = None
    #: reCAPTCHA Enterprise: the Google Cloud project (``secret`` is then an API key).
    project_id: str | None = None
    #: reCAPTCHA: 2 (the checkbox widget) or 3 (invisible, scored; Enterprise score keys).
    version: int = 3

    @property
    def enterprise(self) -> bool:
        return self.project_id is not None


def captcha(key: str, value: Any) -> CaptchaConfig | None:
    """``None``, or a dict (or its JSON text) with ``provider``, ``site_key``, ``secret`` and
    optional ``when`` and ``endpoint``; reCAPTCHA also takes ``min_score``, ``action``,
    ``project_id`` (Enterprise) and ``version``. Unknown keys are refused: a misspelt one
    would silently change nothing."""
    if value in (None, ""):
        return None
    value = _json_text(key, value)
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            key, "must be None or a dict with 'provider', 'site_key' and 'secret'"
        )
    provider = value.get("provider")
    if provider not in CAPTCHA_PROVIDERS:
        raise ConfigurationError(
            key,
            f"'provider' must be one of {', '.join(map(repr, CAPTCHA_PROVIDERS))}, "
            f"got {provider!r}",
        )
    allowed = _CAPTCHA_COMMON | (_CAPTCHA_RECAPTCHA if provider == "recaptcha" else set())
    unknown = sorted(map(str, set(value) - allowed))
    if unknown:
        raise ConfigurationError(
            key, f"unknown keys for {provider!r}: {', '.join(map(repr, unknown))}"
        )
    when = value.get("when", "always")
    if when not in CAPTCHA_WHEN:
        raise ConfigurationError(
            key, f"'when' must be one of {', '.join(map(repr, CAPTCHA_WHEN))}, got {when!r}"
        )
    project_id = _captcha_text(key, value, "project_id", required=False)
    if project_id is not None and not _PROJECT_ID.fullmatch(project_id):
        raise ConfigurationError(
            key, f"'project_id' is not a Google Cloud project id: {project_id!r}"
        )
    min_score = value.get("min_score", 0.5)
    if (
        isinstance(min_score, bool)
        or not isinstance(min_score, int | float)
        or not 0 <= min_score <= 1
    ):
        raise ConfigurationError(
            key, f"'min_score' must be a number from 0 to 1, got {min_score!r}"
        )
    version = value.get("version", 3)
    if version not in (2, 3) or isinstance(version, bool):
        raise ConfigurationError(key, f"'version' must be 2 or 3, got {version!r}")
    return CaptchaConfig(
        provider=str(provider),
        site_key=str(_captcha_text(key, value, "site_key")),
        secret=str(_captcha_text(key, value, "secret", shown=False)),
        when=str(when),
        endpoint=_captcha_endpoint(key, value.get("endpoint")),
        min_score=float(min_score),
        action=_captcha_text(key, value, "action", required=False),
        project_id=project_id,
        version=int(version),
    )


def _captcha_text(
    key: str, value: Mapping[str, Any], name: str, *, required: bool = True, shown: bool = True
) -> str | None:
    text = value.get(name)
    if text is None and not required:
        return None
    if not isinstance(text, str) or not text.strip() or text != text.strip():
        got = f", got {text!r}" if shown else ""
        raise ConfigurationError(key, f"{name!r} must be a non-empty string{got}")
    return text


def _captcha_endpoint(key: str, value: Any) -> str | None:
    if value is None:
        return None
    try:
        parts = urlsplit(value) if isinstance(value, str) else None
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(key, f"'endpoint' must be an http(s) URL, got {value!r}")
    return str(value)
