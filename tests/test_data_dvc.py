"""Evaluation data tracked by DVC: a git repository with DVC and a local remote, made here, holds
the evaluation set at two revisions; a suite names the file and a revision, the gates read it
through DVC (from the remote: the local cache is emptied first) and the report records the
revision, its commit and the md5 DVC knows, beside the sha256 of the bytes gated."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from .conftest import ScratchRegistry, copy_column_model, eval_frame, write_suite

DVC = str(Path(sys.executable).with_name("dvc"))
SUITE = """
model: m
data: {{dvc: data/eval.csv, rev: {rev}}}
target: y
gates:
  accuracy:
    resamples: 200
    metrics:
      accuracy: {{min: 0.8}}
"""
GIT = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
       "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip


def run(cwd: Path, *command: str) -> str:
    env = {**os.environ, **GIT, "DVC_NO_ANALYTICS": "1"}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def commit(repo: Path, frame: pd.DataFrame, tag: str) -> None:
    frame.to_csv(repo / "data" / "eval.csv", index=False)
    run(repo, DVC, "add", "-q", "data/eval.csv")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-q", "-m", tag)
    run(repo, "git", "tag", tag)
    run(repo, DVC, "push", "-q")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with DVC and a local remote, the evaluation set at v1 (10% errors
    for the model) and v2 (40%); the local cache emptied, so reads come from the remote."""
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    run(root, "git", "init", "-q")
    run(root, DVC, "init", "-q")
    run(root, DVC, "remote", "add", "-q", "-d", "storage", str(tmp_path / "remote"))
    commit(root, eval_frame(200, {"a": 0.1}), "v1")
    commit(root, eval_frame(200, {"a": 0.4}, seed=1), "v2")
    shutil.rmtree(root / ".dvc" / "cache")
    (root / "data" / "eval.csv").unlink()  # not in the workspace either
    return root


def test_a_suite_gates_a_dvc_file_at_each_revision_and_records_it(
    pytester: pytest.Pytester, registry: ScratchRegistry, repo: Path
) -> None:
    model, X = copy_column_model("a")
    version = registry.register(model, "m", X)
    verdicts = {}
    for rev in ("v1", "v2"):
        write_suite(repo, SUITE.format(rev=rev))
        report_file = repo / f"report-{rev}.json"
        result = pytester.runpytest(
            str(repo), *registry.args("m", version), f"--gate-report={report_file}",
            "-p", "no:cacheprovider", f"--rootdir={repo}",
        )  # fmt: skip
        verdicts[rev] = result.ret
        (data,) = json.loads(report_file.read_text(encoding="utf-8"))["data"].values()
        commit_id = run(repo, "git", "rev-parse", f"{rev}^{{commit}}")
        tracked = run(repo, "git", "show", f"{rev}:data/eval.csv.dvc")
        md5 = next(line.split()[-1] for line in tracked.splitlines() if "md5:" in line)
        assert data["dvc"] == {"path": "data/eval.csv", "rev": rev, "commit": commit_id, "md5": md5}
        assert data["source"] == f"dvc:data/eval.csv@{rev}"
        fetched = repo.parent / f"fetched-{rev}.csv"  # the same bytes, as DVC's CLI gets them
        run(repo.parent, DVC, "get", str(repo), "data/eval.csv", "--rev", rev, "-o", str(fetched))
        assert data["sha256"] == hashlib.sha256(fetched.read_bytes()).hexdigest()
        assert data["rows"] == 200
    assert verdicts == {"v1": pytest.ExitCode.OK, "v2": pytest.ExitCode.TESTS_FAILED}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{dvc: data/eval.csv, rev: v9}", "cannot read data/eval.csv at v9 of "),
        ("{dvc: data/other.csv, rev: v1}", "data/other.csv is not in "),
        ("{dvc: data/eval.txt, rev: v1}", "expected a .csv/.parquet/.pq file"),
        ("{path: eval.csv, rev: v1}", "'rev' goes with 'dvc'"),
    ],
)
def test_a_dvc_source_that_cannot_be_read_is_a_suite_error_naming_it(
    pytester: pytest.Pytester, registry: ScratchRegistry, repo: Path, data: str, message: str
) -> None:
    model, X = copy_column_model("a")
    version = registry.register(model, "m", X)
    write_suite(repo, SUITE.format(rev="v1").replace("{dvc: data/eval.csv, rev: v1}", data))
    result = pytester.runpytest(str(repo), *registry.args("m", version), f"--rootdir={repo}")
    assert result.ret != pytest.ExitCode.OK
    assert message in result.stdout.str() + result.stderr.str()
