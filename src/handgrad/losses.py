r"""Losses J(Ŷ, Y), each with its gradient dJ/dŶ beside it.

Orientation, as inside the engine: ``Yhat`` and ``Y`` have shape
``(n_outputs, N)``, one column per sample (the seed's ``y_pred``, ``y_true``).

One definition of the reduction, for every loss
-----------------------------------------------
Each loss has a per-sample term ``ℓ_i`` that **sums over the outputs** of sample
``i``, and ``J`` is the **mean over samples**::

    J = 1/N Σ_i ℓ_i                        (weighted: Σ_i w_i ℓ_i / Σ_i w_i)

With one output this is exactly the seed's ``J = 1/N Σ (ŷ_i − y_i)²``, and with
several outputs every output's gradient is the seed's ``dJ/dŶ = 2/N (Ŷ − Y)``
unchanged. (So an MSE loss on 3 outputs is 3× the "mean over everything" that
``sklearn.metrics.mean_squared_error`` reports; the metrics in
:mod:`handgrad.metrics` report that per-element mean.) The gradient of every
loss is derived from this definition and tested against finite differences with
several outputs.

Losses "on logits" (binary and softmax cross-entropy) take the network's raw
output ``z_L`` and fold the sigmoid / softmax into the loss, which is both
stable (log-sum-exp) and simpler: ``dJ/dz_L = (p − y)/N`` (for the softmax,
when each target column sums to 1; see :class:`SoftmaxCrossEntropy`). Their
``output`` method maps logits to probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activations import sigmoid
from .errors import ConfigError, ShapeError


def _weights(N: int, sample_weight: np.ndarray | None, dtype) -> tuple[np.ndarray | float, float]:
    """The per-sample factor of the mean: ``(w, Σw)``, or ``(1, N)`` unweighted."""
    if sample_weight is None:
        return 1.0, float(N)
    w = np.asarray(sample_weight, dtype=dtype).reshape(1, -1)
    if w.shape[1] != N:
        raise ShapeError(f"sample_weight has {w.shape[1]} entries, expected one per sample ({N})")
    return w, float(w.sum())


class Loss:
    """A loss ``J(Ŷ, Y)`` with its gradient ``dJ/dŶ``.

    Subclasses implement ``_per_sample`` (``ℓ``, shape ``(n_outputs, N)``, summed
    over outputs by :meth:`value`) and ``_per_sample_grad`` (``dℓ/dŶ``), from
    which the reduction above builds ``J`` and ``dJ/dŶ`` in one place.
    """

    name: str = ""
    #: J in LaTeX, in the seed's notation (for ``handgrad derive``).
    latex: str = ""
    #: dJ/dŶ in LaTeX.
    latex_gradient: str = ""
    #: True if the loss expects logits and applies a sigmoid/softmax itself.
    on_logits: bool = False

    def value(self, Yhat: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """J: mean over samples of the per-sample loss summed over outputs.

        Parameters
        ----------
        Yhat : ndarray of shape (n_outputs, N)
            Network outputs (logits for the cross-entropies).
        Y : ndarray of shape (n_outputs, N)
            Targets (0/1 or one-hot for the cross-entropies).
        sample_weight : ndarray of shape (N,), optional
        """
        w, total = _weights(Yhat.shape[1], sample_weight, Yhat.dtype)
        return float(np.sum(self._per_sample(Yhat, Y) * w) / total)

    def gradient(
        self,
        Yhat: np.ndarray,
        Y: np.ndarray,
        sample_weight: np.ndarray | None = None,
        denominator: int | None = None,
    ) -> np.ndarray:
        """dJ/dŶ, shape ``(n_outputs, N)`` as ``Yhat``.

        ``dJ/dŷ_i = w_i dℓ_i/dŷ_i / Σ w`` (``1/N dℓ_i/dŷ_i`` unweighted).

        ``denominator=k`` replaces ``Σ w`` (or ``N``) by a fixed ``k``: the seed's loop
        scales by ``1/batch_size`` also on its last, shorter batch (``mode="seed"``).
        """
        w, total = _weights(Yhat.shape[1], sample_weight, Yhat.dtype)
        g = self._per_sample_grad(Yhat, Y)
        if sample_weight is not None:
            g *= w
        g *= 1.0 / (total if denominator is None else denominator)
        return g

    def output(self, Yhat: np.ndarray) -> np.ndarray:
        """Map network outputs to predictions in target space (identity here)."""
        return Yhat

    def check_outputs(self, n_outputs: int) -> None:
        """Raise :class:`ConfigError` if this loss cannot train a network with ``n_outputs`` outputs.

        Called once at the public boundary (``Network.gradients``, ``train``,
        ``derive``), never in the fast path. Any count fits the other losses.
        """

    def _per_sample(self, Yhat, Y):  # pragma: no cover - abstract
        raise NotImplementedError

    def _per_sample_grad(self, Yhat, Y):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MeanSquaredError(Loss):
    """The seed's loss: ``J = 1/N Σ_i Σ_k (ŷ_ik − y_ik)²``;  ``dJ/dŶ = 2/N (Ŷ − Y)``.

    With several outputs the squares are summed over outputs, then averaged over samples:

    >>> import numpy as np
    >>> Yhat = np.array([[1.0, 2.0], [0.0, -1.0]])  # 2 outputs × N = 2 samples
    >>> MeanSquaredError().value(Yhat, np.zeros((2, 2)))  # ((1 + 0) + (4 + 1)) / 2
    3.0
    >>> MeanSquaredError().gradient(Yhat, np.zeros((2, 2)))  # 2/N (Ŷ − Y)
    array([[ 1.,  2.],
           [ 0., -1.]])
    """

    name = "mse"
    latex = r"J = \frac{1}{N} \sum_{i=1}^{N} \lVert \hat{y}_i - y_i \rVert^2"
    latex_gradient = r"\frac{2}{N} (\hat{Y} - Y)"

    def _per_sample(self, Yhat, Y):
        """ℓ = (ŷ − y)²"""
        r = Yhat - Y
        return r * r

    def _per_sample_grad(self, Yhat, Y):
        """dℓ/dŷ = 2 (ŷ − y)"""
        r = Yhat - Y
        r *= 2
        return r


class MeanAbsoluteError(Loss):
    """``J = 1/N Σ_i Σ_k |ŷ_ik − y_ik|``;  ``dJ/dŶ = 1/N sign(Ŷ − Y)`` (0 at 0)."""

    name = "mae"
    latex = r"J = \frac{1}{N} \sum_{i=1}^{N} \lVert \hat{y}_i - y_i \rVert_1"
    latex_gradient = r"\frac{1}{N} \operatorname{sign}(\hat{Y} - Y)"

    def _per_sample(self, Yhat, Y):
        """ℓ = |ŷ − y|"""
        return np.abs(Yhat - Y)

    def _per_sample_grad(self, Yhat, Y):
        """dℓ/dŷ = sign(ŷ − y)"""
        return np.sign(Yhat - Y)


@dataclass(repr=False)
class Huber(Loss):
    """Huber with threshold δ (default 1):

    ``ℓ(r) = ½ r²`` if ``|r| ≤ δ`` else ``δ (|r| − ½ δ)``, ``r = ŷ − y``;
    ``dℓ/dŷ = clip(r, −δ, δ)``.
    """

    delta: float = 1.0
    name = "huber"
    latex = (
        r"J = \frac{1}{N} \sum_{i=1}^{N} \sum_k h_\delta(\hat{y}_{ik} - y_{ik}),\;"
        r"h_\delta(r) = \begin{cases} \tfrac12 r^2 & |r| \le \delta \\ \delta(|r| - \tfrac12\delta) & \text{else}\end{cases}"
    )
    latex_gradient = r"\frac{1}{N} \operatorname{clip}(\hat{Y} - Y, -\delta, \delta)"

    def __post_init__(self):
        if not self.delta > 0:
            raise ConfigError(f"Huber delta must be > 0, got {self.delta!r}")

    def _per_sample(self, Yhat, Y):
        r = np.abs(Yhat - Y)
        return np.where(r <= self.delta, 0.5 * r * r, self.delta * (r - 0.5 * self.delta))

    def _per_sample_grad(self, Yhat, Y):
        return np.clip(Yhat - Y, -self.delta, self.delta)

    def __repr__(self) -> str:
        return f"Huber(delta={self.delta})"


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy on logits z (one independent sigmoid per output):

    ``ℓ = Σ_k log(1 + e^{z_k}) − y_k z_k``  (= −y log p − (1−y) log(1−p), p = σ(z)),
    computed with ``logaddexp(0, z)`` so that no logit overflows;
    ``dJ/dz = 1/N (σ(z) − y)``.
    """

    name = "binary_crossentropy"
    on_logits = True
    latex = (
        r"J = -\frac{1}{N} \sum_{i=1}^{N} \sum_k \left[y_{ik} \log p_{ik}"
        r" + (1 - y_{ik}) \log(1 - p_{ik})\right],\; p = \frac{1}{1 + e^{-z_L}}"
    )
    latex_gradient = r"\frac{1}{N} (P - Y)"

    def _per_sample(self, Z, Y):
        """ℓ = log(1 + e^z) − y z"""
        return np.logaddexp(0, Z) - Y * Z

    def _per_sample_grad(self, Z, Y):
        """dℓ/dz = σ(z) − y"""
        return sigmoid(Z) - Y

    def output(self, Z):
        """p = σ(z), the probability of class 1 for each output."""
        return sigmoid(Z)


def log_softmax(Z: np.ndarray) -> np.ndarray:
    """log softmax over axis 0 (the classes): ``z − logsumexp(z)``, shift-stable.

    Parameters
    ----------
    Z : ndarray of shape (n_classes, N)
    """
    m = Z.max(axis=0, keepdims=True)
    shifted = Z - m
    return shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))


def softmax(Z: np.ndarray) -> np.ndarray:
    """softmax over axis 0: ``e^{z − max z} / Σ e^{z − max z}``, shape as ``Z``."""
    e = np.exp(Z - Z.max(axis=0, keepdims=True))
    e /= e.sum(axis=0, keepdims=True)
    return e


class SoftmaxCrossEntropy(Loss):
    """Softmax cross-entropy on logits z (classes along axis 0):

    ``ℓ = −Σ_k y_k log p_k``, ``p = softmax(z)``, with ``log p = z − logsumexp(z)``;
    ``dJ/dz = 1/N (p Σ_k y_k − y)`` per column, which is ``1/N (p − y)`` for a
    one-hot (or any probability) target ``y`` (the softmax Jacobian and the log
    cancel, see ``docs/derivation.md``).

    NOTE: the gradient keeps the general form ``p Σ_k y_k − y`` rather than
    ``p − y``, so that it stays the derivative of the value for any
    non-negative target, also one whose columns do not sum to 1.
    """

    name = "softmax_crossentropy"
    on_logits = True
    latex = (
        r"J = -\frac{1}{N} \sum_{i=1}^{N} \sum_k y_{ik} \log p_{ik},\;"
        r"p_i = \operatorname{softmax}(z_{L,i})"
    )
    # P diag(1ᵀY) scales column i of P by Σ_k y_ik: P − Y when every column of Y sums to 1.
    latex_gradient = r"\frac{1}{N} \left(P \operatorname{diag}(\mathbf{1}^T Y) - Y\right)"

    def _per_sample(self, Z, Y):
        """ℓ = −y log softmax(z)"""
        return -Y * log_softmax(Z)

    def _per_sample_grad(self, Z, Y):
        """dℓ/dz = softmax(z) Σ_k y_k − y   (= softmax(z) − y for a one-hot or probability target)"""
        P = softmax(Z)
        P *= Y.sum(axis=0, keepdims=True)
        P -= Y
        return P

    def output(self, Z):
        """p = softmax(z), the class probabilities."""
        return softmax(Z)

    def check_outputs(self, n_outputs: int) -> None:
        """At least two outputs (classes).

        NOTE: the softmax of a single logit is 1 whatever the logit, so with one
        output J = 0 and every gradient is exactly 0: training would change
        nothing and a gradient check would pass on zeros. Two classes with one
        output is binary_crossentropy.
        """
        if n_outputs < 2:
            raise ConfigError(
                f"softmax_crossentropy needs at least 2 outputs (one per class), got {n_outputs}: "
                "the softmax of one logit is always 1, so J = 0 and every gradient is 0; "
                "for two classes with one output use binary_crossentropy"
            )


LOSSES: dict[str, type[Loss]] = {
    "mse": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "huber": Huber,
    "binary_crossentropy": BinaryCrossEntropy,
    "softmax_crossentropy": SoftmaxCrossEntropy,
}
_ALIASES = {
    "squared_error": "mse",
    "mean_squared_error": "mse",
    "absolute_error": "mae",
    "mean_absolute_error": "mae",
    "bce": "binary_crossentropy",
    "binary_cross_entropy": "binary_crossentropy",
    "log_loss": "binary_crossentropy",
    "cross_entropy": "softmax_crossentropy",
    "crossentropy": "softmax_crossentropy",
    "softmax_cross_entropy": "softmax_crossentropy",
    "categorical_crossentropy": "softmax_crossentropy",
}


def get_loss(spec: str | Loss) -> Loss:
    """Resolve a loss name (or pass a :class:`Loss` through).

    Raises
    ------
    ConfigError
        For an unknown name, listing the known ones.
    """
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, str):
        key = spec.strip().lower().replace("-", "_")
        key = _ALIASES.get(key, key)
        if key in LOSSES:
            return LOSSES[key]()
    raise ConfigError(f"unknown loss {spec!r}; expected one of {sorted(LOSSES)}")
