"""The release commands of ``modelgate``: status, promote, rollback and serve.

``promote`` takes the JSON report of a gate run that already passed (in CI, say) and follows the
same fail-closed path as ``pytest --promote``; ``serve`` is a thin wrapper over ``bentoml
serve`` of the bento the environment's alias pins.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from pytest_modelgate.errors import ConfigError, EvidenceError, ModelgateError, PromotionError
from pytest_modelgate.release.evidence import (
    ENVIRONMENTS,
    read_evidence,
    read_history,
    verify_evidence,
)

HISTORY_SHOWN = 10


def add_commands(sub: Any) -> None:
    status = sub.add_parser("status", help="what each environment's alias pins, and its history")
    status.add_argument("models", nargs="*", help="registered models (default: all)")
    _common(status)
    status.set_defaults(func=cmd_status)

    promote = sub.add_parser("promote", help="promote a version whose gate report passed")
    promote.add_argument("name")
    promote.add_argument("version", type=int)
    promote.add_argument("env", choices=ENVIRONMENTS)
    promote.add_argument("--report", required=True, type=Path, help="the run's --gate-report")
    promote.add_argument("--reason", default=None, help="production override reason (recorded)")
    promote.add_argument(
        "--bentofile",
        type=Path,
        default=None,
        help="your own bentofile (default <root>/bentofile.yaml when it exists, else the "
        "package's own)",
    )
    _common(promote)
    promote.set_defaults(func=cmd_promote)

    rollback = sub.add_parser("rollback", help="move ENV's alias back to its previous version")
    rollback.add_argument("env", choices=ENVIRONMENTS)
    rollback.add_argument("--model-name", default=None, help="needed when several models")
    rollback.add_argument("--reason", default=None, help="recorded in the alias history")
    _common(rollback)
    rollback.set_defaults(func=cmd_rollback)

    serve = sub.add_parser("serve", help="bentoml serve the bento ENV's alias pins")
    serve.add_argument("env", choices=ENVIRONMENTS)
    serve.add_argument("--model-name", default=None, help="needed when several models")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    _common(serve)
    serve.set_defaults(func=cmd_serve)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--root", default=".", help="project root for the embedded registry")


def _client(args: argparse.Namespace) -> tuple[Any, str]:
    from pytest_modelgate.candidate.registry import Registry
    from pytest_modelgate.settings import default_tracking_uri

    uri = args.tracking_uri or default_tracking_uri(Path(args.root))
    return Registry(uri).client, uri


def _default_bentofile(root: Path) -> Path | None:
    path = root.resolve() / "bentofile.yaml"
    return path if path.is_file() else None


def _fail(message: str) -> int:
    print(f"modelgate: {message}", file=sys.stderr)
    return 1


# -- status ----------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    client, uri = _client(args)
    names = args.models or sorted(m.name for m in client.search_registered_models())
    print(f"registry {uri}")
    for name in names:
        print(f"\n{name}")
        for env in ENVIRONMENTS:
            for line in status_lines(client, name, env):
                print(f"  {line}")
    return 0


def status_lines(client: Any, name: str, env: str) -> list[str]:
    from pytest_modelgate.release.promotion import alias_version

    pinned = alias_version(client, name, env)
    history = read_history(client, name, env)
    if pinned is None:
        return [f"{env}: not set"]
    since = next((e["at"] for e in reversed(history) if e.get("version") == pinned), "unknown")
    evidence = read_evidence(client.get_model_version(name, str(pinned)), env)
    try:
        verify_evidence(client, name, pinned, env)
        check = "evidence verified"
    except EvidenceError as exc:
        check = f"NO VALID EVIDENCE: {exc}"
    fields = evidence.fields
    lines = [
        f"{env}: v{pinned} since {since}; {check}",
        f"  report sha256 {fields.get('report_sha256', '-')} gated at {fields.get('gated_at', '-')}",
        f"  bento {fields.get('bento', '-')}; commit {fields.get('code_commit') or '-'}; "
        f"by {fields.get('promoted_by', '-')}"
        + (f"; override: {fields['override_reason']}" if fields.get("override_reason") else ""),
    ]
    for event in history[-HISTORY_SHOWN:]:
        previous = event.get("previous")
        lines.append(
            f"  {event.get('at')} {event.get('action')} v{event.get('version')} "
            f"(was {'v' + str(previous) if previous else 'nothing'}) by {event.get('by')}"
            + (f": {event['reason']}" if event.get("reason") else "")
        )
    return lines


# -- promote and rollback --------------------------------------------------------------------


def cmd_promote(args: argparse.Namespace) -> int:
    from pytest_modelgate.extras import require
    from pytest_modelgate.release.promotion import (
        PromotionRequest,
        alias_version,
        promote,
    )

    require("modelgate promote (it builds the version's bento)", "bentoml")
    client, uri = _client(args)
    try:
        report = json.loads(args.report.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return _fail(f"cannot read gate report {args.report}: {exc}")
    try:
        run_id = client.get_model_version(args.name, str(args.version)).run_id
        request = PromotionRequest(
            name=args.name,
            version=args.version,
            run_id=run_id or "",
            env=args.env,
            report=report,
            expected=alias_version(client, args.name, args.env),
            bentofile=args.bentofile or _default_bentofile(Path(args.root)),
            tracking_uri=uri,
            reason=args.reason,
            code_root=Path(args.root).resolve(),
        )
        result = promote(client, request)
    except PromotionError as exc:
        return _fail(f"NOT promoted to {args.env}: {exc}")
    from pytest_modelgate.release.promotion import done_lines

    print("\n".join(done_lines(result)))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from pytest_modelgate.release.promotion import rollback

    client, _ = _client(args)
    try:
        name = _model_for(client, args.env, args.model_name)
        was, now = rollback(client, name, args.env, args.reason)
    except ModelgateError as exc:
        return _fail(f"NOT rolled back: {exc}")
    print(f"rolled {name} {args.env} back from v{was} to v{now}")
    return 0


def _model_for(client: Any, env: str, name: str | None) -> str:
    """The named model, else the only one whose ``env`` alias is set."""
    if name:
        return name
    names = [m.name for m in client.search_registered_models() if env in (m.aliases or {})]
    if len(names) != 1:
        found = ", ".join(names) or "none"
        raise ConfigError(f"pick a model with --model-name (models with {env!r} set: {found})")
    return str(names[0])


# -- serve -----------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    """Replace this process with ``bentoml serve`` of the pinned version's bento."""
    from pytest_modelgate.extras import require
    from pytest_modelgate.release.promotion import alias_version

    require("modelgate serve", "bentoml")
    client, uri = _client(args)
    try:
        name = _model_for(client, args.env, args.model_name)
    except ModelgateError as exc:
        return _fail(str(exc))
    pinned = alias_version(client, name, args.env)
    if pinned is None:
        return _fail(f"alias {args.env!r} of {name} is not set: nothing to serve")
    bento = read_evidence(client.get_model_version(name, str(pinned)), args.env).fields.get("bento")
    if not bento:
        return _fail(f"{name} v{pinned} has no {args.env} bento recorded: promote it first")
    env = dict(os.environ, MODELGATE_ENV=args.env, MLFLOW_TRACKING_URI=uri)
    env.setdefault("BENTOML_DO_NOT_TRACK", "True")
    # the same interpreter, so the bento is served by this installation's packages
    command = [sys.executable, "-m", "bentoml", "serve", bento]
    command += ["--host", args.host, "--port", str(args.port)]
    print(f"modelgate: serving {name} v{pinned} as {args.env}: bentoml serve {bento}", flush=True)
    os.execve(command[0], command, env)
    return 0  # pragma: no cover - exec does not return
