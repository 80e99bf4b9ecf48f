#!/usr/bin/env python3
"""Bootstrap and run: ``python3 dev.py demo`` or ``python3 dev.py test [pytest args]``;
``python3 dev.py installs`` installs the built wheel as users do (fresh environments outside
this checkout, one per extra set, from the package index) and runs the README's commands in
each; ``python3 dev.py lint`` runs ruff, the import layering contracts (import-linter) and mypy.

Needs only Python 3.11 and pip. Creates ``.venv`` beside this file on first use and installs
the project into it with the versions ``constraints.txt`` pins (again whenever either file
changes), then runs the command there. ``python3 dev.py lock`` rewrites ``constraints.txt``
from pyproject.toml's ranges (and ``constraints.in``) with uv.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".modelgate-installed"
CONSTRAINTS = ROOT / "constraints.txt"
LOCK = [
    "pip", "compile", "pyproject.toml", "--extra", "dev", "--python-version", "3.11",
    "--python-platform", "x86_64-manylinux_2_28", "--no-emit-package", "pytest-modelgate",
    "-c", "constraints.in", "-o", "constraints.txt",
]  # fmt: skip


def ensure_venv() -> None:
    inputs = b"".join(p.read_bytes() for p in (ROOT / "pyproject.toml", CONSTRAINTS))
    wanted = hashlib.sha256(inputs).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    print("installing pytest-modelgate and its pinned dependencies into .venv", flush=True)
    subprocess.check_call([*pip, "install", "-c", str(CONSTRAINTS), "-e", f"{ROOT}[dev]"], cwd=ROOT)
    STAMP.write_text(wanted)


def parallel(args: list[str]) -> list[str]:
    """The suite runs on every core, a test file per worker (its module-scoped servers stay
    on one worker), unless the arguments choose otherwise."""
    chosen = "no:xdist" in args or any(
        a.startswith(("-n", "--numprocesses", "--dist")) for a in args
    )
    # the files in conftest's order (slowest first), not xdist's order by number of tests
    return [] if chosen else ["-n", "auto", "--dist", "loadfile", "--no-loadscope-reorder"]


def timed(command: list[str]) -> int:
    started = time.monotonic()
    status = subprocess.call(command, cwd=ROOT)
    print(f"fresh-install environments: {time.monotonic() - started:.0f} s", flush=True)
    return status


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "installs", "bench", "lint", "lock"):
        print(
            __doc__.strip() + "\n\ncommands: demo, test, installs, bench, lint, lock",
            file=sys.stderr,
        )
        return 2
    ensure_venv()
    python = str(BIN / "python")
    command, rest = argv[0], argv[1:]
    if command == "demo":
        return subprocess.call([python, "-m", "pytest_modelgate.cli", "demo", *rest], cwd=ROOT)
    if command == "test":
        return subprocess.call([python, "-m", "pytest", *parallel(rest), *rest], cwd=ROOT)
    if command == "installs":
        named = any(Path(a.split("::")[0]).exists() for a in rest if not a.startswith("-"))
        where = [] if named else ["installs"]  # a file or test of installs/ given: only that
        return timed(
            [python, "-m", "pytest", *where, "-p", "no:cacheprovider", *parallel(rest), *rest]
        )
    if command == "lock":
        return subprocess.call([str(BIN / "uv"), *LOCK, *rest], cwd=ROOT)
    if command == "bench":
        return subprocess.call([python, "bench/run.py", *rest], cwd=ROOT)
    ruff, mypy = str(BIN / "ruff"), str(BIN / "mypy")
    status = subprocess.call([ruff, "check", "."], cwd=ROOT)
    status |= subprocess.call([ruff, "format", "--check", "."], cwd=ROOT)
    status |= subprocess.call([str(BIN / "lint-imports")], cwd=ROOT)
    return status | subprocess.call([mypy], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
