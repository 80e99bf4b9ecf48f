"""The few calls of MLflow's authentication API (``mlflow server --app-name basic-auth``) that
promotion makes, over MLflow's own HTTP client and credentials (``MLFLOW_TRACKING_USERNAME``
and ``MLFLOW_TRACKING_PASSWORD``, or ``~/.mlflow/credentials``).

``mlflow.server.auth.client.AuthServiceClient`` offers the same calls, but importing it loads
MLflow's tracking-server application (Flask, FastAPI and their deprecation warnings) into every
promoter; these four requests need none of it.
"""

from __future__ import annotations

from typing import Any

from pytest_modelgate.candidate.registry import redacted
from pytest_modelgate.errors import RegistryError

CURRENT_USER = "/api/2.0/mlflow/users/current"
CREATE_USER = "/api/2.0/mlflow/users/create"
GET_PERMISSION = "/api/3.0/mlflow/users/permissions/get"
GRANT_PERMISSION = "/api/3.0/mlflow/users/permissions/grant"


def _request(uri: str, endpoint: str, method: str, **kwargs: Any) -> Any:
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    creds = get_default_host_creds(uri)  # type: ignore[no-untyped-call]
    return http_request(creds, endpoint, method, raise_on_status=False, **kwargs)  # type: ignore[no-untyped-call]


def _answer(uri: str, endpoint: str, method: str, **kwargs: Any) -> dict[str, Any]:
    from mlflow.utils.rest_utils import verify_rest_response

    response = _request(uri, endpoint, method, **kwargs)
    verify_rest_response(response, endpoint)  # raises the server's error, as MLflow does
    return dict(response.json())


def current_user(uri: str) -> str | None:
    """The account the server authenticated, or None where it has no authentication."""
    import os

    if not os.environ.get("MLFLOW_TRACKING_USERNAME") and not _credentials_file():
        return None  # an authenticated server would refuse every call: the caller finds out
    response = _request(uri, CURRENT_USER, "GET", max_retries=2, timeout=30)
    if response.status_code == 404:
        return None
    if response.status_code in (401, 403):
        raise RegistryError(
            f"{redacted(uri)} refused the registry credentials (HTTP {response.status_code}): "
            "check MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
        )
    response.raise_for_status()
    return str(response.json()["user"]["username"])


def _credentials_file() -> bool:
    from pathlib import Path

    return (Path.home() / ".mlflow" / "credentials").is_file()


def permission(uri: str, user: str, kind: str, resource: str) -> str:
    """``user``'s effective permission on the resource (READ, EDIT, MANAGE, NO_PERMISSIONS)."""
    params = {"username": user, "resource_type": kind, "resource_id": resource}
    return str(_answer(uri, GET_PERMISSION, "GET", params=params)["permission"])


def grant(uri: str, user: str, kind: str, resource: str, level: str) -> None:
    body = {"username": user, "resource_type": kind, "resource_id": resource, "permission": level}
    _answer(uri, GRANT_PERMISSION, "POST", json=body)


def create_user(uri: str, user: str, password: str) -> None:
    _answer(uri, CREATE_USER, "POST", json={"username": user, "password": password})
