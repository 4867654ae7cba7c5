"""The catalogs are complete: every text in the code and templates is in each language's
``.po``, translated, with the same placeholders, and compiled into the ``.mo`` that ships.

The texts are extracted afresh from the sources here, with the keywords `make translations`
uses, so a new ``_("...")`` without a translation fails this file until the catalog has it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
#: The Makefile's BABEL_KEYWORDS, on top of Babel's defaults (``_``, ``gettext``, ``N_``...).
KEYWORDS: dict[str, Any] = {
    **DEFAULT_KEYWORDS,
    "_l": None,
    "gettext_noop": None,
    "_sms": None,
    "_sms_n": (1, 2),
    "_sms_html": None,
}
#: Every language besides English (the texts' own language) must be complete.
LANGUAGES = ("zh_Hans_CN",)


@dataclass(frozen=True)
class Domain:
    name: str
    source_dir: Path  # where extraction starts (mapping patterns are relative to it)
    mapping: Path
    catalog_dir: Path
    keywords: dict[str, Any]

    def po(self, language: str) -> Path:
        return self.catalog_dir / language / "LC_MESSAGES" / f"{self.name}.po"


DOMAINS = (
    Domain(
        "flask_sms_otp",
        ROOT,
        ROOT / "babel.cfg",
        ROOT / "flask_sms_otp" / "translations",
        KEYWORDS,
    ),
    Domain(
        "messages",
        ROOT / "example_app",
        ROOT / "example_app" / "babel.cfg",
        ROOT / "example_app" / "translations",
        dict(DEFAULT_KEYWORDS),
    ),
)


def extracted(domain: Domain) -> set[Any]:
    """The msgids in the sources now (a str, or a (singular, plural) tuple)."""
    with domain.mapping.open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    found: set[Any] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        domain.source_dir, method_map, options_map, keywords=domain.keywords
    ):
        found.add(message if isinstance(message, str) else tuple(message[:2]))
    return found


def read_catalog(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=language)


def problems(catalog: Catalog, wanted: Iterable[Any]) -> list[str]:
    """What makes ``catalog`` unfit to ship for the msgids ``wanted``, one line each."""
    found: list[str] = []
    ids = {message.id for message in catalog if message.id}
    for msgid in sorted(wanted, key=str):
        key = msgid if isinstance(msgid, str) else msgid[0]
        message = catalog.get(key)
        if message is None:
            found.append(f"missing: {msgid!r}")
        elif message.fuzzy:
            found.append(f"fuzzy (check the translation): {msgid!r}")
        elif not all(message.string) if isinstance(message.string, tuple) else not message.string:
            found.append(f"untranslated: {msgid!r}")
    keys = {m if isinstance(m, str) else m[0] for m in wanted}
    found += [f"not in the code any more: {msgid!r}" for msgid in ids if _key(msgid) not in keys]
    for message, errors in catalog.check():
        found += [f"{message.id!r}: {error}" for error in errors]
    for message in catalog:
        if not message.id or not message.string:
            continue
        wanted_names = placeholders(message.id)
        for string in _forms(message.string):
            if string and placeholders(string) != wanted_names:
                found.append(f"{message.id!r}: placeholders differ: {string!r}")
    return found


#: ``%(num)d`` for gettext, ``{{code}}`` for the SMS texts' Logto-style templates.
_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\{\s*\w+\s*\}\}")


def placeholders(text: Any) -> set[str]:
    """The variables ``text`` (a msgid, or a (singular, plural) pair) names."""
    found: set[str] = set()
    for form in _forms(text):
        found |= {re.sub(r"\s", "", name) for name in _PLACEHOLDER.findall(form)}
    return found


def _forms(text: Any) -> tuple[str, ...]:
    return (text,) if isinstance(text, str) else tuple(text)


def _key(msgid: Any) -> str:
    return msgid if isinstance(msgid, str) else str(msgid[0])


@pytest.mark.parametrize("domain", DOMAINS, ids=lambda d: d.name)
def test_template_lists_every_text_in_the_sources(domain: Domain) -> None:
    """The ``.pot`` is what `make translations` would write now."""
    pot = read_catalog(domain.catalog_dir / f"{domain.name}.pot")
    in_pot = {m.id if isinstance(m.id, str) else tuple(m.id) for m in pot if m.id}
    in_code = extracted(domain)
    assert in_code, "nothing was extracted: check the mapping"
    assert sorted(in_code - in_pot, key=str) == [], "run `make translations`: new texts"
    assert sorted(in_pot - in_code, key=str) == [], "run `make translations`: removed texts"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("domain", DOMAINS, ids=lambda d: d.name)
def test_every_text_is_translated(domain: Domain, language: str) -> None:
    catalog = read_catalog(domain.po(language), language)
    assert problems(catalog, extracted(domain)) == []


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("domain", DOMAINS, ids=lambda d: d.name)
def test_shipped_mo_is_compiled_from_the_po(domain: Domain, language: str) -> None:
    po = read_catalog(domain.po(language), language)
    with domain.po(language).with_suffix(".mo").open("rb") as file:
        mo = read_mo(file)
    compiled = {_key(m.id): _forms(m.string) for m in mo if m.id}
    written = {_key(m.id): _forms(m.string) for m in po if m.id and not m.fuzzy}
    assert compiled == written, "run `make translations` to compile the .po"


def test_the_check_catches_a_text_left_untranslated() -> None:
    """The checks above can fail: a missing, an empty, a fuzzy and a stale entry, and a
    translation that drops a placeholder, are each reported."""
    catalog = Catalog(locale="zh_Hans_CN")
    catalog.add("Sign in", "登录")
    catalog.add("Create account", "")
    catalog.add("Enter your code", "输入验证码", flags=["fuzzy"])
    catalog.add("Gone", "已删除")
    catalog.add("Use at most %(num)d characters.", "最多使用字符。", flags=["python-format"])
    catalog.add("Your code is {{code}}.", "您的验证码是 {{cod}}。")
    wanted = {
        "Sign in",
        "Create account",
        "Enter your code",
        "New",
        "Use at most %(num)d characters.",
        "Your code is {{code}}.",
    }
    assert problems(catalog, wanted) == [
        "untranslated: 'Create account'",
        "fuzzy (check the translation): 'Enter your code'",
        "missing: 'New'",
        "not in the code any more: 'Gone'",
        "'Use at most %(num)d characters.': placeholders differ: '最多使用字符。'",
        "'Your code is {{code}}.': placeholders differ: '您的验证码是 {{cod}}。'",
    ]
