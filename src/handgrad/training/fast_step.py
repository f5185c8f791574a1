r"""The fast training step: plain SGD on an MSE network with folded biases and one flat buffer.

:func:`handgrad.training.train` uses this step automatically when it applies
(see :func:`applies`): a network with an identity output and ReLU (or identity)
hidden layers, the MSE loss without sample weights, the §1.3 backpropagation
gradient, and plain SGD (no momentum, no weight decay) — the seed's experiment.
Everything else goes through the general step in :mod:`handgrad.training.loop`;
the tests run both on the same problems and compare them.

Why a second step
-----------------
For a network the size of the seed's (37-128-64-1, batch 32) a step is eight
small matrix products and a dozen element-wise operations; NumPy's call
overhead (0.4–1 µs a call) then costs about as much as the arithmetic, and so
does the memory layout the products see. This step does the least NumPy work
we could find (``docs/benchmarks.md`` has the measurements):

* **Biases folded into the products** (§1.3 written with augmented matrices):
  with ``[W_l | b_l]`` of shape ``(n_l, n_{l-1}+1)`` and the activations kept as
  ``[a_{l-1}; 1]`` (a last row of ones, written once),

  - ``z_l = W_l a_{l-1} + b_l = [W_l | b_l] [a_{l-1}; 1]`` — one product, no bias add;
  - ``[dW_l | db_l] = [δ_l a_{l-1}ᵀ | δ_l 1] = δ_l [a_{l-1}; 1]ᵀ`` — one product gives both;
  - ``δ_{l-1} = (W_lᵀ δ_l) ∘ σ'(z_{l-1})`` uses the view ``[W_l | b_l][:, :-1]``.

  The data get their column of ones once per :func:`train` call.
* **All parameters in one flat array** ``theta`` (and all gradients in one flat
  ``grad`` laid out alike), so the SGD update of every parameter is one
  subtraction. The learning rate is folded into the output delta:
  ``δ_L = (2 lr / N)(Ŷ − Y)`` (a 1 × N array instead of every parameter), so
  ``grad`` holds ``lr · dJ/dθ`` and the update is ``theta −= grad``.
* **Memory layouts chosen for the BLAS kernels.** OpenBLAS's small-matrix
  kernels differ by up to 2.5× between the transpose variants of one product
  shape (e.g. ``δ_2 [a_1; 1]ᵀ``, 64×32 by 32×129: 11.3 µs with both operands
  row-major in the column orientation, 7 µs with ``[a_1; 1]`` stored sample-major).
  Each buffer's storage order (the mathematics is unchanged) is fixed by
  :data:`LAYOUT` below; measured in ``benchmarks/bench_epoch.py --layouts``.
  NOTE: the layout is fixed, never tuned at run time, so that the same call
  gives bit-identical results on every run.

The network's own ``W_l``, ``b_l`` are not touched during an epoch: the caller
copies them in (:meth:`FastSGD.load`) and out (:meth:`FastSGD.store`) at epoch
boundaries, where validation, callbacks and checkpoints look at them.
"""

from __future__ import annotations

import math

import numpy as np

from ..activations import IDENTITY, RELU
from ..losses import MeanSquaredError
from .optimizers import SGD

#: Storage order of each buffer, ``"C"`` (row-major in the engine's column
#: orientation, ``(n_l, N)``) or ``"F"`` (sample-major: ``N`` rows of ``n_l``).
#: ``W``: the augmented ``[W_l | b_l]`` of the hidden layers (the output layer's is C),
#: ``A``: the augmented activations ``[a_l; 1]`` of hidden layers but the last,
#: ``A_last``: those of the last hidden layer, ``D``/``D_last``: the deltas likewise.
LAYOUT = {"W": "F", "A": "F", "A_last": "C", "D": "F", "D_last": "C"}

#: Set to False to send every call through the general step (the tests compare the two).
ENABLED = True


def applies(net, loss, optimizer, sample_weight, gradient: str) -> bool:
    """Whether :class:`FastSGD` computes exactly what the general step would (to rounding).

    Parameters
    ----------
    net : Network
    loss : Loss
    optimizer : Optimizer
    sample_weight : ndarray of shape (n_samples,) or None
    gradient : str
    """
    return (
        ENABLED
        and gradient == "backprop"
        and sample_weight is None
        and type(loss) is MeanSquaredError
        and net.activations[-1] is IDENTITY
        and all(act is RELU or act is IDENTITY for act in net.activations[:-1])
        and type(optimizer) is SGD
        and optimizer.momentum == 0
        and optimizer.weight_decay == 0
    )


def _matrix(flat: np.ndarray, offset: int, shape: tuple[int, int], order: str) -> np.ndarray:
    """A view of ``flat[offset:]`` as a matrix of ``shape``, stored in ``order`` ("C" or "F")."""
    size = shape[0] * shape[1]
    piece = flat[offset : offset + size]
    return piece.reshape(shape) if order == "C" else piece.reshape(shape[::-1]).T


def _empty(shape: tuple[int, int], order: str, dtype) -> np.ndarray:
    return np.empty(shape, dtype) if order == "C" else np.empty(shape[::-1], dtype).T


def _dot(A: np.ndarray, B: np.ndarray, out: np.ndarray) -> tuple:
    """``(np.dot, x, y, o)`` such that ``np.dot(x, y, o)`` writes ``A @ B`` into ``out``.

    NOTE: ``np.dot`` needs a C-contiguous ``out``; a sample-major (F) ``out`` gets
    ``Bᵀ Aᵀ`` written into its transpose, which is the same numbers.
    """
    if out.flags.c_contiguous:
        return (np.dot, A, B, out)
    return (np.dot, B.T, A.T, out.T)


class FastSGD:
    """Forward, backpropagation (§1.3) and the SGD update of one mini-batch, all in place.

    Parameters
    ----------
    net : Network
        Identity output, ReLU or identity hidden layers (see :func:`applies`).
    X : ndarray of shape (n_samples, n_0 + 1), C order
        This epoch's rows with a last column of ones (refilled in place by the caller).
    Y : ndarray of shape (n_samples, n_L), C order
    batch_size : int
    seed_denominator : int or None
        None: ``δ_L = 2/N_b (Ŷ − Y)`` with ``N_b`` the batch's rows; an int: the
        seed's fixed ``2/batch_size`` (also on a short last batch).
    layout : dict, optional
        Storage orders (default :data:`LAYOUT`); for measurements.
    """

    def __init__(self, net, X: np.ndarray, Y: np.ndarray, batch_size: int, seed_denominator=None, layout=None):
        lay = dict(LAYOUT, **(layout or {}))
        self.net = net
        dtype = net.dtype
        sizes = net.layer_sizes
        L = len(sizes) - 1
        self.n_params = sum(W.size + b.size for W, b in zip(net.weights, net.biases))
        #: All parameters: [W_l | b_l] for l = 1..L, one after the other.
        self.theta = np.empty(self.n_params, dtype)
        #: lr · dJ/dθ in the same layout (the learning rate is folded in: see the module docstring).
        self.grad = np.zeros(self.n_params, dtype)
        self.Wb, self.Gb, off = [], [], 0
        for l in range(L):
            shape = (sizes[l + 1], sizes[l] + 1)
            order = lay["W"] if l < L - 1 else "C"
            self.Wb.append(_matrix(self.theta, off, shape, order))
            self.Gb.append(_matrix(self.grad, off, shape, order))
            off += shape[0] * shape[1]
        self.relu = [act is RELU for act in net.activations[:-1]]
        self.seed_denominator = seed_denominator
        self.lr = 0.0
        self.bad_loss = math.nan
        self._programs: dict[int, tuple] = {}  # per batch width N: buffers and operations
        # The batches: only the data views differ from batch to batch (made here, once per call);
        # everything else is shared by the batches of one width.
        n = X.shape[0]
        n_full = n // batch_size
        # The batches' data as views: the full batches from one reshape (iterating over
        # it makes the views in C, ~10x faster than slicing in Python), then the short one.
        # rows (N, n_0 + 1): the batch [x; 1] is rows.T, sample-major; targets (n_L, N).
        full = self._prog(batch_size, sizes, lay, dtype) if n_full else None
        X3 = X[: n_full * batch_size].reshape(n_full, batch_size, X.shape[1])
        Y3 = Y[: n_full * batch_size].reshape(n_full, batch_size, Y.shape[1]).transpose(0, 2, 1)
        self._batches: list[tuple] = [(rows, Yb, full) for rows, Yb in zip(X3, Y3)]
        if n > n_full * batch_size:
            i = n_full * batch_size
            self._batches.append((X[i:], Y[i:].T, self._prog(n - i, sizes, lay, dtype)))

    def _prog(self, N: int, sizes, lay, dtype) -> tuple:
        prog = self._programs[N] = self._program(N, sizes, lay, dtype)
        return prog

    def _program(self, N: int, sizes, lay, dtype) -> tuple:
        """Buffers and operations for batches of ``N`` rows (all but the two products with the data)."""
        A, Z, D, mask = self._buffers(N, sizes, lay, dtype)
        L = len(sizes) - 1
        acts = [None, *A]  # acts[0], the data, differs per batch: handled in epoch()
        fwd = []  # after z_1 = [W_1|b_1] [x; 1]
        for l in range(L):
            if l > 0:
                fwd.append(_dot(self.Wb[l], acts[l], Z[l]))  # z_l = [W_l|b_l] [a_{l-1}; 1]
            if l == L - 1:
                break  # Ŷ = z_L (identity output)
            h = acts[l + 1][:-1]  # a_l, the rows above the ones
            if not self.relu[l]:
                if Z[l] is not h:
                    fwd.append((np.add, Z[l], 0.0, h))  # identity: a_l = z_l
            elif mask[l] is not None and lay.get("relu", "mul") == "mul":
                fwd.append((np.greater, Z[l], 0.0, mask[l]))  # 1[z_l > 0] = ReLU'(z_l), kept for δ
                fwd.append((np.multiply, Z[l], mask[l], h))  # a_l = z_l ∘ 1[z_l > 0]
            elif mask[l] is not None:
                fwd.append((_maximum, Z[l], 0.0, h))
                fwd.append((np.greater, Z[l], 0.0, mask[l]))
            else:
                fwd.append((_maximum, Z[l], 0.0, h))
        bwd = []  # before [dW_1 | db_1] = δ_1 [x; 1]ᵀ
        for l in range(L - 1, 0, -1):
            bwd.append(_dot(D[l], acts[l].T, self.Gb[l]))  # [dW_l | db_l] = δ_l [a_{l-1}; 1]ᵀ
            bwd.append(_dot(self.Wb[l][:, :-1].T, D[l], D[l - 1]))  # W_lᵀ δ_l
            if self.relu[l - 1]:  # ∘ ReLU'(z_{l-1})
                if mask[l - 1] is not None:
                    bwd.append((np.multiply, D[l - 1], mask[l - 1], D[l - 1]))
                else:
                    bwd.append((_relu_back, D[l - 1], acts[l][:-1], D[l - 1]))
        # The two products with the batch's data, z_1 = [W_1|b_1] [x; 1] and δ_1 [x; 1]ᵀ, as
        # (operand, transposed?, out) so that epoch() only slots the batch in (see _dot).
        first = (self.Wb[0], Z[0]) if Z[0].flags.c_contiguous else (self.Wb[0].T, Z[0].T)
        last = (D[0], self.Gb[0]) if self.Gb[0].flags.c_contiguous else (D[0].T, self.Gb[0].T)
        scale = np.zeros((), dtype)  # 2 lr / N, set by set_lr
        return (
            Z[0].flags.c_contiguous,
            first,
            tuple(fwd),
            Z[L - 1],
            D[L - 1],
            scale,
            tuple(bwd),
            self.Gb[0].flags.c_contiguous,
            last,
        )

    @staticmethod
    def _buffers(N: int, sizes, lay, dtype):
        L = len(sizes) - 1
        A, Z, D, mask = [], [], [], []
        for l in range(1, L + 1):
            last_hidden = l == L - 1
            if l < L:
                order = lay["A_last"] if last_hidden else lay["A"]
                a = _empty((sizes[l] + 1, N), order, dtype)
                a[-1] = 1.0  # the ones row that carries b_{l+1}
                A.append(a)
                h = a[:-1]
                # z_l in place in a_l where the product can write there (C order), else its own buffer
                Z.append(h if h.flags.c_contiguous else _empty((sizes[l], N), order, dtype))
                dorder = lay["D_last"] if last_hidden else lay["D"]
                D.append(_empty((sizes[l], N), dorder, dtype))
                mask.append(_empty((sizes[l], N), order, dtype) if lay.get("mask", "float") == "float" else None)
            else:
                Z.append(np.empty((sizes[l], N), dtype))
                D.append(Z[-1])  # δ_L overwrites the output: (Ŷ − Y), then scaled
        return A, Z, D, mask

    def set_lr(self, lr: float) -> None:
        """Fold ``lr`` into every batch's output scale ``2 lr / N`` (the seed: ``2 lr / batch_size``)."""
        self.lr = lr
        # NOTE: with lr = 0 the gradient would vanish from `grad` (its norm is still logged):
        # scale by 2/N then, and the caller skips the update.
        factor = lr if lr > 0 else 1.0
        for N, prog in self._programs.items():
            prog[5][...] = 2.0 * factor / (self.seed_denominator or N)

    def load(self) -> None:
        """Copy the network's ``W_l``, ``b_l`` into ``theta``."""
        for Wb, W, b in zip(self.Wb, self.net.weights, self.net.biases):
            Wb[:, :-1] = W
            Wb[:, -1] = b

    def store(self) -> None:
        """Copy ``theta`` back into the network's ``W_l``, ``b_l`` (the same array objects)."""
        for Wb, W, b in zip(self.Wb, self.net.weights, self.net.biases):
            W[...] = Wb[:, :-1]
            b[...] = Wb[:, -1]

    def epoch(self) -> tuple[float, float, int | None]:
        """One pass over the batches: forward, δ, gradients, update.

        Returns
        -------
        loss_sum : float
            Σ over the batches of the squared-error sum ``N_b J_b``.
        last_sq_norm : float
            ``‖dJ/dθ‖²`` of the last mini-batch (all parameters). NOTE: of the last
            one only: a norm per batch would cost a pass over every parameter per
            step (4 % of the seed's epoch), for a logged number.
        bad_batch : int or None
            The 1-based index of the first batch whose loss is not finite (its
            update is not made; ``self.bad_loss`` holds the value), else None.
        """
        theta, grad = self.theta, self.grad
        update = self.lr > 0
        dot, vdot, subtract, multiply, isfinite = np.dot, np.vdot, np.subtract, np.multiply, math.isfinite
        loss_sum = 0.0
        for b, (rows, Yb, prog) in enumerate(self._batches, start=1):
            first_c, (W1, Z1), fwd, Yhat, dL, scale, bwd, last_c, (D1, G1) = prog
            # z_1 = [W_1|b_1] [x; 1]   ([x; 1] = rows.T; written transposed into a sample-major z_1)
            if first_c:
                dot(W1, rows.T, Z1)
            else:
                dot(rows, W1, Z1)
            for f, x, y, o in fwd:  # z_l = [W_l|b_l] [a_{l-1}; 1];  a_l = σ(z_l)
                f(x, y, o)
            subtract(Yhat, Yb, dL)  # the seed's error = y_pred - y_true
            sq = vdot(dL, dL)  # N J = Σ (ŷ − y)²
            if not isfinite(sq):
                self.bad_loss = float(sq)  # the batch's squared-error sum, NaN or inf
                return float(loss_sum), math.nan, b
            loss_sum += sq
            multiply(dL, scale, dL)  # δ_L = (2 lr / N)(Ŷ − Y)
            for f, x, y, o in bwd:  # [dW_l | db_l] = δ_l [a_{l-1}; 1]ᵀ;  δ_{l-1} = (W_lᵀ δ_l) ∘ σ'
                f(x, y, o)
            if last_c:  # [dW_1 | db_1] = δ_1 [x; 1]ᵀ
                dot(D1, rows, G1)
            else:
                dot(rows.T, D1, G1)
            if update:
                subtract(theta, grad, theta)  # θ ← θ − lr dJ/dθ, every parameter at once
        last_sq_norm = float(vdot(grad, grad))  # lr² ‖dJ/dθ‖² (or ‖dJ/dθ‖² when lr = 0)
        if update:
            last_sq_norm /= self.lr * self.lr
        return float(loss_sum), last_sq_norm, None


def _maximum(x, y, out):
    np.maximum(x, y, out=out)


def _relu_back(d: np.ndarray, a: np.ndarray, out: np.ndarray) -> None:
    """``out = d ∘ 1[a > 0]`` (ReLU'(z) from the output: a > 0 ⇔ z > 0)."""
    np.multiply(d, a > 0, out=out)
