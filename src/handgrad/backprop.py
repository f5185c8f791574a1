r"""The forward pass and backpropagation (§1.3): the one implementation that every path runs.

Training (:mod:`handgrad.training.step`), :meth:`handgrad.Network.forward_columns`,
:meth:`~handgrad.Network.backward`, :meth:`~handgrad.Network.gradients`,
:func:`handgrad.gradcheck` and the teaching code all call :func:`forward` and
:func:`backward` below. The §1.2 expanded form (:mod:`handgrad.gradients`) is the
second, deliberately independent method.

Notation (the seed's, 1-based)
------------------------------
Inside the engine a batch is a matrix whose **columns** are samples. For
``l = 1..L``, with the layer's parameters as the augmented matrix
``Wb[l] = [W_l | b_l]`` of shape ``(n_l, n_{l-1} + 1)`` (see :mod:`handgrad.parameters`)
and the activations kept with a last row of ones, ``A[l] = [a_l; 1]``::

    z[l]     = Wb[l] A[l-1]                         = W_l a_{l-1} + b_l      (n_l, N)
    a[l]     = σ_l(z[l])                                                      (n_l, N)
    delta[L] = dJ/dŶ ∘ σ_L'(z[L])                                             (n_L, N)
    G[l]     = delta[l] A[l-1]ᵀ                     = [dW_l | db_l]           (n_l, n_{l-1} + 1)
    delta[l-1] = (W_lᵀ delta[l]) ∘ σ_{l-1}'(z[l-1])                           (n_{l-1}, N)

``A[0] = [x; 1]`` is the batch itself with a row of ones: the caller provides it
(the training step keeps the whole data set with a column of ones, so a batch
is a view; :func:`augment` makes one from a plain batch). Index 0 of ``z``,
``a``'s ones row and ``delta`` is unused, so the code reads like the seed.

Every array is written into a :class:`Workspace`, allocated once per batch
width ``N``: a training step allocates nothing for ReLU and identity layers.

Every array library: the arrays may be NumPy's, torch tensors (CPU or GPU), CuPy's or
any array API library's. The products and elementwise operations that write into the
workspace go through the workspace's :class:`handgrad.backend.Backend` (``bk.dot(x, y,
out=z)`` is ``np.dot`` for NumPy, ``torch.mm`` for PyTorch, ``z[...] = x @ y`` for any
other library); everything else is the array API's operators.

NOTE: ``np.dot`` rather than ``@`` on NumPy: the same BLAS call with about half the call
overhead, which matters at the seed's size (a step is ~50 µs). ``np.dot`` needs a
C-contiguous ``out``; every buffer here is one (the gradient blocks, stored
column by column, are written as their transposes).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from .activations import IDENTITY, RELU, Activation
from .backend import NUMPY, Backend, device, namespace
from .backend import of as backend_of
from .losses import Loss, MeanSquaredError
from .parameters import FlatLayout


class Workspace:
    """The arrays of the forward and backward passes for batches of ``N`` columns.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[n_0, ..., n_L]``.
    activations : sequence of Activation
        σ_1 .. σ_L.
    N : int
        Batch width (number of samples).
    dtype : numpy dtype
        float32 or float64, as NumPy names it (also for another backend's arrays).
    bk : Backend, default NUMPY
        The array library and device of the buffers (:mod:`handgrad.backend`).
    forward_only : bool, default False
        Buffers for :func:`forward` alone (prediction): each ``z[l]`` *is* ``a[l]`` (σ applied
        in place); ``delta`` and ``deltaT`` hold no layers, every ``mask[l]`` is None. A third of the
        memory for ReLU layers, so that predicting on many rows touches less fresh memory
        (page faults made a 10,000-row forward pass of the seed's network 3× slower).

    Attributes (1-based lists; entry 0 unused except ``A[0]``, set per batch)
    ----------
    A : list of ndarray
        ``A[l] = [a_l; 1]`` of shape ``(n_l + 1, N)`` for l = 1..L-1 (the ones row written once).
    z, a, delta : list of ndarray
        ``z[l]``, ``a[l]`` (a view of ``A[l]`` above its ones row; the output ``a[L]`` is its
        own array), ``delta[l]``, each ``(n_l, N)``. For an identity layer ``a[l]`` *is* ``z[l]``.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activations: Sequence[Activation],
        N: int,
        dtype,
        bk: Backend = NUMPY,
        forward_only: bool = False,
    ):
        sizes = list(layer_sizes)
        L = len(sizes) - 1
        self.N = N
        self.bk = bk
        self.A: list = [None]
        self.z: list = [None]
        self.a: list = [None]
        self.delta: list = [None]
        #: ``mask[l] = 1[z_l > 0]`` (= ReLU'(z_l)) as numbers, for a ReLU layer (else None): written by the
        #: forward pass, so that the backward pass is one float multiplication (a boolean one casts).
        self.mask: list = [None]
        for l in range(1, L + 1):
            n = sizes[l]
            if l < L:
                A = bk.empty((n + 1, N), dtype)
                A[-1, :] = 1.0  # the row of ones that carries b_{l+1}
                a = A[:-1, :]
            else:
                A, a = None, bk.empty((n, N), dtype)
            # z_l written straight into a_l where σ_l is the identity (a_l = z_l), or where no backward
            # pass needs z_l (forward_only: σ_l applied in place)
            z = a if forward_only or activations[l - 1] is IDENTITY else bk.empty((n, N), dtype)
            self.A.append(A)
            self.a.append(a)
            self.z.append(z)
            if forward_only:
                self.mask.append(None)  # forward() then takes max(z, 0), in place
                continue
            self.delta.append(bk.empty((n, N), dtype))
            self.mask.append(bk.empty((n, N), dtype) if activations[l - 1] is RELU and l < L else None)
        #: ``delta[l]ᵀ`` as views, made once (a view costs ~0.2 µs: the seed's step is ~65 µs).
        self.deltaT: list = [None] + [d.T for d in self.delta[1:]]
        # The transposed views of the parameters and gradient blocks backward() multiplies by,
        # made on the first call for a given pair of lists (the training step passes the same ones).
        self._transposed: tuple = (None, None, None, None)

    def transposed(self, Wb: Sequence, G: Sequence) -> tuple[list, list]:
        """``[W_lᵀ]`` and ``[[dW_l | db_l]ᵀ]`` (views) for the lists ``Wb`` and ``G``, cached by identity."""
        Wb_for, G_for, WT, GT = self._transposed
        if Wb_for is not Wb or G_for is not G:
            WT = [None] + [B[:, :-1].T for B in Wb]  # W_lᵀ, (n_{l-1}, n_l), 1-based
            GT = [None] + [g.T for g in G]
            self._transposed = (Wb, G, WT, GT)
        return WT, GT


class Workspaces:
    """A :class:`Workspace` per batch width, made on first use (a data set has at most two widths)."""

    def __init__(self, layer_sizes: Sequence[int], activations: Sequence[Activation], dtype, bk: Backend = NUMPY):
        self.layer_sizes = list(layer_sizes)
        self.activations = list(activations)
        self.dtype = np.dtype(dtype)
        self.bk = bk
        self._by_width: dict[int, Workspace] = {}

    def __call__(self, N: int) -> Workspace:
        ws = self._by_width.get(N)
        if ws is None:
            ws = self._by_width[N] = Workspace(self.layer_sizes, self.activations, N, self.dtype, self.bk)
        return ws


def augment(A0):
    """``[a_0; 1]``: the batch ``A0`` of shape (n_0, N) with a last row of ones, (n_0 + 1, N).

    Of ``A0``'s array library and device.
    """
    if isinstance(A0, np.ndarray):
        out = np.empty((A0.shape[0] + 1, A0.shape[1]), A0.dtype)
    else:
        xp = namespace(A0)
        out = xp.empty((A0.shape[0] + 1, A0.shape[1]), dtype=A0.dtype, device=device(A0))
    out[:-1, :] = A0
    out[-1, :] = 1.0
    return out


def times_sigma_prime(delta: np.ndarray, act: Activation, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``delta ∘ σ'(z)`` in place; ``a = σ(z)`` lets sigmoid, tanh and ReLU skip recomputing σ."""
    if act is not IDENTITY:  # σ' = 1: nothing to multiply
        delta *= act.grad(z, a)
    return delta


def forward(Wb: Sequence[np.ndarray], activations: Sequence[Activation], A0: np.ndarray, ws: Workspace) -> np.ndarray:
    """The forward pass (§1.3), every ``z[l]`` and ``a[l]`` written into ``ws``; returns ``Ŷ = a[L]``.

    Parameters
    ----------
    Wb : sequence of ndarray
        ``[W_l | b_l]`` for l = 1..L, shape ``(n_l, n_{l-1} + 1)`` (0-based list: ``Wb[l-1]``).
    activations : sequence of Activation
        σ_1 .. σ_L.
    A0 : ndarray of shape (n_0 + 1, N)
        The batch with a last row of ones (:func:`augment`), any memory order.
    ws : Workspace
        Of width N; ``ws.A[0]`` is set to ``A0``.
    """
    ws.A[0] = A0
    bk = ws.bk
    L = len(Wb)
    for l in range(1, L + 1):
        z, a, act = ws.z[l], ws.a[l], activations[l - 1]
        bk.dot(Wb[l - 1], ws.A[l - 1], out=z)  # z_l = [W_l | b_l] [a_{l-1}; 1] = W_l a_{l-1} + b_l
        if act is RELU:
            mask = ws.mask[l]
            if mask is not None:
                bk.greater(z, 0.0, out=mask)  # ReLU'(z_l) = 1[z_l > 0], kept for delta_l
                # a_l = max(z_l, 0) = z_l ∘ 1[z_l > 0]: the seed's ReLU. NOTE: the product is ~1.5 µs
                # cheaper per 4096 entries than np.maximum (which checks for NaN), 5 % of the seed's
                # step; it writes -0 for negative z (equal to 0 in every use; Network.forward_columns
                # shows +0) and NaN for z = -inf (a diverged run, which the loss check then stops).
                bk.multiply(z, mask, out=a)
            else:
                bk.maximum(z, 0.0, out=a)  # a_l = max(z_l, 0), the seed's ReLU
        elif act is not IDENTITY:  # (identity: a_l is z_l already)
            a[...] = act.function(z)  # a_l = σ_l(z_l)
    return ws.a[L]


def backward(
    Wb: Sequence[np.ndarray],
    activations: Sequence[Activation],
    ws: Workspace,
    G: Sequence[np.ndarray],
    delta_L_ready: bool = False,
    input_delta: np.ndarray | None = None,
) -> None:
    """Backpropagation (§1.3) from ``ws.delta[L]``, the gradients written into ``G``.

    Parameters
    ----------
    Wb : sequence of ndarray
        ``[W_l | b_l]``, as in :func:`forward` (run on the same batch just before).
    activations : sequence of Activation
    ws : Workspace
        Holding the forward pass and, in ``ws.delta[L]``, ``dJ/dŶ`` (shape (n_L, N)) —
        or already ``delta_L = dJ/dŶ ∘ σ_L'(z_L)`` when ``delta_L_ready``.
    G : sequence of ndarray
        ``[dW_l | db_l]`` for l = 1..L, shapes of ``Wb``, stored column by column (F order,
        as :meth:`handgrad.parameters.FlatLayout.blocks` makes them): overwritten.
    input_delta : ndarray of shape (n_0, N), C order, optional
        Where to write ``dJ/da_0 = W_1ᵀ delta_1``, the gradient with respect to the input,
        which a layer stack (:mod:`handgrad.layers`) passes on to the layer before.
    """
    L = len(Wb)
    z, a, A, delta, bk = ws.z, ws.a, ws.A, ws.delta, ws.bk
    WT, GT = ws.transposed(Wb, G)  # W_lᵀ and [dW_l | db_l]ᵀ, views
    if not delta_L_ready:
        times_sigma_prime(delta[L], activations[L - 1], z[L], a[L])  # delta_L = dJ/dŶ ∘ σ_L'(z_L)
    for l in range(L, 0, -1):  # l = L, ..., 1
        # [dW_l | db_l] = delta_l [a_{l-1}; 1]ᵀ  (= delta_l a_{l-1}ᵀ beside Σ_i delta_l[:, i])
        # NOTE: written as its transpose, [dW_l | db_l]ᵀ = [a_{l-1}; 1] delta_lᵀ, because G_l is stored
        # column by column (handgrad.parameters) and np.dot writes only into a C-ordered `out`.
        bk.dot(A[l - 1], ws.deltaT[l], out=GT[l])
        if l > 1:
            # delta_{l-1} = (W_lᵀ delta_l) ∘ σ_{l-1}'(z_{l-1})
            bk.dot(WT[l], delta[l], out=delta[l - 1])
            if ws.mask[l - 1] is not None:  # ReLU: ∘ 1[z_{l-1} > 0], kept by the forward pass
                bk.multiply(delta[l - 1], ws.mask[l - 1], out=delta[l - 1])
            else:
                times_sigma_prime(delta[l - 1], activations[l - 2], z[l - 1], a[l - 1])
    if input_delta is not None:
        bk.dot(WT[1], delta[1], out=input_delta)  # dJ/da_0 = W_1ᵀ delta_1


def loss_and_output_delta(
    loss: Loss,
    act_L: Activation,
    ws: Workspace,
    Y: np.ndarray,
    sample_weight: np.ndarray | None = None,
    denominator: int | None = None,
    scale: float = 1.0,
) -> float:
    """J on the batch, and ``delta_L = scale · dJ/dŶ ∘ σ_L'(z_L)`` written into ``ws.delta[L]``.

    Run after :func:`forward` on the same workspace.

    Parameters
    ----------
    loss : Loss
    act_L : Activation
        σ_L, the output layer's activation.
    ws : Workspace
    Y : ndarray of shape (n_L, N)
        The batch's targets (the seed's ``y_true``), any memory order.
    sample_weight : ndarray of shape (N,), optional
    denominator : int, optional
        None: ``dJ/dŶ`` of the mean over the batch's own ``N`` rows. An int ``k``: the
        seed's fixed ``1/k`` (its ``delta3 = 2/batch_size * (y_pred - y_true)``, also
        on a short last batch).
    scale : float, default 1
        A factor folded into ``delta_L`` (and so into every gradient): plain SGD
        folds its learning rate in here, so that its update is ``θ ← θ − G``.

    Returns
    -------
    float, or a 0-d array of the workspace's backend
        J, the mean loss over the batch's rows (weighted by ``sample_weight``): a Python
        float on NumPy; on a lazy backend (:attr:`handgrad.backend.Backend.lazy`, e.g. a
        GPU) a 0-d array, so that the step does not wait for the device.
    """
    L = len(ws.delta) - 1
    Yhat, dL, bk = ws.a[L], ws.delta[L], ws.bk
    N = Yhat.shape[1]
    if type(loss) is MeanSquaredError and act_L is IDENTITY and sample_weight is None:
        # The seed's case, in place: error = y_pred - y_true; J = 1/N Σ (ŷ − y)²; delta_L = 2/N (Ŷ − Y)
        bk.subtract(Yhat, Y, out=dL)
        J = bk.item(bk.sumsq(dL)) / N
        dL *= 2.0 * scale / (denominator or N)
        return J
    J = bk.item(loss.mean(Yhat, Y, sample_weight))
    dL[...] = loss.gradient(Yhat, Y, sample_weight, denominator)  # dJ/dŶ (the seed's: 1/batch_size)
    times_sigma_prime(dL, act_L, ws.z[L], Yhat)  # delta_L = dJ/dŶ ∘ σ_L'(z_L)
    if scale != 1.0:
        dL *= scale
    return J


# ------------------------------------------------------------------ results, for the public API
@dataclass
class ForwardCache:
    """What the forward pass keeps for the backward pass (§1.3).

    ``z[l-1]`` is ``z_l`` of shape ``(n_l, N)`` for l = 1..L; ``a[l]`` is ``a_l`` of
    shape ``(n_l, N)`` for l = 0..L (``a[0]`` is the input, ``a[L]`` is Ŷ).
    ``workspace`` is the :class:`Workspace` they live in (what :func:`backward` runs on).
    """

    z: list[np.ndarray]
    a: list[np.ndarray]
    workspace: Workspace | None = field(default=None, repr=False, compare=False)

    @property
    def output(self) -> np.ndarray:
        """Ŷ = a_L, shape (n_L, N)."""
        return self.a[-1]


@dataclass
class Gradients:
    """dJ/dW_l and dJ/db_l for every layer, in the shapes of W_l and b_l.

    Index by name (``g["W2"]``, ``g["b1"]``, 1-based as in the seed) or iterate in
    the order of :meth:`Network.parameters` (W1, b1, W2, b2, ...).
    """

    dW: list[np.ndarray]
    db: list[np.ndarray]
    #: J at the point where the gradients were taken (set by the gradient methods).
    loss: float | None = field(default=None, compare=False)
    #: The flat buffer the gradients are views of (the layout of :mod:`handgrad.parameters`), if any.
    flat: np.ndarray | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of_flat(cls, flat: np.ndarray, layout: FlatLayout, loss: float | None = None) -> Gradients:
        """Gradients viewing ``flat``, laid out as ``layout`` (``[dW_l | db_l]`` blocks)."""
        views = layout.views(flat)
        return cls(views[0::2], views[1::2], loss, flat)

    def __getitem__(self, name: str) -> np.ndarray:
        kind, index = parse_parameter_name(name, len(self.dW))
        return (self.dW if kind == "W" else self.db)[index - 1]

    def __iter__(self) -> Iterator[np.ndarray]:
        for dW, db in zip(self.dW, self.db):
            yield dW
            yield db

    def names(self) -> list[str]:
        """['W1', 'b1', 'W2', 'b2', ...]"""
        return parameter_names(len(self.dW))

    def items(self) -> list[tuple[str, np.ndarray]]:
        return list(zip(self.names(), self))

    def norm(self) -> float:
        """Euclidean norm of all gradients taken together."""
        if self.flat is not None:
            return math.sqrt(float(backend_of(self.flat).sumsq(self.flat)))
        return float(np.sqrt(sum(float(np.vdot(g, g)) for g in self)))


def parameter_names(n_layers: int) -> list[str]:
    """['W1', 'b1', ..., 'WL', 'bL'] for L = ``n_layers``."""
    return [f"{kind}{l}" for l in range(1, n_layers + 1) for kind in ("W", "b")]


def parse_parameter_name(name: str, n_layers: int) -> tuple[str, int]:
    """``"W2"`` → ``("W", 2)``; KeyError naming the parameters for anything else."""
    if isinstance(name, str) and len(name) >= 2 and name[0] in "Wb" and name[1:].isdigit():
        index = int(name[1:])
        if 1 <= index <= n_layers:
            return name[0], index
    raise KeyError(f"no parameter {name!r}; this network has {parameter_names(n_layers)}")
