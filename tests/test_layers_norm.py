"""Dropout, batch normalisation and layer normalisation: gradients against central differences and PyTorch.

Layers run batch-last (``(n, N)``, ``(C, H, W, N)``); torch runs batch-first, so every comparison
moves the batch axis. Float64 throughout the gradient checks (tolerances at each call site).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from finite_differences import finite_differences
from handgrad.errors import ConfigError
from handgrad.layers import LayerStack, parse
from handgrad.layers.normalization import BatchNorm, Dropout, LayerNorm
from handgrad.losses import get_loss


def rel_err(a, b, floor=1e-12):
    """max |a − b| relative to the larger of max |a|, max |b| and ``floor`` (for gradients that are 0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(floor, np.max(np.abs(a)), np.max(np.abs(b))))


def problem(net, n=9, seed=0, outputs=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, net.n_inputs))
    y = rng.normal(size=(n, outputs))
    return X, y


def randomise(net, seed=1):
    """Parameters away from the initialisation (γ ≠ 1, β ≠ 0) and running statistics ≠ (0, 1)."""
    rng = np.random.default_rng(seed)
    net.theta[...] = rng.normal(scale=0.7, size=net.theta.shape)
    for layer in net.layers:
        if isinstance(layer, BatchNorm):
            layer.set_state(
                {"running_mean": rng.normal(size=layer.C), "running_var": rng.uniform(0.5, 2.0, size=layer.C)}
            )


class TrainingMode:
    """``net`` seen by :func:`finite_differences` with its loss taken in training mode, the masks fixed.

    Dropout's masks are redrawn from the same seed before every evaluation; batch normalisation in
    training mode is a deterministic function of the batch.
    """

    def __init__(self, net, seed=123):
        self.net, self.seed = net, seed

    def parameters(self):
        return self.net.parameters()

    def loss(self, X, y, loss="mse", sample_weight=None):
        self.net.reseed(self.seed)
        loss = get_loss(loss)
        Yhat = self.net.forward_columns(np.ascontiguousarray(X.T), training=True)
        return float(loss.mean(Yhat, np.asarray(y, np.float64).reshape(len(X), -1).T, sample_weight))

    def gradients(self, X, y, loss="mse"):
        self.net.reseed(self.seed)
        return self.net.gradients(X, y, loss, training=True)


def check_stack(net, X, y, loss="mse", training=False, tol=1e-6):
    if training:
        wrapped = TrainingMode(net)
        g = wrapped.gradients(X, y, loss)
        fd = finite_differences(wrapped, X, y, loss)
    else:
        g = net.gradients(X, y, loss)
        fd = finite_differences(net, X, y, loss)
    for name, analytic, numeric in zip(g.names(), g, fd):
        assert np.all(np.isfinite(analytic)), name
        # floor 1: a bias right before batch normalisation has a gradient of exactly 0 in training
        # (μ absorbs it), which both sides give only to rounding
        assert rel_err(analytic, numeric, floor=1.0) < tol, (name, rel_err(analytic, numeric, floor=1.0))
    return g


# ------------------------------------------------------------------ central differences inside a LayerStack
@pytest.mark.parametrize(
    "spec, shape",
    [
        ("dense(6)-batchnorm-tanh-dense(3)", 4),
        ("dense(6)-batchnorm(momentum=0.3,eps=0.01)-dense(3)", 4),
        ("layernorm-batchnorm-tanh-dense(3)", (2, 3, 3)),  # per-channel BN; dJ/da through it checked by LN's γ, β
        ("dense(5)-layernorm-tanh-dense(3)", 4),
        ("layernorm(eps=0.1)-dense(3)", (2, 2, 3)),
        ("dense(5)-tanh-dropout(0.3)-dense(3)", 4),
        ("tanh-layernorm-dropout(0.5)-batchnorm-dense(3)", (3, 2, 2)),
    ],
)
@pytest.mark.parametrize("training", [False, True])
def test_stack_gradients_match_central_differences(spec, shape, training):
    net = LayerStack(spec, input_shape=shape, random_state=0)
    randomise(net)
    X, y = problem(net)
    check_stack(net, X, y, training=training)


def test_the_briefs_stack_trains_gradient_correctly():
    # dense(16)-batchnorm-relu-dropout(0.2)-dense(3): training mode, masks fixed by reseeding.
    net = LayerStack("dense(16)-batchnorm-relu-dropout(0.2)-dense(3)", input_shape=5, random_state=3)
    randomise(net, 4)
    X, y = problem(net, n=12, seed=5)
    g = check_stack(net, X, y, loss="mse", training=True)
    # and the training-mode gradient is not the inference-mode one (both checks see the modes apart)
    assert rel_err(g.flat, net.gradients(X, y).flat) > 1e-3
    # the bias before batch normalisation cannot change its output in training: dJ/db_1 = 0
    np.testing.assert_allclose(g["b1"], 0.0, atol=1e-13)
    yc = np.eye(3)[np.arange(12) % 3]
    check_stack(net, X, yc, loss="softmax_crossentropy", training=True)


def test_training_gradient_descent_lowers_the_training_loss():
    net = LayerStack("dense(16)-batchnorm-relu-dropout(0.1)-dense(3)", input_shape=5, random_state=0)
    X, y = problem(net, n=40, seed=1)
    wrapped = TrainingMode(net)
    before = wrapped.loss(X, y)
    for _ in range(60):
        net.theta -= 0.05 * wrapped.gradients(X, y).flat
    assert wrapped.loss(X, y) < 0.7 * before


# ------------------------------------------------------------------ direct checks of one layer, dJ/dx included
def layer_fd(layer, x, params, G, training, reseed=None, eps=1e-6):
    """Central differences of J = Σ G ∘ layer(x) with respect to x and every parameter."""

    def J():
        if reseed is not None:
            layer.reseed(np.random.default_rng(reseed))
        return float(np.sum(G * layer.forward(x, params, training)))

    out = {}
    for name, arr in [("x", x), *params.items()]:
        g = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + eps
            jp = J()
            arr[idx] = old - eps
            jm = J()
            arr[idx] = old
            g[idx] = (jp - jm) / (2 * eps)
        out[name] = g
    return out


def layer_analytic(layer, x, params, G, training, reseed=None):
    if reseed is not None:
        layer.reseed(np.random.default_rng(reseed))
    out = layer.forward(x, params, training)
    grads = {k: np.full_like(v, np.nan) for k, v in params.items()}  # NaN: backward must overwrite them
    dx = layer.backward(G.copy(), params, grads, True)
    return out, {"x": dx, **grads}


def built(layer, in_shape, seed=0):
    layer.build(in_shape)
    rng = np.random.default_rng(seed)
    params = {
        p.name: rng.normal(scale=0.8, size=p.shape) + (1.0 if p.role == "scale" else 0.0)
        for p in layer.parameter_specs()
    }
    return layer, params


shapes_bn = st.one_of(
    st.tuples(st.integers(1, 4)),
    st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
)
any_shape = st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple)


@given(shapes_bn, st.integers(1, 4), st.booleans(), st.integers(0, 2**16))
def test_batchnorm_direct_central_differences(shape, N, training, seed):
    layer, params = built(BatchNorm(), shape, seed)
    rng = np.random.default_rng(seed + 1)
    layer.set_state({"running_mean": rng.normal(size=layer.C), "running_var": rng.uniform(0.5, 2, size=layer.C)})
    x = rng.normal(size=(*shape, N))
    G = rng.normal(size=x.shape)
    out, analytic = layer_analytic(layer, x, params, G, training)
    assert out.shape == x.shape
    numeric = layer_fd(layer, x, params, G, training)
    for k in analytic:
        assert analytic[k].shape == numeric[k].shape
        assert np.all(np.isfinite(analytic[k]))
        np.testing.assert_allclose(analytic[k], numeric[k], rtol=1e-5, atol=1e-6, err_msg=k)


@given(any_shape, st.integers(1, 4), st.integers(0, 2**16))
def test_layernorm_direct_central_differences(shape, N, seed):
    layer, params = built(LayerNorm(), shape, seed)
    rng = np.random.default_rng(seed + 1)
    x = rng.normal(size=(*shape, N))
    G = rng.normal(size=x.shape)
    _out, analytic = layer_analytic(layer, x, params, G, True)
    numeric = layer_fd(layer, x, params, G, True)
    for k in analytic:
        np.testing.assert_allclose(analytic[k], numeric[k], rtol=1e-5, atol=1e-6, err_msg=k)


@given(any_shape, st.integers(1, 4), st.sampled_from([0.0, 0.1, 0.5, 0.9]), st.booleans(), st.integers(0, 2**16))
def test_dropout_direct_central_differences(shape, N, p, training, seed):
    layer, params = built(Dropout(p), shape)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(*shape, N))
    G = rng.normal(size=x.shape)
    _out, analytic = layer_analytic(layer, x, params, G, training, reseed=seed)
    numeric = layer_fd(layer, x, params, G, training, reseed=seed)
    np.testing.assert_allclose(analytic["x"], numeric["x"], rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------ PyTorch autograd
def torch_batch_first(x):
    """(*shape, N) → torch (N, *shape)."""
    torch = pytest.importorskip("torch")
    return torch.tensor(np.moveaxis(x, -1, 0).copy(), dtype=torch.float64, requires_grad=True)


def batch_last(t):
    return np.moveaxis(t.detach().numpy(), 0, -1)


@pytest.mark.parametrize("shape", [(5,), (3, 4, 2), (1, 1, 1), (4,)])
@pytest.mark.parametrize("momentum, eps", [(0.1, 1e-5), (0.3, 0.01)])
def test_batchnorm_against_torch_training_then_eval(shape, momentum, eps):
    torch = pytest.importorskip("torch")
    layer, params = built(BatchNorm(momentum, eps), shape, 7)
    module = (torch.nn.BatchNorm1d if len(shape) == 1 else torch.nn.BatchNorm2d)(
        shape[0], momentum=momentum, eps=eps, dtype=torch.float64
    )
    with torch.no_grad():
        module.weight.copy_(torch.tensor(params["gamma"]))
        module.bias.copy_(torch.tensor(params["beta"]))
    rng = np.random.default_rng(8)
    for step, training in enumerate([True, True, True, False, True, False]):
        N = 3 + step
        x = rng.normal(loc=1.5, scale=2.0, size=(*shape, N))
        G = rng.normal(size=x.shape)
        module.train(training)
        xt = torch_batch_first(x)
        module.zero_grad()
        yt = module(xt)
        (yt * torch.tensor(np.moveaxis(G, -1, 0).copy())).sum().backward()
        out, ours = layer_analytic(layer, x, params, G, training)
        assert rel_err(out, batch_last(yt)) < 1e-12
        assert rel_err(ours["x"], batch_last(xt.grad)) < 1e-10
        assert rel_err(ours["gamma"], module.weight.grad.numpy()) < 1e-10
        assert rel_err(ours["beta"], module.bias.grad.numpy()) < 1e-10
        # the running statistics after each batch (torch: unbiased variance, momentum)
        assert rel_err(layer.running_mean, module.running_mean.numpy()) < 1e-12
        assert rel_err(layer.running_var, module.running_var.numpy()) < 1e-12
    assert not np.allclose(layer.running_var, 1.0)  # they moved


@pytest.mark.parametrize("shape", [(6,), (2, 3, 3), (3, 1)])
def test_layernorm_against_torch(shape):
    torch = pytest.importorskip("torch")
    layer, params = built(LayerNorm(eps=1e-4), shape, 2)
    module = torch.nn.LayerNorm(shape, eps=1e-4, dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(torch.tensor(params["gamma"]))
        module.bias.copy_(torch.tensor(params["beta"]))
    rng = np.random.default_rng(3)
    x = rng.normal(loc=-1.0, scale=3.0, size=(*shape, 5))
    G = rng.normal(size=x.shape)
    xt = torch_batch_first(x)
    yt = module(xt)
    (yt * torch.tensor(np.moveaxis(G, -1, 0).copy())).sum().backward()
    for training in (True, False):  # the same map in both modes
        out, ours = layer_analytic(layer, x, params, G, training)
        assert rel_err(out, batch_last(yt)) < 1e-12
        assert rel_err(ours["x"], batch_last(xt.grad)) < 1e-10
        assert rel_err(ours["gamma"], module.weight.grad.numpy()) < 1e-10
        assert rel_err(ours["beta"], module.bias.grad.numpy()) < 1e-10


def test_the_briefs_stack_against_torch_with_the_same_mask():
    torch = pytest.importorskip("torch")
    net = LayerStack("dense(16)-batchnorm-relu-dropout(0.2)-dense(3)", input_shape=5, random_state=3)
    randomise(net, 4)
    X, y = problem(net, n=12, seed=5)
    net.reseed(9)
    g = net.gradients(X, y, "mse", training=True)
    mask = net.layers[3]._mask  # m / (1 − p), (16, N): the mask the forward drew
    assert set(np.unique(mask)) <= {0.0, 1.0 / 0.8}
    W1, b1, gamma, beta, W5, b5 = (torch.tensor(v.copy(), requires_grad=True) for v in net.layout.views(net.theta))
    Xt = torch.tensor(X)
    bn = torch.nn.functional.batch_norm(
        Xt @ W1.T + b1, torch.zeros(16, dtype=torch.float64), torch.ones(16, dtype=torch.float64), gamma, beta, True
    )
    h = torch.relu(bn) * torch.tensor(mask.T.copy())
    J = ((h @ W5.T + b5 - torch.tensor(y)) ** 2).sum(dim=1).mean()
    J.backward()
    assert abs(J.item() - g.loss) < 1e-12
    for name, t in zip(g.names(), (W1, b1, gamma, beta, W5, b5)):
        assert rel_err(g[name], t.grad.numpy(), floor=1.0) < 1e-12, name


# ------------------------------------------------------------------ dropout's definition and seeding
def test_dropout_against_its_definition():
    p = 0.3
    layer, params = built(Dropout(p), (40, 25))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 25, 50)) + 3.0  # no zeros in x: the mask can be read off the output
    G = rng.normal(size=x.shape)
    out, grads = layer_analytic(layer, x, params, G, True, reseed=11)
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / (1 - p), rtol=1e-15)  # a = x ∘ m / (1 − p)
    np.testing.assert_allclose(grads["x"], G * kept / (1 - p), rtol=1e-15)  # dJ/dx = dJ/da ∘ m / (1 − p)
    n = x.size
    assert abs((~kept).sum() / n - p) < 5 * np.sqrt(p * (1 - p) / n)  # m ~ Bernoulli(1 − p)
    # inference: the identity, forward and backward
    out, grads = layer_analytic(layer, x, params, G, False)
    assert out is x
    np.testing.assert_array_equal(grads["x"], G)


def test_dropout_masks_follow_the_stack_seed():
    X = np.random.default_rng(0).normal(size=(30, 6))

    def outputs(seed):
        net = LayerStack("dropout(0.5)-dense(2)", input_shape=6, random_state=seed)
        return [net.forward_columns(X.T.copy(), training=True).copy() for _ in range(2)]  # dense's own buffer

    a, b, c = outputs(4), outputs(4), outputs(5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1])  # a new mask each batch
    assert not np.array_equal(a[0], c[0])  # another seed, other masks


def test_dropout_zero_and_inference_are_the_identity():
    net = LayerStack("dense(4)-dropout(0)-dense(2)", input_shape=3, random_state=0)
    X, y = problem(net, outputs=2)
    np.testing.assert_array_equal(net.gradients(X, y, training=True).flat, net.gradients(X, y).flat)


# ------------------------------------------------------------------ batch norm edge cases and state
def test_batchnorm_batch_of_one_in_training_is_finite():
    layer, params = built(BatchNorm(), (4,), 1)
    layer.set_state({"running_mean": np.full(4, 0.5), "running_var": np.full(4, 2.0)})
    x = np.array([[1.0], [-2.0], [3.0], [0.0]])
    G = np.arange(1.0, 5.0).reshape(4, 1)
    out, grads = layer_analytic(layer, x, params, G, True)
    # one value per feature: x − μ = 0, so x̂ = 0, a = β and dJ/dx = 0
    np.testing.assert_array_equal(out[:, 0], params["beta"])
    np.testing.assert_array_equal(grads["x"], 0.0)
    np.testing.assert_array_equal(grads["gamma"], 0.0)
    np.testing.assert_array_equal(grads["beta"], G[:, 0])
    np.testing.assert_allclose(layer.running_mean, 0.9 * 0.5 + 0.1 * x[:, 0])
    np.testing.assert_array_equal(layer.running_var, 2.0)  # unbiased variance of one value: undefined, kept
    net = LayerStack("dense(4)-batchnorm-relu-dense(2)", input_shape=3, random_state=0)
    g = net.gradients(np.ones((1, 3)), np.ones((1, 2)), training=True)
    assert np.all(np.isfinite(g.flat)) and np.all(np.isfinite(net.layers[1].running_var))


def test_batchnorm_state_round_trips_through_the_stack():
    net = LayerStack("dense(5)-batchnorm-dense(2)", input_shape=3, random_state=0)
    X, y = problem(net, outputs=2)
    for _ in range(3):
        net.gradients(X, y, training=True)
    state = net.state_dict()
    assert set(state) >= {"running_mean2", "running_var2"}
    np.testing.assert_array_equal(state["running_mean2"], net.layers[1].running_mean)
    other = LayerStack("dense(5)-batchnorm-dense(2)", input_shape=3, random_state=1)
    assert not np.allclose(other.forward(X), net.forward(X))
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.forward(X), net.forward(X))  # inference uses the running statistics
    np.testing.assert_array_equal(net.copy().forward(X), net.forward(X))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "spec, shape",
    [("dense(6)-batchnorm-relu-dropout(0.3)-dense(2)", 4), ("layernorm-batchnorm-dropout(0.2)-dense(2)", (2, 2, 2))],
)
def test_dtypes_are_kept(dtype, spec, shape):
    net = LayerStack(spec, input_shape=shape, random_state=0, dtype=dtype)
    X, y = problem(net, outputs=2)
    X = X.astype(dtype)
    a = X.T.reshape(*net.input_shape, -1)
    for layer, params in zip(net.layers, net.params):
        for training in (True, False):
            assert layer.forward(a, params, training).dtype == dtype, layer
        a = layer.forward(a, params, True)
    g = net.gradients(X, y, training=True)
    assert g.flat.dtype == dtype and np.all(np.isfinite(g.flat))
    g64 = net.astype(np.float64).gradients(X.astype(np.float64), y, training=False)
    assert rel_err(net.gradients(X, y).flat, g64.flat) < (1e-4 if dtype == np.float32 else 1e-12)


# ------------------------------------------------------------------ specification, errors, derivation
@pytest.mark.parametrize(
    "text",
    [
        "dropout(0.2)",
        "dropout(0.0)",
        "batchnorm",
        "batchnorm(momentum=0.2)",
        "batchnorm(eps=0.001)",
        "batchnorm(momentum=0.05,eps=1e-06)",
        "layernorm",
        "layernorm(eps=0.0001)",
    ],
)
def test_spec_round_trips(text):
    (layer,) = parse(text)
    assert parse(layer.spec()) == [layer]
    assert type(layer)(**layer.config()) == layer


@given(st.floats(0.0, 1.0, exclude_max=True), st.floats(0.0, 1.0), st.floats(1e-12, 10.0))
def test_spec_round_trips_for_any_value(p, momentum, eps):
    for layer in (Dropout(p), BatchNorm(momentum=momentum, eps=eps), LayerNorm(eps=eps)):
        assert parse(layer.spec()) == [layer]


def test_defaults_are_torch_defaults():
    assert BatchNorm().config() == {"momentum": 0.1, "eps": 1e-5}
    assert parse("batchnorm(momentum=0.1,eps=1e-5)")[0].spec() == "batchnorm"
    assert LayerNorm().eps == 1e-5


@pytest.mark.parametrize(
    "text, words",
    [
        ("dropout(1)", ["dropout", "p", "[0, 1)", "'1'"]),
        ("dropout(-0.1)", ["p", "'-0.1'"]),
        ("dropout(half)", ["p", "'half'"]),
        ("dropout(nan)", ["p", "'nan'"]),
        ("dropout", ["dropout"]),
        ("batchnorm(momentum=1.5)", ["momentum", "'1.5'"]),
        ("batchnorm(eps=0)", ["eps", "'0'"]),
        ("batchnorm(eps=-1e-5)", ["eps"]),
        ("batchnorm(mom=0.1)", ["batchnorm", "mom"]),
        ("layernorm(eps=inf)", ["eps", "'inf'"]),
        ("layernorm(0.1,0.2)", ["layernorm"]),
    ],
)
def test_bad_arguments(text, words):
    with pytest.raises(ConfigError) as info:
        parse(text)
    for w in words:
        assert w in str(info.value), (w, str(info.value))


@pytest.mark.parametrize("shape", [(8, 8), (1, 2, 3, 4)])
def test_batchnorm_rejects_other_input_shapes(shape):
    with pytest.raises(
        ConfigError, match=r"batchnorm takes inputs of shape n \(features\) or CxHxW.*" + "x".join(map(str, shape))
    ):
        LayerStack("batchnorm-dense(2)", input_shape=shape)


@pytest.mark.parametrize("layer", [BatchNorm(), LayerNorm()])
def test_wrong_input_shape_at_forward(layer):
    layer, params = built(layer, (3,))
    with pytest.raises(ConfigError, match=r"takes inputs of shape 3; it would get 4 per sample"):
        layer.forward(np.zeros((4, 2)), params, True)


def test_derivations_name_the_formulas():
    net = LayerStack("dense(6)-batchnorm-relu-dropout(0.25)-layernorm-dense(2)", input_shape=3)
    text = {l: "\n".join(layer.derivation(l)) for l, layer in enumerate(net.layers, start=1)}
    assert "batchnorm" in text[2] and "\\gamma_2" in text[2] and "m = N" in text[2]
    assert "\\sum (d\\hat{x} \\circ \\hat{x})" in text[2] and "running statistics" in text[2]
    assert "dropout(0.25)" in text[4] and "m_4 / 0.75" in text[4] and "a_{3}" in text[4]
    assert "D = 6" in text[5] and "\\gamma_5" in text[5]
    image = LayerStack("batchnorm-dense(2)", input_shape=(2, 3, 4)).layers[0].derivation(1)
    assert "m = 12 N" in "\n".join(image) and "channel" in image[0]
