"""Concurrent promotions of one model's environment serialise: in every trial exactly one of
three promoters wins, the alias ends on its version, its ledger event is there and the chain
holds, and no event is lost. Against PostgreSQL behind ``mlflow server --workers 2``, reached
through a proxy that adds 40 ms to every request, so the promoters' requests interleave."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import pytest

from pytest_modelgate.promotion import ledger

from .registry_world import ENV, MODEL, Promoter, World, registry_world

pytestmark = pytest.mark.slow  # PostgreSQL and mlflow server, started per module

TRIALS = 10
PROMOTERS = 3


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with registry_world(tmp_path_factory.mktemp("race"), versions=PROMOTERS + 1) as world:
        yield world


@pytest.fixture(scope="module")
def promoters(world: World) -> Iterator[list[Promoter]]:
    started = [
        Promoter({"MODELGATE_PROMOTED_BY": f"promoter-{i}"}, world.root / f"promoter-{i}.log")
        for i in range(PROMOTERS)
    ]
    yield started
    for promoter in started:
        promoter.close()


def _outcome(answer: dict) -> str:
    if answer.get("ok"):
        return "won"
    if answer.get("held"):
        return "lease held"
    if "moved since the run began" in answer.get("error", ""):
        return "alias moved"
    return "error: " + answer.get("error", str(answer))


def test_concurrent_promoters_have_exactly_one_winner_and_lose_no_event(world, promoters):
    rows, outcomes = [], Counter()
    for trial in range(1, TRIALS + 1):
        expected = world.pinned()
        contenders = [v for v in world.versions if v != expected][:PROMOTERS]
        start_at = time.time() + 0.3
        for promoter, version in zip(promoters, contenders, strict=True):
            promoter.send(world.command(version, expected, start_at=start_at))
        answers = [promoter.answer() for promoter in promoters]
        results = [_outcome(a) for a in answers]
        outcomes.update(results)
        winners = [v for v, r in zip(contenders, results, strict=True) if r == "won"]
        assert len(winners) == 1, (trial, answers)
        assert all(r in ("won", "lease held", "alias moved") for r in results), answers
        for answer, result in zip(answers, results, strict=True):
            if result == "lease held":  # the loser names who holds the move and since when
                assert "is held by promoter-" in answer["error"]
                assert " since " in answer["error"]
        assert world.pinned() == winners[0]
        events = world.events()
        assert next(ledger.chain_problems(events), None) is None
        last_move = [e for e in events if e.moved][-1]
        assert (last_move.action, last_move.version, last_move.previous) == (
            "promote",
            winners[0],
            expected,
        )
        seconds = max(a["seconds"] for a in answers)
        rows.append((trial, f"v{winners[0]}", ", ".join(results), f"{seconds:.2f}s"))
    events = world.events()
    kinds = Counter(e.action for e in events)
    # no lost event: one promote per trial, one refusal per promoter that took the lease
    # after the winner had moved the alias; promoters that found the lease held record none
    assert kinds["promote"] == TRIALS
    assert kinds["refuse"] == outcomes["alias moved"]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    print(f"\n{PROMOTERS} promoters x {TRIALS} trials, {MODEL} {ENV}, 40 ms per request")
    print("| trial | winner | outcomes | slowest |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(map(str, row)) + " |")
    print(f"outcomes: {dict(outcomes)}; ledger: {dict(kinds)}, chain of {len(events)} verified")


def test_the_race_left_a_ledger_that_verifies_with_every_event_evidence(world, capsys):
    assert world.modelgate("verify", MODEL, "--env", ENV) == 0
    out = capsys.readouterr().out
    assert f"{ENV}: {len(world.events())} events, chain and evidence verified" in out
