"""Schemathesis hooks for fuzzing a served bento against its own OpenAPI document:

    SCHEMATHESIS_HOOKS=pytest_modelgate.serving.fuzzing schemathesis run URL/docs.json \\
        --checks all --config-file schemathesis.toml

JSON Schema cannot say that the lists of the column-oriented body (``{"columns": {...}}``) all
have one length; the document says it in words. A body schemathesis generates as valid may
therefore have lists of different lengths, which the service rightly refuses. This hook cuts
the lists of such a case to the shortest one, so that a positive case is what the document
describes; negative cases are left alone. schemathesis is a development tool: nothing in the
service imports this module.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis import Case, HookContext


@schemathesis.hook
def map_case(context: HookContext, case: Case[Any]) -> Case[Any]:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or not isinstance(case.body, dict):
        return case
    columns = case.body.get("columns")
    if not isinstance(columns, dict) or not columns:
        return case
    lists = {name: values for name, values in columns.items() if isinstance(values, list)}
    if len(lists) == len(columns):
        rows = min(len(values) for values in lists.values())
        case.body = {"columns": {name: values[:rows] for name, values in lists.items()}}
    return case
