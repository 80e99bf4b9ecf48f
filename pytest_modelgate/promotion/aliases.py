"""Words for an alias's state, and putting a version's evidence tags back as they were."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_modelgate.promotion.registry import Registry


def version_text(version: int | None) -> str:
    return "nothing" if version is None else f"v{version}"


def restore_tags(registry: Registry, name: str, version: int, old: dict[str, str | None]) -> None:
    """Put each tag back to its old value, deleting those that had none."""
    current = registry.version_tags(name, version)
    for key, value in old.items():
        if value is None:
            if key in current:
                registry.delete_version_tag(name, version, key)
        elif current.get(key) != value:
            registry.set_version_tag(name, version, key, value)
