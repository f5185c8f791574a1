"""Every loss: value and gradient against formulas written out here, one reduction, sample weights.

Orientation inside the engine: ``Yhat`` and ``Y`` are ``(n_outputs, N)``, one column per sample.
The reduction (one definition for every loss): J = 1/N Σ_i Σ_k ℓ(ŷ_ik, y_ik).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from handgrad import ConfigError, ShapeError, get_loss
from handgrad.losses import LOSSES, Huber, log_softmax, softmax

LOSS_NAMES = sorted(LOSSES)


# --- independent formulas: plain Python loops over samples i and outputs k, math module only --------


def ref_per_element(name, yhat, y):
    if name == "mse":
        return (yhat - y) ** 2
    if name == "mae":
        return abs(yhat - y)
    if name == "huber":  # δ = 1
        r = abs(yhat - y)
        return 0.5 * r * r if r <= 1 else r - 0.5
    if name == "binary_crossentropy":  # −y log p − (1−y) log(1−p), p = 1/(1 + e^{−z})
        p = 1 / (1 + math.exp(-yhat))
        return -y * math.log(p) - (1 - y) * math.log(1 - p)
    raise AssertionError(name)


def ref_grad_element(name, yhat, y):
    if name == "mse":
        return 2 * (yhat - y)
    if name == "mae":
        return math.copysign(1.0, yhat - y)
    if name == "huber":
        return max(-1.0, min(1.0, yhat - y))
    if name == "binary_crossentropy":
        return 1 / (1 + math.exp(-yhat)) - y
    raise AssertionError(name)


def ref_softmax_ce(Z, Y):
    """J = −1/N Σ_i Σ_k y_ik log(e^{z_ik} / Σ_j e^{z_jk}), and (p − y)/N, by loops."""
    n_out, N = Z.shape
    J, G = 0.0, np.zeros_like(Z)
    for i in range(N):
        denom = sum(math.exp(Z[j, i]) for j in range(n_out))
        for k in range(n_out):
            p = math.exp(Z[k, i]) / denom
            J -= Y[k, i] * math.log(p)
            G[k, i] = (p - Y[k, i]) / N
    return J / N, G


def reference(name, Yhat, Y):
    if name == "softmax_crossentropy":
        return ref_softmax_ce(Yhat, Y)
    n_out, N = Yhat.shape
    J = sum(ref_per_element(name, Yhat[k, i], Y[k, i]) for i in range(N) for k in range(n_out)) / N
    G = np.array([[ref_grad_element(name, Yhat[k, i], Y[k, i]) / N for i in range(N)] for k in range(n_out)])
    return J, G


def make_batch(name, n_out, N, seed=0):
    rng = np.random.default_rng(seed)
    Yhat = rng.normal(scale=1.5, size=(n_out, N))
    if name == "binary_crossentropy":
        Y = rng.integers(0, 2, size=(n_out, N)).astype(float)
    elif name == "softmax_crossentropy":
        Y = np.eye(n_out)[:, rng.integers(0, n_out, size=N)]
    else:
        Y = rng.normal(size=(n_out, N))
    return Yhat, Y


# Softmax over one class is constant (p = 1): it is checked with 2 and 3 classes.
@pytest.mark.parametrize(
    ("name", "n_out"),
    [(name, n) for name in LOSS_NAMES for n in (1, 2, 3) if not (name == "softmax_crossentropy" and n == 1)],
)
def test_value_and_gradient_match_reference(name, n_out):
    Yhat, Y = make_batch(name, n_out, N=7)
    loss = get_loss(name)
    J_ref, G_ref = reference(name, Yhat, Y)
    assert loss.value(Yhat, Y) == pytest.approx(J_ref, rel=1e-13)
    G = loss.gradient(Yhat, Y)
    assert G.shape == Yhat.shape
    np.testing.assert_allclose(G, G_ref, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_gradient_is_derivative_of_value(name):
    """dJ/dŶ by central differences of J itself, with 3 outputs: value and gradient share one reduction.

    This is the test that would have caught scikit-learn's #8349 (loss averaged over outputs,
    gradient not).
    """
    Yhat, Y = make_batch(name, 3, N=5, seed=1)
    if name == "mae":
        Yhat[np.abs(Yhat - Y) < 1e-3] += 0.1  # off the kink of |r|
    if name == "huber":
        Yhat[np.abs(np.abs(Yhat - Y) - 1) < 1e-3] += 0.1
    loss = get_loss(name)
    eps = 1e-6
    numeric = np.zeros_like(Yhat)
    for idx in np.ndindex(Yhat.shape):
        plus, minus = Yhat.copy(), Yhat.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric[idx] = (loss.value(plus, Y) - loss.value(minus, Y)) / (2 * eps)
    np.testing.assert_allclose(loss.gradient(Yhat, Y), numeric, rtol=1e-7, atol=1e-10)


def test_mse_several_outputs_definition():
    """MSE with 3 outputs: mean over samples of the SUM over outputs; gradient exactly 2/N (Ŷ − Y)."""
    Yhat = np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 3.0]])  # (3 outputs, N = 2)
    Y = np.array([[0.0, 2.0], [1.0, 1.0], [1.0, 0.0]])
    # squared residuals: sample 1: 1, 1, 4 (sum 6); sample 2: 0, 4, 9 (sum 13) → J = (6 + 13)/2 = 9.5
    mse = get_loss("mse")
    assert mse.value(Yhat, Y) == 9.5
    # not the per-element mean (19/6) that sklearn.metrics.mean_squared_error reports
    assert mse.value(Yhat, Y) == pytest.approx(3 * np.mean((Yhat - Y) ** 2))
    np.testing.assert_array_equal(mse.gradient(Yhat, Y), 2 / 2 * (Yhat - Y))


def test_mse_one_output_is_the_seeds_formula():
    """J = 1/N Σ (ŷ_i − y_i)², dJ/dŶ = 2/N (Ŷ − Y), for a row vector as the seed's y_pred."""
    yhat = np.array([[1.0, 2.0, 4.0, -1.0]])
    y = np.array([[0.0, 2.0, 1.0, 1.0]])
    mse = get_loss("mse")
    assert mse.value(yhat, y) == (1 + 0 + 9 + 4) / 4
    np.testing.assert_array_equal(mse.gradient(yhat, y), [[0.5, 0.0, 1.5, -1.0]])


# --- sample_weight semantics: J = Σ_i w_i ℓ_i / Σ_i w_i ------------------------------------------


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_sample_weight_semantics(name):
    Yhat, Y = make_batch(name, 3, N=4, seed=2)
    loss = get_loss(name)
    ones = np.ones(4)
    # unit weights = unweighted
    assert loss.value(Yhat, Y, ones) == pytest.approx(loss.value(Yhat, Y), rel=1e-14)
    np.testing.assert_allclose(loss.gradient(Yhat, Y, ones), loss.gradient(Yhat, Y), rtol=1e-14)
    # scaling every weight changes nothing (normalised by Σw)
    assert loss.value(Yhat, Y, 7 * ones) == pytest.approx(loss.value(Yhat, Y), rel=1e-14)
    # an integer weight 2 = the sample twice
    w = np.array([2.0, 1.0, 1.0, 1.0])
    Yhat_dup, Y_dup = np.concatenate([Yhat, Yhat[:, :1]], axis=1), np.concatenate([Y, Y[:, :1]], axis=1)
    assert loss.value(Yhat, Y, w) == pytest.approx(loss.value(Yhat_dup, Y_dup), rel=1e-13)
    G_dup = loss.gradient(Yhat_dup, Y_dup)
    G_w = loss.gradient(Yhat, Y, w)
    np.testing.assert_allclose(G_w[:, 0], G_dup[:, 0] + G_dup[:, 4], rtol=1e-13)
    np.testing.assert_allclose(G_w[:, 1:], G_dup[:, 1:4], rtol=1e-13)
    # weight 0 = the sample dropped (and its gradient column is 0)
    w0 = np.array([0.0, 1.0, 1.0, 1.0])
    assert loss.value(Yhat, Y, w0) == pytest.approx(loss.value(Yhat[:, 1:], Y[:, 1:]), rel=1e-13)
    np.testing.assert_array_equal(loss.gradient(Yhat, Y, w0)[:, 0], 0.0)
    # written out: Σ w_i ℓ_i / Σ w_i
    w3 = np.array([0.5, 2.0, 0.0, 1.5])
    per_sample = [loss.value(Yhat[:, i : i + 1], Y[:, i : i + 1]) for i in range(4)]
    assert loss.value(Yhat, Y, w3) == pytest.approx(np.dot(w3, per_sample) / w3.sum(), rel=1e-13)


def test_sample_weight_wrong_length():
    Yhat, Y = make_batch("mse", 1, N=4)
    with pytest.raises(ShapeError, match=r"sample_weight has 3 entries, expected one per sample \(4\)"):
        get_loss("mse").value(Yhat, Y, np.ones(3))


def test_gradient_does_not_modify_inputs():
    Yhat, Y = make_batch("mse", 2, N=3)
    before = Yhat.copy(), Y.copy()
    for name in LOSS_NAMES:
        get_loss(name).gradient(Yhat, Y, np.ones(3))
    np.testing.assert_array_equal(Yhat, before[0])
    np.testing.assert_array_equal(Y, before[1])


# --- stability on huge logits -------------------------------------------------------------------------


def test_bce_stable_for_huge_logits():
    Z = np.array([[1e4, 1e4, -1e4, -1e4, 800.0, -800.0]])
    Y = np.array([[1.0, 0.0, 1.0, 0.0, 0.0, 1.0]])
    bce = get_loss("binary_crossentropy")
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        warnings.simplefilter("error")
        J = bce.value(Z, Y)
        G = bce.gradient(Z, Y)
        P = bce.output(Z)
    # ℓ = log(1 + e^z) − y z: 0 when confidently right, |z| when confidently wrong
    assert J == pytest.approx((0 + 1e4 + 0 + 1e4 + 800 + 800) / 6, rel=1e-14)
    np.testing.assert_allclose(G, np.array([[0.0, 1.0, -1.0, 0.0, 1.0, -1.0]]) / 6, atol=1e-300)
    np.testing.assert_array_equal(P, [[1.0, 1.0, 0.0, 0.0, 1.0, 0.0]])


def test_softmax_stable_for_huge_logits():
    Z = np.array([[1e4, -1e4, 0.0], [0.0, 0.0, 1e4], [-1e4, 1e4, 1e4]])  # 3 classes × 3 samples
    Y = np.eye(3)  # sample i is class i
    ce = get_loss("softmax_crossentropy")
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        warnings.simplefilter("error")
        J = ce.value(Z, Y)
        G = ce.gradient(Z, Y)
        P = ce.output(Z)
        LS = log_softmax(Z)
    # sample 0: class 0 wins by 1e4 → ℓ = 0; sample 1: class 1 at 0 vs 1e4 → ℓ = 1e4;
    # sample 2: classes 1, 2 tie at 1e4 → ℓ = log 2
    assert J == pytest.approx((0 + 1e4 + math.log(2)) / 3, rel=1e-14)
    np.testing.assert_allclose(P.sum(axis=0), 1.0, rtol=1e-15)
    np.testing.assert_allclose(P[:, 2], [0.0, 0.5, 0.5], atol=1e-300)
    np.testing.assert_allclose(G, (P - Y) / 3, rtol=1e-15)
    assert np.all(np.isfinite(LS))
    assert LS[0, 1] == pytest.approx(-2e4)


def test_softmax_shift_invariance_and_log_softmax():
    rng = np.random.default_rng(5)
    Z = rng.normal(size=(4, 6))
    np.testing.assert_allclose(softmax(Z + 500.0), softmax(Z), rtol=1e-12)
    np.testing.assert_allclose(softmax(Z), np.exp(Z) / np.exp(Z).sum(axis=0), rtol=1e-13)
    np.testing.assert_allclose(log_softmax(Z), np.log(softmax(Z)), rtol=1e-12)


def test_output_maps_to_target_space():
    Z = np.array([[0.0, 2.0], [1.0, -1.0]])
    np.testing.assert_array_equal(get_loss("mse").output(Z), Z)
    np.testing.assert_allclose(get_loss("binary_crossentropy").output(Z), 1 / (1 + np.exp(-Z)), rtol=1e-15)
    np.testing.assert_allclose(
        get_loss("softmax_crossentropy").output(Z), np.exp(Z) / np.exp(Z).sum(axis=0), rtol=1e-15
    )


# --- Huber's threshold, names, dtypes ------------------------------------------------------------------


def test_huber_delta():
    h = Huber(delta=2.0)
    Yhat, Y = np.array([[0.5, 3.0, -5.0]]), np.zeros((1, 3))
    # ℓ: ½·0.25, 2(3 − 1), 2(5 − 1); dℓ/dŷ: 0.5, 2, −2
    assert h.value(Yhat, Y) == pytest.approx((0.125 + 4.0 + 8.0) / 3, rel=1e-15)
    np.testing.assert_allclose(h.gradient(Yhat, Y), [[0.5 / 3, 2 / 3, -2 / 3]], rtol=1e-15)
    assert repr(h) == "Huber(delta=2.0)"
    with pytest.raises(ConfigError, match=r"Huber delta must be > 0, got 0"):
        Huber(delta=0)


def test_names_and_aliases():
    for name in LOSS_NAMES:
        assert get_loss(name).name == name
    assert get_loss("squared_error").name == "mse"
    assert get_loss("BCE").name == "binary_crossentropy"
    assert get_loss("cross-entropy").name == "softmax_crossentropy"
    h = Huber(0.5)
    assert get_loss(h) is h
    with pytest.raises(ConfigError, match=r"unknown loss 'hinge'; expected one of \['binary_crossentropy'"):
        get_loss("hinge")


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_float32_preserved(name):
    Yhat, Y = make_batch(name, 3, N=4)
    Yhat, Y = Yhat.astype(np.float32), Y.astype(np.float32)
    loss = get_loss(name)
    assert loss.gradient(Yhat, Y).dtype == np.float32
    assert loss.gradient(Yhat, Y, np.ones(4, dtype=np.float32)).dtype == np.float32
    assert loss.output(Yhat).dtype == np.float32
    J64 = loss.value(Yhat.astype(np.float64), Y.astype(np.float64))
    assert loss.value(Yhat, Y) == pytest.approx(J64, rel=1e-5)


def test_softmax_gradient_is_derivative_of_value_for_any_target():
    """For targets that do not sum to 1 (unnormalised counts, an all-zero row), dℓ/dz = p Σ_k y_k − y.

    ``p − y`` alone would be the gradient of a different function than ``value`` computes.
    """
    rng = np.random.default_rng(8)
    Z = rng.normal(size=(3, 4))
    Y = np.array([[2.0, 0.0, 0.5, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.25, 3.0]])  # column sums 3, 0, 0.75, 3
    ce = get_loss("softmax_crossentropy")
    eps = 1e-6
    numeric = np.zeros_like(Z)
    for idx in np.ndindex(Z.shape):
        plus, minus = Z.copy(), Z.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric[idx] = (ce.value(plus, Y) - ce.value(minus, Y)) / (2 * eps)
    np.testing.assert_allclose(ce.gradient(Z, Y), numeric, rtol=1e-7, atol=1e-10)
    np.testing.assert_array_equal(ce.gradient(Z, Y)[:, 1], 0.0)  # an all-zero target contributes nothing


# --- everything about a loss lives on its class (issue 8, item 5) ---------------------------------


def test_every_loss_declares_its_tasks_and_for_task_reads_them():
    from handgrad.losses import TASKS, default_for_task, for_task

    for name in LOSS_NAMES:
        assert LOSSES[name].tasks and set(LOSSES[name].tasks) <= set(TASKS), name
    # The command line's and the estimators' defaults, unchanged from their former tables.
    assert for_task("regression") == ["mse", "mae", "huber"]
    assert for_task("binary") == ["binary_crossentropy"]
    assert for_task("multiclass") == ["softmax_crossentropy"]
    assert [default_for_task(t) for t in TASKS] == ["mse", "binary_crossentropy", "softmax_crossentropy"]
    assert for_task("multiclass", n_outputs=1) == []  # a softmax over one logit is refused
    assert for_task("multiclass", n_outputs=4) == ["softmax_crossentropy"]
    with pytest.raises(ConfigError, match="unknown task 'ranking'"):
        for_task("ranking")


def test_check_task_refuses_a_loss_that_does_not_fit():
    from handgrad.losses import check_task

    assert check_task("squared_error", "regression").name == "mse"  # aliases resolve
    with pytest.raises(
        ConfigError, match=r"--loss mse does not fit a binary task; use one of \['binary_crossentropy'\]"
    ):
        check_task("mse", "binary", flag="--loss")


def test_a_new_loss_is_served_by_for_task_once_it_is_in_the_table(monkeypatch):
    from handgrad.losses import Loss, for_task

    class LogCosh(Loss):
        name = "logcosh"
        tasks = ("regression",)

    monkeypatch.setitem(LOSSES, "logcosh", LogCosh)
    assert for_task("regression") == ["mse", "mae", "huber", "logcosh"]


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_example_targets_suit_the_loss(name):
    loss = get_loss(name)
    rng = np.random.default_rng(0)
    Y = loss.example_targets(rng, 3, 50)
    assert Y.shape == (3, 50) and Y.dtype == np.float64
    loss.check_targets(Y)  # within the loss's own range
    if name == "binary_crossentropy":
        assert set(np.unique(Y)) == {0.0, 1.0}
    elif name == "softmax_crossentropy":
        np.testing.assert_array_equal(Y.sum(axis=0), np.ones(50))
        assert set(np.unique(Y)) == {0.0, 1.0}
    else:
        assert (Y < 0).any() and (Y > 0).any() and len(np.unique(Y)) == Y.size  # real numbers


def test_target_ranges():
    from handgrad.errors import DataError

    get_loss("mse").check_targets(np.array([[-1e9, 1e9]]))  # any finite value
    get_loss("binary_crossentropy").check_targets(np.array([[0.0, 0.25, 1.0]]))
    with pytest.raises(
        DataError, match=r"Y holds 2\.0 at index \(1, 0\); the binary_crossentropy loss needs targets in \[0, 1\]"
    ):
        get_loss("binary_crossentropy").check_targets(np.array([[0.0], [2.0]]))
    with pytest.raises(DataError, match=r"y holds -0\.5 .* softmax_crossentropy loss needs targets in \[0, inf\]"):
        get_loss("softmax_crossentropy").check_targets(np.array([[1.0, -0.5]]), name="y")


@pytest.mark.parametrize("name", LOSS_NAMES)
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_derivation_pieces_reproduce_the_gradient(name, n_outputs):
    """dJ/dŶ = factor/N · error, with error built from the loss's own pieces, equals Loss.gradient."""
    from handgrad.losses import Formula

    loss = get_loss(name)
    if name == "softmax_crossentropy":
        n_outputs += 1  # a softmax needs two outputs
    pieces = loss.derivation(n_outputs)
    assert isinstance(pieces.J, Formula) and pieces.J.latex and pieces.J.text
    rng = np.random.default_rng(1)
    N = 5
    Yhat = rng.normal(size=(n_outputs, N))
    Y = loss.example_targets(rng, n_outputs, N)
    if pieces.probabilities is not None:
        error = pieces.probabilities.function(Yhat) - Y
    elif pieces.error_function is not None:
        error = pieces.error_function.function(Yhat - Y)
    else:
        error = Yhat - Y
    np.testing.assert_allclose(float(pieces.factor) / N * error, loss.gradient(Yhat, Y), rtol=1e-12, atol=1e-15)


def test_a_loss_without_derivation_pieces_is_not_derivable():
    from handgrad.losses import Loss

    assert Loss().derivation(1) is None
