r"""A stack of layers over one flat parameter buffer: the engine for networks beyond the dense one.

``LayerStack("conv(8,3x3,pad=1)-relu-maxpool(2)-dense(64)-relu-dense(10)", input_shape=(1, 8, 8))``
builds the layers for one per-sample input shape and keeps every parameter in one array
``theta`` (:class:`StackLayout`), so the optimizers (which update the flat buffer), the
training step, restore-best and the model files treat it as a :class:`handgrad.Network`.

The forward pass runs the layers in order; backpropagation is the chain rule across them,
each layer's hand-derived backward pass turning ``dJ/da_l`` into its parameters' gradients and
``dJ/da_{l-1}`` (:mod:`handgrad.layers.base`)::

    a_0 = x                   (*input_shape, N)   (a row of X, read in the declared shape)
    a_l = layer_l(a_{l-1})    l = 1..L
    Ŷ   = a_L                 (n_L, N)
    dJ/da_L = dJ/dŶ;  dJ/da_{l-1} = layer_l.backward(dJ/da_l),  l = L..1
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from .._memory import check_memory
from .._validation import check_sample_weight, check_X, check_Y
from ..errors import ConfigError, ShapeError
from ..init import INITS, as_generator
from ..losses import Loss, get_loss
from ..parameters import ParameterList
from .base import Layer, Shape
from .spec import parse, parse_shape, to_text

#: Columns per forward pass in :meth:`LayerStack.predict_columns` (bounds its memory).
PREDICT_CHUNK = 2048


class StackLayout:
    """Where each layer's parameters live in the stack's flat buffer (layer after layer)."""

    def __init__(self, layers: Sequence[Layer]):
        self.layers = list(layers)
        self.offsets = [0]
        for layer in self.layers:
            self.offsets.append(self.offsets[-1] + sum(p.size for p in layer.parameter_specs()))
        #: Number of parameters.
        self.size = self.offsets[-1]
        self.names: list[str] = []
        for l, layer in enumerate(self.layers, start=1):
            self.names += [f"{p.name}{l}" for p in layer.parameter_specs()]

    def __eq__(self, other) -> bool:
        return isinstance(other, StackLayout) and [to_text([x]) for x in other.layers] == [
            to_text([x]) for x in self.layers
        ]

    def __hash__(self) -> int:
        return hash(to_text(self.layers))

    def layer_views(self, flat) -> list[dict[str, np.ndarray]]:
        """For each layer, its parameters (or gradients) by name as views of ``flat``."""
        return [
            layer.parameter_views(flat[o0:o1])
            for layer, o0, o1 in zip(self.layers, self.offsets[:-1], self.offsets[1:])
        ]

    def views(self, flat) -> list[np.ndarray]:
        """Every parameter as a view of ``flat``, in the order of :attr:`names`."""
        out = []
        for layer, views in zip(self.layers, self.layer_views(flat)):
            out += [views[p.name] for p in layer.parameter_specs()]
        return out

    def weight_mask(self, dtype) -> np.ndarray:
        """1 where ``flat`` holds a weight (what weight decay shrinks), 0 for biases, shifts and scales."""
        mask = np.zeros(self.size, dtype)
        for layer, views in zip(self.layers, self.layer_views(mask)):
            for p in layer.parameter_specs():
                if p.role == "weight":
                    views[p.name][...] = 1
        return mask


class StackGradients:
    """dJ/dθ of a :class:`LayerStack`, by parameter name (``g["W1"]``), views of one flat array."""

    def __init__(self, flat: np.ndarray, layout: StackLayout, loss: float | None = None):
        self.flat = flat
        self.layout = layout
        self.loss = loss
        self._views = dict(zip(layout.names, layout.views(flat)))

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._views:
            raise KeyError(f"no parameter {name!r}; this network has {self.layout.names}")
        return self._views[name]

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self._views.values())

    def names(self) -> list[str]:
        return list(self.layout.names)

    def items(self) -> list[tuple[str, np.ndarray]]:
        return list(self._views.items())

    def norm(self) -> float:
        return math.sqrt(float(np.dot(self.flat, self.flat)))


class LayerStack:
    """A network of layers of any type (dense, convolution, pooling, normalisation, dropout, recurrent).

    Parameters
    ----------
    layers : str or sequence of Layer
        A specification (:mod:`handgrad.layers.spec`), e.g. ``"lstm(16)-dense(10)"``, or layer objects
        (used as given; build a new stack for new layers). The last layer's output must be a vector
        per sample (end with ``dense(n)``, or a recurrent layer).
    input_shape : int, str or tuple of int
        The shape of one sample: ``(C, H, W)`` for images (``"1x8x8"``), ``(T, F)`` for sequences
        of ``T`` steps of ``F`` features, ``n_0`` for plain features. A row of ``X`` holds the sample
        flattened in C order (``n_0 = C·H·W`` numbers).
    init : str, default "auto"
        Weight initialisation (:mod:`handgrad.init`); ``"auto"``: He for a layer whose activation
        is ReLU-like, Glorot otherwise.
    random_state : int, numpy.random.Generator or None
        Seeds the initialisation and then dropout's masks.
    dtype : numpy dtype
        float64 (default) or float32.
    """

    def __init__(self, layers, input_shape, init: str = "auto", random_state=None, dtype=np.float64):
        self.layers: list[Layer] = parse(layers) if isinstance(layers, str) else list(layers)
        if not self.layers or not all(isinstance(x, Layer) for x in self.layers):
            raise ConfigError(f"layers must be a specification or a list of Layer objects, got {layers!r}")
        self.input_shape: Shape = parse_shape(input_shape)
        shape = self.input_shape
        for layer in self.layers:
            shape = layer.build(shape)
        if len(shape) != 1:
            raise ConfigError(
                f"the layers {to_text(self.layers)!r} end with a {'x'.join(map(str, shape))} output per sample; "
                "end them with dense(n) (or a recurrent layer) so that each sample gives a vector"
            )
        self.layout = StackLayout(self.layers)
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise ConfigError(f"dtype must be float32 or float64, got {dtype}")
        # Refused before allocating (a MemoryLimitError with the figures, not a MemoryError): the
        # parameters, and in training their gradient, the optimizer's two state slots and a best copy.
        check_memory(
            6 * self.layout.size * dtype.itemsize,
            f"a network of layers {to_text(self.layers)!r} with {self.layout.size:,} parameters",
            hint="use fewer or smaller layers",
        )
        self.theta = np.zeros(self.layout.size, dtype)
        self._bind()
        rng = as_generator(random_state)
        for layer, params in zip(self.layers, self.params):
            scheme = init
            if init == "auto":
                scheme = getattr(getattr(layer, "activation", None), "init", "glorot_uniform")
            if scheme not in INITS:
                raise ConfigError(f"unknown init {init!r}; expected 'auto' or one of {sorted(INITS)}")
            layer.initialise(params, rng, scheme)
        self.reseed(rng)

    def estimate_bytes(self, N: int) -> int:
        """Bytes that training on batches of ``N`` samples allocates: the parameters with their gradient,
        optimizer state and best copy, and every layer's arrays for ``N`` samples (:meth:`Layer.work_values`)."""
        per_sample = sum(layer.work_values() for layer in self.layers)
        return int(self.dtype.itemsize) * (6 * self.layout.size + N * per_sample)

    def _bind(self) -> None:
        #: ``params[l-1]``: layer l's parameters by name, views of ``theta``.
        self.params = self.layout.layer_views(self.theta)
        self._grad_for = (None, None)
        # The same list every call: an optimizer is bound to these very arrays (get_optimizer checks).
        self._parameters = ParameterList.of(self.theta, self.layout)

    def reseed(self, rng) -> None:
        """Give every layer that draws while training (dropout) a generator derived from ``rng``."""
        rng = as_generator(rng)
        for layer in self.layers:
            layer.reseed(np.random.default_rng(rng.integers(2**63)))

    # ------------------------------------------------------------------ what the engine reads
    @property
    def dtype(self) -> np.dtype:
        return self.theta.dtype

    @property
    def n_inputs(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].out_shape[0]

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def activations(self) -> list:
        """σ of each layer that has one (identity for the others): what the loss checks read of the output."""
        from ..activations import IDENTITY

        return [getattr(layer, "activation", IDENTITY) for layer in self.layers]

    @property
    def layer_sizes(self) -> list[int]:
        """``[n_0, n_1, ..., n_L]``: the number of values per sample in and out of each layer."""
        return [self.n_inputs] + [int(np.prod(x.out_shape)) for x in self.layers]

    @property
    def spec(self) -> str:
        return to_text(self.layers)

    def parameters(self) -> ParameterList:
        """Every parameter as a view of ``theta``, in the order of :meth:`parameter_names` (the same list each call)."""
        return self._parameters

    def parameter_names(self) -> list[str]:
        return list(self.layout.names)

    @property
    def weights(self) -> list[np.ndarray]:
        """The parameters with the role "weight", in layer order."""
        return [
            params[p.name]
            for layer, params in zip(self.layers, self.params)
            for p in layer.parameter_specs()
            if p.role == "weight"
        ]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every parameter (``"W1"``, ``"b1"``, ``"gamma3"``...) and every layer state (``"running_mean3"``), copied."""
        out = {name: v.copy() for name, v in zip(self.layout.names, self.layout.views(self.theta))}
        for l, layer in enumerate(self.layers, start=1):
            out.update({f"{k}{l}": np.array(v, copy=True) for k, v in layer.state().items()})
        return out

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Set parameters and layer states from :meth:`state_dict`'s output (shapes checked)."""
        for name, view in zip(self.layout.names, self.layout.views(self.theta)):
            if name not in state:
                raise ConfigError(f"missing parameter {name!r}; expected {self.layout.names}")
            value = np.asarray(state[name])
            if value.shape != view.shape:
                raise ShapeError(f"parameter {name!r} has shape {value.shape}; this network needs {view.shape}")
            view[...] = value
        for l, layer in enumerate(self.layers, start=1):
            own = layer.state()
            if own:
                new = {}
                for k, v in own.items():
                    value = np.asarray(state.get(f"{k}{l}", v))
                    if value.shape != np.shape(v):
                        raise ShapeError(f"state {k}{l!r} has shape {value.shape}; this network needs {np.shape(v)}")
                    new[k] = value
                layer.set_state(new)

    def copy(self) -> LayerStack:
        """An independent stack with the same layers, parameters and states."""
        return self.astype(self.dtype)

    def astype(self, dtype) -> LayerStack:
        out = LayerStack(to_text(self.layers), self.input_shape, dtype=dtype, random_state=0)
        state = self.state_dict()
        out.load_state_dict(state)
        return out

    def __repr__(self) -> str:
        return f"LayerStack({self.spec!r}, input_shape={'x'.join(map(str, self.input_shape))})"

    # ------------------------------------------------------------------ forward and backward, columns
    def forward_columns(self, A0: np.ndarray, training: bool = False) -> np.ndarray:
        """Ŷ = a_L of shape (n_L, N) for the batch ``A0`` of shape (n_0, N) (samples as columns)."""
        N = A0.shape[1]
        a = A0.reshape(*self.input_shape, N)
        for layer, params in zip(self.layers, self.params):
            a = layer.forward(a, params, training)
        return a

    def _grad_views(self, flat: np.ndarray) -> list[dict[str, np.ndarray]]:
        if self._grad_for[0] is not flat:
            self._grad_for = (flat, self.layout.layer_views(flat))
        return self._grad_for[1]

    def backward_columns(self, dJ_dYhat: np.ndarray, grad: np.ndarray) -> None:
        """Backpropagation through the layers from ``dJ/dŶ`` (n_L, N); every gradient written into ``grad`` (flat)."""
        grads = self._grad_views(grad)
        g = dJ_dYhat
        for l in range(len(self.layers) - 1, -1, -1):  # l = L..1 (0-based index l)
            g = self.layers[l].backward(g, self.params[l], grads[l], l > 0)

    def train_batch(
        self, A0, Y, sample_weight, loss: Loss, denominator: int | None, scale: float, grad: np.ndarray
    ) -> float:
        """One batch in training mode: J, and ``scale · dJ/dθ`` written into ``grad`` (flat).

        ``A0`` (n_0, N), ``Y`` (n_L, N), ``sample_weight`` (N,) or None; ``denominator`` as in
        :meth:`handgrad.losses.Loss.gradient`.
        """
        Yhat = self.forward_columns(A0, training=True)
        J = float(loss.mean(Yhat, Y, sample_weight))
        dY = np.asarray(loss.gradient(Yhat, Y, sample_weight, denominator), dtype=Yhat.dtype)
        if scale != 1.0:
            dY = dY * scale
        self.backward_columns(dY, grad)
        return J

    def predict_columns(self, A0: np.ndarray) -> np.ndarray:
        """Ŷ (n_L, N) in inference mode, in chunks of :data:`PREDICT_CHUNK` columns (a new array)."""
        N = A0.shape[1]
        out = np.empty((self.n_outputs, N), self.dtype)
        for i in range(0, N, PREDICT_CHUNK):
            j = min(i + PREDICT_CHUNK, N)
            out[:, i:j] = self.forward_columns(np.asarray(A0[:, i:j], self.dtype), training=False)
        return out

    # ------------------------------------------------------------------ the public API, rows
    def forward(self, X) -> np.ndarray:
        """Ŷ of shape (n_samples, n_L) for ``X`` of shape (n_samples, n_0) (each row a sample, flattened)."""
        X = check_X(X, self.n_inputs, self.dtype)
        return self.predict_columns(X.T).T

    predict = forward

    def gradients(self, X, y, loss: str | Loss = "mse", sample_weight=None, training: bool = False) -> StackGradients:
        """dJ/dθ by backpropagation through the layers, for ``X`` (n_samples, n_0) and ``y`` (n_samples, n_L).

        ``training=True`` runs dropout and batch normalisation as in training (dropout's masks drawn
        from the stack's generator); by default they run in inference mode, so that the gradient is
        a deterministic function of θ (what a finite-difference check compares).
        """
        loss = get_loss(loss)
        X = check_X(X, self.n_inputs, self.dtype)
        Y = check_Y(y, X.shape[0], self.n_outputs, self.dtype, "y")
        w = None if sample_weight is None else check_sample_weight(sample_weight, X.shape[0], self.dtype)
        flat = np.zeros(self.layout.size, self.dtype)
        Yhat = self.forward_columns(X.T, training=training)
        J = float(loss.mean(Yhat, Y.T, w))
        dY = np.asarray(loss.gradient(Yhat, Y.T, w, None), dtype=self.dtype)
        self.backward_columns(dY, flat)
        return StackGradients(flat, self.layout, J)

    def _columns(self, X, y, loss, sample_weight):
        """``(A0, Y, loss, w)`` in the engine's orientation: (n_0, N), (n_L, N), Loss, (N,) or None (checked)."""
        loss = get_loss(loss)
        X = check_X(X, self.n_inputs, self.dtype)
        Y = check_Y(y, X.shape[0], self.n_outputs, self.dtype, "y")
        w = None if sample_weight is None else check_sample_weight(sample_weight, X.shape[0], self.dtype)
        return X.T, Y.T, loss, w

    def loss(self, X, y, loss: str | Loss = "mse", sample_weight=None) -> float:
        """J at the current parameters (inference mode)."""
        loss = get_loss(loss)
        X = check_X(X, self.n_inputs, self.dtype)
        Y = check_Y(y, X.shape[0], self.n_outputs, self.dtype, "y")
        w = None if sample_weight is None else check_sample_weight(sample_weight, X.shape[0], self.dtype)
        return float(loss.mean(self.predict_columns(X.T), Y.T, w))
