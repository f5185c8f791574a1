"""Every activation: its derivative, its stability, its dtype, and PyTorch's definition."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from handgrad import Activation, ConfigError, Network, get_activation
from handgrad.activations import ACTIVATIONS

NAMES = sorted(ACTIVATIONS)
KINKED = {"relu", "leaky_relu", "elu"}  # ELU with α = 1 is C¹, but its second derivative jumps at 0


def grid_off_kink():
    """z in [-6, 6], with the points within 1e-3 of 0 removed (the kink of ReLU-like σ)."""
    z = np.linspace(-6.0, 6.0, 1201)
    return z[np.abs(z) > 1e-3]


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_central_differences(name):
    act = ACTIVATIONS[name]
    z = grid_off_kink()
    eps = 1e-6
    numeric = (act.function(z + eps) - act.function(z - eps)) / (2 * eps)
    np.testing.assert_allclose(act.derivative(z), numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", [n for n in NAMES if ACTIVATIONS[n].derivative_from_output is not None])
def test_derivative_from_output_agrees_with_derivative(name):
    act = ACTIVATIONS[name]
    z = np.concatenate([grid_off_kink(), [-50.0, -20.0, 20.0, 50.0]])
    a = act.function(z)
    np.testing.assert_allclose(act.derivative_from_output(a), act.derivative(z), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(act.grad(z, a), act.derivative(z), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_grad_uses_z_when_no_output_form(name):
    act = ACTIVATIONS[name]
    z = grid_off_kink()
    np.testing.assert_allclose(act.grad(z, act.function(z)), act.derivative(z), rtol=1e-12, atol=1e-15)


HUGE = np.array([-1e4, -1e3, -746.0, -710.0, -100.0, -1.0, 0.0, 1.0, 100.0, 710.0, 746.0, 1e3, 1e4])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", NAMES)
def test_no_overflow_for_huge_inputs(name, dtype):
    """No overflow / invalid / divide-by-zero for |z| up to 1e4, and finite results.

    Underflow is allowed: e^{-1e4} rounding to 0 is the correct limit.
    """
    act = ACTIVATIONS[name]
    z = HUGE.astype(dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        warnings.simplefilter("error")
        a = act.function(z)
        outs = [a, act.derivative(z), act.grad(z, a)]
    for out in outs:
        assert np.all(np.isfinite(out)), (name, out)


def test_limits_for_huge_inputs():
    """The stable forms give the right limits, not just finite numbers."""
    z = np.array([-1e4, 1e4])
    np.testing.assert_array_equal(ACTIVATIONS["sigmoid"].function(z), [0.0, 1.0])
    np.testing.assert_array_equal(ACTIVATIONS["sigmoid"].derivative(z), [0.0, 0.0])
    np.testing.assert_array_equal(ACTIVATIONS["softplus"].function(z), [0.0, 1e4])
    np.testing.assert_array_equal(ACTIVATIONS["softplus"].derivative(z), [0.0, 1.0])
    np.testing.assert_array_equal(ACTIVATIONS["tanh"].function(z), [-1.0, 1.0])
    np.testing.assert_array_equal(ACTIVATIONS["elu"].function(z), [-1.0, 1e4])
    np.testing.assert_array_equal(ACTIVATIONS["gelu"].function(z), [0.0, 1e4])
    np.testing.assert_array_equal(ACTIVATIONS["gelu"].derivative(z), [0.0, 1.0])


def test_sigmoid_keeps_relative_precision_far_left():
    """σ(z) ≈ e^z for very negative z: the logaddexp form keeps full relative precision there."""
    z = np.array([-700.0, -300.0, -40.0])
    np.testing.assert_allclose(ACTIVATIONS["sigmoid"].function(z), np.exp(z) / (1 + np.exp(z)), rtol=1e-13)


def test_relu_derivative_at_zero_is_zero():
    """The seed's ``ReLU_deriv(x) = x > 0``: 0 at exactly 0 (also through the output form)."""
    relu = ACTIVATIONS["relu"]
    z = np.array([-1.0, 0.0, -0.0, 1e-300, 1.0])
    np.testing.assert_array_equal(relu.derivative(z), [0.0, 0.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(relu.grad(z, relu.function(z)), [0.0, 0.0, 0.0, 1.0, 1.0])


def test_leaky_relu_values():
    lrelu = ACTIVATIONS["leaky_relu"]
    z = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(lrelu.function(z), [-0.02, 0.0, 3.0])
    np.testing.assert_array_equal(lrelu.derivative(z), [0.01, 0.01, 1.0])  # 0.01 at 0, as torch


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_dtype_preserved(name, dtype):
    """float32 in, float32 out: no silent upcast inside an activation or its derivative."""
    act = ACTIVATIONS[name]
    z = np.linspace(-3, 3, 13).astype(dtype)
    a = act.function(z)
    assert a.dtype == dtype
    assert act.derivative(z).dtype == dtype
    # The output form may be boolean (ReLU's 1[a > 0]) for an in-place product; the product keeps the dtype.
    d = z.copy()
    d *= act.grad(z, a)
    assert d.dtype == dtype


TORCH_NAMES = {
    "identity": lambda F, z: z,
    "relu": lambda F, z: F.relu(z),
    "leaky_relu": lambda F, z: F.leaky_relu(z, 0.01),
    "sigmoid": lambda F, z: F.sigmoid(z),
    "tanh": lambda F, z: F.tanh(z),
    "softplus": lambda F, z: F.softplus(z),
    "elu": lambda F, z: F.elu(z),
    "gelu": lambda F, z: F.gelu(z, approximate="tanh"),
}


@pytest.mark.parametrize("name", NAMES)
def test_function_and_derivative_match_torch(name):
    """Value and autograd derivative of torch's own implementation, on [-10, 10] and at 0 exactly."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    z = np.concatenate([np.linspace(-10, 10, 2001), [0.0]])
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    out = TORCH_NAMES[name](F, zt)
    out.sum().backward()
    act = ACTIVATIONS[name]
    np.testing.assert_allclose(act.function(z), out.detach().numpy(), rtol=1e-13, atol=1e-15)
    # atol 1e-13: in GELU's far-left tail (z ≈ -7) the derivative is ~5e-15, which torch's
    # differently ordered expression rounds to 0.
    np.testing.assert_allclose(act.derivative(z), zt.grad.numpy(), rtol=1e-12, atol=1e-13)


def test_gelu_is_the_tanh_approximation():
    """Written out here: ½ z (1 + tanh(√(2/π)(z + 0.044715 z³))), distinct from the exact erf form."""
    import math

    gelu = ACTIVATIONS["gelu"]
    for z in [-3.0, -1.0, -0.5, 0.0, 0.7, 2.0, 4.0]:
        tanh_form = 0.5 * z * (1 + math.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)))
        assert gelu.function(np.array([z]))[0] == pytest.approx(tanh_form, rel=1e-14, abs=1e-300)
    exact = 0.5 * 2.0 * (1 + math.erf(2.0 / math.sqrt(2)))
    assert abs(gelu.function(np.array([2.0]))[0] - exact) > 1e-5  # it is not the exact erf GELU


# --- user-supplied (function, derivative) pairs -------------------------------------------


def swish(z):
    """z σ(z) (written here, not in handgrad)."""
    return z / (1 + np.exp(-z))


def swish_deriv(z):
    s = 1 / (1 + np.exp(-z))
    return s + z * s * (1 - s)


def test_user_pair_resolves_to_activation():
    act = get_activation((swish, swish_deriv))
    assert isinstance(act, Activation)
    assert act.name == "swish"
    assert get_activation((lambda z: z, lambda z: np.ones_like(z))).name == "custom"
    z = np.array([-1.0, 0.5, 2.0])
    np.testing.assert_array_equal(act.function(z), swish(z))
    np.testing.assert_array_equal(act.grad(z, act.function(z)), swish_deriv(z))


@pytest.mark.parametrize("where", ["hidden", "output", "per_layer"])
def test_user_pair_works_in_network_and_gradients(where):
    """A (function, derivative) pair as hidden σ, output σ, or in a per-layer list: both methods = finite differences."""
    rng = np.random.default_rng(4)
    pair = (swish, swish_deriv)
    if where == "hidden":
        kwargs = {"activation": pair}
    elif where == "output":
        kwargs = {"activation": "tanh", "output_activation": pair}
    else:
        kwargs = {"activation": ["tanh", pair]}
    net = Network([3, 4, 5, 2], random_state=1, init="glorot_normal", **kwargs)
    X, Y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    g_bp = net.gradients(X, Y, "mse", method="backprop")
    g_ex = net.gradients(X, Y, "mse", method="expanded")
    eps = 1e-6
    for name, p, gb, ge in zip(net.parameter_names(), net.parameters(), g_bp, g_ex):
        np.testing.assert_allclose(ge, gb, rtol=1e-10, atol=1e-13, err_msg=name)
        numeric = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            J_plus = net.loss(X, Y)
            p[idx] = old - eps
            J_minus = net.loss(X, Y)
            p[idx] = old
            numeric[idx] = (J_plus - J_minus) / (2 * eps)
        np.testing.assert_allclose(gb, numeric, rtol=1e-6, atol=1e-9, err_msg=name)
    # The pair is really used: the forward pass equals swish written out.
    if where == "hidden":
        W1, b1, W2, b2, W3, b3 = net.parameters()
        expected = swish(swish(X @ W1.T + b1) @ W2.T + b2) @ W3.T + b3
        np.testing.assert_allclose(net.forward(X), expected, rtol=1e-13)


def test_aliases_and_case():
    assert get_activation("linear").name == "identity"
    assert get_activation("logistic").name == "sigmoid"
    assert get_activation("Leaky-ReLU").name == "leaky_relu"
    assert get_activation("ReLU").name == "relu"
    assert get_activation(ACTIVATIONS["tanh"]) is ACTIVATIONS["tanh"]


def test_unknown_activation_names_known_ones():
    with pytest.raises(ConfigError, match=r"unknown activation 'swishy'.*'relu'.*'sigmoid'"):
        get_activation("swishy")
    with pytest.raises(ConfigError, match="unknown activation 3"):
        get_activation(3)


# --- the He/Glorot choice lives on the activation (issue 8, item 5) -------------------------------
def test_each_activation_declares_its_initialisation():
    from handgrad import init as init_module
    from handgrad.init import INITS, default_init

    # The former table init.RELU_LIKE, written out: He for these, Glorot for the rest.
    relu_like = {"relu", "leaky_relu", "elu", "gelu", "softplus"}
    for name, act in ACTIVATIONS.items():
        assert act.init in INITS, name
        assert default_init(name) == ("he" if name in relu_like else "glorot_uniform"), name
        assert default_init(act) == act.init
    assert not hasattr(init_module, "RELU_LIKE")
    # Aliases resolve first ("leakyrelu" was Glorot by accident before), unknown names stay Glorot.
    assert default_init("leakyrelu") == "he" and default_init("logistic") == "glorot_uniform"
    assert default_init("") == "glorot_uniform" and default_init("no_such") == "glorot_uniform"


def test_a_new_activation_brings_its_initialisation_with_it():
    from handgrad.init import default_init

    def swish(z):
        return z / (1 + np.exp(-z))

    def swish_deriv(z):
        s = 1 / (1 + np.exp(-z))
        return s + z * s * (1 - s)

    act = Activation("swish", swish, swish_deriv, init="he")
    assert default_init(act) == "he"
    assert default_init(Activation("odd", swish, swish_deriv)) == "glorot_uniform"
