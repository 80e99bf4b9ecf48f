"""Evidence is bound to the model's bytes: the gate run records the digest of the files it
gated; a model artifact swapped after gating is refused by the bento build, and a bento whose
model files are not the gated ones never becomes ready."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest

from pytest_modelgate.bento.build import MLFLOW_DIR
from pytest_modelgate.bento.loopback import served_bento
from pytest_modelgate.candidate.digest import directory_digest, version_digest
from pytest_modelgate.cli.main import main
from pytest_modelgate.errors import ServeError
from pytest_modelgate.promotion.evidence import tag
from pytest_modelgate.promotion.registry import Registry as PromotionRegistry

from .conftest import ScratchRegistry, copy_column_model

REPO = Path(__file__).resolve().parents[1]
GATE = """
import pytest

@pytest.mark.gate("smoke")
def test_smoke_gate(candidate):
    assert candidate.ref.version == 1
"""


@dataclass
class Gated:
    registry: ScratchRegistry
    report: Path
    home: Path  # BENTOML_HOME

    @property
    def client(self) -> mlflow.MlflowClient:
        return mlflow.MlflowClient(self.registry.uri, self.registry.uri)

    def model_file(self) -> Path:
        location = self.client.get_model_version_download_uri("m", "1")
        return Path(location.removeprefix("file://")) / "model.skops"

    def promote(self) -> int:
        return main([
            "promote", "m", "1", "staging", "--report", str(self.report),
            "--tracking-uri", self.registry.uri, "--bentofile", str(REPO / "bentofile.yaml"),
        ])  # fmt: skip


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gated]:
    root = tmp_path_factory.mktemp("digest")
    registry = ScratchRegistry(root / "registry")
    model, X = copy_column_model("a")
    assert registry.register(model, "m", X) == 1
    project = root / "project"
    project.mkdir()
    (project / "test_gate.py").write_text(GATE, encoding="utf-8")
    report = project / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *registry.args("m", 1),
         "--gate-report", str(report)],
        cwd=project, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENTOML_HOME", str(root / "bentoml"))
        patch.setenv("BENTOML_DO_NOT_TRACK", "True")
        yield Gated(registry, report, root / "bentoml")


def test_the_gate_report_records_the_digest_of_the_files_it_gated(gated):
    report = json.loads(gated.report.read_text(encoding="utf-8"))
    assert report["model"]["digest"] == version_digest("m", 1, gated.registry.uri)


def test_a_model_artifact_swapped_after_gating_is_refused_by_the_build(gated, capsys):
    model_file = gated.model_file()
    original = model_file.read_bytes()
    model_file.write_bytes(original + b"\0")  # what the registry now serves differs by a byte
    try:
        assert gated.promote() == 1
    finally:
        model_file.write_bytes(original)
    err = capsys.readouterr().err
    assert "NOT promoted to staging: bento build failed, nothing was changed" in err
    assert "the model files of m v1 are not the ones gated" in err
    assert PromotionRegistry.of(gated.client).pinned("m", "staging") is None
    assert tag("staging", "verdict") not in gated.client.get_model_version("m", "1").tags
    assert not (gated.home / "models" / "m").exists()  # the swapped copy was not kept


def test_a_bento_whose_model_files_are_not_the_gated_ones_never_becomes_ready(
    gated, tmp_path, capsys
):
    assert gated.promote() == 0, capsys.readouterr().err
    bento = gated.client.get_model_version("m", "1").tags[tag("staging", "bento")]
    copies = list(gated.home.rglob(f"{MLFLOW_DIR}/model.skops"))
    assert copies, "no model copy in the BentoML store"
    for copy in copies:  # the files the service would load
        copy.write_bytes(copy.read_bytes() + b"\0")
        assert (
            directory_digest(copy.parent) != json.loads(gated.report.read_text())["model"]["digest"]
        )
    log = tmp_path / "serve.log"
    extra = {"MLFLOW_TRACKING_URI": gated.registry.uri}
    with pytest.raises(ServeError, match="exited"), served_bento(bento, log, env="staging",
                                                                  extra_env=extra):  # fmt: skip
        pass
    assert "refusing to start: the model files in this bento (sha256 " in log.read_text()
    assert "are not the ones gated for m v1" in log.read_text()
