"""An accuracy metric on the streaming and Spark engines: the sums it needs per batch, and its
point value and resampled values from them.

Label metrics (any sklearn one) count (truth, prediction) cells; regression errors and
probability losses sum their per-row terms (``stats.moments``); binary ROC AUC counts positives
and negatives per score bin. A metric that is none of these (a median, an average precision)
cannot be merged from sums and says so, naming the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_modelgate.errors import MetricError
from pytest_modelgate.gates.accuracy.outputs import scored_outputs
from pytest_modelgate.gates.engines.requests import LABELS, PROBA, SumsRequest, View, target_of

if TYPE_CHECKING:
    import numpy as np

    from pytest_modelgate.gates.accuracy.spec import MetricGate
    from pytest_modelgate.gates.api import GateContext
    from pytest_modelgate.gates.slices import Slice
    from pytest_modelgate.stats.metrics import MetricSpec
    from pytest_modelgate.stats.sums import CellSums

LABEL, MOMENTS, AUC = "labels", "moments", "auc"


@dataclass(frozen=True)
class Scored:
    """What a metric scores of one model's outputs on a batch (plain values only: it runs
    in Spark's workers too)."""

    spec: MetricSpec
    role: str
    classes: list[Any] | None

    def __call__(self, view: View) -> np.ndarray:
        from pytest_modelgate.stats.metrics import score_input

        if not self.spec.needs_proba:
            return view.output(self.role, LABELS)
        proba = view.output(self.role, PROBA)
        scored: np.ndarray = score_input(self.spec, None, proba, self.classes)
        return scored

    @property
    def output(self) -> tuple[str, str]:
        return (self.role, PROBA if self.spec.needs_proba else LABELS)


@dataclass(frozen=True)
class LabelRows:
    target: str
    scored: tuple[Scored, ...]

    def __call__(self, view: View) -> tuple[list[Any], None]:
        return [target_of(view, self.target), *(s(view) for s in self.scored)], None


@dataclass(frozen=True)
class MomentRows:
    target: str
    scored: tuple[Scored, ...]
    classes: list[Any] | None

    def __call__(self, view: View) -> tuple[list[Any], np.ndarray]:
        import numpy as np

        from pytest_modelgate.stats.moments import summed_terms

        y = target_of(view, self.target)
        parts = []
        for s in self.scored:
            summed = summed_terms(s.spec.function, y, s(view), self.classes)
            if summed is None:
                raise MetricError(f"metric {s.spec.name!r} cannot score these rows as sums")
            parts.append(summed.terms)
        return [], np.column_stack(parts)


@dataclass(frozen=True)
class AucRows:
    target: str
    scored: Scored
    positive: Any

    def __call__(self, view: View) -> tuple[list[Any], None]:
        from pytest_modelgate.stats.moments import auc_bin

        y = target_of(view, self.target)
        return [y == self.positive, auc_bin(self.scored(view))], None


def kind_of(gate: MetricGate) -> str:
    from pytest_modelgate.stats.moments import covers

    func = getattr(gate.spec.function, "func", gate.spec.function)
    if getattr(func, "__name__", "") == "roc_auc_score" and not gate.spec.params:
        return AUC
    if covers(gate.spec.function):
        return MOMENTS
    if not gate.spec.needs_proba and gate.spec.task == "classification":
        return LABEL
    raise MetricError(
        f"metric {gate.spec.name!r} ({gate.label}) cannot be merged from sums per batch, which "
        f"the {gate.suite.data.engine} engine needs; it can gate any sklearn label metric, "
        "rmse, mse, mae, mape, r2, explained_variance, log_loss, brier_score_loss and binary "
        "roc_auc, or use 'engine: memory'"
    )


@dataclass(frozen=True)
class SlicedRows:
    """Another request's rows with the slice's mask as a first key column."""

    rows: Any
    where: Slice

    def __call__(self, view: View) -> tuple[list[Any], Any]:
        keys, terms = self.rows(view)
        return [self.where.mask(view.frame), *keys], terms


def requests(
    ctx: GateContext, gate: MetricGate, roles: tuple[str, ...], where: Slice | None = None
) -> list[SumsRequest]:
    """The sums of ``gate``'s metric for these models (the candidate, and the champion for a
    comparison), on every row or on a slice's, checked first on the dataset's sample so that a
    metric that does not fit the model says why as it does in memory."""
    asked = _requests(ctx, gate, roles)
    if where is None:
        return asked
    import dataclasses

    return [
        dataclasses.replace(
            r,
            key=f"{r.key}@{where.name}",
            rows=SlicedRows(r.rows, where),
            columns=(*r.columns, *_slice_columns(ctx, gate, where)),
        )
        for r in asked
    ]


def _slice_columns(ctx: GateContext, gate: MetricGate, where: Slice) -> tuple[str, ...]:
    if where.column is not None:
        return (where.column,)
    return tuple(str(c) for c in ctx.eval_data(gate.suite).stream.columns)  # type: ignore[union-attr]


def sliced(
    ctx: GateContext, gate: MetricGate, where: Slice
) -> tuple[int, list[tuple[float, np.ndarray]]]:
    """The slice's rows, and the metric's point value and resampled values on them."""
    asked = requests(ctx, gate, ("candidate",), where)
    found = [_restrict(ctx.sums(gate.suite, r)) for r in asked]
    rows = int(found[0].point[:, 0].sum()) if found[0].cells else 0
    if rows == 0:
        return 0, []
    return rows, _finish_values(ctx, gate, ("candidate",), found, asked)


def _restrict(sums: CellSums) -> CellSums:
    """The cells whose first key (the slice's mask) is true, without that key."""
    from pytest_modelgate.stats.sums import CellSums

    chosen = [i for i, key in enumerate(sums.keys) if key[0]]
    return CellSums(
        sums.resamples,
        sums.terms,
        [sums.keys[i][1:] for i in chosen],
        sums.point[chosen],
        sums.draws[chosen],
    )


def _requests(ctx: GateContext, gate: MetricGate, roles: tuple[str, ...]) -> list[SumsRequest]:
    handles = [ctx.candidate if r == "candidate" else ctx.champion for r in roles]
    for role in roles:
        scored_outputs(ctx, gate, role)
    kind = kind_of(gate)
    classes = [_classes(h) for h in handles]
    scored = tuple(Scored(gate.spec, r, c) for r, c in zip(roles, classes, strict=True))
    target = gate.suite.target
    policy = gate.policy
    base = f"accuracy:{gate.label}:{'+'.join(roles)}"
    common = {"resamples": policy.resamples, "seed": policy.seed, "columns": (target,)}
    outputs = tuple(s.output for s in scored)
    if kind == LABEL:
        rows = LabelRows(target, scored)
        return [SumsRequest(base, terms=0, rows=rows, outputs=outputs, **common)]  # type: ignore[arg-type]
    if kind == AUC:
        positive = sorted(classes[0] or [0, 1])[-1]
        return [
            SumsRequest(
                f"{base}:{s.role}",
                terms=0,
                rows=AucRows(target, s, positive),
                outputs=(s.output,),
                **common,  # type: ignore[arg-type]
            )
            for s in scored
        ]
    width = _terms(ctx, gate, roles, classes[0])
    moments = MomentRows(target, scored, classes[0])
    return [SumsRequest(base, terms=width * len(roles), rows=moments, outputs=outputs, **common)]  # type: ignore[arg-type]


def values(
    ctx: GateContext, gate: MetricGate, roles: tuple[str, ...]
) -> list[tuple[float, np.ndarray]]:
    """Each model's point value and values on every resample, from the suite's pass."""
    asked = requests(ctx, gate, roles)
    return _finish_values(ctx, gate, roles, [ctx.sums(gate.suite, r) for r in asked], asked)


def _finish_values(
    ctx: GateContext,
    gate: MetricGate,
    roles: tuple[str, ...],
    found: list[CellSums],
    asked: list[SumsRequest],
) -> list[tuple[float, np.ndarray]]:
    from pytest_modelgate.stats import summed

    kind = kind_of(gate)
    if kind == LABEL:
        sums = found[0]
        return [summed.label_values(gate.spec.function, sums, 0, 1 + m) for m in range(len(roles))]
    if kind == AUC:
        from pytest_modelgate.stats.moments import AUC_BINS

        return [summed.auc_values(sums, AUC_BINS) for sums in found]
    width = asked[0].terms // len(roles)
    finish = _finish(ctx, gate)
    return [summed.moment_values(finish, found[0], m * width, width) for m in range(len(roles))]


def rows_of(ctx: GateContext, gate: MetricGate) -> int:
    return ctx.eval_data(gate.suite).rows


def _classes(handle: Any) -> list[Any] | None:
    classes = None if handle is None else handle.classes
    return (
        None
        if classes is None
        else list(classes.tolist() if hasattr(classes, "tolist") else classes)
    )


def _terms(ctx: GateContext, gate: MetricGate, roles: tuple[str, ...], classes: Any) -> int:
    summed = _summed_on_sample(ctx, gate, classes)
    return int(summed.terms.shape[1])


def _finish(ctx: GateContext, gate: MetricGate) -> Any:
    return _summed_on_sample(ctx, gate, _classes(ctx.candidate)).finish


def _summed_on_sample(ctx: GateContext, gate: MetricGate, classes: Any) -> Any:
    from pytest_modelgate.stats.moments import summed_terms

    y, scored = scored_outputs(ctx, gate, "candidate")
    summed = summed_terms(gate.spec.function, y, scored, classes)
    if summed is None:
        raise MetricError(
            f"metric {gate.spec.name!r} ({gate.label}) with params {gate.spec.params} cannot be "
            f"merged from sums per batch (engine {gate.suite.data.engine}); use 'engine: memory'"
        )
    return summed
