"""The seed projects' way: a Flask app with one JSON endpoint."""

from __future__ import annotations

import os

from flask import Flask, jsonify, request

from bench.serving_apps.common import predict

app = Flask(__name__)


@app.post("/predict")
def predict_route():  # type: ignore[no-untyped-def]
    return jsonify(predict(request.get_json()["rows"]))


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), threaded=True)
