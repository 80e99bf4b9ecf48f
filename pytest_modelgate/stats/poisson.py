"""Poisson bootstrap weights from a counter-based generator: each row's weight in each resample
is a pure function of (row number, seed, resample), so any split of the rows into batches or
partitions draws the very same weights, and sums over the parts merge into the sums over all.

Why Poisson(1) and not the multinomial of the in-memory bootstrap: a multinomial's counts
depend on each other (they sum to n), so they cannot be drawn a part at a time; independent
Poisson(1) counts are its limit for large n (Hanley & MacGibbon 2006; TFX's evaluator and Spark
bootstraps use them too). Why a hand-written generator: numpy's ``Philox`` is counter-based
but draws a stream, not a value per (row, resample) key; this is SplitMix64's finaliser (Steele,
Lea & Flood 2014) on the key, vectorised over a block of rows. One 64-bit hash gives four
16-bit uniforms, each mapped to a Poisson(1) count through a 65,536-entry table of the inverse
CDF (every probability rounded to a multiple of 2^-16: counts of 8 or more, about 1e-5 of
draws, are not drawn, far below the Monte-Carlo error of any interval).
"""

from __future__ import annotations

import math

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_PER_HASH = 4  # 16-bit uniforms per 64-bit hash


def _poisson_table() -> np.ndarray:
    cdf = np.cumsum([math.exp(-1.0) / math.factorial(k) for k in range(12)])
    edges = np.round(cdf * 65536).astype(np.int64)
    return np.searchsorted(edges, np.arange(65536), side="right").astype(np.float64)


_TABLE = _poisson_table()


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, in place (uint64 arithmetic wraps, as the algorithm wants)."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def poisson_weights(rows: np.ndarray, seed: int, resamples: int) -> np.ndarray:
    """Rows x resamples weights: Poisson(1) draws keyed by each row number, seed and resample."""
    rows = np.asarray(rows, dtype=np.uint64)
    hashes = -(-resamples // _PER_HASH)
    with np.errstate(over="ignore"):
        base = _mix((rows + np.uint64(seed & 0xFFFFFFFF) * _GOLDEN) * _GOLDEN + np.uint64(1))
        blocks = np.arange(1, hashes + 1, dtype=np.uint64) * _GOLDEN
        keys = base[:, None] ^ blocks[None, :]
        _mix(keys)
    uniforms = keys.view(np.uint16).reshape(len(rows), hashes * _PER_HASH)[:, :resamples]
    weights: np.ndarray = _TABLE[uniforms]
    return weights
