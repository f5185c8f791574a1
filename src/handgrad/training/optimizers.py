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

from ..errors import ConfigError, ShapeError


def _check_number(name: str, value, *, low: float = 0.0, low_open: bool = False, high: float | None = None) -> float:
    """A finite float in range, or :class:`ConfigError` naming the setting and its value."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    ok = math.isfinite(v) and (v > low if low_open else v >= low) and (high is None or v < high)
    if not ok:
        bound = f"> {low}" if low_open else f">= {low}"
        if high is not None:
            bound += f" and < {high}"
        raise ConfigError(f"{name} must be a finite number {bound}, got {value!r}")
    return v


class Optimizer:
    """Base class: a list of parameter arrays, a learning rate and a step count.

    Parameters
    ----------
    params : iterable of ndarray
        The live arrays to update in place, e.g. ``net.parameters()``
        (``W_l`` of shape ``(n_l, n_{l-1})``, ``b_l`` of shape ``(n_l,)``).
    lr : float
        The learning rate; a schedule sets ``opt.lr`` before each epoch.

    Subclasses implement :meth:`_update` for one parameter and declare their
    per-parameter state arrays in ``_slots`` (e.g. ``("m", "v")``).
    """

    name = "optimizer"
    _slots: tuple[str, ...] = ()

    def __init__(self, params: Iterable[np.ndarray], lr: float):
        self.params: list[np.ndarray] = list(params)
        if not self.params:
            raise ConfigError("the optimizer got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
                raise ConfigError(f"parameter {i} must be a float ndarray, got {type(p).__name__}")
        self.lr = lr
        #: Steps taken so far (t in Adam's bias correction).
        self.t = 0
        #: True for weights (decayed), False for biases: see the module docstring.
        self._decay = [p.ndim >= 2 for p in self.params]
        # State arrays, one per slot and parameter, zero at the start (so the first
        # momentum step gives v = g, as PyTorch's buffer initialisation does).
        self.state: dict[str, list[np.ndarray]] = {s: [np.zeros_like(p) for p in self.params] for s in self._slots}
        # Scratch arrays, one per parameter, so that a step allocates nothing.
        self._tmp = [np.empty_like(p) for p in self.params]

    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _check_number("lr", value)

    def step(self, grads: Iterable[np.ndarray]) -> None:
        """Update every parameter in place from its gradient.

        Parameters
        ----------
        grads : iterable of ndarray
            ``dJ/dθ`` for each parameter, in the order and shapes of ``params``
            (a :class:`handgrad.Gradients` works). Not modified.
        """
        self.t += 1
        n = 0
        for i, g in enumerate(grads):
            if i >= len(self.params) or g.shape != self.params[i].shape:
                raise ShapeError(
                    f"gradient {i} has shape {getattr(g, 'shape', None)}, expected "
                    f"{self.params[i].shape if i < len(self.params) else 'no more gradients'} "
                    f"(one gradient per parameter, in the order of net.parameters())"
                )
            self._update(i, self.params[i], g)
            n += 1
        if n != len(self.params):
            raise ShapeError(f"got {n} gradients for {len(self.params)} parameters")

    def _update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------------ state
    def hyperparameters(self) -> dict:
        """The settings (JSON-able), without the learning rate and step count."""
        return {}

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        """``(arrays, meta)``: state arrays named ``"<slot>.<i>"`` (copies) and JSON-able settings."""
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
        self.momentum = _check_number("momentum", momentum, high=1.0)
        self.nesterov = bool(nesterov)
        self.weight_decay = _check_number("weight_decay", weight_decay)
        if self.nesterov and self.momentum == 0:
            raise ConfigError("nesterov=True needs momentum > 0")
        self._slots = ("velocity",) if self.momentum > 0 else ()
        super().__init__(params, lr)

    def hyperparameters(self) -> dict:
        return {"momentum": self.momentum, "nesterov": self.nesterov, "weight_decay": self.weight_decay}

    def _update(self, i, p, g):
        tmp = self._tmp[i]
        if self.weight_decay and self._decay[i]:
            # L2: g ← g + λ W (into the scratch array: the caller's gradient is not modified)
            np.multiply(p, self.weight_decay, out=tmp)
            tmp += g
            g = tmp
        if self.momentum:
            v = self.state["velocity"][i]
            v *= self.momentum  # v ← μ v + g
            v += g
            if self.nesterov:  # step along g + μ v
                np.multiply(v, self.momentum, out=tmp)
                tmp += g
                g = tmp
            else:
                g = v
        # θ ← θ − lr g   (the seed: W1 = W1 - learning_rate * dW1)
        np.multiply(g, self.lr, out=tmp)
        p -= tmp


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
        self.beta1 = _check_number("beta1", beta1, high=1.0)
        self.beta2 = _check_number("beta2", beta2, high=1.0)
        self.eps = _check_number("eps", eps)
        self.weight_decay = _check_number("weight_decay", weight_decay)
        self.decoupled = bool(decoupled)
        super().__init__(params, lr)
        self._tmp2 = [np.empty_like(p) for p in self.params]

    def hyperparameters(self) -> dict:
        return {
            "beta1": self.beta1,
            "beta2": self.beta2,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
            "decoupled": self.decoupled,
        }

    def step(self, grads: Iterable[np.ndarray]) -> None:
        # The bias corrections depend only on t: computed once per step, not per parameter.
        t = self.t + 1
        self._step_size = self.lr / (1.0 - self.beta1**t)  # lr / (1 − β1ᵗ)
        self._sqrt_bc2 = math.sqrt(1.0 - self.beta2**t)  # √(1 − β2ᵗ)
        super().step(grads)

    def _update(self, i, p, g):
        tmp, tmp2 = self._tmp[i], self._tmp2[i]
        m, v = self.state["m"][i], self.state["v"][i]
        if self.weight_decay and self._decay[i]:
            if self.decoupled:
                p *= 1.0 - self.lr * self.weight_decay  # AdamW: θ ← θ (1 − lr λ)
            else:
                np.multiply(p, self.weight_decay, out=tmp)  # L2: g ← g + λ W
                tmp += g
                g = tmp
        m *= self.beta1  # m ← β1 m + (1 − β1) g
        np.multiply(g, 1.0 - self.beta1, out=tmp2)
        m += tmp2
        v *= self.beta2  # v ← β2 v + (1 − β2) g²
        np.multiply(g, g, out=tmp2)
        tmp2 *= 1.0 - self.beta2
        v += tmp2
        # θ ← θ − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)
        np.sqrt(v, out=tmp2)
        tmp2 /= self._sqrt_bc2
        tmp2 += self.eps
        np.divide(m, tmp2, out=tmp2)
        tmp2 *= self._step_size
        p -= tmp2


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
