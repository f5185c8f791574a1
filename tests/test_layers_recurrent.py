"""The recurrent layers rnn(n[,seq]) and lstm(n[,seq]): backpropagation through time against central
differences and PyTorch autograd (float64), property-based over lengths, widths and batch sizes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from finite_differences import finite_differences
from handgrad.errors import ConfigError, HandgradError
from handgrad.layers import LayerStack, parse
from handgrad.layers.recurrent import LSTM, RNN

SPECS = [
    "rnn(3)-dense(2)",
    "rnn(3,seq)-dense(2)",
    "lstm(3)-dense(2)",
    "lstm(3,seq)-dense(2)",
    "rnn(3,seq)-lstm(2)",  # dJ/da_1 of the rnn checked through the lstm's dJ/dx
    "lstm(3,seq)-rnn(2)-dense(2)",
    "lstm(2,seq)-lstm(3,seq)-dense(1)",
    "rnn(4)",  # a recurrent layer as the output layer
]


def _data(net, n_samples, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, net.n_inputs))
    Y = rng.normal(size=(n_samples, net.n_outputs))
    return X, Y


def _max_rel(a, b):
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


# ------------------------------------------------------------------ central differences
@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("loss", ["mse", "softmax_crossentropy"])
def test_gradients_match_central_differences(spec, loss):
    net = LayerStack(spec, (4, 3), random_state=1)
    X, Y = _data(net, 5)
    if loss == "softmax_crossentropy":
        if spec.startswith("rnn(4)") or net.n_outputs < 2:
            pytest.skip("a classifier needs a linear output of 2+ classes")
        Y = np.eye(net.n_outputs)[np.arange(5) % net.n_outputs]
    g = net.gradients(X, Y, loss)
    fd = finite_differences(net, X, Y, loss)
    for name, analytic, numeric in zip(net.parameter_names(), g, fd):
        # central differences with eps=1e-6 are good to ~1e-9 at these magnitudes
        assert np.allclose(analytic, numeric, rtol=1e-6, atol=1e-8), (spec, name, np.max(np.abs(analytic - numeric)))


def test_a_long_sequence_carries_the_gradient_back_to_the_first_step():
    # T = 12: the first step's input influences J only through 11 recurrences
    net = LayerStack("lstm(2)-dense(1)", (12, 1), random_state=3)
    X, Y = _data(net, 3)
    g = net.gradients(X, Y)
    fd = finite_differences(net, X, Y)
    for analytic, numeric in zip(g, fd):
        assert np.allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


# ------------------------------------------------------------------ PyTorch autograd


def _torch_model(layer, params):
    """nn.RNN / nn.LSTM (float64) with the layer's weights: weight_ih = Wx, weight_hh = Wh, bias_ih = b, bias_hh = 0."""
    torch = pytest.importorskip("torch")
    cls = torch.nn.LSTM if isinstance(layer, LSTM) else torch.nn.RNN
    kwargs = {} if isinstance(layer, LSTM) else {"nonlinearity": "tanh"}
    module = cls(layer.F, layer.n, **kwargs).double()
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(params["Wx"].copy()))
        module.weight_hh_l0.copy_(torch.from_numpy(params["Wh"].copy()))
        module.bias_ih_l0.copy_(torch.from_numpy(params["b"].copy()))
        module.bias_hh_l0.zero_()
    return module


def _run_layer(layer, T, F, N, seed, need_input=True):
    """The layer alone: forward on a (T, F, N), backward from a random dJ/da_l; returns everything."""
    rng = np.random.default_rng(seed)
    layer.build((T, F))
    specs = layer.parameter_specs()
    theta = np.zeros(sum(p.size for p in specs))
    params = layer.parameter_views(theta)
    layer.initialise(params, rng, "glorot_uniform")
    theta += rng.normal(scale=0.3, size=theta.shape)  # biases away from 0 too
    flat = np.full_like(theta, np.nan)  # backward must overwrite every entry
    grads = layer.parameter_views(flat)
    a = rng.normal(size=(T, F, N))
    out = np.array(layer.forward(a, params, training=True), copy=True)
    G = rng.normal(size=out.shape)
    dx = layer.backward(G.copy(), params, grads, need_input)
    return params, a, out, G, {k: grads[k] for k in ("Wx", "Wh", "b")}, dx


def _torch_run(layer, params, a, G):
    torch = pytest.importorskip("torch")
    module = _torch_model(layer, params)
    x = torch.from_numpy(a.transpose(0, 2, 1).copy()).requires_grad_(True)  # (T, N, F): batch_first=False
    seq, _ = module(x)  # (T, N, n): h_1..h_T
    if layer.seq:
        out = seq.permute(0, 2, 1)  # (T, n, N)
    else:
        out = seq[-1].T  # h_T (n, N)
    out.backward(torch.from_numpy(G))
    grads = {
        "Wx": module.weight_ih_l0.grad.numpy(),
        "Wh": module.weight_hh_l0.grad.numpy(),
        "b": module.bias_ih_l0.grad.numpy(),
    }
    # bias_hh enters z_t exactly as bias_ih does, so its gradient is the same
    assert np.allclose(module.bias_hh_l0.grad.numpy(), grads["b"], rtol=1e-12, atol=1e-14)
    return out.detach().numpy(), grads, x.grad.numpy().transpose(0, 2, 1)


@pytest.mark.parametrize("cls", [RNN, LSTM])
@pytest.mark.parametrize("seq", [False, True])
@pytest.mark.parametrize("T,F,n,N", [(5, 3, 4, 6), (1, 2, 3, 1), (7, 1, 2, 2)])
def test_layer_matches_torch(cls, seq, T, F, n, N):
    pytest.importorskip("torch")
    layer = cls(n, seq)
    params, a, out, G, grads, dx = _run_layer(layer, T, F, N, seed=T * 100 + n)
    t_out, t_grads, t_dx = _torch_run(layer, params, a, G)
    assert out.shape == ((T, n, N) if seq else (n, N))
    assert np.allclose(out, t_out, rtol=1e-10, atol=1e-12)
    for name in ("Wx", "Wh", "b"):
        assert np.allclose(grads[name], t_grads[name], rtol=1e-10, atol=1e-12), name
    assert dx.shape == (T, F, N)
    assert np.allclose(dx, t_dx, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("spec", ["lstm(4)-dense(3)", "rnn(4)-dense(3)", "lstm(3,seq)-dense(3)", "rnn(3,seq)-dense(3)"])
def test_stack_matches_torch_with_a_dense_layer_after(spec):
    torch = pytest.importorskip("torch")
    net = LayerStack(spec, (6, 2), random_state=2)
    X, _ = _data(net, 7)
    layer, dense = net.layers
    module = _torch_model(layer, net.params[0])
    linear = torch.nn.Linear(dense.n_in, dense.n).double()
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(net.params[1]["W"].copy()))
        linear.bias.copy_(torch.from_numpy(net.params[1]["b"].copy()))
    x = torch.from_numpy(X.reshape(7, 6, 2).transpose(1, 0, 2).copy())  # (T, N, F)
    seq, _ = module(x)
    feats = seq.permute(1, 0, 2).reshape(7, -1) if layer.seq else seq[-1]  # a sample's (T, n) flattened in C order
    Yhat = linear(feats)
    Yhat_np = net.forward(X)
    assert np.allclose(Yhat_np, Yhat.detach().numpy(), rtol=1e-10, atol=1e-12)
    # a random dJ/dŶ through both: the stack's own backward pass against autograd
    dY = np.random.default_rng(5).normal(size=(7, dense.n))
    Yhat.backward(torch.from_numpy(dY))
    flat = np.zeros(net.layout.size)
    net.forward_columns(X.T.copy(), training=True)
    net.backward_columns(dY.T.copy(), flat)
    g = dict(zip(net.parameter_names(), net.layout.views(flat)))
    expected = {
        "Wx1": module.weight_ih_l0.grad,
        "Wh1": module.weight_hh_l0.grad,
        "b1": module.bias_ih_l0.grad,
        "W2": linear.weight.grad,
        "b2": linear.bias.grad,
    }
    for name, value in expected.items():
        assert np.allclose(g[name], value.numpy(), rtol=1e-10, atol=1e-12), name


@given(
    kind=st.sampled_from([RNN, LSTM]),
    seq=st.booleans(),
    T=st.integers(1, 6),
    F=st.integers(1, 4),
    n=st.integers(1, 4),
    N=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_property_layer_matches_torch(kind, seq, T, F, n, N, seed):
    pytest.importorskip("torch")
    layer = kind(n, seq)
    params, a, out, G, grads, dx = _run_layer(layer, T, F, N, seed)
    t_out, t_grads, t_dx = _torch_run(layer, params, a, G)
    assert np.allclose(out, t_out, rtol=1e-10, atol=1e-12)
    for name in ("Wx", "Wh", "b"):
        assert np.allclose(grads[name], t_grads[name], rtol=1e-10, atol=1e-12), name
    assert np.allclose(dx, t_dx, rtol=1e-10, atol=1e-12)


@given(
    spec=st.sampled_from(["rnn(2)-dense(2)", "lstm(2)-dense(1)", "lstm(2,seq)-dense(1)", "rnn(2,seq)-lstm(1)"]),
    T=st.integers(1, 4),
    F=st.integers(1, 3),
    N=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_property_stack_matches_central_differences(spec, T, F, N, seed):
    net = LayerStack(spec, (T, F), random_state=seed)
    X, Y = _data(net, N, seed)
    g = net.gradients(X, Y)
    fd = finite_differences(net, X, Y)
    for analytic, numeric in zip(g, fd):
        assert np.allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_backward_without_input_gradient_returns_none_and_the_same_parameter_gradients():
    a = _run_layer(LSTM(3), 4, 2, 5, seed=9, need_input=True)
    b = _run_layer(LSTM(3), 4, 2, 5, seed=9, need_input=False)
    assert b[5] is None
    for name in ("Wx", "Wh", "b"):
        assert np.array_equal(a[4][name], b[4][name])


def test_batch_widths_change_between_calls():
    # buffers are kept per batch width: a forward at another width in between must not disturb the result
    net = LayerStack("lstm(3)-dense(2)", (4, 2), random_state=0)
    X, Y = _data(net, 6)
    first = net.gradients(X, Y).flat.copy()
    net.forward(X[:1])
    net.forward(np.vstack([X, X]))
    assert np.array_equal(net.gradients(X, Y).flat, first)
    # and the samples are independent: the gradient of a batch is the mean of its samples'
    singles = np.mean([net.gradients(X[i : i + 1], Y[i : i + 1]).flat for i in range(6)], axis=0)
    assert np.allclose(first, singles, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------ float32
@pytest.mark.parametrize("spec", ["rnn(4,seq)-dense(2)", "lstm(4)-dense(2)"])
def test_float32_keeps_its_dtype_and_agrees_with_float64(spec):
    net64 = LayerStack(spec, (5, 3), random_state=4)
    net32 = net64.astype(np.float32)
    X, Y = _data(net64, 8)
    g64 = net64.gradients(X, Y)
    g32 = net32.gradients(X.astype(np.float32), Y.astype(np.float32))
    assert g32.flat.dtype == np.float32
    assert net32.forward(X.astype(np.float32)).dtype == np.float32
    assert np.allclose(g32.flat, g64.flat, rtol=1e-3, atol=1e-5)
    assert np.allclose(net32.forward(X.astype(np.float32)), net64.forward(X), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ initialisation, training
def test_lstm_forget_gate_bias_starts_at_one():
    net = LayerStack("lstm(3)-dense(1)", (4, 2), random_state=0)
    b = net.params[0]["b"]
    assert np.array_equal(b, np.r_[np.zeros(3), np.ones(3), np.zeros(6)])
    assert np.all(net.params[0]["Wx"] != 0) and np.all(net.params[0]["Wh"] != 0)
    assert np.array_equal(LayerStack("rnn(3)-dense(1)", (4, 2), random_state=0).params[0]["b"], np.zeros(3))


@pytest.mark.parametrize("spec", ["rnn(8)-dense(1)", "lstm(8)-dense(1)"])
def test_gradient_descent_learns_to_sum_a_sequence(spec):
    # y = the sum of 5 steps of one feature: a recurrent layer must carry it through time
    rng = np.random.default_rng(0)
    X = rng.uniform(-0.5, 0.5, size=(128, 5))
    y = X.sum(axis=1, keepdims=True)
    net = LayerStack(spec, (5, 1), random_state=0)
    start = net.loss(X, y)
    for _ in range(300):
        g = net.gradients(X, y)
        net.theta -= 0.1 * g.flat
    end = net.loss(X, y)
    assert end < 0.05 * start, (start, end)


# ------------------------------------------------------------------ specification, errors
@pytest.mark.parametrize("text", ["rnn(16)", "rnn(16,seq)", "lstm(8)", "lstm(8,seq)"])
def test_spec_round_trips(text):
    (layer,) = parse(text)
    assert layer.spec() == text
    assert parse(layer.spec()) == [layer]
    assert type(layer)(**layer.config()) == layer
    assert layer.seq == text.endswith(",seq)")


def test_spellings_of_the_flag():
    assert parse("lstm(4,seq=true)") == parse("lstm(4,seq)")
    assert parse("rnn(4,seq=no)") == parse("rnn(4)")
    assert parse("rnn(4,seq)") != parse("rnn(4)")
    assert parse("rnn(4)") != parse("lstm(4)")
    assert RNN(4, True) == parse("rnn(4,seq)")[0]


@pytest.mark.parametrize(
    "text,words",
    [
        ("rnn(0)", ["rnn", "positive integer", "'0'"]),
        ("lstm(-3)", ["lstm", "positive integer", "'-3'"]),
        ("lstm(2.5)", ["lstm", "positive integer", "'2.5'"]),
        ("rnn(x)", ["rnn", "positive integer", "'x'"]),
        ("rnn(4,sequence)", ["rnn", "'seq'", "'sequence'"]),
        ("lstm(4,seq=maybe)", ["lstm", "'seq'", "'maybe'"]),
        ("lstm(4,seq,3)", ["lstm(4,seq,3)"]),
        ("lstm(4,units=3)", ["lstm(4,units=3)"]),
        ("lstm", ["lstm"]),
    ],
)
def test_bad_arguments_are_config_errors(text, words):
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert isinstance(info.value, HandgradError) and isinstance(info.value, ValueError)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


@pytest.mark.parametrize("shape,shown", [(64, "64"), ((1, 8, 8), "1x8x8")])
def test_wrong_input_shape_names_the_layer_and_the_shape(shape, shown):
    with pytest.raises(ConfigError) as info:
        LayerStack("lstm(16)-dense(10)", shape)
    message = str(info.value)
    assert "lstm(16)" in message and shown in message and "TxF" in message


def test_a_dense_layer_cannot_feed_a_recurrent_one():
    with pytest.raises(ConfigError, match=r"rnn\(3\).*it would get 5 per sample"):
        LayerStack("dense(5)-rnn(3)", 12)


# ------------------------------------------------------------------ derivation
@pytest.mark.parametrize("text", ["rnn(4)", "lstm(4,seq)"])
def test_derivation_names_shapes_and_the_backward_pass(text):
    net = LayerStack(f"{text}-dense(3)", (6, 2), random_state=0)
    lines = net.layers[0].derivation(1)
    body = "\n".join(lines)
    m = 16 if text.startswith("lstm") else 4
    assert f"({m}, 2)" in body and f"({m}, 4)" in body and f"({m},)" in body  # Wx, Wh, b
    assert "T = 6" in body and r"\delta_t" in body and r"W_{h,1}^T \delta_{t+1}" in body
    assert r"\sum_t \delta_t x_t^T" in body and r"\sum_t \delta_t h_{t-1}^T" in body
    if text.startswith("lstm"):
        assert r"\frac{\partial J}{\partial c_{t+1}} \circ f_{t+1}" in body
        assert "h_1, \\dots, h_{6}" in body
    else:
        assert r"(1 - h_t^2)" in body and "h_{6}$ (the last state)" in body
