"""The analytic cost of both gradient methods, checked against instrumented runs of the engine."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from handgrad import Network, backend
from handgrad import gradients as engine
from handgrad.cli import main
from handgrad.losses import get_loss
from handgrad.teaching import cost as C
from handgrad.teaching import derive
from handgrad.teaching.cost_measure import interleaved_medians, markdown_report, measure
from handgrad.teaching.expr import Env, count_products

REPO = Path(__file__).resolve().parent.parent


class Counting(np.ndarray):
    """An ndarray that logs the shapes of every matrix product it takes part in (``@``, ``np.matmul``)."""

    log: ClassVar[list[tuple[tuple[int, ...], tuple[int, ...]]]] = []

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        if ufunc is np.matmul and method == "__call__":
            Counting.log.append((inputs[0].shape, inputs[1].shape))
        plain = [np.asarray(x) if isinstance(x, Counting) else x for x in inputs]
        if out is not None:
            kwargs["out"] = tuple(np.asarray(o) if isinstance(o, Counting) else o for o in out)
        result = getattr(ufunc, method)(*plain, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        if isinstance(result, np.ndarray):
            return result.view(Counting)
        return result


def counted(fn):
    """Run ``fn`` and return (number of products, their flops 2 m k n).

    Products through ``@`` are logged by :class:`Counting`; ``np.dot`` (what the engine,
    :mod:`handgrad.backprop`, calls) is not a ufunc, so it is wrapped for the call.
    """
    Counting.log = []
    dot = np.dot

    def logging_dot(a, b, out=None):
        Counting.log.append((np.shape(a), np.shape(b)))
        return dot(np.asarray(a), np.asarray(b), out)

    np.dot = logging_dot
    backend.NUMPY.dot = logging_dot  # the engine's NumPy backend holds np.dot itself (handgrad.backend)
    try:
        fn()
    finally:
        np.dot = dot
        del backend.NUMPY.dot
    flops = sum(2 * a[0] * a[1] * b[1] for a, b in Counting.log)
    return len(Counting.log), flops


def counting_network(sizes, activation="relu", output_activation="identity", seed=0):
    net = Network(sizes, activation=activation, output_activation=output_activation, random_state=seed)
    net.weights = [W.view(Counting) for W in net.weights]
    net.biases = [b.view(Counting) for b in net.biases]
    return net


def test_counting_array_counts_every_product():
    a = np.ones((3, 4)).view(Counting)
    n, flops = counted(lambda: (a @ np.ones((4, 5)), np.ones((2, 3)) @ a, a.T @ a))
    assert n == 3
    assert flops == 2 * (3 * 4 * 5 + 2 * 3 * 4 + 4 * 3 * 4)


NETWORKS = [
    ([5, 1], "relu", "identity", "mse"),
    ([6, 7, 2], "tanh", "identity", "mse"),
    ([37, 128, 64, 1], "relu", "identity", "mse"),  # the seed's
    ([4, 9, 3, 8, 5], "sigmoid", "identity", "softmax_crossentropy"),
    ([3, 5, 5, 5, 5, 2], "relu", "sigmoid", "binary_crossentropy"),
    ([8] * 8 + [1], "tanh", "identity", "huber"),
]


@pytest.mark.parametrize(("sizes", "act", "out", "loss"), NETWORKS)
@pytest.mark.parametrize("N", [1, 7])
def test_engine_counts_match_the_formulas(sizes, act, out, loss, N):
    net = counting_network(sizes, act, out)
    rng = np.random.default_rng(0)
    A0 = rng.normal(size=(sizes[0], N)).view(Counting)
    Y = rng.random((sizes[-1], N))
    loss_fn = get_loss(loss)
    L = len(sizes) - 1
    n_bp, f_bp = counted(lambda: engine.backprop(net, A0, Y, loss_fn))
    n_ex, f_ex = counted(lambda: engine.expanded(net, A0, Y, loss_fn))
    assert n_bp == C.backprop_products(L) == 3 * L - 1
    assert n_ex == C.expanded_products(L)
    # NOTE: the engine folds b_l into the products (z_l = [W_l | b_l] [a_{l-1}; 1], [dW_l | db_l] =
    # delta_l [a_{l-1}; 1]ᵀ): the bias add and the bias sum of each layer become one more column of a
    # product, 2 N n_l flops each, beyond the formula's products of the mathematics.
    assert f_bp == C.backprop_flops(sizes, N) + 2 * N * 2 * sum(sizes[1:])
    assert f_ex == C.expanded_flops(sizes, N)
    # the engine's expanded form without the forward pass for J
    n_layers = sum(counted(lambda l=l: engine.expanded_layer(net, l, A0, Y, loss_fn))[0] for l in range(1, L + 1))
    assert n_layers == C.expanded_products(L, include_loss=False)
    f_layers = sum(counted(lambda l=l: engine.expanded_layer(net, l, A0, Y, loss_fn))[1] for l in range(1, L + 1))
    assert f_layers == C.expanded_flops(sizes, N, include_loss=False)


def test_seed_network_counts_by_hand():
    # s_1 = 128·37 = 4736, s_2 = 64·128 = 8192, s_3 = 1·64 = 64, S = 12992, N = 32.
    # backprop: 2·32·(3·12992 − 4736) = 64·34240
    assert C.backprop_flops([37, 128, 64, 1], 32) == 2_191_360
    # expanded: 2·32·[(3 + 2)·12992 + (0·4736 + 1·8192 + 2·64)] = 64·73280
    assert C.expanded_flops([37, 128, 64, 1], 32) == 4_689_920
    c = C.cost([37, 128, 64, 1], 32)
    assert (c.backprop_products, c.expanded_products, c.literal_products) == (8, 18, 25)
    assert c.flop_ratio == pytest.approx(73280 / 34240)


# The seed's six MATLAB lines of §1.2, verbatim.
SEED_MATLAB = """
dW3 = 2/batch_size * (error) * ReLU(W2 * ReLU(W1 * x + b1) + b2)';
db3 = 2/batch_size * sum((error), 2);
dW2 = 2/batch_size * (W3' * (error)) .* ReLU_deriv(W2 * ReLU(W1 * x + b1) + b2) * ReLU(W1 * x + b1)';
db2 = 2/batch_size * sum((W3' * (error)) .* ReLU_deriv(W2 * ReLU(W1 * x + b1) + b2), 2);
dW1 = 2/batch_size * (W2' * (W3' * (error) .* ReLU_deriv(W2 * ReLU(W1 * x + b1) + b2))) .* ReLU_deriv(W1 * x + b1) * x';
db1 = 2/batch_size * sum((W2' * (W3' * (error) .* ReLU_deriv(W2 * ReLU(W1 * x + b1) + b2))) .* ReLU_deriv(W1 * x + b1), 2);
"""


def test_literal_count_matches_the_seed_matlab():
    # Every `*` that is not `.*` and not the scalar `2/batch_size *` is a matrix product.
    products = len(re.findall(r"(?<![.])\*", SEED_MATLAB)) - SEED_MATLAB.count("2/batch_size *")
    assert products == 22
    assert C.literal_products(3) == products + 3  # + the forward pass for y_pred (error = y_pred − y_true)


@pytest.mark.parametrize("L", range(1, 7))
def test_literal_count_matches_the_printed_formulas(L):
    for out, linear in (("identity", True), ("tanh", False)):
        der = derive([3] * L + [2], "relu", out)
        trees = [*der.expanded_dW, *der.expanded_db]
        assert sum(count_products(e) for e in trees) + count_products(der.model) == C.literal_products(L, linear)
    # and evaluating those trees really takes that many products (Ŷ evaluated once, by definition)
    sizes = [3] * L + [2]
    der = derive(sizes, "relu")
    trees = [*der.expanded_dW, *der.expanded_db]
    rng = np.random.default_rng(L)
    values = {"X": rng.normal(size=(4, 3)).view(Counting), "Y": rng.normal(size=(2, 4))}
    for l in range(1, L + 1):
        values[f"W{l}"] = rng.normal(size=(sizes[l], sizes[l - 1])).view(Counting)
        values[f"b{l}"] = rng.normal(size=sizes[l])
    env = Env(values, der.expanded_definitions())
    n, _ = counted(lambda: [e.evaluate(env) for e in trees])
    assert n == C.literal_products(L)


def test_growth_orders():
    # expanded ~ L² (second differences constant), literal ~ L³, backprop ~ L
    ex = [C.expanded_products(L) for L in range(1, 12)]
    assert len({b - a for a, b in itertools.pairwise(ex)}) == len(ex) - 1
    assert len({(c - b) - (b - a) for a, b, c in zip(ex, ex[1:], ex[2:])}) == 1
    assert C.literal_products(30) / 30**3 == pytest.approx(2 / 3, rel=0.1)
    ratios = [C.cost([64] * L + [1], 32).flop_ratio for L in (5, 10, 20)]
    assert ratios == sorted(ratios) and ratios[-1] > 8


def test_cost_rejects_bad_sizes():
    from handgrad.errors import ConfigError

    with pytest.raises(ConfigError):
        C.backprop_flops([3], 4)
    with pytest.raises(ConfigError):
        C.expanded_flops([3, 0, 1], 4)


# --------------------------------------------------------------------- the measurement machinery (not speed)
def test_interleaved_medians_and_measure_return_positive_times():
    calls = []
    t = interleaved_medians([lambda: calls.append("a"), lambda: calls.append("b")], repeats=3, min_time=1e-4)
    assert len(t) == 2 and all(x > 0 for x in t)
    assert {"a", "b"} <= set(calls)
    m = measure([3, 4, 1], 2, repeats=2, min_time=1e-4)
    assert m.backprop_s > 0 and m.expanded_s > 0 and m.analytic.backprop_products == 5


def test_bench_cli_writes_report_and_plot(tmp_path, capsys):
    argv = ["bench", "gradients", "--depths", "1", "2", "--widths", "4", "--batches", "2", "--repeats", "1"]
    assert main([*argv, "--min-time", "0.0001", "--out", str(tmp_path)]) == 0
    md = (tmp_path / "gradient-cost.md").read_text()
    assert (tmp_path / "img" / "gradient-cost.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # 4-4-1: s = (16, 4), S = 20; backprop 2N (3·20 − 16) = 2N·44, expanded 2N (4·20 + 1·4) = 2N·84: ratio 1.91
    assert re.search(r"^\| 4 \| 2 \| 2 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| 1\.91 \|$", md, re.M)
    assert "handgrad bench gradients --depths 1 2" in md
    assert "measured ratio" in capsys.readouterr().out
    assert main(["bench", "gradients", "--widths", "0"]) == 2


def test_report_states_the_seed_ratio_from_the_cost_module():
    doc = REPO / "docs" / "gradient-cost.md"
    text = doc.read_text(encoding="utf-8")
    c = C.cost([37, 128, 64, 1], 32)
    assert f"**{c.flop_ratio:.2f}** (analytic)" in text
    assert f"| {c.backprop_flops:,} | {c.expanded_flops:,} |" in text
    assert (REPO / "docs" / "img" / "gradient-cost.png").is_file()
    # every measured row carries the analytic ratio of its own network
    for width, batch, L, ratio in re.findall(
        r"^\| (\d+) \| (\d+) \| (\d+) \| [\d.]+ \| [\d.]+ \| [\d.]+ \| ([\d.]+) \|$", text, re.M
    ):
        assert ratio == f"{C.cost([int(width)] * int(L) + [1], int(batch)).flop_ratio:.2f}"


def test_markdown_report_is_self_contained():
    m = measure([3, 4, 1], 2, repeats=1, min_time=1e-4)
    md = markdown_report([m], m, "handgrad bench gradients --out x", 1, None)
    assert md.startswith("# The cost of the expanded form, measured")
    assert "`3L − 1`" in md and "`(3L² + 3L)/2`" in md
