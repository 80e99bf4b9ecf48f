"""The service's own Prometheus metrics, next to BentoML's per-endpoint request counts and
latency histograms on ``/metrics``.

The metrics are created in the worker (``Monitor()`` in the service's ``__init__``), after
BentoML has pointed ``prometheus_client`` at its multiprocess directory, so they reach the
``/metrics`` endpoint. Label values are bounded: classes of the model, columns of the schema,
pydantic error types and the names of exception classes.
"""

from __future__ import annotations

import os
import threading
from collections import Counter as Tally
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

# how often the sampled gauges and the feature bins are brought up to date (a live guard that
# looks every few seconds wants this shorter)
ENV_REFRESH = "MODELGATE_MONITOR_INTERVAL_S"
REFRESH_S = 5.0


class Monitor:
    def __init__(self, name: str, version: int, run_id: str, env: str) -> None:
        from prometheus_client import Counter, Gauge

        self.predictions = Counter(
            "modelgate_predictions",
            "Predicted labels per endpoint and class",
            ["endpoint", "label"],
        )
        self.errors = Counter(
            "modelgate_errors",
            "Rejected requests (kind=validation) and failed model calls (kind=model) by reason",
            ["kind", "reason"],
        )
        info = Gauge(
            "modelgate_model_info",
            "The registry version this service answers with (value 1)",
            ["name", "version", "run_id", "alias"],
            multiprocess_mode="max",
        )
        info.labels(name, str(version), run_id, env).set(1)
        self.memory = Gauge(
            "modelgate_process_resident_memory_bytes",
            "Resident memory of the serving workers",
            multiprocess_mode="livesum",
        )
        self.drift = Gauge(
            "modelgate_feature_drift_psi",
            "Population stability index of each feature's recent inputs against the reference",
            ["feature"],
            multiprocess_mode="max",
        )
        self.drifted = Gauge(
            "modelgate_feature_drifted",
            "1 when a feature's drift exceeds its threshold",
            ["feature"],
            multiprocess_mode="max",
        )
        self.bins = Counter(
            "modelgate_feature_bin_rows",
            "Input rows per feature and bin of the drift reference (a live guard's drift test)",
            ["feature", "bin"],
        )
        self._refreshers: list[Callable[[], object]] = [self._memory]

    def predicted(self, endpoint: str, labels: Any) -> None:
        """Count a batch's labels (a numpy array) in one pass, one increment per distinct label.
        Counter counts in C; numpy's unique would sort, which for string labels costs more."""
        for label, count in Tally(labels.tolist()).items():
            self.predictions.labels(endpoint, str(label)).inc(count)

    def rejected(self, reasons: Iterable[str]) -> None:
        for reason in reasons:
            self.errors.labels("validation", reason).inc()

    def failed(self, exc: BaseException) -> None:
        self.errors.labels("model", type(exc).__name__).inc()

    def set_drift(self, psi: Mapping[str, float | None], threshold: float) -> None:
        for feature, value in psi.items():
            if value is not None:
                self.drift.labels(feature).set(value)
                self.drifted.labels(feature).set(float(value > threshold))

    def count_bins(self, reference: Mapping[str, Any], columns: Mapping[str, Any]) -> None:
        """Count each feature's values by the reference's bins (numeric: the bin between its
        edges; categorical: the category, or OTHER), one increment per bin."""
        from pytest_modelgate.stats.drift import OTHER

        for feature, entry in reference.get("features", {}).items():
            if feature not in columns:
                continue
            values = columns[feature]
            if entry["kind"] == "numeric":
                numbers = np.asarray(values, dtype=float)
                numbers = numbers[~np.isnan(numbers)]
                found = np.bincount(
                    np.searchsorted(entry["edges"], numbers, side="right"),
                    minlength=len(entry["edges"]) + 1,
                )
                tally = {str(i): int(n) for i, n in enumerate(found.tolist()) if n}
            else:
                known = entry["shares"]
                tally = Tally(str(v) if str(v) in known else OTHER for v in values if v is not None)
            for label, count in tally.items():
                self.bins.labels(feature, label).inc(count)

    def every(self, refresh: Callable[[], object]) -> None:
        self._refreshers.append(refresh)

    def start(self) -> None:
        """Refresh the sampled gauges in a daemon thread (nothing on the request path)."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(float(os.environ.get(ENV_REFRESH) or REFRESH_S)):
                for refresh in self._refreshers:
                    refresh()

        self._memory()
        threading.Thread(target=loop, name="modelgate-monitor", daemon=True).start()

    def _memory(self) -> None:
        import psutil

        self.memory.set(psutil.Process().memory_info().rss)


class Window:
    """The most recent input rows (at most ``size``), kept as the batches' own arrays: a batch
    costs one append, and the rows are turned into columns only when drift is measured."""

    def __init__(self, size: int, columns_of: Callable[[Any], Mapping[str, Any]]) -> None:
        self.size = size
        self.columns_of = columns_of
        self.batches: deque[Any] = deque()
        self.rows = 0

    def add(self, batch: Any) -> None:
        self.batches.append(batch)
        self.rows += len(batch)
        while self.batches and self.rows - len(self.batches[0]) >= self.size:
            self.rows -= len(self.batches.popleft())

    def columns(self) -> tuple[dict[str, list[Any]], int]:
        """(column name -> the last ``size`` values, how many rows that is)."""
        batches = list(self.batches)
        if not batches:
            return {}, 0
        recent = np.concatenate(batches)[-self.size :]
        return {k: v.tolist() for k, v in self.columns_of(recent).items()}, len(recent)
