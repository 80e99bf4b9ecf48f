"""A promotion path over two ``mlflow server``s: dev and uat in the candidate's registry, staging
and production in another one, under another registered model (production on alias
``champion``). A version walks the path as a copy there (one copy for both environments, its
digest checked, the ledger naming its source), a copy whose files differ from the gated ones is
refused, each environment rolls back in its own registry, ``verify`` holds across both, and
``modelgate serve production`` serves the copy the ``champion`` alias pins."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest

from pytest_modelgate.bento.loopback import post, served
from pytest_modelgate.promotion import ledger
from pytest_modelgate.promotion.evidence import SOURCE, SOURCE_VERSION
from pytest_modelgate.promotion.registry import Registry as PromotionRegistry
from pytest_modelgate.reference.models import log_and_register

from .conftest import cli, copy_column_model
from .mlflow_server import mlflow_server

PATH = """\
path:
  - env: dev
  - env: uat
  - env: staging
    model: m-prod
    tracking_uri: ${PROD_REGISTRY}
  - env: production
    model: m-prod
    tracking_uri: ${PROD_REGISTRY}
    alias: champion
    approval: true
"""
GATES = """
import pytest

@pytest.mark.gate("first")
def test_first_gate():
    pass
"""


@pytest.mark.slow
def test_a_version_walks_a_path_over_two_registries_as_one_checked_copy(
    pytester: pytest.Pytester,
    tmp_path: Path,
    bentoml_home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MODELGATE_APPROVAL", raising=False)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with mlflow_server(tmp_path / "a") as source, mlflow_server(tmp_path / "b") as prod:
        monkeypatch.setenv("PROD_REGISTRY", prod)
        model, X = copy_column_model("a")
        v1, v2 = (log_and_register(model, "m", X, tracking_uri=source).version for _ in "12")
        (pytester.path / "modelgate.yaml").write_text(PATH, encoding="utf-8")
        pytester.makepyfile(test_gates=GATES)
        report = pytester.path / "report.json"
        here = PromotionRegistry.of(mlflow.MlflowClient(source, source))
        there = PromotionRegistry.of(mlflow.MlflowClient(prod, prod), {"production": "champion"})

        def promote(version: int, env: str, *extra: str) -> pytest.RunResult:
            args = ["--model-name", "m", "--model-version", str(version), "--tracking-uri", source]
            args += ["-p", "no:cacheprovider", f"--gate-report={report}", "--promote", env]
            return pytester.runpytest(*args, *extra)

        for env in ("dev", "uat", "staging"):
            assert promote(v1, env).ret == pytest.ExitCode.OK, env
        # staging lives in the other registry: the copy there names its source
        (copy,) = there.versions("m-prod")
        tags = dict(copy.tags)
        assert tags[SOURCE] == f"{source}#m/{v1}"
        assert tags[SOURCE_VERSION] == str(v1)
        assert there.pinned("m-prod", "staging") == int(copy.version)
        assert here.pinned("m", "staging") is None  # nothing moved in the candidate's registry
        (event,) = [e for e in ledger.events(there, "m-prod", "staging") if e.moved]
        assert event.get("source") == f"m v{v1} of {source}"

        unapproved = promote(v1, "production")
        assert unapproved.ret == pytest.ExitCode.USAGE_ERROR
        unapproved.stderr.fnmatch_lines(["*production requires an approval*"])
        approved = promote(v1, "production", "--approved-by", "alice")
        assert approved.ret == pytest.ExitCode.OK, approved.stdout.str()
        approved.stdout.fnmatch_lines(
            [f"promoted m-prod v{copy.version} to production (alias 'champion' was nothing)"]
        )
        assert there.pinned("m-prod", "production") == int(copy.version)  # alias 'champion'
        assert len(there.versions("m-prod")) == 1  # both environments share the copy
        assert "champion" in there.registered_model("m-prod").aliases

        # a report whose digest is not the version's files: the copy is refused, not reused
        for env in ("dev", "uat"):
            assert promote(v2, env).ret == pytest.ExitCode.OK, env
        forged = json.loads(report.read_text(encoding="utf-8"))
        forged["model"]["digest"] = "0" * 64
        forged_file = tmp_path / "forged.json"
        forged_file.write_text(json.dumps(forged), encoding="utf-8")
        root = ("--tracking-uri", source, "--root", str(pytester.path))
        assert cli("promote", "m", str(v2), "staging", "--report", str(forged_file), *root) == 1
        err = capsys.readouterr().err
        assert f"the copy of m v{v2} in m-prod v2" in err
        assert "not the gated 000000000000: nothing was moved" in err
        assert there.pinned("m-prod", "staging") == int(copy.version)
        assert promote(v2, "staging").ret == pytest.ExitCode.OK
        second = max(int(v.version) for v in there.versions("m-prod"))
        assert second == 3
        assert there.pinned("m-prod", "staging") == second

        # each environment rolls back in its own registry; the status and audit span both
        assert cli("rollback", "staging", "--model-name", "m", *root) == 0
        assert there.pinned("m-prod", "staging") == int(copy.version)
        assert cli("rollback", "uat", "--model-name", "m", *root) == 0
        assert here.pinned("m", "uat") == v1
        assert cli("status", "m", *root) == 0
        out = capsys.readouterr().out
        assert f"production (m-prod): v{copy.version} since " in out
        assert f"copy of m v{v1} of {source}" in out
        assert "needs: alias 'champion'; in model 'm-prod'; in registry " in out
        assert cli("verify", "m", *root) == 0
        assert "the ledger of m holds" in capsys.readouterr().out

        with served("production", "m", source, tmp_path / "serve.log", root=pytester.path) as url:
            status, info = post(f"{url}/model_info", {})
            assert status == 200
            assert (info["name"], info["version"]) == ("m-prod", int(copy.version))
            status, labels = post(f"{url}/predict", {"rows": [{"a": 1.0}]})
            assert status == 200
            assert [float(label) for label in labels] == [1.0]
            assert (info["env"], info["alias"]) == ("production", "champion")
