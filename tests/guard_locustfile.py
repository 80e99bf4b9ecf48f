"""Traffic for the live guard's tests (locust runs it in its own process).

``GUARD_TRAFFIC`` picks the traffic: ``healthy`` rows like the evaluation data; ``errors``,
``slow`` and ``drift`` send a fifth of the rows with b above 5, with c above 5, or b always
0.5. A 500 answer is the model's own failure and is recorded as "model error 500"; any other
non-200 answer or a refused connection is a failure of the serving itself, recorded with the
start of its body."""

import os
import random

from locust import HttpUser, constant_throughput, task

MODE = os.environ.get("GUARD_TRAFFIC", "healthy")
RATE = float(os.environ.get("GUARD_RATE", "10"))


def row(rng: random.Random) -> dict[str, float]:
    a, b, c = (float(rng.random() < 0.5) for _ in range(3))
    flawed = rng.random() < 0.2
    if MODE == "errors" and flawed:
        b = 10.0
    elif MODE == "slow" and flawed:
        c = 10.0
    elif MODE == "drift":
        b = 0.5
    return {"a": a, "b": b, "c": c}


class Caller(HttpUser):
    wait_time = constant_throughput(RATE)

    def on_start(self) -> None:
        self.rng = random.Random(id(self))

    @task
    def predict(self) -> None:
        body = {"rows": [row(self.rng)]}
        with self.client.post("/predict", json=body, catch_response=True) as answer:
            if answer.status_code == 500:
                answer.failure("model error 500")
            elif answer.status_code != 200:
                # the body says who refused: the follower's front, BentoML or the service
                answer.failure(f"serving failure {answer.status_code}: {answer.text[:80]}")
