"""Hyper-parameter rules, declared once.

Every setting a user can give handgrad (a learning rate, a number of epochs, a
patience, the hidden widths, a seed, ...) has ONE rule, in the table
:data:`RULES`; ``train()``, the optimizers, the schedules, the callbacks, the
estimators and the command line check their settings through :func:`check`, so
that the same value is accepted or refused, with the same message, wherever it
is given. (In the spirit of scikit-learn's ``_parameter_constraints``.)

    >>> check("lr", 0.1)
    0.1
    >>> check("patience", 0)
    Traceback (most recent call last):
    ...
    handgrad.errors.ConfigError: patience must be an integer >= 1, got 0
    >>> check("alpha", 2.5, Interval(float, 0, 1))
    Traceback (most recent call last):
    ...
    handgrad.errors.ConfigError: alpha must be a finite number in [0, 1], got 2.5

A rule is one of

============================================ ==========================================================
``Interval(float, low, high, closed=...)``   a finite real number (``bool`` and strings refused) in
                                             the interval; ``None`` for an unbounded side;
                                             ``closed`` is ``"both"``, ``"left"``, ``"right"`` or
                                             ``"neither"``. Returns a ``float``.
``Interval(int, low, high)`` / ``Integer``   an integer (Python or NumPy, not ``bool``, not ``3.0``)
                                             in the interval. Returns an ``int``.
``Options({...})``                           one of the given values (strings compared exactly).
``Sizes(low=1, min_len=0)``                  an integer or a sequence of integers, each ``>= low``.
                                             Returns a ``tuple`` of ``int``.
``Boolean()``                                ``True``/``False`` (NumPy's too). Returns a ``bool``.
``RandomState()``                            ``None``, an integer ``>= 0`` or a ``numpy.random.Generator``.
``FloatDtype()``                             float32 or float64 (a name, a NumPy type or a dtype).
                                             Returns the ``numpy.dtype``.
``AnyOf(rule, rule, ...)``                   the first rule that accepts the value.
============================================ ==========================================================

:func:`check` raises :class:`handgrad.errors.ConfigError` (a ``ValueError``)
naming the setting, what it must be, and the value given. The command line
passes the flag's name (``check("--eps", args.eps, RULES["eps"])``) so that its
one-line error names what the user typed.

The module also estimates the memory a network needs (:func:`estimate_bytes`)
and refuses, before allocating, a run that cannot fit (:func:`check_memory`):
``--hidden 100000 100000`` is a 10^10-entry matrix (80 GB in float64), which is
an error message, not a ``MemoryError`` traceback.
"""

from __future__ import annotations

import itertools
import math
import numbers
import os
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from .errors import ConfigError

__all__ = [
    "RULES",
    "AnyOf",
    "Boolean",
    "FloatDtype",
    "Integer",
    "Interval",
    "Options",
    "RandomState",
    "Rule",
    "Sizes",
    "available_bytes",
    "check",
    "check_all",
    "check_memory",
    "estimate_bytes",
    "format_bytes",
]

_CLOSED = ("both", "left", "right", "neither")


class Rule:
    """What a setting must be. Subclasses define :meth:`convert` and :meth:`describe`."""

    def convert(self, value):
        """The value, normalised (``int``, ``float``, ``tuple`` ...), or raise ``ValueError``/``TypeError``."""
        raise NotImplementedError  # pragma: no cover - abstract

    def describe(self) -> str:
        """What the value must be, completing the sentence "``name`` must be ..."."""
        raise NotImplementedError  # pragma: no cover - abstract

    def accepts(self, value) -> bool:
        try:
            self.convert(value)
        except (TypeError, ValueError):
            return False
        return True

    def check(self, name: str, value):
        """``value`` converted, or :class:`ConfigError` naming ``name``, the rule and ``value``."""
        try:
            return self.convert(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be {self.describe()}, got {_show(value)}") from None

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.describe()}>"


def _show(value) -> str:
    """The value as a message shows it: ``repr``, cut short when long."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_integer(value) -> bool:
    # NOTE: bool is an int subclass; True as "1 epoch" is a bug in the caller.
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(value, (bool, np.bool_))


class Interval(Rule):
    """A number in an interval.

    Parameters
    ----------
    kind : type ``int`` or ``float``
        ``int``: integers only (``3.0`` is refused). ``float``: any finite real.
    low, high : number or None
        The bounds; None leaves that side open to infinity.
    closed : {"both", "left", "right", "neither"}, default "both"
        Which bounds belong to the interval.
    """

    def __init__(self, kind: type, low=None, high=None, *, closed: str = "both"):
        if kind not in (int, float):
            raise TypeError(f"Interval kind must be int or float, got {kind!r}")
        if closed not in _CLOSED:
            raise ValueError(f"closed must be one of {_CLOSED}, got {closed!r}")
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def convert(self, value):
        if self.kind is int:
            if not _is_integer(value):
                raise TypeError("not an integer")
            v = int(value)
        else:
            if not _is_real(value):
                raise TypeError("not a number")
            v = float(value)
            if not math.isfinite(v):
                raise ValueError("not finite")
        if self.low is not None and (v < self.low or (v == self.low and self.closed in ("right", "neither"))):
            raise ValueError("below the interval")
        if self.high is not None and (v > self.high or (v == self.high and self.closed in ("left", "neither"))):
            raise ValueError("above the interval")
        return v

    def describe(self) -> str:
        what = "an integer" if self.kind is int else "a finite number"
        low_in = self.closed in ("both", "left")
        high_in = self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            return f"{what} in {'[' if low_in else '('}{self.low}, {self.high}{']' if high_in else ')'}"
        if self.low is not None:
            return f"{what} {'>=' if low_in else '>'} {self.low}"
        if self.high is not None:
            return f"{what} {'<=' if high_in else '<'} {self.high}"
        return what


def Integer(low: int | None = None, high: int | None = None) -> Interval:
    """An integer in ``[low, high]`` (either side may be None): ``Interval(int, low, high)``."""
    return Interval(int, low, high, closed="both")


class Options(Rule):
    """One of a fixed set of values (``Options({"sgd", "adam"})``)."""

    def __init__(self, values: Iterable):
        self.values = tuple(values)

    def convert(self, value):
        for v in self.values:
            # NOTE: `0 == False`: a flag is not a number, so bool matches bool only.
            if v is value or (isinstance(v, bool) == isinstance(value, bool) and _equal(v, value)):
                return v
        raise ValueError("not an option")

    def describe(self) -> str:
        shown = sorted((repr(v) for v in self.values), key=str)
        return shown[0] if len(shown) == 1 else "one of " + ", ".join(shown)


def _equal(a, b) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # an array compared with a string, ...
        return False


class Boolean(Rule):
    """``True`` or ``False`` (Python's or NumPy's)."""

    def convert(self, value):
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise TypeError("not a bool")

    def describe(self) -> str:
        return "True or False"


class Sizes(Rule):
    """Layer widths: an integer or a sequence of integers, each ``>= low``.

    Parameters
    ----------
    low : int, default 1
    min_len : int, default 0
        The fewest entries (``layer_sizes``: 2, an input and an output; hidden
        widths: 0, no hidden layer).
    """

    def __init__(self, low: int = 1, min_len: int = 0):
        self.low, self.min_len = low, min_len

    def convert(self, value):
        if _is_integer(value):
            value = (value,)
        if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
            raise TypeError("not a sequence")
        if not all(_is_integer(v) for v in value):
            raise TypeError("not integers")
        sizes = tuple(int(v) for v in value)
        if len(sizes) < self.min_len or any(v < self.low for v in sizes):
            raise ValueError("out of range")
        return sizes

    def describe(self) -> str:
        each = f"integers >= {self.low}"
        if self.min_len:
            return f"at least {self.min_len} {each}"
        return f"an integer or a sequence of {each}"


class RandomState(Rule):
    """A seed: ``None`` (fresh entropy), an integer ``>= 0`` or a ``numpy.random.Generator``."""

    def convert(self, value):
        if value is None or isinstance(value, np.random.Generator):
            return value
        return Integer(low=0).convert(value)

    def describe(self) -> str:
        return "an int, a numpy Generator or None"

    def check(self, name: str, value):
        if _is_integer(value) and value < 0:  # NOTE: NumPy's own message here names no setting
            raise ConfigError(f"{name} must be an integer >= 0 when it is a seed, got {_show(value)}")
        return super().check(name, value)


class FloatDtype(Rule):
    """float32 or float64, given as a name, a NumPy type or a dtype. Returns the ``numpy.dtype``."""

    def convert(self, value):
        if isinstance(value, (bool, int, float)) or value is None:
            raise TypeError("not a dtype")  # NOTE: np.dtype(None) is float64, np.dtype(float) too
        dtype = np.dtype(value)  # TypeError for junk
        if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError("not float32/float64")
        return dtype

    def describe(self) -> str:
        return "float32 or float64"

    def check(self, name: str, value):
        try:
            return self.convert(value)
        except (TypeError, ValueError):
            try:  # name the dtype as NumPy does (int64, not <class 'numpy.int64'>)
                shown = np.dtype(value).name if value is not None else repr(value)
            except (TypeError, ValueError):
                shown = _show(value)
            raise ConfigError(f"{name} must be {self.describe()}, got {shown}") from None


class AnyOf(Rule):
    """The first of several rules that accepts the value (``AnyOf(Options({"auto"}), Integer(1))``)."""

    def __init__(self, *rules: Rule):
        self.rules = rules

    def convert(self, value):
        for rule in self.rules:
            try:
                return rule.convert(value)
            except (TypeError, ValueError):
                continue
        raise ValueError("no rule accepts it")

    def describe(self) -> str:
        return " or ".join(rule.describe() for rule in self.rules)


#: Every shared hyper-parameter, by the name the library uses (``train()``'s keyword,
#: the optimizer's or schedule's argument). The command line checks its flags
#: against the same rules. A module with a setting of its own may still
#: declare a rule inline (``check("fps", fps, Interval(float, 0, 100, closed="right"))``).
RULES: dict[str, Rule] = {
    # ---- optimizers (training/optimizers.py)
    # NOTE: lr 0 is allowed: it freezes the parameters (a schedule may reach it too).
    "lr": Interval(float, 0, None),
    "momentum": Interval(float, 0, 1, closed="left"),
    "beta1": Interval(float, 0, 1, closed="left"),
    "beta2": Interval(float, 0, 1, closed="left"),
    "eps": Interval(float, 0, None, closed="neither"),  # Adam's ε and gradcheck's finite-difference step
    "weight_decay": Interval(float, 0, None),
    "nesterov": Boolean(),
    # ---- the training loop (training/loop.py)
    "epochs": Integer(low=0),  # 0: no training (the network is evaluated as it is)
    "batch_size": Integer(low=1),
    "validation_fraction": Interval(float, 0, 1, closed="left"),  # 0: no validation split
    "patience": Integer(low=1),
    "min_delta": Interval(float, 0, None),
    "print_every": Integer(low=0),  # 0: never
    "checkpoint_every": Integer(low=0),  # 0: never
    "random_state": RandomState(),
    "seed": Integer(low=0),
    "early_stopping": Boolean(),
    "restore_best": Boolean(),
    "shuffle": Boolean(),
    # ---- learning-rate schedules (training/schedules.py)
    "warmup": Integer(low=0),
    "step_size": Integer(low=1),
    "gamma": Interval(float, 0, None, closed="neither"),
    "total": Integer(low=1),
    "min_lr": Interval(float, 0, None),
    # ---- architecture
    "layer_sizes": Sizes(low=1, min_len=2),
    "hidden": Sizes(low=1),
    "hidden_layer_sizes": Sizes(low=1),
    "inputs": Integer(low=1),
    "outputs": Integer(low=1),
    "dtype": FloatDtype(),
    # ---- estimators
    # (an estimator's batch_size also takes "auto": AnyOf(Options({"auto"}), RULES["batch_size"]))
    "learning_rate": AnyOf(Options({None}), Interval(float, 0, None, closed="neither")),  # None: the optimizer's
    # gradient clipping by global norm (None: none), train()'s clip_norm and the estimators'
    "clip_norm": AnyOf(Options({None}), Interval(float, 0, None, closed="neither")),
    "max_iter": Integer(low=1),
    "n_init": Integer(low=1),
    # ---- gradient checks (gradcheck.py, teaching/check.py)
    "batch": Integer(low=1),
    # NOTE: tol 0 is allowed: it asks for exact agreement (and so fails), which the tests use.
    "tol": Interval(float, 0, None),
}


def check(name: str, value, rule: Rule | str | None = None):
    """``value`` checked against ``rule`` (default ``RULES[name]``) and converted.

    Parameters
    ----------
    name : str
        The setting's name as the user wrote it (``"lr"``, ``"--eps"``): the error names it.
    value : object
    rule : Rule, str or None
        A rule, the name of a rule in :data:`RULES` (``check("--seed", s, "seed")``),
        or None for ``RULES[name]``.

    Returns
    -------
    The value converted (``int``, ``float``, ``tuple`` ...).

    Raises
    ------
    ConfigError
        ``"<name> must be <rule>, got <value>"``.
    KeyError
        ``rule`` is None or a string and names no rule (a bug in the caller).
    """
    if rule is None:
        rule = RULES[name]
    elif isinstance(rule, str):
        rule = RULES[rule]
    return rule.check(name, value)


def check_all(settings: Mapping[str, object], rules: Mapping[str, Rule] | None = None) -> dict:
    """Every ``name: value`` of ``settings`` checked (by ``rules[name]``, default :data:`RULES`).

    Returns a new dict of the converted values. Raises :class:`ConfigError` on the first bad one.
    """
    table = RULES if rules is None else rules
    return {name: table[name].check(name, value) for name, value in settings.items()}


# --------------------------------------------------------------------------- memory
def estimate_bytes(layer_sizes: Sequence[int], batch: int = 1, dtype="float64", copies: int = 4) -> int:
    """Bytes a network of ``layer_sizes`` needs for one step on a batch of ``batch`` samples.

    ``copies`` parameter-sized arrays (the parameters, their gradient, and
    optimizer state or finite-difference copies: 4 covers Adam's ``m`` and
    ``v``), plus the forward and backward arrays of the batch: z_l, a_l and
    δ_l for every layer, ``3 · batch · Σ n_l``.

    Parameters
    ----------
    layer_sizes : sequence of int, [n_0, n_1, ..., n_L]
    batch : int
    dtype : numpy dtype or its name
    copies : int

    Returns
    -------
    int

    >>> estimate_bytes([37, 128, 64, 1], batch=32)  # the seed's network
    598560
    """
    sizes = [int(n) for n in layer_sizes]
    n_params = sum(n * (m + 1) for m, n in itertools.pairwise(sizes))
    n_activations = 3 * int(batch) * sum(sizes)
    return (int(copies) * n_params + n_activations) * np.dtype(dtype).itemsize


def available_bytes() -> int | None:
    """The memory the machine can give now (Linux ``MemAvailable``), else its physical memory, else None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``: a byte count as a person reads it."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover - the loop returns


def check_memory(needed: int, what: str, available: int | None = None) -> None:
    """Refuse, with the figures, a task that needs more memory than the machine has.

    Parameters
    ----------
    needed : int
        Bytes the task will allocate (for example :func:`estimate_bytes`).
    what : str
        What needs it, for the message (``"a network of layer sizes [...]"``).
    available : int or None
        Bytes available; None: :func:`available_bytes` (and no check if unknown).

    Raises
    ------
    ConfigError
        ``"<what> needs about 74.5 GiB of memory; this machine has 12.0 GiB available"``.
    """
    if available is None:
        available = available_bytes()
    if available is not None and needed > available:
        raise ConfigError(
            f"{what} needs about {format_bytes(needed)} of memory; this machine has {format_bytes(available)} available"
        )
