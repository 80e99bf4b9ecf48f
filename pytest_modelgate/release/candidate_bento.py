"""The candidate's bento, built as a promotion would build it and served in candidate mode.

The bento goes into the configured ``BENTOML_HOME`` (so a later promotion reuses it), or a
temporary store when none is configured; ``bentoml serve`` then runs on a free loopback port.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from pytest_modelgate.candidate.datasets import Dataset
    from pytest_modelgate.candidate.predictions import ModelHandle
    from pytest_modelgate.gates.api import GateContext

ENV_HOME = "BENTOML_HOME"


def feature_frame(handle: ModelHandle, data: Dataset) -> pd.DataFrame:
    """The eval rows in the columns the model takes (its signature's, else the suite's)."""
    wanted = handle.ref.input_names
    frame = data.frame
    return frame.loc[:, list(wanted)] if wanted and set(wanted) <= set(frame) else data.X


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


def build_candidate_bento(ctx: GateContext, reference: dict[str, Any] | None) -> str:
    """Build (or reuse) the candidate's bento with the suite's input schema and drift reference."""
    from pytest_modelgate.release.bento import BentoTarget, build_bento
    from pytest_modelgate.release.promotion import input_schema

    settings = ctx.settings
    ref = ctx.candidate.ref
    bentofile = settings.bentofile or settings.rootpath / "bentofile.yaml"
    schema = input_schema({"data": {str(path): None for path in ctx.suites}})
    target = BentoTarget(ref.name, ref.version, ref.run_id or "")
    return build_bento(target, settings.tracking_uri, bentofile, schema, reference)


@contextmanager
def served_candidate(ctx: GateContext, reference: dict[str, Any] | None) -> Iterator[str]:
    """Yield the base URL of the candidate's bento served on loopback; stopped on exit."""
    from pytest_modelgate.release.serving import served_bento

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="modelgate-load-")))
        stack.enter_context(bentoml_home(workdir))
        bento = build_candidate_bento(ctx, reference)
        extra = {"MLFLOW_TRACKING_URI": ctx.settings.tracking_uri}
        url, _pid = stack.enter_context(served_bento(bento, workdir / "serve.log", extra_env=extra))
        yield url
