"""The loopback ``mlflow server`` the end-to-end tests start (shared with the CI entry point)."""

from __future__ import annotations

from pytest_modelgate.cli.local_server import mlflow_server
from pytest_modelgate.processes import free_port

__all__ = ["free_port", "mlflow_server"]
