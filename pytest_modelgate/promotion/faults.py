"""A fault hook for the tests of interrupted moves: harmless unless its variable is set.

``MODELGATE_FAULT=<step>:kill`` makes a promoter SIGKILL itself when it reaches ``<step>``;
``MODELGATE_FAULT=<step>:pause:<path>`` makes it create ``<path>`` there and wait (two minutes
at most) until ``<path>.go`` exists, so a test can kill the registry server at that point.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

ENV_FAULT = "MODELGATE_FAULT"
# the points of a move, in order
STEPS = (
    "after-intent",  # the lease and the move's intent are recorded, nothing else changed
    "after-bento",  # the bento is built
    "after-evidence",  # the evidence tags are on the version
    "after-alias",  # the alias write returned (the commit point)
    "before-ledger",  # the alias was read back; the ledger event comes next
    "after-ledger",  # the event is recorded; the lease is not yet settled
)
PAUSE_LIMIT_S = 120.0


def fault_point(step: str) -> None:
    spec = os.environ.get(ENV_FAULT)
    if not spec:
        return
    where, _, how = spec.partition(":")
    if where != step:
        return
    action, _, argument = how.partition(":")
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "pause" and argument:
        marker = Path(argument)
        marker.write_text(step, encoding="utf-8")
        go = marker.with_name(marker.name + ".go")
        deadline = time.monotonic() + PAUSE_LIMIT_S
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
