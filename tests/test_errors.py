"""Bad arguments raise HandgradError (a ValueError) subclasses whose messages name what was expected and got."""

from __future__ import annotations

import re

import numpy as np
import pytest

from handgrad import ConfigError, HandgradError, Network, NonFiniteError, ShapeError, get_activation, get_loss
from handgrad import errors as errors_module
from handgrad.losses import Huber


@pytest.fixture
def net():
    return Network([3, 4, 2], random_state=0)


X_OK = np.ones((5, 3))
Y_OK = np.ones((5, 2))


def raises(cls, *fragments):
    """pytest.raises(cls) whose message must contain every fragment (literally)."""
    return pytest.raises(cls, match="(?s)" + ".*".join(re.escape(f) for f in fragments))


def test_every_error_is_a_value_error():
    for name in ["ShapeError", "NonFiniteError", "ConfigError", "DataError", "ModelFileError", "DivergenceError"]:
        cls = getattr(errors_module, name)
        assert issubclass(cls, HandgradError) and issubclass(cls, ValueError), name


# --- X --------------------------------------------------------------------------------------------


def test_wrong_number_of_features(net):
    with raises(ShapeError, "X has 4 features", "(5, 4)", "expects 3", "(n_samples, 3)"):
        net.forward(np.ones((5, 4)))
    with raises(ShapeError, "X has 2 features", "expects 3"):
        net.gradients(np.ones((5, 2)), Y_OK)
    with raises(ShapeError, "X has 4 features"):
        net.loss(np.ones((5, 4)), Y_OK)


def test_one_dimensional_X(net):
    with raises(ShapeError, "X must be 2-D", "(n_samples, n_features)", "shape (3,)", "reshape(-1, 1)"):
        net.forward(np.ones(3))


def test_three_dimensional_and_empty_X(net):
    with raises(ShapeError, "X must be 2-D", "(2, 3, 1)"):
        net.forward(np.ones((2, 3, 1)))
    with raises(ShapeError, "X has no samples", "(0, 3)"):
        net.forward(np.ones((0, 3)))


# --- Y --------------------------------------------------------------------------------------------


def test_wrong_number_of_target_rows(net):
    with raises(ShapeError, "Y has 4 rows", "X has 5 samples"):
        net.gradients(X_OK, np.ones((4, 2)))


def test_wrong_number_of_outputs(net):
    with raises(ShapeError, "Y has 3 outputs", "(5, 3)", "network has 2", "expected shape (5, 2)"):
        net.gradients(X_OK, np.ones((5, 3)))
    # a 1-D Y means one output: named with the shape the caller gave
    with raises(ShapeError, "Y has 1 outputs", "(5,)", "network has 2", "expected shape (5, 2)"):
        net.gradients(X_OK, np.ones(5), method="expanded")
    with raises(ShapeError, "Y must be 1-D or 2-D", "(5, 2, 1)"):
        net.loss(X_OK, np.ones((5, 2, 1)))


# --- from_arrays ------------------------------------------------------------------------------------


def test_mismatched_layer_sizes_in_from_arrays():
    with raises(ShapeError, "W2 has shape (2, 5)", "W1 has 4 rows", "W2 must have shape (n_2, 4)"):
        Network.from_arrays([np.ones((4, 3)), np.ones((2, 5))], [np.zeros(4), np.zeros(2)])


def test_bias_shape_in_from_arrays():
    with raises(ShapeError, "b1 must have shape (4,)", "W1 of shape (4, 3)", "got (3,)"):
        Network.from_arrays([np.ones((4, 3))], [np.zeros(3)])
    with raises(ShapeError, "b1 must have shape (4,)", "got (1, 4)"):  # a row, not MATLAB's column
        Network.from_arrays([np.ones((4, 3))], [np.zeros((1, 4))])
    with raises(ShapeError, "b2 must have shape (1,)", "got (2, 1)"):
        Network.from_arrays([np.ones((4, 3)), np.ones((1, 4))], [np.zeros(4), np.zeros((2, 1))])


def test_weights_not_matrices_or_counts_differ():
    with raises(ShapeError, "W1 must be 2-D", "(n_1, n_0)", "got shape (3,)"):
        Network.from_arrays([np.ones(3)], [np.zeros(1)])
    with raises(ShapeError, "got 1 weight matrices and 0 bias vectors"):
        Network.from_arrays([np.ones((4, 3))], [])
    with raises(ShapeError, "got 0 weight matrices and 0 bias vectors"):
        Network.from_arrays([], [])


# --- names ------------------------------------------------------------------------------------------


def test_unknown_activation():
    with raises(ConfigError, "unknown activation 'swish'", "'relu'", "(function, derivative) pair"):
        Network([3, 4, 2], activation="swish")
    with raises(ConfigError, "unknown activation 'softmax'"):
        Network([3, 2], output_activation="softmax")
    with raises(ConfigError, "unknown activation (1, 2)"):
        get_activation((1, 2))
    with raises(ConfigError, "got 2 hidden activations", "for 1 hidden layers"):
        Network([3, 4, 2], activation=["relu", "tanh"])


def test_unknown_loss(net):
    with raises(ConfigError, "unknown loss 'hinge'", "'mse'", "'softmax_crossentropy'"):
        net.gradients(X_OK, Y_OK, loss="hinge")
    with raises(ConfigError, "unknown loss None"):
        get_loss(None)
    with raises(ConfigError, "Huber delta must be > 0, got -1"):
        Huber(delta=-1)


def test_unknown_init():
    with raises(ConfigError, "unknown init 'kaiming'", "'he'", "'randn'"):
        Network([3, 2], init="kaiming")
    with raises(ConfigError, "random_state must be an int, a numpy Generator or None, got 'seed'"):
        Network([3, 2], random_state="seed")


def test_unknown_method(net):
    with raises(ConfigError, "unknown gradient method 'autodiff'", "'backprop'", "'expanded'"):
        net.gradients(X_OK, Y_OK, method="autodiff")


@pytest.mark.parametrize("sizes", [[3], [3, 0, 1], [3, -2], [3, 2.5, 1], ["a", 2], [3, None], 5])
def test_bad_layer_sizes(sizes):
    with raises(ConfigError, "layer_sizes must be at least two positive integers", f"got {sizes!r}"):
        Network(sizes)


def test_bad_dtype():
    with raises(ConfigError, "dtype must be float32 or float64, got int32"):
        Network([3, 2], dtype="int32")


# --- non-finite and non-numeric ----------------------------------------------------------------------


def test_nan_and_inf_in_X_and_Y(net):
    X = X_OK.copy()
    X[2, 1] = np.nan
    with raises(NonFiniteError, "X contains nan at index (2, 1)", "must be finite"):
        net.forward(X)
    with raises(NonFiniteError, "X contains nan at index (2, 1)"):
        net.gradients(X, Y_OK)
    Y = Y_OK.copy()
    Y[4, 0] = -np.inf
    with raises(NonFiniteError, "Y contains -inf at index (4, 0)"):
        net.gradients(X_OK, Y)


def test_nan_and_inf_in_weights(net):
    with raises(NonFiniteError, "W1 contains nan at index (0, 1)"):
        Network.from_arrays([np.array([[1.0, np.nan]])], [np.zeros(1)])
    with raises(NonFiniteError, "b1 contains inf at index (0,)"):
        Network.from_arrays([np.array([[1.0, 2.0]])], [np.array([np.inf])])
    state = net.state_dict()
    state["W2"] = np.full((2, 4), np.nan)
    before = net.state_dict()
    with raises(NonFiniteError, "W2 contains nan at index (0, 0)"):
        net.load_state_dict(state)
    for name, p in net.state_dict().items():  # nothing was half-loaded
        np.testing.assert_array_equal(p, before[name])


def test_load_state_dict_is_all_or_nothing(net):
    state = {name: p + 1.0 for name, p in net.state_dict().items()}
    del state["b2"]
    before = net.state_dict()
    with raises(ShapeError, "missing parameter 'b2'", "['W1', 'b1', 'W2', 'b2']"):
        net.load_state_dict(state)
    np.testing.assert_array_equal(net.weights[0], before["W1"])  # W1 came first and was not loaded
    state = net.state_dict()
    state["W3"] = np.zeros((1, 2))
    with raises(ShapeError, "unexpected parameters ['W3']", "this network has ['W1', 'b1', 'W2', 'b2']"):
        net.load_state_dict(state)


def test_non_numeric_input(net):
    with raises(ShapeError, "X could not be read as a numeric array", "'a'"):
        net.forward([["a", "b", "c"]])
    with raises(ShapeError, "Y could not be read as a numeric array"):
        net.gradients(X_OK, [["a", "b"]] * 5)
    with raises(ShapeError, "X could not be read as a numeric array", "inhomogeneous"):
        net.forward([[1.0, 2.0, 3.0], [1.0, 2.0]])
    with raises(ShapeError, "X has complex dtype complex128", "expected real numbers"):
        net.forward(np.ones((2, 3)) * 1j)
    with raises(ShapeError, "X could not be read as a numeric array"):
        net.forward([[1j, 0.0, 1.0]])
    with raises(ShapeError, "X must be 2-D", "shape ()"):
        net.forward(None)


# --- sample weights ----------------------------------------------------------------------------------


def test_negative_sample_weight(net):
    with raises(HandgradError, "sample_weight must be >= 0", "got -1.5 at index 2"):
        net.gradients(X_OK, Y_OK, sample_weight=[1, 1, -1.5, 1, 1])


def test_bad_sample_weight(net):
    with raises(ShapeError, "sample_weight must have shape (5,)", "got (4,)"):
        net.gradients(X_OK, Y_OK, sample_weight=np.ones(4))
    with raises(HandgradError, "sample_weight sums to zero"):
        net.gradients(X_OK, Y_OK, sample_weight=np.zeros(5))
    with raises(NonFiniteError, "sample_weight contains nan at index (2,)"):
        net.loss(X_OK, Y_OK, sample_weight=[1, 1, np.nan, 1, 1])


def test_errors_are_catchable_as_value_error(net):
    with pytest.raises(ValueError):
        net.forward(np.ones(3))
    with pytest.raises(ValueError):
        Network([3, 2], activation="nope")
