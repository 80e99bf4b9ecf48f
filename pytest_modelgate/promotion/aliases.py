"""Reading and writing one environment's alias, and the evidence tags a move writes."""

from __future__ import annotations

from typing import Any


def alias_version(client: Any, name: str, alias: str) -> int | None:
    aliases = client.get_registered_model(name).aliases or {}
    value = aliases.get(alias)
    return None if value is None else int(value)


def version_text(version: int | None) -> str:
    return "nothing" if version is None else f"v{version}"


def set_alias(client: Any, name: str, env: str, version: int | None) -> None:
    """Point ``env`` at ``version``, or unset it for None."""
    if version is None:
        client.delete_registered_model_alias(name, env)
    else:
        client.set_registered_model_alias(name, env, str(version))


def version_tags(client: Any, name: str, version: int) -> dict[str, str]:
    return dict(client.get_model_version(name, str(version)).tags or {})


def restore_tags(client: Any, name: str, version: int, old: dict[str, str | None]) -> None:
    """Put each tag back to its old value, deleting those that had none."""
    current = version_tags(client, name, version)
    for key, value in old.items():
        if value is None:
            if key in current:
                client.delete_model_version_tag(name, str(version), key)
        elif current.get(key) != value:
            client.set_model_version_tag(name, str(version), key, value)
