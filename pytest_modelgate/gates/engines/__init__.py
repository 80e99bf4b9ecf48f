"""Where a suite's statistics are computed: in memory (the whole frame at once), streaming
(Parquet record batches in this process) or on Apache Spark (per-partition sums).

The streaming and Spark engines compute every statistic as mergeable sums (``stats.sums``)
with counter-based Poisson bootstrap weights (``stats.poisson``): each check of a suite says
what sums it needs (``SumsRequest``), and one pass over the data, predictions included,
computes them all.
"""

from __future__ import annotations

ENGINES = ("memory", "streaming", "spark")
