"""Edge inputs (NaN, inf, huge and tiny magnitudes, an empty batch, unseen categories) sent
to a model in a child process, so a crash or a hang is observed instead of suffered.

The child is spawned (not forked: OpenMP runtimes and threads do not survive a fork), gets
the pickled model, and reports each probe before and after running it; a probe that never
reports back crashed the child or hung it.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

HUGE = 1e300
TINY = 1e-300
UNSEEN = "__unseen_category__"
NUMERIC_EDGES: dict[str, float] = {
    "nan": float("nan"),
    "inf": float("inf"),
    "-inf": float("-inf"),
    "huge": HUGE,
    "-huge": -HUGE,
    "tiny": TINY,
}


@dataclass(frozen=True)
class EdgeProbe:
    kind: str
    column: str | None
    frame: pd.DataFrame

    @property
    def label(self) -> str:
        return self.kind if self.column is None else f"{self.kind} in {self.column!r}"


@dataclass(frozen=True)
class EdgeOutcome:
    probe: str
    verdict: str  # answered, refused, nan, invalid, crashed, hung, not run
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict in ("answered", "refused")

    def as_dict(self) -> dict[str, str]:
        return {"probe": self.probe, "verdict": self.verdict, "message": self.message[:300]}


def build_probes(base: pd.DataFrame) -> list[EdgeProbe]:
    import pandas as pd

    probes = [EdgeProbe("empty batch", None, base.iloc[:0])]
    for column in base.columns:
        values = base[column]
        if pd.api.types.is_bool_dtype(values):
            continue
        if pd.api.types.is_numeric_dtype(values):
            for kind, edge in NUMERIC_EDGES.items():
                probes.append(EdgeProbe(kind, str(column), base.assign(**{column: edge})))
        else:
            probes.append(
                EdgeProbe("unseen category", str(column), base.assign(**{column: UNSEEN}))
            )
    return probes


def run_isolated(
    model: Any, probes: list[EdgeProbe], *, timeout_s: float, startup_s: float = 120.0
) -> list[EdgeOutcome]:
    """Run every probe in one spawned child; a crash or hang ends the child, and the
    remaining probes run in a fresh one."""
    import cloudpickle

    payload = cloudpickle.dumps(model)
    outcomes: list[EdgeOutcome] = []
    while len(outcomes) < len(probes):
        outcomes += _one_child(payload, probes[len(outcomes) :], timeout_s, startup_s)
    return outcomes


def _one_child(
    payload: bytes, probes: list[EdgeProbe], timeout_s: float, startup_s: float
) -> list[EdgeOutcome]:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_child_main, args=(child, payload, probes), daemon=True)
    process.start()
    child.close()
    outcomes: list[EdgeOutcome] = []
    wait = startup_s
    try:
        while len(outcomes) < len(probes):
            current = probes[len(outcomes)]
            if not parent.poll(wait):
                outcomes.append(EdgeOutcome(current.label, "hung", f"no answer in {wait:g} s"))
                break
            try:
                message = parent.recv()
            except EOFError:
                process.join(5)
                code = process.exitcode
                outcomes.append(EdgeOutcome(current.label, "crashed", _exit_text(code)))
                break
            if message[0] == "started":
                wait = timeout_s
            else:
                outcomes.append(EdgeOutcome(current.label, message[1], message[2]))
                wait = timeout_s
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        parent.close()
    return outcomes


def _exit_text(code: int | None) -> str:
    if code is None:
        return "the process stopped answering"
    if code < 0:
        import signal

        return f"the process was killed by {signal.Signals(-code).name}"
    return f"the process exited with code {code}"


def _child_main(conn: Any, payload: bytes, probes: list[EdgeProbe]) -> None:
    import warnings

    warnings.simplefilter("ignore")  # overflow warnings are expected; outputs are checked
    model = pickle.loads(payload)
    for probe in probes:
        conn.send(("started", probe.label))
        verdict, message = classify(model, probe.frame)
        conn.send(("done", verdict, message))
    conn.close()


def classify(model: Any, frame: pd.DataFrame) -> tuple[str, str]:
    """answered (valid output), refused (an exception with a message), or what is wrong."""
    import numpy as np

    try:
        labels = np.asarray(model.predict(frame))
        method = getattr(model, "predict_proba", None)
        proba = None if method is None else np.asarray(method(frame), dtype=float)
    except Exception as exc:
        text = f"{type(exc).__name__}: {exc}".strip()
        if not str(exc).strip():
            return "invalid", f"refused with an empty {type(exc).__name__} message"
        return "refused", text
    rows = len(frame)
    if len(labels) != rows or (proba is not None and len(proba) != rows):
        return "invalid", f"answered {len(labels)} predictions for {rows} rows"
    if labels.dtype.kind in "fc" and not np.isfinite(labels).all():
        return "nan", f"predict() returned {_nonfinite(labels)} for {rows} rows"
    if proba is not None and not np.isfinite(proba).all():
        return "nan", f"predict_proba() returned {_nonfinite(proba)} for {rows} rows"
    return "answered", f"{rows} valid predictions"


def _nonfinite(values: Any) -> str:
    import numpy as np

    nan = int(np.isnan(values).sum())
    inf = int(np.isinf(values).sum())
    return ", ".join(p for p in (f"{nan} NaN" if nan else "", f"{inf} inf" if inf else "") if p)
