"""pytest-modelgate: gate one exact MLflow registry model version with pytest.

The public API is what ``__all__`` lists: what a custom gate kind or a custom gate test needs.
Everything else may change between releases.

PYTEST_DONT_REWRITE: the plugin's own asserts are invariants, not test assertions.
"""

from pytest_modelgate.errors import ModelgateError
from pytest_modelgate.gates.api import Check, Claim, Decision, GateContext, GateKind, GateResult
from pytest_modelgate.version import __version__

__all__ = [
    "Check",
    "Claim",
    "Decision",
    "GateContext",
    "GateKind",
    "GateResult",
    "ModelgateError",
    "__version__",
]
