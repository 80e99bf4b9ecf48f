"""Retrying a whole registry step after MLflow's own HTTP retries gave up.

MLflow's client retries each request (connection errors, timeouts, 408/429/5xx) with backoff;
that covers a blip, not a server restart that outlasts one request's retries. The steps after a
move's commit point (recording its ledger event, settling its lease) are idempotent and costly
to give up on, so they are retried as a whole, with tenacity, while the failure is transient;
a permanent failure (a refusal the registry will repeat) is raised at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

ENV_PERSIST = "MODELGATE_RETRY_S"
DEFAULT_PERSIST_S = 60.0
R = TypeVar("R")


def persist(step: Callable[[], R]) -> R:
    from tenacity import (
        Retrying,
        retry_if_exception,
        stop_after_attempt,
        stop_after_delay,
        wait_exponential_jitter,
    )

    from pytest_modelgate.candidate.registry import is_transient

    limit = float(os.environ.get(ENV_PERSIST) or DEFAULT_PERSIST_S)
    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(6) | stop_after_delay(limit),
        wait=wait_exponential_jitter(multiplier=0.5, max=10),
        reraise=True,
    )
    return retrying(step)
