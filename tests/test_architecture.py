"""The package's structure: imports point one way, and the layering is enforced by a tool."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .import_graph import PACKAGE, read_graph

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_the_package_has_no_import_cycles_counting_imports_inside_functions():
    graph = read_graph()
    assert len(graph.modules) > 50
    assert graph.cycles() == []


def test_no_module_takes_a_private_name_from_another():
    assert read_graph().private == []


def test_the_graph_reader_sees_a_cycle_made_by_an_import_inside_a_function(tmp_path):
    package = tmp_path / "pytest_modelgate"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pytest_modelgate.b import g\n")
    (package / "b.py").write_text("from pytest_modelgate import a\nfrom .a import _hidden\n")
    graph = read_graph(package)
    assert graph.cycles() == [["pytest_modelgate.a", "pytest_modelgate.b"]]
    assert graph.private == ["pytest_modelgate.b:2 takes pytest_modelgate.a._hidden"]


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_import_linter_keeps_every_contract():
    done = _lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_import_linter_fails_when_a_lower_layer_imports_a_higher_one(tmp_path):
    shutil.copytree(PACKAGE, tmp_path / "pytest_modelgate")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    stats = tmp_path / "pytest_modelgate" / "stats" / "bootstrap.py"
    stats.write_text(
        stats.read_text() + "\n\ndef _up():\n    from pytest_modelgate.report import build\n"
    )
    done = _lint_imports(tmp_path)
    assert done.returncode != 0
    assert "Stages import only the stages below them BROKEN" in done.stdout
    assert "pytest_modelgate.stats.bootstrap -> pytest_modelgate.report.build" in done.stdout


@pytest.mark.parametrize("module", ["pytest_modelgate.serving.service", "service.service"])
def test_the_service_lives_in_the_package_and_the_repository_entry_only_imports_it(module):
    text = (REPO / (module.replace(".", "/") + ".py")).read_text()
    if module.startswith("service."):
        assert len(text.splitlines()) <= 6
        assert "from pytest_modelgate.serving.service import ModelGate" in text
    else:
        assert "@bentoml.service" in text
