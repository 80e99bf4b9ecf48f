"""Reference datasets read from installed package files (nothing is downloaded).

- ``iris``: scikit-learn's bundled iris data.
- ``german-credit``: the German credit data shipped in this package (``reference/data``, where
  its source and licence are named), with the sensitive attributes ``sex`` and ``age`` (binned
  into ``age_group`` for fairness gates).

Each splits once, stratified and seeded, into ``train`` and ``eval``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pytest_modelgate.errors import DataError

if TYPE_CHECKING:
    import pandas as pd


SPLITS = ("train", "eval", "all")
EVAL_FRACTION = 0.3
SEED = 20240611


def _iris() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    bunch = load_iris(as_frame=True)
    frame = bunch.frame.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    frame["species"] = frame.pop("target").map(dict(enumerate(bunch.target_names)))
    return frame


def _german_credit() -> pd.DataFrame:
    import pandas as pd

    frame = pd.read_csv(german_credit_path())
    frame["age_group"] = pd.cut(
        frame["age"], bins=[0, 25, 40, 200], labels=["18-25", "26-40", "41+"], right=True
    ).astype(str)
    return frame


def german_credit_path() -> Path:
    """The CSV shipped in this package."""
    path = Path(__file__).with_name("data") / "german_credit.csv"
    if not path.is_file():
        raise DataError(f"the german-credit reference data is missing from the package ({path})")
    return path


LOADERS = {"iris": (_iris, "species"), "german-credit": (_german_credit, "risk")}
NAMES = tuple(LOADERS)


def target_of(name: str) -> str:
    return LOADERS[name][1]


def load(name: str, split: str = "eval") -> pd.DataFrame:
    if name not in LOADERS:
        raise DataError(f"unknown reference dataset {name!r}; known: {', '.join(NAMES)}")
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    loader, target = LOADERS[name]
    frame = loader()
    if split == "all":
        return frame
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        frame, test_size=EVAL_FRACTION, random_state=SEED, stratify=frame[target]
    )
    chosen = train if split == "train" else test
    return chosen.reset_index(drop=True)
