"""Template lookup and ``{{var}}`` rendering with Logto's semantics (providers.md §1.3, §1.4).

Lookup is the exact usage type, then ``Generic``, else :class:`TemplateNotFound`, for every
connector (Logto's SMS Aero and Tencent connectors skip the fallback; we do not). A template
may carry a ``locale`` (our addition to Logto's format): it is picked first for messages in
that language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.core import get_global

from ..errors import ConfigurationError, TemplateNotFound
from ..sms_texts import source_text
from ..usage import Usage
from .base import CONFIG_KEY, SmsMessage

#: Usage types every template-based connector's config must cover, as Logto requires.
REQUIRED_USAGES: tuple[str, ...] = (
    Usage.REGISTER,
    Usage.SIGN_IN,
    Usage.FORGOT_PASSWORD,
    Usage.GENERIC,
)

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")


def find_template(
    templates: Sequence[Mapping[str, Any]] | None, usage: str, locale: str | None = None
) -> Mapping[str, Any]:
    """The template for ``usage`` in ``locale``: the usage type's template for that language,
    else ``Generic``'s for that language, else the locale-less usage type's, else the
    locale-less ``Generic``. The language counts before the purpose: a user who reads
    Chinese gets a Chinese generic text rather than an English specific one.

    A template's ``locale`` matches the message's language as closely as it can:
    ``zh-CN`` and ``zh`` both serve ``zh-Hans-CN``, ``zh-TW`` does not.
    """
    by_key: dict[tuple[Any, str | None], Mapping[str, Any]] = {}
    for template in templates or ():
        by_key[template.get("usageType"), _tag(template.get("locale"))] = template
    order = [
        *(
            (wanted, tag)
            for wanted in (usage, Usage.GENERIC.value)
            for tag in locale_candidates(locale)
        ),
        (usage, None),
        (Usage.GENERIC.value, None),
    ]
    for key in order:
        found = by_key.get(key)
        if found is not None:
            return found
    raise TemplateNotFound(usage)


def locale_candidates(locale: str | None) -> list[str]:
    """The lower-case tags that may serve ``locale``, closest first: ``zh-Hans-CN`` gives
    ``zh-hans-cn``, ``zh-cn``, ``zh-hans``, ``zh``; ``zh`` gives ``zh`` then the same list."""
    raw = _tag(locale)
    if raw is None:
        return []
    found = [raw]
    parsed = _parse_locale(raw)
    if parsed is not None:
        full = _likely_locale(parsed) if not (parsed.script or parsed.territory) else None
        for each in (parsed, full):
            if each is None:
                continue
            language, script, territory = each.language, each.script, each.territory
            for parts in (
                (language, script, territory),
                (language, territory),
                (language, script),
                (language,),
            ):
                if all(parts):
                    found.append("-".join(str(part) for part in parts).lower())
    else:
        found.append(raw.split("-")[0])
    return list(dict.fromkeys(found))


def _parse_locale(tag: str) -> Locale | None:
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return None


def _likely_locale(locale: Locale) -> Locale | None:
    """The language's most likely full form (``zh`` is ``zh_Hans_CN``), from CLDR."""
    likely = get_global("likely_subtags").get(locale.language)
    return _parse_locale(likely) if isinstance(likely, str) else None


def _tag(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().replace("_", "-").lower()


def render(content: str, payload: Mapping[str, Any]) -> str:
    """Replace ``{{ key }}`` / ``{{ a.b.0 }}`` placeholders as Logto does.

    An unknown root key leaves the placeholder untouched; a missing nested step or a null
    renders empty; other values render as JavaScript's ``String(value)`` would.
    """

    def replace(match: re.Match[str]) -> str:
        root, *rest = match.group(1).split(".")
        if root not in payload:
            return match.group(0)
        value: Any = payload[root]
        for step in rest:
            value = _step(value, step)
        return _js_string(value)

    return _PLACEHOLDER.sub(replace, content)


def validate_templates(
    config: Mapping[str, Any],
    *,
    fields: Iterable[str] = ("content",),
    required: Iterable[str] = REQUIRED_USAGES,
) -> list[dict[str, Any]]:
    """Check ``config["templates"]``: a list of objects with ``usageType`` and ``fields``,
    covering the ``required`` usage types. Return it; raise :class:`ConfigurationError`."""
    key = f"{CONFIG_KEY}.templates"
    templates = config.get("templates")
    if not isinstance(templates, list) or not templates:
        raise ConfigurationError(key, "is required: a list of {usageType, ...} objects")
    wanted = tuple(fields)
    for index, template in enumerate(templates):
        if not isinstance(template, Mapping):
            raise ConfigurationError(f"{key}[{index}]", "must be an object")
        for name in ("usageType", *wanted):
            value = template.get(name)
            if not isinstance(value, str) or not value:
                raise ConfigurationError(f"{key}[{index}].{name}", "is required (a string)")
        locale = template.get("locale")
        if locale is not None and (not isinstance(locale, str) or _tag(locale) is None):
            raise ConfigurationError(
                f"{key}[{index}].locale", "must be a language tag such as zh-CN, or absent"
            )
    # The locale-less templates are the fallback for every language, so they must be complete.
    present = {t["usageType"] for t in templates if _tag(t.get("locale")) is None}
    missing = [usage for usage in required if usage not in present]
    if missing:
        raise ConfigurationError(
            key, "missing templates (without a locale) for usage types: " + ", ".join(missing)
        )
    return [dict(t) for t in templates]


def _step(value: Any, step: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(step)
    if isinstance(value, list | tuple) and step.isdigit() and step.isascii():
        index = int(step)
        return value[index] if index < len(value) else None
    return None


def _js_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return ",".join("" if item is None else _js_string(item) for item in value)
    if isinstance(value, Mapping):
        return "[object Object]"
    return str(value)


def text_for(message: SmsMessage, config: Mapping[str, Any]) -> str:
    """Text for connectors whose templates are optional (console, memory): the config's
    templates when given, else the built-in text the delivery rendered in the message's
    language (:attr:`SmsMessage.text`), else, for a message made without the delivery, the
    English built-in text."""
    templates = config.get("templates")
    if templates:
        content = str(find_template(templates, message.usage, message.locale)["content"])
        return render(content, message.payload)
    if message.text is not None:
        return message.text
    return render(source_text(message.usage), message.payload)


# Template parameters (Aliyun, Tencent) ----------------------------------------------------

#: What a template-id connector sends when a template declares nothing: the code alone.
DEFAULT_TEMPLATE_PARAMS: tuple[str, ...] = ("code",)
_PARAM_NAME = re.compile(r"[A-Za-z0-9_]+")


def template_param_names(value: Any, field_name: str, *, distinct: bool) -> tuple[str, ...]:
    """A template's optional ``templateParams``: a non-empty list of variable names, in the
    order the provider's placeholders take them; ``("code",)`` when absent."""
    key = f"{CONFIG_KEY}.{field_name}"
    if value is None:
        return DEFAULT_TEMPLATE_PARAMS
    if not isinstance(value, list) or not value:
        raise ConfigurationError(key, "must be a non-empty list of variable names")
    for name in value:
        if not isinstance(name, str) or not _PARAM_NAME.fullmatch(name):
            raise ConfigurationError(key, f"{name!r} is not a variable name")
    if distinct and len(set(value)) != len(value):
        raise ConfigurationError(key, "names a variable twice")
    return tuple(value)


def declared_values(names: Sequence[str], payload: Mapping[str, Any]) -> list[str]:
    """The values of only the declared variables, as strings, in order (never the locale or
    anything else the payload holds)."""
    missing = [name for name in names if name not in payload]
    if missing:
        raise ConfigurationError(
            f"{CONFIG_KEY}.templates",
            f"templateParams names unknown variables {missing} "
            f"(available: {', '.join(sorted(payload))})",
        )
    return [str(payload[name]) for name in names]
