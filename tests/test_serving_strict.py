"""The served bento on loopback, strict: a real ``bentoml serve`` of the iris reference model
answers each body form as the model does in process, refuses what does not fit with its own
status and a body naming the problem, and passes schemathesis against its own OpenAPI document.
One bento and one server for the module."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest

from pytest_modelgate.bento.build import BentoTarget, build_bento
from pytest_modelgate.bento.loopback import post, served_bento
from pytest_modelgate.reference.datasets import load
from pytest_modelgate.reference.models import train_reference

from .conftest import ScratchRegistry

REPO = Path(__file__).resolve().parents[1]
MAX_ROWS = 300
MAX_BODY = 256 * 1024
EVAL = load("iris", "eval").drop(columns=["species"])


@dataclass
class Served:
    url: str
    model: Any  # the same registry version, loaded in this process

    def raw(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        parts = urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            connection.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("strict")
    registry = ScratchRegistry(root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENTOML_HOME", str(root / "bentoml"))
        registered = train_reference("iris", tracking_uri=registry.uri, artifact_root=root / "a")
        target = BentoTarget(registered.name, registered.version, registered.run_id)
        schema = "pytest_modelgate.reference.schemas:IrisInput"
        bento = build_bento(target, registry.uri, REPO / "bentofile.yaml", schema)
        model = mlflow.sklearn.load_model(f"models:/iris/{registered.version}")
        extra = {
            "MLFLOW_TRACKING_URI": registry.uri,
            "MODELGATE_MAX_ROWS": str(MAX_ROWS),
            "MODELGATE_MAX_BODY_BYTES": str(MAX_BODY),
        }
        with served_bento(bento, root / "serve.log", extra_env=extra) as (url, _pid):
            yield Served(url, model)


def bodies(frame: pd.DataFrame) -> dict[str, Any]:
    return {
        "rows": {"rows": frame.to_dict(orient="records")},
        "dataframe_split": {
            "dataframe_split": {
                "columns": list(frame.columns),
                "data": frame.values.tolist(),
                "index": list(range(len(frame))),
            }
        },
        "columns": {"columns": frame.to_dict(orient="list")},
    }


def test_each_body_form_answers_what_the_model_answers_in_process(served: Served) -> None:
    frame = EVAL.head(40)
    expected = served.model.predict(frame).tolist()
    probabilities = served.model.predict_proba(frame)
    for form, body in bodies(frame).items():
        status, labels = post(f"{served.url}/predict", body)
        assert (status, labels) == (200, expected), form
        status, answers = post(f"{served.url}/predict_proba", body)
        assert status == 200, answers
        got = [[a[str(c)] for c in served.model.classes_] for a in answers]
        np.testing.assert_allclose(got, probabilities, err_msg=form)


def test_a_bad_request_never_fails_its_batch_neighbours(served: Served) -> None:
    good = EVAL.head(5)
    bad = good.assign(petal_width=-1.0)
    expected = served.model.predict(good).tolist()

    def send(i: int) -> tuple[int, Any]:
        body = bodies(bad if i % 2 else good)[("rows", "dataframe_split", "columns")[i % 3]]
        return post(f"{served.url}/predict", body)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(send, range(48)))
    for i, (status, body) in enumerate(answers):
        if i % 2:
            assert status == 400, body
            assert body["detail"][0]["check"] == "greater_than(0)"
        else:
            assert (status, body) == (200, expected)


def test_a_body_that_breaks_the_contract_is_400_naming_row_column_check_and_value(
    served: Served,
) -> None:
    frame = EVAL.head(3).copy()
    frame.loc[frame.index[1], "sepal_length"] = 31.0
    status, body = post(f"{served.url}/predict", bodies(frame)["columns"])
    assert status == 400
    case = body["detail"][0]
    assert (case["row"], case["column"], case["check"], case["value"]) == (
        1,
        "sepal_length",
        "less_than_or_equal_to(30)",
        31.0,
    )
    assert "row 1: column sepal_length failed less_than_or_equal_to(30)" in body["error"]
    status, body = post(f"{served.url}/predict", {"rows": [{"sepal_length": "long"}]})
    assert status == 400
    assert {d["column"] for d in body["detail"]} >= {"sepal_width"}, body
    status, body = served.raw("/predict", b'{"rows": [', {"content-type": "application/json"})
    assert status == 400
    assert "not valid JSON" in body["error"]


def test_a_body_that_is_not_json_is_415(served: Served) -> None:
    status, body = served.raw("/predict", b"a=1", {"content-type": "multipart/form-data"})
    assert status == 415
    assert "multipart/form-data is not accepted" in body["error"]


def test_more_rows_than_the_limit_is_413(served: Served) -> None:
    frame = pd.concat([EVAL] * 20).head(MAX_ROWS + 1)
    status, body = post(f"{served.url}/predict", bodies(frame)["columns"])
    assert status == 413
    assert f"{MAX_ROWS + 1} rows in columns is more than the limit of {MAX_ROWS}" in body["error"]


def status_line(sock: socket.socket) -> str:
    sock.settimeout(10)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received.split(b"\r\n", 1)[0].decode()


def test_a_declared_body_over_the_limit_is_413_before_any_of_it_is_sent(served: Served) -> None:
    parts = urlsplit(served.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        head = (
            f"POST /predict HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {50 * 2**20}\r\n\r\n"
        )
        sock.sendall(head.encode())  # and not one byte of the 50 MB
        assert status_line(sock) == "HTTP/1.1 413 Request Entity Too Large"


def test_a_streamed_body_is_refused_once_it_passes_the_limit(served: Served) -> None:
    parts = urlsplit(served.url)
    chunk = b"x" * 65536
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        head = (
            f"POST /predict HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        sock.sendall(head.encode())
        for _ in range(MAX_BODY // len(chunk) + 1):  # one chunk past the limit, then wait
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        assert status_line(sock) == "HTTP/1.1 413 Request Entity Too Large"


def test_the_openapi_document_lists_every_status_and_each_body_form(served: Served) -> None:
    parts = urlsplit(served.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", "/docs.json")
    document = json.loads(connection.getresponse().read())
    connection.close()
    assert document["openapi"] == "3.1.0"
    predict = document["paths"]["/predict"]["post"]
    assert sorted(predict["responses"]) == ["200", "400", "413", "415", "500", "503", "504"]
    forms = predict["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert [f["$ref"].rsplit("/", 1)[1] for f in forms] == ["Records", "DataframeSplit", "Columns"]
    records = document["components"]["schemas"]["Records"]["properties"]["rows"]
    assert records["maxItems"] == MAX_ROWS
    assert records["items"]["properties"]["sepal_width"] == {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 30,
    }


def test_schemathesis_with_all_its_checks_finds_no_failure(served: Served, tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(REPO / "schemathesis.toml"),
        "run",
        f"{served.url}/docs.json", "--checks", "all", "--max-examples", "25", "--seed", "7",
        "--generation-database", "none", "--no-color",
    ]  # fmt: skip
    env = dict(
        os.environ,
        SCHEMATHESIS_HOOKS="pytest_modelgate.serving.fuzzing",
        PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    )
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    summary = done.stdout[-3000:]
    assert done.returncode == 0, summary
    assert "No issues found" in summary
    print(summary[summary.find("SUMMARY") :])
