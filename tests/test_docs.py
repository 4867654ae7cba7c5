"""The configuration reference against the table of options, ``settings.OPTIONS``.

Every key of the table must be documented exactly once as a ``data`` directive somewhere
under docs/ (MyST ```` ```{data} SMS_OTP_... ```` or reST ``.. data:: SMS_OTP_...``), whose
body has one line ``Default: `<Python literal>``` (``Default: ``...```` in reST) equal to the
key's default. The literal is read with :func:`ast.literal_eval` and compared by ``repr``, so
quoting and spacing may differ but ``1`` vs ``True`` or a list vs a tuple may not.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from flask_sms_otp.settings import OPTIONS, Option

DOCS = Path(__file__).resolve().parent.parent / "docs"
TABLE = {option.key: option for option in OPTIONS}

#: ```{data} NAME ... ``` or :::{data} NAME ... ::: (MyST), body up to the closing fence.
_MYST_DATA = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{(?:py:)?data\}[ \t]+(?P<name>\S+)[ \t]*\n"
    r"(?P<body>.*?)^(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
#: .. data:: NAME (reST), body = the following blank or indented lines.
_RST_DATA = re.compile(
    r"^\.\. (?:py:)?data:: (?P<name>\S+)[ \t]*\n(?P<body>(?:[ \t]*\n|[ \t]+\S.*\n?)*)",
    re.MULTILINE,
)
_DEFAULT_LINE = re.compile(r"^[ \t]*Default:[ \t]*(?P<ticks>`+)(?P<value>.+?)(?P=ticks)[ \t.]*$")
#: Names in the docs that look like config keys but are the test suite's environment variables.
NOT_CONFIG_KEYS = frozenset({"SMS_OTP_TEST_POSTGRES_URI", "SMS_OTP_REQUIRE_SERVICES"})
#: A config key named anywhere, also as an environment variable (FLASK_SMS_OTP_...).
_KEY_MENTION = re.compile(r"(?<![A-Za-z0-9_])(?:FLASK_)?(SMS_OTP_[A-Z0-9_]+)(?![A-Za-z0-9_*])")


@dataclass(frozen=True)
class Documented:
    name: str
    defaults: tuple[str, ...]  # the literal of every "Default:" line in its body
    where: str


def parse(text: str, where: str) -> list[Documented]:
    """The ``data`` directives in one page's text."""
    found = []
    for pattern in (_MYST_DATA, _RST_DATA):
        for match in pattern.finditer(text):
            values = tuple(
                default.group("value").strip()
                for line in match.group("body").splitlines()
                if (default := _DEFAULT_LINE.match(line))
            )
            line_no = text.count("\n", 0, match.start()) + 1
            found.append(Documented(match.group("name"), values, f"{where}:{line_no}"))
    return found


def doc_pages() -> list[Path]:
    return sorted(
        path
        for path in DOCS.rglob("*")
        if path.suffix in {".md", ".rst"} and "_build" not in path.relative_to(DOCS).parts
    )


def documented_keys() -> list[Documented]:
    return [
        entry
        for page in doc_pages()
        for entry in parse(page.read_text(encoding="utf-8"), str(page.relative_to(DOCS)))
        if entry.name.startswith("SMS_OTP_")
    ]


def canonical(literal: str) -> str:
    """``repr`` of a documented Python literal, or a message saying it is not one."""
    try:
        return repr(ast.literal_eval(literal))
    except (ValueError, SyntaxError):
        return f"<not a Python literal: {literal}>"


def test_the_parser_reads_myst_and_rest() -> None:
    myst = '```{data} SMS_OTP_A\nText.\n\nDefault: `"x"`\n```\n\n:::{py:data} SMS_OTP_B\n:::\n'
    rest = ".. data:: SMS_OTP_C\n\n    Text.\n\n    Default: ``(5.0, 10.0)``.\n\nAfter.\n"
    entries = parse(myst, "a.md") + parse(rest, "b.rst")
    assert [(e.name, e.defaults) for e in entries] == [
        ("SMS_OTP_A", ('"x"',)),
        ("SMS_OTP_B", ()),
        ("SMS_OTP_C", ("(5.0, 10.0)",)),
    ]
    assert canonical('"x"') == canonical("'x'") == repr("x")
    assert canonical("1") != canonical("True")
    assert canonical("[1]") != canonical("(1,)")


@pytest.mark.parametrize("option", OPTIONS, ids=lambda option: option.key)
def test_every_key_is_documented_with_its_default(option: Option) -> None:
    key = option.key
    entries = [entry for entry in documented_keys() if entry.name == key]
    assert entries, f"{key} is in the settings table but no docs page has a data directive for it"
    assert len(entries) == 1, f"{key} is documented more than once: " + ", ".join(
        entry.where for entry in entries
    )
    (entry,) = entries
    assert len(entry.defaults) == 1, (
        f"{entry.where}: {key} needs exactly one 'Default: `...`' line, has {len(entry.defaults)}"
    )
    assert canonical(entry.defaults[0]) == repr(option.default), (
        f"{entry.where}: {key} documents the default {entry.defaults[0]}, "
        f"the settings table has {option.default!r}"
    )


def test_no_unknown_key_is_documented() -> None:
    unknown = [
        f"{entry.where}: {entry.name}" for entry in documented_keys() if entry.name not in TABLE
    ]
    assert unknown == [], "documented keys that the settings table does not have"


def test_no_key_is_documented_twice() -> None:
    counts = Counter(entry.name for entry in documented_keys())
    assert [name for name, count in counts.items() if count > 1] == []


def test_every_key_the_docs_mention_exists() -> None:
    """A renamed or removed key must not live on in the prose."""
    stale = sorted(
        f"{page.relative_to(DOCS)}: {name}"
        for page in doc_pages()
        for name in set(_KEY_MENTION.findall(page.read_text(encoding="utf-8")))
        if name not in TABLE and name not in NOT_CONFIG_KEYS
    )
    assert stale == [], "the docs name keys that the settings table does not have"
