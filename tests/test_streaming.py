"""Data larger than memory: the streamed statistics, the binary cache, chunked training, fit on a file.

The reference is always in-memory training on the same rows: without shuffling the
streamed run must give the same weights (to the bit where the scaling statistics are
given, to 1e-12 where they are computed by the streaming pass).
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
import warnings

import numpy as np
import pytest

from handgrad import MLPRegressor, Network, load
from handgrad.data.cache import RowCache
from handgrad.errors import ConfigError
from handgrad.preprocessing import RunningMoments
from handgrad.training import train


def data(n=3000, k=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, k)) * np.arange(1, k + 1) + np.arange(k) * 10
    y = np.sin(X[:, 0]) + 0.3 * X[:, 1] + 0.05 * rng.standard_normal(n)
    return X, y


def chunks_of(X, y, size):
    return ((X[i : i + size], y[i : i + size]) for i in range(0, len(X), size))


def write_csv(path, X, y):
    names = [f"x{j}" for j in range(X.shape[1])] + ["y"]
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=",".join(names), comments="", fmt="%.17g")


# ----------------------------------------------------------------------------- statistics
def test_running_moments_match_two_pass_and_survive_a_large_mean():
    rng = np.random.default_rng(1)
    A = 1e9 + rng.standard_normal((10_001, 3)) * [1e-3, 1.0, 1e3]  # mean huge against the spread
    m = RunningMoments(3)
    i = 0
    for size in rng.integers(1, 900, 100):  # uneven chunks, some of one row
        m.update(A[i : i + size])
        i += size
    m.update(A[i:])
    assert m.n == len(A)
    mean = A.mean(axis=0)
    var = ((A - mean) ** 2).mean(axis=0)
    np.testing.assert_allclose(m.mean, mean, rtol=1e-14)
    # (column 0's spread is 1e-12 of its values: the float64 data themselves hold ~5 digits of it)
    np.testing.assert_allclose(m.var, var, rtol=1e-4)
    np.testing.assert_allclose(m.var[1:], var[1:], rtol=1e-6)
    # the one-pass textbook formula loses the small column entirely
    naive = (A**2).mean(axis=0) - A.mean(axis=0) ** 2
    assert abs(naive[0] - var[0]) > 100 * var[0]


def test_running_moments_scaling_keeps_constant_columns_at_one():
    A = np.column_stack([np.full(100, 3.0), np.arange(100.0)])
    m = RunningMoments(2)
    m.update(A[:37])
    m.update(A[37:])
    mean, scale = m.scaling()
    assert scale[0] == 1.0 and mean[0] == 3.0
    np.testing.assert_allclose(scale[1], np.arange(100.0).std(), rtol=1e-14)


# ----------------------------------------------------------------------------- the cache
def test_cache_is_a_npy_file_of_the_rows(tmp_path):
    X, y = data(1000)
    cache = RowCache.write(chunks_of(X, y, 77), tmp_path / "c.npy")
    assert cache.shape == (1000, 4) and cache.n_outputs == 1
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), np.column_stack([X, y]))
    raw = np.empty((300, 5))
    np.testing.assert_array_equal(cache.read(500, 800, raw), np.column_stack([X, y])[500:800])


def test_cache_refuses_non_finite_rows_and_mismatched_chunks(tmp_path):
    X, y = data(100)
    X[42, 2] = np.nan
    with pytest.raises(ValueError, match=r"row 42 \(feature 2\)"):
        RowCache.write(chunks_of(X, y, 10), tmp_path / "a.npy")
    X, y = data(100)
    bad = iter([(X[:10], y[:10]), (X[10:20, :3], y[10:20])])
    with pytest.raises(ValueError, match="3 features"):
        RowCache.write(bad, tmp_path / "b.npy")


# ----------------------------------------------------------------------------- chunked training
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "momentum"])
def test_chunked_training_without_shuffle_equals_in_memory_to_the_bit(tmp_path, optimizer):
    X, y = data(2000)
    Y = y[:, None]
    cache = RowCache.write(chunks_of(X, y, 333), tmp_path / "c.npy")
    mean, scale = X.mean(axis=0), X.std(axis=0)
    Xs = (X - mean) / scale
    scaled = cache.scaled(mean, scale)
    scaled.chunk_rows = 300  # rounded up to 320, a multiple of the batch
    kw = dict(optimizer=optimizer, batch_size=32, epochs=3, shuffle=False, progress=False)
    a, b = Network([4, 16, 8, 1], random_state=0), Network([4, 16, 8, 1], random_state=0)
    ha = train(a, Xs, Y, **kw)
    hb = train(b, scaled, None, **kw)
    assert np.array_equal(a.theta, b.theta)
    np.testing.assert_allclose([e["train_loss"] for e in hb.epochs], [e["train_loss"] for e in ha.epochs], rtol=1e-13)


def test_chunked_shuffle_visits_every_row_once_per_epoch(tmp_path):
    # with lr = 0 nothing moves, so the epoch's loss is the loss of every row exactly once
    X, y = data(1000)
    cache = RowCache.write(chunks_of(X, y, 100), tmp_path / "c.npy")
    cache.chunk_rows = 128
    net = Network([4, 8, 1], random_state=0)
    hist = train(net, cache, None, optimizer="sgd", lr=0.0, batch_size=32, epochs=2, random_state=5, progress=False)
    full = float(np.mean((net.predict_columns(X.T)[0] - y) ** 2))
    for e in hist.epochs:
        assert e["train_loss"] == pytest.approx(full, rel=1e-12)


def test_chunked_shuffle_is_reproducible_and_not_file_order(tmp_path):
    X, y = data(1000)
    cache = RowCache.write(chunks_of(X, y, 100), tmp_path / "c.npy")
    cache.chunk_rows = 200
    nets = []
    for shuffle, seed in ((True, 1), (True, 1), (False, 1)):
        net = Network([4, 8, 1], random_state=0)
        train(net, cache, None, batch_size=50, epochs=2, shuffle=shuffle, random_state=seed, progress=False)
        nets.append(net.theta.copy())
    assert np.array_equal(nets[0], nets[1])
    assert not np.allclose(nets[0], nets[2])


def test_chunked_step_holds_chunks_not_the_data(tmp_path):
    X, y = data(200_000, k=8)  # 14 MB of rows
    cache = RowCache.write(chunks_of(X, y, 10_000), tmp_path / "c.npy")
    cache.chunk_rows = 4096
    net = Network([8, 16, 1], random_state=0)
    del X, y
    tracemalloc.start()
    train(net, cache, None, batch_size=256, epochs=1, progress=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2_000_000, peak  # a few chunk buffers (4096 x 9 x 8 bytes each), not 14 MB


def test_training_on_a_cache_refuses_what_it_cannot_do(tmp_path):
    X, y = data(100)
    cache = RowCache.write(chunks_of(X, y, 50), tmp_path / "c.npy")
    net = Network([4, 3, 1], random_state=0)
    with pytest.raises(ConfigError, match="sample_weight"):
        train(net, cache, None, sample_weight=np.ones(100))
    with pytest.raises(ConfigError, match="validation_fraction"):
        train(net, cache, None, validation_fraction=0.2)
    with pytest.raises(ConfigError, match="Y "):
        train(net, cache, y)


# ----------------------------------------------------------------------------- fit on a file
KW = dict(hidden_layer_sizes=(16,), max_iter=3, random_state=0, batch_size=50, shuffle=False)


def test_fit_on_a_csv_file_and_on_chunks_equals_fit_on_arrays(tmp_path):
    X, y = data(3000)
    write_csv(tmp_path / "d.csv", X, y)
    ref = MLPRegressor(**KW).fit(X, y)
    for source, target in ((str(tmp_path / "d.csv"), "y"), (tmp_path / "d.csv", None), (chunks_of(X, y, 700), None)):
        est = MLPRegressor(**KW).fit(source, target)
        np.testing.assert_allclose(est.x_mean_, ref.x_mean_, rtol=1e-13)
        np.testing.assert_allclose(est.x_scale_, ref.x_scale_, rtol=1e-13)
        np.testing.assert_allclose(est.y_scale_, ref.y_scale_, rtol=1e-13)
        scale = np.abs(ref.network_.theta).max()
        assert np.abs(est.network_.theta - ref.network_.theta).max() <= 1e-12 * scale
        np.testing.assert_allclose(est.predict(X[:50]), ref.predict(X[:50]), rtol=1e-10, atol=1e-12)


def test_fit_on_a_file_stores_its_schema_and_the_model_reloads(tmp_path):
    X, y = data(1000)
    write_csv(tmp_path / "d.csv", X, y)
    est = MLPRegressor(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(tmp_path / "d.csv", "y")
    assert est.schema_.column_names == ["x0", "x1", "x2", "x3"] and est.schema_.target == "y"
    est.save(tmp_path / "m.npz")
    again = load(tmp_path / "m.npz")
    np.testing.assert_array_equal(again.predict(X[:20]), est.predict(X[:20]))
    assert not list(tmp_path.glob("handgrad-cache-*"))  # the temporary cache is gone


def test_fit_on_a_file_keeps_the_cache_when_asked(tmp_path):
    from handgrad.estimators import FitHooks

    X, y = data(500)
    write_csv(tmp_path / "d.csv", X, y)
    hooks = FitHooks(stream_cache=tmp_path / "keep.npy", stream_chunk_rows=100)
    MLPRegressor(hidden_layer_sizes=(4,), max_iter=1).fit(tmp_path / "d.csv", hooks=hooks)
    np.testing.assert_allclose(np.load(tmp_path / "keep.npy"), np.column_stack([X, y]), rtol=1e-15)


def test_fit_on_a_parquet_file(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    X, y = data(1200)
    table = pa.table({**{f"x{j}": X[:, j] for j in range(4)}, "y": y})
    pq.write_table(table, tmp_path / "d.parquet", row_group_size=250)
    ref = MLPRegressor(**KW).fit(X, y)
    est = MLPRegressor(**KW).fit(tmp_path / "d.parquet", "y")
    assert list(est.feature_names_in_) == ["x0", "x1", "x2", "x3"]
    assert np.abs(est.network_.theta - ref.network_.theta).max() <= 1e-12 * np.abs(ref.network_.theta).max()


@pytest.mark.parametrize("n_classes", [2, 3])
def test_classifier_fit_on_a_csv_file_and_on_chunks_equals_fit_on_arrays(tmp_path, n_classes):
    from handgrad import MLPClassifier
    from handgrad.estimators import FitHooks

    X, y = data(2000)
    labels = np.array(["cold", "mild", "warm"][:n_classes])
    c = labels[np.digitize(y, np.quantile(y, np.linspace(0, 1, n_classes + 1)[1:-1]))]
    names = ",".join(f"x{j}" for j in range(4))
    with open(tmp_path / "d.csv", "w") as f:
        f.write(
            names + ",label\n" + "".join(",".join(f"{v:.17g}" for v in row) + f",{lab}\n" for row, lab in zip(X, c))
        )
    ref = MLPClassifier(**KW).fit(X, c)
    kw = dict(hooks=FitHooks(classes=tuple(labels), stream_chunk_rows=300))
    for est in (
        MLPClassifier(**KW).fit(tmp_path / "d.csv", "label"),
        MLPClassifier(**KW).fit(chunks_of(X, c, 450), **kw),
    ):
        assert list(est.classes_) == list(ref.classes_)
        assert np.abs(est.network_.theta - ref.network_.theta).max() <= 1e-12 * np.abs(ref.network_.theta).max()
        np.testing.assert_allclose(est.predict_proba(X[:30]), ref.predict_proba(X[:30]), rtol=1e-10)
    assert list(MLPClassifier(**KW).fit(tmp_path / "d.csv", "label").predict(tmp_path / "d.csv")) == list(
        ref.predict(X)
    )


def test_streaming_refuses_what_it_cannot_do(tmp_path):
    from handgrad import MLPClassifier

    X, y = data(100)
    write_csv(tmp_path / "d.csv", X, y)
    with pytest.raises(ConfigError, match="MLPRegressor"):
        MLPClassifier().fit(tmp_path / "d.csv", None)
    with pytest.raises(ConfigError, match="every class up front"):
        MLPClassifier().fit(chunks_of(X, y > 0, 10))
    with pytest.raises(ConfigError, match="sample_weight"):
        MLPRegressor().fit(tmp_path / "d.csv", sample_weight=np.ones(100))
    with pytest.raises(ConfigError, match="validation data"):
        MLPRegressor(early_stopping=True).fit(tmp_path / "d.csv")


# ----------------------------------------------------------------------------- the command line
def test_cli_train_stream_then_predict(tmp_path):
    X, y = data(2000)
    write_csv(tmp_path / "tr.csv", X[:1500], y[:1500])
    write_csv(tmp_path / "va.csv", X[1500:], y[1500:])
    cmd = [sys.executable, "-m", "handgrad", "train", "--train", "tr.csv", "--valid", "va.csv", "--target", "y",
           "--stream", "--chunk-rows", "400", "--hidden", "16", "--epochs", "4", "-o", "m.npz"]  # fmt: skip
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "streaming tr.csv" in done.stdout
    assert [line.split()[:2] for line in done.stdout.splitlines() if line.startswith("valid")] == [["valid", "500"]]
    est = load(tmp_path / "m.npz")
    pred = subprocess.run([sys.executable, "-m", "handgrad", "predict", "m.npz", "va.csv"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert pred.returncode == 0, pred.stderr
    got = np.array([float(v) for v in pred.stdout.split()[1:]])
    np.testing.assert_allclose(got, est.predict(X[1500:]), rtol=1e-12)
    bad = subprocess.run([*cmd[:-2], "--seed-compatible", "-o", "n.npz"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 2 and "--seed-compatible" in bad.stderr and "Traceback" not in bad.stderr


def test_predict_on_a_file_streams_its_rows(tmp_path):
    X, y = data(1500)
    write_csv(tmp_path / "d.csv", X, y)
    est = MLPRegressor(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(tmp_path / "d.csv", "y")
    np.testing.assert_allclose(est.predict(tmp_path / "d.csv"), est.predict(X), rtol=1e-13)
    with pytest.raises(ConfigError, match="without a schema"):
        MLPRegressor(max_iter=1).fit(X, y).predict(tmp_path / "d.csv")


def test_predict_on_a_parquet_file(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    X, y = data(600)
    # the target first, the features in another order: matched by name
    pq.write_table(pa.table({"y": y, **{f"x{j}": X[:, j] for j in (2, 0, 3, 1)}}), tmp_path / "d.parquet")
    est = MLPRegressor(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(tmp_path / "d.parquet", "y")
    assert list(est.feature_names_in_) == ["x2", "x0", "x3", "x1"]
    with pytest.warns(UserWarning, match="feature names"):  # an array has no names; a file has
        ref = est.predict(X[:, [2, 0, 3, 1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(est.predict(tmp_path / "d.parquet"), ref, rtol=1e-13)


def test_cli_train_stream_a_classification_file(tmp_path):
    X, y = data(1200)
    c = np.where(y > np.median(y), "high", "low")
    rows = "".join(",".join(f"{v:.17g}" for v in row) + f",{lab}\n" for row, lab in zip(X, c))
    (tmp_path / "tr.csv").write_text("x0,x1,x2,x3,label\n" + rows)
    cmd = [sys.executable, "-m", "handgrad", "train", "--train", "tr.csv", "--valid", "tr.csv", "--target", "label",
           "--stream", "--hidden", "8", "--epochs", "3", "-o", "m.npz", "-q"]  # fmt: skip
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    est = load(tmp_path / "m.npz")
    assert list(est.classes_) == ["high", "low"]
    accuracy = float(done.stdout.split("valid")[1].split()[2])
    assert accuracy == pytest.approx(np.mean(est.predict(X) == c), abs=1e-4)  # printed with 4 decimals
