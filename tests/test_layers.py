"""The layer framework (handgrad.layers): the specification syntax, LayerStack over one flat buffer,
training, the estimators, model files, the command line and ``derive --layers``.

Each layer type's own mathematics is tested in tests/test_layers_<type>.py.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import handgrad
from finite_differences import finite_differences
from handgrad import MLPClassifier, MLPRegressor, Network
from handgrad.errors import ConfigError, HandgradError, ModelFileError, ShapeError
from handgrad.layers import Dense, LayerStack, parse, parse_shape, to_text
from handgrad.modelfile import load_model
from handgrad.training.loop import train

HIDDEN_ACTS = ["identity", "relu", "tanh", "sigmoid", "leaky_relu", "softplus", "elu", "gelu"]


# ------------------------------------------------------------------ the specification syntax
def test_parse_fuses_an_activation_into_the_dense_layer_before_it():
    layers = parse("dense(64)-relu-dense(10)")
    assert len(layers) == 2
    assert isinstance(layers[0], Dense) and layers[0].n == 64 and layers[0].activation.name == "relu"
    assert layers[1].activation.name == "identity"
    assert to_text(layers) == "dense(64)-relu-dense(10)"


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("dense(64)-foo(3)", "unknown layer 'foo'"),
        ("dense(0)", "positive integer"),
        ("dense(x)", "positive integer"),
        ("dense(64", "without its ')'"),
        ("dense64)", "without its '('"),
        ("dense(64)--dense(3)", "cannot read layer"),
        ("", "non-empty"),
        ("dense(3,4)", "dense(3,4)"),
    ],
)
def test_a_wrong_specification_names_the_layer(spec, fragment):
    with pytest.raises(ConfigError, match=None) as info:
        parse(spec)
    assert fragment in str(info.value)


@pytest.mark.parametrize("text, shape", [("1x8x8", (1, 8, 8)), ("8x8", (8, 8)), (37, (37,)), ((3, 4), (3, 4))])
def test_parse_shape(text, shape):
    assert parse_shape(text) == shape


@pytest.mark.parametrize("bad", ["0x8", "x", "8x-1", 0, 2.5, None, ""])
def test_parse_shape_refuses_junk(bad):
    with pytest.raises(ConfigError, match="input shape"):
        parse_shape(bad)


def test_a_stack_must_end_in_a_vector_per_sample():
    with pytest.raises(ConfigError, match=r"end them with dense\(n\)"):
        LayerStack("relu", (2, 3))


# ------------------------------------------------------------------ a dense stack is the dense network
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    acts=st.data(),
    N=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_a_stack_of_dense_layers_computes_what_the_network_does(sizes, acts, N, seed):
    hidden = [acts.draw(st.sampled_from(HIDDEN_ACTS)) for _ in sizes[1:-1]]
    spec = "-".join(
        f"dense({n})" + ("" if a == "identity" else f"-{a}") for n, a in zip(sizes[1:], [*hidden, "identity"])
    )
    stack = LayerStack(spec, sizes[0], random_state=seed)
    net = Network.from_arrays(
        [p["W"].copy() for p in stack.params], [p["b"].copy() for p in stack.params], activation=hidden or "relu"
    )
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(N, sizes[0])), rng.normal(size=(N, sizes[-1]))
    np.testing.assert_array_equal(stack.forward(X), net.forward(X))
    g_stack, g_net = stack.gradients(X, y, "mse"), net.gradients(X, y, loss="mse")
    for name in net.parameter_names():
        np.testing.assert_allclose(g_stack[name], g_net[name], rtol=1e-13, atol=1e-15)


def test_stack_gradients_match_central_differences():
    rng = np.random.default_rng(0)
    stack = LayerStack("dense(5)-tanh-dense(4)-sigmoid-dense(3)", "2x3", random_state=1)
    X, y = rng.normal(size=(6, 6)), np.eye(3)[rng.integers(0, 3, 6)]
    g = stack.gradients(X, y, "softmax_crossentropy")
    fd = finite_differences(stack, X, y, "softmax_crossentropy")
    for name, numeric in zip(stack.parameter_names(), fd):
        np.testing.assert_allclose(g[name], numeric, rtol=1e-6, atol=1e-9)


def test_parameters_are_views_of_one_flat_buffer():
    stack = LayerStack("dense(4)-relu-dense(2)", 3, random_state=0)
    params = stack.parameters()
    assert params is stack.parameters()  # an optimizer binds to these very arrays
    assert sum(p.size for p in params) == stack.theta.size == 4 * 4 + 2 * 5
    stack.theta[:] = np.arange(stack.theta.size)
    assert all(np.shares_memory(p, stack.theta) for p in params)
    assert stack.params[0]["W"][1, 2] == stack.theta[2 * 4 + 1]  # [W | b] stored column by column


def test_state_dict_round_trip_and_copy():
    stack = LayerStack("dense(4)-relu-dense(2)", 3, random_state=0)
    other = stack.copy()
    np.testing.assert_array_equal(other.theta, stack.theta)
    other.theta += 1
    assert not np.array_equal(other.theta, stack.theta)
    other.load_state_dict(stack.state_dict())
    np.testing.assert_array_equal(other.theta, stack.theta)
    with pytest.raises(ShapeError, match="W1"):
        other.load_state_dict({**stack.state_dict(), "W1": np.zeros((2, 2))})


# ------------------------------------------------------------------ training
def test_train_runs_a_stack_and_lowers_the_loss():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.normal(size=200)
    stack = LayerStack("dense(16)-tanh-dense(1)", 4, random_state=0)
    before = stack.loss(X, y)
    hist = train(stack, X, y, optimizer="adam", lr=1e-2, epochs=30, batch_size=16, random_state=0)
    assert stack.loss(X, y) < before / 10
    assert len(hist) == 30


def test_a_stack_trains_as_the_same_dense_network_does():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(50, 3)), rng.normal(size=50)
    stack = LayerStack("dense(6)-relu-dense(1)", 3, random_state=0)
    net = Network.from_arrays([p["W"].copy() for p in stack.params], [p["b"].copy() for p in stack.params])
    for model in (stack, net):
        train(model, X, y, optimizer="adam", epochs=5, batch_size=8, random_state=3, engine="numpy")
    np.testing.assert_allclose(stack.theta, net.theta, rtol=1e-12, atol=1e-14)


def test_clip_norm_bounds_every_step():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 3)), 100 * rng.normal(size=8)
    net = Network([3, 5, 1], random_state=0)
    theta0 = net.theta.copy()
    train(net, X, y, optimizer="sgd", lr=1.0, epochs=1, batch_size=8, shuffle=False, clip_norm=0.5, engine="numpy")
    step = net.theta - theta0
    assert np.linalg.norm(step) == pytest.approx(0.5, rel=1e-12)  # the gradient was larger: clipped to 0.5
    # and without clipping the same step is the full gradient, far longer
    net2 = Network([3, 5, 1], random_state=0)
    g = net2.gradients(X, y, loss="mse")
    assert g.norm() > 0.5
    train(net2, X, y, optimizer="sgd", lr=1.0, epochs=1, batch_size=8, shuffle=False, engine="numpy")
    np.testing.assert_allclose(step, (net2.theta - theta0) * 0.5 / g.norm(), rtol=1e-10, atol=1e-12)


def test_clip_norm_is_checked_and_refuses_the_compiled_engine():
    X, y = np.ones((4, 2)), np.ones(4)
    with pytest.raises(ConfigError, match="clip_norm"):
        train(Network([2, 1]), X, y, clip_norm=-1.0)
    pytest.importorskip("numba")
    with pytest.raises(ConfigError, match="clip_norm"):
        train(Network([2, 1]), X, y, clip_norm=1.0, engine="compiled")


@pytest.mark.parametrize(
    "kw, fragment",
    [({"mode": "seed"}, "mode='seed'"), ({"gradient": "expanded"}, "gradient='expanded'"), ({"device": "meta"}, "")],
)
def test_a_stack_refuses_what_it_does_not_do(kw, fragment):
    stack = LayerStack("dense(2)-dense(1)", 2)
    with pytest.raises(HandgradError) as info:
        train(stack, np.ones((4, 2)), np.ones(4), **kw)
    assert fragment in str(info.value)


# ------------------------------------------------------------------ estimators, model files, the command line
def test_estimators_take_layers_and_save_and_load_them(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    est = MLPClassifier(layers="dense(16)-tanh-dense(8)-relu", input_shape="2x3", max_iter=100, random_state=0).fit(
        X, y
    )
    assert isinstance(est.network_, LayerStack)
    assert est.network_.spec == "dense(16)-tanh-dense(8)-relu-dense(3)"
    assert est.score(X, y) > 0.8
    est.save(tmp_path / "m.npz")
    back = handgrad.load(tmp_path / "m.npz")
    assert type(back) is MLPClassifier and back.input_shape == "2x3"
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
    reg = MLPRegressor(layers="dense(8)-tanh", max_iter=5, random_state=0).fit(X, X[:, 0])
    assert reg.network_.spec == "dense(8)-tanh-dense(1)"


def test_the_same_estimator_gives_the_same_weights_for_the_same_seed():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)), rng.normal(size=60)
    a = MLPRegressor(layers="dense(8)-relu", max_iter=3, random_state=5).fit(X, y)
    b = MLPRegressor(layers="dense(8)-relu", max_iter=3, random_state=5).fit(X, y)
    np.testing.assert_array_equal(a.network_.theta, b.network_.theta)


@pytest.mark.parametrize(
    "kw, error, fragment",
    [
        ({"layers": "dense(8)-nope"}, ConfigError, "unknown layer 'nope'"),
        ({"layers": "dense(8)", "input_shape": "3x3"}, ShapeError, "9 values per sample"),
        ({"input_shape": "2x2"}, ConfigError, "input_shape applies with layers"),
        ({"layers": "dense(8)", "clip_norm": 0.0}, ConfigError, "clip_norm"),
    ],
)
def test_estimator_layer_settings_are_checked(kw, error, fragment):
    with pytest.raises(error) as info:
        MLPRegressor(max_iter=1, **kw).fit(np.ones((10, 4)), np.arange(10.0))
    assert fragment in str(info.value)


def _stack_file(tmp_path):
    est = MLPRegressor(layers="dense(4)-relu", max_iter=1, random_state=0).fit(np.eye(5), np.arange(5.0))
    path = tmp_path / "m.npz"
    est.save(path)
    return path


def test_a_model_file_with_a_tampered_specification_is_refused_without_allocating(tmp_path):
    import json
    import zipfile

    path = _stack_file(tmp_path)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    key = next(n for n in members if "metadata" in n)
    arr = np.load(path)[key.removesuffix(".npy")]
    doc = json.loads(bytes(arr).decode())
    doc["architecture"]["layers"] = "dense(4000000000)-relu-dense(1)"  # asks for 20e9 numbers
    tampered = tmp_path / "bad.npz"
    data = dict(np.load(path))
    data[key.removesuffix(".npy")] = np.frombuffer(json.dumps(doc).encode(), np.uint8)
    # the digests are of the arrays, not the document: the file reads, its architecture must not fit
    np.savez(tampered, **data)
    with pytest.raises(ModelFileError, match="W1 has shape"):
        load_model(tampered)


def test_cli_trains_predicts_and_derives_with_layers(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    y = X[:, 0] - X[:, 3]
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,c,d,y\n" + "\n".join(",".join(f"{v:.6f}" for v in [*r, t]) for r, t in zip(X, y)) + "\n")
    model = tmp_path / "m.npz"
    run = [sys.executable, "-m", "handgrad"]
    out = subprocess.run(
        [*run, "train", "--train", str(csv), "--target", "y", "--layers", "dense(8)-tanh", "--input-shape", "2x2",
         "--epochs", "3", "--clip-norm", "5", "-o", str(model), "--quiet"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    est = handgrad.load(model)
    assert est.network_.spec == "dense(8)-tanh-dense(1)" and est.clip_norm == 5
    bad = subprocess.run(
        [*run, "train", "--train", str(csv), "--target", "y", "--layers", "dense(8)", "--hidden", "4"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "--layers" in bad.stderr
    der = subprocess.run(
        [*run, "derive", "--input-shape", "2x2", "--layers", "dense(3)-tanh-dense(2)", "--loss",
         "softmax_crossentropy", "--check"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert der.returncode == 0, der.stderr
    assert "Layer 1: dense(3) (tanh)" in der.stdout and "PASS" in der.stdout
    wrong = subprocess.run([*run, "derive", "--input-shape", "2x2", "--layers", "dense(3)-conv3"],
                           capture_output=True, text=True)  # fmt: skip
    assert wrong.returncode == 2 and "unknown layer" in wrong.stderr and "Traceback" not in wrong.stderr


def test_derive_check_fails_for_a_wrong_backward_pass(monkeypatch):
    from handgrad.layers import dense as dense_module
    from handgrad.teaching.layers import LayerDerivation

    real = dense_module.ActivationLayer.backward

    def wrong(self, grad_out, params, grads, need_input):
        out = real(self, grad_out, params, grads, need_input)
        return None if out is None else 1.1 * out  # a 10 % error in dJ/da_{l-1}

    monkeypatch.setattr(dense_module.ActivationLayer, "backward", wrong)
    # softplus after a dense layer that has its activation already is a layer of its own:
    der = LayerDerivation("dense(3)-tanh-softplus-dense(2)", 4, "mse")
    assert any(type(x).__name__ == "ActivationLayer" for x in der.stack.layers)
    assert not der.check().ok


# ------------------------------------------------------------------ every layer type together
@st.composite
def layer_stacks(draw):
    """A small random stack of the layer types (images, sequences or vectors), ending in dense(k)."""
    kind = draw(st.sampled_from(["image", "sequence", "vector"]))
    act = st.sampled_from(["relu", "tanh", "sigmoid", "elu"])
    parts: list[str] = []
    if kind == "image":
        C, H = draw(st.integers(1, 2)), draw(st.integers(4, 6))
        shape = f"{C}x{H}x{H}"
        parts.append(f"conv({draw(st.integers(1, 3))},3x3,pad=1)" + draw(st.sampled_from(["", "-relu", "-tanh"])))
        if draw(st.booleans()):
            parts += ["batchnorm", draw(act)]
        parts.append(draw(st.sampled_from(["maxpool(2)", "avgpool(2)"])))
        if draw(st.booleans()):
            parts.append(f"conv(2,{draw(st.sampled_from(['1x1', '2x2']))})-{draw(act)}")
    elif kind == "sequence":
        T, F = draw(st.integers(1, 4)), draw(st.integers(1, 3))
        shape = f"{T}x{F}"
        if draw(st.booleans()):
            parts.append(f"{draw(st.sampled_from(['rnn', 'lstm']))}({draw(st.integers(1, 3))},seq)")
        parts.append(f"{draw(st.sampled_from(['rnn', 'lstm']))}({draw(st.integers(1, 4))})")
    else:
        shape = str(draw(st.integers(1, 5)))
        parts.append(f"dense({draw(st.integers(1, 5))})")
        if draw(st.booleans()):
            parts.append("batchnorm")
        parts.append(draw(act))
    if draw(st.booleans()):
        parts.append("layernorm")
    if draw(st.booleans()):
        parts.append("dropout(0.3)")
    parts.append(f"dense({draw(st.integers(2, 3))})")
    return "-".join(parts), shape


@given(stack=layer_stacks(), loss=st.sampled_from(["mse", "softmax_crossentropy"]), seed=st.integers(0, 2**16),
       batch=st.integers(1, 3))  # fmt: skip
def test_derive_check_passes_for_random_stacks_of_every_layer_type(stack, loss, seed, batch):
    from handgrad.teaching.layers import LayerDerivation

    spec, shape = stack
    der = LayerDerivation(spec, shape, loss)
    text = der.render()
    for l in range(1, der.stack.n_layers + 1):
        assert f"Layer {l}" in text
    report = der.check(batch=batch, random_state=seed, max_entries=20)
    assert report.ok, f"{spec} on {shape}:\n{report}"


# ------------------------------------------------------------------ memory: refused with the figures, before allocating
def test_a_stack_too_large_for_the_machine_is_refused_before_allocating():
    from handgrad._memory import MemoryLimitError

    with pytest.raises(MemoryLimitError, match=r"10,001,300,001 parameters needs about .* GiB"):
        LayerStack("dense(100000)-dense(100000)-dense(1)", 10)
    X = np.zeros((20, 3 * 500 * 500), np.float32)
    with pytest.raises(MemoryLimitError, match=r"training the layers 'conv\(256,5x5,pad=2\)-dense\(1\)' on 20 rows"):
        MLPRegressor(layers="conv(256,5x5,pad=2)", input_shape="3x500x500", max_iter=1).fit(X, np.zeros(20))


def test_derive_check_too_large_is_one_line_and_exit_2():
    out = subprocess.run(
        [sys.executable, "-m", "handgrad", "derive", "--input-shape", "64x1000x1000", "--layers",
         "conv(64,3x3)-dense(2)", "--check"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "needs about" in out.stderr and "GiB" in out.stderr


def test_a_stack_file_is_format_version_2_so_that_older_readers_say_upgrade(tmp_path):
    import json
    import zipfile

    from handgrad.modelfile import FORMAT_VERSION

    path = _stack_file(tmp_path)
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if "metadata" in n)
    doc = json.loads(bytes(np.load(path)[name.removesuffix(".npy")]).decode())
    assert doc["format_version"] == FORMAT_VERSION == 2
    assert doc["architecture"]["layers"] == "dense(4)-relu-dense(1)" and doc["architecture"]["input_shape"] == [5]
