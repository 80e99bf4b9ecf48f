"""What the package brings to a user's repository: clear errors naming a missing extra, and
the bento plan (the user's bentofile honoured, the model's requirements first, the wheel)."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from pytest_modelgate.bento.bentofile import SERVICE, merged_requirements, planned_build
from pytest_modelgate.bento.wheel import build_wheel, extra_requirements

from .conftest import copy_column_model, eval_frame, write_suite

FAIRNESS_SUITE = """
model: m
data: {path: eval.csv}
target: y
sensitive: [a]
gates:
  fairness:
    metrics:
      demographic_parity_difference: {max: 0.1}
"""


def test_a_gate_whose_extra_is_not_installed_fails_collection_naming_the_extra(
    pytester, registry, monkeypatch
):
    model, X = copy_column_model("a")
    version = registry.register(model, "m", X)
    eval_frame(50, {"a": 0.1}).to_csv(pytester.path / "eval.csv", index=False)
    write_suite(pytester.path, FAIRNESS_SUITE)
    monkeypatch.setitem(sys.modules, "fairlearn", None)  # as if it were not installed
    result = pytester.runpytest(*registry.args("m", version))
    result.stdout.fnmatch_lines(
        [
            "*suite.yaml:6: gates.fairness: the fairness gate needs fairlearn, which is not "
            "installed: pip install 'pytest-modelgate[[]fairness[]]'*",
        ]
    )
    assert result.ret != 0


def test_promotion_without_bentoml_is_a_usage_error_naming_the_serve_extra(
    pytester, registry, monkeypatch
):
    model, X = copy_column_model("a")
    version = registry.register(model, "m", X)
    pytester.makepyfile("import pytest\n\n@pytest.mark.gate('g')\ndef test_g():\n    pass\n")
    monkeypatch.setitem(sys.modules, "bentoml", None)
    result = pytester.runpytest(*registry.args("m", version), "--promote", "staging")
    result.stderr.fnmatch_lines(
        [
            "*--promote staging (it builds the version's bento) needs bentoml, which is not "
            "installed: pip install 'pytest-modelgate[[]serve[]]'*"
        ]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_the_serve_extra_is_read_from_the_installed_metadata():
    serve = extra_requirements("serve")
    assert any(r.startswith("bentoml") for r in serve)
    assert not any(r.startswith("pytest-modelgate") for r in extra_requirements("load"))
    assert set(serve) <= set(extra_requirements("load"))  # load builds on serve


def test_the_models_own_pins_win_over_the_serving_ranges():
    merged = merged_requirements(
        ["# logged by MLflow", "mlflow==3.17.2", "pydantic==2.9.0", ""],
        ["bentoml>=1.4.39", "pydantic>=2.10"],
    )
    assert merged == ["mlflow==3.17.2", "pydantic==2.9.0", "bentoml>=1.4.39"]


def test_the_wheel_carries_the_package_its_data_and_its_entry_points(tmp_path):
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        record = archive.read(next(n for n in names if n.endswith(".dist-info/RECORD"))).decode()
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt")))
    for member in (
        "pytest_modelgate/serving/service.py",
        "pytest_modelgate/report/schemas/gate-report.schema.json",
        "pytest_modelgate/reference/data/german_credit.csv",
    ):
        assert member in names
    assert not any("__pycache__" in n for n in names)
    assert "pytest_modelgate/serving/service.py,sha256=" in record
    assert b"modelgate = pytest_modelgate.plugin.hooks" in entry_points


def test_a_users_bentofile_keeps_its_service_and_gains_the_requirements_and_the_wheel(tmp_path):
    own = tmp_path / "bentofile.yaml"
    own.write_text(
        yaml.safe_dump(
            {
                "service": "deploy.svc:Mine",
                "include": ["deploy/*.py"],
                "python": {"lock_packages": True},
            }
        )
    )
    with planned_build(own, ["scikit-learn==1.9.1"]) as plan:
        config = yaml.safe_load(plan.bentofile.read_text())
        assert plan.build_ctx == tmp_path
        work = Path(config["python"]["wheels"][0]).parent
        assert (
            (tmp_path / config["python"]["requirements_txt"])
            .read_text()
            .startswith("scikit-learn==1.9.1\n")
        )
        assert (tmp_path / config["python"]["wheels"][0]).is_file()
    assert config["service"] == "deploy.svc:Mine"
    assert config["include"] == ["deploy/*.py"]
    assert config["python"]["lock_packages"] is True  # what the user set stays
    assert f"{work.name[: len('modelgate-build-')]}*" in config["exclude"]
    assert not (tmp_path / work).exists()  # the scratch directory is gone after the build


def test_without_a_bentofile_the_package_generates_one_for_its_own_service():
    with planned_build(None, ["numpy==2.4.6"]) as plan:
        config = yaml.safe_load(plan.bentofile.read_text())
        assert plan.requirements[0] == "numpy==2.4.6"
    assert config["service"] == SERVICE
    assert config["python"]["lock_packages"] is False
    assert config["docker"]["python_version"] == f"{sys.version_info[0]}.{sys.version_info[1]}"
