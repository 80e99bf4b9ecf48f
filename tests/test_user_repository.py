"""pytest-modelgate as a user meets it: the built wheel installed in a fresh virtual environment
in a directory that is not this repository, a model of the user's own (breast-cancer data that
ships with scikit-learn) in the embedded registry, ``modelgate init``, the gate run, promotion
to staging, and the staging bento served with ``bentoml serve`` on 127.0.0.1.

The new environment reuses this one's installed packages (a ``.pth`` line pointing at its
site-packages) so nothing is downloaded; pytest-modelgate itself comes only from the wheel.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import urllib.error
import urllib.request
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_modelgate.processes import LOOPBACK, free_port, start, stop, wait_ready

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
COMPAT = REPO / "tests" / "compat-requirements.txt"
COMPAT_WHEELS = Path(os.environ.get("MODELGATE_COMPAT_WHEELS", Path(sys.prefix) / "compat-wheels"))
ACTIONLINT = Path(sys.executable).with_name("actionlint")
MODEL = "cancer"
TRAIN = '''\
"""Train the breast-cancer classifier and register it, as a data scientist would."""
from pathlib import Path

import mlflow
from mlflow.models import infer_signature
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

frame = load_breast_cancer(as_frame=True).frame
frame.columns = [c.replace(" ", "_") for c in frame.columns]
train, test = train_test_split(frame, test_size=0.3, random_state=0, stratify=frame.target)
train.to_csv("train.csv", index=False)
test.to_csv("eval.csv", index=False)
X, y = train.drop(columns="target"), train.target
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
Path(".modelgate").mkdir(exist_ok=True)
mlflow.set_tracking_uri(f"sqlite:///{Path('.modelgate/registry.db').resolve()}")
with mlflow.start_run():
    mlflow.sklearn.log_model(
        model, name="model", signature=infer_signature(X, model.predict(X)),
        registered_model_name="cancer",
    )
'''


@dataclass
class UserRepo:
    root: Path
    venv: Path
    wheel: Path
    env: dict[str, str]
    init_output: str

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.root / '.modelgate' / 'registry.db'}"

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*args], cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def modelgate(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(self.python, "-m", "pytest_modelgate.cli", *args)

    def gate(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.run(
            self.python, "-m", "pytest", "gates/", "-p", "no:cacheprovider",
            "--model-name", MODEL, "--model-version", "1", "--tracking-uri", self.uri, *extra,
        )  # fmt: skip

    def bento_dir(self) -> Path:
        found = sorted(
            (Path(self.env["BENTOML_HOME"]) / "bentos" / f"modelgate-{MODEL}").glob("v*")
        )
        assert found, "no bento was built"
        return found[-1]


def build_wheel(out: Path) -> Path:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", str(out), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = out.glob("pytest_modelgate-*.whl")
    return wheel


def fresh_venv(path: Path) -> Path:
    """A new environment that sees this one's packages, but not this checkout's source."""
    venv.EnvBuilder(with_pip=True).create(path)
    site = Path(sysconfig.get_paths(vars={"base": str(path), "platbase": str(path)})["purelib"])
    (site / "reuse-test-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return path


def pip(venv_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv_dir / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def user_env(tmp: Path, venv_dir: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTEST_", "PYTHON"))
    }
    # the user's own environment first; nothing of this checkout on the path
    env["PATH"] = os.pathsep.join([str(venv_dir / "bin"), "/usr/local/bin", "/usr/bin", "/bin"])
    env.update(BENTOML_HOME=str(tmp / "bentoml"), BENTOML_DO_NOT_TRACK="True", HOME=str(tmp))
    return env


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> UserRepo:
    tmp = tmp_path_factory.mktemp("user")
    wheel = build_wheel(tmp / "dist")
    venv_dir = fresh_venv(tmp / "venv")
    # --ignore-installed: the reused environment may hold a pytest-modelgate of its own
    installed = pip(
        venv_dir, "install", "--no-deps", "--no-index", "--ignore-installed", str(wheel)
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    root = tmp / "repo"
    root.mkdir()
    (root / "train.py").write_text(TRAIN, encoding="utf-8")
    repo = UserRepo(root, venv_dir, wheel, user_env(tmp, venv_dir), "")
    trained = repo.run(repo.python, "train.py")
    assert trained.returncode == 0, trained.stderr[-3000:]
    init = repo.modelgate("init", MODEL, "--data", "eval.csv", "--target", "target",
                          "--reference", "train.csv", "--tracking-uri", repo.uri)  # fmt: skip
    assert init.returncode == 0, init.stdout + init.stderr
    repo.init_output = init.stdout
    return repo


def test_the_package_comes_from_the_wheel_not_this_checkout(user: UserRepo) -> None:
    done = user.run(user.python, "-c", "import pytest_modelgate; print(pytest_modelgate.__file__)")
    assert done.stdout.strip().startswith(str(user.venv)), done.stdout + done.stderr


def test_init_scaffolds_a_suite_and_workflows_and_names_the_next_command(user: UserRepo) -> None:
    for path in ("gates/cancer.yaml", ".github/workflows/model-gates.yml",
                 ".github/workflows/model-promote.yml"):  # fmt: skip
        assert f"wrote {path}" in user.init_output
    assert f"next: pytest gates/ --model-name {MODEL} --model-version 1" in user.init_output
    suite = (user.root / "gates" / "cancer.yaml").read_text()
    for family in ("accuracy:", "schema:", "latency:", "robustness:", "fairness:", "drift:"):
        assert family in suite
    # the input schema is the model's MLflow signature: all 30 features, as doubles
    assert len(re.findall(r"^      \w+: \{dtype: float64, nullable: false\}$", suite, re.M)) == 30
    for workflow in (user.root / ".github" / "workflows").glob("*.yml"):
        linted = subprocess.run([str(ACTIONLINT), str(workflow)], capture_output=True, text=True)
        assert linted.returncode == 0, linted.stdout + linted.stderr


def test_init_refuses_to_overwrite_and_names_the_files(user: UserRepo) -> None:
    before = (user.root / "gates" / "cancer.yaml").read_text()
    again = user.modelgate("init", MODEL, "--data", "eval.csv", "--target", "target",
                           "--tracking-uri", user.uri)  # fmt: skip
    assert again.returncode != 0
    assert "not overwriting gates/cancer.yaml, .github/workflows/model-gates.yml" in again.stderr
    assert "--force" in again.stderr
    assert (user.root / "gates" / "cancer.yaml").read_text() == before


def test_the_suite_gates_and_promotes_the_users_model(user: UserRepo) -> None:
    done = user.gate("--promote", "staging")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "verdict: every required gate ran and passed" in done.stdout
    assert f"promoted {MODEL} v1 to staging" in done.stdout
    assert "schema[malformed-input]" in done.stdout
    assert "drift[psi]" in done.stdout


@pytest.fixture(scope="module")
def served(user: UserRepo) -> Iterator[str]:
    if not (Path(user.env["BENTOML_HOME"]) / "bentos").is_dir():
        assert user.gate("--promote", "staging").returncode == 0
    port = free_port()
    log = user.root / "serve.log"
    command = [user.python, "-m", "pytest_modelgate.cli", "serve", "staging", "--model-name",
               MODEL, "--tracking-uri", user.uri, "--host", LOOPBACK, "--port", str(port)]  # fmt: skip
    process = start(command, log, env=user.env, cwd=user.root)
    url = f"http://{LOOPBACK}:{port}"
    try:
        wait_ready(f"{url}/readyz", process, log, 120, "modelgate serve")
        yield url
    finally:
        stop(process)


def _post(url: str, body: object) -> tuple[int, object]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_the_staging_bento_answers_and_enforces_the_suites_schema(
    user: UserRepo, served: str
) -> None:
    import pandas as pd

    status, info = _post(f"{served}/model_info", {})
    assert status == 200, info
    assert (info["name"], info["alias"]) == (MODEL, "staging"), info
    rows = pd.read_csv(user.root / "eval.csv").drop(columns="target").head(3)
    status, labels = _post(f"{served}/predict", {"rows": rows.to_dict(orient="records")})
    assert status == 200, labels
    assert len(labels) == 3
    assert set(labels) <= {0, 1}
    negative = rows.head(1).assign(mean_radius=-1.0)  # the suite's schema has no bound on it
    status, _ = _post(f"{served}/predict", {"rows": negative.to_dict(orient="records")})
    assert status == 200
    missing = rows.head(1).drop(columns="mean_radius")
    status, body = _post(f"{served}/predict", {"rows": missing.to_dict(orient="records")})
    assert 400 <= status < 500, body
    assert "mean_radius" in json.dumps(body), body


def test_the_bento_carries_the_package_and_only_the_pins_the_model_asked_for(
    user: UserRepo,
) -> None:
    bento = user.bento_dir()
    wheels = list((bento / "env" / "python" / "wheels").glob("pytest_modelgate-*.whl"))
    assert len(wheels) == 1
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(f"pytest_modelgate-{_version(wheels[0])}.dist-info/METADATA")
    assert "pytest_modelgate/serving/service.py" in names
    assert b"Provides-Extra: serve" in metadata
    # the version as imported into the BentoML store: its MLflow model and requirements
    model_dir = next((Path(user.env["BENTOML_HOME"]) / "models").glob(f"{MODEL}/*/mlflow_model"))
    asked = {line.strip() for line in (model_dir / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")}  # fmt: skip
    requirements = [line.strip() for line in
                    (bento / "env" / "python" / "requirements.txt").read_text().splitlines()
                    if line.strip() and not line.startswith("#")]  # fmt: skip
    assert asked <= set(requirements)
    pins = {r for r in requirements if "==" in r}
    # BentoML pins itself to the version that built the bento; every other pin is the model's
    assert {p for p in pins if not p.startswith("bentoml==")} <= asked
    assert "bentoml>=1.4.39" in requirements  # the serve extra, as a range
    dockerfile = (bento / "env" / "docker" / "Dockerfile").read_text()
    assert "env/python/install.sh" in dockerfile
    install = (bento / "env" / "python" / "install.sh").read_text()
    assert "requirements.txt" in install
    assert "wheels" in install
    bentoyaml = (bento / "bento.yaml").read_text()
    assert "service: pytest_modelgate.serving.service:ModelGate" in bentoyaml
    # the requirements and the wheel resolve together (against what is installed, offline)
    resolved = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "-q",
         "-r", str(bento / "env" / "python" / "requirements.txt"), str(wheels[0])],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert resolved.returncode == 0, resolved.stdout + resolved.stderr


def _version(wheel: Path) -> str:
    return wheel.name.split("-")[1]


def test_installing_the_wheel_keeps_older_pandas_numpy_scikit_learn_and_pytest(
    user: UserRepo, tmp_path: Path
) -> None:
    wanted = [line for line in COMPAT.read_text().splitlines() if line and not line.startswith("#")]
    assert COMPAT_WHEELS.is_dir(), f"{COMPAT_WHEELS} is missing: python3 dev.py downloads it"
    compat = fresh_venv(tmp_path / "venv")
    older = pip(compat, "install", "--no-index", "--find-links", str(COMPAT_WHEELS), *wanted)
    assert older.returncode == 0, older.stdout + older.stderr
    done = pip(compat, "install", "--no-index", "--find-links", str(COMPAT_WHEELS), str(user.wheel))
    assert done.returncode == 0, done.stdout + done.stderr
    listed = pip(compat, "list", "--format", "json", "--path", str(_site(compat)))
    versions = {p["name"].lower(): p["version"] for p in json.loads(listed.stdout)}
    for line in wanted:
        name, version = line.split("==")
        assert versions.get(name.lower()) == version, (name, versions)
    # and the plugin gates a model with them: the user's accuracy gate, in that environment
    env = user_env(tmp_path, compat)
    gated = subprocess.run(
        [str(compat / "bin" / "python"), "-m", "pytest", "gates/cancer.yaml", "-p",
         "no:cacheprovider", "-k", "accuracy", "--model-name", MODEL, "--model-version", "1",
         "--tracking-uri", user.uri],
        cwd=user.root, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert gated.returncode == 0, gated.stdout[-3000:] + gated.stderr[-2000:]
    assert "pytest-8.4.2" in gated.stdout


def _site(venv_dir: Path) -> Path:
    return Path(
        sysconfig.get_paths(vars={"base": str(venv_dir), "platbase": str(venv_dir)})["purelib"]
    )
