"""The Network API: construction, initialisation, forward pass, parameters, state, copies, dtypes."""

from __future__ import annotations

import numpy as np
import pytest

from handgrad import ConfigError, ForwardCache, Gradients, Network, ShapeError
from handgrad.activations import ACTIVATIONS


def small_net(**kwargs):
    return Network([3, 5, 4, 2], random_state=0, **kwargs)


# --- construction and initialisation --------------------------------------------------------------


def test_shapes_follow_the_seed():
    net = Network([37, 128, 64, 1], init="randn", random_state=0)
    assert [W.shape for W in net.weights] == [(128, 37), (64, 128), (1, 64)]
    assert [b.shape for b in net.biases] == [(128,), (64,), (1,)]
    assert net.layer_sizes == [37, 128, 64, 1]
    assert (net.n_layers, net.n_inputs, net.n_outputs) == (3, 37, 1)
    assert [a.name for a in net.activations] == ["relu", "relu", "identity"]
    assert net.dtype == np.float64


@pytest.mark.parametrize(
    ("init", "std"),
    [
        ("randn", lambda fan_in, fan_out: 1.0),
        ("he", lambda fan_in, fan_out: np.sqrt(2 / fan_in)),
        ("he_uniform", lambda fan_in, fan_out: np.sqrt(6 / fan_in) / np.sqrt(3)),
        ("glorot_normal", lambda fan_in, fan_out: np.sqrt(2 / (fan_in + fan_out))),
        ("glorot_uniform", lambda fan_in, fan_out: np.sqrt(6 / (fan_in + fan_out)) / np.sqrt(3)),
        ("xavier", lambda fan_in, fan_out: np.sqrt(6 / (fan_in + fan_out)) / np.sqrt(3)),
    ],
)
def test_init_scales_and_zero_biases(init, std):
    """Entry standard deviation of W_l as documented (within sampling error of 300x400 draws); b_l = 0."""
    net = Network([400, 300, 200], init=init, random_state=1)
    for W, b in zip(net.weights, net.biases):
        fan_out, fan_in = W.shape
        assert W.std() == pytest.approx(std(fan_in, fan_out), rel=0.02)
        assert abs(W.mean()) < 0.05 * std(fan_in, fan_out)
        np.testing.assert_array_equal(b, 0.0)
    if "uniform" in init or init == "xavier":
        W = net.weights[0]
        assert np.abs(W).max() <= np.sqrt(6 / (400 + 300) if "glorot" in init or init == "xavier" else 6 / 400)


def test_random_state_reproducible():
    a, b = small_net(), small_net()
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p, q)
    c = Network([3, 5, 4, 2], random_state=1)
    assert not np.array_equal(a.weights[0], c.weights[0])
    # a Generator is used as is (and advanced)
    rng = np.random.default_rng(0)
    d = Network([3, 5, 4, 2], random_state=rng)
    np.testing.assert_array_equal(d.weights[0], a.weights[0])
    e = Network([3, 5, 4, 2], random_state=rng)
    assert not np.array_equal(e.weights[0], a.weights[0])


def test_per_layer_activation_list():
    net = Network([2, 3, 3, 3, 1], activation=["tanh", "sigmoid", "gelu"], output_activation="softplus")
    assert [a.name for a in net.activations] == ["tanh", "sigmoid", "gelu", "softplus"]
    X = np.array([[0.5, -1.0], [2.0, 0.25]])
    W1, b1, W2, b2, W3, b3, W4, b4 = net.parameters()
    a1 = np.tanh(X @ W1.T + b1)
    a2 = 1 / (1 + np.exp(-(a1 @ W2.T + b2)))
    z3 = a2 @ W3.T + b3
    a3 = 0.5 * z3 * (1 + np.tanh(np.sqrt(2 / np.pi) * (z3 + 0.044715 * z3**3)))
    out = np.log1p(np.exp(a3 @ W4.T + b4))
    np.testing.assert_allclose(net.forward(X), out, rtol=1e-13)


def test_one_layer_network():
    net = Network([4, 2], activation="tanh", output_activation="sigmoid", random_state=0)
    assert [a.name for a in net.activations] == ["sigmoid"]  # no hidden layer: only the output's σ
    X = np.random.default_rng(0).normal(size=(3, 4))
    np.testing.assert_allclose(net.forward(X), 1 / (1 + np.exp(-(X @ net.weights[0].T + net.biases[0]))), rtol=1e-14)


# --- forward pass ----------------------------------------------------------------------------------


def test_forward_is_the_seeds_formula():
    """Ŷ = W3 σ(W2 σ(W1 Xᵀ + b1) + b2) + b3 (§1.1), rows out."""
    net = Network([37, 128, 64, 1], init="randn", random_state=0)
    W1, b1, W2, b2, W3, b3 = net.parameters()
    X = np.random.default_rng(1).random((10, 37))
    relu = lambda z: np.maximum(z, 0)  # noqa: E731
    Yhat = W3 @ relu(W2 @ relu(W1 @ X.T + b1[:, None]) + b2[:, None]) + b3[:, None]  # (1, N)
    out = net.forward(X)
    assert out.shape == (10, 1)
    np.testing.assert_allclose(out, Yhat.T, rtol=1e-12)
    np.testing.assert_array_equal(net(X), out)


def test_forward_columns_caches_every_layer():
    net = small_net(activation="tanh")
    A0 = np.random.default_rng(2).normal(size=(3, 6))  # (n_0, N)
    cache = net.forward_columns(A0)
    assert isinstance(cache, ForwardCache)
    assert [z.shape for z in cache.z] == [(5, 6), (4, 6), (2, 6)]
    assert [a.shape for a in cache.a] == [(3, 6), (5, 6), (4, 6), (2, 6)]
    for l in range(3):
        np.testing.assert_allclose(cache.z[l], net.weights[l] @ cache.a[l] + net.biases[l][:, None], rtol=1e-14)
        np.testing.assert_allclose(cache.a[l + 1], net.activations[l].function(cache.z[l]), rtol=1e-14)
    np.testing.assert_array_equal(cache.output, cache.a[-1])
    np.testing.assert_allclose(net.predict_columns(A0), cache.output, rtol=1e-15)
    np.testing.assert_allclose(net.forward(A0.T), cache.output.T, rtol=1e-15)


def test_forward_single_sample_and_lists():
    net = small_net()
    out = net.forward([[0.1, 0.2, 0.3]])
    assert out.shape == (1, 2)
    np.testing.assert_allclose(out, net.forward(np.array([[0.1, 0.2, 0.3]])), rtol=0)


def test_backward_equals_gradients():
    net = small_net(activation="sigmoid")
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    cache = net.forward_columns(X.T)
    dJ_dYhat = 2 / 5 * (cache.output - Y.T)  # the seed's dJ/dŶ = 2/N (Ŷ − Y)
    g = net.backward(cache, dJ_dYhat)
    ref = net.gradients(X, Y, "mse")
    for name in net.parameter_names():
        np.testing.assert_allclose(g[name], ref[name], rtol=1e-14)
    assert ref.loss == pytest.approx(net.loss(X, Y, "mse"), rel=1e-15)


# --- parameters, names, state ------------------------------------------------------------------------


def test_parameters_are_live_and_named():
    net = small_net()
    names = net.parameter_names()
    assert names == ["W1", "b1", "W2", "b2", "W3", "b3"]
    params = net.parameters()
    assert params[0] is net.weights[0] and params[5] is net.biases[2]
    X = np.ones((1, 3))
    before = net.forward(X)
    params[5] += 1.0  # an optimizer's in-place step is seen by the network
    np.testing.assert_allclose(net.forward(X), before + 1.0, rtol=1e-14)


def test_gradients_object():
    net = small_net()
    rng = np.random.default_rng(0)
    g = net.gradients(rng.normal(size=(4, 3)), rng.normal(size=(4, 2)))
    assert isinstance(g, Gradients)
    assert g.names() == net.parameter_names()
    for (name, arr), p in zip(g.items(), net.parameters()):
        assert arr.shape == p.shape, name
        assert g[name] is arr
    assert g.norm() == pytest.approx(np.sqrt(sum(np.sum(a * a) for a in g)), rel=1e-14)
    for bad in ["W0", "W4", "c1", "W", 3]:
        with pytest.raises(KeyError, match=r"no parameter .*this network has \['W1', 'b1'"):
            g[bad]


def test_state_dict_roundtrip():
    a = small_net()
    state = a.state_dict()
    assert list(state) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    b = Network([3, 5, 4, 2], random_state=99)
    b.load_state_dict(state)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p, q)
        assert p is not q
    # state_dict returns copies: editing it leaves the network alone
    state["W1"][:] = 0
    assert np.abs(a.weights[0]).sum() > 0
    # load copies into the live arrays (same objects an optimizer holds)
    live = b.parameters()[0]
    b.load_state_dict(a.state_dict())
    assert b.parameters()[0] is live


def test_load_state_dict_rejects_bad_state():
    net = small_net()
    state = net.state_dict()
    del state["b2"]
    with pytest.raises(ShapeError, match=r"missing parameter 'b2'"):
        net.load_state_dict(state)
    state = net.state_dict()
    state["W2"] = np.zeros((5, 4))
    with pytest.raises(ShapeError, match=r"W2 has shape \(5, 4\), expected \(4, 5\)"):
        net.load_state_dict(state)


def test_copy_is_independent():
    a = small_net()
    b = a.copy()
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p, q)
        assert not np.shares_memory(p, q)
    b.weights[0][0, 0] += 1.0
    b.biases[1][0] += 1.0
    assert a.weights[0][0, 0] != b.weights[0][0, 0]
    assert a.biases[1][0] != b.biases[1][0]
    assert [x.name for x in b.activations] == [x.name for x in a.activations]


def test_astype():
    a = small_net()
    b = a.astype(np.float32)
    assert b.dtype == np.float32 and a.dtype == np.float64
    np.testing.assert_allclose(b.weights[0], a.weights[0], rtol=1e-7)
    assert not np.shares_memory(a.weights[0], a.astype(np.float64).weights[0])


def test_repr():
    assert repr(small_net()) == ("Network(layer_sizes=[3, 5, 4, 2], activations=[relu, relu, identity], dtype=float64)")


# --- from_arrays ------------------------------------------------------------------------------------


def test_from_arrays_copies_no_aliasing():
    W1, b1 = np.arange(6.0).reshape(3, 2), np.array([1.0, 2.0, 3.0])
    W2, b2 = np.ones((1, 3)), np.array([0.5])
    net = Network.from_arrays([W1, W2], [b1, b2], activation="tanh")
    for mine, theirs in zip(net.parameters(), [W1, b1, W2, b2]):
        np.testing.assert_array_equal(mine, theirs)
        assert not np.shares_memory(mine, theirs)
    W1[0, 0] = 100.0
    assert net.weights[0][0, 0] == 0.0
    net.biases[0][0] = -7.0
    assert b1[0] == 1.0


def test_from_arrays_matlab_column_biases():
    """MATLAB stores b1 as a (n, 1) column: accepted and flattened to (n,)."""
    W = [np.ones((4, 2)), np.ones((1, 4))]
    net = Network.from_arrays(W, [np.arange(4.0).reshape(4, 1), np.array([[0.5]])])
    assert [b.shape for b in net.biases] == [(4,), (1,)]
    np.testing.assert_array_equal(net.biases[0], [0.0, 1.0, 2.0, 3.0])
    ref = Network.from_arrays(W, [np.arange(4.0), np.array([0.5])])
    np.testing.assert_array_equal(net.forward(np.ones((2, 2))), ref.forward(np.ones((2, 2))))


def test_from_arrays_lists_and_dtype_inference():
    net = Network.from_arrays([[[1, 2]], [[3]]], [[0], [1]])  # nested lists of ints
    assert net.dtype == np.float64 and net.layer_sizes == [2, 1, 1]
    f32 = [np.ones((2, 2), np.float32), np.ones((1, 2), np.float32)]
    b32 = [np.zeros(2, np.float32), np.zeros(1, np.float32)]
    assert Network.from_arrays(f32, b32).dtype == np.float32
    assert Network.from_arrays(f32, [np.zeros(2), np.zeros(1)]).dtype == np.float64  # mixed → float64
    assert Network.from_arrays(f32, b32, dtype=np.float64).dtype == np.float64


# --- float32 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("loss", ["mse", "mae", "huber", "binary_crossentropy", "softmax_crossentropy"])
def test_float32_stays_float32(activation, loss):
    """A float32 network computes in float32 (no silent upcast), close to the float64 result."""
    net32 = Network([3, 4, 3], activation=activation, random_state=0, dtype=np.float32)
    net64 = net32.astype(np.float64)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 3))  # float64 input is cast to the network's dtype
    Y = np.eye(3)[rng.integers(0, 3, size=5)]
    w = rng.random(5) + 0.5
    assert net32.forward(X).dtype == np.float32
    cache = net32.forward_columns(X.T.astype(np.float32))
    assert all(z.dtype == np.float32 for z in cache.z) and all(a.dtype == np.float32 for a in cache.a)
    for method in ["backprop", "expanded"]:
        g32 = net32.gradients(X, Y, loss, method=method, sample_weight=w)
        g64 = net64.gradients(X, Y, loss, method=method, sample_weight=w)
        for name, a, b in zip(net32.parameter_names(), g32, g64):
            assert a.dtype == np.float32, (method, name)
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5, err_msg=f"{method} {name}")
    assert isinstance(net32.loss(X, Y, loss), float)


def test_float32_init():
    net = Network([3, 4, 2], dtype=np.float32, random_state=0)
    assert all(p.dtype == np.float32 for p in net.parameters())
    assert net.state_dict()["W1"].dtype == np.float32
    assert net.copy().dtype == np.float32


def test_bad_dtype():
    with pytest.raises(ConfigError, match=r"dtype must be float32 or float64, got int64"):
        Network([2, 1], dtype=np.int64)
    with pytest.raises(ConfigError, match=r"dtype must be float32 or float64, got float16"):
        Network.from_arrays([np.ones((1, 2))], [np.zeros(1)], dtype=np.float16)


def test_predict_columns_reuses_its_buffers_safely_across_networks_widths_and_threads():
    # Network.predict_columns keeps the last network's forward-only buffers for its next call
    # (handgrad.network._PredictBuffers): results must not depend on what was predicted before,
    # by which network, at which width, or in which thread.
    import threading

    from handgrad import network as network_module

    rng = np.random.default_rng(0)
    nets = [
        Network([5, 7, 3], activation="relu", random_state=0),
        Network([5, 9, 4, 3], activation="tanh", random_state=1),
    ]
    chunk = network_module.PREDICT_CHUNK
    widths = [3, chunk, chunk + 5, 2 * chunk + 1]
    data = {N: rng.normal(size=(5, N)) for N in widths}

    def reference(net, A0):  # the forward pass with training buffers of its own, column block by block
        return np.concatenate([net.forward_columns(A0[:, i : i + 1000]).a[-1] for i in range(0, A0.shape[1], 1000)], 1)

    expected = {(k, N): reference(net, data[N]) for k, net in enumerate(nets) for N in widths}
    for k, N in [
        (0, 3),
        (1, 3),
        (0, chunk + 5),
        (0, chunk + 5),
        (1, 2 * chunk + 1),
        (1, chunk + 5),
        (0, chunk),
        (1, 3),
    ]:
        np.testing.assert_allclose(nets[k].predict_columns(data[N]), expected[k, N], rtol=1e-12, atol=1e-12)

    failures = []

    def worker(k, N):
        try:
            for _ in range(20):
                if not np.allclose(nets[k].predict_columns(data[N]), expected[k, N], rtol=1e-12, atol=1e-12):
                    failures.append((k, N))
        except Exception as exc:  # an exception in a thread would otherwise be a warning only
            failures.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(k % 2, widths[k % 4])) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_predict_columns_keeps_no_large_buffers():
    # A wide network's forward-only buffers (here [a_1; 1] of 4201 x 2048 float32: 34 MB) are not kept
    # after the call: memory held between predictions stays bounded (KEEP_BYTES, 32 MB).
    from handgrad import network as network_module

    net = Network([3, 4200, 1], random_state=0, dtype=np.float32)
    small = Network([3, 4, 1], random_state=0)
    small.predict_columns(np.ones((3, 10)))
    assert network_module._PREDICT_BUFFERS._by_width  # a small network's buffers are kept
    net.predict_columns(np.ones((3, 2048)))
    buffers = network_module._PREDICT_BUFFERS
    kept = sum(A.nbytes for ws in buffers._by_width.values() for A in ws.A[1:] if A is not None)
    assert kept <= buffers.KEEP_BYTES
