"""A training run's complete state between two epochs, for checkpoints and exact resumption.

:func:`handgrad.training.train` hands a :class:`TrainState` to ``on_checkpoint``
every ``checkpoint_every`` epochs; ``train(..., resume=state)`` continues from it
so that the resumed run ends **bit-identical** to an uninterrupted one (same
weights, optimizer moments, shuffling, history losses, early-stopping counters).

The state converts to plain arrays plus JSON-able metadata and back, so that a
file layer can store it as ``.npz`` + JSON without pickle::

    arrays, meta = state.to_arrays_and_metadata()
    state = TrainState.from_arrays_and_metadata(arrays, meta)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelFileError

FORMAT = "handgrad.TrainState"
VERSION = 1


@dataclass
class TrainState:
    """Everything needed to continue a :func:`train` call after ``epoch`` epochs.

    Attributes
    ----------
    epoch : int
        Epochs completed **in this train() call** (the history may hold earlier ones).
    network : dict of ndarray
        ``{"W1": W_1 (n_1, n_0), "b1": b_1 (n_1,), ...}``.
    optimizer_arrays : dict of ndarray
        The optimizer's state arrays (momentum, Adam's m and v), as its ``state_dict()``.
    optimizer_meta : dict
        Its JSON-able settings, learning rate and step count.
    rng_state : dict
        ``numpy.random.Generator.bit_generator.state`` (the shuffling stream).
    history : dict
        ``History.to_dict()``.
    early_stopping_arrays : dict of ndarray
        The best parameters kept by early stopping (``"0"``, ``"1"``, ... in
        ``net.parameters()`` order); empty without early stopping.
    early_stopping_meta : dict or None
        Its best value, best epoch and wait counter; None without early stopping.
    order : ndarray of int, shape (n_rows,), or None
        Seed mode: the current order of the training rows (the caller's
        permutations compose from epoch to epoch).
    split : dict of ndarray
        ``{"train": indices, "val": indices}`` when a validation fraction was split off.
    """

    epoch: int
    network: dict[str, np.ndarray]
    optimizer_arrays: dict[str, np.ndarray]
    optimizer_meta: dict
    rng_state: dict
    history: dict
    early_stopping_arrays: dict[str, np.ndarray] = field(default_factory=dict)
    early_stopping_meta: dict | None = None
    order: np.ndarray | None = None
    split: dict[str, np.ndarray] = field(default_factory=dict)

    def to_arrays_and_metadata(self) -> tuple[dict[str, np.ndarray], dict]:
        """``(arrays, meta)``: arrays under prefixed names, the rest JSON-able."""
        arrays: dict[str, np.ndarray] = {}
        arrays.update({f"network.{k}": v for k, v in self.network.items()})
        arrays.update({f"optimizer.{k}": v for k, v in self.optimizer_arrays.items()})
        arrays.update({f"early_stopping.{k}": v for k, v in self.early_stopping_arrays.items()})
        arrays.update({f"split.{k}": v for k, v in self.split.items()})
        if self.order is not None:
            arrays["order"] = self.order
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "epoch": self.epoch,
            "optimizer": self.optimizer_meta,
            "rng_state": _jsonable_rng_state(self.rng_state),
            "history": self.history,
            "early_stopping": self.early_stopping_meta,
        }
        return arrays, meta

    @classmethod
    def from_arrays_and_metadata(cls, arrays: dict[str, np.ndarray], meta: dict) -> TrainState:
        """The inverse of :meth:`to_arrays_and_metadata`.

        Raises
        ------
        ModelFileError
            If ``meta`` is not a training state of a version this handgrad reads.
        """
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise ModelFileError(
                f"not a handgrad training state of version {VERSION}: format={meta.get('format')!r}, "
                f"version={meta.get('version')!r}"
            )

        def part(prefix: str) -> dict[str, np.ndarray]:
            n = len(prefix) + 1
            return {k[n:]: np.asarray(v) for k, v in arrays.items() if k.startswith(prefix + ".")}

        return cls(
            epoch=int(meta["epoch"]),
            network=part("network"),
            optimizer_arrays=part("optimizer"),
            optimizer_meta=dict(meta["optimizer"]),
            rng_state=meta["rng_state"],
            history=meta["history"],
            early_stopping_arrays=part("early_stopping"),
            early_stopping_meta=meta.get("early_stopping"),
            order=np.asarray(arrays["order"]) if "order" in arrays else None,
            split=part("split"),
        )


def _jsonable_rng_state(state: dict) -> dict:
    """The bit generator state with any ndarray (e.g. MT19937's key) as a list."""
    out = {}
    for k, v in state.items():
        if isinstance(v, dict):
            out[k] = _jsonable_rng_state(v)
        elif isinstance(v, np.ndarray):
            out[k] = v.tolist()
        elif isinstance(v, np.integer):
            out[k] = int(v)
        else:
            out[k] = v
    return out
