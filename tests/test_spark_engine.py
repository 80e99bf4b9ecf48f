"""The Spark engine on ``local[2]``: a classifier and a regressor gated from the same Parquet
set get the in-memory verdicts and point values, intervals within Monte-Carlo error, and the
streaming engine's very draws whatever the number of partitions."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .scale_world import World, assert_agree, assert_identical, gate, make_world

pytest.importorskip("pyspark")
pytestmark = pytest.mark.slow  # a Spark session: a JVM and its Python workers

ROWS = 100_000
SHARE = 0.3  # as in test_streaming.py


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One local[2] session for the module (its start takes several seconds); the gate runs
    find it active."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("modelgate-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, empty_registry_db: Path) -> World:
    return make_world(tmp_path_factory.mktemp("spark"), empty_registry_db, ROWS)


def partitions(spark: Any, split: int, world: World) -> int:
    """Cut each file into about ``split`` partitions (Spark cuts files at row groups); how
    many partitions the regressor's set then reads as."""
    size = (world.root / "reg.parquet").stat().st_size
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(max(1, size // split)))
    spark.conf.set("spark.sql.files.openCostInBytes", "0")
    return int(spark.read.parquet(str(world.root / "reg.parquet")).rdd.getNumPartitions())


def test_a_classifier_on_spark_agrees_with_memory_and_streaming(pytester, world, spark):
    memory_run, memory = gate(pytester, world, "clf", world.suite("clf"))
    _, streamed = gate(pytester, world, "clf", world.suite("clf", ", engine: streaming"))
    partitions(spark, 2, world)
    spark_run, on_spark = gate(pytester, world, "clf", world.suite("clf", ", engine: spark"))
    assert spark_run.ret == memory_run.ret
    assert {v for _, _, v in on_spark.values()} == {"pass", "fail", "inconclusive"}
    assert_identical(streamed, on_spark)
    assert_agree(memory, on_spark, SHARE)


def test_a_regressor_on_spark_agrees_with_memory_whatever_the_partitions(pytester, world, spark):
    _, memory = gate(pytester, world, "reg", world.suite("reg"))
    few_parts = partitions(spark, 1, world)
    _, few = gate(pytester, world, "reg", world.suite("reg", ", engine: spark"))
    assert partitions(spark, 8, world) > few_parts
    _, many = gate(pytester, world, "reg", world.suite("reg", ", engine: spark, batch_rows: 5000"))
    assert_identical(few, many)
    assert_agree(memory, few, SHARE)
