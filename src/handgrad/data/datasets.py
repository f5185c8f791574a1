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

The seed project's CSV files (``house``, ``insurance``, ``smoke``): read from
``$HANDGRAD_DATA`` or the checkout's ``../shared/data``; otherwise downloaded from the
seed's public repository (pinned commit, SHA-256 verified) into a cache folder
(``$HANDGRAD_CACHE``, default ``~/.cache/handgrad``) by :func:`fetch_seed_dataset`
(``handgrad datasets fetch NAME``), or on first use by :func:`load_dataset`.

Every loader returns the whole set as a :class:`~handgrad.data.Dataset`; split it
with :meth:`Dataset.split` (random, stratified for classification).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import replace
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

    Also the seed's sets (:func:`list_seed_datasets`): ``house``, ``insurance`` and
    ``smoke`` give the training file (``part="valid"`` / ``"test"`` the others), read
    from ``$HANDGRAD_DATA``, the checkout's data folder or the download cache, and
    downloaded (verified) into the cache on first use (:func:`fetch_seed_dataset`).

    Parameters
    ----------
    name : str
    random_state : int, numpy.random.Generator or None
        Seed of the generated sets (default 0: the same data every time).
    **options
        Passed to the generator (e.g. ``n_samples``, ``noise``; ``part`` for a seed set).

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
#: The seed's data sets: ``{set: {part: path under the data folder}}``.
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

#: Where the seed's files come from: its public repository, pinned to one commit.
SEED_REPOSITORY = "kapshaul/DeepLearning"
SEED_COMMIT = "b738a0d54499c76850d32c3b9c06e48045da24a8"
SEED_BASE_URL = f"https://raw.githubusercontent.com/{SEED_REPOSITORY}/{SEED_COMMIT}/"

#: Each file of SEED_FILES: ``(path in the seed's repository, SHA-256 of its bytes)``.
#: The digests were computed from the copy the project's tests read (byte-identical to
#: the repository at SEED_COMMIT); a download that does not match is refused.
SEED_SOURCES = {
    "house/train_house.csv": (
        "Math/Dataset/train_house.csv",
        "af2d04bd57edb1c99ff2431c8d1e21352887553a248e95a4d85aa7a6c9fd7a29",
    ),
    "house/test_house.csv": (
        "Math/Dataset/test_house.csv",
        "1668c5f358281d31f1bc86a833764d2826d5f26fc1d9abd4e55c248a14a5c0e1",
    ),
    "insurance/train_insurance.csv": (
        "Math/Dataset/Extra/train_insurance.csv",
        "2521060dfeff2abca655dd1f60e69c85fe199e3cbd36999c6a1c6528887309de",
    ),
    "insurance/valid_insurance.csv": (
        "Math/Dataset/Extra/valid_insurance.csv",
        "e9329db961eb4d3138edf5aeb7e54fb125a79d4050873d8e84867edabb688530",
    ),
    "insurance/test_insurance.csv": (
        "Math/Dataset/Extra/test_insurance.csv",
        "12fae3754930513fa373dfff3009411cb677b6e9b2d42f6db709dcfa8f6adcef",
    ),
    "smoke/train_smoke.csv": (
        "Math/Dataset/train_smoke.csv",
        "be52781f6e13ebb4167f6fe752df02cd0f4da00fd859e99082f357a009222410",
    ),
    "smoke/valid_smoke.csv": (
        "Math/Dataset/valid_smoke.csv",
        "9e2a21798e391929a310675b21300b9769a35cc19d9377346acfb1aee6a84df6",
    ),
    "smoke/test_smoke.csv": (
        "Math/Dataset/test_smoke.csv",
        "0c6dfe3415f5f75c2e67d18f3cf5fc69c05f334166a1961495dd67053fa129c1",
    ),
}

#: How ``load_dataset`` reads each seed set's training file: target column, columns to drop, task.
SEED_LOADING = {
    "house": {"target": "price", "drop": (), "task": "regression"},
    # The first column of the insurance files is an unnamed row index, not a feature.
    "insurance": {"target": "charges", "drop": ("",), "task": "regression"},
    "smoke": {"target": "smoking", "drop": (), "task": "binary"},
}

SEED_DESCRIPTIONS = {
    "house": "the seed's house prices (King County), train_house.csv: 10000 × 37 (regression, target price)",
    "insurance": "the seed's insurance charges, train_insurance.csv: 900 × 11 (regression, target charges)",
    "smoke": "the seed's body signals, train_smoke.csv: 42500 × 26 (binary, target smoking)",
}


def list_seed_datasets() -> dict[str, str]:
    """``{name: one-line description}`` of the seed project's data sets (files fetched on first use).

    >>> sorted(list_seed_datasets())
    ['house', 'insurance', 'smoke']
    """
    return dict(SEED_DESCRIPTIONS)


def cache_dir() -> Path:
    """The folder where handgrad keeps downloaded files.

    ``$HANDGRAD_CACHE`` if set; otherwise the platform's user cache folder:
    ``$XDG_CACHE_HOME/handgrad`` or ``~/.cache/handgrad`` (Linux and other Unix),
    ``~/Library/Caches/handgrad`` (macOS), ``%LOCALAPPDATA%\\handgrad\\Cache`` (Windows).
    The folder is not created here.
    """
    env = os.environ.get("HANDGRAD_CACHE")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "handgrad" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "handgrad"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "handgrad"


def seed_cache_dir() -> Path:
    """Where :func:`fetch_seed_dataset` puts the seed's files: ``cache_dir() / "seed-data"``.

    Under it the files sit as in the data folder (``house/train_house.csv``, ...).
    """
    return cache_dir() / "seed-data"


def _checkout_data_dir() -> Path | None:
    """``../shared/data`` next to the source checkout holding this file, if there is one."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file():
            candidate = parent.parent / "shared" / "data"
            return candidate if candidate.is_dir() else None
    return None


def seed_data_dir() -> Path | None:
    """The folder of the seed's CSV files, or None if it cannot be found.

    In this order: ``$HANDGRAD_DATA`` if set (it wins: None if it is not a folder);
    ``../shared/data`` relative to the repository root (found from this file's
    location, so only in a source checkout or an editable install); the download
    cache :func:`seed_cache_dir` if :func:`fetch_seed_dataset` has put anything there.
    """
    env = os.environ.get("HANDGRAD_DATA")
    if env:
        path = Path(env).expanduser()
        return path if path.is_dir() else None
    checkout = _checkout_data_dir()
    if checkout is not None:
        return checkout
    cached = seed_cache_dir()
    return cached if cached.is_dir() else None


def _check_part(dataset: str, part: str) -> None:
    if dataset not in SEED_FILES or part not in SEED_FILES[dataset]:
        options = {k: sorted(v) for k, v in SEED_FILES.items()}
        raise DataError(f"no seed file {dataset!r}/{part!r}; known: {options}")


def seed_file(dataset: str, part: str = "train", *, download: bool = False) -> Path:
    """Path of one of the seed's files, e.g. ``seed_file("house", "test")``; DataError if absent.

    Looked up as :func:`seed_data_dir` says. With ``download=True`` and neither
    ``$HANDGRAD_DATA`` nor a checkout's data folder present, a file missing from the
    cache is fetched first (:func:`fetch_seed_dataset`, the whole set).
    """
    _check_part(dataset, part)
    rel = SEED_FILES[dataset][part]
    env = os.environ.get("HANDGRAD_DATA")
    root = seed_data_dir()
    if root is not None and (env or root != seed_cache_dir()):
        # HANDGRAD_DATA or the checkout's data folder: a local copy, used as it is.
        path = root / rel
        if not path.is_file():
            raise DataError(f"{path}: the seed's file is missing (HANDGRAD_DATA={root})")
        return path
    if env:
        raise DataError(
            f"the seed's data folder was not found: HANDGRAD_DATA={env} is not a folder; set HANDGRAD_DATA "
            "to the folder holding house/, insurance/ and smoke/, or unset it to use the download cache"
        )
    path = seed_cache_dir() / rel
    if not path.is_file():
        if not download:
            raise DataError(
                f"the seed's {dataset!r} files are not on this machine: download them with "
                f"'handgrad datasets fetch {dataset}' (into {seed_cache_dir()}), or set HANDGRAD_DATA "
                "to a folder holding house/, insurance/ and smoke/"
            )
        fetch_seed_dataset(dataset)
    return path


def seed_base_url() -> str:
    """The address the seed's files are downloaded from: ``$HANDGRAD_DATA_URL`` or :data:`SEED_BASE_URL`.

    Under it each file sits at its path in the seed's repository
    (``Math/Dataset/train_house.csv``, ...). Always ends with ``/``.
    """
    base = os.environ.get("HANDGRAD_DATA_URL") or SEED_BASE_URL
    return base if base.endswith("/") else base + "/"


def _download(url: str, out, timeout: float) -> str:
    """Copy ``url`` into the open binary file ``out``; return the SHA-256 hex digest of the bytes."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https", "file"):
        raise DataError(f"{url}: HANDGRAD_DATA_URL must be an http://, https:// or file:// address")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # scheme checked above
            while chunk := response.read(1 << 16):
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise DataError(f"{url}: the server answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(
            f"{url}: cannot download ({reason}); without internet access, set HANDGRAD_DATA to a local copy "
            "of the seed's files, or HANDGRAD_DATA_URL to a mirror"
        ) from None
    return digest.hexdigest()


def fetch_seed_dataset(dataset: str, *, force: bool = False, timeout: float = 60.0, log=None) -> list[Path]:
    """Download one of the seed's data sets into the cache, verified; return the paths of its files.

    Each file is fetched from :func:`seed_base_url` (urllib, no other dependency)
    into a temporary folder inside :func:`seed_cache_dir`, its SHA-256 checked against
    :data:`SEED_SOURCES`, and only when every file of the set matches are they renamed
    into place. A failed or corrupted download leaves nothing in the cache.
    Files already cached are kept unless ``force``.

    Parameters
    ----------
    dataset : {"house", "insurance", "smoke"}
    force : bool
        Download again even if the files are cached.
    timeout : float
        Seconds to wait for the server on each file.
    log : callable or None
        Called with one line of text per file (the command line prints them).
    """
    if dataset not in SEED_FILES:
        raise DataError(f"unknown seed data set {dataset!r}; the seed's sets are {sorted(SEED_FILES)}")
    root = seed_cache_dir()
    targets = [root / rel for rel in SEED_FILES[dataset].values()]
    if not force and all(t.is_file() for t in targets):
        if log is not None:
            log(f"{dataset}: already in {root / dataset}")
        return targets
    root.mkdir(parents=True, exist_ok=True)
    base = seed_base_url()
    staging = Path(tempfile.mkdtemp(prefix=f".{dataset}-", suffix=".part", dir=root))
    try:
        staged = []
        for rel in SEED_FILES[dataset].values():
            remote, expected = SEED_SOURCES[rel]
            url = base + remote
            tmp = staging / Path(rel).name
            with open(tmp, "wb") as out:
                got = _download(url, out, timeout)
            if got != expected:
                raise DataError(
                    f"{url}: SHA-256 {got} does not match the expected {expected}; the download was refused "
                    "and nothing was cached (a corrupted or changed file)"
                )
            staged.append(tmp)
            if log is not None:
                log(f"{dataset}: {url} ({tmp.stat().st_size} bytes, SHA-256 verified)")
        (root / dataset).mkdir(exist_ok=True)
        for tmp, target in zip(staged, targets):
            os.replace(tmp, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return targets


def _load_seed(name: str, random_state=None, part: str = "train") -> Dataset:
    """One file of a seed data set as a :class:`Dataset` (fetched into the cache on first use)."""
    from .csv import load_csv

    _check_part(name, part)
    spec = SEED_LOADING[name]
    path = seed_file(name, part, download=True)
    ds = load_csv(path, target=spec["target"], drop=spec["drop"], task=spec["task"])
    return replace(ds, name=name, description=SEED_DESCRIPTIONS[name])


for _name in SEED_FILES:
    LOADERS[_name] = functools.partial(_load_seed, _name)
