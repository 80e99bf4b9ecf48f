"""The comparison servers of bench/serving.py: the same model behind Flask and FastAPI."""
