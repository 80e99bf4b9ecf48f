"""One bootstrap pass for an accuracy section: its metrics on the same rows with the same seed
draw the very same row weights, so the first item that asks computes every metric's resamples
at once (its threshold items together, its champion comparisons together), and the others read
theirs. The figures are exactly those each item would compute alone. On the streaming and
Spark engines the suite's one pass over the data computes them (``sum_requests``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from pytest_modelgate.gates.accuracy.spec import MetricGate
    from pytest_modelgate.gates.api import GateContext

Outputs = tuple["np.ndarray", tuple["np.ndarray", ...]]  # the target, each model's scored outputs


def _roles(paired: bool) -> tuple[str, ...]:
    return ("candidate", "champion") if paired else ("candidate",)


class SectionDraws:
    def __init__(self, gates: list[MetricGate]) -> None:
        self.gates = gates
        self._done: dict[str, dict[str, Any]] = {}

    def single(self, ctx: GateContext, gate: MetricGate) -> tuple[int, float, np.ndarray]:
        """The rows, and the candidate's point value and resampled values for ``gate``."""
        rows, ((point, values),) = self._get(ctx, gate, paired=False)
        return rows, point, values

    def paired(
        self, ctx: GateContext, gate: MetricGate
    ) -> tuple[int, tuple[float, np.ndarray], tuple[float, np.ndarray]]:
        """The rows, and candidate's and champion's point values and resampled values."""
        rows, (ours, theirs) = self._get(ctx, gate, paired=True)
        return rows, ours, theirs

    def sum_requests(self, ctx: GateContext, gate: MetricGate, *, paired: bool) -> list[Any]:
        """What the streaming pass computes for ``gate`` (streaming and Spark engines)."""
        from pytest_modelgate.gates.accuracy import streamed

        return streamed.requests(ctx, gate, _roles(paired))

    def _get(self, ctx: GateContext, gate: MetricGate, *, paired: bool) -> Any:
        if ctx.eval_data(gate.suite).streamed:
            from pytest_modelgate.gates.accuracy import streamed

            return streamed.rows_of(ctx, gate), streamed.values(ctx, gate, _roles(paired))
        kind = "paired" if paired else "single"
        if kind not in self._done:
            self._done[kind] = self._compute(ctx, paired)
        outcome = self._done[kind][gate.label]
        if isinstance(outcome, BaseException):
            raise outcome
        (y, _), figures = outcome
        return len(y), figures

    def _compute(self, ctx: GateContext, paired: bool) -> dict[str, Any]:
        from pytest_modelgate.gates.accuracy.outputs import scored_outputs
        from pytest_modelgate.stats.bootstrap import Job, distributions

        wanted = [
            g
            for g in self.gates
            if (
                g.max_drop is not None if paired else g.minimum is not None or g.maximum is not None
            )
        ]
        jobs: list[Job | BaseException] = []
        outputs: list[Outputs | None] = []
        for g in wanted:
            try:
                y, ours = scored_outputs(ctx, g, "candidate")
                scored = (ours, scored_outputs(ctx, g, "champion")[1]) if paired else (ours,)
                jobs.append(Job(g.spec.function, y, scored))
                outputs.append((y, scored))
            except Exception as exc:
                jobs.append(exc)
                outputs.append(None)
        by_seed: dict[tuple[int, int], list[int]] = {}
        for i, g in enumerate(wanted):
            by_seed.setdefault((g.policy.resamples, g.policy.seed), []).append(i)
        done: dict[str, Any] = {}
        for (resamples, seed), members in by_seed.items():
            results = distributions([jobs[i] for i in members], resamples, seed)
            for i, result in zip(members, results, strict=True):
                out = outputs[i]
                done[wanted[i].label] = (
                    result if out is None or isinstance(result, BaseException) else (out, result)
                )
        return done
