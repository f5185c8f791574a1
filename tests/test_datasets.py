"""Built-in data sets, the split helper and the location of the seed's files."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from handgrad.data import list_datasets, load_dataset, seed_data_dir, seed_file, train_valid_test_split
from handgrad.errors import DataError


def test_every_listed_data_set_loads_with_a_description():
    listing = list_datasets()
    assert set(listing) == {"sine", "xor", "friedman1", "spiral", "diabetes", "digits"}
    for name, description in listing.items():
        assert description and "\n" not in description
        ds = load_dataset(name)
        assert ds.X.dtype == np.float64 and ds.X.ndim == 2 and ds.y.shape == (ds.n_samples,)
        assert ds.feature_names == ds.schema.feature_names and len(ds.feature_names) == ds.n_features
        assert np.isfinite(ds.X).all()


def test_sine_is_the_seed_curve():
    ds = load_dataset("sine", random_state=3)
    x = ds.X[:, 0]
    assert ds.X.shape == (200, 1) and ds.task == "regression"
    assert x.min() >= 0 and x.max() <= 2
    np.testing.assert_allclose(ds.y, np.sin(np.pi * x), rtol=0, atol=1e-15)
    noisy = load_dataset("sine", random_state=3, noise=0.1)
    assert 0.05 < np.std(noisy.y - np.sin(np.pi * noisy.X[:, 0])) < 0.15


def test_xor_truth_table():
    ds = load_dataset("xor")
    assert ds.task == "binary" and ds.classes == [0, 1]
    for (a, b), label in zip(ds.X.astype(int).tolist(), ds.y.tolist()):
        assert label == (a ^ b)
    assert len(ds) == 4


def test_friedman1_formula_without_noise():
    ds = load_dataset("friedman1", n_samples=50, noise=0.0)
    X = ds.X
    # Friedman (1991), eq. for data set #1.
    expected = 10 * np.sin(np.pi * X[:, 0] * X[:, 1]) + 20 * (X[:, 2] - 0.5) ** 2 + 10 * X[:, 3] + 5 * X[:, 4]
    np.testing.assert_allclose(ds.y, expected, rtol=1e-12)
    assert ds.n_features == 10


def test_spiral_is_balanced_reproducible_and_really_spirals():
    a, b, c = (
        load_dataset("spiral", random_state=0),
        load_dataset("spiral", random_state=0),
        load_dataset("spiral", random_state=1),
    )
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, c.X)
    assert np.bincount(a.y).tolist() == [200, 200]
    # Not linearly separable: the best straight line through the origin leaves many errors.
    angles = np.linspace(0, np.pi, 180)
    best = max(np.mean((a.X @ np.array([np.cos(t), np.sin(t)]) > 0) == a.y) for t in angles)
    assert best < 0.8


def test_sklearn_sets_match_scikit_learn():
    from sklearn.datasets import load_diabetes, load_digits

    d = load_dataset("diabetes")
    np.testing.assert_array_equal(d.X, load_diabetes().data)
    assert d.task == "regression"
    g = load_dataset("digits")
    assert g.task == "multiclass" and g.classes == list(range(10))
    np.testing.assert_array_equal(g.y, load_digits().target)


def test_missing_scikit_learn_gives_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(DataError, match=r'pip install "handgrad\[sklearn\]"'):
        load_dataset("digits")


def test_unknown_data_set_and_bad_option():
    with pytest.raises(DataError, match=r"unknown data set 'mnist'; the built-in ones are"):
        load_dataset("mnist")
    with pytest.raises(DataError, match="xor"):
        load_dataset("xor", n_samples=10)


def test_split_sizes_disjoint_and_reproducible():
    ds = load_dataset("friedman1", n_samples=100)
    parts = train_valid_test_split(ds, valid=0.2, test=0.1, random_state=0)
    assert (len(parts.train), len(parts.valid), len(parts.test)) == (70, 20, 10)
    rows = [tuple(r) for p in parts for r in p.X.tolist()]
    assert len(set(rows)) == 100  # disjoint and complete
    again = ds.split(valid=0.2, test=0.1, random_state=0)
    np.testing.assert_array_equal(again.valid.X, parts.valid.X)
    assert ds.split(valid=0.2, random_state=0).test is None


def test_split_is_stratified_for_classification():
    ds = load_dataset("digits")
    parts = ds.split(valid=0.2, random_state=0)
    full = np.bincount(ds.y) / len(ds)
    np.testing.assert_allclose(np.bincount(parts.valid.y) / len(parts.valid), full, atol=0.01)


def test_split_rejects_bad_fractions():
    ds = load_dataset("sine")
    for valid, test in [(1.0, 0.0), (-0.1, 0.0), (0.6, 0.5)]:
        with pytest.raises(DataError, match="fraction"):
            ds.split(valid=valid, test=test)
    with pytest.raises(DataError, match="too few"):
        load_dataset("xor").split(valid=0.5, test=0.4)


def test_seed_data_dir_default_and_env(monkeypatch, tmp_path, data_dir):
    monkeypatch.delenv("HANDGRAD_DATA", raising=False)
    assert seed_data_dir().resolve() == data_dir.resolve()
    assert seed_file("house", "test").name == "test_house.csv"
    monkeypatch.setenv("HANDGRAD_DATA", str(tmp_path))
    assert seed_data_dir() == tmp_path
    with pytest.raises(DataError, match="the seed's file is missing"):
        seed_file("house")
    monkeypatch.setenv("HANDGRAD_DATA", str(tmp_path / "absent"))
    assert seed_data_dir() is None
    with pytest.raises(DataError, match="set HANDGRAD_DATA"):
        seed_file("smoke", "valid")
    with pytest.raises(DataError, match="no seed file"):
        seed_file("house", "valid")
