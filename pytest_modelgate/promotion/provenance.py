"""Who moved a version, from which code and which CI run: what evidence and events record."""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
from pathlib import Path
from typing import Any


def data_hashes(report: dict[str, Any]) -> str:
    hashes = sorted({str(d.get("sha256")) for d in (report.get("data") or {}).values()})
    return ",".join(h for h in hashes if h and h != "None")


def code_commit(root: Path) -> str:
    """The git commit of the code that ran the gates ('+dirty' with local changes), or ''."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return ""
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def promoted_by() -> str:
    """The CI actor or the user, at this host."""
    who = os.environ.get("MODELGATE_PROMOTED_BY") or os.environ.get("GITHUB_ACTOR")
    if not who:
        try:
            who = getpass.getuser()
        except (KeyError, OSError):
            who = "unknown"
    return f"{who}@{socket.gethostname()}"


def ci_run() -> str | None:
    run = os.environ.get("GITHUB_RUN_ID")
    if not run:
        return os.environ.get("CI_PIPELINE_URL") or os.environ.get("BUILD_URL") or None
    server, repo = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    return f"{server}/{repo}/actions/runs/{run}" if server and repo else run
