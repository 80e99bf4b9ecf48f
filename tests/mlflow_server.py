"""The loopback ``mlflow server`` the end-to-end tests start (shared with the CI entry point)."""

from __future__ import annotations

from pytest_modelgate.cli.local_server import free_port, mlflow_server

__all__ = ["free_port", "mlflow_server"]
