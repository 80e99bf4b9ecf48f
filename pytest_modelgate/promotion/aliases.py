"""Words for an alias's state, and putting a version's evidence tags back as they were."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_modelgate.promotion.registry import Registry


def version_text(version: int | None) -> str:
    return "nothing" if version is None else f"v{version}"


def restore_tags(registry: Registry, name: str, version: int, old: dict[str, str | None]) -> None:
    """Put each tag back to its old value; one that had none is blanked, not deleted (an
    authenticated registry lets only a registered model's managers delete a version's tags,
    while its promoters hold EDIT): evidence reads a blank tag as absent."""
    current = registry.version_tags(name, version)
    for key, value in old.items():
        wanted = value if value is not None else ""
        if current.get(key, "") != wanted:
            registry.set_version_tag(name, version, key, wanted)
