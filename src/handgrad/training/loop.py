r"""The training loop: the seed's MATLAB loop, made general and fast.

The seed trains with::

    for epoch = 1:epochs
        for i = 1:batch_size:size(X, 1)              % batches in file order
            x = X(i:batch_end, :)';  y_true = y(i:batch_end)';
            z1 = W1 * x + b1;  a1 = ReLU(z1);  ...  y_pred = z3;          % forward
            delta3 = 2/batch_size * (y_pred - y_true);                      % dJ/dŶ
            dW3 = delta3 * a2';  db3 = sum(delta3, 2);  ...                 % §1.3
            W3 = W3 - learning_rate * dW3;  ...                             % update
        end
        val_loss = sum((y_val_pred - y_val').^2) / size(X_val, 1);
    end

:func:`train` keeps that shape — ``for epoch: for batch: forward; delta; dW;
update`` — and adds what a training system needs (shuffling, optimizers,
schedules, validation, early stopping, callbacks, checkpoints).

Two modes
---------
``mode="standard"`` (default)
    Rows are shuffled each epoch by a ``numpy.random.Generator`` made from
    ``random_state`` (same seed ⇒ bit-identical run), and each mini-batch's
    gradient is the gradient of **the mean loss over the rows actually in the
    batch**: ``dJ/dŶ = 2/N_b (Ŷ − Y)`` with ``N_b`` the batch's size, also for a
    short last batch. That is the gradient of the objective the seed writes
    down (§1.1), so every batch is an unbiased estimate of it.
``mode="seed"``
    The seed's MATLAB loops, exactly: batches in file order, the gradient
    scaled by ``2/batch_size`` **also on the last, partial batch** (10,000 =
    312 × 32 + 16 rows gives that batch half the weight it should have), no
    shuffling except the caller's ``permutations`` (shape ``(epochs, n_rows)``,
    0-based; row ``e`` is applied to the already-permuted training rows right
    after epoch ``e``, as the seed's expanded-gradient loop reshuffles after each
    epoch: epoch 1 runs in file order and the last row has no effect).
    ``gradient="backprop"`` is the seed's §1.3 loop, ``gradient="expanded"`` its
    §1.2 loop. The validation loss is the seed's: sum of squared errors over the
    number of rows (for MSE this is the same J as in standard mode).

The step
--------
The data are validated once and kept as rows ``(n_samples, n_features)`` in C
order with a column of ones; a mini-batch ``[x; 1]`` is then the column block
``X[i:j].T``, a view. :class:`handgrad.training.step.Step` runs every batch:
the engine's one forward pass and backpropagation (:mod:`handgrad.backprop`:
biases folded into the products, buffers allocated once per batch width), and
the optimizer's update of the network's flat parameter buffer (a few
whole-array operations; plain SGD folds its learning rate into δ_L). The same
step serves every optimizer, loss and activation; ``engine="compiled"`` runs
the epoch in one Numba call (:mod:`handgrad.training.compiled`), ``device=``
on another array library (:mod:`handgrad.backend`), ``distributed=`` across
processes (:mod:`handgrad.training.distributed`). For a network this small, a
step costs about as much in NumPy call overhead as in arithmetic;
``docs/benchmarks.md`` has the measurements, and explains why BLAS runs on one
thread inside :func:`train` (``blas_threads``). The history's ``grad_norm`` is
the gradient norm of each epoch's **last** mini-batch (a norm per batch would
cost a pass over every parameter per step).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .. import backend
from .._validation import check_sample_weight, check_X, check_Y
from ..data.cache import RowCache
from ..errors import ConfigError, DivergenceError, ShapeError
from ..losses import Loss, get_loss
from ..metrics import accuracy_score, mean_absolute_error, mean_squared_error, r2_score
from ..network import GRADIENT_METHODS, Network
from ..parameters import BlockParameters
from ..params import Integer, Options, check
from . import compiled as _compiled
from .callbacks import Callback, EarlyStopping, PrintEvery, ProgressBar, TrainContext
from .history import History
from .optimizers import Optimizer, get_optimizer
from .schedules import get_schedule
from .split import validation_split as _split_validation
from .state import TrainState
from .step import ChunkedStep, Step, compiled_engine_applies

MODES = ("standard", "seed")


# --------------------------------------------------------------------------- BLAS threads
_CONTROLLER = None
#: Largest per-step matrix product (multiply-adds) for which "auto" uses one BLAS thread. Measured
#: (docs/benchmarks.md, "BLAS threads"): the seed's network at batch 128 and up (606k and more) runs
#: 1.2-1.7x faster on two threads than on one, in both engines; at batch 32 (151k) it gains nothing,
#: and OpenBLAS itself runs a product under 2 x 2**18 on one thread.
SINGLE_THREAD_WORK = 2**19


def _largest_product(network: Network, batch_size: int) -> int:
    """Multiply-adds of a step's largest matrix product, ``max n_l·n_{l-1} × batch_size``."""
    return max(W.size for W in network.weights) * batch_size


def _blas_threads_for(setting, network: Network, batch_size: int) -> int | None:
    if setting is None:
        return None
    if setting == "auto":
        return 1 if _largest_product(network, batch_size) < SINGLE_THREAD_WORK else None
    return check("blas_threads", setting, Integer(low=1))


_CONTROLLER_SAW_KERNEL = [False]


def _can_limit_blas() -> bool:
    """Whether threadpoolctl is there to limit BLAS's threads (the compiled epoch's halves need one each)."""
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        return False
    return True


def _blas_limit(n_threads: int | None, compiled_engine: bool = False):
    """A context limiting BLAS to ``n_threads`` (threadpoolctl), or a no-op.

    ``compiled_engine``: the epoch runs on SciPy's BLAS (handgrad.training.compiled) while the
    validation pass and the metrics run on NumPy's. Where those are two libraries, each with its
    own pool of threads, NumPy's is limited to one thread whenever SciPy's may use several: two
    pools taking turns on the same cores made each compiled epoch up to 2.4x slower (measured,
    docs/benchmarks.md "BLAS threads").
    """
    global _CONTROLLER
    if n_threads is None and not compiled_engine:
        return contextlib.nullcontext()
    try:
        import threadpoolctl
    except ImportError:  # optional: without it BLAS keeps its own setting
        return contextlib.nullcontext()
    if _CONTROLLER is None or (_compiled._compiled is not None and not _CONTROLLER_SAW_KERNEL[0]):
        # Inspecting the loaded libraries takes ~1 ms: once per process, and once more after the
        # compiled epoch has loaded its BLAS (SciPy's, apart from NumPy's: handgrad.training.compiled).
        _CONTROLLER_SAW_KERNEL[0] = _compiled._compiled is not None
        _CONTROLLER = threadpoolctl.ThreadpoolController()
    blas = _CONTROLLER.select(user_api="blas")
    kernel = [c.filepath for c in blas.lib_controllers if _compiled.is_kernel_blas(c.filepath)]
    others = [c.filepath for c in blas.lib_controllers if c.filepath not in kernel]
    if not (compiled_engine and n_threads != 1 and kernel and others):
        return contextlib.nullcontext() if n_threads is None else blas.limit(limits=n_threads)
    stack = contextlib.ExitStack()
    stack.enter_context(blas.select(filepath=others).limit(limits=1))
    if n_threads is not None:
        stack.enter_context(blas.select(filepath=kernel).limit(limits=n_threads))
    return stack


# --------------------------------------------------------------------------- metrics
# Y (n, n_outputs) targets, P = loss.output(network output) (n, n_outputs); the definitions are
# handgrad.metrics', the same the command line's final table and the estimators' score use.
def _accuracy(Y, P):
    """Accuracy from probabilities: class 1 where p > 0.5 (one output), else the arg max."""
    if Y.shape[1] == 1:
        return accuracy_score(Y[:, 0] > 0.5, P[:, 0] > 0.5)
    return accuracy_score(Y.argmax(axis=1), P.argmax(axis=1))


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": _accuracy,
    "mse": mean_squared_error,
    "mae": mean_absolute_error,
    # force_finite: a constant target scores 0 (or 1 if predicted exactly), not NaN, mid-training
    "r2": lambda Y, P: r2_score(Y, P, force_finite=True),
}


def _get_metric(metric):
    if metric is None or callable(metric):
        return metric
    if isinstance(metric, str) and metric.lower() in METRICS:
        return METRICS[metric.lower()]
    raise ConfigError(f"unknown metric {metric!r}; expected one of {sorted(METRICS)} or a callable(Y, P) -> float")


# --------------------------------------------------------------------------- checks


def _check_permutations(permutations, epochs: int, n_rows: int) -> np.ndarray:
    P = np.asarray(permutations)
    if P.ndim != 2 or P.shape != (epochs, n_rows):
        raise ShapeError(
            f"permutations must have shape (epochs, n_rows) = ({epochs}, {n_rows}) (one 0-based permutation "
            f"of the training rows per epoch), got shape {P.shape}"
        )
    if P.dtype.kind not in "iu":
        if P.dtype.kind == "f" and np.all(P == np.round(P)):
            P = P.astype(np.int64)
        else:
            raise ShapeError(f"permutations must hold integers (0-based row indices), got dtype {P.dtype}")
    bad = np.flatnonzero((np.sort(P, axis=1) != np.arange(n_rows)).any(axis=1))
    if bad.size:
        lo, hi = int(P.min()), int(P.max())
        raise ShapeError(
            f"permutations row {int(bad[0])} is not a permutation of 0..{n_rows - 1} "
            f"(values range over {lo}..{hi}; the indices are 0-based)"
        )
    return P.astype(np.intp, copy=False)


# --------------------------------------------------------------------------- train
def train(
    network: Network,
    X,
    Y,
    *,
    loss: str | Loss = "mse",
    optimizer: str | Optimizer = "adam",
    lr: float | None = None,
    epochs: int = 200,
    batch_size: int = 32,
    shuffle: bool = True,
    random_state: int | np.random.Generator | None = None,
    validation_data: tuple | None = None,
    validation_fraction: float = 0.0,
    stratify=None,
    early_stopping: bool = False,
    patience: int = 10,
    min_delta: float = 0.0,
    restore_best: bool = True,
    lr_schedule=None,
    weight_decay: float = 0.0,
    callbacks: Sequence[Callback] = (),
    metric: str | Callable | None = None,
    sample_weight=None,
    gradient: str = "backprop",
    mode: str = "standard",
    permutations=None,
    verbose: int = 0,
    print_every: int = 0,
    progress: bool | None = None,
    checkpoint_every: int = 0,
    on_checkpoint: Callable[[TrainState], None] | None = None,
    resume: TrainState | None = None,
    history: History | None = None,
    blas_threads: int | str | None = "auto",
    distributed=None,
    device=None,
    engine: str = "auto",
    clip_norm: float | None = None,
) -> History:
    """Train ``network`` in place on ``(X, Y)`` by mini-batch gradient descent.

    Parameters
    ----------
    network : Network or handgrad.layers.LayerStack
        Updated in place. A stack of layers (convolution, recurrent, normalisation,
        dropout: :mod:`handgrad.layers`) trains with the NumPy engine on the CPU.
    X : array-like of shape (n_samples, n_features), or RowCache
        A :class:`~handgrad.data.cache.RowCache` (rows on disk, with their targets) is
        trained on chunk by chunk (:class:`~handgrad.training.step.ChunkedStep`); then
        ``Y`` is None, and there is no ``sample_weight``, ``validation_fraction`` or seed
        mode, and the training metric is not computed (the validation one is). With
        ``distributed`` every rank reads every chunk and computes on its part of each batch.
    Y : array-like of shape (n_samples, n_outputs) or (n_samples,)
        Targets (one-hot rows for ``softmax_crossentropy``).
    loss : str or Loss, default "mse"
    optimizer : str or Optimizer, default "adam"
        ``"sgd"`` (the seed's), ``"momentum"``, ``"nesterov"``, ``"adam"``, ``"adamw"``,
        or an :class:`Optimizer` already built over ``network.parameters()`` —
        then its state (e.g. Adam's moments) is used and kept.
    lr : float, optional
        Base learning rate (default: the optimizer's: 0.01 for SGD, 1e-3 for Adam).
    epochs : int, default 200
        Epochs to run in this call (a resumed call runs the rest of them).
    batch_size : int, default 32
        Rows per mini-batch; the last batch has the remaining rows.
    shuffle : bool, default True
        Standard mode: reshuffle the rows every epoch. Ignored in seed mode.
    random_state : int, numpy.random.Generator or None
        Seeds the shuffling and the validation split: the same value gives a
        bit-identical run.
    validation_data : tuple ``(X_val, Y_val)`` or ``(X_val, Y_val, w_val)``, optional
        Shapes ``(n_val, n_features)``, ``(n_val, n_outputs)`` or ``(n_val,)``, ``(n_val,)``.
    validation_fraction : float in [0, 1), default 0
        Hold out this fraction of ``X`` instead (exclusive with ``validation_data``).
    stratify : array-like of shape (n_samples,) or (n_samples, n_classes), optional
        Class labels (or one-hot rows): the held-out fraction keeps their proportions.
    early_stopping : bool, default False
        Stop after ``patience`` epochs without the validation loss (the training
        loss, without a validation set) improving by more than ``min_delta``;
        with ``restore_best`` the best epoch's parameters are put back at the end.
    patience, min_delta, restore_best
        See :class:`EarlyStopping`.
    lr_schedule : None, str, dict or schedule object
        See :mod:`handgrad.training.schedules`; sets ``optimizer.lr`` before each epoch
        from the base rate and the epoch's place in the history (0-based, so a
        schedule continues across calls that append to the same ``history``).
    weight_decay : float, default 0
        Passed to a named optimizer (L2 on the weights; decoupled for ``"adamw"``).
    callbacks : sequence of Callback
    metric : {"accuracy", "mse", "mae", "r2"} or callable(Y, P) -> float, optional
        Evaluated after each epoch on the training and validation rows, with
        ``P = loss.output(network output)`` of shape (n, n_outputs) (probabilities
        for the cross-entropies); logged as ``metric`` and ``val_metric``.
    sample_weight : array-like of shape (n_samples,), optional
        Per-row weights of the loss (standard mode).
    gradient : {"backprop", "expanded"}, default "backprop"
        §1.3 backpropagation, or the §1.2 expanded formulas (slower; same numbers).
    mode : {"standard", "seed"}, default "standard"
        See the module docstring.
    permutations : array-like of int, shape (epochs, n_rows), optional
        Seed mode only: the row permutations applied after each epoch.
    verbose : int, default 0
        1: print one line per epoch. Negative: quiet (no progress bar either).
    print_every : int, default 0
        Print the seed's ``Epoch k, Validation Loss: ...`` every so many epochs.
    progress : bool or None, default None
        The tqdm progress bar: None shows it when standard error is a terminal
        (and not ``verbose < 0``), True always (needs tqdm), False never.
    checkpoint_every : int, default 0
        Call ``on_checkpoint(TrainState)`` every so many epochs.
    on_checkpoint : callable(TrainState), optional
    resume : TrainState, optional
        Continue an interrupted call (same arguments): ends bit-identical to an
        uninterrupted run.
    history : History, optional
        Append to this history (epochs continue its numbering).
    blas_threads : "auto", int or None, default "auto"
        Threads NumPy's BLAS may use **during this call** (through threadpoolctl,
        when it is installed; restored on return). ``"auto"``: 1 when the largest
        matrix product of a step is small (``max n_l·n_{l-1} × batch_size`` below
        2**19 multiply-adds: the seed's network up to batch 64), else the BLAS
        default (OpenBLAS then gives each thread at least 2**18 multiply-adds). The
        compiled epoch, between 2**19 and 2**24, instead runs each batch's two halves
        at once on two threads with BLAS on one (faster there, measured:
        :func:`handgrad.training.compiled.split_in_halves`), and holds NumPy's own
        BLAS (the validation pass) to one thread while SciPy's, the kernel's, may use
        several (two pools taking turns slow each other). NOTE: a small product split over threads costs
        more in waking and synchronising them than it saves, and on a busy
        machine far more (see ``docs/benchmarks.md``). None: leave BLAS as it is.
    engine : {"auto", "numpy", "compiled"}, default "auto"
        ``"compiled"``: each epoch in one Numba call (:mod:`handgrad.training.compiled`,
        ``pip install "handgrad[fast]"``), the same numbers as NumPy to rounding; ``"numpy"``:
        the NumPy engine; ``"auto"``: compiled where Numba is installed, the training is one
        it implements (named activations, losses and optimizers, backpropagation, on the CPU,
        one process) and long enough to win back loading Numba (about 2 s of NumPy work:
        :data:`AUTO_COMPILED_SECONDS`), else NumPy.
    distributed : handgrad.training.distributed.DataParallel, optional
        Data-parallel training on ``torch.distributed``: every rank makes this same call;
        each computes on its part of every global mini-batch and the gradients are summed
        across ranks once per step (see :mod:`handgrad.training.distributed`).
    device : None, "cpu", "cuda", "cuda:1", ... or a library's device object
        Where the arithmetic runs, as in scikit-learn's array API support: the input decides
        (NumPy arrays: NumPy on the CPU; torch tensors: PyTorch on their device; CuPy or any
        array API library's arrays: that library on theirs), and ``device`` overrides it
        (``"cuda"`` with NumPy input trains with PyTorch on the GPU; needs ``handgrad[gpu]``).
        The same engine runs everywhere (:mod:`handgrad.backend`). The data are checked on
        the host and copied to the device once (whole when they fit in half of its free
        memory, else in chunks of whole batches); the network's ``theta`` is copied there at
        the start, and back into the (NumPy) network at the end of every epoch, before the
        validation loss, the metric, callbacks and checkpoints look at it (a callback that
        changes the parameters is copied back to the device); the optimizer's state comes
        back at checkpoints and at the end. The network and model files stay NumPy.
    clip_norm : float, optional
        Clip each mini-batch's gradient to this Euclidean norm over all parameters (for
        recurrent layers, whose gradients through time can explode); the NumPy engine.

    Returns
    -------
    History

    Raises
    ------
    DivergenceError
        As soon as a mini-batch loss is NaN or infinite, or a parameter is at the
        end of an epoch (a non-finite parameter makes the next mini-batch's loss
        non-finite, so the step stops there). The network is restored to its
        parameters at the end of the last finished epoch (``exc.last_good``, a
        state dict; ``exc.history``).
    """
    settings = _check_settings(
        mode,
        gradient,
        epochs,
        batch_size,
        checkpoint_every,
        print_every,
        validation_fraction,
        validation_data,
        checkpoint_every and on_checkpoint is None,
        permutations,
        sample_weight,
    )
    epochs, batch_size, checkpoint_every, print_every = settings
    clip_norm = check("clip_norm", clip_norm)
    layered = hasattr(network, "train_batch")  # a stack of layers (handgrad.layers)
    if layered and (isinstance(X, RowCache) or mode == "seed" or gradient != "backprop" or distributed is not None):
        raise ConfigError(
            "a network of layers (handgrad.layers) trains in memory by backpropagation in one process: "
            "drop mode='seed', gradient='expanded', distributed= and rows streamed from disk"
        )
    seed_mode = mode == "seed"
    loss_fn = get_loss(loss)
    metric_fn = _get_metric(metric)
    streamed = isinstance(X, RowCache)  # rows on disk (handgrad.data.stream): trained chunk by chunk, on NumPy
    if streamed:
        _check_streamed(Y, sample_weight, validation_fraction, distributed, mode, gradient)
        if device is not None and str(device) != "cpu":
            raise ConfigError("rows streamed from disk train on the CPU (NumPy); drop device=")
        bk = backend.NUMPY
    else:
        bk = backend.select(device, like=X)
        if layered and bk is not backend.NUMPY:
            raise ConfigError(
                f"a network of layers (handgrad.layers) trains with NumPy on the CPU; got device {bk.device!r}"
            )
        X, Y, sample_weight, validation_data = _to_host(X, Y, sample_weight, validation_data)
    rng = np.random.default_rng(random_state)
    data = _prepare_data(
        network, loss_fn, X, Y, sample_weight, validation_data, validation_fraction, stratify, resume, rng
    )
    P = _check_permutations(permutations, epochs, data.n) if permutations is not None else None
    opt = _make_optimizer(network, optimizer, lr, weight_decay)
    base_lr = opt.lr
    schedule = get_schedule(lr_schedule)
    hist = history if history is not None else History()
    monitor = "val_loss" if data.Xv is not None else "train_loss"
    hist.monitor = monitor
    all_callbacks, stopper = _make_callbacks(
        callbacks, early_stopping, patience, min_delta, restore_best, monitor, print_every, verbose, progress
    )

    # ---- resume
    start = 0
    order = np.arange(data.n) if seed_mode else None  # seed mode: the caller's permutations compose
    if resume is not None:
        start = resume.epoch
        network.load_state_dict(resume.network)
        opt.load_state_dict(resume.optimizer_arrays, resume.optimizer_meta)
        rng.bit_generator.state = resume.rng_state
        restored = History.from_dict(resume.history)
        hist.epochs, hist.stop_reason = restored.epochs, ""
        if resume.order is not None:
            order = np.asarray(resume.order, dtype=np.intp)
    n_before = len(hist) - start  # epochs in the history before this call began
    context = TrainContext(network, opt, hist, epochs, start, monitor)
    for cb in all_callbacks:
        cb.on_train_begin(context)
    if resume is not None and stopper is not None and resume.early_stopping_meta is not None:
        stopper.load_state(resume.early_stopping_arrays, resume.early_stopping_meta)

    # ---- the step: one engine for every optimizer, loss and activation (handgrad.training.step)
    if distributed is not None:
        _check_same_call(distributed, network, data, batch_size, epochs)
        distributed.broadcast(network.theta)  # every rank starts from rank 0's parameters
    # On another backend, the parameters the step trains are a copy of theta there (handgrad.backend).
    trained = (
        network
        if bk is backend.NUMPY
        else BlockParameters(bk.asarray(network.theta), network.layout, network.activations)
    )
    if trained is not network:
        opt.to_backend(trained.theta, bk)
    reorder = (seed_mode and P is not None) or (not seed_mode and shuffle)
    engine = check("engine", engine, Options(set(ENGINES)))
    if engine == "compiled" and (streamed or layered):
        raise ConfigError(
            'engine="compiled" trains a dense network on rows in memory; rows streamed from disk and networks '
            'of layers take the NumPy engine (engine="numpy" or "auto")'
        )
    if streamed:  # rows on disk: chunk by chunk into buffers allocated once (no copy of the whole data)
        step = ChunkedStep(network, loss_fn, opt, data.X, batch_size, data.X.chunk_rows, data_parallel=distributed)
        step.shuffle(rng if shuffle else None)
    else:
        estimate = _numpy_seconds(network, data.n, batch_size, epochs - start)
        engine = _choose_engine(
            engine, trained is network, network, loss_fn, opt, gradient, distributed, estimate, clip_norm
        )
        step = Step(
            trained,
            loss_fn,
            opt,
            data.X,
            data.Y,
            data.w,
            batch_size,
            seed_denominator=batch_size if seed_mode else None,
            gradient=gradient,
            reorder=reorder,
            data_parallel=distributed,
            engine=engine,
            clip_norm=clip_norm,
        )
        data.X = step.rows  # the step's own rows: a converted copy of the input need not stay alive
    params = network.parameters()
    last_good = network.theta.copy()
    # The epoch's training loss: the batches' J weighted by their rows (or their weights).
    weight_sum = float(data.n) if data.w is None else float(data.w.sum())

    # Whether network.theta holds the trained values (always, on NumPy: it is what is trained).
    in_sync = True

    def diverged(epoch: int, batch: int | None, what: str):
        nonlocal in_sync
        in_sync = True
        np.copyto(network.theta, last_good)
        hist.stop_reason = "diverged"
        where = f"epoch {epoch}" + (f", mini-batch {batch}" if batch is not None else "")
        exc = DivergenceError(
            f"training diverged in {where}: {what}. The network was restored to its parameters at the start "
            f"of epoch {epoch} (exc.last_good). Try a lower learning rate (lr={opt.lr:g} now), standardised "
            "inputs and targets, or another initialisation (e.g. init='he': the seed's unscaled 'randn' "
            "makes large outputs and gradients).",
            epoch=epoch,
            last_good=network.state_dict(),
        )
        exc.history = hist
        return exc

    stop_reason = "completed"
    # NOTE: overflow/NaN warnings are silenced because every batch's loss and, at the end of the
    # epoch, every parameter is checked instead: a non-finite value raises DivergenceError at once.
    errstate = np.errstate(over="ignore", invalid="ignore")
    threads = _blas_threads_for(blas_threads, network, batch_size)
    compiled_engine = engine == "compiled" and blas_threads is not None
    if (
        compiled_engine
        and threads != 1
        and _largest_product(network, batch_size) >= SINGLE_THREAD_WORK
        and _compiled.split_in_halves(_largest_product(network, batch_size), batch_size)
        and _can_limit_blas()
    ):
        # Products large enough for several threads: the kernel runs each batch's two halves at once on two
        # threads, each half's products on one BLAS thread (faster than every product on two). Not below
        # SINGLE_THREAD_WORK even when asked for threads (blas_threads=2): halves of small batches are slower.
        step.halves, threads = True, 1
    blas = _blas_limit(threads, compiled_engine=compiled_engine)
    try:
        errstate.__enter__()
        blas.__enter__()
        for e in range(start, epochs):  # for epoch = 1:epochs
            epoch = n_before + e + 1  # 1-based, continuing the history
            opt.lr = schedule.lr_at(epoch - 1, base_lr)
            t0 = time.perf_counter()
            # This epoch's row order: the seed's (composed permutations), a fresh shuffle, or file order.
            if seed_mode:
                step.set_order(order if P is not None else None)
            elif shuffle and not streamed:
                step.set_order(rng.permutation(data.n))
            in_sync = trained is network
            result = step.run_epoch()
            if trained is not network:  # θ back into the NumPy network, for everything below
                np.copyto(network.theta, bk.to_numpy(trained.theta))
                in_sync = True
            if result.bad_batch is not None:
                raise diverged(epoch, result.bad_batch, f"the mini-batch loss is {result.bad_loss}")
            if not np.isfinite(network.theta).all():
                name = next(nm for p, nm in zip(params, network.parameter_names()) if not np.isfinite(p).all())
                raise diverged(epoch, None, f"parameter {name} became non-finite")
            if not seed_mode:
                # Subnormal weights and optimizer state slow every product down (see
                # Optimizer.flush_subnormals); flushed at the epoch's end, before anything
                # (validation, callbacks, checkpoints) reads them. Seed mode stays the seed's loop.
                opt.flush_subnormals()
            if seed_mode and P is not None:
                order = order[P[e]]  # the seed reshuffles the (already permuted) rows after each epoch

            logs = _epoch_logs(epoch, result, weight_sum, opt.lr, network, loss_fn, metric_fn, data)
            if logs["val_loss"] is not None and not math.isfinite(logs["val_loss"]):
                raise diverged(epoch, None, f"the validation loss is {logs['val_loss']}")
            logs["seconds"] = time.perf_counter() - t0
            hist.append(logs)
            np.copyto(last_good, network.theta)

            stop = False
            for cb in all_callbacks:
                if cb.on_epoch_end(epoch, hist.epochs[-1]):
                    stop = True
                    stop_reason = "early_stopping" if cb is stopper else "callback"
            if checkpoint_every and (e + 1) % checkpoint_every == 0:
                on_checkpoint(_state(e + 1, network, opt, rng, hist, stopper, order if seed_mode else None, data.split))
            if trained is not network:  # what the callbacks left (e.g. restored) goes back to the device
                bk.copy_into(trained.theta, network.theta)
            if stop:
                break
    finally:
        if trained is not network:
            if not in_sync:  # interrupted mid-epoch: the network gets the device's θ, as on NumPy
                np.copyto(network.theta, bk.to_numpy(trained.theta))
            opt.to_host()
        blas.__exit__(None, None, None)
        errstate.__exit__(None, None, None)
        for cb in all_callbacks:
            if isinstance(cb, ProgressBar):
                cb.close()

    hist.stop_reason = stop_reason
    for cb in all_callbacks:
        cb.on_train_end(hist)
    return hist


# --------------------------------------------------------------------------- the stages of train()
ENGINES = ("auto", "numpy", "compiled")


#: "auto" takes the compiled epoch for a training the NumPy engine would take this long for: loading
#: Numba and the cached kernel costs ~0.5 s of a process, which a short training (the built-in sine
#: set: 0.2 s) would not win back.
AUTO_COMPILED_SECONDS = 2.0


def _numpy_seconds(network, n_rows: int, batch_size: int, epochs: int) -> float:
    """A rough estimate of the NumPy engine's time: ~20 µs a step, or its products at ~40 GFLOP/s."""
    steps = epochs * -(-n_rows // batch_size)
    flops = 6.0 * network.layout.size * min(batch_size, n_rows)  # forward + the two backward products
    return steps * max(20e-6, flops / 40e9)


def _choose_engine(
    engine, on_numpy, network, loss_fn, opt, gradient, distributed, estimated_seconds, clip_norm=None
) -> str:
    """``"compiled"`` or ``"numpy"`` for train()'s ``engine`` (see its docstring)."""
    engine = check("engine", engine, Options(set(ENGINES)))
    if engine == "numpy":
        return "numpy"
    fits = (
        on_numpy
        and distributed is None
        and clip_norm is None
        and compiled_engine_applies(network, loss_fn, opt, gradient=gradient)
    )
    if engine == "compiled" and not fits:
        if not _compiled.available():
            raise ConfigError('engine="compiled" needs Numba: pip install "handgrad[fast]"')
        raise ConfigError(
            'engine="compiled" runs backpropagation on the CPU in one process with the named activations, '
            'losses and optimizers, without clip_norm; use engine="numpy" (or "auto") for this training'
        )
    # NOTE: the choice depends on the call only (never on whether Numba happens to be loaded): the
    # same call gives the same numbers in any process.
    if fits and (engine == "compiled" or estimated_seconds >= AUTO_COMPILED_SECONDS):
        _compiled.load()  # compiled (or loaded from Numba's cache) before BLAS's threads are limited
        return "compiled"
    return "numpy"


def _check_same_call(dp, network, data, batch_size, epochs) -> None:
    """Refuse, on every rank alike, ranks that were given different data or settings."""
    what = {
        "rows": data.n,
        "batch_size": batch_size,
        "epochs": epochs,
        "parameters": network.layout.size,
        "data checksum": _checksum(data.X),
    }
    differ = [name for name, value in what.items() if not dp.same_on_every_rank(float(value))]
    if differ:
        raise ConfigError(
            f"rank {dp.rank}: the ranks were given different {', '.join(differ)}; every rank must make the "
            "same train() call on the same data (the command line has every rank read the same files)"
        )


def _checksum(X) -> float:
    """A sum over ~100 rows of ``X`` (an array or a RowCache): ranks given other data differ in it."""
    step = max(1, X.shape[0] // 97)
    if isinstance(X, RowCache):
        raw = np.empty((1, X.n_columns))
        return float(sum(X.read(i, i + 1, raw)[0, : X.n_features].sum() for i in range(0, X.shape[0], step)))
    return float(np.sum(X[::step], dtype=np.float64))


def _check_settings(
    mode,
    gradient,
    epochs,
    batch_size,
    checkpoint_every,
    print_every,
    validation_fraction,
    validation_data,
    checkpoint_without_callback,
    permutations,
    sample_weight,
):
    """The settings, checked once before any work; returns the checked integers."""
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; expected one of {MODES}")
    if gradient not in GRADIENT_METHODS:
        raise ConfigError(f"unknown gradient method {gradient!r}; expected one of {GRADIENT_METHODS}")
    epochs = check("epochs", epochs)
    batch_size = check("batch_size", batch_size)
    checkpoint_every = check("checkpoint_every", checkpoint_every)
    print_every = check("print_every", print_every)
    validation_fraction = check("validation_fraction", validation_fraction)
    if validation_data is not None and validation_fraction > 0:
        raise ConfigError("give validation_data or validation_fraction, not both")
    if checkpoint_without_callback:
        raise ConfigError("checkpoint_every needs on_checkpoint, the function that receives each TrainState")
    seed_mode = mode == "seed"
    if permutations is not None and not seed_mode:
        raise ConfigError('permutations are for mode="seed"; the standard mode shuffles with random_state')
    if seed_mode and (sample_weight is not None or validation_fraction > 0):
        raise ConfigError('mode="seed" reproduces the seed\'s loop: no sample_weight, no validation_fraction')
    return epochs, batch_size, checkpoint_every, print_every


def _to_host(X, Y, sample_weight, validation_data):
    """Arrays of other libraries (torch tensors, CuPy, ...) as NumPy arrays, to be checked on the host.

    NOTE: checked on the host with the NumPy path's messages (the row and column of a NaN, ...);
    :class:`Step` then copies the checked data to the device once.
    """
    host = backend.to_numpy
    if validation_data is not None and isinstance(validation_data, (tuple, list)):
        validation_data = tuple(v if v is None else host(v) for v in validation_data)
    return host(X), host(Y), (None if sample_weight is None else host(sample_weight)), validation_data


@dataclass
class _Data:
    """The training rows (C order, a batch is then ``X[i:j]``) and the validation rows, validated once.

    ``X`` (n, n_0), ``Y`` (n, n_L), ``w`` (n,) or None; ``Xv``, ``Yv``, ``wv`` likewise or None;
    ``split`` the indices of a held-out fraction (for checkpoints).
    """

    X: np.ndarray
    Y: np.ndarray
    w: np.ndarray | None
    Xv: np.ndarray | None
    Yv: np.ndarray | None
    wv: np.ndarray | None
    split: dict

    @property
    def n(self) -> int:
        return self.X.shape[0]


def _check_streamed(Y, sample_weight, validation_fraction, distributed, mode, gradient) -> None:
    """What training on a RowCache does not take (it holds its targets; its rows are read in chunks)."""
    given = [
        name
        for name, bad in (
            ("Y (the cache holds the targets: pass None)", Y is not None),
            ("sample_weight", sample_weight is not None),
            ("validation_fraction (pass validation_data)", validation_fraction > 0),
            ('mode="seed"', mode != "standard"),
            ('gradient="expanded"', gradient != "backprop"),
        )
        if bad
    ]
    if given:
        raise ConfigError(f"training on rows on disk (a RowCache) does not take {', '.join(given)}")


def _prepare_data(
    network, loss_fn, X, Y, sample_weight, validation_data, validation_fraction, stratify, resume, rng
) -> _Data:
    dtype = network.dtype
    if isinstance(X, RowCache):
        if X.shape[1] != network.n_inputs or X.n_outputs != network.n_outputs:
            raise ShapeError(
                f"the cache holds {X.shape[1]} features and {X.n_outputs} outputs; the network takes "
                f"{network.n_inputs} and gives {network.n_outputs}"
            )
        Y = w = None
    else:
        X = check_X(X, network.n_inputs, dtype)
        Y = check_Y(Y, X.shape[0], network.n_outputs, dtype)
        w = check_sample_weight(sample_weight, X.shape[0], dtype)
    loss_fn.check_outputs(network.n_outputs)
    split: dict[str, np.ndarray] = {}
    Xv = Yv = wv = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ConfigError("validation_data must be a tuple (X_val, Y_val) or (X_val, Y_val, sample_weight_val)")
        Xv = check_X(validation_data[0], network.n_inputs, dtype, name="X_val")
        Yv = check_Y(validation_data[1], Xv.shape[0], network.n_outputs, dtype, name="Y_val")
        if len(validation_data) == 3:
            wv = check_sample_weight(validation_data[2], Xv.shape[0], dtype)
    elif validation_fraction > 0:
        if resume is not None and resume.split:
            train_idx, val_idx = resume.split["train"], resume.split["val"]
        else:
            train_idx, val_idx = _split_validation(X.shape[0], validation_fraction, stratify, rng)
        split = {"train": train_idx, "val": val_idx}
        Xv, Yv = X[val_idx], Y[val_idx]
        wv = None if w is None else w[val_idx]
        X, Y = X[train_idx], Y[train_idx]
        w = None if w is None else w[train_idx]
    if Y is None:  # a RowCache: the rows stay on disk
        return _Data(X, None, None, Xv, Yv, wv, split)
    return _Data(np.ascontiguousarray(X), np.ascontiguousarray(Y), w, Xv, Yv, wv, split)


def _make_optimizer(network, optimizer, lr, weight_decay) -> Optimizer:
    params = network.parameters()
    if isinstance(optimizer, Optimizer):
        if weight_decay:
            raise ConfigError("weight_decay is set on an Optimizer instance, not passed to train() beside it")
        opt = get_optimizer(optimizer, params)
        if lr is not None:
            opt.lr = lr
        return opt
    return get_optimizer(optimizer, params, lr=lr, weight_decay=weight_decay or None)


def _make_callbacks(
    callbacks, early_stopping, patience, min_delta, restore_best, monitor, print_every, verbose, progress
):
    """The caller's callbacks, then early stopping, printing and the progress bar; and the stopper."""
    all_callbacks: list[Callback] = list(callbacks)
    stopper = None
    if early_stopping:
        stopper = EarlyStopping(patience, min_delta, restore_best, monitor=monitor)
        all_callbacks.append(stopper)
    if print_every and verbose >= 0:
        all_callbacks.append(PrintEvery(print_every))
    if verbose >= 1:
        all_callbacks.append(PrintEvery(1, "Epoch {epoch}: train_loss={train_loss:.6g} val_loss={val_loss}"))
    all_callbacks.append(ProgressBar(False if verbose < 0 else progress))
    return all_callbacks, stopper


def _epoch_logs(epoch, result, weight_sum, lr, network, loss_fn, metric_fn, data: _Data) -> dict:
    """The history entry of an epoch: losses, the metric, the last batch's gradient norm."""
    logs = {
        "epoch": epoch,
        "train_loss": result.loss_sum / weight_sum,
        "val_loss": None,
        # ‖dJ/dθ‖ of the epoch's last mini-batch (see History; NOTE: not an average over the
        # batches, which would cost a pass over θ per step)
        "grad_norm": math.sqrt(result.last_sq_norm),
        "lr": lr,
    }
    val_out = None
    if data.Xv is not None:
        # The seed: val_loss = sum((y_val_pred - y_val').^2) / size(X_val, 1)  (= J for MSE)
        val_out = network.predict_columns(data.Xv.T)
        logs["val_loss"] = loss_fn.value(val_out, data.Yv.T, data.wv)
    if metric_fn is not None:
        if data.Y is not None:  # (rows on disk: the validation metric only)
            logs["metric"] = float(metric_fn(data.Y, loss_fn.output(network.predict_columns(data.X.T)).T))
        if val_out is not None:
            logs["val_metric"] = float(metric_fn(data.Yv, loss_fn.output(val_out).T))
    return logs


def _state(epoch, network, opt, rng, hist, stopper, order, split) -> TrainState:
    opt_arrays, opt_meta = opt.state_dict()
    es_arrays, es_meta = stopper.state() if stopper is not None else ({}, None)
    return TrainState(
        epoch=epoch,
        network=network.state_dict(),
        optimizer_arrays=opt_arrays,
        optimizer_meta=opt_meta,
        rng_state=rng.bit_generator.state,
        history=hist.to_dict(),
        early_stopping_arrays=es_arrays,
        early_stopping_meta=es_meta,
        order=None if order is None else order.copy(),
        split={k: v.copy() for k, v in split.items()},
    )
