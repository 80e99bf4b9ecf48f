"""The ``modelgate`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_modelgate.errors import ModelgateError
from pytest_modelgate.settings import DEFAULT_REGISTRY_DIR, default_tracking_uri


def cmd_train_reference(args: argparse.Namespace) -> int:
    from pytest_modelgate.reference.models import REFERENCE_MODELS, train_reference

    root = Path(args.root)
    uri = args.tracking_uri or default_tracking_uri(root)
    artifacts = root.resolve() / DEFAULT_REGISTRY_DIR / "artifacts"
    for name in args.models or list(REFERENCE_MODELS):
        registered = train_reference(name, tracking_uri=uri, artifact_root=artifacts)
        print(f"registered {registered.name} v{registered.version} (run {registered.run_id})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pytest_modelgate.cli.demo import run_demo

    return run_demo(Path(args.root))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelgate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train-reference", help="train and register the reference models")
    train.add_argument("models", nargs="*", help="iris, credit-risk (default: both)")
    train.add_argument("--tracking-uri", default=None)
    train.add_argument("--root", default=".", help="project root for the embedded registry")
    train.set_defaults(func=cmd_train_reference)
    demo = sub.add_parser("demo", help="train, register and gate the reference models")
    demo.add_argument("--root", default=".", help="project root holding gates/")
    demo.set_defaults(func=cmd_demo)
    from pytest_modelgate.cli.init import add_command
    from pytest_modelgate.cli.release import add_commands

    add_command(sub)
    add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except (ModelgateError, OSError) as exc:
        print(f"modelgate: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
