"""Each optimizer's step against a hand-computed update and against torch.optim (float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from handgrad.errors import ConfigError, ShapeError
from handgrad.training import SGD, Adam, AdamW, get_optimizer

torch = pytest.importorskip("torch")


def params_and_grads(seed=0, steps=5):
    """A weight (3, 2) and a bias (3,), and a sequence of gradients for them."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((3, 2)), rng.standard_normal(3)]
    grads = [[rng.standard_normal((3, 2)), rng.standard_normal(3)] for _ in range(steps)]
    return params, grads


# ----------------------------------------------------------------- hand-computed
def test_sgd_one_step_by_hand():
    W = np.array([[1.0, -2.0]])
    b = np.array([0.5])
    opt = SGD([W, b], lr=0.1)
    opt.step([np.array([[0.5, 1.0]]), np.array([-1.0])])
    # θ − lr g:  1 − 0.1·0.5 = 0.95;  −2 − 0.1·1 = −2.1;  0.5 − 0.1·(−1) = 0.6
    np.testing.assert_allclose(W, [[0.95, -2.1]], rtol=1e-15)
    np.testing.assert_allclose(b, [0.6], rtol=1e-15)


def test_sgd_momentum_and_nesterov_two_steps_by_hand():
    g1, g2 = np.array([1.0]), np.array([3.0])
    p = np.array([[0.0]])
    opt = SGD([p], lr=0.1, momentum=0.5)
    opt.step([g1.reshape(1, 1)])  # v = 1;          θ = −0.1
    opt.step([g2.reshape(1, 1)])  # v = 0.5 + 3 = 3.5; θ = −0.1 − 0.35 = −0.45
    assert p[0, 0] == pytest.approx(-0.45, rel=1e-15)

    q = np.array([[0.0]])
    opt = SGD([q], lr=0.1, momentum=0.5, nesterov=True)
    opt.step([g1.reshape(1, 1)])  # v = 1;   step g + μv = 1 + 0.5 = 1.5;    θ = −0.15
    opt.step([g2.reshape(1, 1)])  # v = 3.5; step 3 + 1.75 = 4.75;           θ = −0.15 − 0.475 = −0.625
    assert q[0, 0] == pytest.approx(-0.625, rel=1e-15)


def test_sgd_weight_decay_is_l2_on_weights_only():
    W, b = np.array([[2.0]]), np.array([2.0])
    opt = SGD([W, b], lr=0.1, weight_decay=0.5)
    opt.step([np.array([[1.0]]), np.array([1.0])])
    assert W[0, 0] == pytest.approx(2.0 - 0.1 * (1.0 + 0.5 * 2.0), rel=1e-15)  # g + λW = 2 → 1.8
    assert b[0] == pytest.approx(2.0 - 0.1 * 1.0, rel=1e-15)  # biases are not decayed → 1.9


def test_adam_two_steps_by_hand():
    p = np.array([1.0])
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    opt = Adam([p], lr=lr, beta1=b1, beta2=b2, eps=eps)
    opt.step([np.array([2.0])])
    # t=1: m = 0.2, v = 0.004; m̂ = 2, v̂ = 4: θ = 1 − 0.1 · 2 / (2 + 1e-8)
    assert p[0] == pytest.approx(1 - 0.1 * 2 / (2 + eps), rel=1e-14)
    opt.step([np.array([-1.0])])
    m = 0.9 * 0.2 + 0.1 * -1.0  # 0.08
    v = 0.999 * 0.004 + 0.001 * 1.0  # 0.004996
    m_hat, v_hat = m / (1 - 0.9**2), v / (1 - 0.999**2)
    expected = 1 - 0.1 * 2 / (2 + eps) - lr * m_hat / (math.sqrt(v_hat) + eps)
    assert p[0] == pytest.approx(expected, rel=1e-14)


def test_adamw_decays_the_weights_before_the_adam_step():
    W, b = np.array([[1.0]]), np.array([1.0])
    opt = AdamW([W, b], lr=0.1, weight_decay=0.5)
    opt.step([np.array([[2.0]]), np.array([2.0])])
    adam_step = 0.1 * 2 / (2 + 1e-8)
    assert W[0, 0] == pytest.approx(1.0 * (1 - 0.1 * 0.5) - adam_step, rel=1e-14)
    assert b[0] == pytest.approx(1.0 - adam_step, rel=1e-14)


# ------------------------------------------------------------------- torch.optim
def torch_run(params, grads, make_opt, wd_on_bias=False):
    """Apply the gradient sequence with a torch optimizer; returns the final params (numpy)."""
    tp = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in params]
    opt = make_opt(tp)
    for gs in grads:
        for t, g in zip(tp, gs):
            t.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    return [t.detach().numpy() for t in tp]


def groups(tp, wd):
    """Weight decay on the weight (2-D) only, as handgrad decays weights only."""
    return [{"params": [tp[0]], "weight_decay": wd}, {"params": [tp[1]], "weight_decay": 0.0}]


CASES = {
    "sgd": (lambda p: SGD(p, lr=0.1), lambda tp: torch.optim.SGD(tp, lr=0.1)),
    "momentum": (
        lambda p: SGD(p, lr=0.05, momentum=0.9),
        lambda tp: torch.optim.SGD(tp, lr=0.05, momentum=0.9),
    ),
    "nesterov": (
        lambda p: SGD(p, lr=0.05, momentum=0.8, nesterov=True),
        lambda tp: torch.optim.SGD(tp, lr=0.05, momentum=0.8, nesterov=True),
    ),
    "sgd_l2": (
        lambda p: SGD(p, lr=0.05, momentum=0.9, weight_decay=0.1),
        lambda tp: torch.optim.SGD(groups(tp, 0.1), lr=0.05, momentum=0.9),
    ),
    "adam": (
        lambda p: Adam(p, lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6),
        lambda tp: torch.optim.Adam(tp, lr=0.01, betas=(0.8, 0.99), eps=1e-6),
    ),
    "adam_l2": (
        lambda p: Adam(p, lr=0.01, weight_decay=0.2),
        lambda tp: torch.optim.Adam(groups(tp, 0.2), lr=0.01),
    ),
    "adamw": (
        lambda p: Adam(p, lr=0.01, weight_decay=0.3, decoupled=True),
        lambda tp: torch.optim.AdamW(groups(tp, 0.3), lr=0.01),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_several_steps_match_torch_optim(case):
    ours, theirs = CASES[case]
    params, grads = params_and_grads(seed=len(case), steps=6)
    expected = torch_run([p.copy() for p in params], grads, theirs)
    opt = ours(params)
    for gs in grads:
        opt.step(gs)
    for got, want in zip(params, expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert opt.t == 6


@pytest.mark.parametrize("case", sorted(CASES))
def test_state_dict_round_trip_continues_identically(case):
    import json

    make, _ = CASES[case]
    params, grads = params_and_grads(seed=1, steps=6)
    a = [p.copy() for p in params]
    opt_a = make(a)
    for gs in grads[:3]:
        opt_a.step(gs)
    arrays, meta = opt_a.state_dict()
    meta = json.loads(json.dumps(meta))  # JSON-able
    b = [p.copy() for p in a]
    opt_b = make(b)
    opt_b.load_state_dict(arrays, meta)
    for gs in grads[3:]:
        opt_a.step(gs)
        opt_b.step(gs)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_step_does_not_modify_the_gradients_and_updates_in_place():
    params, grads = params_and_grads()
    W = params[0]
    g_before = [g.copy() for g in grads[0]]
    opt = Adam(params, lr=0.1, weight_decay=0.1)
    opt.step(grads[0])
    assert params[0] is W
    for g, g0 in zip(grads[0], g_before):
        np.testing.assert_array_equal(g, g0)


def test_get_optimizer_names_and_errors():
    params, _ = params_and_grads()
    assert isinstance(get_optimizer("sgd", params), SGD)
    m = get_optimizer("momentum", params, lr=0.1)
    assert (m.momentum, m.nesterov) == (0.9, False)
    assert get_optimizer("nesterov", params).nesterov
    assert get_optimizer("AdamW", params).decoupled
    assert get_optimizer("adam", params, lr=None).lr == 1e-3  # None = the default
    inst = Adam(params)
    assert get_optimizer(inst, params) is inst
    with pytest.raises(ConfigError, match="bound to other arrays"):
        get_optimizer(inst, [p.copy() for p in params])
    with pytest.raises(ConfigError, match="unknown optimizer 'rmsprop'"):
        get_optimizer("rmsprop", params)
    with pytest.raises(ConfigError, match="lr"):
        SGD(params, lr=-1)
    with pytest.raises(ConfigError, match="momentum"):
        SGD(params, momentum=1.0)
    with pytest.raises(ConfigError, match="nesterov"):
        SGD(params, nesterov=True)
    with pytest.raises(ShapeError, match="shape"):
        SGD(params).step([np.ones((2, 3)), np.ones(3)])
    with pytest.raises(ShapeError, match="1 gradients for 2 parameters"):
        SGD(params).step([np.ones((3, 2))])


def test_flush_subnormals_zeroes_only_subnormal_parameters_and_state():
    tiny = np.finfo(np.float64).tiny
    W = np.array([[1.0, tiny / 4, -tiny / 8], [0.0, tiny, -2.0]])
    b = np.array([tiny / 2, 3.0])
    opt = Adam([W, b], lr=1e-3)
    opt.state["m"][0][...] = [[tiny / 16, 1.0, 0.0], [0.0, 0.0, 0.0]]
    assert opt.flush_subnormals() == 4  # W: 2, b: 1, m: 1
    np.testing.assert_array_equal(W, [[1.0, 0.0, 0.0], [0.0, tiny, -2.0]])  # tiny itself is normal: kept
    np.testing.assert_array_equal(b, [0.0, 3.0])
    np.testing.assert_array_equal(opt.state["m"][0], [[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    assert opt.flush_subnormals() == 0


def test_training_leaves_no_subnormal_parameters():
    # A dead ReLU unit under L2 decays towards 0; once per epoch the loop flushes what became subnormal.
    from handgrad import Network
    from handgrad.training import train

    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    y = X[:, 0]
    net = Network([3, 4, 1], random_state=0)
    net.weights[0][1] = np.finfo(np.float64).tiny / 64  # a subnormal row, as a decayed dead unit ends
    net.biases[0][1] = -10.0  # unit 2 dead: its weights only feel the decay
    # SGD with L2: W ← W (1 − lr λ) keeps a subnormal weight subnormal, step after step
    train(net, X, y, optimizer="sgd", lr=0.01, weight_decay=1e-2, epochs=2, random_state=0)
    assert net.weights[0][1].tolist() == [0.0, 0.0, 0.0]
    for p in net.parameters():
        assert not ((p != 0) & (np.abs(p) < np.finfo(np.float64).tiny)).any()


def test_plain_sgd_skips_the_subnormal_flush():
    # Nothing decays under plain SGD, so the per-epoch flush is skipped (it would cost the seed's fused step).
    W = np.array([[np.finfo(np.float64).tiny / 4]])
    assert SGD([W], lr=0.1).flush_subnormals() == 0
    assert W[0, 0] > 0
    assert SGD([W], lr=0.1, weight_decay=1e-3).flush_subnormals() == 1
    assert W[0, 0] == 0
