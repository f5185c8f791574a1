"""handgrad: neural networks trained with gradients derived by hand.

The mathematics of the seed document (a fully connected network, its loss, the
gradient of every weight written out whole, and backpropagation) as a small,
fast, verified NumPy library. See ``docs/derivation.md``.
"""

from .activations import ACTIVATIONS, Activation, get_activation
from .errors import (
    ConfigError,
    DataError,
    DivergenceError,
    HandgradError,
    ModelFileError,
    NonFiniteError,
    ShapeError,
)
from .gradcheck import GradcheckReport, gradcheck, numeric_gradients
from .losses import LOSSES, Loss, get_loss
from .network import ForwardCache, Gradients, Network

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "Activation",
    "ConfigError",
    "DataError",
    "DivergenceError",
    "ForwardCache",
    "GradcheckReport",
    "Gradients",
    "HandgradError",
    "Loss",
    "ModelFileError",
    "Network",
    "NonFiniteError",
    "ShapeError",
    "__version__",
    "get_activation",
    "get_loss",
    "gradcheck",
    "numeric_gradients",
]
