"""Every error pytest-modelgate raises on purpose derives from ``ModelgateError``.

Each one's message says what a user needs to act: the file and line, the option, the model
version or the registry it concerns. Callers catch the base class (the CLI and the plugin do)
and show the message, never a traceback from inside a library.
"""

from __future__ import annotations

from pathlib import Path


class ModelgateError(Exception):
    """Base of every error raised on purpose; its message is meant for the user."""


class SuiteError(ModelgateError):
    """A malformed suite file: where, which key, and what was expected."""

    def __init__(self, path: Path, line: int | None, key: str, message: str) -> None:
        self.path, self.line, self.key, self.message = path, line, key, message
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {key or '<top>'}: {message}")


class ConfigError(ModelgateError):
    """A setting, or the way suites and tests are laid out, does not allow what was asked."""


class DataError(ModelgateError):
    """The evaluation data cannot be read or does not fit the suite."""


class RegistryError(ModelgateError):
    """The registry could not answer, or does not hold what was asked for."""


class PredictionError(ModelgateError):
    """The model failed to answer on the evaluation data."""


class MetricError(ModelgateError, ValueError):
    """A metric name or its parameters do not resolve, or the model cannot feed the metric."""


class InputSchemaError(ModelgateError, ValueError):
    """A schema reference or declaration that does not resolve to a pandera schema."""


class GateFailed(ModelgateError, AssertionError):
    """A gate item's decision was 'no'; carries the result so the message has the figures."""

    def __init__(self, result: object, message: str) -> None:
        self.result = result
        super().__init__(message)


class GateInconclusive(GateFailed):
    """A gate item's evidence could not decide either way: not a pass, so it blocks promotion."""


class BentoError(ModelgateError):
    """The bento could not be built."""


class EvidenceError(ModelgateError):
    """A version has no passing evidence for an environment, or it does not check out."""


class PromotionError(ModelgateError):
    """A promotion or rollback was refused or failed; the message says what state the registry
    is in. ``changed`` is true when the registry is not as it was (the alias may have moved,
    or an undo could not finish): the message then says what is left for recovery."""

    def __init__(self, message: str, *, changed: bool = False) -> None:
        self.changed = changed
        super().__init__(message)


class LeaseHeldError(PromotionError):
    """Another promoter holds the move of this model's environment."""

    def __init__(self, model: str, env: str, holder: str, since: str, expires: str, what: str):
        self.model, self.env, self.holder, self.since, self.expires = (
            model,
            env,
            holder,
            since,
            expires,
        )
        super().__init__(
            f"the move of {model} {env} is held by {holder} since {since} ({what}); "
            f"nothing was changed: try again once it is done (its lease expires at {expires} "
            "unless it is renewed)"
        )


class PermissionRefused(PromotionError):
    """The registry account lacks a permission the move needs; checked before the move
    starts, so nothing was changed."""


class LeaseLostError(PromotionError):
    """The lease expired or was taken over while a move was under way: stop writing."""


class LedgerError(ModelgateError):
    """The promotion ledger does not hold: a missing, rewritten or unchained event, or an
    event whose evidence no longer checks out. The message names the first such event."""


class MissingExtraError(ModelgateError):
    """A gate or command needs an optional dependency that is not installed; names the extra."""


class ServeError(ModelgateError):
    """A service or server did not come up (its log tail says why)."""


class LoadError(ModelgateError):
    """Locust did not produce a summary (its output tail says why)."""
