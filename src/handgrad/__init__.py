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
