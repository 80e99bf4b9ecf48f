"""The promotion ledger and the lease, on the embedded sqlite registry: every move is an event
created once, chained by hash; history lists them all page by page; verify names the first
event that does not hold; status says since when from the ledger; a held lease names its
holder and expires; a registry that cannot answer is one line, never a traceback."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import mlflow
import pytest

from pytest_modelgate.candidate.digest import version_digest
from pytest_modelgate.cli.main import main
from pytest_modelgate.errors import LeaseHeldError, LeaseLostError, PromotionError
from pytest_modelgate.jsonio import utc_now
from pytest_modelgate.processes import free_port
from pytest_modelgate.promotion import ledger
from pytest_modelgate.promotion.lease import acquire, latest
from pytest_modelgate.promotion.moves import (
    PromotionRequest,
    done_lines,
    promote,
    record_refusal,
    rollback,
)
from pytest_modelgate.promotion.registry import Registry as PromotionRegistry

from .conftest import ScratchRegistry, copy_column_model, places

REPO = Path(__file__).resolve().parents[1]


def fake_build(request: PromotionRequest) -> str:
    return f"modelgate-{request.name}:v{request.version}-test"


class History:
    """Model m, v1 and v2, with staging moved v1 -> v2 -> back to v1, and one refusal."""

    def __init__(self, root: Path) -> None:
        self.registry = ScratchRegistry(root)
        self.root = root
        model, X = copy_column_model("a")
        self.versions = [self.registry.register(model, "m", X) for _ in range(2)]
        self.digests = {v: version_digest("m", v, self.uri) for v in self.versions}

    @property
    def uri(self) -> str:
        return self.registry.uri

    @property
    def client(self) -> mlflow.MlflowClient:
        return mlflow.MlflowClient(self.uri, self.uri)

    def request(self, version: int, env: str = "staging", **extra: Any) -> PromotionRequest:
        client = self.client
        report = {
            "model": {"name": "m", "version": version, "digest": self.digests[version]},
            "promotable": True,
            "data": {},
            "generated_at": utc_now(),
        }
        return PromotionRequest(
            name="m",
            version=version,
            run_id=client.get_model_version("m", str(version)).run_id,
            env=env,
            report=report,
            expected=PromotionRegistry.of(client).pinned("m", env),
            bentofile=REPO / "bentofile.yaml",
            tracking_uri=self.uri,
            code_root=self.root,
            **extra,
        )


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    world = History(tmp_path_factory.mktemp("ledger"))
    v1, v2 = world.versions
    client = world.client
    promote(places(client), world.request(v1), build=fake_build)
    promote(places(client), world.request(v2), build=fake_build)
    assert rollback(PromotionRegistry.of(client), "m", "staging", reason="v2 misbehaves") == (
        v2,
        v1,
    )
    assert (
        record_refusal(PromotionRegistry.of(client), "m", "staging", v2, "required gate x failed")
        == ""
    )
    return world


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_move_and_refusal_is_a_chained_event_that_history_lists_page_by_page(history, capsys):
    v1, v2 = history.versions
    events = list(ledger.events(PromotionRegistry.of(history.client), "m", "staging", page_size=2))
    assert [(e.action, e.version, e.previous) for e in events] == [
        ("promote", v1, None),
        ("promote", v2, v1),
        ("rollback", v1, v2),
        ("refuse", v2, v1),
    ]
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert events[0].get("prev_hash") == ledger.GENESIS
    assert all(b.get("prev_hash") == a.get("hash") for a, b in itertools.pairwise(events))
    promoted = events[1]
    for field in ("by", "report_sha256", "model_digest", "bento", "plugin_version", "at"):
        assert promoted.get(field), field
    assert promoted.get("model_digest") == history.digests[v2]
    code, out, _ = _cli(
        capsys,
        "history",
        "m",
        "--env",
        "staging",
        "--page-size",
        "2",
        "--tracking-uri",
        history.uri,
    )
    assert code == 0
    assert "4 events of m staging" in out
    assert f"rollback v{v1} (was v{v2})" in out
    assert "refuse v2 (was v1)" in out
    assert "required gate x failed" in out


def test_status_says_since_when_from_the_ledger_not_from_an_earlier_promotion(history, capsys):
    v1, _ = history.versions
    rolled_back = [
        e for e in ledger.events(PromotionRegistry.of(history.client), "m", "staging") if e.moved
    ][-1]
    code, out, _ = _cli(capsys, "status", "m", "--tracking-uri", history.uri)
    assert code == 0
    assert f"staging: v{v1} since {rolled_back.at}; evidence verified" in out
    assert "modelgate.lease." not in out  # leases are not models


def test_an_alias_set_outside_modelgate_has_no_since(history, capsys):
    v1, v2 = history.versions
    client = history.client
    client.set_registered_model_alias("m", "staging", str(v2))
    try:
        code, out, _ = _cli(capsys, "status", "m", "--tracking-uri", history.uri)
        assert f"staging: v{v2} since unknown (set outside modelgate" in out
        code, _, err = _cli(
            capsys, "verify", "m", "--env", "staging", "--tracking-uri", history.uri
        )
        assert code == 1
        assert f"alias pins v{v2}, but the ledger's last move (event #3) put v{v1}" in err
    finally:
        client.set_registered_model_alias("m", "staging", str(v1))


def test_the_ledger_verifies_with_the_evidence_of_every_event(history, capsys):
    code, out, _ = _cli(capsys, "verify", "m", "--tracking-uri", history.uri)
    assert code == 0, out
    assert "staging: 4 events, chain and evidence verified" in out
    assert "production: 0 events" in out


def test_rerunning_a_completed_promotion_is_a_no_op_that_says_so(history):
    v1, _ = history.versions
    before = len(list(ledger.events(PromotionRegistry.of(history.client), "m", "staging")))
    result = promote(places(history.client), history.request(v1), build=fake_build)
    assert result.noop
    assert "already holds staging with verified evidence" in "\n".join(done_lines(result))
    assert len(list(ledger.events(PromotionRegistry.of(history.client), "m", "staging"))) == before


def test_verify_names_an_event_whose_report_no_longer_holds(history, capsys):
    v1, _ = history.versions
    client = history.client
    result = promote(
        places(client), history.request(v1, "production", reason="first release"), build=fake_build
    )
    run = client.get_run(result.request.run_id)
    logged = Path(run.info.artifact_uri.removeprefix("file://")) / result.report_artifact
    logged.write_text(logged.read_text() + " ", encoding="utf-8")  # one byte changed
    code, _, err = _cli(capsys, "verify", "m", "--env", "production", "--tracking-uri", history.uri)
    assert code == 1
    assert "production: event #1 (promote v1" in err
    assert "no longer has sha256" in err


def test_verify_names_a_deleted_event_as_the_first_that_does_not_hold(history, capsys):
    client = history.client
    second = list(ledger.events(PromotionRegistry.of(client), "m", "staging"))[1]
    client.delete_run(second.run_id)
    code, _, err = _cli(capsys, "verify", "m", "--env", "staging", "--tracking-uri", history.uri)
    assert code == 1
    assert f"staging: event #2 (run {second.run_id}) was deleted" in err


# -- the lease -------------------------------------------------------------------------------


@pytest.fixture
def quick_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    """A one-second lease, and a registry call bounded at one second."""
    monkeypatch.setenv("MODELGATE_LEASE_TTL_S", "1")
    monkeypatch.setenv("MODELGATE_LEASE_SKEW_S", "0.1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")


def test_a_held_lease_names_its_holder_and_expires_so_a_stale_holder_stops(registry, quick_lease):
    client = mlflow.MlflowClient(registry.uri, registry.uri)
    first = acquire(
        PromotionRegistry.of(client),
        "m",
        "staging",
        {"action": "promote", "version": 3},
        "alice@ci",
    )
    with pytest.raises(LeaseHeldError, match=r"held by alice@ci since .* \(move 1: promote v3\)"):
        acquire(
            PromotionRegistry.of(client),
            "m",
            "staging",
            {"action": "promote", "version": 4},
            "bob@ci",
        )
    held = latest(PromotionRegistry.of(client), "m", "staging")
    assert held is not None
    time.sleep(max(0.0, held.open_until() - time.time()) + 0.1)
    second = acquire(
        PromotionRegistry.of(client), "m", "staging", {"action": "promote", "version": 4}, "bob@ci"
    )
    assert second.generation == 2
    assert [r.holder for r in second.backlog] == ["alice@ci"]  # bob settles alice's move first
    with pytest.raises(LeaseLostError):  # alice wakes up: her next write is fenced off
        first.fence("moving the alias")
    assert issubclass(LeaseLostError, PromotionError)


def test_a_registry_that_cannot_answer_is_one_clear_line_and_a_non_zero_exit(
    tmp_path, monkeypatch, capsys
):
    report = tmp_path / "report.json"
    report.write_text('{"model": {"name": "m", "version": 1}, "promotable": true}')
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    commands = {
        "promote": ["promote", "m", "1", "staging", "--report", str(report)],
        "status": ["status", "m"],
    }
    for name, args in commands.items():
        code, _, err = _cli(capsys, *args, "--tracking-uri", uri)
        assert code != 0
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert "Traceback" not in err
        assert f"registry {uri} could not answer" in lines[0]
        assert "connection refused" in lines[0]
        if name == "promote":
            assert lines[0].startswith("modelgate: NOT promoted to staging: registry ")
            assert lines[0].endswith("nothing was changed")


def test_grants_lists_what_each_role_needs_and_refuses_to_apply_without_authentication(
    history, capsys
):
    code, out, _ = _cli(capsys, "grants", "m", "--promoter", "alice", "--tracking-uri", history.uri)
    assert code == 0
    assert "promoters of m:" in out
    assert "EDIT on registered model 'm' (moving alias 'staging'" in out
    assert "EDIT on experiment 'modelgate-ledger/m' (the ledger of m)" in out
    assert "auditors of m:" in out
    args = ("grants", "m", "--promoter", "alice", "--apply", "--tracking-uri", history.uri)
    code, _, err = _cli(capsys, *args)
    assert code == 1
    assert "has no authentication" in err
    assert "nothing to grant" in err
    code, _, err = _cli(capsys, "grants", "nope", "--tracking-uri", history.uri)
    assert code == 1
    assert "no registered model 'nope' in " in err
