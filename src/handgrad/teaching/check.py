r"""``handgrad derive --check``: the printed formulas evaluated and compared, in float64.

For a random batch and random parameters, every formula of a
:class:`~handgrad.teaching.derive.Derivation` is evaluated from its expression
tree (the one that was printed) with NumPy:

* the expanded gradients of §1.2, every sub-expression recomputed;
* the backpropagation formulas of §1.3, with ``z_l``, ``a_l``, ``δ_l`` evaluated once;
* each ``δ_l`` against the expanded sub-expression it replaces;

and both gradient forms are compared with central finite differences of ``J``
(:meth:`handgrad.losses.Loss.value` on :meth:`handgrad.Network.predict_columns`)
and with the engine (:func:`handgrad.gradients.backprop`, :func:`handgrad.gradients.expanded`).

Relative error as in :func:`handgrad.gradcheck.relative_error` (floored at 1e-3
of the parameter's largest numeric gradient).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import gradients as engine
from ..gradcheck import numeric_gradients, relative_error
from ..network import Network
from ..params import check as check_setting
from ..params import check_memory, estimate_bytes
from .expr import Env


@dataclass
class ParameterResult:
    """Worst relative errors for one parameter."""

    name: str
    shape: tuple[int, ...]
    entries: int
    expanded_vs_fd: float
    backprop_vs_fd: float
    formulas_vs_engine: float

    @property
    def worst(self) -> float:
        return max(self.expanded_vs_fd, self.backprop_vs_fd, self.formulas_vs_engine)


@dataclass
class CheckReport:
    """Result of :func:`check`; ``ok`` when every error is within ``tol``."""

    parameters: list[ParameterResult]
    delta_errors: list[float]
    batch: int
    eps: float
    tol: float
    random_state: int

    @property
    def max_rel_error(self) -> float:
        return max([p.worst for p in self.parameters] + self.delta_errors)

    @property
    def ok(self) -> bool:
        return self.max_rel_error <= self.tol

    def __str__(self) -> str:
        lines = [
            f"check: the printed formulas evaluated in float64 on a random batch of {self.batch} "
            f"(random_state={self.random_state}), central differences eps={self.eps:g}, tol={self.tol:g}",
            f"{'param':<6} {'shape':<12} {'entries':>7}  {'expanded vs FD':>14}  {'backprop vs FD':>14}  {'vs engine':>10}",
        ]
        for p in self.parameters:
            lines.append(
                f"{p.name:<6} {p.shape!s:<12} {p.entries:>7}  {p.expanded_vs_fd:14.2e}  "
                f"{p.backprop_vs_fd:14.2e}  {p.formulas_vs_engine:10.2e}"
            )
        for l, err in reversed(list(enumerate(self.delta_errors, start=1))):
            lines.append(f"delta{l} vs the expanded sub-expression it replaces: {err:.2e}")
        verdict = "PASS" if self.ok else "FAIL"
        lines.append(f"{verdict}: worst relative error {self.max_rel_error:.2e} (tol {self.tol:g})")
        return "\n".join(lines)


def check(
    derivation,
    batch: int = 4,
    random_state: int = 0,
    eps: float = 1e-6,
    tol: float = 1e-5,
    max_entries: int = 200,
) -> CheckReport:
    """Evaluate the derivation's formulas and compare them, per parameter.

    Parameters
    ----------
    derivation : Derivation
    batch : int
        N, the number of random samples (float64, standard normal inputs).
    random_state : int
        Seed of the inputs, targets, parameters (He initialisation) and of the
        entries chosen for finite differences.
    eps : float
        Step of the central differences.
    tol : float
        Largest relative error for ``report.ok``.
    max_entries : int
        Finite differences are taken on at most this many entries per parameter
        (chosen at random; all of them for smaller parameters).

    Returns
    -------
    CheckReport
    """
    batch = check_setting("batch", batch)
    random_state = check_setting("random_state", random_state, "seed")
    eps = check_setting("eps", eps)
    tol = check_setting("tol", tol)
    max_entries = check_setting("max_entries", max_entries, "batch")
    der = derivation
    # The network, its float64 copy for finite differences, and four gradients (expanded,
    # backprop, and the engine's two): refused with the figures, not a MemoryError.
    check_memory(
        estimate_bytes(der.layer_sizes, batch, np.float64, copies=7),
        f"checking the derivation of a {der.layer_sizes} network",
    )
    rng = np.random.default_rng(random_state)
    net = Network(der.layer_sizes, der.activations[:-1] if der.n_layers > 1 else "relu", der.activations[-1],
                  init="he", random_state=rng)  # fmt: skip
    # Biases non-zero, so that a formula that dropped b_l would be caught.
    for b in net.biases:
        b[...] = rng.normal(scale=0.1, size=b.shape)
    X = rng.normal(size=(batch, der.layer_sizes[0]))  # (N, n_0)
    Y = der.loss.example_targets(rng, der.layer_sizes[-1], batch)  # (n_L, N), as the loss needs (0/1, one-hot, real)
    values = {"X": X, "Y": Y}
    for l, (W, b) in enumerate(zip(net.weights, net.biases), start=1):
        values[f"W{l}"], values[f"b{l}"] = W, b

    def evaluate(exprs, definitions):
        env = Env(values, definitions)
        return [e.evaluate(env) for e in exprs]

    L = der.n_layers
    ex = evaluate(der.expanded_dW, der.expanded_definitions()) + evaluate(der.expanded_db, der.expanded_definitions())
    bp = evaluate(der.backprop_dW, der.backprop_definitions()) + evaluate(der.backprop_db, der.backprop_definitions())
    # Reorder [dW1..dWL, db1..dbL] into the engine's W1, b1, W2, b2, ...
    ex = [g for pair in zip(ex[:L], ex[L:]) for g in pair]
    bp = [g for pair in zip(bp[:L], bp[L:]) for g in pair]
    eng_bp = list(engine.backprop(net, X.T, Y, der.loss))
    eng_ex = list(engine.expanded(net, X.T, Y, der.loss))

    # Each delta equals the expanded sub-expression it replaces (§1.3 vs §1.2).
    deltas = evaluate(der.delta_syms, der.backprop_definitions())
    replaced = evaluate([der.replaced(l) for l in range(1, L + 1)], der.expanded_definitions())
    delta_errors = [float(np.max(relative_error(d, r), initial=0.0)) for d, r in zip(deltas, replaced)]

    # Finite differences on at most max_entries entries of each parameter, chosen at random.
    entries = []
    for p in net.parameters():
        idx = np.arange(p.size)
        if p.size > max_entries:
            idx = np.sort(rng.choice(p.size, max_entries, replace=False))
        entries.append(idx)
    numerics = numeric_gradients(net, X, Y.T, der.loss, eps, entries=entries)

    results = []
    pairs = zip(net.parameter_names(), net.parameters(), ex, bp, eng_bp, eng_ex)
    for (name, p, g_ex, g_bp, e_bp, e_ex), idx, numeric in zip(pairs, entries, numerics):
        gx, gb = g_ex.reshape(-1)[idx], g_bp.reshape(-1)[idx]
        vs_engine = max(
            float(np.max(relative_error(g_bp, e_bp))),
            float(np.max(relative_error(g_ex, e_ex))),
        )
        results.append(
            ParameterResult(
                name,
                tuple(p.shape),
                int(idx.size),
                float(np.max(relative_error(gx, numeric))),
                float(np.max(relative_error(gb, numeric))),
                vs_engine,
            )
        )
    return CheckReport(results, delta_errors, batch, eps, tol, random_state)
