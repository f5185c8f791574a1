r"""The gradient of J with respect to every W_l and b_l, two ways.

Both functions work in the engine's orientation: ``A0`` of shape ``(n_0, N)``,
``Y`` of shape ``(n_L, N)``, one column per sample. :meth:`Network.gradients`
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

from .activations import IDENTITY

if TYPE_CHECKING:  # pragma: no cover
    from .losses import Loss
    from .network import ForwardCache, Gradients, Network


def times_sigma_prime(delta: np.ndarray, act, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``delta ∘ σ'(z)`` in place (``a = σ(z)`` lets sigmoid/tanh/ReLU skip recomputing σ)."""
    if act is not IDENTITY:  # σ' = 1: skip the multiplication
        delta *= act.grad(z, a)
    return delta


def backprop_from_cache(net: Network, cache: ForwardCache, dJ_dYhat: np.ndarray) -> Gradients:
    """§1.3 given the forward cache and ``dJ/dŶ`` of shape (n_L, N).

    NOTE: ``dJ_dYhat`` is consumed (scaled in place into ``delta_L``).
    """
    from .network import Gradients

    L = net.n_layers
    dW: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    db: list[np.ndarray] = [None] * L  # type: ignore[list-item]
    # delta_L = dJ/dz_L = dJ/dŶ ∘ σ_L'(z_L)
    delta = times_sigma_prime(dJ_dYhat, net.activations[-1], cache.z[-1], cache.a[-1])
    for l in range(L, 0, -1):  # l = L, ..., 1 (1-based, as in the seed)
        a_prev = cache.a[l - 1]  # a_{l-1}, (n_{l-1}, N)
        dW[l - 1] = delta @ a_prev.T  # dW_l = delta_l a_{l-1}ᵀ      (n_l, n_{l-1})
        db[l - 1] = delta.sum(axis=1)  # db_l = Σ_i delta_l          (n_l,)
        if l > 1:
            # §1.3: delta_{l-1} = (W_lᵀ delta_l) ∘ σ_{l-1}'(z_{l-1})   (n_{l-1}, N)
            delta = net.weights[l - 1].T @ delta
            delta = times_sigma_prime(delta, net.activations[l - 2], cache.z[l - 2], a_prev)
    return Gradients(dW, db)


def backprop(
    net: Network, A0: np.ndarray, Y: np.ndarray, loss: Loss, sample_weight: np.ndarray | None = None
) -> Gradients:
    """Backpropagation (§1.3): one forward pass, then the deltas reused layer by layer.

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
    cache = net.forward_columns(A0)
    J = loss.value(cache.output, Y, sample_weight)
    grads = backprop_from_cache(net, cache, loss.gradient(cache.output, Y, sample_weight))
    grads.loss = J
    return grads


def expanded_layer(
    net: Network, l: int, A0: np.ndarray, Y: np.ndarray, loss: Loss, sample_weight: np.ndarray | None = None
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
    """
    L = net.n_layers
    Ws, bs, acts = net.weights, net.biases, net.activations
    # The forward sub-expressions of the formula, evaluated for this layer:
    # z_k = W_k σ_{k-1}(z_{k-1}) + b_k, from a_0 = Xᵀ (e.g. W2 ReLU(W1 x + b1) + b2).
    z, a = [], [A0]
    for k in range(L):
        z.append(Ws[k] @ a[k] + bs[k][:, None])
        a.append(acts[k].function(z[k]))
    Yhat = a[L]
    # The outermost factor: dJ/dŶ ∘ σ_L'(z_L)  (for the seed: 2/N (Ŷ − Y)).
    chain = loss.gradient(Yhat, Y, sample_weight) * acts[L - 1].derivative(z[L - 1])
    # Multiply the chain out from the output down to layer l:
    # (W_{k+1}ᵀ (...)) ∘ σ_k'(z_k) for k = L-1, ..., l.
    for k in range(L - 1, l - 1, -1):
        chain = (Ws[k].T @ chain) * acts[k - 1].derivative(z[k - 1])
    return chain @ a[l - 1].T, chain.sum(axis=1)


def expanded(
    net: Network, A0: np.ndarray, Y: np.ndarray, loss: Loss, sample_weight: np.ndarray | None = None
) -> Gradients:
    """The expanded form (§1.2): each layer's gradient by :func:`expanded_layer`.

    Same arguments and result as :func:`backprop`.
    """
    from .network import Gradients

    dW, db = [], []
    for l in range(1, net.n_layers + 1):
        dW_l, db_l = expanded_layer(net, l, A0, Y, loss, sample_weight)
        dW.append(dW_l)
        db.append(db_l)
    grads = Gradients(dW, db)
    grads.loss = loss.value(net.predict_columns(A0), Y, sample_weight)
    return grads
