"""What a live guard reads: the served environment's counters, from the service's own
``/metrics`` (Prometheus text, parsed by ``prometheus_client``) or from a Prometheus server's
HTTP API summed over a fleet of replicas.

Only the prediction endpoints count as traffic (``/predict``, ``/predict_proba``), so the
guard's own scrapes and the health probes are not requests. A guard measures from its first
look: ``Counts.since`` subtracts that look, and a counter that went down (a replica restarted)
counts again from zero.
"""

from __future__ import annotations

import json
import math
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

ENDPOINTS = ("/predict", "/predict_proba")
REQUESTS = "bentoml_service_request_total"
DURATION = "bentoml_service_request_duration_seconds_bucket"
ERRORS = "modelgate_errors_total"
PREDICTIONS = "modelgate_predictions_total"
BINS = "modelgate_feature_bin_rows_total"
INFO = "modelgate_model_info"
TIMEOUT_S = 10.0
K = TypeVar("K", str, float)


@dataclass(frozen=True)
class Counts:
    versions: frozenset[str] = frozenset()  # the versions the scraped services announce
    requests: float = 0.0
    errors: float = 0.0  # 5xx answers
    model_errors: float = 0.0  # failed model calls (a batch may answer several requests)
    buckets: dict[float, float] = field(default_factory=dict)  # le -> requests this fast
    predictions: dict[str, float] = field(default_factory=dict)  # class -> predictions
    bins: dict[str, dict[str, float]] = field(default_factory=dict)  # feature -> bin -> rows

    def since(self, start: Counts) -> Counts:
        """The counts accumulated after ``start``."""
        return Counts(
            self.versions,
            _delta(self.requests, start.requests),
            _delta(self.errors, start.errors),
            _delta(self.model_errors, start.model_errors),
            _deltas(self.buckets, start.buckets),
            _deltas(self.predictions, start.predictions),
            {f: _deltas(b, start.bins.get(f, {})) for f, b in self.bins.items()},
        )


def _delta(now: float, then: float) -> float:
    return now - then if now >= then else now


def _deltas(now: dict[K, float], then: dict[K, float]) -> dict[K, float]:
    return {k: _delta(v, then.get(k, 0.0)) for k, v in now.items()}


class Samples:
    """Sums of samples by the labels that matter, from either source."""

    def __init__(self) -> None:
        self.versions: set[str] = set()
        self.requests = self.errors = self.model_errors = 0.0
        self.buckets: dict[float, float] = defaultdict(float)
        self.predictions: dict[str, float] = defaultdict(float)
        self.bins: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))

    def add(self, name: str, labels: dict[str, str], value: float) -> None:
        if name == INFO and value > 0:
            self.versions.add(labels.get("version", ""))
        elif name in (REQUESTS, DURATION) and labels.get("endpoint", ENDPOINTS[0]) in ENDPOINTS:
            if name == DURATION:
                self.buckets[_bound(labels.get("le", "+Inf"))] += value
                return
            self.requests += value
            if labels.get("http_response_code", "").startswith("5"):
                self.errors += value
        elif name == ERRORS and labels.get("kind") == "model":
            self.model_errors += value
        elif name == PREDICTIONS:
            self.predictions[labels.get("label", "")] += value
        elif name == BINS:
            self.bins[labels.get("feature", "")][labels.get("bin", "")] += value

    def counts(self) -> Counts:
        return Counts(
            frozenset(self.versions),
            self.requests,
            self.errors,
            self.model_errors,
            dict(self.buckets),
            dict(self.predictions),
            {f: dict(b) for f, b in self.bins.items()},
        )


def _bound(text: str) -> float:
    return math.inf if text in ("+Inf", "Inf", "inf") else float(text)


def parse_text(text: str) -> Counts:
    from prometheus_client.parser import text_string_to_metric_families

    samples = Samples()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.add(sample.name, dict(sample.labels), float(sample.value))
    return samples.counts()


def scrape(base_url: str, timeout_s: float = TIMEOUT_S) -> Counts:
    """The counters of one service (its ``/metrics``)."""
    with urllib.request.urlopen(f"{base_url.rstrip('/')}/metrics", timeout=timeout_s) as answer:
        return parse_text(answer.read().decode("utf-8"))


# what each query sums by; the sample names are the ones the service's /metrics shows
QUERIES = {
    REQUESTS: ("endpoint", "http_response_code"),
    DURATION: ("endpoint", "le"),
    ERRORS: ("kind",),
    PREDICTIONS: ("label",),
    BINS: ("feature", "bin"),
    INFO: ("version",),
}


def query_prometheus(base_url: str, selector: str = "", timeout_s: float = TIMEOUT_S) -> Counts:
    """The counters summed over every replica a Prometheus server scrapes (``selector``:
    label matchers such as ``job="staging"``, added to every query)."""
    samples = Samples()
    for name, by in QUERIES.items():
        query = f"sum by ({', '.join(by)}) ({name}{{{selector}}})"
        for labels, value in _instant(base_url, query, timeout_s):
            samples.add(name, labels, value)
    return samples.counts()


def _instant(base_url: str, query: str, timeout_s: float) -> Iterable[tuple[dict[str, str], float]]:
    url = f"{base_url.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=timeout_s) as answer:
        body = json.load(answer)
    if body.get("status") != "success":
        raise OSError(f"Prometheus refused {query!r}: {body.get('error') or body}")
    for result in body["data"]["result"]:
        yield dict(result["metric"]), float(result["value"][1])
