"""The dataset loader: CSV/Parquet files or a reference dataset, with a sha256 data hash.

A file's hash is the sha256 of its bytes (anyone can check it with ``sha256sum``); a reference
dataset's hash is the sha256 of its rows as pandas hashes them, so it also names the split.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_modelgate.errors import DataError
from pytest_modelgate.suite.data import READERS, DataSpec

if TYPE_CHECKING:
    import pandas as pd

    from pytest_modelgate.candidate.batches import ParquetSource

# the rows a streamed dataset keeps in memory, for the checks that work on a sample
SAMPLE_ROWS = 10_000


@dataclass(frozen=True)
class Dataset:
    frame: pd.DataFrame
    target: str
    features: tuple[str, ...]
    sha256: str
    source: str
    # for a file tracked by DVC: its path, revision, commit and md5 as DVC knows them
    dvc: dict[str, str] | None = None
    # streaming and Spark engines: the Parquet files read a batch at a time, and how many
    # rows they hold; ``frame`` is then their first rows only, a sample for the checks that
    # work on one (robustness, latency, the schema's output and malformed-input probes)
    stream: ParquetSource | None = None
    total_rows: int | None = None
    engine: str = "memory"

    @property
    def X(self) -> pd.DataFrame:
        """The feature columns: a copy (pandas selects columns by copying), made when asked
        and not kept, so that a large frame is not held twice for the whole run (the
        predictions made from it are kept)."""
        return self.frame.loc[:, list(self.features)]

    @functools.cached_property
    def y(self) -> Any:
        return self.frame[self.target].to_numpy()

    @property
    def rows(self) -> int:
        return len(self.frame) if self.total_rows is None else self.total_rows

    @property
    def streamed(self) -> bool:
        return self.stream is not None

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"source": self.source, "sha256": self.sha256, "rows": self.rows}
        if self.streamed:
            found |= {"engine": self.engine, "sample_rows": len(self.frame)}
        return found | ({"dvc": self.dvc} if self.dvc else {})


def read_frame(spec: DataSpec) -> tuple[pd.DataFrame, str]:
    """The raw frame and its sha256."""
    if spec.path is not None or spec.url is not None or spec.dvc is not None:
        return _read_file(spec)
    from pytest_modelgate.reference import datasets as reference

    frame = reference.load(spec.reference or "", spec.split)
    return frame, frame_sha256(frame)


def load_dataset(
    spec: DataSpec,
    target: str,
    features: tuple[str, ...] | None,
    model_inputs: tuple[str, ...] | None,
) -> Dataset:
    """Read the data and pick feature columns: the suite's list, else the model signature's
    inputs, else every column but the target. A streaming engine reads the first rows only
    and counts the others."""
    if spec.engine != "memory":
        return _streamed(spec, target, features, model_inputs)
    frame, digest = read_frame(spec)
    if target not in frame.columns:
        raise DataError(
            f"target column {target!r} (suite {spec.where}) is not in {spec.describe()}; "
            f"columns: {', '.join(map(str, frame.columns))}"
        )
    chosen = features or model_inputs or tuple(str(c) for c in frame.columns if c != target)
    missing = [c for c in chosen if c not in frame.columns]
    if missing:
        origin = "the suite's features" if features else "the model signature"
        raise DataError(
            f"{spec.describe()} lacks columns that {origin} needs: {', '.join(missing)}"
        )
    if frame.empty:
        raise DataError(f"{spec.describe()} has no rows: a gate cannot decide on nothing")
    if frame[target].isna().any():
        raise DataError(
            f"target column {target!r} in {spec.describe()} has "
            f"{int(frame[target].isna().sum())} missing values"
        )
    facts = dvc_facts(spec) if spec.dvc is not None else None
    return Dataset(frame, target, tuple(chosen), digest, spec.describe(), facts)


def _streamed(
    spec: DataSpec,
    target: str,
    features: tuple[str, ...] | None,
    model_inputs: tuple[str, ...] | None,
) -> Dataset:
    from pytest_modelgate.candidate.batches import ParquetSource

    source = ParquetSource(spec.location)
    columns = source.columns
    if target not in columns:
        raise DataError(
            f"target column {target!r} (suite {spec.where}) is not in {spec.describe()}; "
            f"columns: {', '.join(columns)}"
        )
    chosen = features or model_inputs or tuple(c for c in columns if c != target)
    missing = [c for c in chosen if c not in columns]
    if missing:
        origin = "the suite's features" if features else "the model signature"
        raise DataError(
            f"{spec.describe()} lacks columns that {origin} needs: {', '.join(missing)}"
        )
    if source.rows == 0:
        raise DataError(f"{spec.describe()} has no rows: a gate cannot decide on nothing")
    sample = source.head(columns, SAMPLE_ROWS)
    return Dataset(
        sample,
        target,
        tuple(chosen),
        source.sha256(),
        spec.describe(),
        stream=source,
        total_rows=source.rows,
        engine=spec.engine,
    )


def dvc_facts(spec: DataSpec) -> dict[str, str]:
    """What DVC says of the file: its revision, the commit it resolves to, and its md5."""
    fs = _dvc_fs(spec)
    scm = fs.repo.scm
    commit = scm.resolve_rev(spec.rev) if spec.rev is not None else scm.get_rev()
    return {
        "path": str(spec.dvc),
        "rev": spec.rev or "workspace",
        "commit": str(commit),
        "md5": str(fs.info(spec.dvc).get("md5") or ""),
    }


def _dvc_fs(spec: DataSpec) -> Any:
    from dvc.api import DVCFileSystem

    return DVCFileSystem(str(spec.repo), rev=spec.rev)


def _read_file(spec: DataSpec) -> tuple[pd.DataFrame, str]:
    import pandas as pd

    where = spec.describe()
    if spec.dvc is None and (not _suffix(spec) or any(c in spec.location for c in "*?[")):
        from pytest_modelgate.candidate.batches import ParquetSource

        source = ParquetSource(spec.location)  # a directory or a glob of Parquet files
        return source.read_all(), source.sha256()
    reader = READERS.get(_suffix(spec))
    if reader is None:
        raise DataError(f"{where}: unsupported data format; expected {', '.join(READERS)}")
    # hashed as a stream and parsed from the file itself: the bytes are never held whole
    try:
        with _open(spec) as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        raise DataError(
            f"cannot read evaluation data {where} (suite {spec.where}): {exc}"
        ) from None
    try:
        with _open(spec) as handle:
            frame = getattr(pd, reader)(handle)
    except Exception as exc:  # pandas/pyarrow raise many types for a corrupt file
        raise DataError(f"cannot parse {where} as {_suffix(spec)}: {exc}") from None
    if reader == "read_parquet":
        import pyarrow

        pyarrow.default_memory_pool().release_unused()  # the Arrow table it was read into
    return frame, digest


def _suffix(spec: DataSpec) -> str:
    from pathlib import PurePosixPath
    from urllib.parse import urlsplit

    if spec.path is not None:
        return spec.path.suffix.lower()
    if spec.dvc is not None:
        return PurePosixPath(spec.dvc).suffix.lower()
    return PurePosixPath(urlsplit(spec.url or "").path).suffix.lower()


def _open(spec: DataSpec) -> Any:
    """A binary file object: the local file, the DVC-tracked file (from DVC's cache or its
    remote), else the URL through fsspec."""
    if spec.path is not None:
        return spec.path.open("rb")
    if spec.dvc is not None:
        return _dvc_fs(spec).open(spec.dvc, "rb")
    import fsspec

    return fsspec.open(spec.url, "rb").open()


def frame_sha256(frame: pd.DataFrame) -> str:
    """A content hash of a frame: column names, dtypes and every row (vectorised by pandas)."""
    import pandas as pd

    digest = hashlib.sha256()
    digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()
