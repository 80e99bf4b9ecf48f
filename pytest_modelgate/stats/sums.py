"""Mergeable sums: what every streamed statistic is made of.

A ``CellSums`` holds, per cell (one combination of a few discrete values: a (label, prediction)
pair, a group, a probability bin) and per term (a per-row number: an error, a log loss), the sum
over the cell's rows of term x weight, for weight 1 (the point value) and for each resample's
Poisson weight (``stats.poisson``). Term 0 is the weight itself, so each cell's count comes
with it. Sums over any split of the rows merge by addition (``merge``): the Beam-combiner shape
of TFX's evaluator, and what a Spark partition sends to the driver (``to_bytes``), which then
only holds resamples x cells x terms numbers.
"""

from __future__ import annotations

import io
from dataclasses import InitVar, dataclass, field
from typing import Any

import numpy as np


@dataclass
class CellSums:
    resamples: int
    terms: int  # per-row terms besides the weight
    keys: list[tuple[Any, ...]] = field(default_factory=list)
    given_point: InitVar[np.ndarray | None] = None  # cells x (1 + terms)
    given_draws: InitVar[np.ndarray | None] = None  # cells x resamples x (1 + terms)

    def __post_init__(self, given_point: np.ndarray | None, given_draws: np.ndarray | None) -> None:
        self._width = 1 + self.terms
        cells = len(self.keys)
        self._point = np.zeros((cells, self._width)) if given_point is None else given_point
        self._draws = (
            np.zeros((cells, self.resamples, self._width)) if given_draws is None else given_draws
        )
        self._index = {key: i for i, key in enumerate(self.keys)}

    @property
    def cells(self) -> int:
        return len(self.keys)

    def add(self, keys: list[np.ndarray], terms: np.ndarray | None, weights: np.ndarray) -> None:
        """Add rows: their key columns (one array per key; none for a single cell), their
        terms (rows x terms) and their weights (rows x resamples)."""
        n = len(weights)
        if n == 0:
            return
        values = np.ones((n, 1)) if terms is None else np.column_stack([np.ones(n), terms])
        if not keys:  # one cell: no grouping, one matrix product
            slot = self._slot(())
            self._point[slot] += values.sum(axis=0)
            self._draws[slot] += (values.T @ weights).T
            return
        local, inverse = _cells(keys, n)
        slots = np.array([self._slot(key) for key in local], dtype=np.int64)
        order = np.argsort(inverse, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(inverse[order]) != 0])
        sorted_values, sorted_weights = values[order], weights[order]
        self._point[slots] += np.add.reduceat(sorted_values, starts, axis=0)
        if self.terms == 0:
            # counts only: one segmented sum of the weights
            self._draws[slots, :, 0] += np.add.reduceat(sorted_weights, starts, axis=0)
            return
        ends = np.r_[starts[1:], n]
        for slot, a, b in zip(slots, starts, ends, strict=True):
            # one matrix product per cell: (1 + terms) x rows @ rows x resamples
            self._draws[slot] += (sorted_values[a:b].T @ sorted_weights[a:b]).T

    def add_summed(self, point: np.ndarray, draws: np.ndarray, key: tuple[Any, ...] = ()) -> None:
        """Add sums already taken over some rows of one cell: ``point`` (1 + terms) and
        ``draws`` (resamples x (1 + terms)), term 0 being the weight."""
        slot = self._slot(key)
        self._point[slot] += point
        self._draws[slot] += draws

    def _slot(self, key: tuple[Any, ...]) -> int:
        slot = self._index.get(key)
        if slot is None:
            slot = self._index[key] = len(self.keys)
            self.keys.append(key)
            if slot >= len(self._point):  # grow by doubling: many cells arrive one at a time
                more = max(8, len(self._point))
                self._point = np.concatenate([self._point, np.zeros((more, self._width))])
                self._draws = np.concatenate(
                    [self._draws, np.zeros((more, self.resamples, self._width))]
                )
        return slot

    @property
    def point(self) -> np.ndarray:
        return self._point[: len(self.keys)]

    @property
    def draws(self) -> np.ndarray:
        return self._draws[: len(self.keys)]

    def merge(self, other: CellSums) -> CellSums:
        """The sums over both parts' rows (in place)."""
        for i, key in enumerate(other.keys):
            slot = self._slot(key)
            self._point[slot] += other.point[i]
            self._draws[slot] += other.draws[i]
        return self

    def sorted(self) -> CellSums:
        """The same sums with cells in key order, so that merges in any order read alike."""
        order = sorted(range(self.cells), key=lambda i: _sort_key(self.keys[i]))
        return CellSums(
            self.resamples,
            self.terms,
            [self.keys[i] for i in order],
            self.point[order],
            self.draws[order],
        )

    def key_column(self, position: int) -> np.ndarray:
        """One key's value for every cell, as an array (object arrays turned back into
        numbers or strings where the values allow)."""
        values = [key[position] for key in self.keys]
        return np.asarray(values)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        keys = np.empty(len(self.keys), dtype=object)
        keys[:] = self.keys
        np.savez(buffer, point=self.point, draws=self.draws, keys=keys)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, resamples: int, terms: int) -> CellSums:
        loaded = np.load(io.BytesIO(data), allow_pickle=True)  # our own partitions' bytes
        return cls(
            resamples, terms, [tuple(k) for k in loaded["keys"]], loaded["point"], loaded["draws"]
        )


def _cells(keys: list[np.ndarray], n: int) -> tuple[list[tuple[Any, ...]], np.ndarray]:
    """The distinct key combinations of the rows (as tuples of plain values) and each row's."""
    if not keys:
        return [()], np.zeros(n, dtype=np.int64)
    import pandas as pd

    codes, uniques = [], []
    for column in keys:
        code, unique = pd.factorize(np.asarray(column), sort=False)
        codes.append(code.astype(np.int64))
        uniques.append(np.asarray(unique))
    sizes = [len(u) + 1 for u in uniques]
    combined = np.ravel_multi_index([c + 1 for c in codes], sizes)  # -1 (missing) -> 0
    distinct, inverse = np.unique(combined, return_inverse=True)
    parts = np.unravel_index(distinct, sizes)
    local = [
        tuple(_plain(u[p - 1]) if p > 0 else None for u, p in zip(uniques, combo, strict=True))
        for combo in zip(*(part.tolist() for part in parts), strict=True)
    ]
    return local, inverse.ravel()


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((v is None, type(v).__name__, v if v is not None else 0) for v in key)
