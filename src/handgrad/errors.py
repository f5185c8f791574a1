"""The errors handgrad raises for bad input.

Every error a user can cause is a ``ValueError`` subclass (so ``except ValueError``
keeps working) and derives from :class:`HandgradError`, so a caller (the command
line, above all) can tell a user's mistake from a bug in handgrad. Messages name
the offending value, the expected and the actual shape, and the file and line
where there is one.

Some errors are also instances of the built-in class a Python user would
expect to catch: :class:`NotFittedError` is an ``AttributeError``,
:class:`NonNumericError` a ``TypeError`` and :class:`PlotDependencyError` an
``ImportError``.
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


class NonNumericError(DataError, TypeError):
    """An array holds values that are not numbers (a ``TypeError`` too, as NumPy's own)."""


class NotFittedError(HandgradError, AttributeError):
    """``predict``/``score``/... called on an estimator before ``fit``.

    A ``ValueError`` (as every handgrad user error) and an ``AttributeError``
    (as scikit-learn's ``NotFittedError``), so either ``except`` catches it.
    When scikit-learn is loaded the estimators raise a subclass that is also
    ``sklearn.exceptions.NotFittedError`` (see
    ``handgrad.estimators._not_fitted_error``).
    """


class PlotDependencyError(HandgradError, ImportError):
    """matplotlib (the ``plot`` extra) is not installed.

    An ``ImportError`` (for ``except ImportError``) and a
    :class:`HandgradError` (so the command line reports it in one line with
    exit code 2 instead of a traceback).
    """


class DivergenceError(HandgradError):
    """Training produced a non-finite loss or parameter and was stopped.

    Attributes
    ----------
    epoch : int
        The epoch (1-based) in which the divergence was detected.
    last_good : object or None
        What the caller kept from before the divergence (for the training loop,
        the network's parameters at the last good step, a state dict).
    history : object or None
        The record of the epochs before the divergence (for the training loop,
        its :class:`handgrad.training.History`, with ``stop_reason ==
        "diverged"``); None when the raiser has none.
    """

    def __init__(self, message: str, *, epoch: int = 0, last_good: object = None, history: object = None):
        super().__init__(message)
        self.epoch = epoch
        self.last_good = last_good
        self.history = history


class FileWriteError(HandgradError, OSError):
    """Writing a user's file failed (disk full, read-only file system, permission).

    The message names the user's path (never a hidden temporary file); the old
    file, if any, is intact. An ``OSError`` too (``errno``, ``strerror``,
    ``filename`` are set), so ``except OSError`` keeps working.
    """

    def __init__(self, errno: int | None, strerror: str, filename: str):
        super().__init__(strerror)
        self.errno = errno
        self.strerror = strerror
        self.filename = filename

    def __str__(self) -> str:
        return self.strerror
