r"""The gradient of J with respect to every W_l and b_l, two ways.

Both functions work in the engine's orientation: ``A0`` of shape ``(n_0, N)``,
``Y`` of shape ``(n_L, N)``, one column per sample, arrays of any array API library
(``net`` may be a :class:`~handgrad.parameters.BlockParameters` over a torch tensor). :meth:`Network.gradients`
is the validated public entry point taking rows.

``backprop`` — the seed's §1.3
    One forward pass caching ``z_l`` and ``a_l``; then, from the output down::

        delta_L = dJ/dŶ ∘ σ_L'(z_L)
        dW_l    = delta_l a_{l-1}ᵀ
        db_l    = Σ_i delta_l[:, i]
        delta_{l-1} = (W_lᵀ delta_l) ∘ σ_{l-1}'(z_{l-1})

    Each delta is computed once and reused by the layer below: cost ∝ L.

``expanded`` — the seed's §1.2
    Every layer's gradient is the whole chain written out for that layer,
    evaluated from the input with nothing shared between layers::

        dJ/dW_l = [(W_{l+1}ᵀ (... (W_Lᵀ (dJ/dŶ ∘ σ_L'(z_L))) ...)) ∘ σ_l'(z_l)] a_{l-1}ᵀ

    where every ``z_k`` and ``a_k`` inside is re-evaluated from ``X`` for this
    layer alone, as the seed's first MATLAB loop re-evaluates
    ``ReLU(W2 * ReLU(W1 * x + b1) + b2)`` inside each formula. Cost ∝ L².
    It exists to teach and to measure what backpropagation saves
    (``handgrad bench gradients``); it gives the same numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .backend import namespace
from .backprop import Gradients, times_sigma_prime

if TYPE_CHECKING:  # pragma: no cover - type names only (network imports this module)
    from .losses import Loss
    from .network import Network

__all__ = ["backprop", "expanded", "expanded_layer", "times_sigma_prime"]


def backprop(
    net: Network, A0: np.ndarray, Y: np.ndarray, loss: Loss, sample_weight: np.ndarray | None = None
) -> Gradients:
    """Backpropagation (§1.3): one forward pass, then the deltas reused layer by layer.

    The engine's one implementation (:mod:`handgrad.backprop`), as
    :meth:`Network.backprop_columns` runs it.

    Parameters
    ----------
    net : Network
    A0 : ndarray of shape (n_0, N)
    Y : ndarray of shape (n_L, N)
    loss : Loss
    sample_weight : ndarray of shape (N,), optional

    Returns
    -------
    Gradients, with ``loss`` set to J at the current parameters.
    """
    return net.backprop_columns(A0, Y, loss, sample_weight)


def _subexpressions(net: Network, A0: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The forward sub-expressions of the §1.2 formulas, evaluated afresh from ``A0`` (n_0, N).

    ``z_k = W_k σ_{k-1}(z_{k-1}) + b_k`` from ``a_0 = Xᵀ`` (e.g. ``W2 ReLU(W1 x + b1) + b2``);
    returns ``z`` (0-based: ``z[k-1]`` is ``z_k``) and ``a`` (``a[0]`` is the input).
    NOTE: deliberately not the engine's forward pass (:mod:`handgrad.backprop`): the expanded
    form is the second, independent method that the tests compare backpropagation with.
    """
    z, a = [], [A0]
    for W, b, act in zip(net.weights, net.biases, net.activations):
        z.append(W @ a[-1] + b[:, None])  # b_l as a column, broadcast over the batch
        a.append(act.function(z[-1]))
    return z, a


def expanded_layer(
    net: Network,
    l: int,
    A0: np.ndarray,
    Y: np.ndarray,
    loss: Loss,
    sample_weight: np.ndarray | None = None,
    denominator: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """§1.2 for one layer: ``(dJ/dW_l, dJ/db_l)`` computed from scratch.

    Nothing is taken from any other layer's gradient: the forward
    sub-expressions ``z_1 ... z_L`` are evaluated afresh from ``A0``, and the chain
    from the output down to layer ``l`` is multiplied out for this layer alone.

    Parameters
    ----------
    l : int
        The layer, 1-based (1 ≤ l ≤ L), as in the seed's ``W1``.
    A0 : ndarray of shape (n_0, N); Y : ndarray of shape (n_L, N)
    denominator : int, optional
        The seed's fixed ``1/batch_size`` in ``dJ/dŶ`` (see :meth:`handgrad.losses.Loss.gradient`).
    """
    L = net.n_layers
    Ws, acts = net.weights, net.activations
    # The forward sub-expressions of the formula, evaluated for this layer.
    z, a = _subexpressions(net, A0)
    Yhat = a[L]
    # The outermost factor: dJ/dŶ ∘ σ_L'(z_L)  (for the seed: 2/N (Ŷ − Y)).
    chain = loss.gradient(Yhat, Y, sample_weight, denominator) * acts[L - 1].derivative(z[L - 1])
    # Multiply the chain out from the output down to layer l:
    # (W_{k+1}ᵀ (...)) ∘ σ_k'(z_k) for k = L-1, ..., l.
    for k in range(L - 1, l - 1, -1):
        chain = (Ws[k].T @ chain) * acts[k - 1].derivative(z[k - 1])
    return chain @ a[l - 1].T, namespace(chain).sum(chain, axis=1)


def expanded(
    net: Network,
    A0: np.ndarray,
    Y: np.ndarray,
    loss: Loss,
    sample_weight: np.ndarray | None = None,
    denominator: int | None = None,
) -> Gradients:
    """The expanded form (§1.2): each layer's gradient by :func:`expanded_layer`.

    Same arguments and result as :func:`backprop`.
    """
    dW, db = [], []
    for l in range(1, net.n_layers + 1):
        dW_l, db_l = expanded_layer(net, l, A0, Y, loss, sample_weight, denominator)
        dW.append(dW_l)
        db.append(db_l)
    grads = Gradients(dW, db)
    grads.loss = loss.value(_subexpressions(net, A0)[1][-1], Y, sample_weight)
    return grads
