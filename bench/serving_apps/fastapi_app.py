"""FastAPI with a pydantic request body; served by uvicorn."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from bench.serving_apps.common import predict

app = FastAPI()


class Request(BaseModel):
    rows: list[dict[str, Any]]


@app.post("/predict")
def predict_route(body: Request) -> list[Any]:
    return predict(body.rows)
