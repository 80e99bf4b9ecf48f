"""Load test of a served bento with rows drawn from evaluation data.

    MODELGATE_LOAD_ROWS=rows.json locust -f pytest_modelgate/release/locustfile.py --headless \\
        -H http://127.0.0.1:3000 -u 20 -r 20 --run-time 15s --csv load

``MODELGATE_LOAD_ROWS`` names a JSON file holding a list of feature rows (for example
``frame.drop(columns=[target]).to_json(path, orient="records")`` of the eval data). Each request
sends ``MODELGATE_LOAD_BATCH`` (default 1) rows drawn at random to ``/predict`` (or
``MODELGATE_LOAD_ENDPOINT``). Nothing here imports mlflow or the service.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

from locust import FastHttpUser, between, task

ROWS: list[dict[str, Any]] = json.loads(
    Path(os.environ["MODELGATE_LOAD_ROWS"]).read_text(encoding="utf-8")
)
BATCH = int(os.environ.get("MODELGATE_LOAD_BATCH", "1"))
ENDPOINT = os.environ.get("MODELGATE_LOAD_ENDPOINT", "/predict")
WAIT_S = float(os.environ.get("MODELGATE_LOAD_WAIT_S", "0"))


class ModelUser(FastHttpUser):
    wait_time = between(0, WAIT_S)

    @task
    def predict(self) -> None:
        rows = random.choices(ROWS, k=BATCH)
        with self.client.post(ENDPOINT, json={"rows": rows}, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
            elif not isinstance(response.json(), list) or len(response.json()) != len(rows):
                response.failure(f"expected {len(rows)} answers, got {response.text[:200]}")
