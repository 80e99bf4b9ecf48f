"""A gate suite: one declarative file per model (data, target, sensitive features, gates).

::

    model: iris
    data: {reference: iris, split: eval}     # or {path: data/eval.parquet}
    target: species
    features: [sepal_length, ...]            # optional: else the model signature's inputs
    sensitive: [sex, age_group]              # optional
    gates:
      accuracy: {...}                        # each gate kind parses its own section
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from pytest_modelgate.suite.data import READERS, DataSpec
from pytest_modelgate.suite.nodes import Node, read_suite_file

_TOP_KEYS = {"model", "data", "target", "features", "sensitive", "gates", "description"}
_DATA_KEYS = {"path", "reference", "split"}


@dataclass(frozen=True)
class Suite:
    path: Path
    model: str
    data: DataSpec
    target: str
    features: tuple[str, ...] | None
    sensitive: tuple[str, ...]
    gates: Node = dataclasses.field(compare=False, repr=False)  # the sections gates.plan reads

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
    return Suite(path, model, data, target, features, sensitive, gates)


def data_spec(node: Node) -> DataSpec:
    """A ``{path: ...}`` or ``{reference: ..., split: ...}`` mapping (relative to the suite)."""
    from pytest_modelgate.reference import datasets as reference

    node.mapping().only(_DATA_KEYS)
    where = f"{node.path}:{node.line}"
    if node.has("path") == node.has("reference"):
        raise node.error("expected exactly one of 'path' (a CSV/Parquet file) or 'reference'")
    if node.has("path"):
        path_node = node.require("path")
        path = Path(path_node.as_str())
        path = path if path.is_absolute() else node.path.parent / path
        if path.suffix.lower() not in READERS:
            raise path_node.error(f"expected a {'/'.join(READERS)} file, got {path.name!r}")
        if not path.is_file():
            raise path_node.error(f"no such file: {path}")
        return DataSpec(where=where, path=path)
    ref = node.require("reference").as_choice(reference.NAMES)
    split = node.value_or("split", lambda n: n.as_choice(reference.SPLITS), "eval")
    return DataSpec(where=where, reference=ref, split=split)
