"""pytest-modelgate: gate one exact MLflow registry model version with pytest.

PYTEST_DONT_REWRITE: the plugin's own asserts are invariants, not test assertions.
"""

__version__ = "0.1.0"
