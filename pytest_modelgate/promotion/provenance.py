"""Who moved a version, from which code and which CI run: what evidence and events record."""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_modelgate.promotion.registry import Registry


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


def os_user() -> str:
    """The operating-system user at this host: detail beside the registry identity."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def promoted_by(registry: Registry | None = None) -> str:
    """Who moves: the registry's authenticated account where it has authentication, else
    the CI actor or the user, at this host."""
    user = registry.user() if registry is not None else None
    if user:
        return user
    who = os.environ.get("MODELGATE_PROMOTED_BY") or os.environ.get("GITHUB_ACTOR")
    return f"{who}@{socket.gethostname()}" if who else os_user()


def who(registry: Registry) -> dict[str, str]:
    """The identity a ledger event records: who (``by``), the registry account, the CI actor
    and the operating-system user and host ('' where there is none)."""
    return {
        "by": promoted_by(registry),
        "registry_user": registry.user() or "",
        "ci_actor": os.environ.get("GITHUB_ACTOR") or "",
        "os_user": os_user(),
    }


def ci_run() -> str | None:
    run = os.environ.get("GITHUB_RUN_ID")
    if not run:
        return os.environ.get("CI_PIPELINE_URL") or os.environ.get("BUILD_URL") or None
    server, repo = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    return f"{server}/{repo}/actions/runs/{run}" if server and repo else run
