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

Everything else about a loss lives on its class too
----------------------------------------------------
* ``tasks``: the tasks it serves (``"regression"``, ``"binary"``, ``"multiclass"``);
  :func:`for_task` and :func:`default_for_task` answer "which losses can train
  this?" for the command line and the estimators;
* ``target_range``: the values a target may take (None: any finite number),
  checked by :meth:`Loss.check_targets`;
* :meth:`Loss.example_targets`: random targets that suit it, for the gradient
  checks (``handgrad gradcheck``, ``handgrad derive --check``);
* :meth:`Loss.derivation`: the pieces ``handgrad derive`` prints
  (``dJ/dŶ = factor/N · error``, J, and the steps of dℓ/dŷ), as plain
  LaTeX/text (:class:`Formula`), so that this module needs nothing from
  :mod:`handgrad.teaching`.

So a new loss is one class here, added to :data:`LOSSES` (plus its tests and
its line in the docs); nothing else in handgrad names a loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .activations import sigmoid
from .backend import namespace
from .errors import ConfigError, DataError, ShapeError

#: The tasks a loss can serve (as the data schema and the model files name them).
TASKS = ("regression", "binary", "multiclass")


# --------------------------------------------------------------------------- derivation pieces
@dataclass(frozen=True)
class Formula:
    """A formula as LaTeX and as Unicode terminal text (``handgrad derive`` prints one or the other)."""

    latex: str
    text: str


@dataclass(frozen=True)
class Elementwise:
    """An elementwise function of the derivation's formulas: printed by name, evaluated with ``function``.

    ``function`` maps an array of shape (n_outputs, N) to one of the same shape
    (a softmax works per column). ``latex_args``/``text_args`` are printed after
    the operand: ``clip(Ŷ − Y, −1, 1)``.
    """

    key: str
    latex: str
    text: str
    function: Callable[[np.ndarray], np.ndarray]
    latex_args: str = ""
    text_args: str = ""


@dataclass(frozen=True)
class Step:
    """One line of the derivation of dℓ/dŷ: ``lhs = rhs``, then a note.

    ``note`` is a tuple of prose strings and :class:`Formula` objects; a string
    in backticks (`` `numpy.sign` ``) is printed as code.
    """

    lhs: Formula
    rhs: Formula
    note: tuple = ()


@dataclass(frozen=True)
class LossDerivation:
    """What ``handgrad derive`` prints about a loss: ``dJ/dŶ = factor/N · error``.

    ``error`` is ``probabilities(Ŷ) − Y`` (written ``P − Y``) when
    ``probabilities`` is set (the losses on logits), else
    ``error_function(Ŷ − Y)``, or ``Ŷ − Y`` itself when that is None.
    """

    factor: Fraction
    J: Formula
    error_function: Elementwise | None = None
    probabilities: Elementwise | None = None
    steps: tuple[Step, ...] = ()


def _weights(N: int, sample_weight, like) -> tuple:
    """The per-sample factor of the mean: ``(w, Σw)`` with ``w`` of shape (1, N), or ``(1, N)`` unweighted.

    ``like`` is ``Ŷ``: ``w`` is made in its dtype. ``Σw`` is a float for NumPy arrays, else a
    0-d array of their library (no wait for a GPU).
    """
    if sample_weight is None:
        return 1.0, float(N)
    xp = namespace(like, sample_weight)
    w = xp.reshape(xp.asarray(sample_weight, dtype=like.dtype), (1, -1))
    if w.shape[1] != N:
        raise ShapeError(f"sample_weight has {w.shape[1]} entries, expected one per sample ({N})")
    total = xp.sum(w)
    return w, (float(total) if xp is np else total)


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
    #: The tasks (of :data:`TASKS`) this loss can train; the first loss in
    #: :data:`LOSSES` that serves a task is that task's default.
    tasks: tuple[str, ...] = ()
    #: ``(low, high)``, the closed range every target entry must lie in; None: any finite value.
    target_range: tuple[float, float] | None = None

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
        return float(self.mean(Yhat, Y, sample_weight))

    def mean(self, Yhat, Y, sample_weight=None):
        """J as :meth:`value` computes it, left as a 0-d array of the inputs' library (a GPU's: no wait).

        Shapes as in :meth:`value`; arrays of any array API library.
        """
        w, total = _weights(Yhat.shape[1], sample_weight, Yhat)
        return namespace(Yhat).sum(self._per_sample(Yhat, Y) * w) / total

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
        w, total = _weights(Yhat.shape[1], sample_weight, Yhat)
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

    def check_targets(self, Y: np.ndarray, name: str = "Y") -> None:
        """Raise :class:`DataError` naming the first entry of ``Y`` outside :attr:`target_range`.

        Parameters
        ----------
        Y : ndarray of any shape (the public ``(n_samples, n_outputs)``, or the engine's columns)
        name : str
            The array's name in the message.
        """
        if self.target_range is None:
            return
        low, high = self.target_range
        Y = np.asarray(Y)
        bad = (Y < low) | (Y > high)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise DataError(
                f"{name} holds {Y[idx].item()!r} at index {idx}; the {self.name} loss needs targets in "
                f"[{low:g}, {high:g}]"
            )

    def example_targets(self, rng: np.random.Generator, n_outputs: int, N: int) -> np.ndarray:
        """Random targets that suit this loss, shape ``(n_outputs, N)`` (one column per sample).

        For the gradient checks: real numbers here (standard normal).
        """
        return rng.normal(size=(n_outputs, N))

    def derivation(self, n_outputs: int) -> LossDerivation | None:
        """The pieces ``handgrad derive`` prints for a network of ``n_outputs`` outputs; None: not derivable."""
        return None

    def _per_sample(self, Yhat, Y):  # pragma: no cover - abstract
        raise NotImplementedError

    def _per_sample_grad(self, Yhat, Y):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


_RESIDUAL_TEXT = "ŷ − y"


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
    tasks = ("regression",)
    latex = r"J = \frac{1}{N} \sum_{i=1}^{N} \lVert \hat{y}_i - y_i \rVert^2"
    latex_gradient = r"\frac{2}{N} (\hat{Y} - Y)"

    def derivation(self, n_outputs):
        if n_outputs == 1:  # the seed's own J
            J = Formula(r"\frac{1}{N} \sum_{i=1}^{N} {(\hat{y}_i - y_i)^2}", "1/N Σᵢ (ŷᵢ − yᵢ)²")
        else:
            J = Formula(r"\frac{1}{N} \sum_{i=1}^{N} \lVert \hat{y}_i - y_i \rVert^2", "1/N Σᵢ ‖ŷᵢ − yᵢ‖²")
        return LossDerivation(Fraction(2), J)

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
    tasks = ("regression",)
    latex = r"J = \frac{1}{N} \sum_{i=1}^{N} \lVert \hat{y}_i - y_i \rVert_1"
    latex_gradient = r"\frac{1}{N} \operatorname{sign}(\hat{Y} - Y)"

    def derivation(self, n_outputs):
        return LossDerivation(
            Fraction(1),
            Formula(r"\frac{1}{N} \sum_{i=1}^{N} \sum_k \lvert \hat{y}_{ik} - y_{ik} \rvert", "1/N Σᵢ Σₖ |ŷᵢₖ − yᵢₖ|"),
            error_function=Elementwise("sign", r"\operatorname{sign}", "sign", np.sign),
            steps=(
                Step(
                    Formula(r"\frac{d\lvert r \rvert}{dr}", "d|r|/dr"),
                    Formula(r"\operatorname{sign}(r)", "sign(r)"),
                    ("(0 at r = 0, as `numpy.sign`)",),
                ),
            ),
        )

    def _per_sample(self, Yhat, Y):
        """ℓ = |ŷ − y|"""
        return namespace(Yhat).abs(Yhat - Y)

    def _per_sample_grad(self, Yhat, Y):
        """dℓ/dŷ = sign(ŷ − y)"""
        return namespace(Yhat).sign(Yhat - Y)


@dataclass(repr=False)
class Huber(Loss):
    """Huber with threshold δ (default 1):

    ``ℓ(r) = ½ r²`` if ``|r| ≤ δ`` else ``δ (|r| − ½ δ)``, ``r = ŷ − y``;
    ``dℓ/dŷ = clip(r, −δ, δ)``.
    """

    delta: float = 1.0
    name = "huber"
    tasks = ("regression",)
    latex = (
        r"J = \frac{1}{N} \sum_{i=1}^{N} \sum_k h_\delta(\hat{y}_{ik} - y_{ik}),\;"
        r"h_\delta(r) = \begin{cases} \tfrac12 r^2 & |r| \le \delta \\ \delta(|r| - \tfrac12\delta) & \text{else}\end{cases}"
    )
    latex_gradient = r"\frac{1}{N} \operatorname{clip}(\hat{Y} - Y, -\delta, \delta)"

    def __post_init__(self):
        if not self.delta > 0:
            raise ConfigError(f"Huber delta must be > 0, got {self.delta!r}")

    def _per_sample(self, Yhat, Y):
        xp = namespace(Yhat)
        r = xp.abs(Yhat - Y)
        return xp.where(r <= self.delta, 0.5 * r * r, self.delta * (r - 0.5 * self.delta))

    def _per_sample_grad(self, Yhat, Y):
        return namespace(Yhat).clip(Yhat - Y, -self.delta, self.delta)

    def derivation(self, n_outputs):
        d = f"{self.delta:g}"
        J = Formula(
            r"\frac{1}{N} \sum_{i=1}^{N} \sum_k h(\hat{y}_{ik} - y_{ik}),\quad h(r) = \begin{cases} \tfrac12 r^2 & "
            r"\lvert r \rvert \le " + d + r" \\ " + d + r" (\lvert r \rvert - \tfrac12 \cdot " + d
            + r") & \text{otherwise} \end{cases}",
            f"1/N Σᵢ Σₖ h(ŷᵢₖ − yᵢₖ),  h(r) = r²/2 if |r| ≤ {d} else {d} (|r| − {d}/2)",
        )  # fmt: skip
        clip = Elementwise(
            f"clip{d}",
            r"\operatorname{clip}",
            "clip",
            lambda v, delta=self.delta: np.clip(v, -delta, delta),
            latex_args=f", -{d}, {d}",
            text_args=f", −{d}, {d}",
        )
        step = Step(
            Formula(r"\frac{dh}{dr}", "dh/dr"), Formula(rf"\operatorname{{clip}}(r, -{d}, {d})", f"clip(r, −{d}, {d})")
        )
        return LossDerivation(Fraction(1), J, error_function=clip, steps=(step,))

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
    tasks = ("binary",)
    target_range = (0.0, 1.0)
    latex = (
        r"J = -\frac{1}{N} \sum_{i=1}^{N} \sum_k \left[y_{ik} \log p_{ik}"
        r" + (1 - y_{ik}) \log(1 - p_{ik})\right],\; p = \frac{1}{1 + e^{-z_L}}"
    )
    latex_gradient = r"\frac{1}{N} (P - Y)"

    def _per_sample(self, Z, Y):
        """ℓ = log(1 + e^z) − y z"""
        xp = namespace(Z)
        return xp.logaddexp(xp.zeros_like(Z), Z) - Y * Z

    def _per_sample_grad(self, Z, Y):
        """dℓ/dz = σ(z) − y"""
        return sigmoid(Z) - Y

    def output(self, Z):
        """p = σ(z), the probability of class 1 for each output."""
        return sigmoid(Z)

    def example_targets(self, rng, n_outputs, N):
        """0/1 targets, shape (n_outputs, N)."""
        return rng.integers(0, 2, (n_outputs, N)).astype(np.float64)

    def derivation(self, n_outputs):
        J = Formula(
            r"-\frac{1}{N} \sum_{i=1}^{N} \sum_k \left[ y_{ik} \log p_{ik} + (1 - y_{ik}) \log(1 - p_{ik}) \right],"
            r"\quad P = \operatorname{sigmoid}(\hat{Y})",
            "−1/N Σᵢ Σₖ [yᵢₖ log pᵢₖ + (1 − yᵢₖ) log(1 − pᵢₖ)],  P = sigmoid(Ŷ)",
        )
        steps = (
            Step(
                Formula(r"\frac{dp}{d\hat{y}}", "dp/dŷ"),
                Formula("p (1 - p)", "p (1 − p)"),
                ("for ", Formula(r"p = \frac{1}{1 + e^{-\hat{y}}}", "p = 1/(1 + e^(−ŷ))")),
            ),
            Step(
                Formula(r"\frac{d\ell}{d\hat{y}}", "dℓ/dŷ"),
                Formula(
                    r"\left(-\frac{y}{p} + \frac{1 - y}{1 - p}\right) p (1 - p) = -y (1 - p) + (1 - y) p = p - y",
                    "(−y/p + (1 − y)/(1 − p)) p (1 − p) = −y (1 − p) + (1 − y) p = p − y",
                ),
                ("the sigmoid's derivative cancels the log's denominators",),
            ),
        )
        # NOTE: the stable sigmoid of activations.py; 1/(1 + e^{-z}) overflows for z < −709.
        probabilities = Elementwise("sigmoid", r"\operatorname{sigmoid}", "sigmoid", sigmoid)
        return LossDerivation(Fraction(1), J, probabilities=probabilities, steps=steps)


def log_softmax(Z: np.ndarray) -> np.ndarray:
    """log softmax over axis 0 (the classes): ``z − logsumexp(z)``, shift-stable.

    Parameters
    ----------
    Z : ndarray of shape (n_classes, N)
    """
    xp = namespace(Z)
    shifted = Z - xp.max(Z, axis=0, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=0, keepdims=True))


def softmax(Z: np.ndarray) -> np.ndarray:
    """softmax over axis 0: ``e^{z − max z} / Σ e^{z − max z}``, shape as ``Z``."""
    xp = namespace(Z)
    e = xp.exp(Z - xp.max(Z, axis=0, keepdims=True))
    e /= xp.sum(e, axis=0, keepdims=True)
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
    tasks = ("multiclass",)
    # Probabilities (one-hot in training): non-negative. NOTE: the gradient is that of the
    # value for any non-negative target; columns that do not sum to 1 are allowed.
    target_range = (0.0, float("inf"))
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
        P *= namespace(Y).sum(Y, axis=0, keepdims=True)
        P -= Y
        return P

    def output(self, Z):
        """p = softmax(z), the class probabilities."""
        return softmax(Z)

    def example_targets(self, rng, n_outputs, N):
        """One-hot columns, shape (n_outputs, N)."""
        return np.eye(n_outputs)[:, rng.integers(0, n_outputs, N)]

    def derivation(self, n_outputs):
        J = Formula(
            r"-\frac{1}{N} \sum_{i=1}^{N} \sum_k y_{ik} \log p_{ik},\quad P = \operatorname{softmax}(\hat{Y})",
            "−1/N Σᵢ Σₖ yᵢₖ log pᵢₖ,  P = softmax(Ŷ)  (per column)",
        )
        steps = (
            Step(
                Formula(r"\frac{\partial p_k}{\partial \hat{y}_j}", "∂pₖ/∂ŷⱼ"),
                Formula(r"p_k (\mathbf{1}[k = j] - p_j)", "pₖ (1[k = j] − pⱼ)"),
                (
                    "for ",
                    Formula(r"p_k = e^{\hat{y}_k} / \sum_m e^{\hat{y}_m}", "pₖ = e^ŷₖ / Σₘ e^ŷₘ"),
                    ": the softmax Jacobian ",
                    Formula(r"\operatorname{diag}(p) - p p^T", "diag(p) − p pᵀ"),
                ),
            ),
            Step(
                Formula(r"\frac{\partial \ell}{\partial \hat{y}_j}", "∂ℓ/∂ŷⱼ"),
                Formula(
                    r"-\sum_k \frac{y_k}{p_k} p_k (\mathbf{1}[k = j] - p_j) = -y_j + p_j \sum_k y_k = p_j - y_j",
                    "−Σₖ (yₖ/pₖ) pₖ (1[k = j] − pⱼ) = −yⱼ + pⱼ Σₖ yₖ = pⱼ − yⱼ",
                ),
                (
                    "since ",
                    Formula(r"\sum_k y_k = 1", "Σₖ yₖ = 1"),
                    " (one-hot targets): the Jacobian cancels the log's ",
                    Formula(r"1/p_k", "1/pₖ"),
                    " (the library keeps the general ",
                    Formula(r"p_j \sum_k y_k - y_j", "pⱼ Σₖ yₖ − yⱼ"),
                    ", the same for such targets)",
                ),
            ),
        )
        probabilities = Elementwise("softmax", r"\operatorname{softmax}", "softmax", softmax)
        return LossDerivation(Fraction(1), J, probabilities=probabilities, steps=steps)

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


def for_task(task: str, n_outputs: int | None = None) -> list[str]:
    """Names of the losses that can train ``task`` (of :data:`TASKS`), the default first.

    Parameters
    ----------
    task : {"regression", "binary", "multiclass"}
    n_outputs : int, optional
        Keep only the losses that accept a network of this many outputs
        (:meth:`Loss.check_outputs`).

    >>> for_task("regression")
    ['mse', 'mae', 'huber']
    >>> for_task("multiclass", n_outputs=3)
    ['softmax_crossentropy']

    Raises
    ------
    ConfigError
        For a task not in :data:`TASKS`.
    """
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; expected one of {TASKS}")
    names = []
    for name, cls in LOSSES.items():
        if task not in cls.tasks:
            continue
        if n_outputs is not None:
            try:
                cls().check_outputs(n_outputs)
            except ConfigError:
                continue
        names.append(name)
    return names


def default_for_task(task: str) -> str:
    """The loss a ``task`` trains with unless told otherwise (the first of :func:`for_task`)."""
    return for_task(task)[0]


def check_task(loss: str | Loss, task: str, flag: str = "loss") -> Loss:
    """The loss resolved, or :class:`ConfigError` if it cannot train ``task``.

    ``flag`` names the setting in the message (``"--loss"`` at the command line).
    """
    fn = get_loss(loss)
    if type(fn) in LOSSES.values() and task not in fn.tasks:
        raise ConfigError(f"{flag} {fn.name} does not fit a {task} task; use one of {for_task(task)}")
    return fn


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
