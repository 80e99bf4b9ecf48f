"""A registered model loaded once, and its predictions on a dataset computed once.

Labels and probabilities are each computed on first use and then shared by every gate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_modelgate.errors import PredictionError

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np

    from pytest_modelgate.candidate.adapters import Adapted
    from pytest_modelgate.candidate.datasets import Dataset
    from pytest_modelgate.candidate.registry import ModelRef, Registry


class ModelHandle:
    """One exact version: its registry description now, the loaded model on first use."""

    def __init__(
        self, ref: ModelRef, registry: Registry, role: str, local: Path | None = None
    ) -> None:
        self.ref = ref
        self.role = role  # "candidate" or "champion"
        self._registry = registry
        self._local = local  # the downloaded copy whose digest the report records
        self._loaded: Adapted | None = None
        self._pyfunc: Any = None
        self._predictions: dict[str, Predictions] = {}

    @property
    def loaded(self) -> Adapted:
        """The model through its flavour's adapter, loaded on first use."""
        if self._loaded is None:
            self._loaded = self._registry.load(self.ref, self._local)
        return self._loaded

    @property
    def model(self) -> Any:
        return self.loaded.model

    @property
    def adapter_info(self) -> dict[str, Any] | None:
        """How the model is called (for the report), once it is loaded; None before."""
        if self._loaded is None:
            return None
        loaded = self._loaded
        return {"flavour": loaded.flavour, "adapter": loaded.adapter, "note": loaded.note}

    @property
    def pyfunc(self) -> Any:
        """The MLflow pyfunc of this version (signature enforced), loaded on first use."""
        if self._pyfunc is None:
            self._pyfunc = self._registry.load_pyfunc(self.ref, self._local)
        return self._pyfunc

    @property
    def classes(self) -> Any:
        return getattr(self.model, "classes_", None)

    def files(self, destination: Path) -> Path:
        """The version's MLflow model directory: the copy the run digested, else one
        downloaded into ``destination``."""
        if self._local is None:
            self._local = self._registry.download(self.ref, destination)
        return self._local

    def predict(self, X: Any) -> Any:
        return self.model.predict(X)

    def predict_proba(self, X: Any) -> Any | None:
        method = getattr(self.model, "predict_proba", None)
        return None if method is None else method(X)

    def predictions(self, data: Dataset) -> Predictions:
        """This model's predictions on ``data``, computed at most once per dataset."""
        key = data.sha256 + "|" + ",".join(data.features)
        if key not in self._predictions:
            self._predictions[key] = Predictions(self, data)
        return self._predictions[key]

    def __repr__(self) -> str:
        return f"<{self.role} {self.ref.describe()}>"


@dataclass
class Predictions:
    """Lazily computed outputs of one model on one dataset."""

    handle: ModelHandle
    data: Dataset
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def inputs(self) -> Any:
        """The columns this model takes: its own signature's when the data has them (a champion
        may use other features than the candidate), else the suite's features."""
        wanted = self.handle.ref.input_names
        if not wanted or tuple(wanted) == self.data.features:
            return self.data.X  # taken once, shared
        if all(c in self.data.frame.columns for c in wanted):
            return self.data.frame.loc[:, list(wanted)]
        return self.data.X

    @property
    def labels(self) -> np.ndarray:
        labels: np.ndarray = self._once("labels", lambda: self.handle.predict(self.inputs))
        return labels

    @property
    def proba(self) -> np.ndarray | None:
        proba: np.ndarray | None = self._once(
            "proba", lambda: self.handle.predict_proba(self.inputs)
        )
        return proba

    @property
    def classes(self) -> Any:
        return self.handle.classes

    def _once(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self._cache:
            import numpy as np

            try:
                value = compute()
            except Exception as exc:
                raise PredictionError(
                    f"{self.handle.ref.describe()} ({self.handle.role}) failed to compute {key} on "
                    f"{self.data.source} ({len(self.data.frame)} rows): {type(exc).__name__}: {exc}"
                ) from exc
            if value is not None:
                value = np.asarray(value)
                if value.ndim == 2 and value.shape[1] == 1 and key == "labels":
                    value = value.ravel()
                if len(value) != len(self.data.frame):
                    raise PredictionError(
                        f"{self.handle.ref.describe()} returned {len(value)} {key} for "
                        f"{len(self.data.frame)} rows"
                    )
            self._cache[key] = value
        return self._cache[key]
