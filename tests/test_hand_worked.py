"""Hand-worked examples: 2-2-1 networks with every intermediate worked out on paper.

The numbers below were computed by hand (shown in the comments), not by running the code.
All of the first example's numbers are dyadic fractions (k / 2^m), exact in floating point,
so the comparisons are exact equalities.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from handgrad import Network, get_loss

# ------------------------------------------------------------------------------------------------
# Example 1: the seed's setting — ReLU hidden layer, identity output, MSE — with N = 2 samples.
#
#   W1 = [[0.5, -1 ],     b1 = [0, 1]        W2 = [[1, -2]]     b2 = [0.5]
#         [2,    0.5]]
#
#   samples (rows of X):  x⁽¹⁾ = (1, 2),  x⁽²⁾ = (2, -1);   targets y = (-8, -6.25)
#
# Forward (§1.3), one column per sample:
#   z1⁽¹⁾ = W1 x⁽¹⁾ + b1 = (0.5·1 − 1·2 + 0,  2·1 + 0.5·2 + 1) = (-1.5, 4)
#   z1⁽²⁾ = W1 x⁽²⁾ + b1 = (0.5·2 − 1·(−1) + 0,  2·2 + 0.5·(−1) + 1) = (2, 4.5)
#   a1⁽¹⁾ = ReLU(z1⁽¹⁾) = (0, 4);   a1⁽²⁾ = (2, 4.5)
#   z2⁽¹⁾ = 1·0 − 2·4 + 0.5 = -7.5;   z2⁽²⁾ = 1·2 − 2·4.5 + 0.5 = -6.5;   ŷ = z2 (identity)
#
# Loss: J = 1/N Σ (ŷ − y)²
#   errors ŷ − y = (-7.5 + 8, -6.5 + 6.25) = (0.5, -0.25)
#   J = (0.25 + 0.0625) / 2 = 0.15625
#
# Backward:
#   delta2 = dJ/dŶ = 2/N (Ŷ − Y) = (2/2)·(0.5, -0.25) = (0.5, -0.25)           (1 × 2)
#   dW2 = delta2 a1ᵀ = (0.5·0 − 0.25·2,  0.5·4 − 0.25·4.5) = (-0.5, 0.875)
#   db2 = Σ delta2 = 0.5 − 0.25 = 0.25
#   W2ᵀ delta2 = [[1·0.5, 1·(−0.25)], [−2·0.5, −2·(−0.25)]] = [[0.5, -0.25], [-1, 0.5]]
#   ReLU'(z1) = [[0, 1],      (unit 1: z = −1.5 → 0, z = 2 → 1)
#                [1, 1]]      (unit 2: z = 4, 4.5 → 1)
#   delta1 = (W2ᵀ delta2) ∘ ReLU'(z1) = [[0, -0.25], [-1, 0.5]]                   (2 × 2)
#   dW1 = delta1 a0ᵀ, a0 = Xᵀ (columns = samples), so a0ᵀ = X = [[1, 2], [2, -1]]
#       row 1: (0·1 − 0.25·2,  0·2 − 0.25·(−1)) = (-0.5, 0.25)
#       row 2: (−1·1 + 0.5·2,  −1·2 + 0.5·(−1)) = (0, -2.5)
#   db1 = Σ_columns delta1 = (0 − 0.25, −1 + 0.5) = (-0.25, -0.5)
# ------------------------------------------------------------------------------------------------

W1 = np.array([[0.5, -1.0], [2.0, 0.5]])
B1 = np.array([0.0, 1.0])
W2 = np.array([[1.0, -2.0]])
B2 = np.array([0.5])
X = np.array([[1.0, 2.0], [2.0, -1.0]])
Y = np.array([-8.0, -6.25])


def relu_net():
    return Network.from_arrays([W1, W2], [B1, B2], activation="relu", output_activation="identity")


def test_forward_intermediates():
    cache = relu_net().forward_columns(X.T)
    np.testing.assert_array_equal(cache.z[0], [[-1.5, 2.0], [4.0, 4.5]])  # z1, columns = samples
    np.testing.assert_array_equal(cache.a[1], [[0.0, 2.0], [4.0, 4.5]])  # a1
    np.testing.assert_array_equal(cache.z[1], [[-7.5, -6.5]])  # z2
    np.testing.assert_array_equal(cache.output, [[-7.5, -6.5]])  # ŷ
    np.testing.assert_array_equal(relu_net().forward(X), [[-7.5], [-6.5]])


def test_loss_and_output_delta():
    net = relu_net()
    assert net.loss(X, Y, "mse") == 0.15625
    delta2 = get_loss("mse").gradient(np.array([[-7.5, -6.5]]), Y.reshape(1, -1))
    np.testing.assert_array_equal(delta2, [[0.5, -0.25]])


@pytest.mark.parametrize("method", ["backprop", "expanded"])
def test_gradients(method):
    g = relu_net().gradients(X, Y, "mse", method=method)
    assert g.loss == 0.15625
    np.testing.assert_array_equal(g["W2"], [[-0.5, 0.875]])
    np.testing.assert_array_equal(g["b2"], [0.25])
    np.testing.assert_array_equal(g["W1"], [[-0.5, 0.25], [0.0, -2.5]])
    np.testing.assert_array_equal(g["b1"], [-0.25, -0.5])
    # delta1 itself: X is invertible, so dW1 = delta1 X determines delta1 = dW1 X⁻¹.
    delta1 = np.linalg.solve(X.T, g["W1"].T).T
    np.testing.assert_allclose(delta1, [[0.0, -0.25], [-1.0, 0.5]], atol=1e-15)


# ------------------------------------------------------------------------------------------------
# Example 2: sigmoid hidden layer, binary cross-entropy on the logit, one sample. Chosen so that
# every pre-activation is 0, where σ(0) = 1/2 and σ'(0) = 1/4.
#
#   W1 = [[1, -1], [2, -2]],  b1 = (0, 0),  W2 = [[2, -2]],  b2 = (0),  x = (1, 1),  y = 1
#
#   z1 = (1 − 1, 2 − 2) = (0, 0);   a1 = σ(z1) = (0.5, 0.5)
#   z2 = 2·0.5 − 2·0.5 + 0 = 0;     p = σ(z2) = 0.5
#   J = −[y log p + (1 − y) log(1 − p)] = −log 0.5 = log 2
#   delta2 = dJ/dz2 = (p − y)/N = −0.5
#   dW2 = delta2 a1ᵀ = (−0.25, −0.25);   db2 = −0.5
#   delta1 = (W2ᵀ delta2) ∘ σ'(z1) = (2·(−0.5), −2·(−0.5)) ∘ (0.25, 0.25) = (−0.25, 0.25)
#   dW1 = delta1 xᵀ = [[−0.25, −0.25], [0.25, 0.25]];   db1 = (−0.25, 0.25)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["backprop", "expanded"])
def test_sigmoid_bce_example(method):
    net = Network.from_arrays([[[1.0, -1.0], [2.0, -2.0]], [[2.0, -2.0]]], [[0.0, 0.0], [0.0]], activation="sigmoid")
    x, y = np.array([[1.0, 1.0]]), np.array([1.0])
    cache = net.forward_columns(x.T)
    np.testing.assert_array_equal(cache.z[0], [[0.0], [0.0]])
    np.testing.assert_allclose(cache.a[1], [[0.5], [0.5]], rtol=1e-15)
    np.testing.assert_allclose(cache.z[1], [[0.0]], atol=1e-15)
    g = net.gradients(x, y, "binary_crossentropy", method=method)
    assert g.loss == pytest.approx(math.log(2), rel=1e-15)
    np.testing.assert_allclose(g["W2"], [[-0.25, -0.25]], rtol=1e-15)
    np.testing.assert_allclose(g["b2"], [-0.5], rtol=1e-15)
    np.testing.assert_allclose(g["W1"], [[-0.25, -0.25], [0.25, 0.25]], rtol=1e-15)
    np.testing.assert_allclose(g["b1"], [-0.25, 0.25], rtol=1e-15)
