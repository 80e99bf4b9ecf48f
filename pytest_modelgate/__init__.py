"""pytest-modelgate: gate one exact MLflow registry model version with pytest."""

__version__ = "0.1.0"
