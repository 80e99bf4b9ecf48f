"""Read a declarative gate suite (YAML) keeping line numbers, so a bad key is reported as
``gates/iris.yaml:12: gates.accuracy.metrics.f1_macro.min: expected a number, got 'high'``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml

from pytest_modelgate.errors import SuiteError
from pytest_modelgate.jsonio import plain

T = TypeVar("T")


class _LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings remember the line of each key."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)
    mapping = _LineDict()
    mapping.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = key_node.start_mark.line + 1
    return mapping


class _LineDict(dict[Any, Any]):
    line: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[Any, int] = {}


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    dict: "a mapping",
    list: "a list",
}


class Node:
    """A value in a suite file with its dotted key path and line, for precise errors."""

    def __init__(self, value: Any, path: Path, key: str, line: int | None) -> None:
        self.value, self.path, self.key, self.line = value, path, key, line

    def error(self, message: str) -> SuiteError:
        return SuiteError(self.path, self.line, self.key, message)

    def _child(self, key: str) -> Node:
        lines = getattr(self.value, "lines", {})
        dotted = f"{self.key}.{key}" if self.key else key
        return Node(self.value[key], self.path, dotted, lines.get(key, self.line))

    def mapping(self) -> Node:
        if not isinstance(self.value, dict):
            raise self.error(f"expected a mapping, got {_describe(self.value)}")
        return self

    def keys(self) -> list[str]:
        return [str(k) for k in self.mapping().value]

    def items(self) -> Iterator[tuple[str, Node]]:
        for key in self.keys():
            yield key, self._child(key)

    def has(self, key: str) -> bool:
        return key in self.mapping().value

    def get(self, key: str) -> Node | None:
        return self._child(key) if self.has(key) else None

    def value_or(self, key: str, convert: Callable[[Node], T], default: T) -> T:
        """``convert(child)`` when the key is present, else ``default``."""
        child = self.get(key)
        return default if child is None else convert(child)

    def require(self, key: str) -> Node:
        if not self.has(key):
            dotted = f"{self.key}.{key}" if self.key else key
            raise SuiteError(self.path, self.line, dotted, "missing required key")
        return self._child(key)

    def only(self, allowed: set[str]) -> Node:
        """Reject unknown keys: a typo must not silently disable a threshold."""
        for key in self.keys():
            if key not in allowed:
                child = self._child(key)
                raise child.error(f"unknown key; expected one of {', '.join(sorted(allowed))}")
        return self

    def as_str(self) -> str:
        if not isinstance(self.value, str) or not self.value.strip():
            raise self.error(f"expected a non-empty string, got {_describe(self.value)}")
        return self.value

    def as_number(self) -> float:
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            raise self.error(f"expected a number, got {_describe(self.value)}")
        return float(self.value)

    def as_int(self, minimum: int | None = None) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise self.error(f"expected an integer, got {_describe(self.value)}")
        if minimum is not None and self.value < minimum:
            raise self.error(f"expected an integer >= {minimum}, got {self.value}")
        return self.value

    def as_fraction(self, *, open_low: bool = False) -> float:
        number = self.as_number()
        if not (0 < number < 1 if open_low else 0 <= number <= 1):
            bounds = "strictly between 0 and 1" if open_low else "between 0 and 1"
            raise self.error(f"expected a number {bounds}, got {number:g}")
        return number

    def as_bool(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.error(f"expected true or false, got {_describe(self.value)}")
        return self.value

    def as_choice(self, choices: tuple[str, ...]) -> str:
        if self.value not in choices:
            raise self.error(f"expected one of {', '.join(choices)}, got {_describe(self.value)}")
        return str(self.value)

    def as_str_list(self) -> tuple[str, ...]:
        """A string or a list of strings."""
        if isinstance(self.value, str):
            return (self.as_str(),)
        if not isinstance(self.value, list) or not all(isinstance(v, str) for v in self.value):
            raise self.error(f"expected a string or a list of strings, got {_describe(self.value)}")
        return tuple(self.value)

    def as_plain(self) -> Any:
        """The value as plain Python data (for parameters passed through to a library)."""
        return plain(self.value)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    kind = _TYPE_NAMES.get(type(value), type(value).__name__)
    if isinstance(value, dict | list):
        return kind
    return f"{kind} {value!r}"


def unquoted_bool_hint(value: Any) -> str:
    """What to tell a user whose label YAML read as a boolean (``yes``, ``no``, ``on``...)."""
    if not isinstance(value, bool):
        return ""
    return (
        f" (YAML reads an unquoted yes/no/on/off/true/false as the boolean {value}: quote the "
        "label, for example pos_label: 'yes')"
    )


def read_suite_file(path: Path) -> Node:
    """Parse a suite file into a root Node; YAML syntax errors become SuiteErrors with a line."""
    try:
        text = path.read_text(encoding="utf-8")
        value = yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise SuiteError(path, line, "", f"not valid YAML: {exc.problem or exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(path, None, "", f"cannot read: {exc}") from None
    return Node(value, path, "", 1).mapping()


def looks_like_suite(path: Path) -> bool:
    """Cheap test before parsing: a suite is a YAML file with a top-level 'gates:' key."""
    if path.suffix not in (".yaml", ".yml"):
        return False
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(line.startswith("gates:") for line in text.splitlines())
