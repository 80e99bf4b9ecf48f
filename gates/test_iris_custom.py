"""A custom gate: a plain pytest test that uses the plugin's fixtures."""

import pytest


@pytest.mark.gate("setosa-recall", model="iris")
def test_setosa_is_never_missed(predictions, eval_data):
    missed = (eval_data.y == "setosa") & (predictions.labels != "setosa")
    assert not missed.any(), f"{int(missed.sum())} setosa rows predicted as another species"
