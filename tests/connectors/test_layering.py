"""Connectors sit below the web layer: they run in Celery workers and background threads,
where there is no request, and third parties copy them. No module of the connectors package
may import Flask, Flask-Babel, werkzeug's request state or the package's i18n module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import flask_sms_otp.connectors

PACKAGE = Path(flask_sms_otp.connectors.__file__).parent
MODULES = sorted(PACKAGE.glob("*.py"))
FORBIDDEN = ("flask", "flask_babel", "flask_sms_otp.i18n", "werkzeug.local", "werkzeug.wrappers")


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved against the package."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "flask_sms_otp.connectors".split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def forbidden(name: str) -> bool:
    return any(name == bad or name.startswith(f"{bad}.") for bad in FORBIDDEN)


def test_every_connector_module_is_checked() -> None:
    names = {path.stem for path in MODULES}
    assert {"base", "httpbase", "webhook", "console", "memory", "templates", "twilio"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_connectors_import_no_web_layer(path: Path) -> None:
    imports = imported_modules(path)
    assert imports  # the walk did see the module's imports
    assert sorted(name for name in imports if forbidden(name)) == []


def test_the_check_sees_relative_and_absolute_imports(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text(
        "from ..i18n import translate\nimport flask_babel\nfrom flask import request\n"
        "from werkzeug.local import LocalProxy\nfrom .base import SmsConnector\n"
    )
    bad = sorted(name for name in imported_modules(module) if forbidden(name))
    assert bad == [
        "flask",
        "flask.request",
        "flask_babel",
        "flask_sms_otp.i18n",
        "flask_sms_otp.i18n.translate",
        "werkzeug.local",
        "werkzeug.local.LocalProxy",
    ]
