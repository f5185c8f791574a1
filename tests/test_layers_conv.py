"""Convolution, max pooling and average pooling: the hand-derived backward passes against
central differences and PyTorch autograd (float64), over shapes, strides and paddings.

The PyTorch side is written here from the layers' published orientation only: an image batch
``(C, H, W, N)`` is torch's ``(N, C, H, W)`` permuted, a convolution's ``W`` of shape
``(F, C·kh·kw)`` is torch's weight ``(F, C, kh, kw)`` flattened row by row, and the dense layer
reads the image flattened in ``(C, H, W)`` order (torch's ``flatten(1)``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from finite_differences import finite_differences
from handgrad.errors import ConfigError
from handgrad.layers import Dense, LayerStack, parse
from handgrad.layers.conv import AvgPool2D, Conv2D, MaxPool2D

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TORCH_ACTIVATIONS = {"identity": lambda t: t, "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


# ---------------------------------------------------------------------- helpers
def _as_torch(x):
    return torch.tensor(np.ascontiguousarray(x), dtype=torch.float64)


def torch_stack(net: LayerStack, X: np.ndarray):
    """Ŷ (N, n_L) of ``net``'s layers rebuilt in torch, and its parameters as torch leaves by handgrad's name."""
    leaves = {}
    a = _as_torch(X).reshape(X.shape[0], *net.input_shape)
    for l, (layer, params) in enumerate(zip(net.layers, net.params), start=1):
        for name in ("W", "b"):
            if name in params:
                leaves[f"{name}{l}"] = _as_torch(params[name]).requires_grad_(True)
        if isinstance(layer, Conv2D):
            F, (kh, kw) = layer.filters, layer.kernel
            weight = leaves[f"W{l}"].reshape(F, a.shape[1], kh, kw)
            a = TF.conv2d(a, weight, leaves[f"b{l}"], stride=layer.stride, padding=layer.pad)
            a = TORCH_ACTIVATIONS[layer.activation.name](a)
        elif isinstance(layer, MaxPool2D):
            a = TF.max_pool2d(a, layer.kernel, layer.stride)
        elif isinstance(layer, AvgPool2D):
            a = TF.avg_pool2d(a, layer.kernel, layer.stride)
        elif isinstance(layer, Dense):
            a = a.flatten(1) @ leaves[f"W{l}"].T + leaves[f"b{l}"]
            a = TORCH_ACTIVATIONS[layer.activation.name](a)
        else:  # an activation layer of its own
            a = TORCH_ACTIVATIONS[layer.activation.name](a)
    return a, leaves


def data(net: LayerStack, n: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, net.n_inputs))
    labels = rng.integers(0, net.n_outputs, n)
    return X, np.eye(net.n_outputs)[labels], labels


def check_against_torch(net: LayerStack, X, Y, labels, tol=1e-10):
    """Ŷ and every dJ/dθ of the softmax cross-entropy (mean over samples) equal torch autograd's."""
    g = net.gradients(X, Y, "softmax_crossentropy")
    Yhat_t, leaves = torch_stack(net, X)
    J_t = TF.cross_entropy(Yhat_t, torch.tensor(labels))
    J_t.backward()
    np.testing.assert_allclose(net.forward(X), Yhat_t.detach().numpy(), rtol=tol, atol=tol)
    assert g.loss == pytest.approx(J_t.item(), rel=tol)
    assert g.names() == list(leaves)
    for name in g.names():
        np.testing.assert_allclose(g[name], leaves[name].grad.numpy(), rtol=1e-8, atol=tol, err_msg=name)


def check_against_differences(net: LayerStack, X, Y, rtol=1e-6, atol=1e-8):
    g = net.gradients(X, Y, "softmax_crossentropy")
    fd = finite_differences(net, X, Y, "softmax_crossentropy")
    for name, analytic, numeric in zip(g.names(), g, fd):
        np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol, err_msg=name)


def run_layer(layer, in_shape, N, seed, dtype=np.float64):
    """One layer alone: a_l for a random a_{l-1} (C, H, W, N), then its backward pass for a random dJ/da_l."""
    rng = np.random.default_rng(seed)
    layer.build(in_shape)
    specs = layer.parameter_specs()
    theta = rng.standard_normal(sum(p.size for p in specs)).astype(dtype)
    grad = np.full_like(theta, np.nan)  # backward must overwrite every entry
    params, grads = layer.parameter_views(theta), layer.parameter_views(grad)
    a = rng.standard_normal((*in_shape, N)).astype(dtype)
    out = layer.forward(a.copy(), params, training=True).copy()
    G = rng.standard_normal(out.shape).astype(dtype)
    da = layer.backward(G.copy(), params, grads, need_input=True)
    return a, params, out, G, grads, (None if da is None else np.array(da))


def torch_layer(layer, a, params, G):
    """The same through torch: a_l and dJ/da_{l-1}, dJ/dW, dJ/db for J = Σ a_l ∘ G."""
    x = _as_torch(np.moveaxis(a, -1, 0)).requires_grad_(True)  # (N, C, H, W)
    leaves = {k: _as_torch(v).requires_grad_(True) for k, v in params.items()}
    if isinstance(layer, Conv2D):
        weight = leaves["W"].reshape(layer.filters, a.shape[0], *layer.kernel)
        y = TORCH_ACTIVATIONS[layer.activation.name](
            TF.conv2d(x, weight, leaves["b"], stride=layer.stride, padding=layer.pad)
        )
    elif isinstance(layer, MaxPool2D):
        y = TF.max_pool2d(x, layer.kernel, layer.stride)
    else:
        y = TF.avg_pool2d(x, layer.kernel, layer.stride)
    (y * _as_torch(np.moveaxis(G, -1, 0))).sum().backward()
    out = np.moveaxis(y.detach().numpy(), 0, -1)
    return out, np.moveaxis(x.grad.numpy(), 0, -1), {k: v.grad.numpy() for k, v in leaves.items()}


def compare_layer(layer, in_shape, N, seed, tol=1e-10):
    a, params, out, G, grads, da = run_layer(layer, in_shape, N, seed)
    out_t, da_t, grads_t = torch_layer(layer, a, params, G)
    assert out.shape == (*layer.out_shape, N) == out_t.shape
    np.testing.assert_allclose(out, out_t, rtol=tol, atol=tol)
    np.testing.assert_allclose(da, da_t, rtol=tol, atol=tol)
    for name in grads:
        np.testing.assert_allclose(grads[name], grads_t[name], rtol=tol, atol=tol, err_msg=name)


# ---------------------------------------------------------------------- every layer and option, in a stack
STACKS = [
    ("conv(3,3x3)-tanh-dense(4)", "2x5x5"),
    ("conv(3,3x3,pad=1)-relu-maxpool(2)-dense(6)-relu-dense(4)", "1x6x6"),
    ("conv(2,3x5,stride=2,pad=1x2)-sigmoid-conv(3,2x2,stride=1x2)-dense(3)", "2x7x9"),
    ("conv(4,3,pad=same)-avgpool(2,stride=1)-conv(2,2x2)-relu-dense(3)", "1x5x4"),
    ("conv(3,2x2)-tanh-maxpool(3,stride=2)-dense(3)", "2x8x7"),  # overlapping windows, the last one dropped
    ("avgpool(2)-conv(2,2x2)-tanh-dense(3)", "3x7x6"),  # pooling first; 7 rows: the last one dropped
    ("conv(2,1x1)-maxpool(2x3,stride=1x2)-tanh-conv(2,3x1,pad=1x0)-dense(3)", "2x5x7"),
    ("conv(3,3x3,stride=3)-relu-avgpool(1x2)-dense(2)", "1x9x8"),
]


@pytest.mark.parametrize("spec,shape", STACKS)
def test_stack_against_torch(spec, shape):
    net = LayerStack(spec, shape, random_state=1)
    X, Y, labels = data(net, 5, seed=2)
    check_against_torch(net, X, Y, labels)


@pytest.mark.parametrize("spec,shape", STACKS)
def test_stack_against_central_differences(spec, shape):
    net = LayerStack(spec, shape, random_state=3)
    X, Y, _ = data(net, 3, seed=4)
    check_against_differences(net, X, Y)


def test_the_brief_model_against_torch_and_differences():
    net = LayerStack("conv(8,3x3,pad=1)-relu-maxpool(2)-dense(64)-relu-dense(10)", "1x8x8", random_state=0)
    X, Y, labels = data(net, 7, seed=0)
    check_against_torch(net, X, Y, labels)
    small = LayerStack("conv(4,3x3,pad=1)-relu-maxpool(2)-dense(5)-relu-dense(3)", "1x6x6", random_state=0)
    X, Y, _ = data(small, 2, seed=1)
    check_against_differences(small, X, Y)


def test_batch_of_one():
    net = LayerStack(
        "conv(2,3x3,stride=2,pad=1)-relu-maxpool(2)-conv(2,1x1)-avgpool(1)-dense(3)", "2x8x8", random_state=5
    )
    X, Y, labels = data(net, 1, seed=5)
    check_against_torch(net, X, Y, labels)
    check_against_differences(net, X, Y)


# ---------------------------------------------------------------------- each layer alone, dJ/da_{l-1} included
@pytest.mark.parametrize(
    "layer,shape",
    [
        (Conv2D(3, "3x3"), (2, 5, 6)),
        (Conv2D(2, "2x3", stride="2x1", pad="1x0", activation="tanh"), (3, 6, 5)),
        (Conv2D(4, 3, pad="same", activation="relu"), (1, 4, 4)),
        (Conv2D(2, 3, stride=3, pad=1), (2, 7, 7)),
        (Conv2D(2, 1), (3, 1, 1)),
        (MaxPool2D(2), (2, 6, 6)),
        (MaxPool2D(2), (2, 7, 5)),
        (MaxPool2D(3, stride=1), (1, 5, 6)),
        (MaxPool2D("2x3", stride="3x1"), (2, 8, 7)),
        (AvgPool2D(2), (2, 6, 6)),
        (AvgPool2D(3, stride=2), (2, 7, 8)),
        (AvgPool2D("1x2", stride=1), (1, 3, 4)),
    ],
    ids=repr,
)
def test_layer_alone_against_torch(layer, shape):
    compare_layer(layer, shape, N=3, seed=0)


def test_maxpool_ties_go_to_the_first_maximum_as_torch():
    layer = MaxPool2D(2)
    layer.build((2, 4, 6))
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2, (2, 4, 6, 3)).astype(np.float64)  # many ties in each window
    out = layer.forward(a, {}, training=True)
    G = rng.standard_normal(out.shape)
    da = np.array(layer.backward(G.copy(), {}, {}, need_input=True))
    _, da_t, _ = torch_layer(layer, a, {}, G)
    np.testing.assert_array_equal(da, da_t)
    # each window's gradient lands on exactly one pixel
    assert np.count_nonzero(da) == np.count_nonzero(G)


def test_pooling_has_no_gradient_to_return_as_first_layer():
    net = LayerStack("maxpool(2)-dense(2)", "1x4x4", random_state=0)
    X, Y, labels = data(net, 2, seed=0)
    check_against_torch(net, X, Y, labels)


def test_conv_first_layer_skips_the_input_gradient():
    layer = Conv2D(2, 3)
    layer.build((1, 4, 4))
    theta = np.ones(sum(p.size for p in layer.parameter_specs()))
    params = layer.parameter_views(theta)
    out = layer.forward(np.ones((1, 4, 4, 2)), params, training=False)
    assert layer.backward(np.ones_like(out), params, layer.parameter_views(np.zeros_like(theta)), False) is None


# ---------------------------------------------------------------------- properties over shapes
@st.composite
def conv_cases(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))  # torch allows pad <= k/2
    H, W = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    assume(H + 2 * ph >= kh and W + 2 * pw >= kw)
    layer = Conv2D(
        draw(st.integers(1, 3)),
        f"{kh}x{kw}",
        stride=f"{draw(st.integers(1, 3))}x{draw(st.integers(1, 3))}",
        pad=f"{ph}x{pw}",
        activation=draw(st.sampled_from(["identity", "tanh", "relu"])),
    )
    return layer, (draw(st.integers(1, 3)), H, W)


@st.composite
def pool_cases(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(kh, 7)), draw(st.integers(kw, 7))
    kind = draw(st.sampled_from([MaxPool2D, AvgPool2D]))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    return kind(f"{kh}x{kw}", stride=stride), (draw(st.integers(1, 3)), H, W)


@given(conv_cases(), st.integers(1, 3), st.integers(0, 2**16))
def test_conv_property_against_torch(case, N, seed):
    layer, shape = case
    compare_layer(layer, shape, N, seed)


@given(pool_cases(), st.integers(1, 3), st.integers(0, 2**16))
def test_pool_property_against_torch(case, N, seed):
    layer, shape = case
    compare_layer(layer, shape, N, seed)


@given(conv_cases(), pool_cases(), st.integers(1, 2), st.integers(0, 2**16))
def test_conv_pool_stack_property_against_differences(conv, pool, N, seed):
    layer, shape = conv
    pool_layer, _ = pool
    out = layer.build(shape)
    assume(out[1] >= pool_layer.kernel[0] and out[2] >= pool_layer.kernel[1])
    # conv → pool → conv(1x1) → dense: dJ/da of the pooling and of the second convolution are both used
    spec = f"{layer.spec()}-{pool_layer.spec()}-conv(2,1x1)-tanh-dense(2)"
    net = LayerStack(spec, shape, random_state=seed)
    X, Y, _ = data(net, N, seed)
    check_against_differences(net, X, Y)


@given(conv_cases())
def test_conv_spec_round_trips(case):
    layer, _ = case
    assert parse(layer.spec()) == [layer]
    assert parse(layer.spec())[0].spec() == layer.spec()


@given(pool_cases())
def test_pool_spec_round_trips(case):
    layer, _ = case
    assert parse(layer.spec()) == [layer]


# ---------------------------------------------------------------------- specification
@pytest.mark.parametrize(
    "text,spec",
    [
        ("conv(8,3)", "conv(8,3x3)"),
        ("conv(8,3x3,pad=1)-relu", "conv(8,3x3,pad=1)-relu"),
        ("conv(8, 3x5, stride=2, pad=1x2)", "conv(8,3x5,stride=2,pad=1x2)"),
        ("conv(8,3x3,stride=1x1,pad=0)", "conv(8,3x3)"),
        ("conv(4,5,pad=same)-tanh", "conv(4,5x5,pad=same)-tanh"),
        ("maxpool(2)", "maxpool(2)"),
        ("maxpool(2,stride=2)", "maxpool(2)"),
        ("maxpool(3,stride=1)", "maxpool(3,stride=1)"),
        ("avgpool(2x3)", "avgpool(2x3)"),
        ("avgpool(2,stride=1x2)", "avgpool(2,stride=1x2)"),
    ],
)
def test_spec_forms(text, spec):
    layers = parse(text)
    assert len(layers) == 1
    assert layers[0].spec() == spec
    assert parse(spec) == layers


def test_same_padding_keeps_the_size_and_differs_from_its_number():
    layer = parse("conv(2,3x5,pad=same)")[0]
    assert layer.build((1, 6, 7)) == (2, 6, 7)
    assert layer.pad == (1, 2)
    assert layer != parse("conv(2,3x5,pad=1x2)")[0]  # same numbers, but written differently in the spec


def test_parameters_and_roles():
    net = LayerStack("conv(8,3x3,pad=1)-relu-maxpool(2)-dense(10)", "2x8x8", random_state=0)
    conv = net.layers[0]
    (W, b) = conv.parameter_specs()
    assert (W.shape, W.role, W.fan_in, W.fan_out) == ((8, 18), "weight", 18, 8)
    assert (b.shape, b.role) == ((8,), "bias")
    assert net.layers[1].out_shape == (8, 4, 4)
    assert net.parameter_names() == ["W1", "b1", "W3", "b3"]
    assert np.all(net.params[0]["b"] == 0) and np.std(net.params[0]["W"]) > 0


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "text,words",
    [
        ("conv(0,3)", ["filters", "'0'"]),
        ("conv(x,3)", ["filters", "'x'"]),
        ("conv(8,0)", ["kernel", "'0'"]),
        ("conv(8,3x3x3)", ["kernel", "3x3x3"]),
        ("conv(8,3x)", ["kernel"]),
        ("conv(8,3,stride=0)", ["stride", "'0'"]),
        ("conv(8,3,pad=-1)", ["pad", "'-1'"]),
        ("conv(8,3,pad=one)", ["pad", "'one'"]),
        ("conv(8,4,pad=same)", ["same", "odd", "4x4"]),
        ("conv(8,3,stride=2,pad=same)", ["same", "stride 2"]),
        ("conv(8)", ["conv(8)"]),
        ("conv(8,3,dilation=2)", ["dilation"]),
        ("maxpool(0)", ["maxpool", "window", "'0'"]),
        ("maxpool(2,stride=1.5)", ["maxpool", "stride", "1.5"]),
        ("avgpool()", ["avgpool"]),
        ("avgpool(2x-1)", ["avgpool", "2x-1"]),
    ],
)
def test_bad_arguments(text, words):
    with pytest.raises(ConfigError) as err:
        parse(text)
    for word in words:
        assert word in str(err.value)


@pytest.mark.parametrize(
    "spec,shape,words",
    [
        ("conv(2,3x3)-dense(2)", "8x8", ["conv(2,3x3)", "CxHxW", "8x8"]),
        ("conv(2,3x3)-dense(2)", "64", ["conv(2,3x3)", "64"]),
        ("conv(2,3x3)-dense(2)", "1x2x8", ["conv(2,3x3)", "H >= 3", "1x2x8"]),
        ("conv(2,3x3,pad=1)-dense(2)", "1x8x0", ["an input shape"]),
        ("conv(2,5x5,pad=1)-dense(2)", "1x8x2", ["W >= 3", "1x8x2"]),
        ("conv(2,3x3)-maxpool(2)-dense(2)", "1x3x8", ["maxpool(2)", "H >= 2", "2x1x6"]),
        ("avgpool(3,stride=1)-dense(2)", "1x8x2", ["avgpool(3,stride=1)", "1x8x2"]),
        ("dense(4)-conv(2,1)-dense(2)", "1x4x4", ["conv(2,1x1)", "4"]),
        ("conv(2,3x3)", "1x4x4", ["dense"]),
    ],
)
def test_wrong_input_shapes(spec, shape, words):
    with pytest.raises(ConfigError) as err:
        LayerStack(spec, shape)
    for word in words:
        assert word in str(err.value)


# ---------------------------------------------------------------------- dtypes
def test_float32_keeps_its_dtype_and_agrees_with_float64():
    spec = "conv(4,3x3,pad=1)-relu-maxpool(2)-conv(3,2x2)-avgpool(1)-dense(5)-relu-dense(3)"
    net64 = LayerStack(spec, "2x8x8", random_state=0)
    net32 = net64.astype(np.float32)
    X, Y, _ = data(net64, 6, seed=0)
    g64 = net64.gradients(X, Y, "softmax_crossentropy")
    g32 = net32.gradients(X.astype(np.float32), Y.astype(np.float32), "softmax_crossentropy")
    assert net32.forward(X.astype(np.float32)).dtype == np.float32
    assert g32.flat.dtype == np.float32
    np.testing.assert_allclose(net32.forward(X), net64.forward(X), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(g32.flat, g64.flat, rtol=1e-3, atol=1e-5)


def test_float32_layer_alone_keeps_its_dtype():
    for layer in (Conv2D(2, 3, pad=1, activation="relu"), MaxPool2D(2), AvgPool2D(2)):
        _, _, out, _, grads, da = run_layer(layer, (2, 4, 4), 3, seed=0, dtype=np.float32)
        assert out.dtype == np.float32 and da.dtype == np.float32
        assert all(g.dtype == np.float32 for g in grads.values())


def test_batch_widths_change_between_calls():
    """Buffers are kept per batch width: alternating widths must not mix batches up."""
    net = LayerStack("conv(3,3x3,pad=1)-relu-maxpool(2)-dense(4)", "1x6x6", random_state=0)
    X, Y, labels = data(net, 9, seed=0)
    whole = net.gradients(X, Y, "softmax_crossentropy").flat.copy()
    part = net.gradients(X[:4], Y[:4], "softmax_crossentropy").flat.copy()
    again = net.gradients(X, Y, "softmax_crossentropy").flat
    np.testing.assert_array_equal(whole, again)
    rest = net.gradients(X[4:], Y[4:], "softmax_crossentropy").flat
    np.testing.assert_allclose((4 * part + 5 * rest) / 9, whole, rtol=1e-12, atol=1e-14)
    check_against_torch(net, X[:1], Y[:1], labels[:1])


def test_derivation_names_the_layer_and_its_shapes():
    net = LayerStack("conv(8,3x3,stride=2,pad=1)-relu-maxpool(2)-avgpool(2)-dense(10)", "2x9x9", random_state=0)
    conv, maxpool, avgpool = (net.layers[i].derivation(i + 1) for i in range(3))
    text = "\n".join(conv)
    assert "conv(8,3x3,stride=2,pad=1)" in text and "(8, 18)" in text and "2y+i-1" in text
    assert r"\delta_1 A_{0}^T" in text and "col2im" in text and r"\max(z, 0)" in text
    assert r"\max_" in "\n".join(maxpool) and "first" in "\n".join(maxpool)
    assert r"\frac{1}{4}" in "\n".join(avgpool)
