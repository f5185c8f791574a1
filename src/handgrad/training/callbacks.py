"""Callbacks: code that runs at the start, after every epoch and at the end of training.

A callback subclasses :class:`Callback` and overrides any of

* ``on_train_begin(context)`` — ``context`` is a :class:`TrainContext` (the
  network, the optimizer, the history, the number of epochs);
* ``on_epoch_end(epoch, logs) -> bool | None`` — ``epoch`` is 1-based (as
  ``logs["epoch"]``), ``logs`` is that epoch's history entry; return ``True`` to
  stop training after this epoch;
* ``on_train_end(history)``.

Example: stop as soon as the training loss is below a threshold::

    >>> class StopBelow(Callback):
    ...     def on_epoch_end(self, epoch, logs):
    ...         return logs["train_loss"] < 0.5
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from ..params import Integer, check

if TYPE_CHECKING:  # pragma: no cover
    from ..network import Network
    from .history import History
    from .optimizers import Optimizer


@dataclass
class TrainContext:
    """What a callback can see of the run (given to ``on_train_begin``).

    Attributes
    ----------
    network : Network
        The network being trained (its parameters change in place).
    optimizer : Optimizer
    history : History
        Grows by one entry per epoch.
    epochs : int
        Epochs this call runs in total (including those before a resume).
    start_epoch : int
        Epochs already done in this call when it starts (0, or the resumed state's).
    monitor : str
        ``"val_loss"`` when there is a validation set, else ``"train_loss"``.
    """

    network: Network
    optimizer: Optimizer
    history: History
    epochs: int
    start_epoch: int = 0
    monitor: str = "val_loss"


class Callback:
    """Base class; every hook does nothing."""

    def on_train_begin(self, context: TrainContext) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict) -> bool | None:
        return None

    def on_train_end(self, history: History) -> None:
        pass


class EarlyStopping(Callback):
    """Stop when the monitored loss has not improved for ``patience`` epochs.

    An epoch *improves* when its value is below ``best − min_delta``.

    Parameters
    ----------
    patience : int, default 10
        Epochs without improvement tolerated before stopping.
    min_delta : float, default 0
        The least decrease that counts as an improvement.
    restore_best : bool, default True
        At the end of training (stopped early or not), put back the parameters of
        the best epoch. NOTE: the history keeps every epoch; ``history.best_epoch``
        names the one whose weights the network then holds.
    monitor : str, default "val_loss"
        A key of the epoch logs; when an epoch has no such value (no validation
        set), ``"train_loss"`` is used instead.

    Attributes
    ----------
    best : float
        The best monitored value so far.
    best_epoch : int or None
    wait : int
        Epochs since the last improvement.
    best_params : list of ndarray or None
        Copies of the parameters at the best epoch (in ``net.parameters()`` order).
    """

    def __init__(self, patience: int = 10, min_delta: float = 0.0, restore_best: bool = True, monitor="val_loss"):
        self.patience = check("patience", patience)
        self.min_delta = check("min_delta", min_delta)
        self.restore_best = bool(restore_best)
        self.monitor = monitor
        self._params: list[np.ndarray] = []
        self.reset()

    def reset(self) -> None:
        self.best = math.inf
        self.best_epoch: int | None = None
        self.wait = 0
        self.best_params: list[np.ndarray] | None = None

    def on_train_begin(self, context):
        self._params = context.network.parameters()
        self.reset()

    def on_epoch_end(self, epoch, logs):
        value = logs.get(self.monitor)
        if value is None:
            value = logs["train_loss"]
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                if self.best_params is None:
                    self.best_params = [p.copy() for p in self._params]
                else:  # reuse the copies: no allocation per improvement
                    for saved, p in zip(self.best_params, self._params):
                        np.copyto(saved, p)
        else:
            self.wait += 1
        return self.wait >= self.patience

    def on_train_end(self, history):
        if self.restore_best and self.best_params is not None:
            for p, saved in zip(self._params, self.best_params):
                np.copyto(p, saved)

    # For checkpoints (see TrainState).
    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        """``(arrays, meta)``: the best parameters and the bookkeeping, JSON-able."""
        arrays = {} if self.best_params is None else {str(i): p.copy() for i, p in enumerate(self.best_params)}
        meta = {"best": None if math.isinf(self.best) else self.best, "best_epoch": self.best_epoch, "wait": self.wait}
        return arrays, meta

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        self.best = math.inf if meta.get("best") is None else float(meta["best"])
        self.best_epoch = meta.get("best_epoch")
        self.wait = int(meta.get("wait", 0))
        self.best_params = [np.array(arrays[str(i)]) for i in range(len(arrays))] if arrays else None


class PrintEvery(Callback):
    """Print one line every ``k`` epochs, as the seed does every 10.

    Parameters
    ----------
    k : int
        Print when ``epoch % k == 0`` (epochs 1-based).
    fmt : str, optional
        A ``str.format`` template over the epoch's logs. Default: the seed's
        ``"Epoch {epoch}, Validation Loss: {val_loss:f}"`` when there is a
        validation loss, else ``"Epoch {epoch}, Training Loss: {train_loss:f}"``.
    file : text stream, default sys.stdout
    """

    SEED_FORMAT = "Epoch {epoch}, Validation Loss: {val_loss:f}"
    TRAIN_FORMAT = "Epoch {epoch}, Training Loss: {train_loss:f}"

    def __init__(self, k: int, fmt: str | None = None, file=None):
        # NOTE: 1 at least here; train(print_every=0) means "no PrintEvery at all".
        self.k = check("print_every", k, Integer(low=1))
        self.fmt = fmt
        self.file = file

    def on_epoch_end(self, epoch, logs):
        if epoch % self.k == 0:
            fmt = self.fmt or (self.SEED_FORMAT if logs.get("val_loss") is not None else self.TRAIN_FORMAT)
            print(fmt.format(**logs), file=self.file or sys.stdout, flush=True)


class ProgressBar(Callback):
    """A tqdm progress bar over the epochs, with the latest losses.

    Parameters
    ----------
    enabled : bool or None, default None
        None: shown when tqdm is installed and standard error is a terminal.
        True: shown (tqdm required: ``pip install "handgrad[progress]"``).
        False: never.
    """

    def __init__(self, enabled: bool | None = None):
        self.enabled = enabled
        self._bar: Any = None

    def _tqdm(self):
        try:
            from tqdm.auto import tqdm
        except ImportError:
            if self.enabled:
                raise ConfigError(
                    'the progress bar needs tqdm: pip install "handgrad[progress]" (or pass progress=False)'
                ) from None
            return None
        return tqdm

    def on_train_begin(self, context):
        if self.enabled is False:
            return
        if self.enabled is None and not _is_tty(sys.stderr):
            return
        tqdm = self._tqdm()
        if tqdm is not None:
            self._bar = tqdm(
                total=context.epochs, initial=context.start_epoch, unit="epoch", file=sys.stderr, leave=True
            )

    def on_epoch_end(self, epoch, logs):
        if self._bar is not None:
            post = {"loss": f"{logs['train_loss']:.4g}"}
            if logs.get("val_loss") is not None:
                post["val_loss"] = f"{logs['val_loss']:.4g}"
            self._bar.set_postfix(post, refresh=False)
            self._bar.update(1)

    def on_train_end(self, history):
        self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _is_tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
