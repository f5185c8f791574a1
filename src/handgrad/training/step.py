r"""The training step: one epoch of mini-batch gradient descent, on the engine's one backpropagation.

The seed's loop, for every mini-batch::

    z1 = W1 * x + b1;  a1 = ReLU(z1);  ...  y_pred = z3;          % forward        backprop.forward
    delta3 = 2/batch_size * (y_pred - y_true);                      % dJ/dŶ          backprop.loss_and_output_delta
    dW3 = delta3 * a2';  db3 = sum(delta3, 2);  ...                 % §1.3           backprop.backward
    W3 = W3 - learning_rate * dW3;  ...                             % update         Optimizer.step_flat

:class:`Step` runs exactly that for every optimizer, loss and activation, with
what makes it fast at the seed's size (a step there is ~40 µs, so NumPy's call
overhead matters as much as the arithmetic):

* **biases folded into the products**: the data are kept once with a column of
  ones, so a batch ``[x; 1]`` is a view and ``z_l = [W_l | b_l] [a_{l-1}; 1]``,
  ``[dW_l | db_l] = δ_l [a_{l-1}; 1]ᵀ`` are one product each (:mod:`handgrad.backprop`);
* **one flat parameter buffer**: the network's ``θ`` (:mod:`handgrad.parameters`),
  the gradient and the optimizer's state share one layout, so an update of every
  parameter is a few whole-array operations, whatever the optimizer;
* **the learning rate folded into δ_L** for plain SGD (:attr:`Optimizer.folds_lr`):
  the backward pass then yields ``lr · dJ/dθ`` and the update is ``θ −= G``;
* **buffers allocated once** per batch width (:class:`handgrad.backprop.Workspace`).

Variants, each justified by a measurement or by the seed: ``gradient="expanded"``
(the §1.2 form, to replay the seed's first loop) and the compiled epoch
(:mod:`handgrad.training.compiled`, where numba is installed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import backprop as _bp
from ..backprop import Workspaces
from ..errors import ConfigError
from ..gradients import expanded as _expanded
from ..losses import Loss
from ..network import Network
from .optimizers import Optimizer


@dataclass
class EpochResult:
    """What one pass over the mini-batches reports.

    Attributes
    ----------
    loss_sum : float
        Σ over the batches of ``J_b`` times the batch's rows (or its weight sum).
    last_sq_norm : float
        ``‖dJ/dθ‖²`` of the epoch's last mini-batch (NaN if the epoch stopped early).
    bad_batch : int or None
        1-based index of the first batch whose loss was not finite (no update made for it).
    bad_loss : float
        That batch's loss.
    steps : int
        Updates made.
    """

    loss_sum: float
    last_sq_norm: float
    bad_batch: int | None = None
    bad_loss: float = math.nan
    steps: int = 0


class Step:
    """Forward, backpropagation (§1.3) and the optimizer's update for every mini-batch of an epoch.

    Parameters
    ----------
    network : Network
        Trained in place (its flat buffer ``theta``, which ``W_l``, ``b_l`` view).
    loss : Loss
    optimizer : Optimizer
        Built over ``network.parameters()``.
    X : ndarray of shape (n_samples, n_0), C order
    Y : ndarray of shape (n_samples, n_L), C order
    sample_weight : ndarray of shape (n_samples,) or None
    batch_size : int
    seed_denominator : int, optional
        The seed's fixed ``1/batch_size`` in ``dJ/dŶ`` (``mode="seed"``), else each
        batch's own mean.
    gradient : {"backprop", "expanded"}
    reorder : bool
        Whether epochs take a row order (:meth:`set_order`); else file order throughout.
    grad_hook : callable(ndarray) or None
        Called with the flat gradient of every batch before the update (the data-parallel
        all-reduce uses it); it may change the array in place.
    """

    def __init__(
        self,
        network: Network,
        loss: Loss,
        optimizer: Optimizer,
        X: np.ndarray,
        Y: np.ndarray,
        sample_weight: np.ndarray | None,
        batch_size: int,
        *,
        seed_denominator: int | None = None,
        gradient: str = "backprop",
        reorder: bool = False,
        grad_hook=None,
        data_parallel=None,
    ):
        self.net = network
        self.loss = loss
        self.opt = optimizer
        self.denominator = seed_denominator
        self.expanded = gradient == "expanded"
        self.grad_hook = grad_hook
        dtype = network.dtype
        n = X.shape[0]
        # The data once with a column of ones (the batch [x; 1] is then a view): X_aug (n, n_0 + 1).
        self.X_aug = np.empty((n, X.shape[1] + 1), dtype)
        self.X_aug[:, :-1] = X
        self.X_aug[:, -1] = 1.0
        self.Y = Y
        self.w = sample_weight
        # This epoch's rows, in order (refilled in place by set_order), or the data themselves.
        self.Xb = np.empty_like(self.X_aug) if reorder else self.X_aug
        self.Yb = np.empty_like(Y) if reorder else Y
        self.wb = None if sample_weight is None else (np.empty_like(sample_weight) if reorder else sample_weight)
        # The mini-batches as views, made once: [x; 1] = Xb[i:j].T, (n_0 + 1, N_b), no copy.
        # Data-parallel: this rank's part [i + s, i + e) of each global batch [i, j).
        self.dp = data_parallel
        self.batches = []
        for i in range(0, n, batch_size):
            j = min(i + batch_size, n)
            s, e = (0, j - i) if data_parallel is None else data_parallel.part(j - i)
            wbj = None if self.wb is None else self.wb[i + s : i + e]
            self.batches.append((self.Xb[i + s : i + e].T, self.Yb[i + s : i + e].T, wbj, e - s, i, j))
        self.workspaces = Workspaces(network.layer_sizes, network.activations, dtype)
        #: The gradient of the current batch, flat, in the layout of ``theta``; ``G[l-1]`` = [dW_l | db_l].
        #: Data-parallel: one more entry, the batch's loss sum, all-reduced with the gradient.
        size = network.layout.size
        self._grad_ext = np.zeros(size + (data_parallel is not None), dtype)
        self.grad = self._grad_ext[:size]
        self.G = network.layout.blocks(self.grad)
        self.fold_lr = optimizer.folds_lr and not self.expanded and grad_hook is None and data_parallel is None
        if data_parallel is not None and self.expanded:
            raise ConfigError(
                'data-parallel training runs backpropagation (gradient="backprop"), not the expanded form'
            )

    def set_order(self, rows: np.ndarray | None) -> None:
        """Lay the rows out in this epoch's order (``rows``: 0-based indices), or keep the last order."""
        if rows is None:
            return
        # NOTE: mode="clip" (the indices are valid by construction): with the default
        # mode="raise", np.take buffers its output, which doubles the copy.
        np.take(self.X_aug, rows, axis=0, out=self.Xb, mode="clip")
        np.take(self.Y, rows, axis=0, out=self.Yb, mode="clip")
        if self.w is not None:
            np.take(self.w, rows, out=self.wb, mode="clip")

    def run_epoch(self) -> EpochResult:
        """One pass over the mini-batches: forward, δ, gradients, update."""
        net, opt, loss = self.net, self.opt, self.loss
        Wb, acts, act_L = net.blocks, net.activations, net.activations[-1]
        grad, G = self.grad, self.G
        lr = opt.lr
        # plain SGD: G = lr dJ/dθ (lr folded into δ_L) and θ −= G. NOTE: with lr = 0 the
        # gradient would vanish from G (its norm is still logged): no fold then.
        fold = self.fold_lr and lr > 0
        scale = lr if fold else 1.0
        isfinite = math.isfinite
        loss_sum = 0.0
        steps = 0
        if self.dp is not None:
            return self._run_epoch_data_parallel()
        for b, (A0, Yc, wc, N, _, _) in enumerate(self.batches, start=1):  # for i = 1:batch_size:size(X, 1)
            if self.expanded:  # the seed's §1.2 loop: every layer's gradient from scratch
                g = _expanded(net, A0[:-1], Yc, loss, wc, self.denominator)
                J = g.loss
                for Gl, dW, db in zip(G, g.dW, g.db):
                    Gl[:, :-1] = dW
                    Gl[:, -1] = db
            else:
                ws = self.workspaces(N)
                _bp.forward(Wb, acts, A0, ws)  # z_l, a_l
                J = _bp.loss_and_output_delta(loss, act_L, ws, Yc, wc, self.denominator, scale)  # δ_L
            if not isfinite(J):
                return EpochResult(loss_sum, math.nan, b, J, steps)
            loss_sum += J * (N if wc is None else float(wc.sum()))
            if not self.expanded:
                _bp.backward(Wb, acts, ws, G, delta_L_ready=True)  # [dW_l | db_l], l = L..1
            if self.grad_hook is not None:
                self.grad_hook(grad)
            if fold:
                opt.apply(grad)  # θ ← θ − lr dJ/dθ, every parameter at once
            else:
                opt.step_flat(grad, in_place=False)  # the optimizer's rule; grad kept for its norm
            steps += 1
        sq = float(np.dot(grad, grad))
        if fold:
            sq /= lr * lr  # G held lr · dJ/dθ
        return EpochResult(loss_sum, sq, None, math.nan, steps)

    def _run_epoch_data_parallel(self) -> EpochResult:
        """:meth:`run_epoch` on this rank's part of every global batch, the gradients summed across ranks.

        ``dJ/dŶ`` is scaled by the global batch's size (or weight), so that the sum over the
        ranks is the gradient of the global batch; one all-reduce per step carries the flat
        gradient and, in its last entry, the batch's loss sum (every rank then stops alike).
        """
        net, opt, loss, dp = self.net, self.opt, self.loss, self.dp
        Wb, acts, act_L = net.blocks, net.activations, net.activations[-1]
        ext, grad, G = self._grad_ext, self.grad, self.G
        loss_sum = 0.0
        steps = 0
        for b, (A0, Yc, wc, N, i, j) in enumerate(self.batches, start=1):
            if self.denominator is not None:
                denominator = self.denominator  # the seed's fixed batch_size
            elif self.wb is None:
                denominator = j - i  # the global batch's rows
            else:
                denominator = float(self.wb[i:j].sum())  # its weight
            if N == 0:  # a last batch with fewer rows than ranks: this rank adds nothing
                ext[:] = 0.0
            else:
                ws = self.workspaces(N)
                _bp.forward(Wb, acts, A0, ws)
                J = _bp.loss_and_output_delta(loss, act_L, ws, Yc, wc, denominator)
                _bp.backward(Wb, acts, ws, G, delta_L_ready=True)
                ext[-1] = J * (N if wc is None else float(wc.sum()))  # this rank's loss sum
            dp.all_reduce(ext)  # Σ over ranks: the global batch's gradient and loss sum
            J_sum = float(ext[-1])
            if not math.isfinite(J_sum):
                return EpochResult(loss_sum, math.nan, b, J_sum / denominator, steps)
            loss_sum += J_sum
            if self.grad_hook is not None:
                self.grad_hook(grad)
            opt.step_flat(grad, in_place=False)
            steps += 1
        return EpochResult(loss_sum, float(np.dot(grad, grad)), None, math.nan, steps)


class ChunkedStep(Step):
    """:class:`Step` over rows that are not in memory: a :class:`~handgrad.data.stream.RowCache` read chunk by chunk.

    The in-memory :class:`Step` keeps the data once with a column of ones (``X_aug``, a
    copy of ``X``): for rows on disk that copy is exactly what must not be made. Here the
    rows come ``chunk_rows`` at a time into buffers allocated once — ``[x | 1]`` standardised
    (the ones column written once), ``y`` — and each chunk's mini-batches are views of them,
    run by the same loop as :meth:`Step.run_epoch`. Memory: a few chunks, whatever the file.

    ``chunk_rows`` is rounded up to a multiple of ``batch_size`` so that a mini-batch never
    straddles two chunks: without shuffling the batches are those of in-memory training,
    and so are the numbers (tested to the bit). With shuffling (:meth:`shuffle`) each
    epoch visits the chunks in a random order and the rows of each chunk in a random
    order (see :mod:`handgrad.data.stream` for what that does to the batches).

    Parameters
    ----------
    network, loss, optimizer
        As for :class:`Step`.
    cache : RowCache
        ``n_rows`` rows of ``n_0`` features and ``n_L`` outputs, read standardised.
    batch_size : int
    chunk_rows : int
    grad_hook : callable(ndarray) or None
    data_parallel : DataParallel or None
        Every rank reads the same chunks in the same order and computes on its part of
        each global batch (:meth:`Step._run_epoch_data_parallel`).
    """

    def __init__(
        self, network, loss, optimizer, cache, batch_size: int, chunk_rows: int, *, grad_hook=None, data_parallel=None
    ):
        self.net = network
        self.loss = loss
        self.opt = optimizer
        self.denominator = None
        self.expanded = False
        self.grad_hook = grad_hook
        self.dp = data_parallel
        self.cache = cache
        dtype = network.dtype
        n = cache.n_rows
        self.batch_size = batch_size
        self.chunk_rows = min(-(-max(chunk_rows, 1) // batch_size) * batch_size, -(-n // batch_size) * batch_size)
        c = self.chunk_rows
        self._raw = np.empty((c, cache.n_columns))  # the file's rows, float64
        self.X_aug = np.empty((c, cache.n_features + 1), dtype)  # [x | 1], standardised
        self.X_aug[:, -1] = 1.0
        self.Y = np.empty((c, cache.n_outputs), dtype)
        self._Xs = np.empty_like(self.X_aug)  # the chunk's rows shuffled
        self._Ys = np.empty_like(self.Y)
        self._rng = None
        self._views: dict[tuple[int, bool], list] = {}
        self.w = self.wb = None
        self.workspaces = Workspaces(network.layer_sizes, network.activations, dtype)
        size = network.layout.size
        self._grad_ext = np.zeros(size + (data_parallel is not None), dtype)
        self.grad = self._grad_ext[:size]
        self.G = network.layout.blocks(self.grad)
        self.fold_lr = optimizer.folds_lr and grad_hook is None and data_parallel is None

    def shuffle(self, rng: np.random.Generator | None) -> None:
        """Shuffle the next epoch with ``rng`` (chunk order, then rows within each chunk); None: file order."""
        self._rng = rng

    def set_order(self, rows) -> None:
        raise ConfigError("rows on disk are shuffled chunk by chunk (ChunkedStep.shuffle), not by a permutation")

    def _batches(self, m: int, shuffled: bool) -> list:
        """The mini-batches of a chunk of ``m`` rows: views of the (shuffled) chunk buffers, made once per size."""
        key = (m, shuffled)
        if key not in self._views:
            Xb, Yb = (self._Xs, self._Ys) if shuffled else (self.X_aug, self.Y)
            views = []
            for i in range(0, m, self.batch_size):
                j = min(i + self.batch_size, m)
                s, e = (0, j - i) if self.dp is None else self.dp.part(j - i)  # this rank's part of the batch
                views.append((Xb[i + s : i + e].T, Yb[i + s : i + e].T, None, e - s, i, j))
            self._views[key] = views
        return self._views[key]

    def run_epoch(self) -> EpochResult:
        """One pass over the chunks: read, standardise, (shuffle), then :meth:`Step.run_epoch` on its batches."""
        n, c = self.cache.n_rows, self.chunk_rows
        starts = np.arange(0, n, c)
        rng = self._rng
        if rng is not None:
            starts = starts[rng.permutation(starts.size)]
        total = EpochResult(0.0, math.nan)
        batches_before = 0
        for start in starts:
            start = int(start)
            m = min(start + c, n) - start
            X, Y = self.X_aug[:m], self.Y[:m]
            self.cache.read_scaled(start, start + m, self._raw, X[:, :-1], Y)
            if rng is not None:
                rows = rng.permutation(m)
                np.take(X, rows, axis=0, out=self._Xs[:m], mode="clip")
                np.take(Y, rows, axis=0, out=self._Ys[:m], mode="clip")
            self.batches = self._batches(m, rng is not None)
            r = Step.run_epoch(self)
            total.loss_sum += r.loss_sum
            total.steps += r.steps
            total.last_sq_norm = r.last_sq_norm
            if r.bad_batch is not None:
                total.bad_batch, total.bad_loss = batches_before + r.bad_batch, r.bad_loss
                total.last_sq_norm = math.nan
                return total
            batches_before += len(self.batches)
        return total
