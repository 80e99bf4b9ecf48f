"""A user's repository as the user has it: a directory outside this checkout, a virtual
environment holding only what pip resolves from the package index for the built wheel (with
the extras the user chose), a model and data of the user's own, and the README's commands.

Nothing of this checkout's ``.venv`` is visible in it: no ``.pth`` line, no system site
packages, no ``PYTHONPATH``. pip resolves with ``constraints.txt`` so the versions are the
ones CI pins (the older-releases environment relaxes the pins it replaces).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
CONSTRAINTS = REPO / "constraints.txt"
MODEL = "credit-risk"  # the README's example model
PASSED = "verdict: every required gate ran and passed"
# the README's init flags whose gates need an extra (fairness, load) and how many values follow
NEEDS_EXTRAS = {"--sensitive": 1, "--load": 0}

# The user's own model and data: a synthetic credit book with a sensitive column and string
# classes, registered in the registry MLFLOW_TRACKING_URI names, as a data scientist would.
TRAIN = '''\
"""Make the credit data, train a classifier and register it."""
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import skops.io
from mlflow.models import infer_signature
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

rng = np.random.default_rng(7)
n = 2000
frame = pd.DataFrame({
    "age": rng.integers(19, 75, n).astype("float64"),
    "income": rng.normal(3000, 900, n).round(2),
    "debt": rng.normal(1200, 500, n).clip(0).round(2),
    "sex": rng.choice(["female", "male"], n),
})
score = 0.002 * frame.income - 0.003 * frame.debt + 0.02 * frame.age + rng.normal(0, 0.6, n)
frame["risk"] = np.where(score > np.median(score), "good", "bad")
Path("data").mkdir(exist_ok=True)
frame.iloc[:1200].to_csv("data/train.csv", index=False)
frame.iloc[1200:].to_csv("data/eval.csv", index=False)
train = frame.iloc[:1200]
X, y = train.drop(columns="risk"), train.risk
model = Pipeline([
    ("features", ColumnTransformer([
        ("sex", OneHotEncoder(handle_unknown="ignore"), ["sex"]),
        ("numbers", StandardScaler(), ["age", "income", "debt"]),
    ])),
    ("classifier", LogisticRegression(max_iter=1000)),
]).fit(X, y)
with mlflow.start_run():
    mlflow.sklearn.log_model(
        model, name="model", signature=infer_signature(X, model.predict(X)),
        registered_model_name="credit-risk",
        skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(model)),
    )
'''


def readme_commands() -> list[list[str]]:
    """The commands of the README's "In your own repository" block, as argument lists."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## In your own repository", 1)[1]
    block = section.split("```", 2)[1]
    joined = re.sub(r"\\\n\s*", " ", block)
    return [shlex.split(line, comments=True) for line in joined.splitlines() if line.strip()]


def build_wheel(out: Path) -> Path:
    """The wheel a user installs, built from this checkout."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", str(out), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = out.glob("pytest_modelgate-*.whl")
    return wheel


def pip_environment() -> dict[str, str]:
    """pip's own environment: this machine's pip settings and cache, nothing of this venv."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "VIRTUAL_ENV", "MLFLOW_", "PYTEST_", "BENTOML_"))
    }


@dataclass
class UserEnv:
    """A user's virtual environment and repository, and the figures of its install."""

    root: Path
    venv: Path
    env: dict[str, str]
    install_s: float = 0.0
    packages: int = 0

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    @property
    def uri(self) -> str:
        return self.env["MLFLOW_TRACKING_URI"]

    def pip(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.python, "-m", "pip", "--disable-pip-version-check", "-q", *args],
            capture_output=True, text=True, timeout=timeout, env=pip_environment(),
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done

    def install(self, *requirements: str, constraints: Path | None = CONSTRAINTS) -> None:
        pinned = ["-c", str(constraints)] if constraints is not None else []
        started = time.monotonic()
        self.pip("install", *pinned, *requirements)
        self.install_s += time.monotonic() - started
        self.packages = len(self.installed())

    def installed(self) -> dict[str, str]:
        listed = subprocess.run(
            [self.python, "-m", "pip", "list", "--format", "json"],
            capture_output=True, text=True, timeout=120, env=pip_environment(),
        )  # fmt: skip
        return {p["name"].lower(): p["version"] for p in json.loads(listed.stdout)}

    def run(
        self, *args: str, cwd: Path | None = None, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        """A command in the user's repository (or ``cwd``), found on the user's PATH."""
        return subprocess.run(
            list(args), cwd=cwd or self.root, env=self.env, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip

    def register(self) -> int:
        """Train the user's model and register it: its first version."""
        (self.root / "train.py").write_text(TRAIN, encoding="utf-8")
        trained = self.run(self.python, "train.py")
        assert trained.returncode == 0, trained.stderr[-3000:]
        return 1

    def aliases(self) -> dict[str, str]:
        """The registered model's aliases, read with the user's own MLflow."""
        read = self.run(
            self.python, "-c",
            "import json, mlflow; print(json.dumps(dict(mlflow.MlflowClient()"
            f".get_registered_model({MODEL!r}).aliases)))",
        )  # fmt: skip
        assert read.returncode == 0, read.stderr[-2000:]
        return {k: str(v) for k, v in json.loads(read.stdout.splitlines()[-1]).items()}

    def readme(self, command: list[str], version: int) -> list[str]:
        """A README command with its variables expanded and its example version replaced by
        the version the user registered."""
        expanded = [
            re.sub(r"\$(\w+)", lambda m: self.env.get(m[1], m[0]), word) for word in command
        ]
        for i, word in enumerate(expanded[:-1]):
            if word == "--model-version":
                expanded[i + 1] = str(version)
        return expanded


def make_user(
    tmp: Path,
    extras: str | None,
    wheel: Path,
    *,
    first: list[str] | None = None,
    constraints: Path = CONSTRAINTS,
) -> UserEnv:
    """A fresh environment with ``wheel[extras]`` installed (after ``first``, packages the
    user had before) and a repository whose own sqlite registry holds the user's model, v1."""
    root = tmp / "repo"
    root.mkdir()
    venv_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(venv_dir)
    env = {k: v for k, v in pip_environment().items() if not k.startswith("PIP_CONSTRAINT")}
    env["PATH"] = os.pathsep.join([str(venv_dir / "bin"), "/usr/local/bin", "/usr/bin", "/bin"])
    env.update(
        HOME=str(tmp),
        BENTOML_HOME=str(tmp / "bentoml"),
        BENTOML_DO_NOT_TRACK="True",
        MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}",
    )
    env.pop("GITHUB_STEP_SUMMARY", None)
    user = UserEnv(root, venv_dir, env)
    if first:
        user.install(*first, constraints=constraints)
    user.install(f"{wheel}[{extras}]" if extras else str(wheel), constraints=constraints)
    user.register()
    return user


def post(url: str, body: object) -> tuple[int, object]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def eval_rows(user: UserEnv, count: int) -> list[dict[str, object]]:
    """The first rows of the user's evaluation data, features only, read with the csv module
    (this process need not have pandas' view of the types)."""
    import csv

    with (user.root / "data" / "eval.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))[:count]
    return [
        {k: (v if k == "sex" else float(v)) for k, v in row.items() if k != "risk"} for row in rows
    ]


def outcome_line(stdout: str) -> str:
    """pytest's closing line, for messages."""
    lines = [line for line in stdout.splitlines() if line.startswith("=")]
    return lines[-1] if lines else stdout[-500:]


DEV_ONLY = ("pytest-xdist", "schemathesis", "jsonschema", "import-linter", "mypy", "ruff")


def check_isolated(user: UserEnv) -> dict[str, object]:
    """Assert the environment sees only what pip put in it (the package from the wheel, none
    of this checkout's dev packages); return its figures for the run's summary."""
    where = user.run(
        user.python, "-c",
        "import sys, pytest_modelgate; print(pytest_modelgate.__file__); print(sys.path)",
    )  # fmt: skip
    assert where.returncode == 0, where.stderr
    assert where.stdout.splitlines()[0].startswith(str(user.venv)), where.stdout
    assert str(REPO) not in where.stdout, where.stdout
    installed = user.installed()
    assert not [name for name in DEV_ONLY if name in installed], sorted(installed)
    return {"packages": user.packages, "install_s": round(user.install_s, 1)}


def without_extras(command: list[str]) -> list[str]:
    """A README command without the flags whose gates need the fairness or load extra."""
    kept, skip = [], 0
    for word in command:
        if skip:
            skip -= 1
        elif word in NEEDS_EXTRAS:
            skip = NEEDS_EXTRAS[word]
        else:
            kept.append(word)
    return kept


@contextmanager
def serving(user: UserEnv, command: list[str]) -> Iterator[str]:
    """The README's serve command on a free loopback port; its base URL while it runs."""
    from pytest_modelgate.processes import LOOPBACK, free_port, start, stop, wait_ready

    port = free_port()
    log = user.root / "serve.log"
    process = start([*command, "--host", LOOPBACK, "--port", str(port)], log, env=user.env,
                    cwd=user.root)  # fmt: skip
    url = f"http://{LOOPBACK}:{port}"
    try:
        wait_ready(f"{url}/readyz", process, log, 120, "modelgate serve")
        yield url
    finally:
        stop(process)


def assert_serves_staging(user: UserEnv, url: str) -> None:
    """The served bento is the staging version and answers the user's rows with their classes."""
    status, info = post(f"{url}/model_info", {})
    assert status == 200, info
    assert isinstance(info, dict)
    assert (info["name"], info["alias"], str(info["version"])) == (MODEL, "staging", "1"), info
    rows = eval_rows(user, 3)
    status, labels = post(f"{url}/predict", {"rows": rows})
    assert status == 200, labels
    assert isinstance(labels, list)
    assert len(labels) == 3
    assert set(labels) <= {"good", "bad"}
    status, body = post(f"{url}/predict", {"rows": [{**rows[0], "sex": 3.5}]})
    assert 400 <= status < 500, body
