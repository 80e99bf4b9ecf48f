"""The Spark engine: the same sums as the streaming engine, computed where the data lives.

Spark reads the Parquet files; each row's number is its file's first row number (the order
``candidate.batches`` gives the files) plus its ``_metadata.row_index``, so its Poisson weights
are the very draws the streaming engine gives it. ``mlflow.pyfunc.spark_udf`` predicts with the
exact version (MLflow's own way to score a registered model on a cluster); probabilities, which
a pyfunc does not answer, come from the version's files shipped with ``SparkContext.addFile``
and loaded through the same flavour adapter as in process. Each partition runs
``local.accumulate`` over its Arrow batches and sends its sums (resamples x cells numbers) to
the driver, which merges them as they arrive.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pytest_modelgate.gates.engines.requests import LABELS, PROBA, SumsRequest

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from pytest_modelgate.candidate.datasets import Dataset
    from pytest_modelgate.candidate.input_schema import Validation
    from pytest_modelgate.candidate.predictions import ModelHandle
    from pytest_modelgate.stats.sums import CellSums
    from pytest_modelgate.suite.data import DataSpec

ROW = "__modelgate_row"
_MODELS: dict[str, Any] = {}  # models loaded in this Spark Python worker, by path


def session(spec: DataSpec) -> Any:
    """The suite's ``spark_master``, else the active session, else Spark's own settings
    (``spark-defaults.conf``, ``PYSPARK_SUBMIT_ARGS``; ``local[*]`` when none)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and spec.spark_master is None:
        return active
    # Spark's Python workers start `python3` from PATH unless told: use this interpreter
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("modelgate").config(
        "spark.ui.showConsoleProgress", "false"
    )
    if spec.spark_master is not None:
        builder = builder.master(spec.spark_master)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def run_spark(
    data: Dataset,
    requests: list[SumsRequest],
    models: dict[str, ModelHandle],
    inputs: dict[str, list[str]],
    spec: DataSpec,
) -> dict[str, CellSums]:
    from pytest_modelgate.stats.sums import CellSums

    spark = session(spec)
    # each partition's Arrow batches hold batch_rows rows, as the streaming engine's do
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(spec.batch_rows))
    roles = {role for r in requests for role, _ in r.outputs}
    columns = sorted(
        {c for r in requests for c in r.columns} | {c for m in roles for c in inputs[m]}
    )
    frame = rows_frame(spark, data, columns, spec)
    labels = {role for r in requests for role, what in r.outputs if what == LABELS}
    for role in sorted(labels):
        frame = frame.withColumn(
            _label_column(role), _pyfunc_udf(spark, models[role], data)(*inputs[role])
        )
    shipped = {
        role: _ship(spark, models[role], role) for role in roles if _wants_proba(requests, role)
    }
    task = _Partition(requests, inputs, shipped)
    merged = {r.key: CellSums(r.resamples, r.terms) for r in requests}
    for row in frame.mapInPandas(task, schema="key string, sums binary").toLocalIterator():
        request = next(r for r in requests if r.key == row["key"])
        merged[request.key].merge(
            CellSums.from_bytes(row["sums"], request.resamples, request.terms)
        )
    return {key: sums.sorted() for key, sums in merged.items()}


def rows_frame(spark: Any, data: Dataset, columns: list[str], spec: DataSpec) -> Any:
    """The Parquet files' ``columns`` with each row's number."""
    from pyspark.sql import functions as F

    source = data.stream
    assert source is not None
    offsets = {_path_key(name): first for name, first in source.row_offsets().items()}
    paths = [_spark_path(source.fs, name) for name in source.files]
    frame = spark.read.parquet(*paths).select(
        *columns, F.col("_metadata.file_path").alias("__file"), "_metadata.row_index"
    )
    first = F.create_map(*[x for key, o in offsets.items() for x in (F.lit(key), F.lit(o))])
    key = F.regexp_replace(F.col("__file"), r"^[a-zA-Z][a-zA-Z0-9+.-]*:/*", "")
    frame = frame.withColumn(ROW, first[key] + F.col("row_index")).drop("__file", "row_index")
    return frame


def _path_key(path: str) -> str:
    """A file's path without its scheme and leading slashes: how both sides name it."""
    split = urlsplit(path)
    return (split.netloc + split.path if split.scheme else path).lstrip("/")


def _spark_path(fs: Any, name: str) -> str:
    from fsspec.implementations.local import LocalFileSystem

    return name if isinstance(fs, LocalFileSystem) else str(fs.unstrip_protocol(name))


def _label_column(role: str) -> str:
    return f"__modelgate_{role}_labels"


def _pyfunc_udf(spark: Any, handle: ModelHandle, data: Dataset) -> Any:
    """``mlflow.pyfunc.spark_udf`` of the exact version, typed as its labels on the sample."""
    import mlflow.pyfunc
    import numpy as np

    sample = np.asarray(handle.predictions(data).labels)
    kind = sample.dtype.kind
    result = {"f": "double", "i": "long", "u": "long", "b": "boolean"}.get(kind, "string")
    return mlflow.pyfunc.spark_udf(spark, handle.ref.uri, env_manager="local", result_type=result)


def _wants_proba(requests: list[SumsRequest], role: str) -> bool:
    return any((role, PROBA) in r.outputs for r in requests)


def _ship(spark: Any, handle: ModelHandle, role: str) -> tuple[str, tuple[str, ...]]:
    """Send the version's model directory to every executor; (its name there, flavours)."""
    local = handle.files(Path(tempfile.mkdtemp(prefix="modelgate-spark-")) / role)
    spark.sparkContext.addFile(str(local), recursive=True)
    return local.name, tuple(handle.ref.flavors)


class _Partition:
    """What each partition runs: its Arrow batches as views, every request's sums."""

    def __init__(
        self,
        requests: list[SumsRequest],
        inputs: dict[str, list[str]],
        shipped: dict[str, tuple[str, tuple[str, ...]]],
    ) -> None:
        self.requests, self.inputs, self.shipped = requests, inputs, shipped

    def __call__(self, frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import pandas as pd

        from pytest_modelgate.gates.engines.local import accumulate

        views = (_SparkView(f, self.inputs, self.shipped) for f in frames)
        for key, sums in accumulate(views, self.requests).items():
            if sums.cells:
                yield pd.DataFrame({"key": [key], "sums": [sums.to_bytes()]})


class _SparkView:
    def __init__(
        self,
        frame: pd.DataFrame,
        inputs: dict[str, list[str]],
        shipped: dict[str, tuple[str, tuple[str, ...]]],
    ) -> None:
        self._frame, self._inputs, self._shipped = frame, inputs, shipped

    @property
    def rows(self) -> np.ndarray:
        rows: np.ndarray = self._frame[ROW].to_numpy(dtype="int64")
        return rows

    @property
    def frame(self) -> pd.DataFrame:
        return self._frame

    def output(self, role: str, what: str) -> np.ndarray:
        from pytest_modelgate.gates.engines.local import model_output

        if what == LABELS:
            return model_output(self._frame[_label_column(role)].to_numpy(), LABELS)
        model = _worker_model(*self._shipped[role])
        return model_output(model.predict_proba(self._frame.loc[:, self._inputs[role]]), PROBA)


def _worker_model(name: str, flavours: tuple[str, ...]) -> Any:
    """The shipped version, loaded once per Python worker through its flavour's adapter."""
    from pyspark import SparkFiles

    path = SparkFiles.get(name)
    if path not in _MODELS:
        from pytest_modelgate.candidate.adapters import load_model

        _MODELS[path] = load_model(path, flavours).model
    return _MODELS[path]


def validate_partitions(
    data: Dataset, spec: DataSpec, schema: Any, features: list[str], first: int
) -> Validation:
    """The schema's failures over every partition, merged on the driver in row order."""
    import pickle

    from pytest_modelgate.candidate.input_schema import Validation

    spark = session(spec)
    frame = rows_frame(spark, data, features, spec)
    check = _Validate(schema, features, first)
    parts = [
        pickle.loads(row["validation"])
        for row in frame.mapInPandas(check, schema="validation binary").toLocalIterator()
    ]
    outcome = Validation(0)
    for part in sorted(parts, key=lambda v: v.first_cases[0]["index"] if v.first_cases else 0):
        outcome = outcome.merge(part, first)
    return outcome


class _Validate:
    def __init__(self, schema: Any, features: list[str], first: int) -> None:
        self.schema, self.features, self.first = schema, features, first

    def __call__(self, frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import pickle

        import pandas as pd

        from pytest_modelgate.candidate.input_schema import Validation, validate

        outcome = Validation(0)
        for frame in frames:
            rows = frame.set_index(ROW).loc[:, self.features]
            outcome = outcome.merge(validate(self.schema, rows, first=self.first), self.first)
        yield pd.DataFrame({"validation": [pickle.dumps(outcome)]})
