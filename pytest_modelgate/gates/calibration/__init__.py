"""The calibration gate: expected calibration error and the Brier score with intervals."""
