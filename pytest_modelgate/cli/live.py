"""The live commands: ``modelgate guard ENV`` and ``modelgate serve ENV --follow``."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_modelgate.errors import ConfigError, ModelgateError
from pytest_modelgate.promotion.guard_spec import GuardSpec
from pytest_modelgate.promotion.path import Step

if TYPE_CHECKING:
    from pytest_modelgate.guard.watch import Look
    from pytest_modelgate.promotion.places import Place

EXIT = {"pass": 0, "fail": 1, "inconclusive": 3}


def guard_spec(step: Step, args: argparse.Namespace) -> GuardSpec:
    """The step's ``guard:`` (else the defaults), with the command line's values over it."""
    spec = step.guard or GuardSpec(where="the defaults")
    given = {
        "url": args.url,
        "prometheus": args.prometheus,
        "selector": args.selector,
        "interval_s": args.interval,
        "looks": args.looks,
        "confirm_after": args.confirm_after,
        "alpha": args.alpha,
        "baseline_url": args.baseline_url,
    }
    spec = dataclasses.replace(spec, **{k: v for k, v in given.items() if v is not None})
    if args.url:
        spec = dataclasses.replace(spec, prometheus="")
    if args.prometheus:
        spec = dataclasses.replace(spec, url="")
    spec = dataclasses.replace(
        spec,
        url=_expanded(spec.url, step),
        prometheus=_expanded(spec.prometheus, step),
        baseline_url=_expanded(spec.baseline_url, step),
    )
    if not spec.url and not spec.prometheus:
        raise ConfigError(
            f"nothing to guard {step.env} by: give --url (the served environment) or "
            f"--prometheus, or `url:` in {step.env}'s guard ({step.where or 'the path'})"
        )
    if not 0 < spec.alpha < 1 or spec.interval_s <= 0 or spec.looks < 1:
        raise ConfigError("--alpha must be in (0, 1), --interval above 0 and --looks at least 1")
    return spec


def _expanded(text: str, step: Step) -> str:
    value = os.path.expandvars(text)
    if "${" in value:
        raise ConfigError(f"{step.env}'s guard names {text!r}, which is not set in the environment")
    return value


def run_guard(place: Place, spec: GuardSpec) -> int:
    from pytest_modelgate.extras import require

    require("modelgate guard", "prometheus_client")
    from pytest_modelgate.guard.act import act
    from pytest_modelgate.guard.counts import query_prometheus, scrape
    from pytest_modelgate.guard.references import references
    from pytest_modelgate.guard.watch import Watch

    registry, name, env = place.registry, place.name, place.env
    version = registry.pinned(name, env)
    if version is None:
        print(
            f"modelgate: alias {registry.alias(env)!r} of {name} is not set: nothing to guard",
            file=sys.stderr,
        )
        return 1
    began = time.monotonic()
    refs = references(registry, name, version, env)
    where = spec.url or spec.prometheus
    print(f"modelgate: guarding {name} v{version} in {env} at {where}: a look every "
          f"{spec.interval_s:g} s, at most {spec.looks}, alpha {spec.alpha:g} (references read "
          f"in {time.monotonic() - began:.1f} s)", flush=True)  # fmt: skip
    if refs.classes is None and spec.mix_psi is not None:
        print(f"  prediction mix not checked: {refs.why_no_classes}", flush=True)
    source = (lambda: scrape(spec.url)) if spec.url else (
        lambda: query_prometheus(spec.prometheus, spec.selector))  # fmt: skip
    if spec.baseline_url:
        print(f"  against the baseline at {spec.baseline_url}", flush=True)
    watch = Watch(
        spec, source, refs, str(version),
        still_pinned=lambda: registry.pinned(name, env) == version,
        baseline=(lambda: scrape(spec.baseline_url)) if spec.baseline_url else None,
        report=_print_look,
    )  # fmt: skip
    outcome = watch.run()
    acted = time.monotonic()
    try:
        lines = act(place, version, outcome)
    except ModelgateError as exc:
        print(
            f"modelgate: guard {outcome.verdict}, but acting on it failed: {exc}", file=sys.stderr
        )
        return 1
    for line in lines:
        print(line, flush=True)
    print(f"  recorded in {time.monotonic() - acted:.1f} s", flush=True)
    return EXIT[outcome.verdict]


def _print_look(look: Look) -> None:
    if look.counts is None:
        print(
            f"  look {look.number} ({look.elapsed_s:.0f} s): metrics unreadable: {look.error}",
            flush=True,
        )
        return
    head = (f"  look {look.number} ({look.elapsed_s:.0f} s): {int(look.counts.requests)} "
            f"requests ({look.rate:.1f}/s)")  # fmt: skip
    print(head, flush=True)
    for finding in look.findings:
        print(f"    {finding.check}: {finding.verdict}: {finding.text}", flush=True)


def follow(place: Place, host: str, port: int, poll_s: float) -> int:
    from pytest_modelgate.extras import require

    require("modelgate serve --follow", "bentoml")
    from pytest_modelgate.serving.follow import follow as serve_following

    logs = Path(tempfile.gettempdir()) / f"modelgate-follow-{os.getpid()}"
    return serve_following(place, host, port, poll_s, logs)
