"""One place resolves the plugin's settings: CLI, then environment, then ini, then default.

Every value remembers where it came from, so a bad one is reported with its source
(the option, the variable, or the ini file and line).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ENV_MODEL_NAME = "MODELGATE_MODEL_NAME"
ENV_MODEL_VERSION = "MODELGATE_MODEL_VERSION"
ENV_MODEL_ALIAS = "MODELGATE_MODEL_ALIAS"
ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"
ENV_GATE_REPORT = "MODELGATE_GATE_REPORT"
ENV_BENTOFILE = "MODELGATE_BENTOFILE"
ENV_GATE_SUMMARY = "MODELGATE_GATE_SUMMARY"
ENV_GATE_HTML = "MODELGATE_GATE_HTML"
ENV_GATE_ALPHA = "MODELGATE_GATE_ALPHA"
ENV_ERROR_CONTROL = "MODELGATE_ERROR_CONTROL"
ENV_ENGINE = "MODELGATE_ENGINE"
INI_ENGINE = "modelgate_engine"
ENGINES = ("memory", "streaming", "spark")

INI_TRACKING_URI = "modelgate_tracking_uri"
INI_GATE_REPORT = "modelgate_gate_report"
INI_CHAMPION_ALIAS = "modelgate_champion_alias"
INI_BENTOFILE = "modelgate_bentofile"
INI_GATE_SUMMARY = "modelgate_gate_summary"
INI_GATE_HTML = "modelgate_gate_html"
INI_GATE_ALPHA = "modelgate_gate_alpha"
INI_ERROR_CONTROL = "modelgate_error_control"

DEFAULT_REGISTRY_DIR = ".modelgate"
DEFAULT_REGISTRY_FILE = "registry.db"
DEFAULT_CHAMPION_ALIAS = "production"
DEFAULT_BENTOFILE = "bentofile.yaml"
PROMOTION_ENVIRONMENTS = ("staging", "production")  # the path without a declared one
ENV_APPROVAL = "MODELGATE_APPROVAL"  # who approved, as the CI knows it (a reviewer, a ticket)
DEFAULT_GATE_ALPHA = 0.05
ERROR_CONTROL_METHODS = ("holm", "bonferroni", "none")
DEFAULT_ERROR_CONTROL = "holm"

_ALIAS_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,254}$")
_KNOWN_SCHEMES = ("sqlite", "file", "http", "https", "postgresql", "mysql", "mssql", "databricks")


@dataclass(frozen=True)
class Value:
    """A raw setting and the place it came from (for error messages)."""

    raw: str
    where: str


@dataclass(frozen=True)
class Settings:
    model_name: str | None
    model_version: int | None
    model_alias: str | None
    tracking_uri: str
    tracking_uri_source: str
    gate_report: Path | None
    champion_alias: str
    rootpath: Path
    promote: str | None = None
    promote_reason: str | None = None
    approved_by: str | None = None  # who approved the promotion (recorded with the move)
    bentofile: Path | None = None
    gate_summary: Path | None = None
    gate_html: Path | None = None
    # the run's family-wise error level and correction; None: the suite's, else the default
    gate_alpha: float | None = None
    gate_alpha_source: str = "default"
    error_control: str | None = None
    error_control_source: str = "default"
    # where every suite's statistics are computed (memory, streaming, spark); None: each
    # suite's data.engine
    engine: str | None = None
    engine_source: str = "default"

    @property
    def active(self) -> bool:
        """A run gates a model only when one is named; otherwise the plugin stays out of the way."""
        return self.model_name is not None

    @property
    def model_selector(self) -> str:
        if self.model_version is not None:
            return f"version {self.model_version}"
        return f"alias '{self.model_alias}'"


SETTINGS_KEY = pytest.StashKey[Settings]()


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("modelgate", "model gates (pytest-modelgate)")
    group.addoption(
        "--model-name", default=None, help=f"registered model to gate [{ENV_MODEL_NAME}]"
    )
    group.addoption(
        "--model-version",
        default=None,
        help=f"exact registry version to gate [{ENV_MODEL_VERSION}]",
    )
    group.addoption(
        "--model-alias",
        default=None,
        help=f"gate the version this alias points at [{ENV_MODEL_ALIAS}]",
    )
    group.addoption(
        "--tracking-uri",
        default=None,
        help=f"MLflow tracking/registry URI [{ENV_TRACKING_URI}, ini {INI_TRACKING_URI}, "
        f"default sqlite:///<rootdir>/{DEFAULT_REGISTRY_DIR}/{DEFAULT_REGISTRY_FILE}]",
    )
    group.addoption(
        "--gate-report", default=None, help=f"write the JSON gate report here [{ENV_GATE_REPORT}]"
    )
    group.addoption(
        "--gate-summary",
        default=None,
        help=f"write the markdown gate summary here (also appended to $GITHUB_STEP_SUMMARY "
        f"when set) [{ENV_GATE_SUMMARY}, ini {INI_GATE_SUMMARY}]",
    )
    group.addoption(
        "--gate-html",
        default=None,
        help=f"write the HTML gate report with plots here and log it to the candidate's run "
        f"[{ENV_GATE_HTML}, ini {INI_GATE_HTML}]",
    )
    group.addoption(
        "--gate-alpha",
        default=None,
        metavar="ALPHA",
        help="family-wise error level of the checks decided on an interval: the chance of any "
        f"wrong pass or fail among them [{ENV_GATE_ALPHA}, ini {INI_GATE_ALPHA}, else the "
        f"suite's error_control, default {DEFAULT_GATE_ALPHA}]",
    )
    group.addoption(
        "--gate-error-control",
        default=None,
        metavar="METHOD",
        help=f"how a family of checks is corrected: {', '.join(ERROR_CONTROL_METHODS)} "
        f"(none: each at its own section's confidence) [{ENV_ERROR_CONTROL}, ini "
        f"{INI_ERROR_CONTROL}, else the suite's error_control, default {DEFAULT_ERROR_CONTROL}]",
    )
    group.addoption(
        "--promote",
        default=None,
        metavar="ENV",
        help="when every required gate ran and passed, build the bento and move ENV's alias "
        "to the gated version (an environment of the project's promotion path, default "
        f"{' -> '.join(PROMOTION_ENVIRONMENTS)})",
    )
    group.addoption(
        "--promote-reason",
        default=None,
        help="why ENV may take a version without passing evidence in the environment before it, "
        "or before its soak time (recorded)",
    )
    group.addoption(
        "--approved-by",
        default=None,
        metavar="WHO",
        help=f"who approved the promotion, recorded with it (needed where the path asks for an "
        f"approval) [{ENV_APPROVAL}]",
    )
    group.addoption(
        "--bentofile",
        default=None,
        help=f"your own bentofile for the bento [{ENV_BENTOFILE}, ini {INI_BENTOFILE}, "
        f"default <rootdir>/{DEFAULT_BENTOFILE} when it exists, else the package's own]",
    )
    group.addoption(
        "--gate-engine",
        default=None,
        metavar="ENGINE",
        help=f"compute every suite's statistics in memory, streaming (Parquet record batches) or "
        f"on spark, whatever the suites' data.engine [{ENV_ENGINE}, ini {INI_ENGINE}]",
    )
    parser.addini(INI_ENGINE, "memory, streaming or spark for every suite", default="")
    parser.addini(INI_TRACKING_URI, "MLflow tracking/registry URI for model gates", default="")
    parser.addini(INI_GATE_REPORT, "path of the JSON gate report", default="")
    parser.addini(INI_BENTOFILE, "bentofile a promotion builds from", default="")
    parser.addini(INI_GATE_SUMMARY, "path of the markdown gate summary", default="")
    parser.addini(INI_GATE_HTML, "path of the HTML gate report", default="")
    parser.addini(INI_GATE_ALPHA, "family-wise error level of interval decisions", default="")
    parser.addini(INI_ERROR_CONTROL, "holm, bonferroni or none", default="")
    parser.addini(
        INI_CHAMPION_ALIAS,
        "registry alias whose version is the champion",
        default=DEFAULT_CHAMPION_ALIAS,
    )


def default_tracking_uri(root: Path) -> str:
    """For the command line: ``MLFLOW_TRACKING_URI``, else the embedded sqlite registry
    under ``root`` (its directory is created)."""
    uri = os.environ.get(ENV_TRACKING_URI)
    if uri:
        return uri
    path = root.resolve() / DEFAULT_REGISTRY_DIR / DEFAULT_REGISTRY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def resolve_settings(config: pytest.Config) -> Settings:
    """Resolve and validate every setting; raise pytest.UsageError naming the culprit."""
    name = _pick(config, "--model-name", ENV_MODEL_NAME)
    version = _pick(config, "--model-version", ENV_MODEL_VERSION)
    alias = _pick(config, "--model-alias", ENV_MODEL_ALIAS)
    _check_model_selection(name, version, alias)
    uri = _pick(config, "--tracking-uri", ENV_TRACKING_URI, INI_TRACKING_URI)
    report = _pick(config, "--gate-report", ENV_GATE_REPORT, INI_GATE_REPORT)
    champion = _pick(config, None, None, INI_CHAMPION_ALIAS)
    rootpath = config.rootpath
    tracking_uri, uri_source = _tracking_uri(uri, rootpath)
    return Settings(
        model_name=name.raw.strip() if name else None,
        model_version=_positive_int(version) if version else None,
        model_alias=_alias(alias) if alias else None,
        tracking_uri=tracking_uri,
        tracking_uri_source=uri_source,
        gate_report=_report_path(report, rootpath) if report else None,
        champion_alias=_alias(champion) if champion else DEFAULT_CHAMPION_ALIAS,
        rootpath=rootpath,
        bentofile=_bentofile(config),
        **_promotion(config, name),
        **_outputs(config, rootpath),
        **_error_control(config),
        **_engine(config),
    )


def _engine(config: pytest.Config) -> dict[str, Any]:
    """The run's engine, when the command line, environment or ini name one."""
    chosen = _pick(config, "--gate-engine", ENV_ENGINE, INI_ENGINE)
    if chosen is None:
        return {}
    text = chosen.raw.strip()
    if text not in ENGINES:
        raise pytest.UsageError(
            f"Invalid engine {chosen.raw!r} from {chosen.where}: expected one of {', '.join(ENGINES)}"
        )
    return {"engine": text, "engine_source": chosen.where}


def _error_control(config: pytest.Config) -> dict[str, Any]:
    """The run's error level and correction, when the command line, environment or ini set them."""
    alpha = _pick(config, "--gate-alpha", ENV_GATE_ALPHA, INI_GATE_ALPHA)
    method = _pick(config, "--gate-error-control", ENV_ERROR_CONTROL, INI_ERROR_CONTROL)
    out: dict[str, Any] = {}
    if alpha is not None:
        try:
            value = float(alpha.raw.strip())
        except ValueError:
            value = float("nan")
        if not 0.0 < value < 1.0:
            raise pytest.UsageError(
                f"Invalid error level {alpha.raw!r} from {alpha.where}: expected a number "
                "strictly between 0 and 1, such as 0.05"
            )
        out.update(gate_alpha=value, gate_alpha_source=alpha.where)
    if method is not None:
        text = method.raw.strip()
        if text not in ERROR_CONTROL_METHODS:
            raise pytest.UsageError(
                f"Invalid error control {method.raw!r} from {method.where}: expected one of "
                f"{', '.join(ERROR_CONTROL_METHODS)}"
            )
        out.update(error_control=text, error_control_source=method.where)
    return out


def _outputs(config: pytest.Config, rootpath: Path) -> dict[str, Any]:
    """Where the markdown summary and the HTML report go (each optional)."""
    summary = _pick(config, "--gate-summary", ENV_GATE_SUMMARY, INI_GATE_SUMMARY)
    html = _pick(config, "--gate-html", ENV_GATE_HTML, INI_GATE_HTML)
    return {
        "gate_summary": _report_path(summary, rootpath, "gate summary") if summary else None,
        "gate_html": _report_path(html, rootpath, "HTML gate report") if html else None,
    }


def _promotion(config: pytest.Config, name: Value | None) -> dict[str, Any]:
    """--promote ENV (any alias-shaped name here; the promotion path decides whether the
    project has that environment), its override reason and who approved it."""
    env = _pick(config, "--promote", None)
    reason = _pick(config, "--promote-reason", None)
    approved = _pick(config, "--approved-by", ENV_APPROVAL)
    if env is None:
        # MODELGATE_APPROVAL may be set for a whole CI job; the options only with --promote
        stray = reason or (approved if approved and approved.where == "--approved-by" else None)
        if stray is not None:
            raise pytest.UsageError(f"{stray.where} was given without --promote ENV")
        return {}
    if name is None:
        raise pytest.UsageError(f"{env.where} was given without a model: add --model-name")
    target = _alias(env)
    if reason is not None and not reason.raw.strip():
        raise pytest.UsageError(
            f"Invalid {reason.where} {reason.raw!r}: an override reason is non-empty text"
        )
    return {
        "promote": target,
        "promote_reason": reason.raw.strip() if reason else None,
        "approved_by": approved.raw.strip() if approved and approved.raw.strip() else None,
    }


def _bentofile(config: pytest.Config) -> Path | None:
    """The user's bentofile: the one named, else ``<rootdir>/bentofile.yaml`` when there is
    one, else None (the package builds the bento from its own service)."""
    named = _pick(config, "--bentofile", ENV_BENTOFILE, INI_BENTOFILE)
    if named is None:
        default = config.rootpath / DEFAULT_BENTOFILE
        return default if default.is_file() else None
    path = Path(named.raw.strip())
    path = path if path.is_absolute() else Path.cwd() / path
    if not path.is_file():
        raise pytest.UsageError(f"Invalid bentofile {named.raw!r} from {named.where}: no such file")
    return path


def _pick(
    config: pytest.Config, option: str | None, env: str | None, ini: str | None = None
) -> Value | None:
    if option is not None:
        raw = config.getoption(option)
        if raw is not None:
            return Value(str(raw), option)
    if env is not None and os.environ.get(env):
        return Value(os.environ[env], f"environment variable {env}")
    if ini is not None:
        raw = config.getini(ini)
        if raw:
            return Value(str(raw), _ini_location(config, ini))
    return None


def _ini_location(config: pytest.Config, key: str) -> str:
    """'pyproject.toml:12 (modelgate_tracking_uri)', or just the file if the line is not found."""
    inipath = config.inipath
    if inipath is None:
        return f"ini option {key}"
    try:
        lines = inipath.read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    for number, line in enumerate(lines, start=1):
        if re.match(rf"\s*{re.escape(key)}\s*[=:]", line):
            return f"{inipath}:{number} ({key})"
    return f"{inipath} ({key})"


def _check_model_selection(name: Value | None, version: Value | None, alias: Value | None) -> None:
    if name is None:
        chosen = version or alias
        if chosen is not None:
            raise pytest.UsageError(
                f"{chosen.where} was given without a model: add --model-name "
                f"(or set {ENV_MODEL_NAME})"
            )
        return
    if not name.raw.strip():
        raise pytest.UsageError(f"Invalid model name {name.raw!r} from {name.where}: it is empty")
    if version is not None and alias is not None:
        raise pytest.UsageError(
            f"Both a version ({version.where}) and an alias ({alias.where}) were given: "
            "gate one exact version, so pick one"
        )
    if version is None and alias is None:
        raise pytest.UsageError(
            f"Model {name.raw!r} from {name.where} needs --model-version N or --model-alias ALIAS "
            "to say which exact version to gate"
        )


def _positive_int(value: Value) -> int:
    text = value.raw.strip()
    if not text.isdigit() or int(text) < 1:
        raise pytest.UsageError(
            f"Invalid model version {value.raw!r} from {value.where}: "
            "expected a registry version number such as 1 or 7"
        )
    return int(text)


def _alias(value: Value) -> str:
    text = value.raw.strip()
    if not _ALIAS_PATTERN.match(text) or (text[:1] == "v" and text[1:].isdigit()):
        raise pytest.UsageError(
            f"Invalid alias {value.raw!r} from {value.where}: an MLflow alias is letters, digits, "
            "'_' and '-', starts with a letter or '_', and may not look like a version (v1)"
        )
    return text


def _tracking_uri(value: Value | None, rootpath: Path) -> tuple[str, str]:
    if value is None:
        path = rootpath / DEFAULT_REGISTRY_DIR / DEFAULT_REGISTRY_FILE
        return f"sqlite:///{path}", "default (embedded sqlite registry)"
    uri = value.raw.strip()
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in uri else ""
    if scheme not in _KNOWN_SCHEMES:
        raise pytest.UsageError(
            f"Invalid tracking URI {value.raw!r} from {value.where}: expected one of "
            f"{', '.join(s + '://' for s in _KNOWN_SCHEMES)}"
        )
    if scheme == "sqlite":
        _check_sqlite_dir(uri, value)
    return uri, value.where


def _check_sqlite_dir(uri: str, value: Value) -> None:
    path = uri.split("sqlite:///", 1)[-1]
    if not path or path == ":memory:":
        raise pytest.UsageError(
            f"Invalid tracking URI {value.raw!r} from {value.where}: a registry needs a file, "
            "for example sqlite:///path/to/registry.db"
        )
    parent = Path(path).parent
    if not parent.is_dir():
        raise pytest.UsageError(
            f"Invalid tracking URI {value.raw!r} from {value.where}: directory {parent} does not exist"
        )


def _report_path(value: Value, rootpath: Path, what: str = "gate report") -> Path:
    path = Path(value.raw.strip())
    path = path if path.is_absolute() else Path.cwd() / path
    if path.is_dir():
        raise pytest.UsageError(
            f"Invalid {what} path {value.raw!r} from {value.where}: it is a directory"
        )
    return path
