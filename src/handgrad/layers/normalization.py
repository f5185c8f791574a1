r"""Inverted dropout, batch normalisation and layer normalisation, each with its backward pass derived by hand.

Samples run along the last axis (:mod:`handgrad.layers.base`): a dense batch is ``(n, N)``, an
image batch ``(C, H, W, N)``. None of these layers changes the shape: ``out_shape = in_shape``.

Dropout (``dropout(p)``), training only::

    a_l = a_{l-1} ∘ m / (1 − p),  m ~ Bernoulli(1 − p) elementwise     (*in_shape, N)
    dJ/da_{l-1} = dJ/da_l ∘ m / (1 − p)

Batch normalisation (``batchnorm``), per feature ``c`` (a row of a dense batch, a channel of an
image batch) over the ``m`` values the batch gives it (``m = N``, or ``m = H·W·N``)::

    μ = (1/m) Σ x,  σ² = (1/m) Σ (x − μ)²,  x̂ = (x − μ) / sqrt(σ² + ε),  a = γ ∘ x̂ + β
    dJ/dγ = Σ g ∘ x̂,  dJ/dβ = Σ g,  dx̂ = g ∘ γ
    dJ/dx = (1/m) (1/sqrt(σ² + ε)) (m dx̂ − Σ dx̂ − x̂ Σ (dx̂ ∘ x̂))

with ``g = dJ/da_l`` and the sums over the feature's ``m`` values. Layer normalisation
(``layernorm``) is the same map per sample over its ``D`` features (every non-batch axis).
The full derivation: ``docs/derivation.md`` (the section on normalisation).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError
from .base import Layer, ParamSpec, Shape, register, shape_error


def _number(layer: str, what: str, text, low: float, high: float, *, low_open=False, high_open=False) -> float:
    """``text`` (a string from a specification, or a number) read as a float inside the given range."""
    try:
        value = float(str(text).strip())
    except ValueError:
        value = math.nan
    ok = math.isfinite(value) and (value > low if low_open else value >= low)
    ok = ok and (value < high if high_open else value <= high)
    if not ok:
        rng = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        rng = rng.replace("inf", "∞")
        raise ConfigError(f"{layer}: {what} must be a number in {rng}, got {text!r}")
    return value


_ONES: dict[tuple[int, np.dtype], np.ndarray] = {}


def _ones(n: int, dtype) -> np.ndarray:
    """A vector of ``n`` ones (cached): ``M @ 1`` sums the rows of ``M``, ``1 @ M`` its columns.

    NOTE: a matrix-vector product runs the sums through BLAS, several times faster than
    ``M.sum(axis=1)`` on a C-ordered ``M`` at these sizes.
    """
    key = (n, np.dtype(dtype))
    v = _ONES.get(key)
    if v is None:
        if len(_ONES) > 64:
            _ONES.clear()
        v = _ONES[key] = np.ones(n, dtype)
        v.flags.writeable = False
    return v


class _Buffers:
    """Work arrays per batch shape and dtype, allocated once (a few shapes kept: the batch, the last one, predict's)."""

    def __init__(self):
        self._by_shape: dict[tuple, dict[str, np.ndarray]] = {}

    def __call__(self, shape: tuple, dtype) -> dict[str, np.ndarray]:
        key = (shape, np.dtype(dtype))
        bufs = self._by_shape.get(key)
        if bufs is None:
            if len(self._by_shape) >= 4:
                self._by_shape.clear()
            bufs = self._by_shape[key] = {}
        return bufs

    @staticmethod
    def get(bufs: dict[str, np.ndarray], name: str, shape: tuple, dtype) -> np.ndarray:
        out = bufs.get(name)
        if out is None:
            out = bufs[name] = np.empty(shape, dtype)
        return out


def _show(x: float) -> str:
    """A float as it parses back exactly (``0.2``, ``1e-05``)."""
    return repr(float(x))


# ===================================================================================== dropout
class Dropout(Layer):
    r"""Inverted dropout: ``dropout(p)`` in a specification.

    While training each value is kept with probability ``1 − p`` and scaled by ``1/(1 − p)``
    (so its expectation is unchanged), else set to 0; in inference the layer is the identity.
    The masks are drawn from the generator given by :meth:`reseed` (the stack derives it from
    its ``random_state``, so the same seed gives the same masks).

    Parameters
    ----------
    p : float or str
        The probability of dropping a value, ``0 <= p < 1``.
    """

    kind = "dropout"
    has_training_mode = True

    def __init__(self, p):
        self.p = _number("dropout", "the drop probability p", p, 0.0, 1.0, high_open=True)
        self._rng = np.random.default_rng(0)
        self._buffers = _Buffers()
        self._mask: np.ndarray | None = None  # m / (1 − p) of the last training forward, None after inference

    def reseed(self, rng: np.random.Generator) -> None:
        self._rng = rng

    def forward(self, a, params, training):
        """``a_l`` (*in_shape, N) from ``a_{l-1}`` (*in_shape, N); a new array while training, ``a`` itself otherwise."""
        if not training or self.p == 0.0:
            self._mask = None
            return a  # inference: the identity
        # NOTE: one uniform draw per value, turned in place into the scaled mask m / (1 − p):
        # u >= p has probability 1 − p (m = 1, kept), u < p has probability p (m = 0, dropped).
        bufs = self._buffers(a.shape, a.dtype)
        mask = self._rng.random(a.shape, dtype=a.dtype, out=_Buffers.get(bufs, "mask", a.shape, a.dtype))
        np.greater_equal(mask, self.p, out=mask)
        mask *= 1.0 / (1.0 - self.p)
        self._mask = mask
        return np.multiply(a, mask, out=_Buffers.get(bufs, "a", a.shape, a.dtype))  # a_l = a_{l-1} ∘ m / (1 − p)

    def backward(self, grad_out, params, grads, need_input):
        """``dJ/da_{l-1}`` (*in_shape, N) from ``dJ/da_l`` (*in_shape, N) (``grad_out`` overwritten while training)."""
        if not need_input:
            return None
        if self._mask is None:
            return grad_out  # the identity's Jacobian
        if not grad_out.flags.writeable:
            return grad_out * self._mask
        grad_out *= self._mask  # dJ/da_{l-1} = dJ/da_l ∘ m / (1 − p)
        return grad_out

    def spec(self) -> str:
        return f"dropout({_show(self.p)})"

    def config(self) -> dict:
        return {"p": self.p}

    def derivation(self, l: int) -> list[str]:
        q = _show(1.0 - self.p)
        return [
            f"**Layer {l}: dropout({_show(self.p)})** (inverted dropout), no parameters.",
            "",
            f"- forward, training: $a_{l} = a_{{{l - 1}}} \\circ m_{l} / {q}$ with $m_{l}$ of 0s and 1s, "
            f"each 1 with probability ${q}$, drawn for every batch; inference: $a_{l} = a_{{{l - 1}}}$",
            f"- $\\frac{{\\partial J}}{{\\partial a_{{{l - 1}}}}} = \\frac{{\\partial J}}{{\\partial a_{l}}} \\circ m_{l} / {q}$ "
            f"(training; the same mask as the forward pass), $\\frac{{\\partial J}}{{\\partial a_{l}}}$ in inference",
        ]


# ===================================================================================== normalisation
class BatchNorm(Layer):
    r"""Batch normalisation: ``batchnorm`` or ``batchnorm(momentum=0.1,eps=1e-05)`` in a specification.

    Per feature (input ``(n,)``: torch's ``BatchNorm1d``) or per channel (input ``(C, H, W)``:
    ``BatchNorm2d``, statistics over ``H``, ``W`` and the batch). Training normalises with the
    batch's mean and (biased) variance and updates the running statistics as torch does::

        running_mean ← (1 − momentum) running_mean + momentum μ
        running_var  ← (1 − momentum) running_var  + momentum σ² m/(m − 1)    (unbiased)

    Inference normalises with the running statistics. Parameters ``gamma`` (role "scale", ones)
    and ``beta`` (role "shift", zeros) of shape ``(C,)`` or ``(n,)``; the running statistics are
    the layer's :meth:`state` (kept in float64, saved in model files).

    NOTE: a training batch that gives a feature a single value (``m = 1``: a dense batch of one
    sample) has ``x − μ = 0`` and ``σ² = 0``, so ``x̂ = 0``, ``a = β`` and ``dJ/dx = 0`` — finite,
    no NaN (torch raises instead). The running mean is updated; the running variance is left as
    it was, since the unbiased variance of one value is 0/0.
    """

    kind = "batchnorm"
    has_training_mode = True

    def __init__(self, momentum=0.1, eps=1e-5):
        self.momentum = _number("batchnorm", "momentum", momentum, 0.0, 1.0)
        self.eps = _number("batchnorm", "eps", eps, 0.0, math.inf, low_open=True, high_open=True)
        self.running_mean = np.zeros(0)
        self.running_var = np.ones(0)
        self._buffers = _Buffers()

    def build(self, in_shape: Shape) -> Shape:
        in_shape = tuple(int(d) for d in in_shape)
        if len(in_shape) not in (1, 3):
            raise shape_error(self, in_shape, "n (features) or CxHxW (channels of images)")
        self.in_shape = self.out_shape = in_shape
        self.C = in_shape[0]
        self.running_mean = np.zeros(self.C)
        self.running_var = np.ones(self.C)
        return self.out_shape

    def parameter_specs(self) -> list[ParamSpec]:
        return [ParamSpec("gamma", (self.C,), "scale"), ParamSpec("beta", (self.C,), "shift")]

    def state(self) -> dict[str, np.ndarray]:
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.running_mean = np.array(state["running_mean"], dtype=np.float64).reshape(self.C)
        self.running_var = np.array(state["running_var"], dtype=np.float64).reshape(self.C)

    def forward(self, a, params, training):
        """``a_l`` (*in_shape, N) from ``a_{l-1}`` = x (*in_shape, N)."""
        if a.shape[:-1] != self.in_shape:
            raise shape_error(self, a.shape[:-1], "x".join(map(str, self.in_shape)))
        shape = a.shape
        x = a.reshape(self.C, -1)  # (C, m): feature c's m values in row c (m = N, or H·W·N)
        m = x.shape[1]
        dtype = a.dtype
        gamma, beta = params["gamma"], params["beta"]
        bufs = self._buffers(x.shape, dtype)
        xhat = _Buffers.get(bufs, "xhat", x.shape, dtype)
        if training:
            mu = (x @ _ones(m, dtype)) * (1.0 / m)  # μ = (1/m) Σ x (C,)
            np.subtract(x, mu[:, None], out=xhat)  # x − μ (C, m)
            var = np.einsum("ij,ij->i", xhat, xhat) / m  # σ² = (1/m) Σ (x − μ)², biased (C,)
            inv_std = 1.0 / np.sqrt(var + dtype.type(self.eps))  # 1/sqrt(σ² + ε) (C,)
            xhat *= inv_std[:, None]  # x̂ (C, m)
            k = self.momentum
            self.running_mean = (1.0 - k) * self.running_mean + k * mu.astype(np.float64)
            if m > 1:  # NOTE: see the class docstring for m = 1
                unbiased = var.astype(np.float64) * (m / (m - 1))
                self.running_var = (1.0 - k) * self.running_var + k * unbiased
        else:
            # x̂ = (x − running_mean)/sqrt(running_var + ε); the statistics are float64, cast once (C,)
            inv_std = (1.0 / np.sqrt(self.running_var + self.eps)).astype(dtype)
            np.subtract(x, self.running_mean.astype(dtype)[:, None], out=xhat)
            xhat *= inv_std[:, None]
        self._xhat, self._inv_std, self._training, self._m, self._bufs = xhat, inv_std, training, m, bufs
        out = np.multiply(xhat, gamma[:, None], out=_Buffers.get(bufs, "a", x.shape, dtype))  # a = γ ∘ x̂ + β
        out += beta[:, None]
        return out.reshape(shape)

    def backward(self, grad_out, params, grads, need_input):
        """Writes ``dJ/dγ``, ``dJ/dβ`` (C,); returns ``dJ/da_{l-1}`` (*in_shape, N) from ``g = dJ/da_l`` (*in_shape, N)."""
        shape = grad_out.shape
        g = grad_out.reshape(self.C, -1)  # (C, m)
        xhat, m = self._xhat, self._m
        sum_g = g @ _ones(m, g.dtype)  # Σ g (C,)
        sum_g_xhat = np.einsum("ij,ij->i", g, xhat)  # Σ g ∘ x̂ (C,)
        grads["beta"][...] = sum_g  # dJ/dβ = Σ g
        grads["gamma"][...] = sum_g_xhat  # dJ/dγ = Σ g ∘ x̂
        if not need_input:
            return None
        gamma_inv_std = (params["gamma"] * self._inv_std)[:, None]  # γ / sqrt(σ² + ε) (C, 1)
        if not self._training:
            # inference: μ and σ² are constants, x̂ is affine in x: dJ/dx = g ∘ γ / sqrt(running_var + ε)
            return np.multiply(g, gamma_inv_std, out=g if g.flags.writeable else None).reshape(shape)
        # training: through the batch mean and variance as well. With dx̂ = g ∘ γ the derivation's
        #   dJ/dx = (1/m)(1/sqrt(σ²+ε))(m dx̂ − Σ dx̂ − x̂ ∘ Σ(dx̂ ∘ x̂));
        # γ is constant over the m values, so Σ dx̂ = γ Σ g and Σ dx̂ ∘ x̂ = γ Σ g ∘ x̂, and
        #   dJ/dx = γ/sqrt(σ²+ε) ∘ (g − Σ g / m − x̂ ∘ Σ(g ∘ x̂) / m)      (C, m), in place on g
        if not g.flags.writeable:
            g = g.copy()
        g -= (sum_g * (1.0 / m))[:, None]
        tmp = _Buffers.get(self._bufs, "tmp", xhat.shape, xhat.dtype)
        g -= np.multiply(xhat, (sum_g_xhat * (1.0 / m))[:, None], out=tmp)
        g *= gamma_inv_std
        return g.reshape(shape)

    def spec(self) -> str:
        args = []
        if self.momentum != 0.1:
            args.append(f"momentum={_show(self.momentum)}")
        if self.eps != 1e-5:
            args.append(f"eps={_show(self.eps)}")
        return "batchnorm" + (f"({','.join(args)})" if args else "")

    def config(self) -> dict:
        return {"momentum": self.momentum, "eps": self.eps}

    def derivation(self, l: int) -> list[str]:
        over = "the batch" if len(self.in_shape) == 1 else "its $H \\cdot W$ positions and the batch"
        what = "feature" if len(self.in_shape) == 1 else "channel"
        m = "N" if len(self.in_shape) == 1 else f"{self.in_shape[1] * self.in_shape[2]} N"
        eps = _show(self.eps)
        return [
            f"**Layer {l}: {self.spec()}**, per {what} over {over} ($m = {m}$ values), "
            f"$\\gamma_{l}$ and $\\beta_{l}$ of shape ({self.C},).",
            "",
            f"- forward (training): $\\mu = \\frac{{1}}{{m}} \\sum x$, "
            f"$\\sigma^2 = \\frac{{1}}{{m}} \\sum (x - \\mu)^2$, "
            f"$\\hat{{x}} = (x - \\mu) / \\sqrt{{\\sigma^2 + {eps}}}$, "
            f"$a_{l} = \\gamma_{l} \\circ \\hat{{x}} + \\beta_{l}$ with $x = a_{{{l - 1}}}$; "
            "inference: $\\mu$, $\\sigma^2$ are the running statistics",
            f"- $\\frac{{\\partial J}}{{\\partial \\gamma_{l}}} = \\sum \\frac{{\\partial J}}{{\\partial a_{l}}} \\circ \\hat{{x}}$, "
            f"$\\frac{{\\partial J}}{{\\partial \\beta_{l}}} = \\sum \\frac{{\\partial J}}{{\\partial a_{l}}}$ "
            f"(summed over the {what}'s $m$ values)",
            f"- $\\frac{{\\partial J}}{{\\partial a_{{{l - 1}}}}} = \\frac{{1}}{{m \\sqrt{{\\sigma^2 + {eps}}}}} "
            f"\\left(m \\, d\\hat{{x}} - \\sum d\\hat{{x}} - \\hat{{x}} \\circ \\sum (d\\hat{{x}} \\circ \\hat{{x}})\\right)$, "
            f"$d\\hat{{x}} = \\frac{{\\partial J}}{{\\partial a_{l}}} \\circ \\gamma_{l}$ "
            f"(training; in inference $\\frac{{\\partial J}}{{\\partial a_{{{l - 1}}}}} = d\\hat{{x}} / \\sqrt{{\\sigma^2 + {eps}}}$)",
        ]


class LayerNorm(Layer):
    r"""Layer normalisation: ``layernorm`` or ``layernorm(eps=1e-05)`` in a specification.

    Each sample is normalised over all its ``D`` features (every non-batch axis), the same in
    training and inference, as torch's ``LayerNorm(normalized_shape=in_shape)``. Parameters
    ``gamma`` (role "scale", ones) and ``beta`` (role "shift", zeros) of the per-sample shape.
    """

    kind = "layernorm"

    def __init__(self, eps=1e-5):
        self.eps = _number("layernorm", "eps", eps, 0.0, math.inf, low_open=True, high_open=True)
        self._buffers = _Buffers()

    def build(self, in_shape: Shape) -> Shape:
        self.in_shape = self.out_shape = tuple(int(d) for d in in_shape)
        self.D = int(np.prod(self.in_shape))
        return self.out_shape

    def parameter_specs(self) -> list[ParamSpec]:
        return [ParamSpec("gamma", self.in_shape, "scale"), ParamSpec("beta", self.in_shape, "shift")]

    def forward(self, a, params, training):
        """``a_l`` (*in_shape, N) from ``a_{l-1}`` = x (*in_shape, N)."""
        if a.shape[:-1] != self.in_shape:
            raise shape_error(self, a.shape[:-1], "x".join(map(str, self.in_shape)))
        shape = a.shape
        x = a.reshape(self.D, -1)  # (D, N): sample i's D features in column i
        D = self.D
        bufs = self._buffers(x.shape, a.dtype)
        mu = (_ones(D, a.dtype) @ x) * (1.0 / D)  # μ = (1/D) Σ x (N,)
        xhat = np.subtract(x, mu, out=_Buffers.get(bufs, "xhat", x.shape, a.dtype))  # x − μ (D, N)
        var = np.einsum("ij,ij->j", xhat, xhat) / D  # σ² (N,), biased
        inv_std = 1.0 / np.sqrt(var + a.dtype.type(self.eps))  # (N,)
        xhat *= inv_std  # x̂ (D, N)
        self._xhat, self._inv_std, self._bufs = xhat, inv_std, bufs
        out = _Buffers.get(bufs, "a", x.shape, a.dtype)
        np.multiply(xhat, params["gamma"].reshape(D, 1), out=out)  # a = γ ∘ x̂ + β
        out += params["beta"].reshape(D, 1)
        return out.reshape(shape)

    def backward(self, grad_out, params, grads, need_input):
        """Writes ``dJ/dγ``, ``dJ/dβ`` (*in_shape); returns ``dJ/da_{l-1}`` (*in_shape, N) from ``g = dJ/da_l``."""
        shape, D = grad_out.shape, self.D
        g = grad_out.reshape(D, -1)  # (D, N)
        N = g.shape[1]
        xhat, inv_std = self._xhat, self._inv_std
        gamma = params["gamma"].reshape(D)
        g_xhat = np.multiply(g, xhat, out=_Buffers.get(self._bufs, "tmp", xhat.shape, xhat.dtype))  # g ∘ x̂ (D, N)
        grads["beta"][...] = (g @ _ones(N, g.dtype)).reshape(self.in_shape)  # dJ/dβ = Σ_i g (over the batch)
        grads["gamma"][...] = (g_xhat @ _ones(N, g.dtype)).reshape(self.in_shape)  # dJ/dγ = Σ_i g ∘ x̂
        if not need_input:
            return None
        # With dx̂ = g ∘ γ, per sample (sums over its D features):
        #   dJ/dx = (1/D)(1/sqrt(σ²+ε))(D dx̂ − Σ dx̂ − x̂ ∘ Σ(dx̂ ∘ x̂))
        #         = (1/sqrt(σ²+ε)) ∘ (g ∘ γ − (Σ dx̂ + x̂ ∘ Σ(dx̂ ∘ x̂)) / D),
        # where Σ dx̂ = γᵀ g and Σ(dx̂ ∘ x̂) = γᵀ (g ∘ x̂) are two matrix-vector products (N,).
        sum_dxhat = gamma @ g  # (N,)
        sum_dxhat_xhat = gamma @ g_xhat  # (N,)
        corr = np.multiply(xhat, sum_dxhat_xhat * (1.0 / D), out=g_xhat)  # x̂ ∘ Σ(dx̂ ∘ x̂)/D (D, N)
        corr += sum_dxhat * (1.0 / D)
        if not g.flags.writeable:
            g = g.copy()
        g *= gamma[:, None]  # dx̂ (D, N), in place
        g -= corr
        g *= inv_std
        return g.reshape(shape)

    def spec(self) -> str:
        return "layernorm" if self.eps == 1e-5 else f"layernorm(eps={_show(self.eps)})"

    def config(self) -> dict:
        return {"eps": self.eps}

    def derivation(self, l: int) -> list[str]:
        eps = _show(self.eps)
        shape = "x".join(map(str, self.in_shape))
        return [
            f"**Layer {l}: {self.spec()}**, per sample over its $D = {self.D}$ features, "
            f"$\\gamma_{l}$ and $\\beta_{l}$ of shape {shape}.",
            "",
            f"- forward: for each sample $x$ (a column of $a_{{{l - 1}}}$), $\\mu = \\frac{{1}}{{D}} \\sum x$, "
            f"$\\sigma^2 = \\frac{{1}}{{D}} \\sum (x - \\mu)^2$, "
            f"$\\hat{{x}} = (x - \\mu) / \\sqrt{{\\sigma^2 + {eps}}}$, $a_{l} = \\gamma_{l} \\circ \\hat{{x}} + \\beta_{l}$",
            f"- $\\frac{{\\partial J}}{{\\partial \\gamma_{l}}} = \\sum_{{i=1}}^{{N}} \\frac{{\\partial J}}{{\\partial a_{l}}} \\circ \\hat{{x}}$, "
            f"$\\frac{{\\partial J}}{{\\partial \\beta_{l}}} = \\sum_{{i=1}}^{{N}} \\frac{{\\partial J}}{{\\partial a_{l}}}$",
            f"- $\\frac{{\\partial J}}{{\\partial a_{{{l - 1}}}}} = \\frac{{1}}{{D \\sqrt{{\\sigma^2 + {eps}}}}} "
            f"\\left(D \\, d\\hat{{x}} - \\sum d\\hat{{x}} - \\hat{{x}} \\circ \\sum (d\\hat{{x}} \\circ \\hat{{x}})\\right)$, "
            f"$d\\hat{{x}} = \\frac{{\\partial J}}{{\\partial a_{l}}} \\circ \\gamma_{l}$ (sums over the sample's $D$ features)",
        ]


register("dropout", Dropout)
register("batchnorm", BatchNorm)
register("layernorm", LayerNorm)
