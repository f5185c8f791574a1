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

Any array library: given a :class:`~handgrad.parameters.BlockParameters` whose ``theta``
is a torch tensor (on ``cuda``, say), a CuPy or any array API array, the step moves the
data there once and runs the same code there (:mod:`handgrad.backend`). There the batch
losses stay on the device and are read once per epoch (:attr:`handgrad.backend.Backend.lazy`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import backprop as _bp
from ..backend import NUMPY
from ..backend import of as backend_of
from ..backprop import Workspaces
from ..errors import ConfigError
from ..gradients import expanded as _expanded
from ..losses import Loss
from ..network import Network
from ..parameters import BlockParameters
from . import compiled as _compiled
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


#: Data of at least this many bytes are gathered into each epoch's order without an augmented copy.
LARGE_DATA = 64 * 2**20


class Step:
    """Forward, backpropagation (§1.3) and the optimizer's update for every mini-batch of an epoch.

    Parameters
    ----------
    network : Network, BlockParameters or handgrad.layers.LayerStack
        Trained in place (its flat buffer ``theta``, which ``W_l``, ``b_l`` view). A stack of layers
        runs each batch through :meth:`~handgrad.layers.LayerStack.train_batch` (NumPy engine). A
        :class:`~handgrad.parameters.BlockParameters` over a buffer of another array library
        or device trains there (the optimizer moved there too: :meth:`Optimizer.to_backend`).
    loss : Loss
    optimizer : Optimizer
        Built over ``network.parameters()``; its ``theta`` is the buffer trained.
    X : ndarray of shape (n_samples, n_0), C order
        NumPy arrays: copied once to the parameters' device.
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
        all-reduce uses it); it may change the array in place. On another backend it is that
        backend's array (a torch tensor on the GPU, say).
    data_parallel : handgrad.training.distributed.DataParallel, optional
        This rank's part of every global mini-batch, the gradients summed across ranks
        (:meth:`_run_epoch_data_parallel`).
    engine : {"numpy", "compiled"}
        ``"compiled"``: every epoch in one Numba call (:mod:`handgrad.training.compiled`, where
        :func:`compiled_engine_applies`); the same numbers to rounding.
    clip_norm : float, optional
        Gradient clipping by global norm: before each update, a gradient whose Euclidean norm
        (over every parameter) exceeds ``clip_norm`` is scaled down to that norm (the usual
        remedy for exploding gradients through time in recurrent layers).
    gather_from_X : bool, optional
        Gather each epoch's rows from ``X`` itself (no augmented copy of the data); default: for
        data of :data:`LARGE_DATA` bytes or more (see ``self.gather_from_X``).
    device_rows : int, optional
        On another backend, the most rows of data to keep on the device (default: what fits in
        half its free memory, :meth:`handgrad.backend.Backend.rows_that_fit`). With fewer rows than
        the data, they stay on the host and are copied in chunks of whole batches; the same numbers.
    """

    #: Whether the network is a stack of layers (:mod:`handgrad.layers`), and gradient clipping: set by
    #: ``__init__`` (class defaults for subclasses with their own, :class:`ChunkedStep`).
    layered = False
    clip_norm: float | None = None

    def __init__(
        self,
        network: Network | BlockParameters,
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
        device_rows: int | None = None,
        data_parallel=None,
        gather_from_X: bool | None = None,
        engine: str = "numpy",
        clip_norm: float | None = None,
    ):
        self.net = network
        #: A layer stack (handgrad.layers.LayerStack) runs each batch through its layers' own passes.
        self.layered = hasattr(network, "train_batch")
        self.clip_norm = clip_norm
        self.loss = loss
        self.opt = optimizer
        self.denominator = seed_denominator
        self.expanded = gradient == "expanded"
        self.grad_hook = grad_hook
        self.batch_size = batch_size
        dtype = network.dtype
        #: Where the arithmetic runs: the array library and device of the parameters (handgrad.backend).
        self.bk = bk = backend_of(network.theta)
        n = X.shape[0]
        #: Whether each batch's rows are gathered straight from ``X`` (in this epoch's order) into a
        #: batch buffer whose column of ones is written once, instead of keeping an augmented copy of
        #: ``X`` and a second one in the epoch's order: for large data (from LARGE_DATA bytes), on
        #: NumPy, when the rows are reordered. It saves two copies of the data (the step then holds
        #: none) for a gather per batch (~1-2 µs), which at the seed's size is a few % and not worth it.
        #: The compiled epoch's codes, or None (the NumPy engine).
        self.kernel = None
        #: The compiled epoch only: each batch's gradient from its two halves at once, on two threads
        #: (compiled.run_epoch's ``halves``; train() sets it, with BLAS on one thread).
        self.halves = False
        if engine == "compiled":
            self.kernel = _compiled.codes(network, loss, optimizer)
            gather_from_X = True  # the kernel gathers each batch's rows from X itself: no copy of the data
            self._kernel_data = (
                np.ascontiguousarray(X, dtype),
                np.ascontiguousarray(Y, dtype),
                np.empty(0, dtype) if sample_weight is None else np.ascontiguousarray(sample_weight, dtype),
            )
            self._kernel_order = np.arange(X.shape[0], dtype=np.int64)
            self._kernel_grad = np.empty(network.layout.size, dtype)
            reorder = True
        if gather_from_X is None:
            gather_from_X = X.nbytes >= LARGE_DATA
        self.gather_from_X = bool(gather_from_X) and reorder and bk is NUMPY and X.dtype == dtype
        if self.gather_from_X:
            self.X_aug = None
            self._X_rows = X
        else:
            # The data once with a column of ones (the batch [x; 1] is then a view): X_aug (n, n_0 + 1).
            self.X_aug = np.empty((n, X.shape[1] + 1), dtype)
            self.X_aug[:, :-1] = X
            self.X_aug[:, -1] = 1.0
            self._X_rows = self.X_aug[:, :-1]
        self.Y = Y
        self.w = sample_weight
        #: Rows per copy to the device, or None: the data live where the arithmetic runs, whole.
        self.chunk = None
        if bk is not NUMPY:
            per_row = (self.X_aug.shape[1] + Y.shape[1] + (sample_weight is not None)) * self.X_aug.itemsize
            fit = bk.rows_that_fit(n, per_row * (2 if reorder else 1)) if device_rows is None else device_rows
            if fit < n:
                self.chunk = max(batch_size, fit // batch_size * batch_size)  # whole batches per chunk
        if self.chunk is None:
            # On the device (another backend): copied there once, whole. This epoch's rows, in
            # order (refilled in place by set_order), or the data themselves.
            if self.gather_from_X:
                Xd, Yd, wd = X, Y, sample_weight
            elif bk is NUMPY:
                Xd, Yd, wd = self.X_aug, Y, sample_weight
            else:
                Xd, Yd = bk.asarray(self.X_aug), bk.asarray(Y)
                wd = None if sample_weight is None else bk.asarray(sample_weight)
            self._data = (Xd, Yd, wd)
            if self.gather_from_X:
                # One batch's buffers: each batch's rows are gathered from X in this epoch's order
                # just before the batch (no copy of the data in any order).
                self.Xb = np.empty((batch_size, X.shape[1] + 1), dtype)
                self.Xb[:, -1] = 1.0  # the ones column, written once
                self.Yb = np.empty((batch_size, Y.shape[1]), dtype)
                self.wb = None if wd is None else np.empty(batch_size, dtype)
                self._order = np.arange(n, dtype=np.intp)
            else:
                self.Xb = bk.empty(Xd.shape, dtype) if reorder else Xd
                self.Yb = bk.empty(Yd.shape, dtype) if reorder else Yd
                self.wb = None if wd is None else (bk.empty(wd.shape, dtype) if reorder else wd)
            self._host_rows = None
            #: This epoch's weights on the host (the loss sum of a lazy backend), in the order of ``self.wb``.
            self.wb_host = None
            if sample_weight is not None and bk is not NUMPY:
                self.wb_host = np.empty_like(sample_weight) if reorder else sample_weight
        else:
            # Too large for the device: the rows are ordered on the host, and each chunk of whole
            # batches is copied into one buffer on the device before its first batch (Step.run_epoch).
            self._data = (self.X_aug, Y, sample_weight)
            self._host_rows = tuple(
                None if a is None else (np.empty_like(a) if reorder else a) for a in (self.X_aug, Y, sample_weight)
            )
            self.Xb = bk.empty((self.chunk, self.X_aug.shape[1]), dtype)
            self.Yb = bk.empty((self.chunk, Y.shape[1]), dtype)
            self.wb = None if sample_weight is None else bk.empty((self.chunk,), dtype)
            self.wb_host = self._host_rows[2]
        # The mini-batches as views, made once: [x; 1] = Xb[i:j].T, (n_0 + 1, N_b), no copy.
        # Data-parallel: this rank's part [i + s, i + e) of each global batch [i, j).
        self.dp = data_parallel
        self.batches = []
        self.bounds = []
        #: Gathering: the rows [lo, hi) of this epoch's order that each batch takes (its part, data-parallel).
        self._gather_rows: list[tuple[int, int]] = []
        #: {1-based batch: (first row, end row)} of the chunk to copy to the device before that batch.
        self.uploads: dict[int, tuple[int, int]] | None = None if self.chunk is None else {}
        for i in range(0, n, batch_size):
            j = min(i + batch_size, n)
            c0 = 0 if self.chunk is None else i // self.chunk * self.chunk  # rows before this buffer
            if self.chunk is not None and i == c0:
                self.uploads[len(self.batches) + 1] = (c0, min(c0 + self.chunk, n))
            s, e = (0, j - i) if data_parallel is None else data_parallel.part(j - i)
            r0, r1 = (0, e - s) if self.gather_from_X else (i + s - c0, i + e - c0)
            self._gather_rows.append((i + s, i + e))
            wbj = None if self.wb is None else self.wb[r0:r1]
            self.batches.append((self.Xb[r0:r1, :].T, self.Yb[r0:r1, :].T, wbj, e - s))
            self.bounds.append((i, j))
        self.workspaces = None if self.layered else Workspaces(network.layer_sizes, network.activations, dtype, bk)
        #: The gradient of the current batch, flat, in the layout of ``theta``; ``G[l-1]`` = [dW_l | db_l].
        #: Data-parallel: one more entry, the batch's loss sum, all-reduced with the gradient.
        size = network.layout.size
        self._grad_ext = bk.zeros(size + (data_parallel is not None), dtype)
        self.grad = self._grad_ext[:size]
        self.G = None if self.layered else network.layout.blocks(self.grad)
        self.fold_lr = optimizer.folds_lr and not self.expanded and grad_hook is None and data_parallel is None
        if self.layered and (self.expanded or data_parallel is not None or bk is not NUMPY or engine != "numpy"):
            raise ConfigError(
                "a network of layers (handgrad.layers) trains by backpropagation with the NumPy engine on the "
                "CPU in one process: drop gradient='expanded', device=, distributed= and engine='compiled'"
            )
        if clip_norm is not None and (data_parallel is not None or engine != "numpy"):
            raise ConfigError("clip_norm applies to the NumPy engine in one process: use engine='numpy'")
        if data_parallel is not None and self.expanded:
            raise ConfigError(
                'data-parallel training runs backpropagation (gradient="backprop"), not the expanded form'
            )

    @property
    def rows(self) -> np.ndarray:
        """The training rows ``(n_samples, n_0)`` as the step holds them (``X``, or a view of its augmented copy)."""
        return self._X_rows

    def set_order(self, rows: np.ndarray | None) -> None:
        """Lay the rows out in this epoch's order (``rows``: 0-based indices), or keep the last order."""
        if rows is None:
            return
        if self._host_rows is not None:  # chunks: ordered on the host, copied chunk by chunk
            for src, out in zip(self._data, self._host_rows):
                if src is not None:
                    NUMPY.take_rows(src, rows, out=out)
            return
        if self.kernel is not None:
            np.copyto(self._kernel_order, rows)  # the compiled epoch takes its rows in this order
            return
        if self.gather_from_X:
            np.copyto(self._order, rows)  # the batches gather their rows as they come (_gather)
            return
        bk = self.bk
        Xd, Yd, wd = self._data
        idx = bk.index(rows)  # the order is drawn on the host (the same random_state, the same batches)
        bk.take_rows(Xd, idx, out=self.Xb)
        bk.take_rows(Yd, idx, out=self.Yb)
        if self.w is not None:
            bk.take_rows(wd, idx, out=self.wb)
            if bk is not NUMPY:
                NUMPY.take_rows(self.w, rows, out=self.wb_host)

    def _gather(self, b: int) -> None:
        """Batch ``b``'s rows (1-based), in this epoch's order, from the data into the batch buffers."""
        lo, hi = self._gather_rows[b - 1]
        idx = self._order[lo:hi]
        X, Y, w = self._data
        N = hi - lo
        np.take(X, idx, axis=0, out=self.Xb[:N, :-1], mode="clip")
        np.take(Y, idx, axis=0, out=self.Yb[:N], mode="clip")
        if w is not None:
            np.take(w, idx, out=self.wb[:N], mode="clip")

    def _upload(self, c0: int, c1: int) -> None:
        """Rows ``c0:c1`` of this epoch's order (on the host) into the device's chunk buffers."""
        for src, out in zip(self._host_rows, (self.Xb, self.Yb, self.wb)):
            if src is not None:
                self.bk.copy_into(out[: c1 - c0, ...], src[c0:c1, ...])

    def run_epoch(self) -> EpochResult:
        """One pass over the mini-batches: forward, δ, gradients, update."""
        net, opt, loss = self.net, self.opt, self.loss
        layered = self.layered
        Wb, acts, act_L = (None, None, None) if layered else (net.blocks, net.activations, net.activations[-1])
        grad, G = self.grad, self.G
        lr = opt.lr
        # plain SGD: G = lr dJ/dθ (lr folded into δ_L) and θ −= G. NOTE: with lr = 0 the
        # gradient would vanish from G (its norm is still logged): no fold then.
        fold = self.fold_lr and lr > 0
        scale = lr if fold else 1.0
        isfinite = math.isfinite
        lazy = self.bk.lazy
        losses = []  # a lazy backend's batch losses, 0-d arrays on the device, read after the loop
        loss_sum = 0.0
        steps = 0
        if self.kernel is not None:
            return self._run_epoch_compiled()
        if self.dp is not None:
            return self._run_epoch_data_parallel()
        uploads = self.uploads
        gather = self.gather_from_X
        for b, (A0, Yc, wc, N) in enumerate(self.batches, start=1):  # for i = 1:batch_size:size(X, 1)
            if uploads is not None and b in uploads:  # (data larger than the device: the next chunk)
                self._upload(*uploads[b])
            if gather:  # (large data: this batch's rows from X, in this epoch's order)
                self._gather(b)
            if layered:  # a stack of layers: forward, dJ/dŶ and each layer's backward pass
                J = net.train_batch(A0[:-1, :], Yc, wc, loss, self.denominator, scale, grad)
            elif self.expanded:  # the seed's §1.2 loop: every layer's gradient from scratch
                g = _expanded(net, A0[:-1, :], Yc, loss, wc, self.denominator)
                J = g.loss
                for Gl, dW, db in zip(G, g.dW, g.db):
                    Gl[:, :-1] = dW
                    Gl[:, -1] = db
            else:
                ws = self.workspaces(N)
                _bp.forward(Wb, acts, A0, ws)  # z_l, a_l
                J = _bp.loss_and_output_delta(loss, act_L, ws, Yc, wc, self.denominator, scale)  # δ_L
            if lazy:
                losses.append(J)
            elif not isfinite(J):
                return EpochResult(loss_sum, math.nan, b, J, steps)
            else:
                loss_sum += J * (N if wc is None else float(wc.sum()))
            if not (self.expanded or layered):
                _bp.backward(Wb, acts, ws, G, delta_L_ready=True)  # [dW_l | db_l], l = L..1
            if self.grad_hook is not None:
                self.grad_hook(grad)
            if self.clip_norm is not None:
                self._clip(grad, scale)
            if fold:
                opt.apply(grad)  # θ ← θ − lr dJ/dθ, every parameter at once
            else:
                opt.step_flat(grad, in_place=False)  # the optimizer's rule; grad kept for its norm
            steps += 1
        if lazy:
            # The losses read once (one wait for the device), summed as the NumPy path sums them.
            # NOTE: a non-finite batch loss stops a NumPy epoch at once; here the epoch ran to its
            # end (on NaNs), and the result is the same: the batch named, train() restoring θ.
            if self.expanded or not losses:  # (the expanded form's losses are floats already)
                Js = np.array([float(J) for J in losses])
            else:
                Js = self.bk.to_numpy(self.bk.xp.stack(losses))
            for b, ((i, j), J) in enumerate(zip(self.bounds, Js.tolist()), start=1):
                if not isfinite(J):
                    return EpochResult(loss_sum, math.nan, b, J, b - 1)
                loss_sum += J * (j - i if self.wb_host is None else float(self.wb_host[i:j].sum()))
        sq = float(self.bk.sumsq(grad))
        if fold:
            sq /= lr * lr  # G held lr · dJ/dθ
        return EpochResult(loss_sum, sq, None, math.nan, steps)

    def _clip(self, grad, scale: float) -> None:
        """Scale ``grad`` (= ``scale`` · dJ/dθ) in place so that ‖dJ/dθ‖ is at most ``clip_norm``."""
        norm = math.sqrt(float(self.bk.sumsq(grad))) / scale
        if norm > self.clip_norm:
            grad *= self.clip_norm / norm

    def _run_epoch_data_parallel(self) -> EpochResult:
        """:meth:`run_epoch` on this rank's part of every global batch, the gradients summed across ranks.

        ``dJ/dŶ`` is scaled by the global batch's size (or weight), so that the sum over the
        ranks is the gradient of the global batch; one all-reduce per step carries the flat
        gradient and, in its last entry, the batch's loss sum (every rank then stops alike).
        """
        net, opt, loss, dp = self.net, self.opt, self.loss, self.dp
        Wb, acts, act_L = net.blocks, net.activations, net.activations[-1]
        ext, grad, G = self._grad_ext, self.grad, self.G
        weights = self.wb_host if self.wb_host is not None else self.wb  # this epoch's weights, on the host
        uploads = self.uploads
        loss_sum = 0.0
        steps = 0
        for b, ((A0, Yc, wc, N), (i, j)) in enumerate(zip(self.batches, self.bounds), start=1):
            if uploads is not None and b in uploads:
                self._upload(*uploads[b])
            if self.gather_from_X:
                self._gather(b)
            if self.denominator is not None:
                denominator = self.denominator  # the seed's fixed batch_size
            elif weights is None:
                denominator = j - i  # the global batch's rows
            elif self.gather_from_X:
                denominator = float(self.w[self._order[i:j]].sum())  # its weight
            else:
                denominator = float(weights[i:j].sum())  # its weight
            if N == 0:  # a last batch with fewer rows than ranks: this rank adds nothing
                ext[:] = 0.0
            else:
                ws = self.workspaces(N)
                _bp.forward(Wb, acts, A0, ws)
                J = float(_bp.loss_and_output_delta(loss, act_L, ws, Yc, wc, denominator))
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
        return EpochResult(loss_sum, float(self.bk.sumsq(grad)), None, math.nan, steps)

    def _run_epoch_compiled(self) -> EpochResult:
        """:meth:`run_epoch` as one Numba call (:func:`handgrad.training.compiled.run_epoch`).

        The kernel keeps ``[W_l | b_l]`` row by row (its own measured layout): the parameters and
        the optimizer's state are copied into that layout and back once per epoch (a few µs).
        """
        net, opt = self.net, self.opt
        sizes, acts, loss_code, opt_code, hyper = self.kernel
        theta = _compiled.pack(net)
        state = _compiled.pack_state(opt)
        X, Y, w = self._kernel_data
        loss_sum, _, sq, bad, t = _compiled.run_epoch(
            theta, self._kernel_grad, state, X, Y, w, self._kernel_order, self.batch_size, sizes, acts,
            loss_code, opt_code, hyper, opt.t, opt.lr, self.denominator or 0, self.halves,
        )  # fmt: skip
        steps = t - opt.t
        _compiled.unpack(theta, net)
        _compiled.unpack_state(state, opt)
        opt.t = t
        if bad:
            # The kernel stopped before batch `bad`'s update: its loss, for the message, from the
            # parameters as they were (the same number the NumPy engine reports).
            rows = self._kernel_order[(bad - 1) * self.batch_size : bad * self.batch_size]
            wb = None if w.size == 0 else w[rows]
            bad_loss = self.loss.value(net.predict_columns(X[rows].T), Y[rows].T, wb)
            return EpochResult(loss_sum, math.nan, bad, bad_loss, steps)
        return EpochResult(loss_sum, sq, None, math.nan, steps)


def compiled_engine_applies(network, loss, optimizer, *, gradient="backprop", sample_weight=None) -> bool:
    """Whether the compiled epoch can run this training (Numba installed, every piece named)."""
    if hasattr(network, "train_batch"):  # a stack of layers (handgrad.layers): the NumPy engine
        return False
    return gradient == "backprop" and _compiled.available() and _compiled.applies(network, loss, optimizer)


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
        # What Step.run_epoch reads beside the batches: the NumPy engine, the data in memory (chunks).
        self.bk = NUMPY
        self.uploads = None
        self.gather_from_X = False
        self.kernel = None
        self.wb_host = None
        self.bounds: list[tuple[int, int]] = []
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
            views, bounds = [], []
            for i in range(0, m, self.batch_size):
                j = min(i + self.batch_size, m)
                s, e = (0, j - i) if self.dp is None else self.dp.part(j - i)  # this rank's part of the batch
                views.append((Xb[i + s : i + e].T, Yb[i + s : i + e].T, None, e - s))
                bounds.append((i, j))
            self._views[key] = (views, bounds)
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
            self.batches, self.bounds = self._batches(m, rng is not None)
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
