"""Weight initialisation schemes.

Every scheme returns ``W_l`` of shape ``(n_l, n_{l-1})`` (``fan_out, fan_in``) and
``b_l`` of shape ``(n_l,)``, drawn from an explicit ``numpy.random.Generator``
so that a run is reproducible from its ``random_state``.

============== ======================================= =====================
name           W_l entries                             note
============== ======================================= =====================
randn          N(0, 1)                                 the seed's ``randn``
he / he_normal N(0, 2 / n_{l-1})                       for ReLU-like σ
he_uniform     U(±√(6 / n_{l-1}))
glorot_normal  N(0, 2 / (n_{l-1} + n_l))               a.k.a. Xavier
glorot_uniform U(±√(6 / (n_{l-1} + n_l)))              a.k.a. Xavier
============== ======================================= =====================

Biases start at zero for every scheme (as in the seed). :func:`default_init`
picks He or Glorot from the hidden activation: each
:class:`~handgrad.activations.Activation` declares its own ``init`` (the
estimators' ``init="auto"`` and the command line's default), so a new
activation touches ``activations.py`` only.
"""

from __future__ import annotations

import itertools

import numpy as np

from .activations import get_activation
from .errors import ConfigError
from .params import check


def _randn(rng, fan_out, fan_in):
    return rng.standard_normal((fan_out, fan_in))


def _he_normal(rng, fan_out, fan_in):
    return rng.standard_normal((fan_out, fan_in)) * np.sqrt(2.0 / fan_in)


def _he_uniform(rng, fan_out, fan_in):
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, (fan_out, fan_in))


def _glorot_normal(rng, fan_out, fan_in):
    return rng.standard_normal((fan_out, fan_in)) * np.sqrt(2.0 / (fan_in + fan_out))


def _glorot_uniform(rng, fan_out, fan_in):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_out, fan_in))


INITS = {
    "randn": _randn,
    "he": _he_normal,
    "he_normal": _he_normal,
    "he_uniform": _he_uniform,
    "glorot": _glorot_uniform,
    "glorot_normal": _glorot_normal,
    "glorot_uniform": _glorot_uniform,
    "xavier": _glorot_uniform,
    "xavier_normal": _glorot_normal,
    "xavier_uniform": _glorot_uniform,
}


def default_init(activation) -> str:
    """The initialisation that suits a hidden activation: its :attr:`Activation.init <handgrad.activations.Activation>`.

    ``"he"`` for the ReLU-like ones, ``"glorot_uniform"`` for the others. He
    keeps the variance of ReLU-like layers (half the units are off); Glorot that
    of symmetric saturating ones (sigmoid, tanh) near 0.

    Parameters
    ----------
    activation : str, Activation or (function, derivative) pair
        A name the library does not know (or ``""``, for an activation given
        as a pair of functions) gets ``"glorot_uniform"``; it is reported where
        the network is built.

    >>> default_init("relu"), default_init("tanh")
    ('he', 'glorot_uniform')
    """
    try:
        return get_activation(activation).init
    except ConfigError:
        return "glorot_uniform"


def as_generator(random_state: int | np.random.Generator | None) -> np.random.Generator:
    """``numpy.random.Generator`` from a seed, a Generator (used as is) or None (fresh entropy)."""
    random_state = check("random_state", random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


def initialise(
    layer_sizes: list[int],
    scheme: str = "he",
    random_state: int | np.random.Generator | None = None,
    dtype=np.float64,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Draw weights and zero biases for ``layer_sizes = [n_0, n_1, ..., n_L]``.

    Returns
    -------
    weights : list of ndarray, ``weights[l-1]`` of shape (n_l, n_{l-1})
    biases : list of ndarray, ``biases[l-1]`` of shape (n_l,)
    """
    key = scheme.strip().lower().replace("-", "_") if isinstance(scheme, str) else scheme
    if key not in INITS:
        raise ConfigError(f"unknown init {scheme!r}; expected one of {sorted(INITS)}")
    rng = as_generator(random_state)
    draw = INITS[key]
    weights = [
        draw(rng, fan_out, fan_in).astype(dtype, copy=False) for fan_in, fan_out in itertools.pairwise(layer_sizes)
    ]
    biases = [np.zeros(n, dtype=dtype) for n in layer_sizes[1:]]
    return weights, biases
