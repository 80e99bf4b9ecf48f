"""An ``mlflow server --app-name basic-auth`` on PostgreSQL, as a team secures its registry:
every request is checked against the account that makes it (``default_permission = READ``).

The admin account and each user's password are random per world; the accounts' credentials
reach a process only through MLflow's own variables (``MLFLOW_TRACKING_USERNAME`` and
``MLFLOW_TRACKING_PASSWORD``), as they do in CI.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pytest_modelgate.cli.local_server import MlflowServer

from .postgres import postgres_database

ADMIN = "admin"
INI = """\
[mlflow]
default_permission = READ
database_uri = sqlite:///{db}
admin_username = {admin}
admin_password = {password}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
"""


@dataclass
class AuthServer:
    server: MlflowServer
    passwords: dict[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return self.server.uri

    def env(self, user: str) -> dict[str, str]:
        """The environment of a process that talks to the registry as ``user``."""
        return {
            "MLFLOW_TRACKING_USERNAME": user,
            "MLFLOW_TRACKING_PASSWORD": self.passwords[user],
        }

    @contextmanager
    def as_user(self, user: str) -> Iterator[None]:
        """This process talks to the registry as ``user`` for a while."""
        before = {k: os.environ.get(k) for k in self.env(user)}
        os.environ.update(self.env(user))
        try:
            yield
        finally:
            for key, value in before.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def add_user(self, user: str) -> None:
        from pytest_modelgate.promotion.auth_api import create_user

        password = secrets.token_urlsafe(18)
        with self.as_user(ADMIN):
            create_user(self.uri, user, password)
        self.passwords[user] = password
        self.cheap_hash(user)

    def cheap_hash(self, user: str) -> None:
        """Store ``user``'s password under a cheap hash. The server checks the password of
        every request; with werkzeug's default scrypt that costs about 0.3 s of CPU on a
        2-core machine, most of a move's time. What is checked is the same."""
        import sqlite3

        from werkzeug.security import generate_password_hash

        hashed = generate_password_hash(self.passwords[user], method="pbkdf2:sha256:1000")
        with contextlib.closing(sqlite3.connect(self.server.root / "auth.db")) as db, db:
            db.execute("UPDATE users SET password_hash = ? WHERE username = ?", (hashed, user))


@contextmanager
def auth_server(root: Path, *, workers: int = 2) -> Iterator[AuthServer]:
    """An authenticated ``mlflow server`` with its own PostgreSQL store; stopped on exit."""
    password = secrets.token_urlsafe(18)
    ini = root / "basic_auth.ini"
    ini.write_text(INI.format(db=root / "auth.db", admin=ADMIN, password=password), "utf-8")
    env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(ini),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
    }
    with postgres_database() as backend:
        server = MlflowServer(
            root, backend_store_uri=backend, workers=workers, app_name="basic-auth", env=env
        )
        server.start()
        try:
            world = AuthServer(server, {ADMIN: password})
            world.cheap_hash(ADMIN)
            yield world
        finally:
            server.kill()
