"""The service's own Prometheus metrics, next to BentoML's per-endpoint request counts and
latency histograms on ``/metrics``.

The metrics are created in the worker (``Monitor()`` in the service's ``__init__``), after
BentoML has pointed ``prometheus_client`` at its multiprocess directory, so they reach the
``/metrics`` endpoint. Label values are bounded: classes of the model, columns of the schema,
pydantic error types and the names of exception classes.
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Mapping
from typing import Any

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
        self._refreshers: list[Callable[[], object]] = [self._memory]

    def predicted(self, endpoint: str, labels: Iterable[Any]) -> None:
        for label, count in Tally(map(str, labels)).items():
            self.predictions.labels(endpoint, label).inc(count)

    def rejected(self, reason: str) -> None:
        self.errors.labels("validation", reason).inc()

    def failed(self, exc: BaseException) -> None:
        self.errors.labels("model", type(exc).__name__).inc()

    def set_drift(self, psi: Mapping[str, float | None], threshold: float) -> None:
        for feature, value in psi.items():
            if value is not None:
                self.drift.labels(feature).set(value)
                self.drifted.labels(feature).set(float(value > threshold))

    def every(self, refresh: Callable[[], object]) -> None:
        self._refreshers.append(refresh)

    def start(self) -> None:
        """Refresh the sampled gauges in a daemon thread (nothing on the request path)."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(REFRESH_S):
                for refresh in self._refreshers:
                    refresh()

        self._memory()
        threading.Thread(target=loop, name="modelgate-monitor", daemon=True).start()

    def _memory(self) -> None:
        import psutil

        self.memory.set(psutil.Process().memory_info().rss)
