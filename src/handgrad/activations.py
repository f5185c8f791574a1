r"""Activation functions σ, each with its derivative σ' beside it.

The seed writes ``a_l = σ(z_l)`` and, in backpropagation (§1.3),
``delta_l = (W_{l+1}ᵀ delta_{l+1}) ∘ σ'(z_l)``. Every activation here is an
:class:`Activation` holding exactly those two functions. Both act elementwise on
an array of any shape (inside the engine, ``(n_l, batch)``).

Each docstring states the expression the code computes. Forms are chosen to be
numerically stable: no overflow warning for ``|z|`` up to 1e4 and beyond.

Every function is written against the array API namespace of its argument
(``xp = namespace(z)``: NumPy itself for NumPy arrays), so it runs on torch tensors,
CuPy arrays and any array API library's arrays too (:mod:`handgrad.backend`).

A user-supplied pair works wherever a name does::

    >>> import numpy as np
    >>> cube = Activation("cube", lambda z: z**3, lambda z: 3 * z**2)
    >>> get_activation(cube).derivative(np.array([2.0]))
    array([12.])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .backend import astype, namespace
from .errors import ConfigError

ArrayFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Activation:
    """An elementwise activation σ and its derivative σ'.

    Parameters
    ----------
    name : str
        The name used in model files, derivations and messages.
    function : callable
        ``σ(z)``: array of any shape → array of the same shape.
    derivative : callable
        ``σ'(z)``: the derivative at the *pre-activation* ``z`` (as the seed's
        ``ReLU_deriv(z2)``), same shape in and out.
    derivative_from_output : callable or None
        Optional ``σ'`` written in terms of the output ``a = σ(z)`` (sigmoid:
        ``a (1 - a)``), which saves recomputing σ in the backward pass. Must
        agree with ``derivative``; the tests check that it does.
    latex : str
        σ(z) in LaTeX, for the generated derivation.
    latex_derivative : str
        σ'(z) in LaTeX.
    init : str, default "glorot_uniform"
        The weight initialisation that suits a hidden layer with this σ (the
        estimators' ``init="auto"``, the command line's default; see
        :func:`handgrad.init.default_init`): ``"he"`` for ReLU-like σ, which
        switch half the units off and so need twice the variance to keep it
        through the layer; ``"glorot_uniform"`` for σ symmetric and linear
        near 0 (sigmoid, tanh, identity).
    """

    name: str
    function: ArrayFn
    derivative: ArrayFn
    derivative_from_output: ArrayFn | None = field(default=None, compare=False)
    latex: str = ""
    latex_derivative: str = ""
    init: str = "glorot_uniform"

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return self.function(z)

    def grad(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        """σ'(z), using the cached output ``a = σ(z)`` where that is cheaper."""
        if self.derivative_from_output is not None:
            return self.derivative_from_output(a)
        return self.derivative(z)


# --- identity: the output layer of a regression network (the seed's Ŷ = W3 a2 + b3)
def _identity(z):
    """σ(z) = z"""
    return z


def _identity_deriv(z):
    """σ'(z) = 1"""
    return namespace(z).ones_like(z)


# --- ReLU: the seed's hidden activation
def relu(z):
    """σ(z) = max(z, 0)"""
    return namespace(z).maximum(z, 0.0)


def relu_deriv(z):
    """σ'(z) = 1 if z > 0 else 0.

    NOTE: the derivative at exactly 0 is 0, as the seed's ``ReLU_deriv`` (``x > 0``)
    and PyTorch define it. Returned in z's dtype so products stay in that dtype.
    """
    return astype(z > 0, z.dtype)


def _relu_deriv_from_output(a):
    """σ'(z) = 1[a > 0] with a = max(z, 0) (a > 0 exactly when z > 0), in a's dtype."""
    return astype(a > 0, a.dtype)


LEAKY_SLOPE = 0.01


def leaky_relu(z):
    """σ(z) = z if z > 0 else 0.01 z"""
    return namespace(z).where(z > 0, z, LEAKY_SLOPE * z)


def leaky_relu_deriv(z):
    """σ'(z) = 1 if z > 0 else 0.01"""
    xp = namespace(z)
    return xp.where(z > 0, xp.ones_like(z), xp.full_like(z, LEAKY_SLOPE))


def sigmoid(z):
    """σ(z) = 1 / (1 + e^{-z}), computed as exp(-log(1 + e^{-z})) = exp(-logaddexp(0, -z)).

    NOTE: the textbook ``1 / (1 + np.exp(-z))`` overflows (with a warning) for
    z < -709; ``logaddexp`` never does, and keeps full relative precision for
    very negative z where σ(z) ≈ e^z.
    """
    xp = namespace(z)
    return xp.exp(-xp.logaddexp(xp.zeros_like(z), -z))


def sigmoid_deriv(z):
    """σ'(z) = σ(z) (1 − σ(z))"""
    s = sigmoid(z)
    return s * (1 - s)


def _sigmoid_deriv_from_output(a):
    """σ'(z) = a (1 − a) with a = σ(z)"""
    return a * (1 - a)


def tanh(z):
    """σ(z) = tanh(z)"""
    return namespace(z).tanh(z)


def tanh_deriv(z):
    """σ'(z) = 1 − tanh(z)²"""
    t = namespace(z).tanh(z)
    return 1 - t * t


def _tanh_deriv_from_output(a):
    """σ'(z) = 1 − a² with a = tanh(z)"""
    return 1 - a * a


def softplus(z):
    """σ(z) = log(1 + e^z), computed as logaddexp(0, z) (no overflow)."""
    xp = namespace(z)
    return xp.logaddexp(xp.zeros_like(z), z)


def softplus_deriv(z):
    """σ'(z) = 1 / (1 + e^{-z}) = sigmoid(z)"""
    return sigmoid(z)


ELU_ALPHA = 1.0


def elu(z):
    """σ(z) = z if z > 0 else α (e^z − 1), α = 1.

    NOTE: ``expm1`` is evaluated on min(z, 0) so that large positive z (whose
    branch is discarded) cannot overflow.
    """
    xp = namespace(z)
    return xp.where(z > 0, z, ELU_ALPHA * xp.expm1(xp.minimum(z, xp.zeros_like(z))))


def elu_deriv(z):
    """σ'(z) = 1 if z > 0 else α e^z, α = 1."""
    xp = namespace(z)
    return xp.where(z > 0, xp.ones_like(z), ELU_ALPHA * xp.exp(xp.minimum(z, xp.zeros_like(z))))


# NOTE: a Python float, not np.sqrt(...): a NumPy float64 scalar is not "weak" under
# NumPy 2 promotion (NEP 50) and would silently upcast float32 activations to float64.
_GELU_C = float(np.sqrt(2.0 / np.pi))
_GELU_K = 0.044715


def gelu(z):
    """GELU, tanh approximation (as PyTorch's ``gelu(approximate="tanh")``):

    σ(z) = ½ z (1 + tanh(u)),  u = √(2/π) (z + 0.044715 z³).

    NOTE: the exact GELU needs erf, which NumPy lacks; handgrad keeps NumPy its
    only dependency, so it implements the tanh approximation (max. deviation
    from the exact form ≈ 3e-4 near |z| ≈ 2). Overflow-safe: tanh saturates.
    """
    u = _GELU_C * (z + _GELU_K * z**3)
    return 0.5 * z * (1 + namespace(z).tanh(u))


def gelu_deriv(z):
    """σ'(z) = ½ (1 + tanh(u)) + ½ z (1 − tanh(u)²) √(2/π) (1 + 3·0.044715 z²)"""
    u = _GELU_C * (z + _GELU_K * z**3)
    t = namespace(z).tanh(u)
    return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * _GELU_C * (1 + 3 * _GELU_K * z * z)


IDENTITY = Activation("identity", _identity, _identity_deriv, latex="z", latex_derivative="1")
RELU = Activation(
    "relu",
    relu,
    relu_deriv,
    _relu_deriv_from_output,
    latex=r"\max(z, 0)",
    latex_derivative=r"\mathbb{1}[z > 0]",
    init="he",
)
LEAKY_RELU = Activation(
    "leaky_relu",
    leaky_relu,
    leaky_relu_deriv,
    latex=r"\max(z, 0.01 z)",
    latex_derivative=r"\mathbb{1}[z > 0] + 0.01\,\mathbb{1}[z \le 0]",
    init="he",
)
SIGMOID = Activation(
    "sigmoid",
    sigmoid,
    sigmoid_deriv,
    _sigmoid_deriv_from_output,
    latex=r"\frac{1}{1 + e^{-z}}",
    latex_derivative=r"\sigma(z)\,(1 - \sigma(z))",
)
TANH = Activation(
    "tanh",
    tanh,
    tanh_deriv,
    _tanh_deriv_from_output,
    latex=r"\tanh z",
    latex_derivative=r"1 - \tanh^2 z",
)
SOFTPLUS = Activation(
    "softplus",
    softplus,
    softplus_deriv,
    latex=r"\log(1 + e^{z})",
    latex_derivative=r"\frac{1}{1 + e^{-z}}",
    init="he",
)
ELU = Activation(
    "elu",
    elu,
    elu_deriv,
    latex=r"z \text{ if } z > 0 \text{ else } e^{z} - 1",
    latex_derivative=r"1 \text{ if } z > 0 \text{ else } e^{z}",
    init="he",
)
GELU = Activation(
    "gelu",
    gelu,
    gelu_deriv,
    latex=r"\tfrac{1}{2} z \left(1 + \tanh\!\left(\sqrt{2/\pi}\,(z + 0.044715 z^3)\right)\right)",
    latex_derivative=(
        r"\tfrac{1}{2}(1 + \tanh u) + \tfrac{1}{2} z (1 - \tanh^2 u)\sqrt{2/\pi}"
        r"\,(1 + 0.134145 z^2),\; u = \sqrt{2/\pi}(z + 0.044715 z^3)"
    ),
    init="he",
)

ACTIVATIONS: dict[str, Activation] = {
    a.name: a for a in (IDENTITY, RELU, LEAKY_RELU, SIGMOID, TANH, SOFTPLUS, ELU, GELU)
}
# Common spellings, so that "linear" or "logistic" (scikit-learn's names) work too.
_ALIASES = {"linear": "identity", "none": "identity", "logistic": "sigmoid", "leakyrelu": "leaky_relu"}

ActivationLike = str | Activation | tuple[ArrayFn, ArrayFn]


def get_activation(spec: ActivationLike) -> Activation:
    """Resolve a name, an :class:`Activation` or a ``(function, derivative)`` pair.

    Raises
    ------
    ConfigError
        For an unknown name, listing the known ones.
    """
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, tuple) and len(spec) == 2 and all(callable(f) for f in spec):
        function, derivative = spec
        name = getattr(function, "__name__", "custom")
        return Activation(name if name != "<lambda>" else "custom", function, derivative)
    if isinstance(spec, str):
        key = spec.strip().lower().replace("-", "_")
        key = _ALIASES.get(key.replace("_", ""), _ALIASES.get(key, key))
        if key in ACTIVATIONS:
            return ACTIVATIONS[key]
    raise ConfigError(
        f"unknown activation {spec!r}; expected one of {sorted(ACTIVATIONS)} "
        "or a (function, derivative) pair of callables"
    )
