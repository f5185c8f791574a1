r"""The fully connected network of the seed, for any depth.

Notation and orientation (as in the seed, §1.1 and §1.3)
--------------------------------------------------------
A network with layer sizes ``[n_0, n_1, ..., n_L]`` has, for ``l = 1..L``:

* ``W_l`` of shape ``(n_l, n_{l-1})`` and ``b_l`` of shape ``(n_l,)``
  (the seed's ``W1`` is 128×37; PyTorch's ``Linear.weight`` has the same layout);
* the forward recurrence, one **column per sample** inside the engine::

      a_0 = Xᵀ                         (n_0, N)
      z_l = W_l a_{l-1} + b_l          (n_l, N)
      a_l = σ_l(z_l)                   (n_l, N)
      Ŷ   = a_L                        (n_L, N)

  so that with ReLU hidden layers and an identity output this is the seed's
  ``Ŷ = W3 σ(W2 σ(W1 Xᵀ + b1) + b2) + b3``.

The public methods take ``X`` of shape ``(n_samples, n_features)`` as every
Python library does, transpose it once at the boundary (a view, no copy), and
return ``(n_samples, n_outputs)``. The methods whose names end in ``_columns``
work in the engine's orientation and skip validation (for the training loop).

Example: the seed's network, stepped through by hand::

    >>> import numpy as np
    >>> from handgrad import Network
    >>> net = Network([37, 128, 64, 1], activation="relu", init="randn", random_state=0)
    >>> [W.shape for W in net.weights]
    [(128, 37), (64, 128), (1, 64)]
    >>> X = np.random.default_rng(1).random((32, 37)); y = np.ones(32)
    >>> g_bp = net.gradients(X, y, loss="mse", method="backprop")
    >>> g_ex = net.gradients(X, y, loss="mse", method="expanded")
    >>> bool(np.allclose(g_bp["W1"], g_ex["W1"]))
    True
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence

import numpy as np

from . import backprop as _bp
from ._validation import as_float_array, check_finite, check_sample_weight, check_X, check_Y
from .activations import Activation, get_activation
from .backprop import ForwardCache, Gradients, Workspace, parameter_names
from .errors import ConfigError, ShapeError
from .gradients import expanded as _expanded
from .init import initialise
from .losses import Loss, get_loss
from .parameters import FlatLayout, ParameterList

GRADIENT_METHODS = ("backprop", "expanded")
#: Columns per forward pass in :meth:`Network.predict_columns` (bounds its memory, whatever N is;
#: 2048 measured as fast as 4096 and more on the seed's network, with half the fresh memory).
PREDICT_CHUNK = 2048


class _PredictBuffers:
    """The forward-only workspaces of the network that predicted last, kept for its next call.

    NOTE: a training run evaluates the same network on the same rows every epoch, and fresh
    buffers of a few MB cost more in page faults than the forward pass itself (a 5,597-row
    validation pass of the seed's network: 5.2 ms with fresh buffers, 2.5 ms reused). One slot
    for the whole process (the last network, by weak reference; at most two widths: the chunk
    and the rest), so that memory held does not grow with the number of networks, and none
    above :attr:`KEEP_BYTES` (a wide network's buffers: there the pass itself outweighs its
    page faults). A caller *takes* the buffers and gives them back, under a lock: two threads
    predicting at once never share them (the second makes its own).
    """

    #: Largest workspace kept between calls (bytes).
    KEEP_BYTES = 32 * 2**20

    def __init__(self):
        self._lock = threading.Lock()
        self._owner = None  # weakref to the network
        self._by_width: dict[int, Workspace] = {}

    def take(self, network, N: int) -> Workspace:
        with self._lock:
            if self._owner is not None and self._owner() is network:
                ws = self._by_width.pop(N, None)
                if ws is not None and ws.a[-1].dtype == network.dtype:
                    return ws
        return _bp.Workspace(network.layer_sizes, network.activations, N, network.dtype, forward_only=True)

    def give_back(self, network, ws: Workspace) -> None:
        held = sum(A.nbytes for A in ws.A[1:] if A is not None) + ws.a[-1].nbytes
        if ws.A[0] is not None:
            held += ws.A[0].nbytes
        if held > self.KEEP_BYTES:
            return
        with self._lock:
            if self._owner is None or self._owner() is not network:
                self._owner, self._by_width = weakref.ref(network), {}
            if ws.N in self._by_width or len(self._by_width) < 2:
                self._by_width[ws.N] = ws


_PREDICT_BUFFERS = _PredictBuffers()

__all__ = ["GRADIENT_METHODS", "ForwardCache", "Gradients", "Network", "parameter_names"]


def _resolve_activations(activation, output_activation, n_layers: int) -> list[Activation]:
    """One Activation per layer: ``activation`` for the hidden layers, then the output's."""
    n_hidden = n_layers - 1
    if isinstance(activation, (list, tuple)) and not (
        isinstance(activation, tuple) and len(activation) == 2 and all(callable(f) for f in activation)
    ):
        if len(activation) != n_hidden:
            raise ConfigError(
                f"got {len(activation)} hidden activations {list(activation)!r} for {n_hidden} "
                "hidden layers; give one name, or one per hidden layer"
            )
        hidden = [get_activation(a) for a in activation]
    else:
        hidden = [get_activation(activation)] * n_hidden
    return [*hidden, get_activation(output_activation)]


class Network:
    """A fully connected network ``Ŷ = σ_L(W_L ... σ_1(W_1 Xᵀ + b_1) ... + b_L)``.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[n_0, n_1, ..., n_L]``: inputs, hidden widths, outputs (the seed's is
        ``[37, 128, 64, 1]``). At least one layer (``L >= 1``).
    activation : str, Activation, (function, derivative) or a list of those
        σ of the hidden layers: one for all, or one per hidden layer. Default
        ``"relu"`` (the seed's).
    output_activation : str, Activation or (function, derivative)
        σ_L of the output layer. Default ``"identity"``: the seed's
        ``Ŷ = W3 a2 + b3``; also what the on-logits cross-entropies expect.
    init : str
        ``"randn"`` (the seed's standard normal), ``"he"`` (default),
        ``"he_uniform"``, ``"glorot_normal"``, ``"glorot_uniform"``. See :mod:`handgrad.init`.
    random_state : int, numpy.random.Generator or None
        Seed of the initialisation.
    dtype : numpy dtype
        ``np.float64`` (default) or ``np.float32``.

    Attributes
    ----------
    weights : list of ndarray
        ``weights[l-1]`` is ``W_l``, shape ``(n_l, n_{l-1})``.
    biases : list of ndarray
        ``biases[l-1]`` is ``b_l``, shape ``(n_l,)``.
    activations : list of Activation
        ``activations[l-1]`` is σ_l.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation="relu",
        output_activation="identity",
        init: str = "he",
        random_state: int | np.random.Generator | None = None,
        dtype=np.float64,
    ):
        try:
            sizes = [int(n) for n in layer_sizes]
        except (TypeError, ValueError):
            sizes = []  # not a sequence of integers: reported below
        if len(sizes) < 2 or any(n < 1 for n in sizes) or any(s != n for s, n in zip(sizes, layer_sizes)):
            raise ConfigError(
                f"layer_sizes must be at least two positive integers [n_inputs, ..., n_outputs], got {layer_sizes!r}"
            )
        dtype = _check_dtype(dtype)
        weights, biases = initialise(sizes, init, random_state, dtype)
        self._set(weights, biases, _resolve_activations(activation, output_activation, len(sizes) - 1))

    @classmethod
    def from_arrays(
        cls,
        weights: Sequence[np.ndarray],
        biases: Sequence[np.ndarray],
        activation="relu",
        output_activation="identity",
        dtype=None,
    ) -> Network:
        """A network with given parameters (e.g. the seed's initial weights).

        Parameters
        ----------
        weights : sequence of array-like
            ``W_1 ... W_L``, ``W_l`` of shape ``(n_l, n_{l-1})``.
        biases : sequence of array-like
            ``b_1 ... b_L``, ``b_l`` of shape ``(n_l,)`` (a column ``(n_l, 1)``, as
            MATLAB stores it, is accepted too).
        activation, output_activation
            As in :class:`Network`.
        dtype : numpy dtype, optional
            Default: float64, or float32 if every array given is float32.

        The arrays are copied: the network never aliases the caller's data.
        """
        if len(weights) != len(biases) or len(weights) == 0:
            raise ShapeError(f"got {len(weights)} weight matrices and {len(biases)} bias vectors; need L >= 1 of each")
        if dtype is None:
            all32 = all(np.asarray(p).dtype == np.float32 for p in [*weights, *biases])
            dtype = np.float32 if all32 else np.float64
        dtype = _check_dtype(dtype)
        Ws, bs = [], []
        for l, (W, b) in enumerate(zip(weights, biases), start=1):
            W = np.array(W, dtype=dtype)  # copy
            b = np.array(b, dtype=dtype)
            if W.ndim != 2:
                raise ShapeError(f"W{l} must be 2-D of shape (n_{l}, n_{l - 1}), got shape {W.shape}")
            given = b.shape
            if b.ndim == 2 and b.shape[1] == 1:
                b = b[:, 0].copy()  # MATLAB's column vector (n_l, 1)
            if b.shape != (W.shape[0],):
                raise ShapeError(
                    f"b{l} must have shape ({W.shape[0]},) (or ({W.shape[0]}, 1)) to match W{l} of shape {W.shape}, got {given}"
                )
            if Ws and W.shape[1] != Ws[-1].shape[0]:
                raise ShapeError(
                    f"W{l} has shape {W.shape} but W{l - 1} has {Ws[-1].shape[0]} rows: "
                    f"W{l} must have shape (n_{l}, {Ws[-1].shape[0]})"
                )
            check_finite(W, f"W{l}")
            check_finite(b, f"b{l}")
            Ws.append(W)
            bs.append(b)
        net = cls.__new__(cls)
        net._set(Ws, bs, _resolve_activations(activation, output_activation, len(Ws)))
        return net

    def _set(self, weights, biases, activations) -> None:
        """Lay ``W_l``, ``b_l`` out in one flat buffer (:mod:`handgrad.parameters`) and keep views of it."""
        sizes = [weights[0].shape[1]] + [W.shape[0] for W in weights]
        self._layout = FlatLayout(sizes)
        #: Every parameter in one 1-D array: the blocks ``[W_l | b_l]``, row-major, one after another.
        self.theta: np.ndarray = np.empty(self._layout.size, weights[0].dtype)
        #: ``blocks[l-1]`` is ``[W_l | b_l]``, shape ``(n_l, n_{l-1} + 1)``, a view of ``theta``.
        self.blocks: list[np.ndarray] = self._layout.blocks(self.theta)
        for block, W, b in zip(self.blocks, weights, biases):
            block[:, :-1] = W
            block[:, -1] = b
        self.weights: list[np.ndarray] = [block[:, :-1] for block in self.blocks]
        self.biases: list[np.ndarray] = [block[:, -1] for block in self.blocks]
        self.activations: list[Activation] = list(activations)

    # ------------------------------------------------------------------ shape
    @property
    def layer_sizes(self) -> list[int]:
        """``[n_0, n_1, ..., n_L]``."""
        return [self.weights[0].shape[1]] + [W.shape[0] for W in self.weights]

    @property
    def n_layers(self) -> int:
        """L, the number of weight layers (the seed's network has L = 3)."""
        return len(self.weights)

    @property
    def n_inputs(self) -> int:
        return self.weights[0].shape[1]

    @property
    def n_outputs(self) -> int:
        return self.weights[-1].shape[0]

    @property
    def dtype(self) -> np.dtype:
        return self.weights[0].dtype

    def parameters(self) -> ParameterList:
        """The live parameter arrays ``[W1, b1, W2, b2, ..., WL, bL]``.

        An optimizer updates these in place; the order matches
        :class:`Gradients` iteration and :func:`parameter_names`. They are views of
        one flat buffer (``.flat`` is :attr:`theta`), which an optimizer updates whole.
        """
        views = [p for W, b in zip(self.weights, self.biases) for p in (W, b)]
        return ParameterList.of(self.theta, self._layout, views)

    @property
    def layout(self) -> FlatLayout:
        """Where each ``[W_l | b_l]`` sits in :attr:`theta`."""
        return self._layout

    def parameter_names(self) -> list[str]:
        return parameter_names(self.n_layers)

    def state_dict(self) -> dict[str, np.ndarray]:
        """``{"W1": W_1, "b1": b_1, ...}``, copies, in the seed's orientation."""
        return {name: p.copy() for name, p in zip(self.parameter_names(), self.parameters())}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy parameters from ``{"W1": ..., "b1": ...}`` into this network (shapes must match).

        Every entry is checked before any is copied: on error the network is unchanged.
        """
        names = self.parameter_names()
        extra = sorted(set(state) - set(names))
        if extra:
            raise ShapeError(f"unexpected parameters {extra}; this network has {names}")
        checked = []
        for name, p in zip(names, self.parameters()):
            if name not in state:
                raise ShapeError(f"missing parameter {name!r}; expected {names}")
            new = as_float_array(state[name], name, p.dtype)
            if new.shape != p.shape:
                raise ShapeError(f"{name} has shape {new.shape}, expected {p.shape}")
            check_finite(new, name)
            checked.append((p, new))
        for p, new in checked:
            p[...] = new

    def copy(self) -> Network:
        """A deep copy (parameters copied, activations shared)."""
        net = Network.__new__(Network)
        net._set([W.copy() for W in self.weights], [b.copy() for b in self.biases], self.activations)
        return net

    def astype(self, dtype) -> Network:
        """A copy with parameters in ``dtype``."""
        dtype = _check_dtype(dtype)
        net = Network.__new__(Network)
        net._set([W.astype(dtype) for W in self.weights], [b.astype(dtype) for b in self.biases], self.activations)
        return net

    def __repr__(self) -> str:
        acts = ", ".join(a.name for a in self.activations)
        return f"Network(layer_sizes={self.layer_sizes}, activations=[{acts}], dtype={self.dtype})"

    # ---------------------------------------------------------------- forward
    def workspace(self, N: int) -> Workspace:
        """Buffers for the forward and backward passes of batches of ``N`` columns."""
        return Workspace(self.layer_sizes, self.activations, N, self.dtype)

    def forward_columns(self, A0: np.ndarray) -> ForwardCache:
        """The forward pass of §1.3 on a batch of columns, caching every z_l and a_l.

        Parameters
        ----------
        A0 : ndarray of shape (n_0, N)
            The input batch, one column per sample (the seed's ``x``).
        """
        A0 = np.asarray(A0, dtype=self.dtype)
        ws = self.workspace(A0.shape[1])
        _bp.forward(self.blocks, self.activations, _bp.augment(A0), ws)
        for a in ws.a[1:]:
            a += 0.0  # -0 → +0 (the ReLU product's sign of zero, for display: backprop.forward's NOTE)
        return ForwardCache(ws.z[1:], [A0, *ws.a[1:]], ws)

    def predict_columns(self, A0: np.ndarray) -> np.ndarray:
        """Ŷ of shape (n_L, N) for ``A0`` of shape (n_0, N), keeping no cache.

        The same forward pass, over chunks of at most :data:`PREDICT_CHUNK` columns,
        so that memory does not grow with ``N`` beyond the result.
        """
        N = A0.shape[1]
        out = np.empty((self.n_outputs, N), self.dtype)
        ws = None
        for i in range(0, N, PREDICT_CHUNK):
            j = min(i + PREDICT_CHUNK, N)
            if ws is None or ws.N != j - i:
                if ws is not None:
                    _PREDICT_BUFFERS.give_back(self, ws)
                ws = _PREDICT_BUFFERS.take(self, j - i)
                if ws.A[0] is None:  # [a_0; 1]: the input rows below, the ones row written once
                    ws.A[0] = np.empty((self.n_inputs + 1, j - i), self.dtype)
                    ws.A[0][-1] = 1.0
            Ab = ws.A[0]
            Ab[:-1] = A0[:, i:j]
            out[:, i:j] = _bp.forward(self.blocks, self.activations, Ab, ws)
        if ws is not None:
            _PREDICT_BUFFERS.give_back(self, ws)
        return out

    def forward(self, X) -> np.ndarray:
        """Ŷ for ``X`` of shape (n_samples, n_features); returns (n_samples, n_outputs).

        The raw network output ``a_L`` (logits, for the cross-entropies).
        """
        X = check_X(X, self.n_inputs, self.dtype)
        return self.predict_columns(X.T).T

    __call__ = forward

    # --------------------------------------------------------------- backward
    def backward(self, cache: ForwardCache, dJ_dYhat: np.ndarray) -> Gradients:
        """Backpropagation (§1.3) from a forward cache and ``dJ/dŶ`` of shape (n_L, N).

        ``delta_L = dJ/dŶ ∘ σ_L'(z_L)``, ``delta_l = (W_{l+1}ᵀ delta_{l+1}) ∘ σ_l'(z_l)``,
        ``dW_l = delta_l a_{l-1}ᵀ``, ``db_l = Σ_columns delta_l`` (:func:`handgrad.backprop.backward`).

        ``dJ_dYhat`` is left unchanged.
        """
        ws = cache.workspace if cache.workspace is not None else self._workspace_of(cache)
        dJ = np.asarray(dJ_dYhat, dtype=self.dtype)
        if dJ.shape != ws.delta[-1].shape:
            raise ShapeError(f"dJ_dYhat must have shape {ws.delta[-1].shape} (n_L, N), got {dJ.shape}")
        ws.delta[-1][...] = dJ
        grad = np.empty(self._layout.size, self.dtype)
        _bp.backward(self.blocks, self.activations, ws, self._layout.blocks(grad))
        return Gradients.of_flat(grad, self._layout)

    def _workspace_of(self, cache: ForwardCache) -> Workspace:
        """A workspace holding a cache built by hand (``ForwardCache(z, a)``)."""
        ws = self.workspace(cache.a[0].shape[1])
        ws.A[0] = _bp.augment(np.asarray(cache.a[0], dtype=self.dtype))
        for l in range(1, self.n_layers + 1):
            ws.z[l][...] = cache.z[l - 1]
            ws.a[l][...] = cache.a[l]
        return ws

    def gradients(
        self,
        X,
        Y,
        loss: str | Loss = "mse",
        method: str = "backprop",
        sample_weight=None,
    ) -> Gradients:
        """dJ/dW_l and dJ/db_l for every layer on the batch ``(X, Y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        Y : array-like of shape (n_samples, n_outputs) or (n_samples,)
            Targets; one-hot rows for ``softmax_crossentropy``.
        loss : str or Loss
            ``"mse"`` (the seed's), ``"mae"``, ``"huber"``, ``"binary_crossentropy"``,
            ``"softmax_crossentropy"``.
        method : {"backprop", "expanded"}
            ``"backprop"``: §1.3, reusing the deltas layer by layer.
            ``"expanded"``: §1.2, every layer's gradient from scratch.
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        Gradients
            ``g["W1"]`` of the shape of ``W_1``, ...; ``g.loss`` is J.
        """
        A0, Yc, loss_fn, w = self._columns(X, Y, loss, sample_weight)
        if method == "backprop":
            return self.backprop_columns(A0, Yc, loss_fn, w)
        if method == "expanded":
            return _expanded(self, A0, Yc, loss_fn, w)
        raise ConfigError(f"unknown gradient method {method!r}; expected one of {GRADIENT_METHODS}")

    def backprop_columns(self, A0: np.ndarray, Y: np.ndarray, loss: Loss, sample_weight=None) -> Gradients:
        """§1.3 on a batch of columns (no validation): forward, ``delta_L``, backward.

        Parameters
        ----------
        A0 : ndarray of shape (n_0, N)
        Y : ndarray of shape (n_L, N)
        loss : Loss
        sample_weight : ndarray of shape (N,), optional
        """
        ws = self.workspace(A0.shape[1])
        _bp.forward(self.blocks, self.activations, _bp.augment(np.asarray(A0, dtype=self.dtype)), ws)
        J = _bp.loss_and_output_delta(loss, self.activations[-1], ws, Y, sample_weight)
        grad = np.empty(self._layout.size, self.dtype)
        _bp.backward(self.blocks, self.activations, ws, self._layout.blocks(grad), delta_L_ready=True)
        return Gradients.of_flat(grad, self._layout, loss=J)

    def loss(self, X, Y, loss: str | Loss = "mse", sample_weight=None) -> float:
        """J on ``(X, Y)``; shapes as in :meth:`gradients`."""
        A0, Yc, loss_fn, w = self._columns(X, Y, loss, sample_weight)
        return loss_fn.value(self.predict_columns(A0), Yc, w)

    def _columns(self, X, Y, loss, sample_weight):
        """Validate the public (rows) arguments and turn them into the engine's columns."""
        X = check_X(X, self.n_inputs, self.dtype)
        Y = check_Y(Y, X.shape[0], self.n_outputs, self.dtype)
        w = check_sample_weight(sample_weight, X.shape[0], self.dtype)
        loss_fn = get_loss(loss)
        loss_fn.check_outputs(self.n_outputs)
        return X.T, Y.T, loss_fn, w


def _check_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ConfigError(f"dtype must be float32 or float64, got {dt}")
    return dt
