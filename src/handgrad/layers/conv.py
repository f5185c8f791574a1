r"""2-D convolution and pooling, batch last: images of shape ``(C, H, W, N)``.

Convolution as one matrix product (im2col)
------------------------------------------
A ``conv(F,KhxKw,stride=s,pad=p)`` layer reads the input ``a_{l-1}`` of shape ``(C, H, W, N)``,
padded with ``p`` zeros on each side, through windows of ``C·kh·kw`` numbers. Gathering every
window as a column (im2col) gives the matrix ``A = im2col(a_{l-1})`` of shape
``(C·kh·kw, H'·W'·N)``::

    A[(c, i, j), (y, x, n)] = a_pad[c, y·s_h + i, x·s_w + j, n]

with ``H' = ⌊(H + 2p_h − k_h) / s_h⌋ + 1`` (likewise ``W'``). The layer is then the seed's
dense layer applied to every window, ``W_l`` of shape ``(F, C·kh·kw)`` (PyTorch's
``weight.reshape(F, -1)``)::

    z_l = W_l A + b_l 1ᵀ            (F, H'·W'·N), read as (F, H', W', N)
    a_l = σ_l(z_l)

and its backward pass is the dense layer's, followed by the transpose of im2col::

    delta_l      = dJ/da_l ∘ σ_l'(z_l)           (F, H'·W'·N)
    dJ/dW_l      = delta_l Aᵀ                     (F, C·kh·kw)
    dJ/db_l      = delta_l 1                      (F,)
    dJ/dA        = W_lᵀ delta_l                   (C·kh·kw, H'·W'·N)
    dJ/da_{l-1}  = col2im(dJ/dA)                  (C, H, W, N)

col2im adds every column entry back to the input pixel it was copied from: a loop over the
``kh·kw`` kernel offsets ``(i, j)``, each adding one strided block (never a loop over samples
or pixels). Pixels in the padding are dropped.

Pooling
-------
``maxpool(k)`` and ``avgpool(k)`` reduce each ``k×k`` window (stride ``k`` unless given; windows
that do not fit are dropped, as PyTorch's floor mode). Max pooling sends ``dJ/da_l`` to the
window's maximum (the first one in row-major order where several are equal, as PyTorch does);
average pooling spreads it evenly, ``1/(kh·kw)`` to each pixel of the window.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..activations import IDENTITY, Activation, get_activation
from ..errors import ConfigError
from .base import Layer, ParamSpec, Shape, positive_int, register, shape_error
from .dense import activation_backward, activation_forward

Pair = tuple[int, int]


# ---------------------------------------------------------------------- arguments
def _pair(layer: str, what: str, text, minimum: int = 1) -> Pair:
    """``3`` / ``"3"`` → (3, 3); ``"3x5"`` / (3, 5) → (3, 5); ConfigError naming ``layer`` and ``text`` otherwise."""
    if isinstance(text, (tuple, list)):
        parts = [str(t) for t in text]
    else:
        parts = str(text).lower().replace("×", "x").split("x")
    values = []
    for part in parts:
        part = part.strip()
        try:
            value = int(part)
        except ValueError:
            value = None
        if value is None or value < minimum or str(value) != part.lstrip("+") or len(parts) > 2:
            kind = "positive integer" if minimum == 1 else "non-negative integer"
            raise ConfigError(f"{layer}: {what} must be a {kind} or two joined by 'x' (3 or 3x5), got {text!r}")
        values.append(value)
    return (values[0], values[0]) if len(values) == 1 else (values[0], values[1])


def _show(pair: Pair) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def _windows(x: np.ndarray, kernel: Pair, stride: Pair, out_hw: Pair) -> np.ndarray:
    """The strided view ``v[c, i, j, y, x, n] = x[c, y·s_h + i, x·s_w + j, n]`` of ``x`` (C, H, W, N).

    Shape ``(C, kh, kw, H', W', N)``; no copy. Read-only unless the windows do not overlap.
    """
    sc, sh, sw, sn = x.strides
    C, N = x.shape[0], x.shape[-1]
    return as_strided(
        x,
        shape=(C, kernel[0], kernel[1], out_hw[0], out_hw[1], N),
        strides=(sc, sh, sw, sh * stride[0], sw * stride[1], sn),
        writeable=False,
    )


def _index(stride: int, var: str, offset: str, pad: int = 0) -> str:
    """The input index ``stride·var + offset − pad`` read by an output position, in LaTeX (``2y+i-1``, ``y+i``)."""
    return f"{'' if stride == 1 else stride}{var}+{offset}" + (f"-{pad}" if pad else "")


def _out_size(size: int, k: int, s: int) -> int:
    return (size - k) // s + 1


def _image_shape(layer: Layer, in_shape: Shape, need: Pair, padding: Pair = (0, 0)) -> tuple[int, int, int]:
    """``(C, H, W)`` from ``in_shape``; ConfigError (shape_error) unless of rank 3 and large enough."""
    expected = f"CxHxW with H >= {max(1, need[0] - 2 * padding[0])} and W >= {max(1, need[1] - 2 * padding[1])}"
    if len(in_shape) != 3:
        raise shape_error(layer, in_shape, f"{expected} (3 dimensions: channels, height, width)")
    C, H, W = (int(d) for d in in_shape)
    if H + 2 * padding[0] < need[0] or W + 2 * padding[1] < need[1]:
        raise shape_error(layer, in_shape, expected)
    return C, H, W


# ---------------------------------------------------------------------- convolution
class Conv2D(Layer):
    """A 2-D convolution, ``a_l = σ(W_l · im2col(a_{l-1}) + b_l)``; ``conv(F,KxK[,stride=s][,pad=p])`` in a specification.

    Parameters
    ----------
    filters : int
        ``F``, the number of output channels.
    kernel : int or str
        ``kh x kw``: ``3``, ``"3x3"`` or ``"3x5"``.
    stride : int or str, default 1
        ``s`` or ``"s_h x s_w"``.
    pad : int or str, default 0
        Zeros added on each side: ``p``, ``"p_h x p_w"``, or ``"same"`` (stride 1 and odd
        kernels only: the output keeps the input's height and width).
    activation : str or Activation, default "identity"
        σ_l; in a specification the activation written right after it (``conv(8,3x3)-relu``).

    Parameters in the flat buffer: ``W`` of shape ``(F, C·kh·kw)`` (columns in the order
    ``(c, i, j)``, as PyTorch's ``weight.reshape(F, -1)``) and ``b`` of shape ``(F,)``.
    """

    kind = "conv"
    takes_activation = True

    def __init__(self, filters, kernel, stride=1, pad=0, activation="identity"):
        self.filters = positive_int("conv", "the number of filters", filters)
        self.kernel: Pair = _pair("conv", "the kernel size", kernel)
        self.stride: Pair = _pair("conv", "stride", stride)
        self.same = isinstance(pad, str) and pad.strip().lower() == "same"
        if self.same:
            if self.stride != (1, 1) or self.kernel[0] % 2 == 0 or self.kernel[1] % 2 == 0:
                raise ConfigError(
                    f"conv: pad=same needs stride 1 and an odd kernel, got kernel {self.kernel[0]}x{self.kernel[1]} "
                    f"and stride {_show(self.stride)}; give pad=p instead"
                )
            self.pad: Pair = ((self.kernel[0] - 1) // 2, (self.kernel[1] - 1) // 2)
        else:
            self.pad = _pair("conv", "pad", pad, minimum=0)
        self.activation: Activation = get_activation(activation)
        self._buffers: dict = {}

    # ------------------------------------------------------------------ structure
    def build(self, in_shape: Shape) -> Shape:
        self.in_shape = tuple(int(d) for d in in_shape)
        C, H, W = _image_shape(self, self.in_shape, self.kernel, self.pad)
        kh, kw = self.kernel
        self.out_hw = (
            _out_size(H + 2 * self.pad[0], kh, self.stride[0]),
            _out_size(W + 2 * self.pad[1], kw, self.stride[1]),
        )
        self.n_window = C * kh * kw  # C·kh·kw: the length of one window, W_l's columns
        self.out_shape = (self.filters, *self.out_hw)
        self._buffers = {}
        return self.out_shape

    def work_values(self) -> int:
        # the windows (im2col) and their gradient beside the input, z, a and their gradients
        return (
            super().work_values()
            + 2 * self.n_window * self.out_hw[0] * self.out_hw[1]
            + 2 * int(np.prod(self.out_shape))
        )

    def parameter_specs(self) -> list[ParamSpec]:
        return [
            ParamSpec("W", (self.filters, self.n_window), "weight", fan_in=self.n_window, fan_out=self.filters),
            ParamSpec("b", (self.filters,), "bias"),
        ]

    def _buffers_for(self, N: int, dtype) -> dict:
        """Work arrays for a batch of ``N`` columns, allocated once per (N, dtype)."""
        key = (N, np.dtype(dtype).str)
        buf = self._buffers.get(key)
        if buf is None:
            C, H, W = self.in_shape
            (ph, pw), (Ho, Wo) = self.pad, self.out_hw
            M = Ho * Wo * N
            buf = {
                "A": np.empty((self.n_window, M), dtype),  # im2col(a_{l-1})
                "z": np.empty((self.filters, M), dtype),
                "dA": np.empty((self.n_window, M), dtype),  # dJ/dA = W_lᵀ delta_l
                "da_pad": np.empty((C, H + 2 * ph, W + 2 * pw, N), dtype),  # dJ/da_{l-1}, padded
            }
            if ph or pw:
                # The padding's zeros are written once; every batch fills only the interior.
                buf["a_pad"] = np.zeros((C, H + 2 * ph, W + 2 * pw, N), dtype)
            if len(self._buffers) >= 8:  # a few batch widths at a time (train, last batch, predict chunks)
                self._buffers.clear()
            self._buffers[key] = buf
        return buf

    # ------------------------------------------------------------------ the mathematics
    def forward(self, a, params, training):
        """``a_l`` (F, H', W', N) from ``a_{l-1}`` (C, H, W, N)."""
        W, b = params["W"], params["b"]
        C, H, Wd = self.in_shape
        N = a.shape[-1]
        (ph, pw), (Ho, Wo), kh_kw = self.pad, self.out_hw, self.kernel
        buf = self._buffers_for(N, W.dtype)
        if ph or pw:
            a_pad = buf["a_pad"]
            a_pad[:, ph : ph + H, pw : pw + Wd, :] = a
        else:
            a_pad = a
        # A[(c,i,j), (y,x,n)] = a_pad[c, y·s_h + i, x·s_w + j, n]: im2col as one copy from a strided view
        A = buf["A"]
        np.copyto(A.reshape(C, *kh_kw, Ho, Wo, N), _windows(a_pad, kh_kw, self.stride, self.out_hw))
        # z_l = W_l A + b_l 1ᵀ                      (F, H'·W'·N)
        z = buf["z"]
        np.dot(W, A, out=z)
        z += b[:, None]
        self._A, self._N = A, N
        self._z = z.reshape(self.filters, Ho, Wo, N)
        # a_l = σ_l(z_l)
        self._a = activation_forward(self.activation, self._z)
        return self._a

    def backward(self, grad_out, params, grads, need_input):
        """dJ/dW_l, dJ/db_l into ``grads`` from ``grad_out`` = dJ/da_l (F, H', W', N); dJ/da_{l-1} (C, H, W, N)."""
        W = params["W"]
        A, N = self._A, self._N
        F = self.filters
        # delta_l = dJ/da_l ∘ σ_l'(z_l)                                         (F, H'·W'·N)
        delta = activation_backward(self.activation, grad_out, self._z, self._a)
        delta = np.ascontiguousarray(delta, dtype=W.dtype).reshape(F, -1)
        # dJ/dW_l = delta_l Aᵀ (summed over windows and samples)               (F, C·kh·kw)
        gW = grads["W"]
        if gW.flags.c_contiguous and gW.dtype == delta.dtype:
            np.dot(delta, A.T, out=gW)
        else:
            gW[...] = delta @ A.T
        # dJ/db_l = delta_l 1                                                    (F,)
        grads["b"][...] = delta.sum(axis=1)
        if not need_input:
            return None
        buf = self._buffers_for(N, W.dtype)
        # dJ/dA = W_lᵀ delta_l                                                   (C·kh·kw, H'·W'·N)
        dA = buf["dA"]
        np.dot(W.T, delta, out=dA)
        # dJ/da_{l-1} = col2im(dJ/dA): each window's entry back to the pixel it was read from
        return self._col2im(dA, buf["da_pad"], N)

    def _col2im(self, dA: np.ndarray, da_pad: np.ndarray, N: int) -> np.ndarray:
        """Scatter-add ``dA`` (C·kh·kw, H'·W'·N) into ``da_pad`` (C, H+2p_h, W+2p_w, N); the unpadded view of it."""
        C, H, Wd = self.in_shape
        (kh, kw), (sh, sw), (Ho, Wo), (ph, pw) = self.kernel, self.stride, self.out_hw, self.pad
        dA6 = dA.reshape(C, kh, kw, Ho, Wo, N)
        da_pad.fill(0.0)
        # A loop over the kh·kw kernel offsets only: offset (i, j) read a_pad[:, i::s_h, j::s_w] (H'×W' of it).
        for i in range(kh):
            for j in range(kw):
                da_pad[:, i : i + sh * (Ho - 1) + 1 : sh, j : j + sw * (Wo - 1) + 1 : sw, :] += dA6[:, i, j]
        return da_pad[:, ph : ph + H, pw : pw + Wd, :] if (ph or pw) else da_pad

    # ------------------------------------------------------------------ description
    def _pad_text(self) -> str:
        return "same" if self.same else _show(self.pad)

    def spec(self) -> str:
        text = f"conv({self.filters},{self.kernel[0]}x{self.kernel[1]}"
        if self.stride != (1, 1):
            text += f",stride={_show(self.stride)}"
        if self.same or self.pad != (0, 0):
            text += f",pad={self._pad_text()}"
        text += ")"
        return text + ("" if self.activation is IDENTITY else f"-{self.activation.name}")

    def config(self) -> dict:
        return {
            "filters": self.filters,
            "kernel": f"{self.kernel[0]}x{self.kernel[1]}",
            "stride": _show(self.stride),
            "pad": self._pad_text(),
            "activation": self.activation.name,
        }

    def derivation(self, l: int) -> list[str]:
        s = self.activation
        C = self.in_shape[0] if self.in_shape else "C"
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.pad
        Ho, Wo = getattr(self, "out_hw", ("H'", "W'"))
        F, K = self.filters, getattr(self, "n_window", f"{C}·{kh}·{kw}")
        sig = "" if s is IDENTITY else f" ({s.name})"
        p = l - 1
        return [
            f"**Layer {l}: {self.spec().split('-')[0]}{sig}**, $W_{l}$ of shape ({F}, {K}) "
            f"(one row per filter, columns $(c, i, j)$ over {C} channels × {kh}×{kw} offsets), $b_{l}$ of shape ({F},); "
            f"output {F}×{Ho}×{Wo} per sample.",
            "",
            f"- im2col: $A_{{{p}}}[(c,i,j),(y,x,n)] = a_{{{p}}}[c,\\, {_index(sh, 'y', 'i', ph)},\\, {_index(sw, 'x', 'j', pw)},\\, n]$ "
            "(0 outside the image), of shape "
            f"({K}, {Ho}·{Wo}·N)",
            f"- forward: $z_{l} = W_{l} A_{{{p}}} + b_{l} \\mathbf{{1}}^T$, $a_{l} = \\sigma_{l}(z_{l})$"
            + ("" if s is IDENTITY else f" with $\\sigma_{l}(z) = {s.latex}$"),
            f"- $\\delta_{l} = \\frac{{\\partial J}}{{\\partial a_{l}}} \\circ \\sigma_{l}'(z_{l})$"
            + ("" if s is IDENTITY else f", $\\sigma_{l}'(z) = {s.latex_derivative}$"),
            f"- $\\frac{{\\partial J}}{{\\partial W_{l}}} = \\delta_{l} A_{{{p}}}^T$, "
            f"$\\frac{{\\partial J}}{{\\partial b_{l}}} = \\delta_{l} \\mathbf{{1}}$ (summed over positions and the batch)",
            f"- $\\frac{{\\partial J}}{{\\partial a_{{{p}}}}} = \\mathrm{{col2im}}(W_{l}^T \\delta_{l})$: "
            f"$\\frac{{\\partial J}}{{\\partial a_{{{p}}}[c,h,w,n]}} = \\sum_{{(i,j,y,x):\\ {_index(sh, 'y', 'i', ph)}=h,\\ "
            f"{_index(sw, 'x', 'j', pw)}=w}} (W_{l}^T \\delta_{l})[(c,i,j),(y,x,n)]$",
        ]


# ---------------------------------------------------------------------- pooling
class _Pool2D(Layer):
    """What max and average pooling share: the windows, the output shape, the specification."""

    def __init__(self, k, stride=None):
        self.kernel: Pair = _pair(self.kind, "the window size", k)
        self.stride: Pair = self.kernel if stride is None else _pair(self.kind, "stride", stride)
        self._buffers: dict = {}

    def build(self, in_shape: Shape) -> Shape:
        self.in_shape = tuple(int(d) for d in in_shape)
        C, H, W = _image_shape(self, self.in_shape, self.kernel)
        (kh, kw), (sh, sw) = self.kernel, self.stride
        self.out_hw = (_out_size(H, kh, sh), _out_size(W, kw, sw))
        self.out_shape = (C, *self.out_hw)
        # Windows that tile the input exactly: every pixel in exactly one window (maxpool(2) on 8x8).
        self._tiles = (sh, sw) == (kh, kw) and (self.out_hw[0] * sh, self.out_hw[1] * sw) == (H, W)
        self._disjoint = sh >= kh and sw >= kw
        self._buffers = {}
        return self.out_shape

    def _buffers_for(self, N: int, dtype) -> dict:
        key = (N, np.dtype(dtype).str)
        buf = self._buffers.get(key)
        if buf is None:
            C, H, W = self.in_shape
            (kh, kw), (Ho, Wo) = self.kernel, self.out_hw
            buf = {
                "win": np.empty((kh, kw, C, Ho, Wo, N), dtype),  # the windows, offset first
                "da": np.zeros((C, H, W, N), dtype),  # dJ/da_{l-1}
            }
            if len(self._buffers) >= 8:
                self._buffers.clear()
            self._buffers[key] = buf
        return buf

    def _gather(self, a: np.ndarray) -> tuple[dict, np.ndarray]:
        """The windows of ``a`` (C, H, W, N) copied into ``win`` (kh·kw, C·H'·W'·N), offsets along the rows."""
        buf = self._buffers_for(a.shape[-1], a.dtype)
        win = buf["win"]
        np.copyto(win, _windows(a, self.kernel, self.stride, self.out_hw).transpose(1, 2, 0, 3, 4, 5))
        return buf, win.reshape(self.kernel[0] * self.kernel[1], -1)

    def _scatter(self, dwin: np.ndarray, da: np.ndarray) -> np.ndarray:
        """``da`` (C, H, W, N) with each window's ``dwin`` (kh, kw, C, H', W', N) added back to its pixels."""
        (kh, kw), (sh, sw), (Ho, Wo) = self.kernel, self.stride, self.out_hw
        if not self._tiles:
            da.fill(0.0)  # pixels in no window (dropped by floor mode) get 0; overlaps accumulate
        if self._disjoint:
            # No pixel in two windows: one strided copy (the view is writeable because it does not overlap itself).
            s = da.strides
            view = as_strided(
                da, (kh, kw, da.shape[0], Ho, Wo, da.shape[-1]), (s[1], s[2], s[0], s[1] * sh, s[2] * sw, s[3])
            )
            np.copyto(view, dwin)
        else:
            for i in range(kh):
                for j in range(kw):
                    da[:, i : i + sh * (Ho - 1) + 1 : sh, j : j + sw * (Wo - 1) + 1 : sw, :] += dwin[i, j]
        return da

    def spec(self) -> str:
        text = f"{self.kind}({_show(self.kernel)}"
        if self.stride != self.kernel:
            text += f",stride={_show(self.stride)}"
        return text + ")"

    def config(self) -> dict:
        return {"k": _show(self.kernel), "stride": _show(self.stride)}


class MaxPool2D(_Pool2D):
    """Max pooling, ``a_l[c, y, x, n] = max over the window (y, x) of a_{l-1}[c, ·, ·, n]``; ``maxpool(k[,stride=s])``.

    Parameters
    ----------
    k : int or str
        The window, ``k`` or ``"kh x kw"``.
    stride : int or str, default k
        Windows that do not fit in the input are dropped (PyTorch's floor mode).
    """

    kind = "maxpool"

    def forward(self, a, params, training):
        """``a_l`` (C, H', W', N) from ``a_{l-1}`` (C, H, W, N)."""
        buf, win = self._gather(a)
        # a_l = max over the window's kh·kw offsets (the rows of win)
        out = win.max(axis=0)
        self._buf, self._win, self._out = buf, win, out
        return out.reshape(*self.out_shape, a.shape[-1])

    def backward(self, grad_out, params, grads, need_input):
        """dJ/da_{l-1} (C, H, W, N): each window's dJ/da_l to its (first) maximum, 0 elsewhere."""
        if not need_input:
            return None
        win, out = self._win, self._out
        # hit[o] = 1 where offset o holds its window's maximum, keeping only the first (row-major), as PyTorch
        hit = win == out
        taken = hit[0].copy()
        for o in range(1, hit.shape[0]):
            hit[o] &= ~taken
            taken |= hit[o]
        # dJ/da_{l-1}[pixel at offset o of a window] = dJ/da_l[window] · hit[o]
        dwin = hit * grad_out.reshape(-1)
        return self._scatter(dwin.reshape(self._buf["win"].shape), self._buf["da"])

    def derivation(self, l: int) -> list[str]:
        (kh, kw), (sh, sw) = self.kernel, self.stride
        p = l - 1
        return [
            f"**Layer {l}: {self.spec()}**, no parameters; windows {kh}×{kw} every ({sh}, {sw}) pixels.",
            "",
            f"- forward: $a_{l}[c,y,x,n] = \\max_{{0 \\le i < {kh},\\ 0 \\le j < {kw}}} "
            f"a_{{{p}}}[c,\\, {_index(sh, 'y', 'i')},\\, {_index(sw, 'x', 'j')},\\, n]$",
            f"- $\\frac{{\\partial J}}{{\\partial a_{{{p}}}[c,{_index(sh, 'y', 'i')},{_index(sw, 'x', 'j')},n]}} = \\frac{{\\partial J}}{{\\partial a_{l}[c,y,x,n]}}$ "
            "if $(i, j)$ is the window's (first) maximum, 0 otherwise (summed over the windows holding the pixel)",
        ]


class AvgPool2D(_Pool2D):
    """Average pooling, ``a_l[c, y, x, n] = mean over the window (y, x) of a_{l-1}[c, ·, ·, n]``; ``avgpool(k[,stride=s])``.

    Parameters
    ----------
    k : int or str
        The window, ``k`` or ``"kh x kw"``.
    stride : int or str, default k
        Windows that do not fit in the input are dropped (PyTorch's floor mode).
    """

    kind = "avgpool"

    def forward(self, a, params, training):
        """``a_l`` (C, H', W', N) from ``a_{l-1}`` (C, H, W, N)."""
        buf, win = self._gather(a)
        self._buf = buf
        # a_l = (1 / (kh·kw)) Σ over the window's offsets
        out = win.sum(axis=0)
        out *= 1.0 / win.shape[0]
        return out.reshape(*self.out_shape, a.shape[-1])

    def backward(self, grad_out, params, grads, need_input):
        """dJ/da_{l-1} (C, H, W, N): dJ/da_l / (kh·kw) to every pixel of the window (summed where windows overlap)."""
        if not need_input:
            return None
        win_shape = self._buf["win"].shape
        share = grad_out.reshape(win_shape[2:]) * (1.0 / (win_shape[0] * win_shape[1]))
        return self._scatter(np.broadcast_to(share, win_shape), self._buf["da"])

    def derivation(self, l: int) -> list[str]:
        (kh, kw), (sh, sw) = self.kernel, self.stride
        p = l - 1
        return [
            f"**Layer {l}: {self.spec()}**, no parameters; windows {kh}×{kw} every ({sh}, {sw}) pixels.",
            "",
            f"- forward: $a_{l}[c,y,x,n] = \\frac{{1}}{{{kh * kw}}} \\sum_{{0 \\le i < {kh},\\ 0 \\le j < {kw}}} "
            f"a_{{{p}}}[c,\\, {_index(sh, 'y', 'i')},\\, {_index(sw, 'x', 'j')},\\, n]$",
            f"- $\\frac{{\\partial J}}{{\\partial a_{{{p}}}[c,h,w,n]}} = \\frac{{1}}{{{kh * kw}}} "
            f"\\sum_{{(y,x):\\ 0 \\le h-{'' if sh == 1 else sh}y < {kh},\\ 0 \\le w-{'' if sw == 1 else sw}x < {kw}}} \\frac{{\\partial J}}{{\\partial a_{l}[c,y,x,n]}}$",
        ]


register("conv", Conv2D)
register("maxpool", MaxPool2D)
register("avgpool", AvgPool2D)
