"""A gate suite: one declarative file per model (data, target, sensitive features, gates).

::

    model: iris
    data: {reference: iris, split: eval}     # or {path: data/eval.parquet}
    target: species
    features: [sepal_length, ...]            # optional: else the model signature's inputs
    sensitive: [sex, age_group]              # optional
    task: regression                         # optional: else detected from model and target
    error_control: {alpha: 0.05, method: holm}  # optional: the run's options win
    gates:
      accuracy: {...}                        # each gate kind parses its own section
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from pytest_modelgate.suite.data import BATCH_ROWS, ENGINES, READERS, DataSpec
from pytest_modelgate.suite.nodes import Node, read_suite_file

_TOP_KEYS = {
    "model",
    "data",
    "target",
    "features",
    "sensitive",
    "gates",
    "description",
    "task",
    "error_control",
}
_DATA_KEYS = {
    "path",
    "reference",
    "split",
    "dvc",
    "rev",
    "repo",
    "engine",
    "batch_rows",
    "spark_master",
}
_ERROR_CONTROL_KEYS = {"alpha", "method"}
TASKS = ("classification", "regression")
METHODS = ("holm", "bonferroni", "none")


@dataclass(frozen=True)
class ErrorControlSpec:
    """A suite's ``error_control``: the family-wise error level and correction it asks for."""

    alpha: float | None
    method: str | None
    where: str  # file:line, for messages


@dataclass(frozen=True)
class Suite:
    path: Path
    model: str
    data: DataSpec
    target: str
    features: tuple[str, ...] | None
    sensitive: tuple[str, ...]
    gates: Node = dataclasses.field(compare=False, repr=False)  # the sections gates.plan reads
    task: str | None = None  # classification or regression; None: detected
    task_where: str = ""
    error_control: ErrorControlSpec | None = None

    def __hash__(self) -> int:
        return hash(self.path)


def read_model_name(path: Path) -> str:
    """The suite's model, read before the rest so other models' suites are left alone."""
    return read_suite_file(path).require("model").as_str()


def load_suite(path: Path) -> Suite:
    """Parse the suite's common keys; each gate section is left for its gate kind to read."""
    root = read_suite_file(path).only(_TOP_KEYS)
    model = root.require("model").as_str()
    data = data_spec(root.require("data"))
    target = root.require("target").as_str()
    features = root.value_or("features", Node.as_str_list, None)
    sensitive: tuple[str, ...] = root.value_or("sensitive", Node.as_str_list, ())
    gates = root.require("gates").mapping()
    if not gates.keys():
        raise gates.error("expected at least one gate")
    task_node = root.get("task")
    task = task_node.as_choice(TASKS) if task_node else None
    task_where = f"{path}:{task_node.line}" if task_node else ""
    control = root.get("error_control")
    return Suite(
        path,
        model,
        data,
        target,
        features,
        sensitive,
        gates,
        task=task,
        task_where=task_where,
        error_control=_error_control(control) if control else None,
    )


def _error_control(node: Node) -> ErrorControlSpec:
    node.mapping().only(_ERROR_CONTROL_KEYS)
    alpha = node.value_or("alpha", lambda n: n.as_fraction(open_low=True), None)
    method = node.value_or("method", lambda n: n.as_choice(METHODS), None)
    return ErrorControlSpec(alpha, method, f"{node.path}:{node.line}")


def _url_spec(node: Node, where: str) -> DataSpec:
    """An fsspec URL: its format from its suffix, its filesystem and the file checked now, so
    a typo or a missing filesystem package is a suite error, not a failure inside a gate."""
    from urllib.parse import urlsplit

    url = node.as_str().strip()
    suffix = Path(urlsplit(url).path).suffix.lower()
    if suffix not in READERS:
        raise node.error(f"expected a {'/'.join(READERS)} file, got {url!r}")
    try:
        import fsspec

        fs, inner = fsspec.core.url_to_fs(url)
        found = fs.isfile(inner)
    except ImportError as exc:
        raise node.error(f"cannot open {url}: {exc}") from None
    except Exception as exc:  # each filesystem raises its own errors (credentials, network)
        raise node.error(f"cannot open {url}: {type(exc).__name__}: {exc}") from None
    if not found:
        raise node.error(f"no such file: {url}")
    return DataSpec(where=where, url=url)


def _dvc_spec(node: Node, where: str) -> DataSpec:
    """A file tracked by DVC, at a git revision: the repository (``repo``, else the nearest
    one above the suite), the revision and the file checked now, through DVC's own API."""
    path_node = node.require("dvc")
    path = path_node.as_str().strip()
    if Path(path).suffix.lower() not in READERS:
        raise path_node.error(f"expected a {'/'.join(READERS)} file, got {path!r}")
    rev = node.value_or("rev", lambda n: str(n.value).strip(), None)
    repo_node = node.get("repo")
    repo = _dvc_root(node.path.parent) if repo_node is None else (
        node.path.parent / repo_node.as_str()
    ).resolve()  # fmt: skip
    if repo is None or not (repo / ".dvc").is_dir():
        raise (repo_node or path_node).error(
            f"no DVC repository (a directory with .dvc/) "
            f"{'at ' + str(repo) if repo else 'above ' + str(node.path.parent)}: name it with "
            "'repo'"
        )
    try:
        from dvc.api import DVCFileSystem
    except ImportError:
        raise path_node.error(
            "data tracked by DVC needs DVC: pip install 'pytest-modelgate[dvc]'"
        ) from None
    try:
        fs = DVCFileSystem(str(repo), rev=rev)
        if rev is not None:
            fs.repo.scm.resolve_rev(rev)  # an unknown revision is an error, not the workspace
        found = fs.isfile(path)
    except Exception as exc:  # DVC and its git backends raise their own errors
        raise node.error(
            f"cannot read {path} at {rev or 'the workspace'} of {repo}: {type(exc).__name__}: {exc}"
        ) from None
    if not found:
        raise path_node.error(f"{path} is not in {repo} at {rev or 'the workspace'}")
    return DataSpec(where=where, dvc=path, rev=rev, repo=repo)


def _dvc_root(start: Path) -> Path | None:
    for directory in (start.resolve(), *start.resolve().parents):
        if (directory / ".dvc").is_dir():
            return directory
    return None


def data_spec(node: Node) -> DataSpec:
    """A ``{path: ...}`` or ``{reference: ..., split: ...}`` mapping (relative to the suite),
    with the engine that computes its statistics."""
    spec = _source_spec(node)
    engine = node.value_or("engine", lambda n: n.as_choice(ENGINES), "memory")
    batch_rows = node.value_or("batch_rows", lambda n: n.as_int(minimum=1), BATCH_ROWS)
    master = node.value_or("spark_master", Node.as_str, None)
    if engine != "memory" and not _parquet(spec):
        raise node.require("engine").error(
            f"engine {engine} reads Parquet (a file, a directory or a glob given as 'path'); "
            f"got {spec.describe()}"
        )
    if master is not None and engine != "spark":
        raise node.require("spark_master").error("'spark_master' goes with 'engine: spark'")
    if engine == "spark":
        _require_pyspark(node.require("engine"))
    return dataclasses.replace(spec, engine=engine, batch_rows=batch_rows, spark_master=master)


def with_engine(suite: Suite, engine: str, where: str) -> Suite:
    """The suite with the run's engine (``--gate-engine``) in place of its data's own."""
    from pytest_modelgate.errors import ConfigError, MissingExtraError
    from pytest_modelgate.extras import require

    if engine != "memory" and not _parquet(suite.data):
        raise ConfigError(
            f"{where}: engine {engine} reads Parquet (a file, a directory or a glob), but "
            f"{suite.path} reads {suite.data.describe()}"
        )
    if engine == "spark":
        try:
            require(f"{where}: engine spark", "pyspark")
        except MissingExtraError as exc:
            raise ConfigError(str(exc)) from None
    data = dataclasses.replace(suite.data, engine=engine)
    return dataclasses.replace(suite, data=data)


def _require_pyspark(node: Node) -> None:
    from pytest_modelgate.errors import MissingExtraError
    from pytest_modelgate.extras import require

    try:
        require("engine spark", "pyspark")
    except MissingExtraError as exc:
        raise node.error(str(exc)) from None


def _parquet(spec: DataSpec) -> bool:
    if spec.path is None and spec.url is None:
        return False
    location = spec.location.lower()
    return location.endswith((".parquet", ".pq")) or _many(location)


def _many(location: str) -> bool:
    """A glob, or a directory (given without a file suffix)."""
    return any(ch in location for ch in "*?[") or Path(location).suffix == ""


def _source_spec(node: Node) -> DataSpec:
    from pytest_modelgate.reference import datasets as reference

    node.mapping().only(_DATA_KEYS)
    where = f"{node.path}:{node.line}"
    if [node.has("path"), node.has("dvc"), node.has("reference")].count(True) != 1:
        raise node.error(
            "expected exactly one of 'path' (a CSV/Parquet file or URL), 'dvc' (a file tracked "
            "by DVC) or 'reference'"
        )
    if node.has("dvc"):
        return _dvc_spec(node, where)
    for key in ("rev", "repo"):
        if node.has(key):
            raise node.require(key).error(f"'{key}' goes with 'dvc' (a file tracked by DVC)")
    if node.has("path"):
        path_node = node.require("path")
        if "://" in path_node.as_str():
            if _many(path_node.as_str()):
                return DataSpec(where=where, url=path_node.as_str().strip())
            return _url_spec(path_node, where)
        path = Path(path_node.as_str())
        path = path if path.is_absolute() else node.path.parent / path
        if _many(str(path)):
            return _parquet_set(path_node, path, where)
        if path.suffix.lower() not in READERS:
            raise path_node.error(f"expected a {'/'.join(READERS)} file, got {path.name!r}")
        if not path.is_file():
            raise path_node.error(f"no such file: {path}")
        return DataSpec(where=where, path=path)
    ref = node.require("reference").as_choice(reference.NAMES)
    split = node.value_or("split", lambda n: n.as_choice(reference.SPLITS), "eval")
    return DataSpec(where=where, reference=ref, split=split)


def _parquet_set(node: Node, path: Path, where: str) -> DataSpec:
    """A directory of Parquet files or a glob of them: checked now for at least one file."""
    if any(ch in str(path) for ch in "*?["):
        found = any(p.is_file() for p in Path(path.anchor).glob(str(path.relative_to(path.anchor))))
    else:
        found = path.is_dir() and any(
            p.suffix.lower() in (".parquet", ".pq") for p in path.rglob("*")
        )
    if not found:
        raise node.error(f"no Parquet files at {path}")
    return DataSpec(where=where, path=path)
