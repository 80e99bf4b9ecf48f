"""The release commands of ``modelgate``: status, promote, rollback, history, verify, recover
and serve.

``promote`` takes the JSON report of a gate run that already passed (in CI, say) and follows the
same fail-closed path as ``pytest --promote``; ``history`` and ``verify`` read the ledger;
``recover`` finishes or undoes a move its promoter left unfinished; ``serve`` is a thin wrapper
over ``bentoml serve`` of the bento the environment's alias pins. A registry that cannot answer
is one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_modelgate.errors import ConfigError, EvidenceError, ModelgateError, PromotionError
from pytest_modelgate.promotion.evidence import read_evidence, verify_evidence
from pytest_modelgate.promotion.path import PromotionPath, load_path

if TYPE_CHECKING:
    from pytest_modelgate.promotion.places import Place, Places
    from pytest_modelgate.promotion.registry import Registry

HISTORY_SHOWN = 10


def add_commands(sub: Any) -> None:
    status = sub.add_parser("status", help="what each environment's alias pins, and its history")
    status.add_argument("models", nargs="*", help="registered models (default: all)")
    _common(status, cmd_status)

    promote = sub.add_parser("promote", help="promote a version whose gate report passed")
    promote.add_argument("name")
    promote.add_argument("version", type=int)
    promote.add_argument(
        "env", help="an environment of the promotion path (modelgate.yaml / pyproject.toml)"
    )
    promote.add_argument("--report", required=True, type=Path, help="the run's --gate-report")
    promote.add_argument(
        "--reason", default=None, help="why ENV may skip its predecessor's rules (recorded)"
    )
    promote.add_argument(
        "--approved-by", default=None, help="who approved it (recorded; else MODELGATE_APPROVAL)"
    )
    promote.add_argument(
        "--bentofile",
        type=Path,
        default=None,
        help="your own bentofile (default <root>/bentofile.yaml when it exists, else the "
        "package's own)",
    )
    _common(promote, cmd_promote)

    rollback = sub.add_parser("rollback", help="move ENV's alias back to its previous version")
    rollback.add_argument(
        "env", help="an environment of the promotion path (modelgate.yaml / pyproject.toml)"
    )
    rollback.add_argument("--model-name", default=None, help="needed when several models")
    rollback.add_argument("--reason", default=None, help="recorded in the ledger")
    _common(rollback, cmd_rollback)

    history = sub.add_parser("history", help="every ledger event of a model, oldest first")
    history.add_argument("name")
    history.add_argument("--env", default=None, help="default: every environment of the path")
    history.add_argument("--page-size", type=int, default=500, help=argparse.SUPPRESS)
    _common(history, cmd_history)

    verify = sub.add_parser(
        "verify", help="check a model's ledger chain and every event's evidence"
    )
    verify.add_argument("name")
    verify.add_argument("--env", default=None, help="default: every environment of the path")
    _common(verify, cmd_verify)

    recover = sub.add_parser("recover", help="finish or undo a move its promoter left unfinished")
    recover.add_argument("name")
    recover.add_argument("env", nargs="?", default=None, help="default: every environment")
    _common(recover, cmd_recover)

    grants = sub.add_parser(
        "grants",
        help="the registry permissions a model's promoters and auditors need (--apply grants "
        "them, as an admin account)",
    )
    grants.add_argument("name")
    grants.add_argument("--promoter", action="append", default=[], metavar="USER")
    grants.add_argument("--auditor", action="append", default=[], metavar="USER")
    grants.add_argument(
        "--apply", action="store_true", help="create what is missing and grant it to each USER"
    )
    _common(grants, cmd_grants)

    serve = sub.add_parser("serve", help="bentoml serve the bento ENV's alias pins")
    serve.add_argument(
        "env", help="an environment of the promotion path (modelgate.yaml / pyproject.toml)"
    )
    serve.add_argument("--model-name", default=None, help="needed when several models")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument(
        "--follow",
        action="store_true",
        help="keep serving ENV's alias: when it moves, bring up the newly pinned bento (its "
        "evidence verified) and switch over without refusing requests",
    )
    serve.add_argument(
        "--poll", type=float, default=10.0, help="with --follow: seconds between alias reads"
    )
    _common(serve, cmd_serve)

    guard = sub.add_parser(
        "guard",
        help="watch ENV's served metrics: confirm the pinned version, or roll it back",
    )
    guard.add_argument(
        "env", help="an environment of the promotion path (its `guard:` says what to check)"
    )
    guard.add_argument("--model-name", default=None, help="needed when several models")
    guard.add_argument("--url", default=None, help="the served environment's base URL")
    guard.add_argument("--prometheus", default=None, help="or a Prometheus server's base URL")
    guard.add_argument("--selector", default=None, help="label matchers for --prometheus")
    guard.add_argument("--interval", type=float, default=None, help="seconds between looks")
    guard.add_argument("--looks", type=int, default=None, help="at most this many looks")
    guard.add_argument("--confirm-after", type=int, default=None, help="looks before a pass")
    guard.add_argument("--alpha", type=float, default=None, help="false alarms, whole guard")
    guard.add_argument(
        "--baseline-url", default=None, help="a stable version's endpoint to compare with"
    )
    _common(guard, cmd_guard)


def _common(parser: argparse.ArgumentParser, command: Callable[[argparse.Namespace], int]) -> None:
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--root", default=".", help="project root for the embedded registry")
    parser.set_defaults(func=_guarded(command))


def _path(args: argparse.Namespace) -> PromotionPath:
    return load_path(Path(args.root).resolve())


def _envs(args: argparse.Namespace) -> tuple[str, ...]:
    """The environment named (it must be on the path), else every one of the path."""
    path = _path(args)
    return (path.step(args.env).env,) if args.env else path.envs


def _uri(args: argparse.Namespace) -> str:
    from pytest_modelgate.settings import default_tracking_uri

    return str(args.tracking_uri or default_tracking_uri(Path(args.root)))


def _guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run a command with registry failures turned into one RegistryError line."""

    def run(args: argparse.Namespace) -> int:
        from pytest_modelgate.candidate.registry import Registry

        with Registry(_uri(args)).translate(f"modelgate {args.command}"):
            return command(args)

    return run


def _registry(args: argparse.Namespace) -> Registry:
    """The registry named by --tracking-uri (or the project's), with the path's aliases."""
    from pytest_modelgate.promotion.registry import Registry

    return Registry.at(_uri(args), _path(args).aliases)


def _places(args: argparse.Namespace, name: str) -> Places:
    """Where each environment of ``name``'s path lives (its registry, model and alias)."""
    from pytest_modelgate.promotion.places import Places

    return Places(_path(args), _registry(args), name)


def _place(args: argparse.Namespace, env: str, name: str | None) -> Place:
    """The environment's place for the named model; else, when the step names its own
    registered model, that one; else the only model of its registry whose alias is set."""
    from pytest_modelgate.promotion.places import Place

    step = _path(args).step(env)
    if name or step.model:
        return _places(args, name or step.model).of(env)
    registry = _places(args, "").of(env).registry
    return Place(registry, _model_for(registry, env), env)


def _default_bentofile(root: Path) -> Path | None:
    path = root.resolve() / "bentofile.yaml"
    return path if path.is_file() else None


def _fail(message: str) -> int:
    print(f"modelgate: {message}", file=sys.stderr)
    return 1


def _models(registry: Registry) -> list[str]:
    from pytest_modelgate.promotion.lease import is_internal

    return sorted(m.name for m in registry.search_models() if not is_internal(m.name))


# -- status ----------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    from pytest_modelgate.candidate.registry import redacted

    registry = _registry(args)
    path = _path(args)
    targets = {s.model for s in path.steps if s.model and not s.tracking_uri}
    names = args.models or [n for n in _models(registry) if n not in targets]
    print(f"registry {redacted(registry.uri)}")
    print(f"promotion path {path.describe()}")
    for name in names:
        print(f"\n{name}")
        for step, place in zip(path.steps, _places(args, name), strict=True):
            for line in status_lines(place, name):
                print(f"  {line}")
            if step.rules():
                print(f"    needs: {'; '.join(step.rules())}")
            if step.guard is not None:
                print(f"    {guard_line(place)}")
    return 0


def guard_line(place: Place) -> str:
    """Whether the live guard confirmed the version the environment pins."""
    from pytest_modelgate.promotion import ledger

    pinned = place.registry.pinned(place.name, place.env)
    if pinned is None:
        return "guard: nothing pinned to guard"
    event = ledger.confirmed(place.registry, place.name, place.env, pinned)
    if event is None:
        return f"guard: v{pinned} not confirmed yet (modelgate guard {place.env})"
    return f"guard: v{pinned} confirmed at {event.at} (ledger event #{event.seq})"


def since(events: list[Any], pinned: int) -> str:
    """When the alias came to pin ``pinned``: the ledger's last move, if it put it there."""
    moved = [e for e in events if e.moved and not e.deleted]
    if moved and moved[-1].version == pinned:
        return str(moved[-1].at)
    if moved:
        return f"unknown (set outside modelgate: the ledger's last move put v{moved[-1].version})"
    return "unknown (the ledger records no move to it)"


def status_lines(place: Place, candidate: str) -> list[str]:
    from pytest_modelgate.promotion import ledger
    from pytest_modelgate.promotion.lease import latest

    registry, name, env = place.registry, place.name, place.env
    pinned = registry.pinned(name, env)
    events = list(ledger.events(registry, name, env))
    where = "" if name == candidate else f" ({name})"
    lines = [] if pinned is not None else [f"{env}{where}: not set"]
    if pinned is not None:
        evidence = read_evidence(registry.model_version(name, pinned), env)
        try:
            verify_evidence(registry, name, pinned, env)
            check = "evidence verified"
        except EvidenceError as exc:
            check = f"NO VALID EVIDENCE: {exc}"
        fields = evidence.fields
        lines += [
            f"{env}{where}: v{pinned} since {since(events, pinned)}; {check}",
            f"  report sha256 {fields.get('report_sha256', '-')} gated at "
            f"{fields.get('gated_at', '-')}; model digest {fields.get('model_digest', '-')[:16]}",
            f"  bento {fields.get('bento', '-')}; commit {fields.get('code_commit') or '-'}; "
            f"by {fields.get('promoted_by', '-')}"
            + (f"; override: {fields['override_reason']}" if fields.get("override_reason") else ""),
        ]
        if fields.get("source"):
            lines.append(f"  copy of {fields['source']}")
    newest = latest(registry, name, env)
    if newest is not None and not newest.settled:
        lines.append(
            f"  move {newest.generation} ({newest.describe()}) by {newest.holder} since "
            f"{newest.since} is not settled: `modelgate recover {name} {env}` settles it once "
            "it is over"
        )
    lines += [f"  {event.line()}" for event in events[-HISTORY_SHOWN:]]
    return lines


# -- the ledger ------------------------------------------------------------------------------


def cmd_history(args: argparse.Namespace) -> int:
    from pytest_modelgate.promotion import ledger

    places = _places(args, args.name)
    found = [
        event
        for place in map(places.of, _envs(args))
        for event in ledger.events(place.registry, place.name, place.env, args.page_size)
    ]
    found.sort(key=lambda e: (e.at, e.get("env"), e.seq))
    for event in found:
        print(event.line())
        details = [
            f"{label} {event.get(key)}"
            for label, key in (
                ("data", "data_sha256"),
                ("commit", "code_commit"),
                ("ci", "ci_run"),
                ("approval", "approval"),
                ("copy of", "source"),
                ("bento", "bento"),
                ("report", "report_artifact"),
            )
            if event.get(key)
        ]
        if details:
            print("    " + "; ".join(details))
    print(f"{len(found)} events of {args.name}" + (f" {args.env}" if args.env else ""))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from pytest_modelgate.promotion.audit import verify

    places = _places(args, args.name)
    lines, problem = verify([places.of(env) for env in _envs(args)])
    for line in lines:
        print(line)
    if problem is not None:
        return _fail(f"the ledger of {args.name} does not hold: {problem}")
    print(f"the ledger of {args.name} holds")
    return 0


def cmd_recover(args: argparse.Namespace) -> int:
    from pytest_modelgate.promotion.recovery import recover

    places = _places(args, args.name)
    for env in _envs(args):
        place = places.of(env)
        try:
            lines = recover(place.registry, place.name, env)
        except PromotionError as exc:
            return _fail(f"cannot recover {args.name} {env}: {exc}")
        for line in lines:
            print(line)
    return 0


# -- promote and rollback --------------------------------------------------------------------


def cmd_promote(args: argparse.Namespace) -> int:
    from pytest_modelgate.candidate.registry import Registry as Candidates
    from pytest_modelgate.errors import RegistryError
    from pytest_modelgate.extras import require
    from pytest_modelgate.promotion.moves import PromotionRequest, promote
    from pytest_modelgate.promotion.places import Places

    require("modelgate promote (it builds the version's bento)", "bentoml")
    path = _path(args)
    path.step(args.env)  # an environment the path does not have: a clear error, nothing read
    try:
        report = json.loads(args.report.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return _fail(f"cannot read gate report {args.report}: {exc}")
    uri = _uri(args)
    candidates = Candidates(uri)
    try:
        with candidates.translate(f"{args.name} v{args.version}"):
            places = Places.of_candidate(path, candidates.client, uri, args.name)
            run_id = places.source.model_version(args.name, args.version).run_id
            place = places.of(args.env)
            expected = place.registry.pinned(place.name, args.env)
    except RegistryError as exc:
        return _fail(f"NOT promoted to {args.env}: {exc}; nothing was changed")
    try:
        request = PromotionRequest(
            name=args.name,
            version=args.version,
            run_id=run_id or "",
            env=args.env,
            report=report,
            expected=expected,
            bentofile=args.bentofile or _default_bentofile(Path(args.root)),
            tracking_uri=uri,
            reason=args.reason,
            code_root=Path(args.root).resolve(),
            path=path,
            approved_by=args.approved_by,
        )
        result = promote(places, request)
    except PromotionError as exc:
        return _fail(f"NOT promoted to {args.env}: {exc}")
    from pytest_modelgate.promotion.moves import done_lines

    print("\n".join(done_lines(result)))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from pytest_modelgate.promotion.moves import rollback

    try:
        place = _place(args, args.env, args.model_name)
        was, now = rollback(place.registry, place.name, args.env, args.reason)
    except ModelgateError as exc:
        return _fail(f"NOT rolled back: {exc}")
    print(f"rolled {place.name} {args.env} back from v{was} to v{now}")
    return 0


def _model_for(registry: Registry, env: str) -> str:
    """The only model of ``registry`` whose ``env`` alias is set."""
    from pytest_modelgate.promotion.lease import is_internal

    alias = registry.alias(env)
    names = [
        m.name
        for m in registry.search_models()
        if alias in (m.aliases or {}) and not is_internal(m.name)
    ]
    if len(names) != 1:
        found = ", ".join(names) or "none"
        raise ConfigError(f"pick a model with --model-name (models with {env!r} set: {found})")
    return str(names[0])


# -- grants ----------------------------------------------------------------------------------


def cmd_grants(args: argparse.Namespace) -> int:
    """What each role needs on each registry of the path, and, with --apply, the grants."""
    from pytest_modelgate.candidate.registry import redacted
    from pytest_modelgate.promotion.permissions import grant, role_needs

    places = _places(args, args.name)
    if places.source.registered_model(args.name) is None:  # else grants for nothing
        return _fail(f"no registered model {args.name!r} in {redacted(places.source.uri)}")
    roles = role_needs(list(places), places.source)
    users = {"promoter": args.promoter, "auditor": args.auditor}
    for role, needs in roles.items():
        print(f"{role}s of {args.name}:")
        for place, need in needs:
            print(f"  {need.text()} in {redacted(place.registry.uri)}")
    if not args.apply:
        if not (args.promoter or args.auditor):
            print("name the accounts with --promoter USER / --auditor USER, then --apply")
        return 0
    for place in places:
        if place.registry.user() is None:
            return _fail(
                f"{redacted(place.registry.uri)} has no authentication (or no credentials are "
                "set: MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD): nothing to grant"
            )
    for role, needs in roles.items():
        for user in users[role]:
            for place, need in needs:
                print(grant(place.registry, user, need))
    return 0


# -- the live guard --------------------------------------------------------------------------


def cmd_guard(args: argparse.Namespace) -> int:
    """0: confirmed; 1: failed (rolled back); 3: inconclusive (the alias stays)."""
    from pytest_modelgate.cli.live import guard_spec, run_guard

    try:
        place = _place(args, args.env, args.model_name)
        spec = guard_spec(_path(args).step(args.env), args)
    except ModelgateError as exc:
        return _fail(str(exc))
    return run_guard(place, spec)


# -- serve -----------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    """Replace this process with ``bentoml serve`` of the pinned version's bento."""
    from pytest_modelgate.extras import require

    require("modelgate serve", "bentoml")
    try:
        place = _place(args, args.env, args.model_name)
    except ModelgateError as exc:
        return _fail(str(exc))
    registry, name = place.registry, place.name
    if args.follow:
        from pytest_modelgate.cli.live import follow

        return follow(place, args.host, args.port, args.poll)
    pinned = registry.pinned(name, args.env)
    if pinned is None:
        return _fail(f"alias {registry.alias(args.env)!r} of {name} is not set: nothing to serve")
    bento = read_evidence(registry.model_version(name, pinned), args.env).fields.get("bento")
    if not bento:
        return _fail(f"{name} v{pinned} has no {args.env} bento recorded: promote it first")
    env = dict(os.environ, MODELGATE_ENV=args.env, MLFLOW_TRACKING_URI=registry.uri)
    env["MODELGATE_ALIAS"] = registry.alias(args.env)
    env.setdefault("BENTOML_DO_NOT_TRACK", "True")
    # the same interpreter, so the bento is served by this installation's packages
    command = [sys.executable, "-m", "bentoml", "serve", bento]
    command += ["--host", args.host, "--port", str(args.port)]
    print(f"modelgate: serving {name} v{pinned} as {args.env}: bentoml serve {bento}", flush=True)
    os.execve(command[0], command, env)
    return 0  # pragma: no cover - exec does not return
