"""The served bento's monitoring on loopback: a real ``bentoml serve`` of a candidate bento,
real requests, then its ``/metrics`` (Prometheus text) scraped."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_modelgate.bento.build import BentoTarget, build_bento
from pytest_modelgate.bento.loopback import post, served_bento
from pytest_modelgate.stats.drift import reference_profile

from .conftest import ScratchRegistry, copy_column_model, eval_frame

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("monitoring")
    registry = ScratchRegistry(root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENTOML_HOME", str(root / "bentoml"))
        model, X = copy_column_model("a")
        version = registry.register(model, "m", X)
        import mlflow

        run_id = mlflow.MlflowClient(registry.uri).get_model_version("m", str(version)).run_id
        reference = reference_profile(eval_frame(400, {"a": 0.1}).drop(columns=["y"]))
        bento = build_bento(
            BentoTarget("m", version, run_id or ""),
            registry.uri,
            REPO / "bentofile.yaml",
            drift_reference=reference,
        )
        extra = {"MLFLOW_TRACKING_URI": registry.uri}
        with served_bento(bento, root / "serve.log", extra_env=extra) as (url, _pid):
            yield url


def scrape(url: str) -> dict[str, float]:
    """Sample name with labels -> value, from the Prometheus text format."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) (\S+)", line)
        if match:
            samples[match.group(1)] = float(match.group(2))
    return samples


def value(samples: dict[str, float], metric: str, **labels: str) -> float:
    """Sum of the samples of ``metric`` whose labels include ``labels``."""
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(
        v
        for key, v in samples.items()
        if key.split("{")[0] == metric and all(w in key for w in wanted)
    )


def test_metrics_count_requests_predictions_and_rejections(service: str) -> None:
    before = scrape(service)
    for _ in range(3):
        status, body = post(f"{service}/predict", {"rows": [{"a": 1.0}, {"a": 0.0}]})
        assert status == 200, body
    status, body = post(f"{service}/predict", {"rows": [{"a": "one"}]})
    assert status == 400, body
    after = scrape(service)

    def moved(metric: str, **labels: str) -> float:
        return value(after, metric, **labels) - value(before, metric, **labels)

    assert moved("modelgate_predictions_total", endpoint="predict", label="1") == 3
    assert moved("modelgate_predictions_total", endpoint="predict", label="0") == 3
    assert moved("modelgate_errors_total", kind="validation", reason="float_type") == 1
    assert moved("bentoml_service_request_total", endpoint="/predict") >= 4
    assert moved("bentoml_service_request_duration_seconds_count", endpoint="/predict") >= 4
    assert value(after, "modelgate_model_info", name="m", version="1", alias="candidate") == 1
    assert value(after, "modelgate_process_resident_memory_bytes") > 10 * 2**20


def test_drifted_inputs_are_reported_at_drift_and_in_metrics(service: str) -> None:
    status, body = post(f"{service}/predict", {"rows": [{"a": 1.0}, {"a": 0.0}] * 20})
    assert status == 200, body
    status, before = post(f"{service}/drift", {})
    assert status == 200, before
    assert before["drifted"] == [], before
    for _ in range(10):  # the window now holds mostly a=0, the reference half and half
        status, body = post(f"{service}/predict", {"rows": [{"a": 0.0}] * 100})
        assert status == 200, body
    status, after = post(f"{service}/drift", {})
    assert status == 200, after
    assert after["drifted"] == ["a"], after
    assert after["features"]["a"]["psi"] > after["threshold"]
    samples = scrape(service)
    assert value(samples, "modelgate_feature_drifted", feature="a") == 1
    assert value(samples, "modelgate_feature_drift_psi", feature="a") > 0.25
