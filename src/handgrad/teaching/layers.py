r"""``handgrad derive --layers``: the derivation of a stack of layers, and its numerical check.

For ``handgrad derive --input-shape 1x8x8 --layers "conv(8,3x3,pad=1)-relu-maxpool(2)-dense(64)-relu-dense(10)"
--loss softmax_crossentropy --check``: the architecture with every layer's shapes, the forward
recurrence, the loss and ``dJ/dŶ``, then each layer's backward pass as its layer type writes it
(:meth:`handgrad.layers.base.Layer.derivation`), from the output down: the chain rule across layers,
``dJ/da_{l-1}`` from ``dJ/da_l``.

``--check`` evaluates the stack's backpropagation on a random float64 batch against central
differences (:func:`handgrad.gradcheck.numeric_gradients`, step 1e-5: at 1e-6 rounding noise reached
1e-5 of the LSTM's recurrent weights' gradients), in inference mode and, where a layer
behaves differently while training (dropout, batch normalisation), in training mode too, with
dropout's masks held fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._memory import check_memory
from ..errors import ConfigError
from ..gradcheck import numeric_gradients, relative_error
from ..layers import LayerStack
from ..losses import Loss, get_loss
from ..params import check as check_setting

FORMATS = ("markdown", "text")


def _shape(shape) -> str:
    return "×".join(str(d) for d in shape)


@dataclass
class LayerCheckRow:
    name: str
    shape: tuple
    entries: int
    mode: str
    error: float


@dataclass
class LayerCheckReport:
    rows: list[LayerCheckRow]
    batch: int
    eps: float
    tol: float
    random_state: int

    @property
    def max_rel_error(self) -> float:
        return max((r.error for r in self.rows), default=0.0)

    @property
    def ok(self) -> bool:
        return self.max_rel_error <= self.tol

    def __str__(self) -> str:
        lines = [
            f"check: backpropagation through the layers in float64 on a random batch of {self.batch} "
            f"(random_state={self.random_state}) against central differences eps={self.eps:g}, tol={self.tol:g}",
            f"{'param':<14} {'shape':<16} {'entries':>7}  {'mode':<9} {'backprop vs FD':>14}",
        ]
        for r in self.rows:
            lines.append(f"{r.name:<14} {_shape(r.shape):<16} {r.entries:>7}  {r.mode:<9} {r.error:14.2e}")
        verdict = "PASS" if self.ok else "FAIL"
        lines.append(f"{verdict}: worst relative error {self.max_rel_error:.2e} (tol {self.tol:g})")
        return "\n".join(lines)


class LayerDerivation:
    """The derivation of a :class:`~handgrad.layers.LayerStack` with a loss.

    Parameters
    ----------
    layers : str
        The specification, output layer included (``"lstm(16)-dense(10)"``).
    input_shape : str or tuple of int
        One sample's shape (``"8x8"``: 8 steps of 8 features).
    loss : str or Loss
    """

    def __init__(self, layers: str, input_shape, loss: str | Loss = "mse"):
        self.stack = LayerStack(layers, input_shape, random_state=0)
        self.loss = get_loss(loss)
        self.loss.check_outputs(self.stack.n_outputs)

    def markdown(self) -> str:
        st, L = self.stack, self.stack.n_layers
        out = [
            f"# Backpropagation through `{st.spec}`",
            "",
            f"Input: one sample of shape {_shape(st.input_shape)}, a batch of N samples along the last axis "
            "(the seed's columns). Layer l maps $a_{l-1}$ to $a_l$; "
            r"$\delta_l = \partial J / \partial z_l$ where the layer has a pre-activation $z_l$.",
            "",
            "| l | layer | input per sample | output per sample | parameters |",
            "| ---: | --- | --- | --- | --- |",
        ]
        for l, layer in enumerate(st.layers, start=1):
            params = ", ".join(f"{p.name}{l} {_shape(p.shape)}" for p in layer.parameter_specs()) or "—"
            out.append(f"| {l} | `{layer.spec()}` | {_shape(layer.in_shape)} | {_shape(layer.out_shape)} | {params} |")
        out += [
            "",
            f"Forward: $a_0 = x$, $a_l = \\mathrm{{layer}}_l(a_{{l-1}})$ for l = 1..{L}, $\\hat{{Y}} = a_{L}$ "
            f"of shape ({st.n_outputs}, N).",
            "",
        ]
        der = self.loss.derivation(st.n_outputs)
        if der is not None:
            err = r"P - Y" if der.probabilities is not None else r"\hat{Y} - Y"
            if der.error_function is not None:
                err = f"{der.error_function.latex}({err}{der.error_function.latex_args})"
            out += [
                f"Loss ({self.loss.name}): $J = {der.J.latex}$, so "
                f"$\\frac{{\\partial J}}{{\\partial a_{L}}} = \\frac{{\\partial J}}{{\\partial \\hat{{Y}}}} = "
                f"\\frac{{{der.factor}}}{{N}} ({err})$"
                + (f" with $P = {der.probabilities.latex}(\\hat{{Y}})$" if der.probabilities is not None else "")
                + ".",
                "",
            ]
        else:
            out += [
                f"Loss ({self.loss.name}): $\\partial J / \\partial \\hat{{Y}}$ as :mod:`handgrad.losses` gives it.",
                "",
            ]
        out += ["Backward, from the output down (the chain rule across layers):", ""]
        for l in range(L, 0, -1):
            out += [*st.layers[l - 1].derivation(l), ""]
        return "\n".join(out)

    def text(self) -> str:
        return self.markdown()

    def render(self, format: str = "markdown") -> str:
        if format not in ("markdown", "text", "latex"):
            raise ConfigError(f"unknown format {format!r}; expected one of {FORMATS}")
        return self.markdown() + "\n"

    def check(self, batch: int = 4, random_state: int = 0, eps: float = 1e-5, tol: float = 1e-5,
              max_entries: int = 100) -> LayerCheckReport:  # fmt: skip
        """Backpropagation against central differences, per parameter (see the module docstring)."""
        batch = check_setting("batch", batch)
        random_state = check_setting("random_state", random_state, "seed")
        eps = check_setting("eps", eps)
        tol = check_setting("tol", tol)
        check_memory(
            8 * self.stack.estimate_bytes(batch),  # the network, its float64 copy and the check's gradients
            f"checking the derivation of {self.stack.spec!r} on a batch of {batch}",
        )
        rng = np.random.default_rng(random_state)
        net = LayerStack(self.stack.spec, self.stack.input_shape, random_state=rng)
        # Every bias, shift and scale off its initial 0 or 1, so that a formula that dropped one is caught.
        for layer, params in zip(net.layers, net.params):
            for p in layer.parameter_specs():
                if p.role != "weight":
                    params[p.name][...] += rng.normal(scale=0.1, size=p.shape)
        X = rng.normal(size=(batch, net.n_inputs))
        Y = self.loss.example_targets(rng, net.n_outputs, batch).T  # (N, n_L)
        entries = [rng.permutation(p.size)[: min(p.size, max_entries)] for p in net.parameters()]
        modes = ["inference"] + (["training"] if any(x.has_training_mode for x in net.layers) else [])
        rows = []
        seed = int(rng.integers(2**31))
        for mode in modes:
            training = mode == "training"
            if training:

                def forward(stack, A0):
                    stack.reseed(seed)  # the same dropout masks in every evaluation
                    return stack.forward_columns(A0, training=True)

                net.reseed(seed)
            else:
                forward = None
            analytic = net.gradients(X, Y, self.loss, training=training)
            numeric = numeric_gradients(net, X, Y, self.loss, eps=eps, entries=entries, forward=forward)
            # Differences below 1e-4 of the largest gradient entry are judged absolutely (the floor of
            # handgrad.gradcheck.relative_error): a bias before batch normalisation has gradient exactly 0,
            # and its central differences are rounding noise.
            floor = 1e-4 * max(float(np.max(np.abs(n), initial=0.0)) for n in numeric)
            for name, p, idx, n in zip(net.parameter_names(), net.parameters(), entries, numeric):
                g = np.asarray(analytic[name]).reshape(-1)[idx]
                error = float(np.max(relative_error(g, n, floor), initial=0.0))
                rows.append(LayerCheckRow(name, p.shape, idx.size, mode, error))
        return LayerCheckReport(rows, batch, eps, tol, random_state)
