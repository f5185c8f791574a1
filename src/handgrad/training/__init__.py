"""Training: optimizers, learning-rate schedules, callbacks, the history, and the loop.

    >>> import numpy as np
    >>> from handgrad import Network
    >>> from handgrad.training import train
    >>> X = np.linspace(0, 1, 64).reshape(-1, 1); y = 3 * X[:, 0] + 1
    >>> net = Network([1, 8, 1], random_state=0)
    >>> history = train(net, X, y, optimizer="adam", lr=0.05, epochs=50, random_state=0)
    >>> history["train_loss"][-1] < 0.01
    True

Modules: :mod:`.optimizers` (SGD, momentum, Nesterov, Adam, AdamW),
:mod:`.schedules`, :mod:`.callbacks`, :mod:`.history`, :mod:`.loop`
(:func:`train`, the seed's loop in ``mode="seed"``), :mod:`.state` (checkpoints).
"""

from .callbacks import Callback, EarlyStopping, PrintEvery, ProgressBar, TrainContext
from .history import History
from .loop import METRICS, MODES, train
from .optimizers import SGD, Adam, AdamW, Optimizer, get_optimizer
from .schedules import Constant, Cosine, Schedule, Step, constant, cosine, get_schedule, step
from .state import TrainState

__all__ = [
    "METRICS",
    "MODES",
    "SGD",
    "Adam",
    "AdamW",
    "Callback",
    "Constant",
    "Cosine",
    "EarlyStopping",
    "History",
    "Optimizer",
    "PrintEvery",
    "ProgressBar",
    "Schedule",
    "Step",
    "TrainContext",
    "TrainState",
    "constant",
    "cosine",
    "get_optimizer",
    "get_schedule",
    "step",
    "train",
]
