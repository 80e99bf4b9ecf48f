"""Load test of a served bento with rows drawn from evaluation data; locust's own distributed
mode (``--processes``) offers more load than one locust process can. Against this machine:

    MODELGATE_LOAD_ROWS=rows.json locust -f service/locustfile.py --headless --processes 2 \\
        -H http://127.0.0.1:3000 -u 20 -r 20 --run-time 15s --csv load

and against a deployment, the same command with its URL: ``-H https://models.example.org``.
The user class lives in ``pytest_modelgate/bento/locustfile.py`` (the load gate runs that file
directly, from any directory); see it for the environment variables it reads (body form,
rows per request, requests per user).
"""

from __future__ import annotations

from pytest_modelgate.bento.locustfile import ModelUser

__all__ = ["ModelUser"]
