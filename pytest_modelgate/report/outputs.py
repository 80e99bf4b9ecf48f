"""The reports people read, written at the end of a gate run from the JSON report: the
markdown summary (``--gate-summary``, and the GitHub job summary when ``GITHUB_STEP_SUMMARY``
is set) and the HTML report with plots (``--gate-html``), logged to the candidate's run."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_modelgate.jsonio import write_text

if TYPE_CHECKING:
    from pytest_modelgate.report.plots import Plot
    from pytest_modelgate.run import GateRun

ENV_STEP_SUMMARY = "GITHUB_STEP_SUMMARY"
HTML_ARTIFACT_PATH = "modelgate/report"


def write_outputs(run: GateRun, report: dict[str, Any]) -> list[str]:
    """Write every report asked for; returns terminal lines saying where they went."""
    from pytest_modelgate.report.markdown import markdown

    settings = run.settings
    step_summary = os.environ.get(ENV_STEP_SUMMARY)
    lines = []
    if settings.gate_summary is not None or step_summary:
        text = markdown(report)
        if settings.gate_summary is not None:
            write_text(settings.gate_summary, text)
            lines.append(f"gate summary: {settings.gate_summary}")
        if step_summary:
            with open(step_summary, "a", encoding="utf-8") as out:
                out.write(text + "\n")
            lines.append(f"gate summary appended to ${ENV_STEP_SUMMARY}")
    if settings.gate_html is not None:
        lines += write_html(run, report, settings.gate_html)
    return lines


def write_html(run: GateRun, report: dict[str, Any], path: Path) -> list[str]:
    from pytest_modelgate.errors import RegistryError
    from pytest_modelgate.report.html import render

    plots, problems = build_plots(run, report)
    write_text(path, render(report, plots))
    lines = [f"gate html: {path} ({len(plots)} plots)"]
    lines += [f"  plot left out: {p}" for p in problems]
    if run.loaded_candidate is not None:
        try:
            lines.append(f"  logged to {run.log_artifact(path, HTML_ARTIFACT_PATH)}")
        except RegistryError as exc:  # the HTML illustrates the evidence; it is not the evidence
            lines.append(f"  not logged to the candidate's run: {exc}")
    return lines


def build_plots(run: GateRun, report: dict[str, Any]) -> tuple[list[Plot], list[str]]:
    """Every plot that applies, and why any that applies could not be drawn."""
    from pytest_modelgate.report.plots import (
        fairness_plots,
        forest_plot,
        latency_plot,
        reliability_plots,
    )

    items = report.get("items", [])
    plots: list[Plot] = []
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as workdir:
        builders: dict[str, Callable[[], Sequence[Plot | None]]] = {
            "forest": lambda: [forest_plot(items)],
            "latency": lambda: [latency_plot(items)],
            "fairness": lambda: fairness_plots(items, Path(workdir)),
            "reliability": lambda: reliability_plots(items),
            "calibration": lambda: calibration_plots(run),
        }
        for name, build in builders.items():
            # a plot that cannot be drawn must not hide the verdict and the table
            try:
                plots += [p for p in build() if p is not None]
            except Exception as exc:
                problems.append(f"{name}: {type(exc).__name__}: {exc}")
    return plots, problems


def calibration_plots(run: GateRun) -> list[Plot | None]:
    """The candidate's calibration on each evaluation dataset the run loaded."""
    from pytest_modelgate.report.plots import calibration_curves, calibration_plot

    handle = run.loaded_candidate
    if handle is None or getattr(handle.model, "predict_proba", None) is None:
        return []
    plots = []
    for data in run.loaded_data():
        predictions = handle.predictions(data)
        proba, classes = predictions.proba, predictions.classes
        if proba is None or classes is None:
            continue
        curves = calibration_curves(data.y, proba, classes)
        plots.append(calibration_plot(curves, data.source, data.rows))
    return plots
