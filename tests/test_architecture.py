"""The package's imports: no import circle, and no import from a lower layer to a higher one.

Every module of flask_sms_otp is parsed (not imported); its imports of other modules of the
package are collected at module level and inside functions alike (a late import is still an
import), leaving out those under ``if TYPE_CHECKING:``, which never run. Importing ``a.b``
also runs ``a/__init__.py`` first; that implicit import is not counted.
"""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterator, Mapping
from importlib.util import resolve_name
from pathlib import Path

import pytest

import flask_sms_otp

PACKAGE = Path(flask_sms_otp.__file__).parent

#: Each module's layer, by its path in the package. A module imports only modules of its own
#: layer or a lower one. A new module goes here, under the layer whose comment fits it.
LAYERS: dict[str, int] = {
    # 0 shared: config, errors, texts, numbers, models, signals, per-app state, limits
    "clock.py": 0,
    "config_parsers.py": 0,
    "errors.py": 0,
    "i18n.py": 0,
    "limits.py": 0,
    "models.py": 0,
    "phone.py": 0,
    "redaction.py": 0,
    "regions.py": 0,
    "settings.py": 0,
    "signals.py": 0,
    "sms_texts.py": 0,
    "state.py": 0,
    "texts.py": 0,
    "transaction.py": 0,
    "usage.py": 0,
    # 1 connectors: the SMS providers behind one contract, and their registry; the bot check
    "captcha.py": 1,
    "connectors/__init__.py": 1,
    "connectors/aliyun.py": 1,
    "connectors/base.py": 1,
    "connectors/console.py": 1,
    "connectors/gatewayapi.py": 1,
    "connectors/httpbase.py": 1,
    "connectors/memory.py": 1,
    "connectors/receipts.py": 1,
    "connectors/registry.py": 1,
    "connectors/smsaero.py": 1,
    "connectors/sns.py": 1,
    "connectors/templates.py": 1,
    "connectors/tencent.py": 1,
    "connectors/twilio.py": 1,
    "connectors/twilio_verify.py": 1,
    "connectors/vonage.py": 1,
    "connectors/webhook.py": 1,
    "connectors/whatsapp.py": 1,
    # 2 delivery: one SMS through the connector, its record, the background sender, notices,
    # the pumping guard that learns from the records, the routes over several connectors
    "delivery.py": 2,
    "guard.py": 2,
    "notices.py": 2,
    "records.py": 2,
    "routing.py": 2,
    "sender.py": 2,
    "verified_reports.py": 2,
    # 3 code engine: challenges, their codes and the per-number lockout; it sends nothing
    "challenges.py": 3,
    "codes.py": 3,
    "lockout.py": 3,
    # 4 dispatch: when and where a code is sent (it uses the engine, never the reverse)
    "dispatch.py": 4,
    # 5 flows: sign-up, sign-in, reset, account changes; the sessions and users they change;
    # what operators ask and do, and the audit trail of it
    "audit.py": 5,
    "devices.py": 5,
    "flows.py": 5,
    "operations.py": 5,
    "invitations.py": 5,
    "session_records.py": 5,
    "sessions.py": 5,
    "users.py": 5,
    # 6 front ends: HTML pages, JSON API, CLI, Celery task, helpers for the app's tests
    "admin.py": 6,
    "api.py": 6,
    "cli.py": 6,
    "forms.py": 6,
    "guards.py": 6,
    "headers.py": 6,
    "openapi.py": 6,
    "pytest_plugin.py": 6,
    "tasks.py": 6,
    "testing.py": 6,
    "views.py": 6,
    # 7 the extension that wires the layers together, and the package's public names
    "__init__.py": 7,
    "extension.py": 7,
}


def module_names(root: Path) -> dict[str, str]:
    """Dotted module name to path in the package, for every module under ``root``."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        parts = [root.name, *relative.with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = relative.as_posix()
    return names


class _Imports(ast.NodeVisitor):
    """The imports of one module, skipping the bodies of ``if TYPE_CHECKING:``."""

    def __init__(self, package: str) -> None:
        self.package = package  # what relative imports are relative to
        self.found: list[tuple[str, str | None, int]] = []  # (module, imported name, line)

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
        if name != "TYPE_CHECKING":
            for statement in node.body:
                self.visit(statement)
        for statement in node.orelse:
            self.visit(statement)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.extend((alias.name, None, node.lineno) for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = resolve_name("." * node.level + (node.module or ""), self.package)
        self.found.extend((base, alias.name, node.lineno) for alias in node.names)


def imports_of(source: str, module: str, modules: Mapping[str, str]) -> dict[str, int]:
    """The package modules that ``module`` (a dotted name) imports, with the first line
    of each: ``from x import y`` counts ``x.y`` when that is a module, else ``x``."""
    is_package = modules[module].endswith("__init__.py")
    visitor = _Imports(module if is_package else module.rpartition(".")[0])
    visitor.visit(ast.parse(source))
    found: dict[str, int] = {}
    for base, name, line in visitor.found:
        target = f"{base}.{name}" if f"{base}.{name}" in modules else base
        if target in modules and target != module:
            found.setdefault(modules[target], line)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, dict[str, int]]:
    """Each module's path to the paths it imports, with the line of each import."""
    modules = module_names(root)
    return {
        path: imports_of((root / path).read_text(encoding="utf-8"), name, modules)
        for name, path in modules.items()
    }


def edges(graph: Mapping[str, Mapping[str, int]]) -> Iterator[tuple[str, str, int]]:
    for importer, imported in sorted(graph.items()):
        for target, line in sorted(imported.items()):
            yield importer, target, line


def test_the_collector_sees_every_kind_of_import(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    for name in ("__init__", "a", "b", "c", "d", "e", "sub/__init__", "sub/f"):
        (root / f"{name}.py").touch()
    (root / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "import pkg.b\n"
        "from . import c, NAME_IN_INIT\n"
        "if TYPE_CHECKING:\n"
        "    from .d import D\n"
        "else:\n"
        "    from .sub.f import F\n"
        "def late():\n"
        "    from .e import E\n"
    )
    (root / "sub/f.py").write_text("from ..a import A\nfrom .. import sub\n")
    graph = import_graph(root)
    assert graph["a.py"] == {"b.py": 2, "c.py": 3, "__init__.py": 3, "sub/f.py": 7, "e.py": 9}
    assert graph["sub/f.py"] == {"a.py": 1, "sub/__init__.py": 2}


def test_every_module_has_a_layer() -> None:
    modules = set(import_graph())
    missing = sorted(modules - set(LAYERS))
    stale = sorted(set(LAYERS) - modules)
    assert not missing, f"add {', '.join(missing)} to LAYERS in {__file__}, under their layer"
    assert not stale, f"{', '.join(stale)} no longer exist: remove them from LAYERS in {__file__}"


def test_no_import_circle() -> None:
    graph = import_graph()
    sorter = graphlib.TopologicalSorter({path: set(imported) for path, imported in graph.items()})
    try:
        sorter.prepare()
    except graphlib.CycleError as error:
        cycle = reversed(error.args[1])  # graphlib lists each module before its importer
        pytest.fail("import circle: " + " imports ".join(cycle))


def test_no_import_from_a_lower_layer_to_a_higher_one() -> None:
    upward = [
        f"{importer}:{line} (layer {LAYERS[importer]}) imports {target} (layer {LAYERS[target]})"
        for importer, target, line in edges(import_graph())
        if importer in LAYERS and target in LAYERS and LAYERS[target] > LAYERS[importer]
    ]
    assert upward == [], "\n".join(upward)


#: What no module of layer 1 may import: it runs without a request (workers, threads).
WEB_LAYER = ("flask", "flask_babel", "flask_sms_otp.i18n", "werkzeug.local", "werkzeug.wrappers")


@pytest.mark.parametrize("path", sorted(p for p, layer in LAYERS.items() if layer == 1))
def test_layer_1_imports_no_web_layer(path: str) -> None:
    modules = module_names(PACKAGE)
    name = next(name for name, where in modules.items() if where == path)
    visitor = _Imports(name if path.endswith("__init__.py") else name.rpartition(".")[0])
    visitor.visit(ast.parse((PACKAGE / path).read_text(encoding="utf-8")))
    imported = {module for module, _name, _line in visitor.found}
    assert imported  # the walk did see the module's imports
    bad = [m for m in imported if any(m == w or m.startswith(f"{w}.") for w in WEB_LAYER)]
    assert bad == []
