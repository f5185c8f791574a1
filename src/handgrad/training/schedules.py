"""Learning-rate schedules: the learning rate of each epoch, from the base rate.

A schedule is an object with ``lr_at(epoch, base_lr) -> float`` (``epoch`` 0-based);
the training loop sets ``optimizer.lr = schedule.lr_at(epoch, base_lr)`` before
each epoch. Every schedule takes an optional linear warm-up of ``warmup`` epochs::

    >>> s = cosine(total=10, min_lr=0.0, warmup=2)
    >>> [round(s.lr_at(e, 1.0), 4) for e in range(4)]
    [0.5, 1.0, 1.0, 0.9755]

============================ ======================================================
``constant()``               ``lr = base``  (the seed's)
``step(step_size, gamma)``   ``lr = base · gamma^⌊e / step_size⌋``
``cosine(total, min_lr)``    ``lr = min_lr + (base − min_lr) · (1 + cos(π e / total)) / 2``,
                             held at ``min_lr`` after ``total`` epochs
warm-up ``w`` epochs         ``lr = base · (e + 1) / w`` for ``e < w``; the schedule
                             then runs on ``e − w``
============================ ======================================================
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..errors import ConfigError
from ..params import check


def _set(schedule, name: str) -> None:
    """Check a setting by its rule in :data:`handgrad.params.RULES` and store it converted.

    (``object.__setattr__``: the dataclasses are frozen; a NumPy integer becomes an ``int``,
    so that ``to_dict`` stays JSON-able.)
    """
    object.__setattr__(schedule, name, check(name, getattr(schedule, name)))


@dataclass(frozen=True)
class Schedule:
    """Base class: a linear warm-up, then :meth:`_after_warmup`.

    Parameters
    ----------
    warmup : int, default 0
        Epochs of linear warm-up from ``base/warmup`` up to ``base``.
    """

    warmup: int = 0

    def __post_init__(self):
        _set(self, "warmup")

    def lr_at(self, epoch: int, base_lr: float) -> float:
        """The learning rate of ``epoch`` (0-based) for the base rate ``base_lr``."""
        if epoch < self.warmup:
            return base_lr * (epoch + 1) / self.warmup
        return self._after_warmup(epoch - self.warmup, base_lr)

    def _after_warmup(self, epoch: int, base_lr: float) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict:
        """JSON-able ``{"name": ..., <settings>}``; :func:`get_schedule` reads it back."""
        return {"name": self.name, **asdict(self)}


@dataclass(frozen=True)
class Constant(Schedule):
    """``lr = base`` after the warm-up."""

    name = "constant"

    def _after_warmup(self, epoch, base_lr):
        return base_lr


@dataclass(frozen=True)
class Step(Schedule):
    """``lr = base · gamma^⌊epoch / step_size⌋`` (epochs counted after the warm-up)."""

    step_size: int = 10
    gamma: float = 0.1
    name = "step"

    def __post_init__(self):
        super().__post_init__()
        _set(self, "step_size")
        _set(self, "gamma")

    def _after_warmup(self, epoch, base_lr):
        return base_lr * self.gamma ** (epoch // self.step_size)


@dataclass(frozen=True)
class Cosine(Schedule):
    """Cosine annealing from ``base`` to ``min_lr`` over ``total`` epochs, then ``min_lr``."""

    total: int = 100
    min_lr: float = 0.0
    name = "cosine"

    def __post_init__(self):
        super().__post_init__()
        _set(self, "total")
        _set(self, "min_lr")

    def _after_warmup(self, epoch, base_lr):
        e = min(epoch, self.total)
        return self.min_lr + (base_lr - self.min_lr) * (1 + math.cos(math.pi * e / self.total)) / 2


def constant(warmup: int = 0) -> Constant:
    """The constant schedule (optionally with a warm-up)."""
    return Constant(warmup=warmup)


def step(step_size: int, gamma: float = 0.1, warmup: int = 0) -> Step:
    """Multiply the rate by ``gamma`` every ``step_size`` epochs."""
    return Step(warmup=warmup, step_size=step_size, gamma=gamma)


def cosine(total: int, min_lr: float = 0.0, warmup: int = 0) -> Cosine:
    """Cosine annealing to ``min_lr`` over ``total`` epochs (after the warm-up)."""
    return Cosine(warmup=warmup, total=total, min_lr=min_lr)


SCHEDULES = {"constant": Constant, "step": Step, "cosine": Cosine}


def get_schedule(spec) -> Schedule:
    """A schedule from ``None`` (constant), a name, a dict ``{"name": ..., **settings}``
    (as :meth:`Schedule.to_dict` writes) or any object with ``lr_at`` (passed through).

    Raises
    ------
    ConfigError
        For an unknown name or a bad setting.
    """
    if spec is None:
        return Constant()
    if hasattr(spec, "lr_at"):
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
    if isinstance(spec, dict):
        settings = dict(spec)
        name = str(settings.pop("name", "")).strip().lower()
        if name in SCHEDULES:
            try:
                return SCHEDULES[name](**settings)
            except TypeError as exc:
                raise ConfigError(f"bad setting for schedule {name!r}: {exc}") from None
    raise ConfigError(
        f"unknown learning-rate schedule {spec!r}; expected None, one of {sorted(SCHEDULES)}, "
        "a dict {'name': ..., ...} or an object with lr_at(epoch, base_lr)"
    )
