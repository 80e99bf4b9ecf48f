"""JSON and file helpers every stage shares: plain values, canonical bytes, hashes, time
stamps and atomic writes (a reader never sees half a file)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any


def plain(value: Any) -> Any:
    """A JSON-friendly version of ``value``: numpy scalars become Python ones, containers are
    converted all the way down, paths become strings."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value


def json_default(value: Any) -> Any:
    """``json.dumps(default=...)`` for the values gate results hold."""
    converted = plain(value)
    if converted is value:
        raise TypeError(f"cannot serialise {type(value).__name__}")
    return converted


def dumps(document: Any, *, indent: int | None = 2, sort_keys: bool = False) -> str:
    return json.dumps(document, indent=indent, sort_keys=sort_keys, default=json_default)


def canonical_bytes(document: Any) -> bytes:
    """The canonical bytes of a document: what is logged, and what its sha256 is taken of."""
    return (dumps(document, sort_keys=True) + "\n").encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def write_text(path: Path, text: str) -> None:
    """Write atomically: a temporary file beside the target, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path: Path, document: Any) -> None:
    write_text(path, dumps(document) + "\n")


def scalar(value: Any) -> Any:
    """A JSON scalar for a report cell: a plain number, string, bool or None, else its text."""
    value = plain(value)
    return value if value is None or isinstance(value, int | float | str | bool) else str(value)
