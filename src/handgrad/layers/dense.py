r"""The dense layer (the seed's ``z_l = W_l a_{l-1} + b_l``, ``a_l = σ_l(z_l)``) and elementwise activations.

A :class:`Dense` layer runs the engine's §1.3 kernels (:func:`handgrad.backprop.forward` and
:func:`handgrad.backprop.backward`) on its one ``[W_l | b_l]`` block, stored in the stack's flat
buffer column by column as :mod:`handgrad.parameters` stores a :class:`handgrad.Network`'s: so a
stack of dense layers computes exactly what the fully connected network does.

The backward pass, from ``dJ/da_l``::

    delta_l      = dJ/da_l ∘ σ_l'(z_l)                 (n_l, N)
    [dW_l | db_l] = delta_l [a_{l-1}; 1]ᵀ               (n_l, n_{l-1} + 1)
    dJ/da_{l-1}  = W_lᵀ delta_l                         (n_{l-1}, N)
"""

from __future__ import annotations

import numpy as np

from .. import backprop as _bp
from ..activations import IDENTITY, RELU, Activation, get_activation
from ..backend import NUMPY
from .base import Layer, ParamSpec, Shape, positive_int, register


class Dense(Layer):
    """A fully connected layer of ``n`` units, ``a_l = σ(W_l a_{l-1} + b_l)``; ``dense(n)`` in a specification.

    Its input is flattened (a ``(C, H, W, N)`` image batch is read as ``(C·H·W, N)``, a view).

    Parameters
    ----------
    n : int
        ``n_l``.
    activation : str or Activation, default "identity"
        σ_l; in a specification the activation written right after it (``dense(64)-relu``).
    """

    kind = "dense"
    takes_activation = True

    def __init__(self, n, activation="identity"):
        self.n = positive_int("dense", "the number of units", n)
        self.activation: Activation = get_activation(activation)
        self._workspaces = None
        self._inputs: dict[int, np.ndarray] = {}
        self._input_delta: dict[int, np.ndarray] = {}
        self._lists: tuple = (None, None, None, None)

    def build(self, in_shape: Shape) -> Shape:
        self.in_shape = tuple(int(d) for d in in_shape)
        self.n_in = int(np.prod(self.in_shape))
        self.out_shape = (self.n,)
        self._workspaces = None
        return self.out_shape

    def parameter_specs(self) -> list[ParamSpec]:
        return [
            ParamSpec("W", (self.n, self.n_in), "weight", fan_in=self.n_in, fan_out=self.n),
            ParamSpec("b", (self.n,), "bias"),
        ]

    def parameter_views(self, segment):
        # [W_l | b_l] stored column by column (handgrad.parameters): the block, then W_l and b_l as its views.
        block = segment.reshape(self.n_in + 1, self.n).T
        return {"W": block[:, :-1], "b": block[:, -1], "Wb": block}

    def _buffers(self, N: int, dtype):
        if self._workspaces is None or self._workspaces.dtype != dtype:
            self._workspaces = _bp.Workspaces([self.n_in, self.n], [self.activation], dtype, NUMPY)
            self._inputs, self._input_delta = {}, {}
        A0 = self._inputs.get(N)
        if A0 is None:
            A0 = self._inputs[N] = np.empty((self.n_in + 1, N), dtype)
            A0[-1, :] = 1.0  # [a_{l-1}; 1]: the row of ones written once
        return self._workspaces(N), A0

    def forward(self, a, params, training):
        N = a.shape[-1]
        ws, A0 = self._buffers(N, params["Wb"].dtype)
        A0[:-1, :] = a.reshape(self.n_in, N)
        self._ws = ws
        # z_l = [W_l | b_l] [a_{l-1}; 1],  a_l = σ_l(z_l)
        return _bp.forward(self._block_list(params["Wb"]), [self.activation], A0, ws)

    def _block_list(self, Wb):
        if self._lists[0] is not Wb:
            self._lists = (Wb, [Wb], None, None)
        return self._lists[1]

    def backward(self, grad_out, params, grads, need_input):
        ws = self._ws
        N = ws.N
        Wb_list = self._block_list(params["Wb"])
        G = grads["Wb"]
        if self._lists[2] is not G:
            self._lists = (self._lists[0], Wb_list, G, [G])
        ws.delta[1][...] = grad_out.reshape(self.n, N)  # dJ/da_l
        out = None
        if need_input:
            out = self._input_delta.get(N)
            if out is None:
                out = self._input_delta[N] = np.empty((self.n_in, N), ws.delta[1].dtype)
        # delta_l = dJ/da_l ∘ σ_l'(z_l); [dW_l | db_l] = delta_l [a_{l-1}; 1]ᵀ; dJ/da_{l-1} = W_lᵀ delta_l
        _bp.backward(Wb_list, [self.activation], ws, self._lists[3], input_delta=out)
        return None if out is None else out.reshape(*self.in_shape, N)

    def spec(self) -> str:
        return f"dense({self.n})" + ("" if self.activation is IDENTITY else f"-{self.activation.name}")

    def config(self) -> dict:
        return {"n": self.n, "activation": self.activation.name}

    def derivation(self, l: int) -> list[str]:
        s = self.activation
        sig = "" if s is IDENTITY else f" ({s.name})"
        return [
            f"**Layer {l}: dense({self.n}){sig}**, $W_{l}$ of shape ({self.n}, {self.n_in}), $b_{l}$ of shape ({self.n},).",
            "",
            f"- forward: $z_{l} = W_{l} a_{{{l - 1}}} + b_{l}$, $a_{l} = \\sigma_{l}(z_{l})$"
            + ("" if s is IDENTITY else f" with $\\sigma_{l}(z) = {s.latex}$"),
            f"- $\\delta_{l} = \\frac{{\\partial J}}{{\\partial a_{l}}} \\circ \\sigma_{l}'(z_{l})$"
            + ("" if s is IDENTITY else f", $\\sigma_{l}'(z) = {s.latex_derivative}$"),
            f"- $\\frac{{\\partial J}}{{\\partial W_{l}}} = \\delta_{l} a_{{{l - 1}}}^T$, "
            f"$\\frac{{\\partial J}}{{\\partial b_{l}}} = \\delta_{l} \\mathbf{{1}}$ (summed over the batch)",
            f"- $\\frac{{\\partial J}}{{\\partial a_{{{l - 1}}}}} = W_{l}^T \\delta_{l}$",
        ]


class ActivationLayer(Layer):
    """An elementwise activation as a layer of its own (where no dense or convolution layer precedes it).

    ``a_l = σ(a_{l-1})`` and ``dJ/da_{l-1} = dJ/da_l ∘ σ'(a_{l-1})``.
    """

    kind = "activation"

    def __init__(self, activation):
        self.activation = get_activation(activation)

    def forward(self, a, params, training):
        self._z = a
        self._a = self.activation.function(a)
        return self._a

    def backward(self, grad_out, params, grads, need_input):
        if not need_input:
            return None
        if self.activation is IDENTITY:
            return grad_out
        if self.activation is RELU:
            return grad_out * (self._z > 0)
        return grad_out * self.activation.grad(self._z, self._a)

    def spec(self) -> str:
        return self.activation.name

    def config(self) -> dict:
        return {"activation": self.activation.name}

    def derivation(self, l: int) -> list[str]:
        s = self.activation
        return [
            f"**Layer {l}: {s.name}**, elementwise, no parameters.",
            "",
            f"- forward: $a_{l} = \\sigma(a_{{{l - 1}}})$, $\\sigma(z) = {s.latex}$",
            f"- $\\frac{{\\partial J}}{{\\partial a_{{{l - 1}}}}} = \\frac{{\\partial J}}{{\\partial a_{l}}} "
            f"\\circ \\sigma'(a_{{{l - 1}}})$, $\\sigma'(z) = {s.latex_derivative}$",
        ]


def activation_forward(activation: Activation, z: np.ndarray) -> np.ndarray:
    """``σ(z)`` for a layer with a fused activation (convolution): z itself for the identity."""
    return z if activation is IDENTITY else activation.function(z)


def activation_backward(activation: Activation, grad_out: np.ndarray, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``delta = dJ/da ∘ σ'(z)`` (in place on ``grad_out`` where it can), for a layer with a fused activation."""
    if activation is IDENTITY:
        return grad_out
    if activation is RELU:
        grad_out *= z > 0
        return grad_out
    grad_out *= activation.grad(z, a)
    return grad_out


register("dense", Dense)
