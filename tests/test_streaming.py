"""The streaming engine: a Parquet evaluation set gated a record batch at a time gets the
in-memory path's verdicts, point values and (within Monte-Carlo error) intervals, and any
batch size the very same draws."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from pytest_modelgate.stats.poisson import poisson_weights
from pytest_modelgate.stats.sums import CellSums

from .scale_world import World, assert_agree, assert_identical, gate, make_world

ROWS = 150_000
# an interval end of the engines within this share of the in-memory interval's width: with
# 200 resamples a 2.5% quantile's own Monte-Carlo error is about a tenth of the width
SHARE = 0.3


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, empty_registry_db: Path) -> World:
    return make_world(tmp_path_factory.mktemp("streaming"), empty_registry_db, ROWS)


def test_any_split_of_the_rows_draws_the_same_weights_and_sums():
    rng = np.random.default_rng(0)
    rows = 50_000
    y, pred = rng.integers(0, 3, rows), rng.integers(0, 3, rows)
    terms = rng.normal(size=(rows, 2))

    def summed(cuts: list[int], order: list[int]) -> CellSums:
        parts = []
        for a, b in zip([0, *cuts], [*cuts, rows], strict=True):
            part = CellSums(100, 2)
            part.add([y[a:b], pred[a:b]], terms[a:b], poisson_weights(np.arange(a, b), 7, 100))
            parts.append(part)
        total = CellSums(100, 2)
        for i in order:  # partitions merge in any order
            total.merge(CellSums.from_bytes(parts[i].to_bytes(), 100, 2))
        return total.sorted()

    whole = summed([], [0])
    for cuts, order in (([7_777, 20_000, 41_003], [3, 1, 0, 2]), (list(range(1, rows, 4096)), [])):
        split = summed(cuts, order or list(range(len(cuts) + 1)))
        assert split.keys == whole.keys
        # counts exactly (integer weights), sums of terms up to the order of float additions
        np.testing.assert_array_equal(split.draws[..., 0], whole.draws[..., 0])
        np.testing.assert_array_equal(split.point[:, 0], whole.point[:, 0])
        np.testing.assert_allclose(split.draws, whole.draws, rtol=1e-12, atol=1e-9)
    counts = poisson_weights(np.arange(200_000), 1, 4)
    assert abs(counts.mean() - 1) < 0.01  # Poisson(1): mean and variance 1
    assert abs(counts.var() - 1) < 0.01


def test_a_classifier_streamed_in_any_batch_size_gets_the_in_memory_verdicts(pytester, world):
    memory_run, memory = gate(pytester, world, "clf", world.suite("clf"))
    small_run, small = gate(
        pytester, world, "clf", world.suite("clf", ", engine: streaming, batch_rows: 7777")
    )
    large_run, large = gate(
        pytester, world, "clf", world.suite("clf", ", engine: streaming, batch_rows: 65536")
    )
    assert memory_run.ret == small_run.ret == large_run.ret
    assert {v for _, _, v in memory.values()} == {"pass", "fail", "inconclusive"}
    assert_identical(small, large)
    assert_agree(memory, small, SHARE)


def test_a_regressor_streamed_agrees_with_memory(pytester, world):
    _, memory = gate(pytester, world, "reg", world.suite("reg"))
    _, streamed = gate(
        pytester, world, "reg", world.suite("reg", ", engine: streaming, batch_rows: 30000")
    )
    assert_agree(memory, streamed, SHARE)


def test_a_directory_and_a_glob_of_parquet_files_stream_as_one_set(pytester, world):
    parts = world.root / "parts"
    parts.mkdir()
    import pandas as pd

    frame = pd.read_parquet(world.root / "reg.parquet")
    for i, chunk in enumerate(np.array_split(np.arange(len(frame)), 3)):
        frame.iloc[chunk].to_parquet(parts / f"part-{i}.parquet")
    _, whole = gate(pytester, world, "reg", world.suite("reg", ", engine: streaming"))
    _, directory = gate(
        pytester, world, "reg", world.suite("reg", ", engine: streaming", str(parts))
    )
    _, globbed = gate(
        pytester, world, "reg", world.suite("reg", ", engine: streaming", f"{parts}/part-*.parquet")
    )
    assert_identical(whole, directory)
    assert_identical(whole, globbed)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("eval.parquet, engine: gpu", "*suite.yaml:2: data.engine: expected one of memory, streaming, spark*"),
        ("eval.csv, engine: streaming", "*suite.yaml:2: data.engine: engine streaming reads Parquet*"),
        ("eval.parquet, spark_master: 'local[2]'", "*data.spark_master: 'spark_master' goes with 'engine: spark'*"),
        ("missing/, engine: streaming", "*data.path: no Parquet files at*missing*"),
    ],
)  # fmt: skip
def test_a_bad_engine_setting_names_its_key(pytester, world, data, expected):
    (pytester.path / "eval.parquet").write_bytes((world.root / "reg.parquet").read_bytes())
    (pytester.path / "eval.csv").write_text("a,y\n1,2\n")
    (pytester.path / "suite.yaml").write_text(
        f"model: reg\ndata: {{path: {data}}}\ntarget: y\ngates:\n  accuracy:\n"
        "    metrics: {rmse: {max: 1}}\n"
    )
    result = pytester.runpytest(*world.args("reg"), "-p", "no:xdist")
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines([expected])


def test_what_sums_cannot_merge_says_so_and_names_the_engine(pytester, world):
    suite = world.suite("reg", ", engine: streaming")
    text = suite.read_text().replace("mape: {max: 5}", "medae: {max: 5}")
    suite.write_text(text)
    result, figures = gate(pytester, world, "reg", suite)
    assert figures["accuracy[medae]"][2] is None
    result.stdout.fnmatch_lines(
        ["*cannot be merged from sums per batch, which the streaming engine needs*"]
    )


def test_engine_spark_without_pyspark_says_which_extra_installs_it(pytester, world, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)  # as if it were not installed
    suite = world.suite("reg", ", engine: spark")
    result = pytester.runpytest(str(suite), *world.args("reg"), "-p", "no:xdist")
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "*data.engine: engine spark needs pyspark, which is not installed: pip install 'pytest-modelgate[[]spark[]]'*"
        ]
    )


def test_the_gate_engine_option_streams_a_suite_written_for_memory(pytester, world):
    _, declared = gate(pytester, world, "reg", world.suite("reg", ", engine: streaming"))
    _, chosen = gate(pytester, world, "reg", world.suite("reg"), "--gate-engine", "streaming")
    assert_identical(declared, chosen)
    (pytester.path / "eval.csv").write_text("a,b,c,y\n1,2,3,4\n")
    (pytester.path / "suite.yaml").write_text(
        "model: reg\ndata: {path: eval.csv}\ntarget: y\ngates:\n  accuracy:\n"
        "    metrics: {rmse: {max: 1}}\n"
    )
    refused = pytester.runpytest(*world.args("reg"), "--gate-engine", "spark", "-p", "no:xdist")
    assert refused.ret != pytest.ExitCode.OK
    refused.stdout.fnmatch_lines(["*--gate-engine: engine spark reads Parquet*eval.csv*"])


def test_a_missing_target_past_the_sample_is_a_data_error_naming_its_batch(pytester, world):
    import pandas as pd

    frame = pd.read_parquet(world.root / "reg.parquet").head(30_000)
    frame.loc[25_000, "y"] = float("nan")
    frame.to_parquet(pytester.path / "holes.parquet")
    suite = world.suite(
        "reg", ", engine: streaming, batch_rows: 8192", str(pytester.path / "holes.parquet")
    )
    result = pytester.runpytest(str(suite), *world.args("reg"), "-p", "no:xdist")
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["*target column 'y' has missing values (1 in the batch holding row 25000)*"]
    )
