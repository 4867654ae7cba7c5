"""The distributions: the wheel and the sdist, built here with the project's own build backend.

The wheel declares the licence (PEP 639) and carries its text; the sdist carries the licence
and every file the test suite reads from the source tree, so that its own tests pass; the
version in the metadata is ``flask_sms_otp.__version__``.
"""

from __future__ import annotations

import tarfile
import zipfile
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from pathlib import Path

import pytest
from flit_core import buildapi

import flask_sms_otp

ROOT = Path(__file__).resolve().parent.parent
#: Read by the tests from the source tree besides tests/ itself: the catalogs' extraction
#: mappings (tests/test_translations.py) and the pytest configuration.
READ_BY_TESTS = ("pyproject.toml", "babel.cfg", "example_app/babel.cfg")
#: Apps the tests import from the source tree (they are not part of the package).
IMPORTED_BY_TESTS = ("example_app", "examples")


@dataclass(frozen=True)
class Built:
    wheel: Path
    sdist: Path

    def wheel_metadata(self) -> Message:
        with zipfile.ZipFile(self.wheel) as wheel:
            (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
            return BytesParser().parsebytes(wheel.read(name))

    def wheel_names(self) -> list[str]:
        with zipfile.ZipFile(self.wheel) as wheel:
            return wheel.namelist()

    def sdist_files(self) -> set[str]:
        """The sdist's file names, without the leading ``<name>-<version>/``."""
        with tarfile.open(self.sdist) as sdist:
            return {m.name.split("/", 1)[1] for m in sdist.getmembers() if m.isfile()}

    def sdist_read(self, name: str) -> bytes:
        with tarfile.open(self.sdist) as sdist:
            (member,) = [m for m in sdist.getmembers() if m.name.split("/", 1)[-1] == name]
            file = sdist.extractfile(member)
            assert file is not None
            return file.read()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    out = tmp_path_factory.mktemp("dist")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(ROOT)  # the backend reads ./pyproject.toml
        wheel = out / str(buildapi.build_wheel(str(out)))
        sdist = out / str(buildapi.build_sdist(str(out)))
    return Built(wheel, sdist)


def test_wheel_metadata_declares_the_licence(built: Built) -> None:
    metadata = built.wheel_metadata()
    assert metadata["License-Expression"] == "BSD-3-Clause"
    assert metadata.get_all("License-File") == ["LICENSE"]
    # PEP 639: no licence classifier beside the expression.
    assert [c for c in metadata.get_all("Classifier", []) if c.startswith("License ::")] == []


def test_licence_text_is_in_the_wheel_and_the_sdist(built: Built) -> None:
    text = (ROOT / "LICENSE").read_bytes()
    assert b"BSD 3-Clause License" in text
    assert b"2026 flask-sms-otp contributors" in text
    licences = [n for n in built.wheel_names() if n.endswith(".dist-info/licenses/LICENSE")]
    assert len(licences) == 1
    with zipfile.ZipFile(built.wheel) as wheel:
        assert wheel.read(licences[0]) == text
    assert built.sdist_read("LICENSE") == text


def test_sdist_has_what_the_tests_read(built: Built) -> None:
    files = built.sdist_files()
    wanted = {
        *READ_BY_TESTS,
        *(p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("*.py")),
        *(
            p.relative_to(ROOT).as_posix()
            for folder in IMPORTED_BY_TESTS
            for p in (ROOT / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        ),
        # tests/test_docs.py reads every page.
        *(
            p.relative_to(ROOT).as_posix()
            for p in (ROOT / "docs").rglob("*")
            if p.suffix in {".md", ".rst"} and "_build" not in p.relative_to(ROOT).parts
        ),
        # tests/test_translations.py reads the catalogs of both domains.
        *(p.relative_to(ROOT).as_posix() for p in ROOT.glob("*/translations/**/*.[pm]o*")),
    }
    assert sorted(wanted - files) == []


def test_version_is_the_package_version(built: Built) -> None:
    assert built.wheel_metadata()["Version"] == flask_sms_otp.__version__
    pkg_info = BytesParser().parsebytes(built.sdist_read("PKG-INFO"))
    assert pkg_info["Version"] == flask_sms_otp.__version__
    assert built.sdist.name == f"flask_sms_otp-{flask_sms_otp.__version__}.tar.gz"
