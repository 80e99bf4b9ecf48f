"""An interrupted move is never left half done: the promoter SIGKILLed, or the registry server
killed, at each step of a promotion. Right after the fault the alias is unchanged or on the new
version (a move without its event is then still open, its lease unsettled); the next promotion
or ``modelgate recover`` finishes or undoes it, after which the alias is unchanged or fully
moved with its ledger event, and the ledger verifies. PostgreSQL behind ``mlflow server
--workers 2``, through a slow proxy; the bento build is a stand-in (this is about the registry).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_modelgate.promotion import ledger
from pytest_modelgate.promotion.faults import ENV_FAULT, STEPS
from pytest_modelgate.promotion.lease import latest
from pytest_modelgate.promotion.registry import Registry as PromotionRegistry

from .registry_world import ENV, MODEL, QUICK_FAILURE, Promoters, World, registry_world

pytestmark = pytest.mark.slow  # PostgreSQL and mlflow server, started per module

SERVER_STEPS = ("after-intent", "after-bento", "after-evidence", "after-alias", "before-ledger")
ROWS: list[tuple[str, ...]] = []


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with registry_world(tmp_path_factory.mktemp("faults"), versions=3, standby=True) as world:
        yield world
    if ROWS:
        print("\n| fault | step | right after | then | finally |\n|---|---|---|---|---|")
        for row in ROWS:
            print("| " + " | ".join(row) + " |")


@pytest.fixture(scope="module")
def promoters(world: World) -> Iterator[Promoters]:
    pool = Promoters(world.root)
    yield pool
    pool.close()


def _target(world: World) -> tuple[int | None, int]:
    before = world.pinned()
    return before, next(v for v in world.versions if v != before)


def _right_after(world: World, before: int | None, target: int, move: int) -> str:
    """The state a fault left: the alias unchanged, or moved (with or without its event)."""
    pinned = world.pinned()
    assert pinned in (before, target), pinned
    recorded = any(e.get("move") == str(move) and e.moved for e in world.events())
    if pinned == before:
        assert not recorded
        return "unchanged"
    if recorded:
        return "moved with its event"
    newest = latest(PromotionRegistry.of(world.client), MODEL, ENV)
    assert newest is not None
    assert (newest.generation, newest.settled) == (move, "")
    return "moved, event pending (move open)"


def _settled(world: World, before: int | None, target: int, move: int) -> str:
    """After recovery: unchanged, or moved with the event that says so; the ledger holds."""
    events = world.events()
    assert next(ledger.chain_problems(events), None) is None
    settling = [e for e in events if e.get("move") == str(move) or e.get("recovers") == str(move)]
    assert settling, f"move {move} has no event"
    moves = [e for e in events if e.moved]
    pinned = world.pinned()
    assert pinned == (moves[-1].version if moves else None)
    newest = latest(PromotionRegistry.of(world.client), MODEL, ENV)
    assert newest is not None
    assert newest.settled
    if pinned == before:
        return "unchanged, undone"
    assert pinned == target
    if moves[-1].get("move") != str(move) and moves[-1].get("recovers") != str(move):
        return f"undone, then moved by the next promotion (event #{moves[-1].seq})"
    how = ", ".join(sorted({f"{e.action} {e.get('outcome')}".strip() for e in settling}))
    return f"moved with its event ({how})"


@pytest.mark.parametrize("step", STEPS)
def test_a_promoter_killed_at_any_step_leaves_no_half_move(world, promoters, step, capsys):
    before, target = _target(world)
    killed = promoters.take()
    killed.send(world.command(target, before, environ={ENV_FAULT: f"{step}:kill"}))
    assert killed.answer() == {"exit": -9}
    killed.close()
    move = latest(PromotionRegistry.of(world.client), MODEL, ENV).generation
    right_after = _right_after(world, before, target, move)
    # half the trials recover with the next promotion of the same version, half with the
    # command; the killed holder's process is gone, so neither waits for its lease to expire
    if STEPS.index(step) % 2:
        nxt = promoters.take()
        nxt.send(world.command(target, world.pinned()))
        answer = nxt.answer()
        nxt.close()
        assert answer["ok"], answer
        assert answer["recovered"], answer
        then = "next promotion" + (" (a no-op)" if answer["noop"] else "")
        final = _settled(world, before, target, move)
        assert world.pinned() == target
    else:
        assert world.modelgate("recover", MODEL, ENV) == 0
        assert f"recovered move {move}" in capsys.readouterr().out
        then = "modelgate recover"
        final = _settled(world, before, target, move)
    ROWS.append(("promoter SIGKILL", step, right_after, then, final))


@pytest.mark.parametrize("step", SERVER_STEPS)
def test_the_registry_killed_at_any_step_leaves_no_half_move(
    world, promoters, step, tmp_path, capsys
):
    before, target = _target(world)
    marker = tmp_path / "paused"
    promoter = promoters.take()
    environ = {ENV_FAULT: f"{step}:pause:{marker}", **QUICK_FAILURE}
    promoter.send(world.command(target, before, environ=environ))
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline, "the promoter never reached the step"
        time.sleep(0.05)
    world.server.kill()
    Path(f"{marker}.go").touch()
    answer = promoter.answer()
    promoter.close()
    world.restart_server()  # the same stores behind the same address
    assert answer["ok"] is False, answer
    message = answer["error"]
    assert "Traceback" not in message
    assert "MlflowException" not in message
    move = latest(PromotionRegistry.of(world.client), MODEL, ENV).generation
    right_after = _right_after(world, before, target, move)
    # the message tells the truth about where the move was left
    if step == "after-evidence":  # the undo fails too: both errors, and what may be left
        assert "failed while" in message
        assert "Undoing it failed too" in message
        assert f"may carry part of its new {ENV} evidence" in message
    if right_after == "unchanged":
        assert "nothing was changed" in message or "undoes it" in message or "still pins" in message
    else:
        assert answer["changed"], message
        assert f"v{target} holds {ENV}" in message, message
    assert world.modelgate("recover", MODEL, ENV) == 0
    capsys.readouterr()
    final = _settled(world, before, target, move)
    ROWS.append(("registry killed", step, right_after, "modelgate recover", final))
    print(f"\n{step}: {message}")


def test_after_every_fault_the_ledger_verifies_with_every_event_evidence(world, capsys):
    assert world.modelgate("verify", MODEL, "--env", ENV) == 0
    assert f"{ENV}: {len(world.events())} events, chain and evidence verified" in (
        capsys.readouterr().out
    )
