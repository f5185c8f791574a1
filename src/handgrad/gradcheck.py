"""Check a network's gradients against central finite differences, in float64.

For every entry θ of every parameter::

    numeric(θ) = (J(θ + ε) − J(θ − ε)) / 2ε            (error O(ε²))

and the relative error of the analytic gradient ``g`` against it is::

    |g − numeric| / max(|g|, |numeric|, s),   s = 1e-3 · max |numeric| over the parameter

(the floor ``s`` lets entries that are zero, or nearly so, be judged on the
parameter's own scale rather than blow up a ratio of two round-off errors).

    >>> import numpy as np
    >>> from handgrad import Network, gradcheck
    >>> net = Network([3, 5, 2], activation="tanh", random_state=0)
    >>> rng = np.random.default_rng(0)
    >>> report = gradcheck(net, rng.normal(size=(4, 3)), rng.normal(size=(4, 2)))
    >>> report.ok
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConfigError, ShapeError
from .losses import Loss, get_loss
from .network import GRADIENT_METHODS, Network
from .params import check


@dataclass
class ParameterCheck:
    """The comparison for one parameter (``W1``, ``b1``, ...)."""

    name: str
    shape: tuple[int, ...]
    max_rel_error: float
    worst_index: tuple[int, ...]
    analytic: float
    numeric: float


@dataclass
class GradcheckReport:
    """Per-parameter results of :func:`gradcheck`; ``ok`` if all are within ``tol``."""

    method: str
    eps: float
    tol: float
    parameters: list[ParameterCheck]

    @property
    def max_rel_error(self) -> float:
        return max(p.max_rel_error for p in self.parameters)

    @property
    def ok(self) -> bool:
        return self.max_rel_error <= self.tol

    def __str__(self) -> str:
        lines = [f"gradient check ({self.method} vs central differences, eps={self.eps:g}, tol={self.tol:g})"]
        lines.append(f"{'param':<6} {'shape':<12} {'max rel err':>12}  worst entry: analytic vs numeric")
        for p in self.parameters:
            idx = ",".join(str(i) for i in p.worst_index)
            lines.append(
                f"{p.name:<6} {p.shape!s:<12} {p.max_rel_error:12.3e}  [{idx}] {p.analytic:+.10e} vs {p.numeric:+.10e}"
            )
        lines.append(f"{'PASS' if self.ok else 'FAIL'}: worst relative error {self.max_rel_error:.3e}")
        return "\n".join(lines)


def numeric_gradients(
    net: Network, X, Y, loss: str | Loss = "mse", eps: float = 1e-5, sample_weight=None, entries=None, forward=None
) -> list[np.ndarray]:
    """Central-difference dJ/dθ for every parameter, in float64: handgrad's one such routine.

    ``(J(θ + ε) − J(θ − ε)) / 2ε`` for each entry θ, with ``J`` the loss's
    :meth:`~handgrad.losses.Loss.value` of :meth:`Network.predict_columns`.
    (The tests keep a deliberately independent copy in ``tests/finite_differences.py``.)

    Parameters
    ----------
    net : Network (not modified; a float64 copy is perturbed)
    X : array-like of shape (n_samples, n_features)
    Y : array-like of shape (n_samples, n_outputs) or (n_samples,)
    loss : str or Loss
    eps : float
        The step ε (finite, > 0).
    sample_weight : array-like of shape (n_samples,), optional
    entries : list of 1-D int arrays, optional
        For each parameter (in ``net.parameters()`` order), the flat indices
        (into ``p.reshape(-1)``) to differentiate; default all of them.
    forward : callable(net, A0) -> ndarray, optional
        Ŷ (n_L, N) of the float64 copy ``net`` for the batch ``A0`` (n_0, N); default
        ``net.predict_columns(A0)``. A layer stack's training-mode check passes one that runs
        dropout with fixed masks and batch normalisation on the batch's statistics.

    Returns
    -------
    list of ndarray, in the order of ``net.parameters()`` (W1, b1, W2, ...): each of
    the parameter's shape, or, with ``entries``, 1-D with one value per given index.
    """
    eps = check("eps", eps)
    net64 = net.astype(np.float64)
    A0, Yc, loss_fn, w = net64._columns(X, Y, loss, sample_weight)
    if forward is None:
        forward = type(net64).predict_columns
    params = net64.parameters()
    if entries is not None and len(entries) != len(params):
        raise ShapeError(f"entries has {len(entries)} index arrays; the network has {len(params)} parameters")
    out = []
    for i, p in enumerate(params):
        # NOTE: p.flat, not p.reshape(-1): W_l is a strided view of the network's flat buffer
        # (handgrad.parameters), whose reshape is a copy; the flat iterator writes through.
        flat = p.flat
        idx = np.arange(p.size) if entries is None else np.asarray(entries[i], dtype=np.intp).reshape(-1)
        g = np.empty(idx.size)
        for j, k in enumerate(idx):
            old = flat[k]
            flat[k] = old + eps
            J_plus = loss_fn.value(forward(net64, A0), Yc, w)
            flat[k] = old - eps
            J_minus = loss_fn.value(forward(net64, A0), Yc, w)
            flat[k] = old
            g[j] = (J_plus - J_minus) / (2 * eps)
        out.append(g.reshape(p.shape) if entries is None else g)
    return out


def relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Entrywise ``|g − n| / max(|g|, |n|, 1e-3 max|n|, floor, 1e-300)``, as in the module docstring.

    ``floor``: a scale below which differences are judged absolutely, e.g. a small fraction of the
    largest gradient entry of the whole network, for a parameter whose gradient is exactly 0 (a
    bias before batch normalisation, which the normalisation removes) and whose central
    differences are rounding noise.
    """
    floor = max(1e-3 * float(np.max(np.abs(numeric), initial=0.0)), floor, 1e-300)
    return np.abs(analytic - numeric) / np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)


def gradcheck(
    net: Network,
    X,
    Y,
    loss: str | Loss = "mse",
    method: str = "backprop",
    eps: float = 1e-5,
    tol: float = 1e-5,
    sample_weight=None,
) -> GradcheckReport:
    """Compare ``net.gradients(X, Y, loss, method)`` with central differences.

    Parameters
    ----------
    net : Network
        Checked in a float64 copy (float32 differences are too coarse to test).
    X : array-like of shape (n_samples, n_features)
    Y : array-like of shape (n_samples, n_outputs) or (n_samples,)
    loss : str or Loss
    method : {"backprop", "expanded"}
    eps : float
        Step of the central difference (finite, > 0).
    tol : float
        Largest relative error accepted for ``report.ok`` (finite, >= 0).

    Returns
    -------
    GradcheckReport
        ``print(report)`` shows the worst entry of every parameter.

    NOTE: keep inputs out of saturation and off kinks (ReLU at 0): there the
    finite difference straddles a corner and disagrees with any derivative.
    """
    if method not in GRADIENT_METHODS:
        raise ConfigError(f"unknown gradient method {method!r}; expected one of {GRADIENT_METHODS}")
    eps = check("eps", eps)
    tol = check("tol", tol)
    net64 = net.astype(np.float64)
    loss_fn = get_loss(loss)
    analytic = list(net64.gradients(X, Y, loss_fn, method=method, sample_weight=sample_weight))
    numeric = numeric_gradients(net64, X, Y, loss_fn, eps, sample_weight)
    checks = []
    for name, g, n in zip(net64.parameter_names(), analytic, numeric):
        rel = relative_error(g, n)
        worst = np.unravel_index(int(np.argmax(rel)), rel.shape)
        checks.append(
            ParameterCheck(
                name=name,
                shape=tuple(g.shape),
                max_rel_error=float(rel[worst]),
                worst_index=tuple(int(i) for i in worst),
                analytic=float(g[worst]),
                numeric=float(n[worst]),
            )
        )
    return GradcheckReport(method, eps, tol, checks)
