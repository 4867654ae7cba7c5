"""Translations of every user-facing text: pages, flashes, errors and the built-in SMS texts.

The catalogs are the package's own gettext domain (``flask_sms_otp``), so they never mix with
the app's ``messages`` domain. The locale is Flask-Babel's: the app's locale selector when it
set one, else :func:`select_locale` (the request's ``Accept-Language``). Whatever the app
names its Chinese locale (``zh``, ``zh_CN``, ``zh_Hans``), the ``zh_Hans_CN`` catalog serves it.

SMS texts may be rendered where there is no request (a Celery worker, a send after the
response), so a message carries its locale and :func:`translate` takes it explicitly.
"""

from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.dates import format_datetime
from babel.support import NullTranslations, Translations
from flask import current_app, has_app_context, has_request_context, request
from flask_babel import get_locale, get_timezone
from flask_babel.speaklater import LazyString
from markupsafe import Markup

DOMAIN = "flask_sms_otp"
TRANSLATIONS_DIR = Path(__file__).parent / "translations"
#: The language the texts are written in (the msgids); it needs no catalog.
SOURCE_LOCALE = "en"
#: How many of ``Accept-Language``'s entries, by quality, are tried.
MAX_ACCEPTED_LANGUAGES = 10


@functools.cache
def catalogs() -> tuple[str, ...]:
    """The locales with a compiled catalog in the package, e.g. ``("zh_Hans_CN",)``."""
    found = TRANSLATIONS_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.mo")
    return tuple(sorted(path.parent.parent.name for path in found))


def available_locales() -> tuple[str, ...]:
    """Every locale these texts exist in: English and each catalog."""
    return (SOURCE_LOCALE, *catalogs())


def parse_locale(value: str | Locale | None) -> Locale | None:
    """``value`` (``zh-CN``, ``zh_Hans_CN``, a Locale) as a Locale, or None if it is not one."""
    if value is None or isinstance(value, Locale):
        return value
    try:
        return Locale.parse(value.strip().replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return None


def best_locale(value: str | Locale | None) -> str | None:
    """The available locale that serves ``value``: the same language in the same script.

    ``zh``, ``zh-CN`` and ``zh-Hans`` get ``zh_Hans_CN``; ``zh-TW`` (Traditional) gets None;
    ``en-GB`` gets ``en``. Among several matches the same territory wins.
    """
    wanted = parse_locale(value)
    if wanted is None:
        return None
    best: tuple[int, str] | None = None
    for name in available_locales():
        candidate = Locale.parse(name)
        if candidate.language != wanted.language or _script(candidate) != _script(wanted):
            continue
        score = 2 if str(candidate) == str(wanted) else int(candidate.territory == wanted.territory)
        if best is None or score > best[0]:
            best = (score, name)
    return best[1] if best else None


def likely_locale(locale: Locale) -> Locale:
    """The language's most likely full form (``zh`` is ``zh_Hans_CN``), from CLDR."""
    return parse_locale(get_global("likely_subtags").get(locale.language)) or locale


def _script(locale: Locale) -> str | None:
    return locale.script or likely_locale(locale).script


def select_locale() -> str | None:
    """Flask-Babel locale selector used when the app has none: the first language in the
    request's ``Accept-Language`` (by quality) that these texts exist in."""
    if not has_request_context():
        return None
    # A header may list hundreds of tags; a person's preferences are the first few.
    for tag, _quality in list(request.accept_languages)[:MAX_ACCEPTED_LANGUAGES]:
        match = best_locale(tag)
        if match is not None:
            return match
    return None


def current_locale() -> Locale | None:
    """The locale Flask-Babel chose for this request or app context, if any."""
    if not has_app_context() or "babel" not in current_app.extensions:
        return None
    locale: Locale | None = get_locale()
    return locale


def message_locale() -> str | None:
    """The current locale as a BCP 47 tag (``zh-Hans-CN``), for SMS messages."""
    locale = current_locale()
    return str(locale).replace("_", "-") if locale is not None else None


def page_language() -> str:
    """The language the package's texts are shown in now, as a BCP 47 tag for ``<html
    lang>``: the catalog serving the current locale, else English."""
    locale = current_locale()
    served = best_locale(locale) if locale is not None else None
    return (served or SOURCE_LOCALE).replace("_", "-")


@functools.cache
def translations(locale: str | None) -> NullTranslations:
    """The package's catalog for ``locale`` (any spelling), or no-op translations."""
    name = best_locale(locale)
    if name is None or name == SOURCE_LOCALE:
        return NullTranslations()
    path = TRANSLATIONS_DIR / name / "LC_MESSAGES" / f"{DOMAIN}.mo"
    with path.open("rb") as catalog:
        return Translations(catalog, domain=DOMAIN)


def translate(locale: str | None, string: str, **variables: Any) -> str:
    """``string`` in ``locale`` (a tag such as ``zh-CN``), with ``%(name)s`` variables."""
    text = translations(locale).gettext(string)
    return text % variables if variables else text


def _current_translations() -> NullTranslations:
    locale = current_locale()
    return translations(str(locale) if locale is not None else None)


def gettext(string: str, **variables: Any) -> str:
    """``string`` in the current request's locale, with ``%(name)s`` variables."""
    text = _current_translations().gettext(string)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    """The singular or plural form for ``num`` (``%(num)d`` in the text), translated."""
    text = _current_translations().ngettext(singular, plural, num)
    return text % {"num": num, **variables}


def gettext_html(string: str, **variables: Any) -> Markup:
    """:func:`gettext` for a sentence holding markup: the translated text is escaped, then
    each variable goes in escaped unless it is already ``Markup`` (a ``<strong>`` number)."""
    text = Markup.escape(_current_translations().gettext(string))
    return text % variables if variables else text


def format_moment(moment: datetime) -> str:
    """A date and time as the page's language writes it ("Jan 1, 2026, 12:05:00 PM",
    "2026年1月1日 12:05:00"), in the app's time zone (Flask-Babel's, UTC by default)."""
    locale = page_language().replace("-", "_")
    return str(format_datetime(moment, "medium", tzinfo=get_timezone(), locale=locale))


def gettext_noop(string: str) -> str:
    """Mark ``string`` for the catalog where another library translates it later."""
    return string


def lazy_gettext(string: str, **variables: Any) -> LazyString:
    """:func:`gettext` when the text is used, not when it is defined (form labels)."""
    return LazyString(gettext, string, **variables)
