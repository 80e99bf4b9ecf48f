"""This repository's deployment entry: the package's BentoML service (``bentofile.yaml``)."""

from pytest_modelgate.serving.service import ModelGate

__all__ = ["ModelGate"]
