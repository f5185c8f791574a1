"""The per-epoch record of a training run.

>>> h = History()
>>> h.append({"epoch": 1, "train_loss": 2.0, "val_loss": 1.5})
>>> h.append({"epoch": 2, "train_loss": 1.0, "val_loss": 1.7})
>>> h["val_loss"], len(h), h.best_epoch
([1.5, 1.7], 2, 1)
>>> History.from_dict(h.to_dict()) == h
True
"""

from __future__ import annotations

import math

#: The keys every epoch's entry has (``metric``/``val_metric`` only when a metric is set).
KEYS = ("epoch", "train_loss", "val_loss", "grad_norm", "lr", "seconds")


class History:
    """What happened in each epoch, and why training stopped.

    Attributes
    ----------
    epochs : list of dict
        One dict per epoch with ``epoch`` (1-based, continuing across calls that
        append to the same History), ``train_loss`` (mean of the mini-batch losses
        over the epoch, each taken before its update), ``val_loss`` (None without
        a validation set), ``metric``/``val_metric`` (when a metric is set),
        ``grad_norm`` (Euclidean norm of the whole gradient of the epoch's last
        mini-batch: a norm at every step would cost ~4 % of the seed's epoch),
        ``lr`` and ``seconds``.
    stop_reason : str
        ``""`` before training; then ``"completed"`` (all epochs run),
        ``"early_stopping"``, ``"callback"`` (a callback asked to stop) or ``"diverged"``.
    monitor : str
        The key :attr:`best_epoch` looks at: ``"val_loss"`` if there is a
        validation loss, else ``"train_loss"`` (set by the training loop).
    """

    def __init__(self, epochs: list[dict] | None = None, stop_reason: str = "", monitor: str = "val_loss"):
        self.epochs: list[dict] = [dict(e) for e in (epochs or [])]
        self.stop_reason = stop_reason
        self.monitor = monitor

    def append(self, entry: dict) -> None:
        """Add one epoch's dict."""
        self.epochs.append(dict(entry))

    def __len__(self) -> int:
        return len(self.epochs)

    def __getitem__(self, key: str) -> list:
        """``history["val_loss"]``: that key over all epochs (None where absent)."""
        if isinstance(key, str):
            return [e.get(key) for e in self.epochs]
        raise TypeError(f"History is indexed by a key such as 'val_loss', got {key!r}; use history.epochs[i]")

    def __iter__(self):
        return iter(self.epochs)

    def __eq__(self, other) -> bool:
        if not isinstance(other, History):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    @property
    def last(self) -> dict | None:
        """The last epoch's dict, or None."""
        return self.epochs[-1] if self.epochs else None

    @property
    def best_epoch(self) -> int | None:
        """The 1-based epoch with the lowest :attr:`monitor` value (first on ties), or None."""
        key = self.monitor
        values = [(e.get(key), e["epoch"]) for e in self.epochs]
        if all(v is None for v, _ in values):
            key = "train_loss"
            values = [(e.get(key), e["epoch"]) for e in self.epochs]
        best, best_epoch = math.inf, None
        for v, epoch in values:
            if v is not None and v < best:
                best, best_epoch = v, epoch
        return best_epoch

    def to_dict(self) -> dict:
        """JSON-able: ``{"epochs": [...], "stop_reason": ..., "monitor": ...}``."""
        return {"epochs": [dict(e) for e in self.epochs], "stop_reason": self.stop_reason, "monitor": self.monitor}

    @classmethod
    def from_dict(cls, d: dict) -> History:
        """The inverse of :meth:`to_dict`."""
        return cls(d.get("epochs", []), d.get("stop_reason", ""), d.get("monitor", "val_loss"))

    def __repr__(self) -> str:
        last = self.last
        tail = ""
        if last is not None:
            tail = f", last train_loss={last.get('train_loss')!r}, val_loss={last.get('val_loss')!r}"
        return f"History({len(self)} epochs{tail}, stop_reason={self.stop_reason!r})"
