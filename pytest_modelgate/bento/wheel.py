"""The installed pytest-modelgate as a wheel, so a bento carries the very code that gated it.

Written here because nothing installed can do it offline: pip cannot turn an installed
distribution back into a wheel, and building one from source needs a build backend and the
source tree, which a user's environment (installed from a wheel) does not have. A wheel is a
zip of the package files plus its ``.dist-info`` (METADATA and entry points as installed, a
WHEEL file, and a RECORD of sha256 digests), which is what this writes.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import zipfile
from pathlib import Path

from pytest_modelgate.errors import BentoError

DISTRIBUTION = "pytest-modelgate"
PACKAGE = "pytest_modelgate"
_SKIPPED_DIRS = {"__pycache__"}
_SKIPPED_SUFFIXES = {".pyc", ".pyo"}
_WHEEL = (
    "Wheel-Version: 1.0\nGenerator: pytest-modelgate\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
)


def installed_version() -> str:
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise BentoError(
            f"{DISTRIBUTION} is importable but not installed (no metadata): install it with pip "
            "(pip install -e . in a checkout) so a bento can carry it"
        ) from None


def package_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BentoError(f"cannot find the {PACKAGE} package")
    return Path(next(iter(spec.submodule_search_locations)))


def build_wheel(out_dir: Path) -> Path:
    """Write ``pytest_modelgate-<version>-py3-none-any.whl`` into ``out_dir``."""
    version = installed_version()
    dist = importlib.metadata.distribution(DISTRIBUTION)
    info = f"{PACKAGE}-{version}.dist-info"
    path = out_dir / f"{PACKAGE}-{version}-py3-none-any.whl"
    records: list[str] = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:

        def add(name: str, data: bytes) -> None:
            wheel.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            records.append(f"{name},sha256={digest.decode()},{len(data)}")

        root = package_dir()
        for file in sorted(root.rglob("*")):
            relative = file.relative_to(root)
            if file.is_dir() or _SKIPPED_DIRS & set(relative.parts):
                continue
            if file.suffix in _SKIPPED_SUFFIXES:
                continue
            add(f"{PACKAGE}/{relative.as_posix()}", file.read_bytes())
        add(f"{info}/METADATA", (dist.read_text("METADATA") or "").encode())
        add(f"{info}/WHEEL", _WHEEL.encode())
        entry_points = dist.read_text("entry_points.txt")
        if entry_points:
            add(f"{info}/entry_points.txt", entry_points.encode())
        records.append(f"{info}/RECORD,,")
        wheel.writestr(f"{info}/RECORD", "\n".join(records) + "\n")
    return path


def extra_requirements(extra: str) -> list[str]:
    """The requirements ``pytest-modelgate[extra]`` adds, as written in the installed metadata
    (nested extras of this package followed, the package itself left out)."""
    from packaging.requirements import Requirement

    found: list[str] = []
    pending, seen = [extra], set()
    while pending:
        current = pending.pop()
        seen.add(current)
        for line in importlib.metadata.requires(DISTRIBUTION) or ():
            req = Requirement(line)
            if req.marker is None or not req.marker.evaluate({"extra": current}):
                continue
            if req.name == DISTRIBUTION:
                pending += [e for e in req.extras if e not in seen]
                continue
            req.marker = None
            if str(req) not in found:
                found.append(str(req))
    return found
