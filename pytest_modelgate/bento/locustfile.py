"""Load test of a served bento with rows drawn from evaluation data.

    MODELGATE_LOAD_ROWS=rows.json locust -f pytest_modelgate/bento/locustfile.py --headless \\
        --processes 2 -H http://127.0.0.1:3000 -u 20 -r 20 --run-time 15s --csv load

``MODELGATE_LOAD_ROWS`` names a JSON file holding a list of feature rows (for example
``frame.drop(columns=[target]).to_json(path, orient="records")`` of the eval data). Each request
sends ``MODELGATE_LOAD_BATCH`` (default 1) rows drawn at random to ``/predict`` (or
``MODELGATE_LOAD_ENDPOINT``), as the body form ``MODELGATE_LOAD_BODY`` names: ``rows`` (the
default, a list of records), ``dataframe_split`` or ``columns`` (one list per column). Each
user stops after ``MODELGATE_LOAD_USER_REQUESTS`` requests (default: no limit but the run
time). Nothing here imports mlflow or the service.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

from locust import FastHttpUser, between, task
from locust.exception import StopUser

ROWS: list[dict[str, Any]] = json.loads(
    Path(os.environ["MODELGATE_LOAD_ROWS"]).read_text(encoding="utf-8")
)
BATCH = int(os.environ.get("MODELGATE_LOAD_BATCH", "1"))
BODY = os.environ.get("MODELGATE_LOAD_BODY", "rows")
ENDPOINT = os.environ.get("MODELGATE_LOAD_ENDPOINT", "/predict")
WAIT_S = float(os.environ.get("MODELGATE_LOAD_WAIT_S", "0"))
USER_REQUESTS = int(os.environ.get("MODELGATE_LOAD_USER_REQUESTS", "0")) or None
COLUMNS = list(ROWS[0]) if ROWS else []


def body(rows: list[dict[str, Any]]) -> dict[str, Any]:
    if BODY == "columns":
        return {"columns": {c: [row[c] for row in rows] for c in COLUMNS}}
    if BODY == "dataframe_split":
        data = [[row[c] for c in COLUMNS] for row in rows]
        return {"dataframe_split": {"columns": COLUMNS, "data": data}}
    return {"rows": rows}


class ModelUser(FastHttpUser):
    wait_time = between(0, WAIT_S)
    sent = 0

    @task
    def predict(self) -> None:
        if USER_REQUESTS is not None and self.sent >= USER_REQUESTS:
            raise StopUser()
        self.sent += 1
        rows = random.choices(ROWS, k=BATCH)
        with self.client.post(ENDPOINT, json=body(rows), catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
            elif not isinstance(response.json(), list) or len(response.json()) != len(rows):
                response.failure(f"expected {len(rows)} answers, got {response.text[:200]}")
