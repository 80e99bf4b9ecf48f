"""A Parquet evaluation set read a record batch at a time: a file, a directory of files or a
glob, on the local disk or at any fsspec URL, through ``pyarrow.dataset``.

Every row has a number: its position in the files taken in sorted order, then in its file.
The bootstrap draws of a row are keyed by that number (``stats.poisson``), so the in-process
batches and Spark's partitions (which read the same files; ``row_offsets`` gives each file's
first number) see the same draws.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_modelgate.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class Batch:
    """Rows ``first`` to ``first + len(frame) - 1`` of the evaluation set."""

    first: int
    frame: pd.DataFrame

    @property
    def rows(self) -> Any:
        import numpy as np

        return np.arange(self.first, self.first + len(self.frame), dtype=np.int64)


class ParquetSource:
    """The Parquet files of ``location`` (a path or URL: a file, a directory, a glob)."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.fs, self.files = _files(location)

    @functools.cached_property
    def _dataset(self) -> Any:
        import pyarrow.dataset as ds

        return ds.dataset(self.files, format="parquet", filesystem=self._arrow_fs())

    def _arrow_fs(self) -> Any:
        from fsspec.implementations.local import LocalFileSystem

        if isinstance(self.fs, LocalFileSystem):
            return None  # pyarrow's own local filesystem
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        return PyFileSystem(FSSpecHandler(self.fs))

    @property
    def columns(self) -> list[str]:
        return list(self._dataset.schema.names)

    @functools.cached_property
    def file_rows(self) -> list[int]:
        """Each file's number of rows, from its footer."""
        return [fragment.count_rows() for fragment in self._dataset.get_fragments()]

    @property
    def rows(self) -> int:
        return sum(self.file_rows)

    def row_offsets(self) -> dict[str, int]:
        """Each file's first row number."""
        out, first = {}, 0
        for name, count in zip(self.files, self.file_rows, strict=True):
            out[name] = first
            first += count
        return out

    def batches(self, columns: list[str], batch_rows: int) -> Iterator[Batch]:
        """The rows in order, ``batch_rows`` at a time (fewer at each file's end)."""
        first = 0
        for fragment in self._dataset.get_fragments():
            for record_batch in fragment.to_batches(
                columns=columns, batch_size=batch_rows, batch_readahead=1, fragment_readahead=1
            ):
                frame = record_batch.to_pandas()
                yield Batch(first, frame)
                first += len(frame)

    def read_all(self) -> pd.DataFrame:
        """Every row at once (the memory engine)."""
        frame: pd.DataFrame = self._dataset.to_table().to_pandas()
        return frame

    def head(self, columns: list[str], rows: int) -> pd.DataFrame:
        """The first ``rows`` rows."""
        import pandas as pd

        frames, taken = [], 0
        for batch in self.batches(columns, min(rows, 65_536)):
            frames.append(batch.frame.iloc[: rows - taken])
            taken += len(frames[-1])
            if taken >= rows:
                break
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

    def sha256(self) -> str:
        """One file: the sha256 of its bytes. Several: the sha256 of each file's name (relative
        to the first common directory) and sha256, one line each."""
        digests = []
        for name in self.files:
            with self.fs.open(name, "rb") as handle:
                digests.append(hashlib.file_digest(handle, "sha256").hexdigest())
        if len(self.files) == 1:
            return digests[0]
        import os.path

        root = os.path.commonpath(self.files)
        listing = "".join(
            f"{os.path.relpath(n, root)}\0{d}\n" for n, d in zip(self.files, digests, strict=True)
        )
        return hashlib.sha256(listing.encode()).hexdigest()


def _files(location: str) -> tuple[Any, list[str]]:
    import fsspec

    try:
        fs, inner = fsspec.core.url_to_fs(location)
        if any(ch in inner for ch in "*?["):
            found = [f for f in fs.glob(inner) if fs.isfile(f)]
        elif fs.isdir(inner):
            found = [f for f in fs.find(inner) if f.lower().endswith(PARQUET_SUFFIXES)]
        elif fs.isfile(inner):
            found = [inner]
        else:
            raise DataError(f"no such file or directory: {location}")
    except DataError:
        raise
    except Exception as exc:  # each filesystem raises its own errors (credentials, network)
        raise DataError(f"cannot list {location}: {type(exc).__name__}: {exc}") from None
    if not found:
        raise DataError(f"no Parquet files at {location}")
    return fs, sorted(found)
