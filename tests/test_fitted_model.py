"""One fitted model (issue 8, item 3): the command line trains, saves and reads the estimators.

* ``handgrad train`` and ``MLPRegressor``/``MLPClassifier`` share their defaults (one table):
  the same CSV gives the same weights (1e-12) and the same predictions;
* the estimators take tables with text columns (pandas DataFrames, NumPy object arrays),
  encoded by the CSV loader's Schema, which the model file keeps;
* model files written by release 0 (commit ca96abe: ``tests/fixtures/release-0``) still load
  and predict what that release predicted.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import handgrad
from handgrad import MLPClassifier, MLPRegressor
from handgrad.errors import DataError, NonNumericError

FIXTURES = Path(__file__).parent / "fixtures" / "release-0"


def run_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "handgrad", *map(str, args)], capture_output=True, text=True,
                       timeout=300, cwd=cwd)  # fmt: skip
    assert r.returncode == 0, r.stderr
    return r


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows as text, with the csv module (independent of handgrad)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def same_network(a, b, rtol=1e-12) -> None:
    for got, want in zip(a.network_.parameters(), b.network_.parameters(), strict=True):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-15)


# ------------------------------------------------------------ handgrad train → handgrad.load
def test_train_on_a_builtin_set_then_handgrad_load(tmp_path):
    run_cli("train", "--dataset", "sine", "--epochs", 3, "-o", tmp_path / "m.npz", "--quiet", cwd=tmp_path)
    est = handgrad.load(tmp_path / "m.npz")
    assert isinstance(est, MLPRegressor) and est.n_iter_ == 3
    x = np.linspace(-1, 1, 5)[:, None]
    assert est.predict(x).shape == (5,)
    assert est.schema_.target == "y" and est.schema_.column_names == ["x"]


# ------------------------------------------------------------ defaults defined once
def test_same_csv_same_model_through_cli_and_regressor(data_dir, tmp_path):
    pd = pytest.importorskip("pandas")
    lines = (data_dir / "house" / "train_house.csv").read_text().splitlines(keepends=True)[:301]
    (tmp_path / "train.csv").write_text("".join(lines))
    run_cli("train", "--train", "train.csv", "--target", "price", "--seed", 7, "-o", "m.npz", "--quiet", cwd=tmp_path)
    df = pd.read_csv(
        tmp_path / "train.csv", float_precision="round_trip"
    )  # NOTE: the exact numbers (pandas' fast parser is 1 ulp off on some)
    est = MLPRegressor(random_state=7).fit(df.drop(columns="price"), df["price"])
    cli = handgrad.load(tmp_path / "m.npz")
    assert cli.get_params() == est.get_params()  # every hyper-parameter: the one table of defaults
    same_network(cli, est)
    run_cli("predict", "m.npz", "train.csv", "-o", "pred.csv", cwd=tmp_path)
    header, rows = read_csv(tmp_path / "pred.csv")
    assert header == ["price_predicted"]
    np.testing.assert_allclose([float(r[0]) for r in rows], est.predict(df.drop(columns="price")), rtol=1e-12)


def test_same_csv_with_text_columns_same_model_through_cli_and_classifier(tmp_path):
    shutil.copy(FIXTURES / "cls.csv", tmp_path / "cls.csv")
    run_cli("train", "--train", "cls.csv", "--target", "label", "--seed", 2, "-o", "m.npz", "--quiet", cwd=tmp_path)
    header, rows = read_csv(tmp_path / "cls.csv")
    assert header == ["a", "b", "color", "label"]
    # A NumPy object array (no pandas): numbers as text, a text column, text labels.
    X = np.array([r[:3] for r in rows], dtype=object)
    y = np.array([r[3] for r in rows], dtype=object)
    est = MLPClassifier(random_state=2).fit(X, y)
    cli = handgrad.load(tmp_path / "m.npz")
    assert cli.classes_.tolist() == est.classes_.tolist() == ["high", "low", "mid"]
    assert cli.schema_.feature_names == ["a", "b", "color=blue", "color=green", "color=red"]
    assert est.schema_.feature_names == ["x0", "x1", "x2=blue", "x2=green", "x2=red"]  # unnamed columns
    same_network(cli, est)
    run_cli("predict", "m.npz", "cls.csv", "--proba", "-o", "pred.csv", cwd=tmp_path)
    header, out = read_csv(tmp_path / "pred.csv")
    assert header == ["label_predicted", "proba_high", "proba_low", "proba_mid"]
    assert [r[0] for r in out] == est.predict(X).tolist()
    np.testing.assert_allclose([[float(v) for v in r[1:]] for r in out], est.predict_proba(X), rtol=1e-12)


# ------------------------------------------------------------ tables with text columns
def test_dataframe_with_text_column_matched_by_name_saved_with_its_schema(tmp_path):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"size": rng.normal(size=60), "city": rng.choice(["Oslo", "Rome", "Lima"], 60)})
    y = pd.Series(df["size"] * 2 + (df["city"] == "Rome") * 3.0, name="price")
    est = MLPRegressor(hidden_layer_sizes=(8,), max_iter=30, random_state=0).fit(df, y)
    assert est.n_features_in_ == 2 and est.network_.n_inputs == 4  # size + 3 one-hot columns
    assert est.feature_names_in_.tolist() == ["size", "city"]
    pred = est.predict(df)
    np.testing.assert_array_equal(est.predict(df[["city", "size"]]), pred)  # by name, any order
    est.save(tmp_path / "m.npz")
    back = handgrad.load(tmp_path / "m.npz")
    assert back.schema_.target == "price" and back.schema_.task == "regression"
    np.testing.assert_array_equal(back.predict(df), pred)
    # The command line reads the same model: columns by name, the target named after the Series.
    df[["city", "size"]].to_csv(tmp_path / "rows.csv", index=False)
    run_cli("predict", tmp_path / "m.npz", tmp_path / "rows.csv", "-o", tmp_path / "p.csv")
    header, rows = read_csv(tmp_path / "p.csv")
    assert header == ["price_predicted"]
    np.testing.assert_allclose([float(r[0]) for r in rows], pred, rtol=1e-12)
    # An unseen category names the value and the column.
    with pytest.raises(DataError, match=r"'Paris'.*never saw|never saw.*"):
        est.predict(pd.DataFrame({"size": [0.1], "city": ["Paris"]}))


def test_a_word_in_a_numeric_column_names_the_column_and_the_fix():
    X = np.array([["1.5", "a"], ["2.5", "b"], ["oops", "a"], ["4.0", "b"]], dtype=object)
    with pytest.raises(NonNumericError, match=r"column 'x0' is numeric, but row 2 holds 'oops'.*astype\(str\)"):
        MLPRegressor(max_iter=1).fit(X, [1.0, 2.0, 3.0, 4.0])
    est = MLPRegressor(hidden_layer_sizes=(2,), max_iter=1).fit(X[[0, 1, 3]], [1.0, 2.0, 4.0])
    with pytest.raises(NonNumericError, match=r"column 'x0' is numeric, but row 0 holds 'abc'"):
        est.predict(np.array([["abc", "a"]], dtype=object))


# ------------------------------------------------------------ files of release 0
@pytest.mark.parametrize("name, rows, extra", [("regression", "rows.csv", []),
                                               ("multiclass", "rows_cls.csv", ["--proba"])])  # fmt: skip
def test_release0_cli_models_load_and_predict_as_before(tmp_path, name, rows, extra):
    model = FIXTURES / f"old_cli_{name}.npz"
    est = handgrad.load(model)
    assert isinstance(est, MLPRegressor if name == "regression" else MLPClassifier)
    run_cli("predict", model, FIXTURES / rows, *extra, "-o", tmp_path / "p.csv")
    # Release 0's own output, to the last bits: the engine now folds b_l into the product
    # ([W_l | b_l] [a; 1]), which rounds the last digit of some values differently.
    header, got = read_csv(tmp_path / "p.csv")
    header0, expected = read_csv(FIXTURES / f"old_cli_{name}_pred.csv")
    assert header == header0 and len(got) == len(expected)
    for g, e in zip(got, expected):
        for gv, ev in zip(g, e):
            try:
                assert float(gv) == pytest.approx(float(ev), rel=1e-13, abs=1e-300)
            except ValueError:  # a class label
                assert gv == ev
    _, table = read_csv(FIXTURES / rows)
    X = np.array(table, dtype=object)  # the rows file's column order: matched by position here
    names = read_csv(FIXTURES / rows)[0]
    order = [names.index(c) for c in est.schema_.column_names]
    if name == "regression":
        np.testing.assert_allclose(est.predict(X[:, order]), [float(r[0]) for r in expected], rtol=1e-13)
    else:
        assert est.predict(X[:, order]).tolist() == [r[0] for r in expected]
        np.testing.assert_allclose(est.predict_proba(X[:, order]), [[float(v) for v in r[1:]] for r in expected],
                                   rtol=1e-13)  # fmt: skip


def test_release0_estimator_file_loads_and_predicts_as_before():
    expected = json.loads((FIXTURES / "expected.json").read_text())
    est = handgrad.load(FIXTURES / "old_estimator_regressor.npz")
    np.testing.assert_allclose(est.predict(np.array(expected["estimator_X"])), expected["estimator_predict"],
                               rtol=1e-13)  # fmt: skip


def test_dataframe_dtypes_extra_columns_and_missing_values():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({
        "n": pd.array([1, 2, 3, 4, 5, 6], dtype="Int64"),  # pandas' nullable integers
        "c": pd.Categorical(["a", "b", "a", "b", "a", "b"]),
    })  # fmt: skip
    est = MLPClassifier(hidden_layer_sizes=(3,), max_iter=2, random_state=0).fit(df, [0, 1, 0, 1, 0, 1])
    assert est.schema_.feature_names == ["n", "c=a", "c=b"]
    # An extra column, even one the sniffing would call numeric with a word in it, is ignored.
    extra = df.assign(junk=["1", "2", "x", "4", "5", "6"])
    np.testing.assert_array_equal(est.predict_proba(extra), est.predict_proba(df))
    with pytest.raises(DataError, match=r"missing value .*column 'n'"):
        est.predict(df.assign(n=pd.array([1, None, 3, 4, 5, 6], dtype="Int64")))
    with pytest.raises(DataError, match=r"missing column 'c'"):
        est.predict(df[["n"]])


def test_a_named_target_is_kept_for_the_command_line_unless_its_labels_cannot_be(tmp_path):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "g": ["u", "v", "u", "v"]})
    for labels, kept in (([0, 1, 0, 1], True), ([False, True, False, True], False)):
        est = MLPClassifier(hidden_layer_sizes=(2,), max_iter=1).fit(X, pd.Series(labels, name="smoker"))
        est.save(tmp_path / "m.npz", force=True)
        back = handgrad.load(tmp_path / "m.npz")
        assert (back.schema_.target == "smoker") is kept
        assert back.predict(X).tolist() == est.predict(X).tolist()
