r"""Optimizers: each owns its state apart from the network and updates parameters in place.

An optimizer is built over the list of live parameter arrays of a network
(``net.parameters()`` = ``[W1, b1, W2, b2, ...]``) and is then stepped with the
gradients in the same order (a :class:`handgrad.Gradients` iterates in that order)::

    >>> import numpy as np
    >>> from handgrad import Network
    >>> from handgrad.training import SGD
    >>> net = Network([2, 3, 1], random_state=0)
    >>> opt = SGD(net.parameters(), lr=0.1)
    >>> g = net.gradients(np.ones((4, 2)), np.zeros(4))
    >>> W1_before = net.weights[0].copy()
    >>> opt.step(g)
    >>> bool(np.allclose(net.weights[0], W1_before - 0.1 * g["W1"]))
    True

The update rules, with ``g`` the gradient ``dJ/dθ`` of a parameter ``θ`` and ``t``
the step count (1 at the first step):

=============== ==========================================================================
SGD             ``θ ← θ − lr g``   (the seed's ``W1 = W1 - learning_rate * dW1``)
momentum μ      ``v ← μ v + g``;  ``θ ← θ − lr v``            (PyTorch's form, dampening 0)
Nesterov        ``v ← μ v + g``;  ``θ ← θ − lr (g + μ v)``
Adam            ``m ← β1 m + (1 − β1) g``;  ``v ← β2 v + (1 − β2) g²``;
                ``θ ← θ − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)``   (as PyTorch)
AdamW           as Adam, after the decoupled decay ``θ ← θ (1 − lr λ)``
=============== ==========================================================================

Weight decay
------------
``weight_decay=λ`` on :class:`SGD` and on :class:`Adam` (``decoupled=False``) is L2
regularisation: the objective becomes ``J + λ/2 Σ_l ‖W_l‖²`` and so ``g ← g + λ θ``.
On ``Adam(decoupled=True)`` (AdamW) it is the decoupled decay above.

NOTE: handgrad decays the **weights only, not the biases** (a parameter array with
two or more dimensions is a weight; the 1-D ``b_l`` are biases). Penalising
biases only shifts the fit towards zero output and is what scikit-learn, Keras'
usual setups and most texts avoid. (PyTorch decays every parameter it is given;
to match it, give PyTorch the biases in a parameter group with ``weight_decay=0``.)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from ..backend import NUMPY, Backend
from ..errors import ConfigError, ShapeError
from ..parameters import FlatLayout
from ..params import Interval, check


class FlatGradients(list):
    """Gradients ``[dW1, db1, ...]`` that are views into one contiguous array ``flat``.

    Made :meth:`like` a network's :meth:`~handgrad.Network.parameters`, they share
    its flat layout (:mod:`handgrad.parameters`), and an optimizer over those
    parameters uses ``flat`` as it is: a step is a few whole-array operations.
    Any plain list of arrays works too (it is packed into a flat scratch array).
    """

    flat: np.ndarray
    layout: FlatLayout | None = None

    @classmethod
    def like(cls, params: Sequence[np.ndarray]) -> FlatGradients:
        """Zero gradients laid out as ``params`` (in that order; in their flat layout, if they have one)."""
        layout = getattr(params, "layout", None)
        if layout is not None:
            flat = np.zeros(layout.size, dtype=params[0].dtype)
            out = cls(layout.views(flat))
        else:
            flat = np.zeros(sum(p.size for p in params), dtype=params[0].dtype)
            out = cls(_views(flat, params))
        out.flat = flat
        out.layout = layout
        return out


def _views(flat: np.ndarray, like: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Views of consecutive pieces of ``flat`` in the shapes of ``like``."""
    views, offset = [], 0
    for p in like:
        views.append(flat[offset : offset + p.size].reshape(p.shape))
        offset += p.size
    return views


class Optimizer:
    """Base class: a list of parameter arrays, a learning rate and a step count.

    Parameters
    ----------
    params : iterable of ndarray
        The live arrays to update in place, e.g. ``net.parameters()``
        (``W_l`` of shape ``(n_l, n_{l-1})``, ``b_l`` of shape ``(n_l,)``), all of one dtype.
    lr : float
        The learning rate; a schedule sets ``opt.lr`` before each epoch.

    Subclasses declare their per-parameter state in ``_slots`` (e.g. ``("m", "v")``)
    and implement :meth:`_direction`, which writes the step ``Δ`` (``θ ← θ − Δ``)
    for all parameters at once. NOTE: the parameters, their gradients and the state
    of all parameters each live in one flat array (``self.state[slot][i]`` are views
    into it): a step is a handful of whole-array operations, because for a small
    network the cost of a step is the number of NumPy calls, not the arithmetic.
    A network's :meth:`~handgrad.Network.parameters` are already views of one flat
    buffer ``θ`` (:mod:`handgrad.parameters`); the update is then ``θ −= Δ``, one call.
    """

    name = "optimizer"
    _slots: tuple[str, ...] = ()

    def __init__(self, params: Iterable[np.ndarray], lr: float):
        given = params
        self.params: list[np.ndarray] = list(params)
        if not self.params:
            raise ConfigError("the optimizer got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
                raise ConfigError(f"parameter {i} must be a float ndarray, got {type(p).__name__}")
            if p.dtype != self.params[0].dtype:
                raise ConfigError(f"parameter {i} is {p.dtype} but parameter 0 is {self.params[0].dtype}")
        self.lr = lr
        #: Steps taken so far (t in Adam's bias correction).
        self.t = 0
        dtype = self.params[0].dtype
        #: The flat parameter buffer θ the params are views of (a network's), else None.
        self.theta: np.ndarray | None = getattr(given, "flat", None)
        self.layout: FlatLayout | None = getattr(given, "layout", None) if self.theta is not None else None
        if self.layout is not None:
            size = self.layout.size
            self._views = self.layout.views
            #: 1 for weights (decayed), 0 for biases: see the module docstring.
            self._weight_mask = self.layout.weight_mask(dtype)
        else:
            size = sum(p.size for p in self.params)
            self._views = lambda flat: _views(flat, self.params)
            self._weight_mask = np.concatenate(
                [np.full(p.size, 1.0 if p.ndim >= 2 else 0.0, dtype) for p in self.params]
            )
        self.size = size
        # State, zero at the start (so the first momentum step gives v = g, as PyTorch's
        # buffer initialisation does): one flat array per slot, viewed per parameter.
        self._state_flat = {s: np.zeros(size, dtype) for s in self._slots}
        self.state: dict[str, list[np.ndarray]] = {s: self._views(f) for s, f in self._state_flat.items()}
        # Scratch: the packed gradient and the step Δ, so that a step allocates nothing.
        self._g = np.empty(size, dtype)
        self._g_views = self._views(self._g)
        self._delta = np.empty(size, dtype)
        self._delta_views = self._views(self._delta)
        self._tmp = np.empty(size, dtype)
        self._l2_factor: tuple[float, np.ndarray] | None = None
        self._theta_scratch = None if self.theta is not None else np.empty(size, dtype)
        #: The array library and device of θ, the state and the scratch (:meth:`to_backend`).
        self.bk: Backend = NUMPY
        self._host: dict | None = None

    # ------------------------------------------------------------------ where the updates run
    def to_backend(self, theta, bk: Backend) -> None:
        """Run the updates on ``theta``, a copy of the flat buffer in another array library or device.

        What ``train(device=...)`` does: the state slots are copied to ``bk`` (the host arrays
        stay, for :meth:`state_dict`, which reads them back through :meth:`sync_state`), the
        scratch is allocated there, and every step then updates ``theta``. :meth:`to_host`
        undoes it. Needs the optimizer to be over a network's flat buffer.
        """
        if self.theta is None:
            raise ConfigError("only an optimizer over a network's parameters (net.parameters()) can move to a device")
        if self._host is not None:
            self.to_host()
        self._host = {
            "theta": self.theta,
            "state": self._state_flat,
            "scratch": (self._g, self._delta, self._tmp),
            "weight_mask": self._weight_mask,
        }
        dtype, size = self.params[0].dtype, self.size
        self.bk = bk
        self.theta = theta
        self._state_flat = {s: bk.asarray(a) for s, a in self._state_flat.items()}
        self._g, self._delta, self._tmp = (bk.empty(size, dtype) for _ in range(3))
        self._weight_mask = bk.asarray(self._weight_mask)
        self._l2_factor = None

    def sync_state(self) -> None:
        """Copy the state on the device into the host arrays (``self.state``); a no-op on NumPy."""
        if self._host is not None:
            for slot, a in self._state_flat.items():
                np.copyto(self._host["state"][slot], self.bk.to_numpy(a))

    def to_host(self) -> None:
        """Back to the NumPy parameters and state after :meth:`to_backend` (the state copied back)."""
        if self._host is None:
            return
        self.sync_state()
        host, self._host = self._host, None
        self.theta, self._state_flat, self._weight_mask = host["theta"], host["state"], host["weight_mask"]
        self._g, self._delta, self._tmp = host["scratch"]
        self._l2_factor = None
        self.bk = NUMPY

    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = check("lr", value)

    @property
    def folds_lr(self) -> bool:
        """True when the step is ``θ ← θ − lr g`` exactly (plain SGD over a flat buffer).

        The training step then folds ``lr`` into ``delta_L`` (so the gradient it computes
        is ``lr g``) and calls :meth:`apply`: one subtraction per step, no multiply.
        """
        return False

    def _flat_theta(self) -> np.ndarray:
        """θ as one flat array in the layout of ``params`` (packed into scratch if need be)."""
        if self.theta is not None:
            return self.theta
        for v, p in zip(self._views(self._theta_scratch), self.params):
            np.copyto(v, p)
        return self._theta_scratch

    def _flat_gradient(self, grads) -> np.ndarray:
        """The gradients as one flat array in the layout of ``params`` (packed if need be)."""
        flat = getattr(grads, "flat", None)
        if (
            flat is not None
            and self.layout is not None
            and getattr(grads, "layout", None) == self.layout
            and flat.dtype == self._g.dtype
        ):
            return flat
        n = 0
        for i, g in enumerate(grads):
            if i >= len(self.params) or getattr(g, "shape", None) != self.params[i].shape:
                raise ShapeError(
                    f"gradient {i} has shape {getattr(g, 'shape', None)}, expected "
                    f"{self.params[i].shape if i < len(self.params) else 'no more gradients'} "
                    f"(one gradient per parameter, in the order of net.parameters())"
                )
            np.copyto(self._g_views[i], g)
            n += 1
        if n != len(self.params):
            raise ShapeError(f"got {n} gradients for {len(self.params)} parameters")
        return self._g

    def _add_l2(self, g: np.ndarray, weight_decay: float, in_place: bool = False) -> np.ndarray:
        """L2 regularisation: ``g + λ W`` for the weights (the biases are not decayed)."""
        if self._l2_factor is None or self._l2_factor[0] != weight_decay:
            self._l2_factor = (weight_decay, self._weight_mask * weight_decay)  # λ on weights, 0 on biases
        self.bk.multiply(self._flat_theta(), self._l2_factor[1], out=self._tmp)
        out = g if in_place else self._g  # never modify the caller's gradients
        self.bk.add(g, self._tmp, out=out)
        return out

    def step(self, grads: Iterable[np.ndarray]) -> None:
        """Update every parameter in place from its gradient.

        Parameters
        ----------
        grads : iterable of ndarray
            ``dJ/dθ`` for each parameter, in the order and shapes of ``params``
            (a :class:`handgrad.Gradients` works). Not modified.
        """
        self.step_flat(self._flat_gradient(grads), in_place=False)

    def step_flat(self, g: np.ndarray, in_place: bool = True) -> None:
        """One step from the flat gradient ``g`` (the layout of ``params``).

        ``in_place=True`` lets the step use ``g`` as scratch (the training step's own buffer).
        """
        self.t += 1
        self._update(self._direction(g, in_place))

    def apply(self, delta: np.ndarray) -> None:
        """``θ ← θ − Δ`` for a step ``Δ`` computed elsewhere (see :attr:`folds_lr`), counted as a step."""
        self.t += 1
        self._update(delta)

    def _update(self, delta: np.ndarray) -> None:
        if self.theta is not None:
            self.theta -= delta  # θ ← θ − Δ, every parameter at once (the seed: W1 = W1 - learning_rate * dW1)
        else:
            for p, d in zip(self.params, self._views(delta)):
                p -= d

    def flush_subnormals(self) -> int:
        """Set the subnormal entries (``0 < |x| < tiny``) of the parameters and the state to 0.

        Returns how many entries were flushed.

        NOTE: NumPy has no flush-to-zero mode. A weight that decays into the subnormal
        range (below 2.2e-308 in float64, as the weights of a dead ReLU unit under L2
        do after some thousands of Adam steps) sends every product that touches it
        down the CPU's slow path: the seed's network with Adam and L2 ran 2-3x slower
        per epoch by epoch 100. The training loop calls this once per epoch; the values
        it zeroes are below the smallest normal number and change no result that matters.
        """
        if not self._slots and not getattr(self, "weight_decay", 0.0):
            # Plain SGD cannot make subnormals: nothing decays (a dead unit's gradient is exactly 0),
            # and skipping the passes keeps the seed's step as fast as it was.
            return 0
        tiny = float(np.finfo(self.params[0].dtype).tiny)
        flushed = 0
        xp = self.bk.xp
        arrays = [self.theta] if self.theta is not None else self.params
        for a in [*arrays, *self._state_flat.values()]:
            small = xp.abs(a) < tiny
            n = int(xp.count_nonzero(small)) - int(xp.count_nonzero(a == 0))
            if n:
                a[small] = 0
                flushed += n
        return flushed

    def _direction(self, g: np.ndarray, in_place: bool = False) -> np.ndarray:  # pragma: no cover - abstract
        """Write the step Δ for the flat gradient ``g`` into ``self._delta`` (or return another array)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ state
    def hyperparameters(self) -> dict:
        """The settings (JSON-able), without the learning rate and step count."""
        return {}

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        """``(arrays, meta)``: state arrays named ``"<slot>.<i>"`` (copies) and JSON-able settings."""
        self.sync_state()  # the state on a device (train(device=...)) into self.state
        arrays = {f"{slot}.{i}": a.copy() for slot, arrs in self.state.items() for i, a in enumerate(arrs)}
        meta = {"name": self.name, "lr": self.lr, "t": self.t, **self.hyperparameters()}
        return arrays, meta

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Restore the state saved by :meth:`state_dict` (in place, shapes must match).

        The settings in ``meta`` must match this optimizer's (build it with the same
        hyper-parameters, then load): the learning rate and step count are restored.
        """
        if meta.get("name") != self.name:
            raise ConfigError(f"optimizer state is for {meta.get('name')!r}, not {self.name!r}")
        for key, value in self.hyperparameters().items():
            if key in meta and meta[key] != value:
                raise ConfigError(
                    f"optimizer state has {key}={meta[key]!r} but this optimizer has {key}={value!r}; "
                    "build the optimizer with the saved settings before loading its state"
                )
        for slot, arrs in self.state.items():
            for i, a in enumerate(arrs):
                key = f"{slot}.{i}"
                if key not in arrays:
                    raise ShapeError(f"optimizer state is missing {key!r}")
                new = np.asarray(arrays[key])
                if new.shape != a.shape:
                    raise ShapeError(f"optimizer state {key!r} has shape {new.shape}, expected {a.shape}")
                a[...] = new
        if self._host is not None:  # running on a device: the state there too
            for slot, a in self._state_flat.items():
                self.bk.copy_into(a, self._host["state"][slot])
        self.lr = meta["lr"]
        self.t = int(meta["t"])

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}(lr={self.lr!r}{', ' + hp if hp else ''})"


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum and L2.

    Parameters
    ----------
    params : iterable of ndarray
    lr : float, default 0.01
    momentum : float in [0, 1), default 0 (the seed's plain SGD)
    nesterov : bool, default False
    weight_decay : float, default 0
        L2 coefficient λ on the weights: ``g ← g + λ W`` (see the module docstring).
    """

    name = "sgd"

    def __init__(
        self,
        params: Iterable[np.ndarray],
        lr: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ):
        self.momentum = check("momentum", momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = check("weight_decay", weight_decay)
        if self.nesterov and self.momentum == 0:
            raise ConfigError("nesterov=True needs momentum > 0")
        self._slots = ("velocity",) if self.momentum > 0 else ()
        super().__init__(params, lr)

    def hyperparameters(self) -> dict:
        return {"momentum": self.momentum, "nesterov": self.nesterov, "weight_decay": self.weight_decay}

    @property
    def folds_lr(self) -> bool:
        return self.theta is not None and not self.momentum and not self.weight_decay

    def _direction(self, g, in_place=False):
        delta = self._delta
        if self.weight_decay:
            g = self._add_l2(g, self.weight_decay, in_place)  # g ← g + λ W
        if self.momentum:
            v = self._state_flat["velocity"]
            v *= self.momentum  # v ← μ v + g
            v += g
            if self.nesterov:  # Δ = lr (g + μ v)
                self.bk.multiply(v, self.momentum, out=delta)
                delta += g
                delta *= self.lr
            else:  # Δ = lr v
                self.bk.multiply(v, self.lr, out=delta)
        else:
            self.bk.multiply(g, self.lr, out=delta)  # Δ = lr g   (the seed's learning_rate * dW)
        return delta


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015); ``decoupled=True`` gives AdamW (Loshchilov & Hutter, 2019).

    Parameters
    ----------
    params : iterable of ndarray
    lr : float, default 1e-3
    beta1, beta2 : float in [0, 1), defaults 0.9, 0.999
        Decay rates of the first and second moment estimates.
    eps : float, default 1e-8
        Added to ``√v̂`` in the denominator (as PyTorch and the paper do).
    weight_decay : float, default 0
        λ on the weights. ``decoupled=False``: L2, ``g ← g + λ W`` before the moments.
        ``decoupled=True`` (AdamW): ``W ← W (1 − lr λ)`` before the Adam step.
    decoupled : bool, default False
    """

    name = "adam"
    _slots = ("m", "v")

    def __init__(
        self,
        params: Iterable[np.ndarray],
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled: bool = False,
    ):
        self.beta1 = check("beta1", beta1)
        self.beta2 = check("beta2", beta2)
        self.eps = check("eps", eps, Interval(float, 0, None))  # ε = 0 allowed (as PyTorch)
        self.weight_decay = check("weight_decay", weight_decay)
        self.decoupled = bool(decoupled)
        super().__init__(params, lr)

    def hyperparameters(self) -> dict:
        return {
            "beta1": self.beta1,
            "beta2": self.beta2,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
            "decoupled": self.decoupled,
        }

    def _direction(self, g, in_place=False):
        delta, tmp, bk = self._delta, self._tmp, self.bk
        m, v = self._state_flat["m"], self._state_flat["v"]
        if self.weight_decay:
            if self.decoupled:  # AdamW: θ ← θ (1 − lr λ), weights only
                theta = self._flat_theta()
                bk.multiply(theta, self._weight_mask, out=tmp)
                tmp *= self.lr * self.weight_decay
                if self.theta is not None:
                    theta -= tmp
                else:
                    for p, d in zip(self.params, self._views(tmp)):
                        p -= d
            else:
                g = self._add_l2(g, self.weight_decay, in_place)  # L2: g ← g + λ W
        m *= self.beta1  # m ← β1 m + (1 − β1) g
        bk.multiply(g, 1.0 - self.beta1, out=tmp)
        m += tmp
        v *= self.beta2  # v ← β2 v + (1 − β2) g²
        bk.multiply(g, g, out=tmp)
        tmp *= 1.0 - self.beta2
        v += tmp
        # Δ = lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)   (PyTorch's arrangement of the bias corrections)
        #   = lr √(1 − β2ᵗ)/(1 − β1ᵗ) · m / (√v + ε √(1 − β2ᵗ))   (two fewer passes over θ)
        t = self.t
        root_bc2 = math.sqrt(1.0 - self.beta2**t)
        bk.sqrt(v, out=delta)
        delta += self.eps * root_bc2
        bk.divide(m, delta, out=delta)
        delta *= self.lr * root_bc2 / (1.0 - self.beta1**t)
        return delta


def AdamW(params: Iterable[np.ndarray], lr: float = 1e-3, weight_decay: float = 0.01, **kw) -> Adam:
    """``Adam(..., decoupled=True)`` with PyTorch's default ``weight_decay=0.01``."""
    return Adam(params, lr=lr, weight_decay=weight_decay, decoupled=True, **kw)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def get_optimizer(spec: str | Optimizer, params: Sequence[np.ndarray], **kw) -> Optimizer:
    """An optimizer from a name (``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adam"``, ``"adamw"``)
    over ``params``, or an :class:`Optimizer` instance passed through.

    Keyword arguments go to the constructor (``lr``, ``momentum``, ...); a keyword
    whose value is None is left at the optimizer's default. An instance must
    already be bound to ``params`` (the same array objects), or this raises
    :class:`ConfigError`.
    """
    kw = {k: v for k, v in kw.items() if v is not None}
    if isinstance(spec, Optimizer):
        if len(spec.params) != len(params) or any(a is not b for a, b in zip(spec.params, params)):
            raise ConfigError(
                "the optimizer instance is bound to other arrays than this network's parameters; "
                "build it as Optimizer(net.parameters(), ...) for the network you train"
            )
        return spec
    if isinstance(spec, str):
        key = spec.strip().lower().replace("-", "_")
        if key == "momentum":
            kw.setdefault("momentum", 0.9)
            key = "sgd"
        elif key == "nesterov":
            kw.setdefault("momentum", 0.9)
            kw["nesterov"] = True
            key = "sgd"
        if key in OPTIMIZERS:
            try:
                return OPTIMIZERS[key](params, **kw)
            except TypeError as exc:
                raise ConfigError(f"bad setting for optimizer {spec!r}: {exc}") from None
    raise ConfigError(
        f"unknown optimizer {spec!r}; expected one of ['sgd', 'momentum', 'nesterov', 'adam', 'adamw'] "
        "or an Optimizer instance"
    )
