"""Load test of a served bento with rows drawn from evaluation data.

    MODELGATE_LOAD_ROWS=rows.json locust -f service/locustfile.py --headless \\
        -H http://127.0.0.1:3000 -u 20 -r 20 --run-time 15s --csv load

The user class lives in ``pytest_modelgate/release/locustfile.py`` (the load gate runs that file
directly, from any directory); see it for the environment variables it reads.
"""

from __future__ import annotations

from pytest_modelgate.release.locustfile import ModelUser

__all__ = ["ModelUser"]
