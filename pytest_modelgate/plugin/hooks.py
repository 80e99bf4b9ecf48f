"""pytest-modelgate hooks. Nothing heavy is imported here: a run that names no model pays
for a few option definitions and nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_modelgate.settings import SETTINGS_KEY, add_options, resolve_settings

GATE_MARKER = (
    "gate(name, required=True, model=None): a model gate; required gates must pass for "
    "promotion, model= limits it to one registered model"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_modelgate.plugin import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", GATE_MARKER)
    settings = resolve_settings(config)
    config.stash[SETTINGS_KEY] = settings
    from pytest_modelgate.plugin import fixtures

    config.pluginmanager.register(fixtures, "modelgate-fixtures")
    if settings.active:
        from pytest_modelgate.plugin.session import GateSession

        config.pluginmanager.register(GateSession(config, settings), "modelgate-session")
    # under pytest-xdist only the controller promotes, once every worker's results are in
    if settings.promote is not None and not hasattr(config, "workerinput"):
        from pytest_modelgate.plugin.promotion import PromotionSession

        config.pluginmanager.register(PromotionSession(config, settings), "modelgate-promotion")


def pytest_report_header(config: pytest.Config) -> Any:
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings is None or not settings.active:
        return None
    return (
        f"modelgate: {settings.model_name} {settings.model_selector} from "
        f"{settings.tracking_uri} ({settings.tracking_uri_source})"
    )
