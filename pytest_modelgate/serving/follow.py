"""``modelgate serve ENV --follow``: serve the environment's alias, whichever version it pins.

The front (``serving.proxy``) listens on the port users call. A follower thread reads the alias
every ``poll_s`` seconds; when it moved, the newly pinned version's evidence is verified, its
bento (the one its promotion built and recorded) is started with ``bentoml serve`` on a loopback
port, and once it is ready and says it serves that version, the front switches to it. The
version replaced stays up as a standby, so that a rollback to it (the guard's, say) switches
at once after its evidence is verified again; the standby before it drains its requests and
stops. A version whose evidence does not verify is never served:
the front keeps the version it has (and says so) until the alias pins a sound one.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_modelgate.errors import EvidenceError, ModelgateError, ServeError
from pytest_modelgate.processes import LOOPBACK, free_port, start, stop, wait_ready
from pytest_modelgate.promotion.evidence import verify_evidence
from pytest_modelgate.promotion.places import Place
from pytest_modelgate.serving.proxy import Backend, Switchboard

STARTUP_S = 180.0
DRAIN_S = 30.0
GRACE_S = 1.0
STOP_S = 8.0  # a bento's own shutdown, before it is killed


@dataclass
class Served:
    backend: Backend
    process: Any


@dataclass
class Follower:
    place: Place
    poll_s: float
    logs: Path
    board: Switchboard = field(default_factory=Switchboard)
    serving: Served | None = None
    standby: Served | None = None  # the version served before, kept warm for a rollback
    stopped: threading.Event = field(default_factory=threading.Event)
    refused: int | None = None  # the last version not served (its evidence did not verify)

    def say(self, text: str) -> None:
        print(f"modelgate: {text}", flush=True)

    def start(self) -> None:
        """Bring up the pinned version before the front opens (it refuses to start without)."""
        pinned = self.place.registry.pinned(self.place.name, self.place.env)
        if pinned is None:
            raise ServeError(
                f"alias {self.place.registry.alias(self.place.env)!r} of {self.place.name} is "
                "not set: nothing to serve"
            )
        if not self.bring_up(pinned):
            raise ServeError(f"{self.place.name} v{pinned} cannot be served (see above)")

    def follow(self) -> None:
        """The follower thread's loop, until ``stopped``."""
        while not self.stopped.wait(self.poll_s):
            try:
                pinned = self.place.registry.pinned(self.place.name, self.place.env)
            except Exception as exc:  # the registry is down: keep serving what we serve
                self.say(f"cannot read the alias ({type(exc).__name__}: {exc}); still serving")
                continue
            current = self.serving.backend.version if self.serving else None
            if pinned is not None and pinned != current and pinned != self.refused:
                self.bring_up(pinned)

    def bring_up(self, version: int) -> bool:
        name, env = self.place.name, self.place.env
        try:
            evidence = verify_evidence(self.place.registry, name, version, env)
            bento = evidence.fields.get("bento")
            if not bento:
                raise EvidenceError(f"{name} v{version} has no {env} bento recorded")
            served = self._warm(version) or self._launch(bento, version)
        except (ModelgateError, OSError) as exc:
            self.refused = version
            kept = f"; still serving v{self.serving.backend.version}" if self.serving else ""
            self.say(f"not serving {name} v{version} as {env}: {exc}{kept}")
            return False
        old, self.serving, self.refused = self.serving, served, None
        self.board.current = served.backend  # new requests go to the new bento from here
        self.say(f"serving {name} v{version} as {env} (bento {bento} at {served.backend.url})")
        if old is not None:
            self._keep_warm(old)
        return True

    def _warm(self, version: int) -> Served | None:
        """The standby bento when it is the version wanted and still answers as it (its
        evidence was verified just now, by the caller)."""
        standby = self.standby
        if standby is None or standby.backend.version != version:
            return None
        self.standby = None
        try:
            if standby.process.poll() is None and _model_info(standby.backend.url).get(
                "version"
            ) in (version, str(version)):
                return standby
        except OSError:
            pass
        self._retire(standby)
        return None

    def _keep_warm(self, old: Served) -> None:
        """The version just replaced stays up (a rollback to it switches at once); the one
        kept before it is stopped once it has answered what it was given."""
        previous, self.standby = self.standby, old
        self.board.retired.append(old.backend)
        if previous is not None:
            self._retire(previous)

    def _launch(self, bento: str, version: int) -> Served:
        port = free_port()
        log = self.logs / f"bento-v{version}-{port}.log"
        registry = self.place.registry
        child = dict(os.environ, MODELGATE_ENV=self.place.env, MLFLOW_TRACKING_URI=registry.uri)
        child["MODELGATE_ALIAS"] = registry.alias(self.place.env)
        child.setdefault("BENTOML_DO_NOT_TRACK", "True")
        command = [sys.executable, "-m", "bentoml", "serve", bento, "--host", LOOPBACK]
        process = start([*command, "--port", str(port)], log, env=child)
        url = f"http://{LOOPBACK}:{port}"
        try:
            wait_ready(f"{url}/readyz", process, log, STARTUP_S, f"the bento of v{version}")
            answered = _model_info(url).get("version")
            if str(answered) != str(version):
                raise ServeError(f"the bento answers as v{answered}, not v{version}")
        except BaseException:
            stop(process)
            raise
        return Served(Backend(url, version), process)

    def _retire(self, old: Served) -> None:
        """Stop ``old`` once the requests it was given have been answered (bounded)."""
        # a request that read the old backend just before the switch is counted a moment later
        time.sleep(GRACE_S)
        deadline = time.monotonic() + DRAIN_S
        while old.backend.inflight and time.monotonic() < deadline:
            time.sleep(0.05)
        stop(old.process, grace_s=STOP_S)
        self.board.discard(old.backend)

    def close(self) -> None:
        """Stop every bento at once (each given STOP_S), so the follower's own shutdown stays
        shorter than a supervisor's usual grace before it kills the follower."""
        self.stopped.set()
        running = [s.process for s in (self.serving, self.standby) if s is not None]
        with ThreadPoolExecutor(max_workers=max(len(running), 1)) as pool:
            list(pool.map(lambda process: stop(process, grace_s=STOP_S), running))


def _model_info(url: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}/model_info", data=b"{}", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        info: dict[str, Any] = json.load(answer)
        return info


def follow(place: Place, host: str, port: int, poll_s: float, logs: Path) -> int:
    """Serve ``place``'s alias on ``host:port`` until interrupted."""
    import uvicorn

    logs.mkdir(parents=True, exist_ok=True)
    follower = Follower(place, poll_s, logs)
    try:
        follower.start()
        thread = threading.Thread(target=follower.follow, name="modelgate-follow", daemon=True)
        thread.start()
        config = uvicorn.Config(
            follower.board,
            host=host,
            port=port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=5,  # in-flight requests finish; then the bentos stop
        )
        alias = place.registry.alias(place.env)
        follower.say(f"following alias {alias!r} of {place.name} on http://{host}:{port}")
        # uvicorn shuts down on SIGTERM, then raises it again for the handler it found: make
        # that an exit through ``finally``, so the bentos are stopped (the default would end
        # the process on the spot and leave them running)
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        uvicorn.Server(config).run()
    finally:
        follower.close()
        follower.say("stopped: every bento it started is stopped")
    return 0
