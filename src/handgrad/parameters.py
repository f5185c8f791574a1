r"""The one flat parameter buffer: every ``[W_l | b_l]`` of a network in one 1-D array.

A network with layer sizes ``[n_0, ..., n_L]`` keeps all its parameters in one
array ``theta`` of ``Σ_l n_l (n_{l-1} + 1)`` numbers. Layer ``l`` occupies the
augmented matrix ``[W_l | b_l]`` of shape ``(n_l, n_{l-1} + 1)``, stored column
by column (Fortran order: the weights out of input 1, of input 2, ..., then the
biases), the layers one after another::

    W_l[i, j] = theta[off_l + j n_l + i]
    b_l[i]    = theta[off_l + n_{l-1} n_l + i]
    off_1 = 0,  off_{l+1} = off_l + n_l (n_{l-1} + 1)

NOTE: column by column because it is measurably faster with OpenBLAS's small-matrix
kernels at the seed's size (the products ``[W_l | b_l] A`` and ``W_lᵀ δ_l``: about 5 %
of an epoch of the seed's experiment against row by row, ``benchmarks/bench_epoch.py``),
and it keeps each layer's biases contiguous.

Why this layout (§1.3 written with augmented matrices): with the activations
kept as ``[a_{l-1}; 1]`` (a last row of ones),

* ``z_l = W_l a_{l-1} + b_l = [W_l | b_l] [a_{l-1}; 1]`` is one product;
* ``[dW_l | db_l] = [δ_l a_{l-1}ᵀ | δ_l 1] = δ_l [a_{l-1}; 1]ᵀ`` is one product;
* an optimizer updates every parameter with a few whole-array operations on
  ``theta`` (and its state arrays, laid out alike), however many layers there are.

``W_l`` and ``b_l`` are views of ``theta`` (``Network.weights[l-1]``,
``Network.biases[l-1]``): changing one changes the other. The gradient and each
optimizer state slot use the same layout.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .backend import namespace


class FlatLayout:
    """Where each ``[W_l | b_l]`` lives in the flat buffer of a network with ``layer_sizes``.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[n_0, n_1, ..., n_L]``.
    """

    def __init__(self, layer_sizes: Sequence[int]):
        self.layer_sizes = [int(n) for n in layer_sizes]
        #: ``shapes[l-1]`` is the shape ``(n_l, n_{l-1} + 1)`` of ``[W_l | b_l]``.
        self.shapes = [(n, m + 1) for m, n in zip(self.layer_sizes[:-1], self.layer_sizes[1:])]
        self.offsets = [0]
        for rows, cols in self.shapes:
            self.offsets.append(self.offsets[-1] + rows * cols)
        #: Number of parameters, ``Σ_l n_l (n_{l-1} + 1)``.
        self.size = self.offsets[-1]

    def __eq__(self, other) -> bool:
        return isinstance(other, FlatLayout) and other.layer_sizes == self.layer_sizes

    def __hash__(self) -> int:
        return hash(tuple(self.layer_sizes))

    @property
    def n_layers(self) -> int:
        return len(self.shapes)

    def blocks(self, flat) -> list:
        """``[W_l | b_l]`` for l = 1..L as views of ``flat`` (each F-contiguous, shape ``(n_l, n_{l-1}+1)``).

        ``flat`` may be any array API array (a torch tensor on a GPU: the engine's buffers there).
        """
        xp = namespace(flat)
        return [xp.reshape(flat[o : o + r * c], (c, r)).T for o, (r, c) in zip(self.offsets, self.shapes)]

    def views(self, flat) -> list:
        """``[W_1, b_1, W_2, b_2, ...]`` as views of ``flat`` (``W_l`` is the block without its last column)."""
        out = []
        for block in self.blocks(flat):
            out += [block[:, :-1], block[:, -1]]
        return out

    def weight_mask(self, dtype) -> np.ndarray:
        """1 where ``flat`` holds a weight, 0 where it holds a bias (weight decay spares the biases)."""
        mask = np.ones(self.size, dtype)
        for block in self.blocks(mask):
            block[:, -1] = 0  # b_l: the last n_l entries of the block
        return mask


class ParameterList(list):
    """``[W_1, b_1, ..., W_L, b_L]``: views of one flat buffer ``flat`` laid out by ``layout``.

    What :meth:`handgrad.Network.parameters` returns. An optimizer built over it
    updates ``flat`` as a whole; a :class:`~handgrad.training.optimizers.FlatGradients`
    made ``like`` it shares its layout.
    """

    flat: np.ndarray
    layout: FlatLayout

    @classmethod
    def of(cls, flat: np.ndarray, layout: FlatLayout, views: Sequence[np.ndarray] | None = None) -> ParameterList:
        """The list of ``views`` (default: new views of ``flat``), carrying ``flat`` and ``layout``."""
        out = cls(layout.views(flat) if views is None else views)
        out.flat = flat
        out.layout = layout
        return out


class BlockParameters:
    """A network's parameters as views of a flat buffer ``theta`` of any array library and device.

    What the engine reads of a :class:`handgrad.Network` (``blocks``, ``weights``, ``biases``,
    ``activations``, the shapes), for a copy of its ``theta`` somewhere else: ``train(device="cuda")``
    trains one of these, made from the network at the start and copied back at each epoch's end.

    Parameters
    ----------
    theta : array of shape (layout.size,)
        The flat buffer (e.g. a torch tensor on ``cuda``); viewed, not copied.
    layout : FlatLayout
    activations : sequence of Activation
        σ_1 .. σ_L.
    """

    def __init__(self, theta, layout: FlatLayout, activations: Sequence):
        self.theta = theta
        self.layout = layout
        self.activations = list(activations)
        #: ``blocks[l-1]`` is ``[W_l | b_l]``, shape ``(n_l, n_{l-1} + 1)``, a view of ``theta``.
        self.blocks = layout.blocks(theta)
        self.weights = [B[:, :-1] for B in self.blocks]
        self.biases = [B[:, -1] for B in self.blocks]

    @property
    def layer_sizes(self) -> list[int]:
        return list(self.layout.layer_sizes)

    @property
    def n_layers(self) -> int:
        return self.layout.n_layers

    @property
    def dtype(self):
        """The NumPy dtype of ``theta``'s numbers (float32 or float64), whatever its library."""
        return np.dtype(str(self.theta.dtype).rsplit(".", 1)[-1])
