"""Where a suite's evaluation data comes from: a CSV/Parquet file (a local path, or any fsspec
URL such as s3://bucket/eval.parquet when that filesystem's package is installed) or a
reference dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

READERS = {".csv": "read_csv", ".parquet": "read_parquet", ".pq": "read_parquet"}
ENGINES = ("memory", "streaming", "spark")
BATCH_ROWS = 65_536


@dataclass(frozen=True)
class DataSpec:
    """Where a suite's evaluation data comes from (``where`` is its file:line, for errors)."""

    where: str
    path: Path | None = None
    url: str | None = None  # an fsspec URL, read through fsspec
    dvc: str | None = None  # a path in a DVC repository, read through DVC at ``rev``
    rev: str | None = None  # a git revision of that repository (None: its workspace)
    repo: Path | None = None  # the DVC repository's root
    reference: str | None = None
    split: str = "eval"
    # where the statistics are computed: memory (one frame), streaming (Parquet record
    # batches in this process) or spark; a Parquet directory or glob needs one of the last two
    engine: str = "memory"
    batch_rows: int = BATCH_ROWS
    spark_master: str | None = None  # else the active session, else Spark's own settings

    @property
    def location(self) -> str:
        """The path or URL of the data (a file, a directory or a glob)."""
        return str(self.path) if self.path is not None else str(self.url)

    def describe(self) -> str:
        if self.path is not None:
            return str(self.path)
        if self.url is not None:
            return self.url
        if self.dvc is not None:
            return f"dvc:{self.dvc}@{self.rev or 'workspace'}"
        return f"reference:{self.reference}[{self.split}]"
