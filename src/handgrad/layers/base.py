r"""What every layer type is: a map ``a_{l-1} → a_l`` with its backward pass derived by hand.

Orientation (the seed's, generalised)
-------------------------------------
Inside the engine the samples of a batch run along the **last** axis, as the seed's
columns do: a dense layer's ``a_l`` is ``(n_l, N)``; an image batch is ``(C, H, W, N)``;
a sequence batch is ``(T, F, N)`` (step ``t``'s inputs ``x_t`` are the columns
``a[t]`` of shape ``(F, N)``). So every weight multiplies from the left, as the
seed's ``W_l`` of shape ``(n_l, n_{l-1})`` does: ``z = W a + b``.

A layer ``l`` has

* a per-sample input shape ``in_shape`` and output shape ``out_shape`` (set by :meth:`Layer.build`);
* parameters, declared by :meth:`Layer.parameter_specs`, that live in the stack's one
  flat buffer ``theta`` (see :class:`handgrad.layers.stack.StackLayout`): the layer
  receives them as a dict of views, and its gradients as a dict of views of the flat
  gradient, which :meth:`Layer.backward` overwrites;
* :meth:`Layer.forward`, keeping what its backward pass needs, and :meth:`Layer.backward`,
  which is given ``dJ/da_l`` and returns ``dJ/da_{l-1}``. For layers with a
  pre-activation, ``delta_l = dJ/dz_l`` as in the seed; the gradient of every parameter
  is written from it.

The stack (:class:`handgrad.layers.stack.LayerStack`) chains them: its backward pass is the
chain rule across layers, ``dJ/da_{l-1} = layer_l.backward(dJ/da_l)`` for ``l = L..1``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..init import INITS

Shape = tuple[int, ...]


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a layer.

    Attributes
    ----------
    name : str
        Its name inside the layer (``"W"``, ``"b"``, ``"gamma"``, ``"Wx"``...); the stack
        names it with the layer's 1-based index appended (``"W1"``, ``"gamma3"``).
    shape : tuple of int
    role : {"weight", "bias", "scale", "shift"}
        ``"weight"``: drawn by the initialisation from ``fan_in``/``fan_out``, and the only
        kind weight decay shrinks; ``"bias"``/``"shift"``: zeros; ``"scale"``: ones.
    fan_in, fan_out : int
        For ``"weight"``: the initialisation draws a ``(fan_out, fan_in)`` matrix and
        reshapes it to ``shape`` (so ``fan_in · fan_out`` must equal its size).
    """

    name: str
    shape: Shape
    role: str = "weight"
    fan_in: int = 0
    fan_out: int = 0

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


class Layer:
    """Base class of the layer types. Subclasses set :attr:`kind` and override what they need.

    A layer object is built once for one input shape (:meth:`build`), then runs any number
    of batches. ``forward`` keeps on ``self`` what ``backward`` needs (the last batch's).
    """

    #: The name in a layer specification (``"conv"``, ``"lstm"``...), see :mod:`handgrad.layers.spec`.
    kind: str = ""
    #: Whether the layer behaves differently while training (dropout, batch normalisation).
    has_training_mode: bool = False

    in_shape: Shape = ()
    out_shape: Shape = ()

    # ---------------------------------------------------------------- structure
    def build(self, in_shape: Shape) -> Shape:
        """Check ``in_shape`` (per sample) and return ``out_shape``; :class:`ConfigError` naming the shape if wrong."""
        self.in_shape = tuple(int(d) for d in in_shape)
        self.out_shape = self.in_shape
        return self.out_shape

    def parameter_specs(self) -> list[ParamSpec]:
        """The layer's parameters, in the order they sit in the flat buffer (none by default)."""
        return []

    def parameter_views(self, segment: np.ndarray) -> dict[str, np.ndarray]:
        """Views of ``segment`` (this layer's part of a flat buffer) in the shapes of :meth:`parameter_specs`.

        By default one after another, each C-ordered. (The dense layer overrides it: its
        ``[W | b]`` block is stored column by column, :mod:`handgrad.parameters`.)
        """
        out, o = {}, 0
        for p in self.parameter_specs():
            out[p.name] = segment[o : o + p.size].reshape(p.shape)
            o += p.size
        return out

    def initialise(self, params: dict[str, np.ndarray], rng: np.random.Generator, init: str) -> None:
        """Fill ``params`` in place: weights by ``init`` (:mod:`handgrad.init`), biases/shifts 0, scales 1."""
        for p in self.parameter_specs():
            target = params[p.name]
            if p.role == "weight":
                target[...] = INITS[init](rng, p.fan_out, p.fan_in).reshape(p.shape)
            elif p.role == "scale":
                target[...] = 1.0
            else:
                target[...] = 0.0

    def work_values(self) -> int:
        """About how many numbers per sample the layer's forward and backward passes hold (for memory checks).

        By default its input, output and their gradients, twice over; layers that hold more (a
        convolution's windows, a recurrent layer's steps) say so.
        """
        return 4 * (int(np.prod(self.in_shape, dtype=np.int64)) + int(np.prod(self.out_shape, dtype=np.int64)))

    def state(self) -> dict[str, np.ndarray]:
        """Arrays that are not trained but belong to the model (batch normalisation's running statistics)."""
        return {}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state` returned (shapes checked by the caller)."""

    def reseed(self, rng: np.random.Generator) -> None:
        """Take the random generator the layer draws from while training (dropout's masks)."""

    # ---------------------------------------------------------------- the mathematics
    def forward(self, a: np.ndarray, params: dict[str, np.ndarray], training: bool) -> np.ndarray:
        """``a_l`` of shape ``(*out_shape, N)`` from ``a_{l-1}`` of shape ``(*in_shape, N)``."""
        raise NotImplementedError

    def backward(
        self, grad_out: np.ndarray, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], need_input: bool
    ) -> np.ndarray | None:
        """From ``dJ/da_l`` of shape ``(*out_shape, N)``, for the batch of the last :meth:`forward`:

        overwrite every ``grads[name]`` with ``dJ/d(name)`` and return ``dJ/da_{l-1}``
        of shape ``(*in_shape, N)`` (or None when not ``need_input``: the first layer).
        ``grad_out`` may be overwritten.
        """
        raise NotImplementedError

    # ---------------------------------------------------------------- description
    def spec(self) -> str:
        """The layer in the specification syntax, e.g. ``"conv(8,3x3,pad=1)"``; parses back to an equal layer."""
        return self.kind

    def config(self) -> dict:
        """Keyword arguments that rebuild the layer (JSON-able), for model files."""
        return {}

    def derivation(self, l: int) -> list[str]:
        r"""The layer's forward and backward formulas for ``handgrad derive``, in Markdown with LaTeX.

        ``l`` is its 1-based index in the stack: ``a_{l-1}`` in, ``a_l`` out,
        :math:`\delta_l = \partial J / \partial z_l`.
        """
        return [f"Layer {l}: {self.spec()} (no derivation written)."]

    def __repr__(self) -> str:
        return self.spec()

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.config() == self.config()

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(sorted(self.config().items()))))


#: Layer types by their name in a specification: ``kind -> factory(*positional, **keywords)``
#: taking the arguments as written (strings), see :mod:`handgrad.layers.spec`.
REGISTRY: dict[str, Callable[..., Layer]] = {}


def register(kind: str, factory: Callable[..., Layer]) -> None:
    """Make ``kind(...)`` in a layer specification build ``factory(*args, **kwargs)`` (arguments as strings)."""
    REGISTRY[kind] = factory


def positive_int(layer: str, what: str, text) -> int:
    """``text`` (from a specification, e.g. ``"64"`` or ``"+64"``) as a positive integer, or
    :class:`ConfigError` naming the layer, what the number is and the text given."""
    value = 0
    with contextlib.suppress(ValueError):
        value = int(str(text).strip())
    if value < 1 or str(value) != str(text).strip().lstrip("+"):
        raise ConfigError(f"{layer}: {what} must be a positive integer, got {text!r}")
    return value


def shape_error(layer: Layer, in_shape: Shape, expected: str) -> ConfigError:
    """The error for a layer given an input shape it cannot take."""
    shown = "x".join(str(d) for d in in_shape) or "()"
    return ConfigError(f"layer {layer.spec()} takes inputs of shape {expected}; it would get {shown} per sample")
