"""Template lookup and ``{{var}}`` rendering with Logto's semantics (providers.md §1.3, §1.4).

Lookup is the exact usage type, then ``Generic``, else :class:`TemplateNotFound`, for every
connector (Logto's SMS Aero and Tencent connectors skip the fallback; we do not).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import ConfigurationError, TemplateNotFound
from ..usage import Usage
from .base import CONFIG_KEY

#: Usage types every template-based connector's config must cover, as Logto requires.
REQUIRED_USAGES: tuple[str, ...] = (
    Usage.REGISTER,
    Usage.SIGN_IN,
    Usage.FORGOT_PASSWORD,
    Usage.GENERIC,
)

_PURPOSES = {
    Usage.SIGN_IN: "sign-in verification",
    Usage.REGISTER: "sign-up verification",
    Usage.FORGOT_PASSWORD: "password change verification",
    Usage.ORGANIZATION_INVITATION: "organization invitation",
    Usage.GENERIC: "verification",
    Usage.USER_PERMISSION_VALIDATION: "permission validation",
    Usage.BIND_NEW_IDENTIFIER: "new identifier binding",
    Usage.MFA_VERIFICATION: "MFA verification",
    Usage.BIND_MFA: "2-step verification setup",
}

#: Built-in texts (Logto's defaults, without its brand and with the real lifetime), used by
#: the console and memory connectors when the config has no ``templates``.
DEFAULT_TEXTS: dict[str, str] = {
    str(usage): f"Your {purpose} code is {{{{code}}}}. "
    "The code will remain active for {{minutes}} minutes."
    for usage, purpose in _PURPOSES.items()
}

#: Built-in texts of the security notices (flask_sms_otp.notices), which carry no code.
NOTICE_TEXTS: dict[str, str] = {
    "PasswordChanged": "Your password was changed. If this was not you, reset it now.",
    "PhoneChanged": "This number was removed from your account. If this was not you, "
    "contact support.",
    "MfaFailed": "Someone entered your password but not the code we sent. If this was not "
    "you, change your password.",
}

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")


def find_template(templates: Sequence[Mapping[str, Any]] | None, usage: str) -> Mapping[str, Any]:
    """The template whose ``usageType`` equals ``usage``, else the ``Generic`` one."""
    by_usage = {t.get("usageType"): t for t in templates or ()}
    template = by_usage.get(usage) or by_usage.get(Usage.GENERIC.value)
    if template is None:
        raise TemplateNotFound(usage)
    return template


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
    present = {t["usageType"] for t in templates}
    missing = [usage for usage in required if usage not in present]
    if missing:
        raise ConfigurationError(key, "missing templates for usage types: " + ", ".join(missing))
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


def text_for(message_usage: str, payload: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """Text for connectors whose templates are optional (console, memory): the config's
    templates when given, else the built-in default for the usage type."""
    templates = config.get("templates")
    if templates:
        content = find_template(templates, message_usage)["content"]
    else:
        content = DEFAULT_TEXTS.get(message_usage) or NOTICE_TEXTS.get(
            message_usage, DEFAULT_TEXTS[Usage.GENERIC.value]
        )
    return render(str(content), payload)


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
