"""What the GitHub workflows run, as commands the tests run too:

    python -m pytest_modelgate.cli.ci pr-check --model iris [--out DIR] [-- PYTEST_ARGS]
    python -m pytest_modelgate.cli.ci promote --model iris --version 7 --env staging
    python -m pytest_modelgate.cli.ci annotate REPORT.json

``pr-check`` uses the tracking server in ``MLFLOW_TRACKING_URI`` when it is set (a repository
secret) and otherwise starts an ``mlflow server`` on 127.0.0.1 for the job; it trains and
registers the candidate, gates it with JUnit XML, the JSON report, the markdown summary (also
the job summary) and the HTML report, and prints ``::error`` annotations for failed gates. It
fails unless the candidate is promotable. ``promote`` re-runs the gates on the shared registry
with ``--promote ENV``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_modelgate.settings import ENV_TRACKING_URI

GATE_TIMEOUT_S = 1800
NO_SHARED_REGISTRY = (
    f"promotion needs the shared registry: set {ENV_TRACKING_URI} (the repository secret "
    "the promotion workflow passes) to the tracking server that holds the version"
)


@dataclass(frozen=True)
class Outputs:
    """The files one gate run writes, named after the version it gated."""

    out: Path
    stem: str

    def path(self, suffix: str) -> Path:
        return self.out / f"{self.stem}{suffix}"

    def args(self) -> list[str]:
        return [
            "--gate-report", str(self.path(".json")),
            "--gate-summary", str(self.path(".md")),
            "--gate-html", str(self.path(".html")),
            "--junitxml", str(self.path(".junit.xml")),
        ]  # fmt: skip


# -- registry --------------------------------------------------------------------------------


@contextmanager
def registry(workdir: Path) -> Iterator[str]:
    """The shared tracking server when configured, else an ``mlflow server`` for this job."""
    from pytest_modelgate.cli.local_server import mlflow_server

    uri = os.environ.get(ENV_TRACKING_URI, "").strip()
    if uri:
        print(f"registry: the tracking server in {ENV_TRACKING_URI}", flush=True)
        yield uri
        return
    workdir.mkdir(parents=True, exist_ok=True)
    with mlflow_server(workdir) as local:
        print(f"registry: no {ENV_TRACKING_URI} set; started mlflow server at {local}", flush=True)
        yield local


def artifact_root(uri: str, out: Path) -> Path | None:
    """Local registries keep artifacts under ``out``; a server stores its own."""
    return None if uri.startswith(("http://", "https://", "databricks")) else out / "artifacts"


# -- gate runs -------------------------------------------------------------------------------


def run_gates(
    name: str, version: int, uri: str, outputs: Outputs, args: argparse.Namespace, extra: list[str]
) -> int:
    command = [
        sys.executable, "-m", "pytest", args.suites, "-p", "no:cacheprovider",
        "--model-name", name, "--model-version", str(version), "--tracking-uri", uri,
        *outputs.args(), *extra, *args.pytest_args,
    ]  # fmt: skip
    print("$ pytest " + " ".join(command[3:]), flush=True)
    env = dict(os.environ, **{ENV_TRACKING_URI: uri})
    outputs.out.mkdir(parents=True, exist_ok=True)
    return subprocess.run(command, cwd=args.root, env=env, timeout=args.timeout).returncode


def finish(outputs: Outputs, status: int) -> int:
    """Annotate from the JSON report; a run that is not promotable fails the check."""
    path = outputs.path(".json")
    if not path.is_file():
        print(f"::error title=model gates::no gate report was written ({path})", flush=True)
        return status or 1
    report = json.loads(path.read_text(encoding="utf-8"))
    for line in gate_annotations(report):
        print(line, flush=True)
    print(
        f"reports: {', '.join(str(outputs.path(s)) for s in ('.json', '.md', '.html', '.junit.xml'))}"
    )
    return status or (0 if report.get("promotable") else 1)


def cmd_pr_check(args: argparse.Namespace) -> int:
    from pytest_modelgate.reference.models import train_reference

    out = Path(args.out).resolve()
    with registry(out / "registry") as uri:
        registered = train_reference(
            args.model, tracking_uri=uri, artifact_root=artifact_root(uri, out)
        )
        print(f"registered {registered.name} v{registered.version} (run {registered.run_id})")
        outputs = Outputs(out, f"{registered.name}-v{registered.version}")
        status = run_gates(registered.name, registered.version, uri, outputs, args, [])
        return finish(outputs, status)


def cmd_promote(args: argparse.Namespace) -> int:
    uri = os.environ.get(ENV_TRACKING_URI, "").strip()
    if not uri:
        print(f"::error title=promotion::{NO_SHARED_REGISTRY}", flush=True)
        return 2
    extra = ["--promote", args.env]
    if args.reason:
        extra += ["--promote-reason", args.reason]
    outputs = Outputs(Path(args.out).resolve(), f"{args.model}-v{args.version}-{args.env}")
    status = run_gates(args.model, args.version, uri, outputs, args, extra)
    return finish(outputs, status)


def cmd_annotate(args: argparse.Namespace) -> int:
    report = json.loads(Path(args.report).read_text(encoding="utf-8"))
    for line in gate_annotations(report):
        print(line)
    return 0


# -- annotations -----------------------------------------------------------------------------


def gate_annotations(report: dict[str, Any]) -> list[str]:
    """GitHub ``::error`` workflow commands: one per failed gate item, on its suite file, and
    one for a verdict that blocks promotion."""
    from pytest_modelgate.report.markdown import rows

    lines = []
    for row in rows(report):
        if not row.failed:
            continue
        text = f"{row.metric} = {row.value}; threshold {row.threshold}"
        if row.champion != "-":
            text += f"; champion {row.champion} (delta {row.delta})"
        if row.message:
            text += f"\n{row.message}"
        where = row.nodeid.split("::")[0]
        lines.append(command("error", text, file=where, title=f"gate {row.item} {row.status}"))
    if not report.get("promotable"):
        reasons = "\n".join(f"- {r}" for r in report.get("blocking_reasons") or [])
        model = report.get("model") or {}
        title = f"{model.get('name')} v{model.get('version', '?')} is NOT promotable"
        lines.append(command("error", reasons or "no verdict", title=title))
    return lines


def command(kind: str, message: str, **properties: str) -> str:
    """One workflow command, escaped the way the runner unescapes it."""
    props = ",".join(f"{k}={_escape(v, True)}" for k, v in properties.items())
    return f"::{kind}{' ' + props if props else ''}::{_escape(message, False)}"


def _escape(text: str, is_property: bool) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if is_property:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


# -- command line ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from pytest_modelgate.reference.models import REFERENCE_MODELS

    parser = argparse.ArgumentParser(prog="python -m pytest_modelgate.cli.ci", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("pr-check", help="train, register and gate the candidate")
    check.add_argument("--model", required=True, choices=sorted(REFERENCE_MODELS))
    check.add_argument("--out", default="gate-reports", help="where the reports go")
    check.set_defaults(func=cmd_pr_check)
    promote = sub.add_parser("promote", help="re-run the gates and promote the version")
    promote.add_argument("--model", required=True)
    promote.add_argument("--version", required=True, type=int)
    promote.add_argument(
        "--env", required=True, help="an environment of the promotion path (the run checks it)"
    )
    promote.add_argument("--reason", default="", help="override reason (recorded)")
    promote.add_argument("--out", default="promotion-reports", help="where the reports go")
    promote.set_defaults(func=cmd_promote)
    for command_parser in (check, promote):
        command_parser.add_argument("--root", default=".", help="project root (pytest's cwd)")
        command_parser.add_argument("--suites", default="gates/", help="gate suites to run")
        command_parser.add_argument("--timeout", type=float, default=GATE_TIMEOUT_S)
        command_parser.add_argument("pytest_args", nargs="*", help="after --: more pytest args")
    annotate = sub.add_parser("annotate", help="print ::error annotations for a gate report")
    annotate.add_argument("report")
    annotate.set_defaults(func=cmd_annotate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except subprocess.TimeoutExpired as exc:
        print(f"::error title=model gates::the gate run took longer than {exc.timeout:.0f}s")
        return 1


if __name__ == "__main__":
    sys.exit(main())
