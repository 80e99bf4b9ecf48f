"""``modelgate init``: start gating a registered model in a repository that has nothing yet.

It reads the model version's MLflow signature from the registry and the evaluation data's
target, and writes a suite with every gate family, the PR gate and promotion workflows, and
(with ``--load``) a load suite and a locustfile. Existing files are never overwritten without
``--force``; the output names the next command to run.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from pytest_modelgate.errors import ConfigError, DataError
from pytest_modelgate.promotion.path import DEFAULT_PATH, load_path
from pytest_modelgate.settings import default_tracking_uri

CLASSIFICATION, REGRESSION = "classification", "regression"
# a numeric target with more distinct values than this is taken for a regression target
_MAX_CLASSES = 20


def add_command(sub: Any) -> None:
    init = sub.add_parser("init", help="scaffold a gate suite and CI workflows for a model")
    init.add_argument("model", help="registered model name")
    init.add_argument("--data", required=True, type=Path, help="evaluation data (CSV/Parquet)")
    init.add_argument("--target", required=True, help="the data's target column")
    which = init.add_mutually_exclusive_group()
    which.add_argument("--model-version", type=int, default=None, help="default: the newest")
    which.add_argument("--model-alias", default=None)
    init.add_argument("--sensitive", nargs="*", default=[], help="columns for fairness gates")
    init.add_argument("--reference", type=Path, default=None, help="training data, for drift")
    init.add_argument("--task", choices=(CLASSIFICATION, REGRESSION), default=None)
    init.add_argument("--load", action="store_true", help="add a load suite and a locustfile")
    init.add_argument("--force", action="store_true", help="overwrite files that exist")
    init.add_argument("--tracking-uri", default=None)
    init.add_argument("--root", default=".", help="the repository to write into")
    init.set_defaults(func=cmd_init)


def _pos_label(target: Any) -> str | int | None:
    """For a binary target labelled other than 0/1 or true/false, the larger label (sklearn's
    positive class); else None, the fairness gate's own default applies."""
    labels = sorted(target.dropna().unique().tolist())
    if len(labels) != 2 or set(labels) <= {0, 1}:
        return None
    chosen = labels[1]
    return chosen if isinstance(chosen, str | int) else str(chosen)


def cmd_init(args: argparse.Namespace) -> int:
    from pytest_modelgate.candidate.registry import Registry
    from pytest_modelgate.cli.templates import Scaffold, files

    root = Path(args.root).resolve()
    uri = args.tracking_uri or default_tracking_uri(root)
    ref = Registry(uri).resolve(args.model, args.model_version, args.model_alias)
    frame = _read(args.data)
    _check_columns(frame, args.data, [args.target, *args.sensitive])
    target = frame[args.target]
    promotion_path = load_path(root)
    scaffold = Scaffold(
        model=ref.name,
        version=ref.version,
        data=_relative(args.data, root / "gates"),
        target=args.target,
        task=args.task or _task(target),
        binary=target.nunique() == 2,
        signature=tuple(ref.signature_inputs or ()),
        sensitive=tuple(args.sensitive),
        reference=_relative(args.reference, root / "gates") if args.reference else None,
        load=args.load,
        pos_label=_pos_label(target),
        path=promotion_path,
        write_path=promotion_path is DEFAULT_PATH,  # the project declares none: write the default
    )
    planned = {root / path: text for path, text in files(scaffold).items()}
    existing = [str(p.relative_to(root)) for p in planned if p.exists()]
    if existing and not args.force:
        raise ConfigError(
            f"not overwriting {', '.join(existing)}: move them away or pass --force "
            "(nothing was written)"
        )
    for path, text in planned.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(root)}")
    if not ref.signature_inputs:
        print("note: the model has no MLflow signature; name its input columns in the schema")
    if scaffold.pos_label is not None and scaffold.sensitive:
        print(
            f"note: the fairness gate counts {scaffold.pos_label!r} (the larger of the two "
            f"labels) as the favourable outcome: change pos_label in gates/{ref.name}.yaml "
            "if it is the other one"
        )
    print(
        f"\nnext: pytest gates/ --model-name {ref.name} --model-version {ref.version} "
        f"--tracking-uri {uri}"
    )
    return 0


def _read(path: Path) -> Any:
    from pytest_modelgate.candidate.datasets import read_frame
    from pytest_modelgate.suite.data import READERS, DataSpec

    if path.suffix.lower() not in READERS:
        raise DataError(f"--data {path}: expected a {'/'.join(READERS)} file")
    frame, _ = read_frame(DataSpec(where="--data", path=path.resolve()))
    return frame


def _check_columns(frame: Any, path: Path, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path} has no column {', '.join(map(repr, missing))}; "
            f"columns: {', '.join(map(str, frame.columns))}"
        )


def _task(target: Any) -> str:
    import pandas as pd

    numeric = pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target)
    if numeric and target.nunique() > _MAX_CLASSES:
        return REGRESSION
    return CLASSIFICATION


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start)).as_posix()
