"""handgrad: neural networks trained with gradients derived by hand.

The mathematics of the seed document (a fully connected network, its loss, the
gradient of every weight written out whole, and backpropagation) as a small,
fast, verified NumPy library. See ``docs/derivation.md``.

Two levels of API:

* the engine, to step through by hand: :class:`Network` (``forward``,
  ``backward``, ``gradients(method="backprop" | "expanded")``, ``parameters``),
  :func:`gradcheck`, :func:`derive`, and :func:`train` with its optimizers;
* the estimators: :class:`MLPRegressor`, :class:`MLPClassifier` (``fit``,
  ``predict``, scikit-learn compatible) and :func:`load` for their files.

Submodules: ``handgrad.data`` (CSV files, built-in data sets),
``handgrad.modelfile`` (safe model files), ``handgrad.plots`` (matplotlib,
imported only when used), ``handgrad.teaching`` (the derivation and its cost).
"""

# ruff: noqa: E402 (the package's imports come after the Ctrl-C handler below)
import sys as _sys


def _quiet_ctrl_c_while_python_m_imports() -> None:
    """``python -m handgrad``: Ctrl-C while this package imports (NumPy, the estimators: ~0.3 s) is one
    line and exit 130, as with the console script (``_handgrad_entry``), not a traceback from inside an
    import. Only for that command line (Python sets ``sys.argv[0]`` to ``"-m"`` while it imports the
    package of the module to run; ``sys.orig_argv`` names the module): ``handgrad.__main__`` restores
    Python's own handler before the command line runs, which handles Ctrl-C itself."""
    argv = getattr(_sys, "orig_argv", [])
    if _sys.argv[:1] != ["-m"] or "-m" not in argv or argv[argv.index("-m") + 1 :][:1] != ["handgrad"]:
        return
    import signal

    from _handgrad_entry import _interrupted_while_starting

    signal.signal(signal.SIGINT, _interrupted_while_starting)


_quiet_ctrl_c_while_python_m_imports()

from .activations import ACTIVATIONS, Activation, get_activation
from .errors import (
    ConfigError,
    DataError,
    DivergenceError,
    HandgradError,
    ModelFileError,
    NonFiniteError,
    NonNumericError,
    NotFittedError,
    PlotDependencyError,
    ShapeError,
)
from .estimators import MLPClassifier, MLPRegressor, load
from .gradcheck import GradcheckReport, gradcheck, numeric_gradients
from .losses import LOSSES, Loss, get_loss
from .network import ForwardCache, Gradients, Network
from .teaching import derive
from .training import SGD, Adam, AdamW, History, TrainState, train

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "SGD",
    "Activation",
    "Adam",
    "AdamW",
    "ConfigError",
    "DataError",
    "DivergenceError",
    "ForwardCache",
    "GradcheckReport",
    "Gradients",
    "HandgradError",
    "History",
    "Loss",
    "MLPClassifier",
    "MLPRegressor",
    "ModelFileError",
    "Network",
    "NonFiniteError",
    "NonNumericError",
    "NotFittedError",
    "PlotDependencyError",
    "ShapeError",
    "TrainState",
    "__version__",
    "derive",
    "get_activation",
    "get_loss",
    "gradcheck",
    "load",
    "numeric_gradients",
    "train",
]
