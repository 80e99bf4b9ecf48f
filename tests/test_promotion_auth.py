"""Promotion on a registry with authentication (``mlflow server --app-name basic-auth``, on
PostgreSQL): an admin grants two promoters and an auditor what ``modelgate grants`` lists; the
promoters take turns promoting and rolling back, each ledger event naming the account that made
it; one recovers the move the other was killed in; the auditor reads the history and the
ledger's proof but is refused a move, and an account without the grants is refused before any
work, as are concurrent promoters but one. No password reaches a report, an event, a tag, an
artifact or a log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from pytest_modelgate.promotion import ledger
from pytest_modelgate.promotion.lease import latest
from pytest_modelgate.promotion.registry import Registry as PromotionRegistry

from .auth_world import ADMIN, AuthServer, auth_server
from .registry_world import ENV, MODEL, PATH, Promoter, register_versions

pytestmark = pytest.mark.slow  # PostgreSQL and an authenticated mlflow server, per module

PROMOTERS = ("alice", "bob")
AUDITOR, STRANGER = "carol", "dave"


class World:
    def __init__(self, root: Path, server: AuthServer) -> None:
        self.root, self.server = root, server
        self.run_ids: dict[int, str] = {}
        self.reports: dict[int, Path] = {}

    @property
    def uri(self) -> str:
        return self.server.uri

    def registry(self) -> PromotionRegistry:
        with self.server.as_user(ADMIN):
            return PromotionRegistry.of(mlflow.MlflowClient(self.uri, self.uri))

    def pinned(self) -> int | None:
        with self.server.as_user(ADMIN):
            return self.registry().pinned(MODEL, ENV)

    def events(self) -> list[ledger.Event]:
        with self.server.as_user(ADMIN):
            return list(ledger.events(self.registry(), MODEL, ENV))

    def modelgate(self, user: str, *args: str) -> tuple[int, str, str]:
        """A ``modelgate`` command as ``user``, in its own process; (exit code, out, err)."""
        command = [sys.executable, "-m", "pytest_modelgate.cli", *args]
        command += ["--tracking-uri", self.uri, "--root", str(self.root)]
        env = {**os.environ, **self.server.env(user), "BENTOML_HOME": str(self.root / "bentoml")}
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        with (self.root / "commands.log").open("a", encoding="utf-8") as log:
            log.write(f"$ {user}: modelgate {' '.join(args)}\n{done.stdout}{done.stderr}")
        return done.returncode, done.stdout, done.stderr

    def versions(self) -> list[int]:
        return sorted(self.run_ids)

    def command(self, version: int, **extra: object) -> dict[str, object]:
        return {
            "uri": self.uri, "name": MODEL, "env": ENV, "version": version,
            "root": str(self.root), "run_id": self.run_ids[version],
            "report": str(self.reports[version]), "expected": self.pinned(), **extra,
        }  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("auth")
    (root / "modelgate.yaml").write_text(PATH, encoding="utf-8")
    with auth_server(root) as server:
        for user in (*PROMOTERS, AUDITOR, STRANGER):
            server.add_user(user)
        world = World(root, server)
        with server.as_user(ADMIN):
            register_versions(world.uri, root, 4, world.run_ids, world.reports)
        yield world


@pytest.fixture(scope="module")
def promoters(world: World) -> Iterator[dict[str, Promoter]]:
    started = {
        user: Promoter(world.server.env(user), world.root / f"promoter-{user}.log")
        for user in (*PROMOTERS, STRANGER)
    }
    yield started
    for promoter in started.values():
        promoter.close()


@pytest.fixture(scope="module")
def granted(world: World) -> World:
    args = ["grants", MODEL, "--promoter", PROMOTERS[0], "--promoter", PROMOTERS[1]]
    code, out, err = world.modelgate(ADMIN, *args, "--auditor", AUDITOR)
    assert code == 0, err
    assert f"EDIT on registered model '{MODEL}'" in out  # printed, not applied
    code, out, err = world.modelgate(ADMIN, *args, "--auditor", AUDITOR, "--apply")
    assert code == 0, err
    assert out.count("granted alice ") == out.count("granted bob ") >= 4
    return world


def test_an_account_without_the_grants_is_refused_before_any_work(world, promoters):
    answer = promoters[STRANGER].send_and_wait(world.command(world.versions()[0]))
    assert not answer["ok"]
    error = answer["error"]
    assert f"the registry account {STRANGER!r} lacks EDIT on registered model {MODEL!r}" in error
    assert "Nothing was changed" in error
    assert world.pinned() is None
    with world.server.as_user(ADMIN):
        assert latest(world.registry(), MODEL, ENV) is None  # no lease taken


def test_two_promoters_take_turns_and_the_ledger_names_each_account(granted, promoters):
    world = granted
    v1, v2 = world.versions()[:2]
    answer = promoters["alice"].send_and_wait(world.command(v1))
    assert answer["ok"], answer
    # bob as a user would: `modelgate promote`, the bento built for real
    report = str(world.reports[v2])
    code, out, err = world.modelgate("bob", "promote", MODEL, str(v2), ENV, "--report", report)
    assert code == 0, err
    assert f"promoted {MODEL} v{v2} to {ENV}" in out
    code, out, err = world.modelgate("alice", "rollback", ENV, "--model-name", MODEL)
    assert code == 0, err
    assert world.pinned() == v1
    moves = [(e.action, e.get("by")) for e in world.events() if e.moved]
    assert moves == [("promote", "alice"), ("promote", "bob"), ("rollback", "alice")]
    event = world.events()[0]
    assert event.get("registry_user") == "alice"
    assert event.get("os_user")  # the operating-system user and host, as detail
    code, out, _ = world.modelgate(AUDITOR, "history", MODEL)
    assert code == 0
    assert f"{ENV} promote v{v2} (was v{v1}) by bob" in out


def test_a_promoter_recovers_the_move_another_was_killed_in(granted, promoters):
    world = granted
    before = world.pinned()
    v3 = world.versions()[2]
    killed = Promoter(world.server.env("bob"), world.root / "promoter-bob-killed.log")
    killed.send(world.command(v3, environ={"MODELGATE_FAULT": "after-evidence:kill"}))
    assert killed.answer().get("exit") is not None  # SIGKILL mid-move
    killed.close()
    code, out, err = world.modelgate("alice", "recover", MODEL, ENV)
    assert code == 0, err
    assert "recovered move" in out
    assert world.pinned() == before
    code, out, err = world.modelgate(AUDITOR, "verify", MODEL)
    assert code == 0, err + out
    assert "the ledger of m holds" in out


def test_the_auditor_reads_but_is_refused_a_move(granted):
    world = granted
    report = str(world.reports[world.versions()[3]])
    code, _, err = world.modelgate(
        AUDITOR, "promote", MODEL, str(world.versions()[3]), ENV, "--report", report
    )
    assert code == 1
    assert f"the registry account {AUDITOR!r} lacks EDIT on registered model {MODEL!r}" in err
    assert "Traceback" not in err


def test_concurrent_promoters_on_two_accounts_have_one_winner(granted, promoters):
    world = granted
    for _ in range(3):
        expected = world.pinned()
        contenders = [v for v in world.versions() if v != expected][:2]
        start_at = time.time() + 0.5
        for user, version in zip(PROMOTERS, contenders, strict=True):
            promoters[user].send(world.command(version, start_at=start_at))
        answers = [promoters[user].answer() for user in PROMOTERS]
        won = [a for a in answers if a.get("ok")]
        assert len(won) == 1, answers
        lost = [a for a in answers if not a.get("ok")]
        assert all(a.get("held") or "moved since the run began" in a["error"] for a in lost)
        with world.server.as_user(ADMIN):
            newest = latest(world.registry(), MODEL, ENV)
        assert newest is not None
        assert newest.settled  # the loser left nothing unsettled
    code, out, err = world.modelgate(AUDITOR, "verify", MODEL)
    assert code == 0, err + out


def test_no_password_reaches_an_artifact_an_event_or_a_log(granted):
    world = granted
    passwords = list(world.server.passwords.values())
    texts = [p.read_text(errors="replace") for p in world.root.rglob("*") if p.is_file()
             and p.name not in ("basic_auth.ini",) and p.stat().st_size < 50_000_000]  # fmt: skip
    texts += [json.dumps(e.params) for e in world.events()]
    with world.server.as_user(ADMIN):
        versions = world.registry().versions(MODEL)
    texts += [json.dumps(dict(v.tags)) for v in versions]
    assert texts
    for password in passwords:
        assert not any(password in text for text in texts)
