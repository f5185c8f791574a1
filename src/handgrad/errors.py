"""The errors handgrad raises for bad input.

Every error a user can cause is a ``ValueError`` subclass (so ``except ValueError``
keeps working) and derives from :class:`HandgradError`, so a caller (the command
line, above all) can tell a user's mistake from a bug in handgrad. Messages name
the offending value, the expected and the actual shape, and the file and line
where there is one.
"""

from __future__ import annotations


class HandgradError(ValueError):
    """Base class of every error caused by the user's input or settings."""


class ShapeError(HandgradError):
    """An array has the wrong shape, or two arrays do not fit together."""


class NonFiniteError(HandgradError):
    """An array holds NaN or infinity where finite numbers are required."""


class ConfigError(HandgradError):
    """An unknown name or an out-of-range setting (activation, loss, init, ...)."""


class DataError(HandgradError):
    """A data file cannot be read as the data set it claims to be."""


class ModelFileError(HandgradError):
    """A model file is missing, truncated, corrupted or of an unknown version."""


class DivergenceError(HandgradError):
    """Training produced a non-finite loss or parameter and was stopped.

    Attributes
    ----------
    epoch : int
        The epoch (1-based) in which the divergence was detected.
    last_good : object or None
        What the caller kept from before the divergence (for the training loop,
        the network's parameters at the last good step).
    """

    def __init__(self, message: str, *, epoch: int = 0, last_good: object = None):
        super().__init__(message)
        self.epoch = epoch
        self.last_good = last_good
