"""The bentofile a build uses: one the package generates, or the user's own, honoured.

Either way the bento's Python requirements are the gated version's own (what MLflow logged
with it) plus this package's ``serve`` extra, and the bento carries this package as a wheel, so
it installs without this package being on an index. A user's bentofile keeps its service,
includes and settings; only what it leaves unset is filled in (requirements, the wheel,
``lock_packages: false`` for offline builds).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_modelgate.bento.wheel import PACKAGE, build_wheel, extra_requirements
from pytest_modelgate.errors import BentoError

SERVICE = "pytest_modelgate.serving.service:ModelGate"
SERVE_EXTRA = "serve"
DESCRIPTION = "pytest-modelgate: serves the model version its environment's registry alias pins"


# BentoML takes files only by paths relative to the build directory (and under the working
# directory, never hidden), so what a build adds lives in a scratch directory inside it, left
# out of the bento
WORK_PREFIX = "modelgate-build-"


@dataclass(frozen=True)
class BuildPlan:
    """What ``bentoml build`` is given: the bentofile and the directory it builds from."""

    bentofile: Path
    build_ctx: Path
    requirements: tuple[str, ...]


@contextmanager
def planned_build(
    user_bentofile: Path | None, model_requirements: list[str]
) -> Iterator[BuildPlan]:
    """The requirements, the wheel and the bentofile of one build, removed afterwards."""
    with ExitStack() as stack:
        if user_bentofile is None:
            scratch = tempfile.TemporaryDirectory(prefix="modelgate-bento-")
            build_ctx = Path(stack.enter_context(scratch))
        else:
            build_ctx = user_bentofile.resolve().parent
        work = tempfile.TemporaryDirectory(prefix=WORK_PREFIX, dir=build_ctx)
        workdir = Path(stack.enter_context(work))
        wheel = build_wheel(workdir)
        requirements = merged_requirements(model_requirements, extra_requirements(SERVE_EXTRA))
        (workdir / "requirements.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")
        relative = Path(workdir.name)
        requirements_txt, wheel_path = relative / "requirements.txt", relative / wheel.name
        if user_bentofile is None:
            config = generated(requirements_txt, wheel_path)
        else:
            config = honoured(read_bentofile(user_bentofile), requirements_txt, wheel_path)
        config["exclude"] = [*(config.get("exclude") or ()), f"{WORK_PREFIX}*"]
        bentofile = workdir / "bentofile.yaml"
        _write_yaml(bentofile, config)
        yield BuildPlan(bentofile, build_ctx, tuple(requirements))


def merged_requirements(model: Iterable[str], serving: Iterable[str]) -> list[str]:
    """The model's requirement lines as MLflow logged them, then each serving requirement the
    model does not already name (the model's own pins win)."""
    from packaging.requirements import InvalidRequirement, Requirement

    lines = [line.strip() for line in model if line.strip() and not line.startswith("#")]
    named = set()
    for line in lines:
        try:
            named.add(Requirement(line).name.lower().replace("_", "-"))
        except InvalidRequirement:
            continue  # an option line (-c, --index-url): kept as it is
    extra = [r for r in serving if Requirement(r).name.lower().replace("_", "-") not in named]
    return lines + extra


def generated(requirements_txt: Path, wheel: Path) -> dict[str, Any]:
    return {
        "service": SERVICE,
        "description": DESCRIPTION,
        "python": {
            "requirements_txt": str(requirements_txt),
            "wheels": [str(wheel)],
            "lock_packages": False,  # builds offline: no resolver run
        },
        "docker": {"python_version": f"{sys.version_info.major}.{sys.version_info.minor}"},
    }


def honoured(config: dict[str, Any], requirements_txt: Path, wheel: Path) -> dict[str, Any]:
    config = dict(config)
    python = dict(config.get("python") or {})
    if not python.get("requirements_txt") and not python.get("packages"):
        python["requirements_txt"] = str(requirements_txt)
    wheels = [str(w) for w in python.get("wheels") or ()]
    if not any(Path(w).name.startswith(f"{PACKAGE}-") for w in wheels):
        wheels.append(str(wheel))
    python["wheels"] = wheels
    python.setdefault("lock_packages", False)
    config["python"] = python
    return config


def read_bentofile(path: Path) -> dict[str, Any]:
    import yaml

    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BentoError(f"cannot read bentofile {path}: {exc}") from None
    if not isinstance(config, dict) or not isinstance(config.get("service"), str):
        raise BentoError(f"bentofile {path} names no service (service: 'module:Class')")
    return config


def _write_yaml(path: Path, config: dict[str, Any]) -> None:
    import yaml

    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
