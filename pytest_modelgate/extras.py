"""The optional parts of pytest-modelgate and the extra that installs each: a gate or command
that needs one says which, instead of failing on an import deep inside."""

from __future__ import annotations

import importlib.util
import sys

from pytest_modelgate.errors import MissingExtraError

# module -> the extra of pytest-modelgate that installs it
EXTRAS = {
    "bentoml": "serve",
    "pydantic": "serve",
    "prometheus_client": "serve",
    "locust": "load",
    "fairlearn": "fairness",
    "dvc": "dvc",
    "pyspark": "spark",
}


def installed(module: str) -> bool:
    if module in sys.modules:
        return sys.modules[module] is not None
    return importlib.util.find_spec(module) is not None


def require(what: str, *modules: str) -> None:
    """Raise MissingExtraError naming the extra when any of ``modules`` is not installed."""
    absent = [m for m in modules if not installed(m)]
    if absent:
        extra = EXTRAS.get(absent[0], "all")
        raise MissingExtraError(
            f"{what} needs {', '.join(absent)}, which is not installed: "
            f"pip install 'pytest-modelgate[{extra}]'"
        )
