"""The countries a person may pick beside a phone number, and the one picked for them.

Names come from Babel's CLDR data in the page's language, dial codes and number shapes from
phonenumbers; nothing here is written by hand. The list is the regions whose numbers the
policy accepts: ``SMS_OTP_ALLOWED_REGIONS`` (every region phonenumbers knows mobile numbers
of when unset) minus ``SMS_OTP_BLOCKED_REGIONS``.

Sorting without ICU: by the name with its accents taken off, casefolded ("Åland Islands"
among the A's, "Türkiye" among the T's), which is dictionary order for Latin scripts. Han
names (Chinese) then sort by code point, which in the Unicode Han block is radical-and-stroke
order, a traditional dictionary order (not pinyin, which needs ICU's collation data).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
from babel import Locale
from flask import has_request_context, request
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from .i18n import MAX_ACCEPTED_LANGUAGES, page_language, parse_locale
from .settings import Settings

_MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


@dataclass(frozen=True, slots=True)
class Region:
    """One choice of the country selector."""

    #: ISO 3166 code, e.g. ``"GB"``: the value posted as ``region``.
    code: str
    #: The name in the page's language, e.g. ``"United Kingdom"``, ``"英国"``.
    name: str
    #: The country calling code, e.g. ``44``.
    dial_code: int
    #: The shape of a national mobile number, a ``#`` per digit: ``"##### ######"``
    #: (from phonenumbers' example number); empty when phonenumbers has none.
    pattern: str
    #: The national (trunk) prefix that ``pattern`` starts with (``"0"`` in GB), if any.
    trunk_prefix: str
    #: ``pattern`` without the trunk prefix, for a number typed without it.
    short_pattern: str

    @property
    def label(self) -> str:
        """``United Kingdom (+44)``."""
        return f"{self.name} (+{self.dial_code})"


def mobile_regions() -> frozenset[str]:
    """Every region phonenumbers knows mobile numbers of."""
    return _mobile_regions()


@functools.cache
def _mobile_regions() -> frozenset[str]:
    return frozenset(
        region
        for region in phonenumbers.SUPPORTED_REGIONS
        if any(kind in phonenumbers.supported_types_for_region(region) for kind in _MOBILE_TYPES)
    )


def selectable_codes(settings: Settings) -> frozenset[str]:
    """The ISO codes of the regions the policy accepts numbers of."""
    codes = mobile_regions() if settings.allowed_regions is None else settings.allowed_regions
    return frozenset(codes & mobile_regions()) - (settings.blocked_regions or frozenset())


def selectable(settings: Settings, locale: str | None = None) -> tuple[Region, ...]:
    """The selector's regions, named in ``locale`` (default: the page's language), sorted
    by name in it."""
    return _regions(selectable_codes(settings), locale or page_language())


@functools.lru_cache(maxsize=64)
def _regions(codes: frozenset[str], locale: str) -> tuple[Region, ...]:
    names = Locale.parse(locale.replace("-", "_")).territories
    regions = [_region(code, names.get(code, code)) for code in codes]
    return tuple(sorted(regions, key=lambda region: (_sort_key(region.name), region.code)))


def _region(code: str, name: str) -> Region:
    pattern = trunk = short = ""
    example = next(
        (
            number
            for kind in _MOBILE_TYPES
            if (number := phonenumbers.example_number_for_type(code, kind)) is not None
        ),
        None,
    )
    if example is not None:
        national = phonenumbers.format_number(example, PhoneNumberFormat.NATIONAL)
        pattern = re.sub(r"\d", "#", national)
        digits = re.sub(r"\D", "", national)
        significant = phonenumbers.national_significant_number(example)
        if digits != significant and digits.endswith(significant):
            trunk = digits[: -len(significant)]
            short = pattern.replace("#", "", len(trunk)).lstrip(" -")
    return Region(
        code=code,
        name=name,
        dial_code=phonenumbers.country_code_for_region(code),
        pattern=pattern,
        trunk_prefix=trunk,
        short_pattern=short,
    )


def _sort_key(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def preselected(settings: Settings) -> str | None:
    """The region picked before the person picks: the territory of the request's most
    preferred language that names one (``Accept-Language: en-GB`` is GB), when selectable;
    else ``SMS_OTP_DEFAULT_REGION`` when selectable; else none (a number then needs its
    ``+`` code)."""
    codes = selectable_codes(settings)
    territory = _accept_language_territory()
    if territory in codes:
        return territory
    if settings.default_region in codes:
        return settings.default_region
    return None


def _accept_language_territory() -> str | None:
    if not has_request_context():
        return None
    for tag, _quality in list(request.accept_languages)[:MAX_ACCEPTED_LANGUAGES]:
        locale = parse_locale(tag)
        if locale is not None and locale.territory:
            return str(locale.territory)
    return None
