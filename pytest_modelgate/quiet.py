"""Keep a library's chatter out of a gate run's output for a while."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

# Warnings a library raises about itself while the plugin imports or calls it, never about
# the user's model or data: under a user's `-W error` (or `filterwarnings = error`) they would
# fail a gate item that did nothing wrong. Matched by message, one library at a time.
CHATTER = {
    # MLflow's pyfunc module inspects its own type hints on first import
    "mlflow": (".*Any type hint is inferred as AnyType",),
}


# Warnings raised while a library imports another it found installed: pandera imports
# pyspark.pandas when pyspark is there (the spark extra), and pyspark 4.3 warns on import that
# it does not fully support pandas 3
IMPORT_CHATTER = ((".*PySpark does not yet fully support pandas", FutureWarning),)


@contextlib.contextmanager
def quiet_imports() -> Iterator[None]:
    """Import libraries without their known chatter about each other (see IMPORT_CHATTER)."""
    with warnings.catch_warnings():
        for message, category in IMPORT_CHATTER:
            warnings.filterwarnings("ignore", message=message, category=category)
        yield


@contextlib.contextmanager
def quiet_logger(name: str, level: int = logging.WARNING) -> Iterator[None]:
    """Raise a library logger's level for a while (MLflow logs 'creating tables' and similar
    at INFO; a gate run shows only its own output) and drop the library's known chatter."""
    logger = logging.getLogger(name)
    previous = logger.level
    logger.setLevel(level)
    try:
        with warnings.catch_warnings():
            for message in CHATTER.get(name, ()):
                warnings.filterwarnings("ignore", message=message, category=UserWarning)
            yield
    finally:
        logger.setLevel(previous)
