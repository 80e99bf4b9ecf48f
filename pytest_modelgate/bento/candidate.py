"""The candidate's bento, built as a promotion would build it and served in candidate mode.

The bento goes into the configured ``BENTOML_HOME`` (so a later promotion reuses it), or a
temporary store when none is configured; ``bentoml serve`` then runs on a free loopback port.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from pytest_modelgate.candidate.registry import ModelRef

ENV_HOME = "BENTOML_HOME"


def write_rows(frame: pd.DataFrame, count: int, path: Path, seed: int = 0) -> Path:
    """``count`` rows drawn with replacement, as the JSON list of records the locustfile reads."""
    sample = frame.sample(n=count, replace=True, random_state=seed)
    sample.to_json(path, orient="records")
    return path


@contextmanager
def bentoml_home(workdir: Path) -> Iterator[Path]:
    """The configured store, else a temporary one under ``workdir`` for this block."""
    configured = os.environ.get(ENV_HOME)
    if configured:
        yield Path(configured)
        return
    home = workdir / "bentoml"
    os.environ[ENV_HOME] = str(home)
    try:
        yield home
    finally:
        os.environ.pop(ENV_HOME, None)


@dataclass(frozen=True)
class Candidate:
    """What building the candidate's bento needs: the version, its registry, the bentofile and
    the suites that gated it (their input schema and drift reference go into the bento)."""

    ref: ModelRef
    tracking_uri: str
    bentofile: Path | None
    suites: tuple[Path, ...]


def build_candidate_bento(candidate: Candidate) -> str:
    """Build (or reuse) the candidate's bento with the suite's input schema and drift reference."""
    from pytest_modelgate.bento.build import BentoTarget, build_bento, suite_input_schema
    from pytest_modelgate.bento.drift_reference import suite_reference

    ref = candidate.ref
    schema = suite_input_schema(candidate.suites)
    reference = suite_reference(candidate.suites)
    target = BentoTarget(ref.name, ref.version, ref.run_id or "")
    return build_bento(
        target, candidate.tracking_uri, candidate.bentofile, schema, reference, ref.digest
    )


@contextmanager
def served_candidate(candidate: Candidate) -> Iterator[str]:
    """Yield the base URL of the candidate's bento served on loopback; stopped on exit."""
    from pytest_modelgate.bento.loopback import served_bento

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="modelgate-load-")))
        stack.enter_context(bentoml_home(workdir))
        bento = build_candidate_bento(candidate)
        extra = {"MLFLOW_TRACKING_URI": candidate.tracking_uri}
        url, _pid = stack.enter_context(served_bento(bento, workdir / "serve.log", extra_env=extra))
        yield url
