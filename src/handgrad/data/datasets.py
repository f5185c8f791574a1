"""Built-in data sets, and where the seed's CSV files are.

Generated ones (NumPy only, reproducible with ``random_state``):

* ``sine``: the seed project's curve ``y = sin(π x)`` on ``x ∈ [0, 2]``;
* ``xor``: the four points of XOR (the classic problem a network without a
  hidden layer cannot solve);
* ``friedman1``: Friedman's regression #1, ``y = 10 sin(π x1 x2) + 20 (x3 − ½)² +
  10 x4 + 5 x5 + ε`` with 10 uniform inputs of which 5 are noise (a harder regression);
* ``spiral``: two interleaved spirals in 2-D, two classes.

From scikit-learn, when it is installed (``pip install "handgrad[sklearn]"``):
``diabetes`` (regression, 442 × 10) and ``digits`` (8×8 images, 10 classes, 1797 × 64).

Every loader returns the whole set as a :class:`~handgrad.data.Dataset`; split it
with :meth:`Dataset.split` (random, stratified for classification).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import DataError
from .schema import ColumnSpec, Schema, infer_task
from .table import Dataset

# ---------------------------------------------------------------- generators


def _dataset(name, X, y, feature_names, target, task, description) -> Dataset:
    columns = [ColumnSpec(f, "numeric") for f in feature_names]
    classes = None
    if task != "regression":
        task, classes = infer_task(np.asarray(y, dtype=np.float64), "numeric", task, f"{name}: target")
        y = np.searchsorted(np.asarray(classes), y).astype(np.int64)
    else:
        y = np.asarray(y, dtype=np.float64)
    schema = Schema(columns, target, task, classes)
    X = np.ascontiguousarray(X, dtype=np.float64)
    return Dataset(X, y, list(feature_names), target, task, schema, name, None, description)


def make_sine(n_samples: int = 200, noise: float = 0.0, random_state=None) -> Dataset:
    """``y = sin(π x)`` at ``n_samples`` points drawn uniformly from [0, 2] (the seed project's curve).

    ``X`` has shape (n_samples, 1); ``noise`` is the standard deviation of Gaussian noise added to y.
    """
    rng = np.random.default_rng(random_state)
    x = rng.uniform(0.0, 2.0, n_samples)
    y = np.sin(np.pi * x) + noise * rng.standard_normal(n_samples)
    return _dataset("sine", x[:, None], y, ["x"], "y", "regression", DESCRIPTIONS["sine"])


def make_xor(random_state=None) -> Dataset:
    """The four XOR points: X of shape (4, 2) in {0, 1}², y = x1 XOR x2 (binary). ``random_state`` is unused."""
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0, 1, 1, 0])
    return _dataset("xor", X, y, ["x1", "x2"], "y", "binary", DESCRIPTIONS["xor"])


def make_friedman1(n_samples: int = 1000, noise: float = 1.0, random_state=None) -> Dataset:
    """Friedman #1: X of shape (n_samples, 10) uniform on [0, 1]; y depends on the first five only."""
    rng = np.random.default_rng(random_state)
    X = rng.uniform(size=(n_samples, 10))
    y = (
        10 * np.sin(np.pi * X[:, 0] * X[:, 1])
        + 20 * (X[:, 2] - 0.5) ** 2
        + 10 * X[:, 3]
        + 5 * X[:, 4]
        + noise * rng.standard_normal(n_samples)
    )
    names = [f"x{i}" for i in range(1, 11)]
    return _dataset("friedman1", X, y, names, "y", "regression", DESCRIPTIONS["friedman1"])


def make_spiral(n_samples: int = 400, turns: float = 1.5, noise: float = 0.05, random_state=None) -> Dataset:
    """Two interleaved spirals: X of shape (n_samples, 2) within about [-1, 1]², y in {0, 1}.

    Class 0 runs along ``r = t/t_max, angle = t`` for ``t ∈ [0, 2π·turns]``; class 1 is
    the same spiral turned by π. ``noise`` is the standard deviation of Gaussian noise
    added to each coordinate.
    """
    rng = np.random.default_rng(random_state)
    n0 = n_samples // 2
    labels = np.r_[np.zeros(n0, dtype=np.int64), np.ones(n_samples - n0, dtype=np.int64)]
    t_max = 2 * np.pi * turns
    t = np.sqrt(rng.uniform(0.02, 1.0, n_samples)) * t_max  # sqrt: points evenly spread along the arm
    angle = t + np.pi * labels
    X = np.c_[t * np.cos(angle), t * np.sin(angle)] / t_max + noise * rng.standard_normal((n_samples, 2))
    order = rng.permutation(n_samples)
    return _dataset("spiral", X[order], labels[order], ["x1", "x2"], "y", "binary", DESCRIPTIONS["spiral"])


def _sklearn(name: str):
    try:
        import sklearn.datasets
    except ImportError:
        raise DataError(
            f"the data set {name!r} comes from scikit-learn, which is not installed; "
            'install it with: pip install "handgrad[sklearn]"'
        ) from None
    return sklearn.datasets


def load_diabetes(random_state=None) -> Dataset:
    """scikit-learn's diabetes regression set: X of shape (442, 10) (already standardised), y disease progression."""
    bunch = _sklearn("diabetes").load_diabetes()
    return _dataset(
        "diabetes",
        bunch.data,
        bunch.target,
        list(bunch.feature_names),
        "progression",
        "regression",
        DESCRIPTIONS["diabetes"],
    )


def load_digits(random_state=None) -> Dataset:
    """scikit-learn's 8×8 digits: X of shape (1797, 64) with pixel values 0..16, y the digit 0..9."""
    bunch = _sklearn("digits").load_digits()
    names = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    return _dataset("digits", bunch.data, bunch.target, names, "digit", "multiclass", DESCRIPTIONS["digits"])


DESCRIPTIONS = {
    "sine": "y = sin(πx) on [0, 2], 200 points, 1 feature: the seed project's curve (regression)",
    "xor": "the 4 points of XOR, 2 features (binary)",
    "friedman1": "Friedman #1: 10 uniform features (5 informative) with noise, 1000 samples (regression)",
    "spiral": "two interleaved spirals in 2-D, 400 samples (binary)",
    "diabetes": "scikit-learn's diabetes progression, 442 × 10 (regression; needs scikit-learn)",
    "digits": "scikit-learn's 8×8 handwritten digits, 1797 × 64 (10 classes; needs scikit-learn)",
}

LOADERS: dict[str, Callable[..., Dataset]] = {
    "sine": make_sine,
    "xor": make_xor,
    "friedman1": make_friedman1,
    "spiral": make_spiral,
    "diabetes": load_diabetes,
    "digits": load_digits,
}


def list_datasets() -> dict[str, str]:
    """``{name: one-line description}`` of the built-in data sets.

    >>> sorted(list_datasets())
    ['diabetes', 'digits', 'friedman1', 'sine', 'spiral', 'xor']
    """
    return dict(DESCRIPTIONS)


def load_dataset(name: str, random_state=0, **options) -> Dataset:
    """A built-in data set by name (see :func:`list_datasets`), as one :class:`Dataset`.

    Parameters
    ----------
    name : str
    random_state : int, numpy.random.Generator or None
        Seed of the generated sets (default 0: the same data every time).
    **options
        Passed to the generator (e.g. ``n_samples``, ``noise``).

    >>> ds = load_dataset("sine")
    >>> ds.X.shape, ds.task, ds.feature_names
    ((200, 1), 'regression', ['x'])
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in LOADERS:
        raise DataError(f"unknown data set {name!r}; the built-in ones are {sorted(LOADERS)}")
    try:
        return LOADERS[key](random_state=random_state, **options)
    except TypeError as exc:
        raise DataError(f"data set {key!r}: {exc}") from None


# ----------------------------------------------------------- the seed's files
#: The seed's data sets: ``(folder, {part: file name})``.
SEED_FILES = {
    "house": {"train": "house/train_house.csv", "test": "house/test_house.csv"},
    "insurance": {
        "train": "insurance/train_insurance.csv",
        "valid": "insurance/valid_insurance.csv",
        "test": "insurance/test_insurance.csv",
    },
    "smoke": {
        "train": "smoke/train_smoke.csv",
        "valid": "smoke/valid_smoke.csv",
        "test": "smoke/test_smoke.csv",
    },
}


def seed_data_dir() -> Path | None:
    """The folder of the seed's CSV files, or None if it cannot be found.

    ``$HANDGRAD_DATA`` if set; otherwise ``../shared/data`` relative to the
    repository root (found from this file's location, so only in a source checkout
    or an editable install: an installed package has no repository around it).
    """
    env = os.environ.get("HANDGRAD_DATA")
    if env:
        path = Path(env).expanduser()
        return path if path.is_dir() else None
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file():
            candidate = parent.parent / "shared" / "data"
            return candidate if candidate.is_dir() else None
    return None


def seed_file(dataset: str, part: str = "train") -> Path:
    """Path of one of the seed's files, e.g. ``seed_file("house", "test")``; DataError if absent."""
    if dataset not in SEED_FILES or part not in SEED_FILES[dataset]:
        options = {k: sorted(v) for k, v in SEED_FILES.items()}
        raise DataError(f"no seed file {dataset!r}/{part!r}; known: {options}")
    root = seed_data_dir()
    if root is None:
        raise DataError(
            "the seed's data folder was not found: set HANDGRAD_DATA to the folder holding "
            "house/, insurance/ and smoke/ (default: ../shared/data from the repository root)"
        )
    path = root / SEED_FILES[dataset][part]
    if not path.is_file():
        raise DataError(f"{path}: the seed's file is missing (HANDGRAD_DATA={root})")
    return path
