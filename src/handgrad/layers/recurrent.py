r"""Recurrent layers trained by backpropagation through time: ``rnn(n)`` and ``lstm(n)``.

Orientation (:mod:`handgrad.layers.base`): a sequence batch is ``(T, F, N)``; step ``t``'s
inputs ``x_t`` are the columns ``a[t]`` of shape ``(F, N)``, one column per sample, and every
weight multiplies from the left. The steps are numbered ``t = 1..T`` as in the derivation,
with ``h_0 = 0`` (and ``c_0 = 0`` for the LSTM).

Specification
-------------
``rnn(n)`` / ``lstm(n)``
    The layer returns the last state ``h_T``, ``(n,)`` per sample (``(n, N)`` for the batch):
    ``lstm(16)-dense(10)`` classifies a sequence.
``rnn(n,seq)`` / ``lstm(n,seq)``
    The layer returns every state ``h_1..h_T``, ``(T, n)`` per sample (``(T, n, N)``): a
    sequence again, so that recurrent layers stack (``lstm(32,seq)-lstm(32)-dense(10)``);
    a dense layer after it reads the ``T·n`` numbers flattened.

Simple recurrent layer (``rnn``), parameters ``Wx (n, F)``, ``Wh (n, n)``, ``b (n,)``::

    z_t = Wx x_t + Wh h_{t-1} + b,      h_t = tanh(z_t)                       (n, N)

    backward, t = T..1 (dh_t = dJ/dh_t: from above, plus from step t+1):
    dh_t    = dJ/dh_t|above + Whᵀ delta_{t+1}                                 (n, N)
    delta_t = dh_t ∘ (1 − h_t²)                        (= dJ/dz_t)             (n, N)
    dWx = Σ_t delta_t x_tᵀ,  dWh = Σ_t delta_t h_{t-1}ᵀ,  db = Σ_t delta_t 1
    dJ/dx_t = Wxᵀ delta_t                                                      (F, N)

LSTM (``lstm``), gates stacked in PyTorch's order i, f, g, o: ``Wx (4n, F)``, ``Wh (4n, n)``,
``b (4n,)`` (one bias: PyTorch's ``bias_ih + bias_hh``)::

    z_t = Wx x_t + Wh h_{t-1} + b = [z^i; z^f; z^g; z^o]                     (4n, N)
    i = σ(z^i),  f = σ(z^f),  g = tanh(z^g),  o = σ(z^o)                      (n, N) each
    c_t = f ∘ c_{t-1} + i ∘ g,      h_t = o ∘ tanh(c_t)

    backward, t = T..1 (dc_t = dJ/dc_t, all paths):
    dh_t = dJ/dh_t|above + Whᵀ delta_{t+1}
    dc_t = dh_t ∘ o ∘ (1 − tanh²(c_t)) + dc_{t+1} ∘ f_{t+1}
    delta_t = [dc_t ∘ g ∘ i(1−i);  dc_t ∘ c_{t-1} ∘ f(1−f);  dc_t ∘ i ∘ (1−g²);  dh_t ∘ tanh(c_t) ∘ o(1−o)]
    dWx = Σ_t delta_t x_tᵀ,  dWh = Σ_t delta_t h_{t-1}ᵀ,  db = Σ_t delta_t 1,  dJ/dx_t = Wxᵀ delta_t

How it runs (speed): the input product ``Wx [x_1 … x_T]`` is ONE matrix product
``(n or 4n, F) @ (F, T·N)`` for all steps; each step then adds one small ``Wh h_{t-1}``. The
backward pass keeps every ``delta_t`` side by side in one ``(n or 4n, T·N)`` array, so
``dWx``, ``dWh``, ``db`` and ``dJ/dx`` are again one product each, after the loop over time;
whatever does not depend on the recursion (the gates' derivatives) is computed for all steps
at once before it. The loop over time is the only Python loop; nothing loops over samples.
Buffers are allocated once per batch width.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .base import Layer, ParamSpec, Shape, positive_int, register, shape_error

_TRUE = ("seq", "true", "1", "yes")
_FALSE = ("last", "false", "0", "no")


def _flag(layer: str, text) -> bool:
    if isinstance(text, (bool, np.bool_)):
        return bool(text)
    word = str(text).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ConfigError(
        f"{layer}: the second argument is 'seq' (return every state h_1..h_T, so that recurrent layers stack) "
        f"or nothing (return h_T); got {text!r}"
    )


class _Recurrent(Layer):
    """What ``rnn`` and ``lstm`` share: the arguments, the shapes, the buffers per batch width."""

    gates = 1  # rows of z_t per unit: 1 (rnn) or 4 (lstm: i, f, g, o)

    def __init__(self, n, seq=False):
        self.n = positive_int(self.kind, "the number of units", n)
        self.seq = _flag(f"{self.kind}({n},...)", seq)
        self._buffers: dict = {}

    def build(self, in_shape: Shape) -> Shape:
        in_shape = tuple(int(d) for d in in_shape)
        if len(in_shape) != 2:
            raise shape_error(self, in_shape, "TxF (T steps of F features: --input-shape 8x8 for 8 rows of 8 pixels)")
        self.in_shape = in_shape
        self.T, self.F = in_shape
        self.out_shape = (self.T, self.n) if self.seq else (self.n,)
        self._buffers = {}
        return self.out_shape

    def _output_words(self, l: int) -> tuple[str, str]:
        """What ``a_l`` is, and where ``dJ/da_l`` enters the recurrence, for :meth:`derivation`."""
        T = self.T
        if self.seq:
            return (
                f"$a_{l} = (h_1, \\dots, h_{{{T}}})$ (all {T} states)",
                f"$\\frac{{\\partial J}}{{\\partial a_{l}}}$ at step $t$",
            )
        return (
            f"$a_{l} = h_{{{T}}}$ (the last state)",
            f"$\\frac{{\\partial J}}{{\\partial a_{l}}}$ at $t = {T}$, 0 before",
        )

    def work_values(self) -> int:
        # every step's pre-activations, states and deltas (4n of each for the LSTM's gates)
        T = self.in_shape[0]
        return super().work_values() + 8 * T * (4 if self.kind == "lstm" else 1) * self.n

    def parameter_specs(self) -> list[ParamSpec]:
        m = self.gates * self.n
        return [
            ParamSpec("Wx", (m, self.F), "weight", fan_in=self.F, fan_out=m),
            ParamSpec("Wh", (m, self.n), "weight", fan_in=self.n, fan_out=m),
            ParamSpec("b", (m,), "bias"),
        ]

    def spec(self) -> str:
        return f"{self.kind}({self.n}{',seq' if self.seq else ''})"

    def config(self) -> dict:
        return {"n": self.n, "seq": self.seq}

    def _buffer(self, N: int, dtype) -> dict:
        key = (N, np.dtype(dtype))
        buf = self._buffers.get(key)
        if buf is None:
            if len(self._buffers) >= 4:  # the training width, the last chunk, predict's chunks: keep a few
                self._buffers.clear()
            buf = self._buffers[key] = self._allocate(N, np.dtype(dtype))
        return buf

    def _output(self, H: np.ndarray) -> np.ndarray:
        """``h_T`` (n, N), or ``h_1..h_T`` as (T, n, N), views of ``H`` (n, T+1, N)."""
        if self.seq:
            return H[:, 1:, :].transpose(1, 0, 2)
        return H[:, self.T, :]

    def _write_gradients(self, buf, params, grads, need_input):
        """After the loop over time: every parameter's gradient from the stacked deltas, one product each.

        ``D`` (m, T·N) holds delta_1..delta_T side by side; ``X`` (F, T·N) the inputs x_1..x_T;
        ``H[:, :T]`` (n, T·N) the states h_0..h_{T-1} (h_0 = 0, so step 1 adds nothing to dWh).
        """
        N, T = buf["N"], self.T
        D = buf["D2"]
        _dot_into(D, buf["X2"].T, grads["Wx"])  # dWx = Σ_t delta_t x_tᵀ               (m, F)
        _dot_into(D, buf["Hprev2"].T, grads["Wh"])  # dWh = Σ_t delta_t h_{t-1}ᵀ       (m, n)
        np.sum(D, axis=1, out=grads["b"])  # db = Σ_t delta_t 1                       (m,)
        if not need_input:
            return None
        dX = buf["dX"]
        np.dot(params["Wx"].T, D, out=dX)  # dJ/dx_t = Wxᵀ delta_t, all steps        (F, T·N)
        return dX.reshape(self.F, T, N).transpose(1, 0, 2)  # (T, F, N)

    def _read_input(self, buf, a):
        """Copy the batch ``a`` (T, F, N) to ``X`` (F, T, N): x_1..x_T side by side as the columns of (F, T·N)."""
        np.copyto(buf["X"], a.transpose(1, 0, 2))


def _dot_into(x: np.ndarray, y: np.ndarray, target: np.ndarray) -> None:
    """``target[...] = x @ y``, written in place where ``target`` is C-contiguous (the flat gradient's views are)."""
    if target.flags.c_contiguous:
        np.dot(x, y, out=target)
    else:
        target[...] = np.dot(x, y)


def _common_buffers(layer: _Recurrent, N: int, dtype, m: int) -> dict:
    T, F, n = layer.T, layer.F, layer.n
    buf = {"N": N}
    buf["X"] = np.empty((F, T, N), dtype)
    buf["X2"] = buf["X"].reshape(F, T * N)
    # H[:, t] = h_t for t = 0..T; h_0 = 0 written once here and never overwritten
    buf["H"] = H = np.zeros((n, T + 1, N), dtype)
    buf["Hprev2"] = H.reshape(n, (T + 1) * N)[:, : T * N]  # h_0..h_{T-1} side by side, a view
    buf["h"] = [H[:, t, :] for t in range(T + 1)]
    buf["D"] = D = np.empty((m, T, N), dtype)  # D[:, t-1] = delta_t
    buf["D2"] = D.reshape(m, T * N)
    buf["delta"] = [None] + [D[:, t - 1, :] for t in range(1, T + 1)]
    buf["tmp"] = np.empty((m, N), dtype)
    buf["dh"] = np.empty((n, N), dtype)
    buf["dX"] = np.empty((F, T * N), dtype)
    return buf


class RNN(_Recurrent):
    r"""A simple (Elman) recurrent layer of ``n`` tanh units: ``h_t = tanh(Wx x_t + Wh h_{t-1} + b)``.

    ``rnn(n)`` in a specification returns ``h_T``; ``rnn(n,seq)`` returns ``h_1..h_T``.
    Input ``(T, F)`` per sample. As ``torch.nn.RNN(F, n, nonlinearity="tanh")`` with
    ``weight_ih = Wx``, ``weight_hh = Wh`` and ``bias_ih + bias_hh = b``.

    Parameters
    ----------
    n : int
        Units (the size of ``h_t``).
    seq : bool or "seq", default False
        Return every state (``(T, n)`` per sample) instead of the last (``(n,)``).
    """

    kind = "rnn"
    gates = 1

    def _allocate(self, N, dtype):
        return _common_buffers(self, N, dtype, self.n)

    # -------------------------------------------------------------------- forward
    def forward(self, a, params, training):
        """``a`` (T, F, N) → ``h_T`` (n, N), or ``h_1..h_T`` (T, n, N) with ``seq``."""
        N = a.shape[-1]
        buf = self._buffer(N, params["Wx"].dtype)
        self._buf = buf
        Wh, b = params["Wh"], params["b"]
        self._read_input(buf, a)
        # z_t = Wx x_t + b for all t at once: one product (n, F) @ (F, T·N); D holds it until the backward pass
        D2 = buf["D2"]
        np.dot(params["Wx"], buf["X2"], out=D2)
        D2 += b[:, None]
        z, h, tmp = buf["delta"], buf["h"], buf["tmp"]
        for t in range(1, self.T + 1):
            np.dot(Wh, h[t - 1], out=tmp)  # Wh h_{t-1}                              (n, N)
            np.add(z[t], tmp, out=h[t])  # z_t = Wx x_t + b + Wh h_{t-1}
            np.tanh(h[t], out=h[t])  # h_t = tanh(z_t)
        return self._output(buf["H"])

    # -------------------------------------------------------------------- backward through time
    def backward(self, grad_out, params, grads, need_input):
        """``dJ/dh_T`` (n, N) (or ``dJ/dh_1..dJ/dh_T`` (T, n, N) with ``seq``) → ``dJ/da`` (T, F, N)."""
        buf = self._buf
        T = self.T
        delta, dh = buf["delta"], buf["dh"]
        WhT = params["Wh"].T
        # tanh'(z_t) = 1 − h_t² for every step at once, into D (its entries become delta_t below)
        D = buf["D"]
        np.square(buf["H"][:, 1:, :], out=D)
        np.subtract(1, D, out=D)
        for t in range(T, 0, -1):
            # dh_t = dJ/dh_t: from above (the layer's output) and from step t+1 through Wh
            if t == T:
                g = grad_out[T - 1] if self.seq else grad_out
            else:
                np.dot(WhT, delta[t + 1], out=dh)  # Whᵀ delta_{t+1}                 (n, N)
                if self.seq:
                    dh += grad_out[t - 1]
                g = dh
            np.multiply(delta[t], g, out=delta[t])  # delta_t = dh_t ∘ (1 − h_t²)  (n, N)
        return self._write_gradients(buf, params, grads, need_input)

    def derivation(self, l: int) -> list[str]:
        n, F, T = self.n, self.F, self.T
        k = l - 1
        out, above = self._output_words(l)
        return [
            f"**Layer {l}: {self.spec()}**, simple recurrent layer over $T = {T}$ steps of {F} features: "
            f"$W_{{x,{l}}}$ of shape ({n}, {F}), $W_{{h,{l}}}$ of shape ({n}, {n}), $b_{l}$ of shape ({n},); "
            f"$x_t$ = step $t$ of $a_{{{k}}}$, $h_0 = 0$.",
            "",
            f"- forward, $t = 1..{T}$: $z_t = W_{{x,{l}}} x_t + W_{{h,{l}}} h_{{t-1}} + b_{l}$, "
            f"$h_t = \\tanh z_t$; {out}",
            f"- backward through time, $t = {T}..1$: "
            f"$\\frac{{\\partial J}}{{\\partial h_t}} = $ {above} $+ W_{{h,{l}}}^T \\delta_{{t+1}}$ "
            f"($\\delta_{{{T + 1}}} = 0$)",
            "- $\\delta_t = \\frac{\\partial J}{\\partial z_t} = \\frac{\\partial J}{\\partial h_t} \\circ (1 - h_t^2)$",
            f"- $\\frac{{\\partial J}}{{\\partial W_{{x,{l}}}}} = \\sum_t \\delta_t x_t^T$, "
            f"$\\frac{{\\partial J}}{{\\partial W_{{h,{l}}}}} = \\sum_t \\delta_t h_{{t-1}}^T$, "
            f"$\\frac{{\\partial J}}{{\\partial b_{l}}} = \\sum_t \\delta_t \\mathbf{{1}}$ (summed over steps and the batch)",
            f"- $\\frac{{\\partial J}}{{\\partial x_t}} = W_{{x,{l}}}^T \\delta_t$ (step $t$ of "
            f"$\\frac{{\\partial J}}{{\\partial a_{{{k}}}}}$)",
        ]


class LSTM(_Recurrent):
    r"""A long short-term memory layer of ``n`` units, gates stacked in PyTorch's order i, f, g, o.

    ``c_t = f ∘ c_{t-1} + i ∘ g``, ``h_t = o ∘ tanh(c_t)`` with ``[i; f; g; o] =
    [σ; σ; tanh; σ](Wx x_t + Wh h_{t-1} + b)``. ``lstm(n)`` returns ``h_T``, ``lstm(n,seq)``
    returns ``h_1..h_T``. As ``torch.nn.LSTM(F, n)`` with ``weight_ih = Wx``, ``weight_hh = Wh``
    and ``bias_ih + bias_hh = b``.

    The forget gate's bias starts at 1 (the other biases at 0): with ``f ≈ σ(1) ≈ 0.73`` instead
    of ``σ(0) = 0.5`` the cell keeps most of its state at the start, so the gradient reaches
    back through more steps before training has learned to remember (Gers, Schmidhuber &
    Cummins 2000; Jozefowicz, Zaremba & Sutskever 2015, "An Empirical Exploration of Recurrent
    Network Architectures", who found it closes most of the gap to the GRU; Keras's
    ``unit_forget_bias=True`` default).

    Parameters
    ----------
    n : int
        Units (the size of ``h_t`` and ``c_t``).
    seq : bool or "seq", default False
        Return every state (``(T, n)`` per sample) instead of the last (``(n,)``).
    """

    kind = "lstm"
    gates = 4

    def initialise(self, params, rng, init):
        super().initialise(params, rng, init)
        params["b"][self.n : 2 * self.n] = 1.0  # the forget gate's bias (see the class docstring)

    def _allocate(self, N, dtype):
        n, T = self.n, self.T
        buf = _common_buffers(self, N, dtype, 4 * n)
        # The gates run as one tanh over all 4n rows: σ(z) = ½ tanh(z/2) + ½, so the σ rows (i, f, o) are
        # scaled by s = ½ before the tanh and mapped by ½ u + ½ after it; g's rows by 1 and u.
        s = np.ones((4 * n, 1), dtype)
        s[: 2 * n] = s[3 * n :] = 0.5
        buf["s"], buf["shift"] = s, np.where(s == 0.5, 0.5, 0.0).astype(dtype)
        buf["Wh_s"] = np.empty((4 * n, n), dtype)
        # The arrays the loop over time reads step by step are step-major, (T, rows, N), so that each step's
        # block is contiguous; D (the deltas, (4n, T, N)) and H stay unit-major for the products after the loop.
        buf["A"] = A = np.empty((T, 4 * n, N), dtype)  # A[t-1] = [i; f; g; o] at step t
        buf["a"] = [None] + [A[t - 1] for t in range(1, T + 1)]
        buf["i"] = [None] + [A[t - 1, :n] for t in range(1, T + 1)]
        buf["f"] = [None] + [A[t - 1, n : 2 * n] for t in range(1, T + 1)]
        buf["g"] = [None] + [A[t - 1, 2 * n : 3 * n] for t in range(1, T + 1)]
        buf["o"] = [None] + [A[t - 1, 3 * n :] for t in range(1, T + 1)]
        # C[t] = c_t (c_0 = 0, never overwritten); TC[t-1] = tanh(c_t)
        buf["C"] = C = np.zeros((T + 1, n, N), dtype)
        buf["c"] = [C[t] for t in range(T + 1)]
        buf["TC"] = TC = np.empty((T, n, N), dtype)
        buf["tc"] = [None] + [TC[t - 1] for t in range(1, T + 1)]
        buf["ig"] = np.empty((n, N), dtype)
        buf["dc"] = np.empty((n, N), dtype)
        # backward: M[t-1] = o_t ∘ (1 − tanh²(c_t)), the path h_t → c_t
        buf["M"] = M = np.empty((T, n, N), dtype)
        buf["m"] = [None] + [M[t - 1] for t in range(1, T + 1)]
        # K = dz-coefficients of every gate, so that delta_t = [dc_t; dc_t; dc_t; dh_t] ∘ K_t (see backward)
        buf["K"] = K = np.empty((T, 4 * n, N), dtype)
        D3 = buf["D"][: 3 * n].reshape(3, n, T, N)
        buf["k_ifg"] = [None] + [K[t - 1, : 3 * n].reshape(3, n, N) for t in range(1, T + 1)]
        buf["k_o"] = [None] + [K[t - 1, 3 * n :] for t in range(1, T + 1)]
        buf["d_ifg"] = [None] + [D3[:, :, t - 1, :] for t in range(1, T + 1)]
        buf["d_o"] = [None] + [buf["D"][3 * n :, t - 1, :] for t in range(1, T + 1)]
        return buf

    # -------------------------------------------------------------------- forward
    def forward(self, a, params, training):
        """``a`` (T, F, N) → ``h_T`` (n, N), or ``h_1..h_T`` (T, n, N) with ``seq``."""
        N = a.shape[-1]
        buf = self._buffer(N, params["Wx"].dtype)
        self._buf = buf
        s, shift = buf["s"], buf["shift"]
        self._read_input(buf, a)
        # s ∘ (Wx x_t + b) for all t at once: one product (4n, F) @ (F, T·N) (into D, free until the
        # backward pass), then into A step-major (the gates overwrite it step by step)
        D, A = buf["D"], buf["A"]
        np.dot(params["Wx"], buf["X2"], out=buf["D2"])
        np.add(D.transpose(1, 0, 2), params["b"][:, None], out=A)
        A *= s
        Wh_s = np.multiply(params["Wh"], s, out=buf["Wh_s"])  # s ∘ Wh, once per batch
        gates, i, f, g, o = buf["a"], buf["i"], buf["f"], buf["g"], buf["o"]
        h, c, tc, tmp, ig = buf["h"], buf["c"], buf["tc"], buf["tmp"], buf["ig"]
        for t in range(1, self.T + 1):
            u = gates[t]  # (4n, N)
            np.dot(Wh_s, h[t - 1], out=tmp)
            u += tmp  # s ∘ z_t, z_t = Wx x_t + Wh h_{t-1} + b
            np.tanh(u, out=u)
            u *= s  # [i; f; g; o] = [σ(z^i); σ(z^f); tanh(z^g); σ(z^o)]: ½ tanh(z/2) + ½ on the σ rows
            u += shift
            np.multiply(f[t], c[t - 1], out=c[t])  # c_t = f ∘ c_{t-1} + i ∘ g     (n, N)
            np.multiply(i[t], g[t], out=ig)
            c[t] += ig
            np.tanh(c[t], out=tc[t])
            np.multiply(o[t], tc[t], out=h[t])  # h_t = o ∘ tanh(c_t)
        return self._output(buf["H"])

    # -------------------------------------------------------------------- backward through time
    def backward(self, grad_out, params, grads, need_input):
        """``dJ/dh_T`` (n, N) (or ``dJ/dh_1..dJ/dh_T`` (T, n, N) with ``seq``) → ``dJ/da`` (T, F, N)."""
        buf = self._buf
        n, T = self.n, self.T
        A, TC, K, M = buf["A"], buf["TC"], buf["K"], buf["M"]
        I, Fg, G, O = A[:, :n], A[:, n : 2 * n], A[:, 2 * n : 3 * n], A[:, 3 * n :]  # (T, n, N) each
        Cprev = buf["C"][:T]  # c_{t-1} for t = 1..T
        # What does not depend on the recursion, for every step at once:
        #   M   = o ∘ (1 − tanh²(c_t))               dh_t → dc_t
        #   K^i = g ∘ i(1−i),  K^f = c_{t-1} ∘ f(1−f),  K^g = i ∘ (1−g²)    dc_t → delta^{i,f,g}_t
        #   K^o = tanh(c_t) ∘ o(1−o)                 dh_t → delta^o_t
        Ki, Kf, Kg, Ko = K[:, :n], K[:, n : 2 * n], K[:, 2 * n : 3 * n], K[:, 3 * n :]
        np.square(TC, out=M)
        np.subtract(1, M, out=M)
        M *= O
        np.subtract(1, I, out=Ki)  # i(1−i) ∘ g
        Ki *= I
        Ki *= G
        np.subtract(1, Fg, out=Kf)  # f(1−f) ∘ c_{t-1}
        Kf *= Fg
        Kf *= Cprev
        np.square(G, out=Kg)  # (1−g²) ∘ i
        np.subtract(1, Kg, out=Kg)
        Kg *= I
        np.subtract(1, O, out=Ko)  # o(1−o) ∘ tanh(c_t)
        Ko *= O
        Ko *= TC
        f, m, k_ifg, k_o = buf["f"], buf["m"], buf["k_ifg"], buf["k_o"]
        delta, d_ifg, d_o = buf["delta"], buf["d_ifg"], buf["d_o"]
        dh, dc, ig = buf["dh"], buf["dc"], buf["ig"]
        WhT = params["Wh"].T
        for t in range(T, 0, -1):
            # dh_t = dJ/dh_t: from above (the layer's output) and from step t+1 through Wh
            if t == T:
                g = grad_out[T - 1] if self.seq else grad_out
            else:
                np.dot(WhT, delta[t + 1], out=dh)  # Whᵀ delta_{t+1}                 (n, N)
                if self.seq:
                    dh += grad_out[t - 1]
                g = dh
            # dc_t = dh_t ∘ o_t ∘ (1 − tanh²(c_t)) + dc_{t+1} ∘ f_{t+1}              (n, N)
            if t == T:
                np.multiply(g, m[t], out=dc)
            else:
                dc *= f[t + 1]
                np.multiply(g, m[t], out=ig)
                dc += ig
            np.multiply(k_ifg[t], dc, out=d_ifg[t])  # delta^{i,f,g}_t = dc_t ∘ K^{i,f,g}_t  (3, n, N)
            np.multiply(k_o[t], g, out=d_o[t])  # delta^o_t = dh_t ∘ K^o_t                (n, N)
        return self._write_gradients(buf, params, grads, need_input)

    def derivation(self, l: int) -> list[str]:
        n, F, T = self.n, self.F, self.T
        k = l - 1
        out, above = self._output_words(l)
        return [
            f"**Layer {l}: {self.spec()}**, LSTM over $T = {T}$ steps of {F} features, gates $i, f, g, o$ stacked: "
            f"$W_{{x,{l}}}$ of shape ({4 * n}, {F}), $W_{{h,{l}}}$ of shape ({4 * n}, {n}), $b_{l}$ of shape ({4 * n},); "
            f"$x_t$ = step $t$ of $a_{{{k}}}$, $h_0 = c_0 = 0$.",
            "",
            f"- forward, $t = 1..{T}$: $z_t = W_{{x,{l}}} x_t + W_{{h,{l}}} h_{{t-1}} + b_{l} = "
            f"[z^i_t; z^f_t; z^g_t; z^o_t]$, $i_t = \\sigma(z^i_t)$, $f_t = \\sigma(z^f_t)$, $g_t = \\tanh z^g_t$, "
            f"$o_t = \\sigma(z^o_t)$",
            f"- $c_t = f_t \\circ c_{{t-1}} + i_t \\circ g_t$, $h_t = o_t \\circ \\tanh c_t$; {out}",
            f"- backward through time, $t = {T}..1$: "
            f"$\\frac{{\\partial J}}{{\\partial h_t}} = $ {above} $+ W_{{h,{l}}}^T \\delta_{{t+1}}$ "
            f"($\\delta_{{{T + 1}}} = 0$)",
            "- $\\frac{\\partial J}{\\partial c_t} = \\frac{\\partial J}{\\partial h_t} \\circ o_t \\circ "
            "(1 - \\tanh^2 c_t) + \\frac{\\partial J}{\\partial c_{t+1}} \\circ f_{t+1}$",
            "- $\\delta_t = \\frac{\\partial J}{\\partial z_t} = "
            "[\\frac{\\partial J}{\\partial c_t} \\circ g_t \\circ i_t (1 - i_t);\\ "
            "\\frac{\\partial J}{\\partial c_t} \\circ c_{t-1} \\circ f_t (1 - f_t);\\ "
            "\\frac{\\partial J}{\\partial c_t} \\circ i_t \\circ (1 - g_t^2);\\ "
            "\\frac{\\partial J}{\\partial h_t} \\circ \\tanh c_t \\circ o_t (1 - o_t)]$",
            f"- $\\frac{{\\partial J}}{{\\partial W_{{x,{l}}}}} = \\sum_t \\delta_t x_t^T$, "
            f"$\\frac{{\\partial J}}{{\\partial W_{{h,{l}}}}} = \\sum_t \\delta_t h_{{t-1}}^T$, "
            f"$\\frac{{\\partial J}}{{\\partial b_{l}}} = \\sum_t \\delta_t \\mathbf{{1}}$ (summed over steps and the batch)",
            f"- $\\frac{{\\partial J}}{{\\partial x_t}} = W_{{x,{l}}}^T \\delta_t$ (step $t$ of "
            f"$\\frac{{\\partial J}}{{\\partial a_{{{k}}}}}$)",
        ]


register("rnn", RNN)
register("lstm", LSTM)
