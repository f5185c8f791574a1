"""Central differences for the tests, written here independently of ``handgrad.gradcheck``."""

from __future__ import annotations

import numpy as np


def finite_differences(net, X, Y, loss="mse", eps=1e-6, sample_weight=None):
    """(J(θ+ε) − J(θ−ε)) / 2ε for every entry of every parameter, in the order of ``net.parameters()``.

    ``X`` (n_samples, n_features), ``Y`` (n_samples, n_outputs) or (n_samples,); ``net`` is
    perturbed in place and restored exactly.
    """
    out = []
    for p in net.parameters():  # live arrays: perturb in place, restore after
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            J_plus = net.loss(X, Y, loss, sample_weight)
            p[idx] = old - eps
            J_minus = net.loss(X, Y, loss, sample_weight)
            p[idx] = old
            g[idx] = (J_plus - J_minus) / (2 * eps)
        out.append(g)
    return out
