r"""A compiled training epoch: every mini-batch of an epoch in one Numba call.

The NumPy engine pays Python for every mini-batch: about sixty NumPy calls a
step, each a microsecond or more, while at batch 32 the products of the seed's
network take about as long. :func:`run_epoch` runs the whole pass — for each
mini-batch the forward pass, the loss, backpropagation (§1.3) and the
optimizer's update — inside **one** call of a function compiled by Numba
(``@njit(cache=True, nogil=True)``), with the products through ``np.dot``,
which Numba sends straight to BLAS (``dgemm``/``sgemm``) on contiguous buffers.
The mathematics is the engine's, line for line: the same losses
(:mod:`handgrad.losses`), activations (:mod:`handgrad.activations`) and update
rules (:mod:`handgrad.training.optimizers`), in the same order of operations,
so the results agree with the NumPy engine to rounding (float64: 1e-12
relative; ``tests/test_compiled.py``).

Numba is optional (``pip install "handgrad[fast]"``); it is imported on the
first call, never by ``import handgrad``. The compiled code is cached on disk
(``cache=True``: Numba's ``__pycache__``, or ``NUMBA_CACHE_DIR``), so only the
first call on a machine pays the compilation, a few seconds per dtype.

Orientation and layout
----------------------
As in the engine, inside the kernel a batch is a matrix whose columns are
samples. All parameters live in one flat array ``theta`` — the kernel's own layout, row by row
(the engine's ``Network.theta`` stores the blocks column by column; :func:`pack` and
:func:`unpack` convert, once per epoch in ``training.step``): for ``l = 1..L`` the
augmented block ``[W_l | b_l]`` of shape ``(n_l, n_{l-1} + 1)``, row-major, the
blocks one after another::

    W_l[i, j] = theta[off_l + i (n_{l-1}+1) + j],   b_l[i] = theta[off_l + i (n_{l-1}+1) + n_{l-1}]

The gradient ``grad`` and every optimizer state row (momentum ``velocity``;
Adam's ``m``, ``v``) use the same layout. The biases are folded into the
products (§1.3 with augmented matrices, the activations carrying a last row of
ones)::

    z_l = [W_l | b_l] [a_{l-1}; 1]                      (one product, no bias add)
    [dW_l | db_l] = δ_l [a_{l-1}; 1]ᵀ                    (one product gives both)
    [W_l | b_l]ᵀ δ_l = [W_lᵀ δ_l; b_lᵀ δ_l]             (the first n_{l-1} rows, ∘ σ'(z_{l-1}), are δ_{l-1})

The data stay rows ``X`` of shape ``(n, n_0)`` in C order: each batch's rows are
gathered (in ``order``) into a buffer ``(N, n_0 + 1)`` with a last column of
ones, whose transpose is ``[a_0; 1]``.

Storage orders: OpenBLAS's kernels for small matrices run a product whose left
factor is row-major and right factor column-major up to 2× slower than the other
three combinations (``benchmarks/bench_compiled.py --products``; the docs'
benchmark page). For batches of up to 64 rows the kernel therefore keeps the batch
and each ``[a_l; 1]`` twice, as columns and as rows (a strided copy of ``n_l · N``
numbers), so that every large product is row-major × row-major or column-major ×
anything: 11 % less per epoch at batch 32. From 65 rows on the copies cost more
than they save and are not made (the rows of a product: a half's, when a batch runs in two halves,
below). Either way the results agree to rounding (tested).

Two halves of a batch: where a step's products are large enough for two threads (``train()``'s
``blas_threads`` rule) but not so large that OpenBLAS splits each of them well (:data:`HALVES_UP_TO`),
the kernel computes each batch's gradient as the sum of its two halves', at once on two of Numba's
threads (``prange``), every product on one BLAS thread: 1.2-1.4x faster than every product on two
BLAS threads for the seed's network at batch 256 and 1024 (:func:`split_in_halves`). The batch's
factor ``1/N`` is the whole batch's, so the halves' gradients add up to it; the sum's order differs
from one product's (results agree to rounding; tested).

Numba settings: ``cache=True`` (see above), ``nogil=True`` (a caller may run other
threads meanwhile), ``error_model="numpy"`` (a division by zero gives inf/NaN, as
in NumPy, instead of a check per division that keeps the loops from vectorising:
5× on Adam's update). No ``fastmath`` except in the squared norm's sum (order only).

Codes
-----
The kernel takes small integers for what the engine takes as objects:
:data:`ACTIVATION_CODES`, :data:`LOSS_CODES`, :data:`OPTIMIZER_CODES`, and the
real-valued settings in ``hyper`` (:data:`HYPER`). :func:`codes` builds them
from a :class:`~handgrad.network.Network`, a :class:`~handgrad.losses.Loss` and an
:class:`~handgrad.training.optimizers.Optimizer`, and :func:`applies` says
whether a combination can run compiled.
"""

from __future__ import annotations

import contextlib
import math
import threading

import numpy as np

from ..errors import ConfigError

#: Activation name → code (the formulas are those of :mod:`handgrad.activations`).
ACTIVATION_CODES = {
    "identity": 0,
    "relu": 1,
    "leaky_relu": 2,
    "sigmoid": 3,
    "tanh": 4,
    "softplus": 5,
    "elu": 6,
    "gelu": 7,
}
#: Loss name → code (the formulas are those of :mod:`handgrad.losses`).
LOSS_CODES = {"mse": 0, "mae": 1, "huber": 2, "binary_crossentropy": 3, "softmax_crossentropy": 4}
#: Optimizer → code: plain SGD, SGD with momentum, Nesterov, Adam (L2 decay), AdamW (decoupled decay).
OPTIMIZER_CODES = {"sgd": 0, "momentum": 1, "nesterov": 2, "adam": 3, "adamw": 4}
#: The entries of ``hyper`` (float64): index → meaning.
HYPER = ("weight_decay", "momentum", "beta1", "beta2", "eps", "huber_delta")
_WD, _MU, _B1, _B2, _EPS, _HUBER = range(len(HYPER))
# The kernel's constants in theta's dtype (_constants): indices into its array ``c``.
(
    _C_LR,
    _C_WD,
    _C_MU,
    _C_B1,
    _C_1MB1,
    _C_B2,
    _C_1MB2,
    _C_EPS,
    _C_KEEP,
    _C_ADAM1,
    _C_ADAM2,
    _C_ZERO,
    _C_TWO,
    _C_SCALE,
) = range(14)
_N_CONST = 14
#: Rows of ``state`` each optimizer code needs.
STATE_ROWS = {0: 0, 1: 1, 2: 1, 3: 2, 4: 2}

#: Largest batch for which the kernel also keeps the batch and the activations in a second storage
#: order (see "Storage orders" above; measured).
_COLUMNS_UP_TO = 64
#: Numba's parallel range once :func:`load` has imported Numba (plain ``range`` before: the kernel's
#: functions also run as Python).
prange = range

# Constants of the activations, as handgrad.activations defines them.
_LEAKY = 0.01
_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_K = 0.044715
_LOG2 = math.log(2.0)

_INSTALL = 'the compiled epoch needs Numba and SciPy (whose BLAS Numba calls): pip install "handgrad[fast]"'


# =========================================================================== elementwise pieces
# Scalar functions, compiled by Numba into the kernel (they run as plain Python too).


def _log1p_exp(x):
    """logaddexp(0, x) = log(1 + e^x), as NumPy's logaddexp computes it (no overflow)."""
    if x == 0.0:
        return _LOG2
    if x > 0.0:
        return x + math.log1p(math.exp(-x))
    if x < 0.0:
        return math.log1p(math.exp(x))
    return x  # NaN


def _sigmoid(z):
    """σ(z) = exp(−logaddexp(0, −z)), the engine's overflow-free form."""
    return math.exp(-_log1p_exp(-z))


def _act(code, z):
    """σ(z) for the activation ``code`` (see :mod:`handgrad.activations`)."""
    if code == 0:  # identity
        return z
    if code == 1:  # relu: max(z, 0), NaN stays NaN (as np.maximum)
        return 0.0 if z < 0.0 else z
    if code == 2:  # leaky_relu: z if z > 0 else 0.01 z
        return z if z > 0.0 else _LEAKY * z
    if code == 3:  # sigmoid
        return _sigmoid(z)
    if code == 4:  # tanh
        return math.tanh(z)
    if code == 5:  # softplus: logaddexp(0, z)
        return _log1p_exp(z)
    if code == 6:  # elu: z if z > 0 else e^z − 1 (expm1 of min(z, 0): no overflow)
        return z if z > 0.0 else math.expm1(min(z, 0.0))
    # gelu (tanh approximation): ½ z (1 + tanh(√(2/π) (z + 0.044715 z³)))
    u = _GELU_C * (z + _GELU_K * (z * z * z))
    return 0.5 * z * (1.0 + math.tanh(u))


def _act_deriv(code, z, a):
    """σ'(z), from the output ``a = σ(z)`` where the engine does (relu, sigmoid, tanh)."""
    if code == 0:
        return 1.0
    if code == 1:  # 1[a > 0]
        return 1.0 if a > 0.0 else 0.0
    if code == 2:
        return 1.0 if z > 0.0 else _LEAKY
    if code == 3:  # a (1 − a)
        return a * (1.0 - a)
    if code == 4:  # 1 − a²
        return 1.0 - a * a
    if code == 5:  # sigmoid(z)
        return _sigmoid(z)
    if code == 6:  # 1 if z > 0 else e^z
        return 1.0 if z > 0.0 else math.exp(min(z, 0.0))
    u = _GELU_C * (z + _GELU_K * (z * z * z))
    t = math.tanh(u)
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * _GELU_C * (1.0 + 3.0 * _GELU_K * z * z)


def _activate(code, Z, A, zero):
    """A = σ(Z) elementwise; ``Z``, ``A`` of shape (n_l, N); ``zero`` in their dtype."""
    n, N = Z.shape
    if code == 1:  # the common case, written out so that it vectorises
        for i in range(n):
            for k in range(N):
                z = Z[i, k]
                A[i, k] = zero if z < zero else z  # max(z, 0); NaN stays NaN, as np.maximum
        return
    if code == 0:
        A[:, :] = Z
        return
    for i in range(n):
        for k in range(N):
            A[i, k] = _act(code, Z[i, k])


def _times_sigma_prime(code, D, Z, A, zero):
    """D ∘= σ'(Z) (``A = σ(Z)``), all of shape (n_l, N); identity: nothing to do."""
    if code == 0:
        return
    n, N = D.shape
    if code == 1:  # ReLU: δ ∘ 1[a > 0]
        for i in range(n):
            for k in range(N):
                D[i, k] = D[i, k] if A[i, k] > zero else zero
        return
    for i in range(n):
        for k in range(N):
            D[i, k] *= _act_deriv(code, Z[i, k], A[i, k])


def _loss_and_delta(code, Yhat, Yb, wb, c, weighted, huber_delta, D):
    """Σ_i w_i ℓ_i over the batch, and dJ/dŶ into D.

    Parameters
    ----------
    Yhat : (n_L, N) network output (logits for the cross-entropies)
    Yb : (N, n_L) the batch's target rows
    wb : (N,) the batch's sample weights (read only if ``weighted``)
    c : the constants (_constants); c[_C_SCALE] is 1/N, 1/Σw or the seed's 1/batch_size
    D : (n_L, N) output: ``dJ/dŷ_ik = w_i dℓ/dŷ_ik · scale``
    """
    nL, N = Yhat.shape
    scale = c[_C_SCALE]
    if code == 0 and not weighted:  # MSE, the seed's case: written out so that it vectorises
        two = c[_C_TWO]
        total = 0.0
        for k in range(nL):
            for i in range(N):
                r = Yhat[k, i] - Yb[i, k]  # the seed's error = y_pred - y_true
                total += r * r
                D[k, i] = (two * r) * scale  # dJ/dŶ = 2/N (Ŷ − Y)
        return total
    total = 0.0
    for i in range(N):
        wi = wb[i] if weighted else 1.0
        li = 0.0
        if code == 4:  # softmax cross-entropy over the column (shift-stable)
            m = Yhat[0, i]
            for k in range(1, nL):
                if Yhat[k, i] > m:
                    m = Yhat[k, i]
            s = 0.0
            ysum = 0.0
            for k in range(nL):
                s += math.exp(Yhat[k, i] - m)
                ysum += Yb[i, k]
            lse = math.log(s)
            for k in range(nL):
                shifted = Yhat[k, i] - m
                li += -Yb[i, k] * (shifted - lse)
                # dℓ/dz = softmax(z) Σ_k y_k − y
                g = (math.exp(shifted) / s) * ysum - Yb[i, k]
                D[k, i] = (g * wi) * scale if weighted else g * scale
        else:
            for k in range(nL):
                yh = Yhat[k, i]
                y = Yb[i, k]
                r = yh - y
                if code == 0:  # mse: ℓ = r², dℓ = 2 r
                    li += r * r
                    g = 2.0 * r
                elif code == 1:  # mae: ℓ = |r|, dℓ = sign(r)
                    li += abs(r)
                    g = 1.0 if r > 0.0 else (-1.0 if r < 0.0 else r * 0.0)
                elif code == 2:  # huber
                    ar = abs(r)
                    li += 0.5 * ar * ar if ar <= huber_delta else huber_delta * (ar - 0.5 * huber_delta)
                    g = min(max(r, -huber_delta), huber_delta) if r == r else r
                else:  # binary cross-entropy on logits: ℓ = log(1 + e^z) − y z, dℓ = σ(z) − y
                    li += _log1p_exp(yh) - y * yh
                    g = _sigmoid(yh) - y
                D[k, i] = (g * wi) * scale if weighted else g * scale
        total += li * wi if weighted else li
    return total


def _sq_norm(g):
    """‖g‖² = Σ_p g_p², summed in float64.

    NOTE: not np.dot(g, g): OpenBLAS runs a dot product of this length (≥ 10,000) on all its
    threads, and waking them costs ~50 µs a call, 15 ms an epoch. Compiled with fastmath's
    ``reassoc`` only (the sum may be reordered, so that it vectorises); NaN and inf propagate.
    """
    total = 0.0
    for p in range(g.shape[0]):
        gp = float(g[p])
        total += gp * gp
    return total


# =========================================================================== optimizer updates
# Each updates the slice ``th`` of theta (and its state) from the slice ``g`` of the gradient,
# in exactly the order of operations of optimizers.py. ``c`` holds the constants in theta's
# dtype (see _constants): a float32 step then runs in float32 arithmetic, as NumPy's does with
# Python-float scalars. ``decay``: whether the slice holds weights (decayed) or biases (not).


def _sgd(th, g, c, decay):
    lr, wd = c[_C_LR], c[_C_WD]
    if decay and wd != 0.0:
        for p in range(th.shape[0]):
            th[p] -= (g[p] + th[p] * wd) * lr  # g ← g + λ W;  θ ← θ − lr g
    else:
        for p in range(th.shape[0]):
            th[p] -= g[p] * lr  # θ ← θ − lr g   (the seed's W1 = W1 - learning_rate * dW1)


def _momentum(th, g, vel, c, decay, nesterov):
    lr, wd, mu = c[_C_LR], c[_C_WD], c[_C_MU]
    if not decay:
        wd = c[_C_ZERO]
    for p in range(th.shape[0]):
        gp = g[p] + th[p] * wd if wd != 0.0 else g[p]
        v = vel[p] * mu + gp  # v ← μ v + g
        vel[p] = v
        if nesterov:
            th[p] -= (v * mu + gp) * lr  # θ ← θ − lr (g + μ v)
        else:
            th[p] -= v * lr  # θ ← θ − lr v


def _adam(th, g, m, v, c, decay, decoupled):
    """θ ← θ − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε), with c[_C_ADAM1] = lr/(1 − β1ᵗ), c[_C_ADAM2] = √(1 − β2ᵗ)."""
    b1, omb1, b2, omb2, eps = c[_C_B1], c[_C_1MB1], c[_C_B2], c[_C_1MB2], c[_C_EPS]
    c1, c2, wd = c[_C_ADAM1], c[_C_ADAM2], c[_C_WD]
    if decay and wd != 0.0:
        if decoupled:
            keep = c[_C_KEEP]
            for p in range(th.shape[0]):
                th[p] *= keep  # AdamW: θ ← θ (1 − lr λ)
        else:
            for p in range(th.shape[0]):
                gp = g[p] + th[p] * wd  # L2: g ← g + λ W
                mp = m[p] * b1 + gp * omb1
                vp = v[p] * b2 + (gp * gp) * omb2
                m[p] = mp
                v[p] = vp
                th[p] -= (mp / (math.sqrt(vp) / c2 + eps)) * c1
            return
    for p in range(th.shape[0]):
        gp = g[p]
        mp = m[p] * b1 + gp * omb1  # m ← β1 m + (1 − β1) g
        vp = v[p] * b2 + (gp * gp) * omb2  # v ← β2 v + (1 − β2) g²
        m[p] = mp
        v[p] = vp
        th[p] -= (mp / (math.sqrt(vp) / c2 + eps)) * c1


def _update_range(theta, grad, state, p0, p1, opt_code, c, decay):
    th = theta[p0:p1]
    g = grad[p0:p1]
    if opt_code == 0:
        _sgd(th, g, c, decay)
    elif opt_code == 1 or opt_code == 2:
        _momentum(th, g, state[0, p0:p1], c, decay, opt_code == 2)
    else:
        _adam(th, g, state[0, p0:p1], state[1, p0:p1], c, decay, opt_code == 4)


def _update(theta, grad, state, sizes, opt_code, c):
    """One optimizer step on every parameter; the decay touches the weights only."""
    if c[_C_WD] == 0.0:
        _update_range(theta, grad, state, 0, theta.shape[0], opt_code, c, False)
        return
    off = 0
    for l in range(1, sizes.shape[0]):
        m = sizes[l - 1]
        for i in range(sizes[l]):
            row = off + i * (m + 1)
            _update_range(theta, grad, state, row, row + m, opt_code, c, True)  # W_l[i, :]
            _update_range(theta, grad, state, row + m, row + m + 1, opt_code, c, False)  # b_l[i]
        off += sizes[l] * (m + 1)


def _constants(dtype, lr, hyper, t):
    """The step's constants in theta's dtype (t: the step about to be made, 1-based)."""
    c = np.zeros(_N_CONST, dtype)
    c[_C_LR] = lr
    c[_C_WD] = hyper[_WD]
    c[_C_MU] = hyper[_MU]
    b1, b2 = hyper[_B1], hyper[_B2]
    c[_C_B1] = b1
    c[_C_1MB1] = 1.0 - b1
    c[_C_B2] = b2
    c[_C_1MB2] = 1.0 - b2
    c[_C_EPS] = hyper[_EPS]
    c[_C_KEEP] = 1.0 - lr * hyper[_WD]
    if t > 0:
        c[_C_ADAM1] = lr / (1.0 - b1**t)
        c[_C_ADAM2] = math.sqrt(1.0 - b2**t)
    c[_C_TWO] = 2.0
    return c


# =========================================================================== the epoch


def _layout(sizes, B):
    """Offsets, per layer l = 1..L, of the blocks in theta and of z_l and [a_l; 1] (and the deltas) in their buffers."""
    L = sizes.shape[0] - 1
    offs = np.zeros(L + 1, np.int64)  # block offsets in theta
    zoff = np.zeros(L + 1, np.int64)
    aoff = np.zeros(L + 1, np.int64)
    for l in range(1, L + 1):
        offs[l] = offs[l - 1] + sizes[l] * (sizes[l - 1] + 1)
        zoff[l] = zoff[l - 1] + sizes[l] * B
        aoff[l] = aoff[l - 1] + (sizes[l] + 1) * B
    return offs, zoff, aoff


def _batch_gradient(theta, G, X, Y, w, order, s, N, sizes, act_codes, loss_code, c, huber_delta, columns,
                    zbuf, abuf, atbuf, dbuf, Xb, x0buf, Yb, wb):  # fmt: skip
    """Forward, the loss and backpropagation (§1.3) for the rows ``order[s:s+N]``: ``dJ/dθ`` into ``G``.

    ``c[_C_SCALE]`` is the batch's factor (set by the caller: 1/N or 1/Σw of the *whole* batch, so
    that the gradients of a batch's two halves add up to the batch's). Returns ``Σ_i w_i ℓ_i`` over
    the rows. The buffers (flat, each batch viewing them as (rows, N)) are the caller's: one set per
    concurrent call.
    """
    L = sizes.shape[0] - 1
    n0 = sizes[0]
    nL = sizes[L]
    B = Xb.shape[0]
    weighted = w.shape[0] > 0
    zero = c[_C_ZERO]
    offs, zoff, aoff = _layout(sizes, B)
    doff = aoff  # [W_lᵀ δ_l; b_lᵀ δ_l] has the rows of [a_{l-1}; 1]
    # the batch: rows order[s:s+N] (shuffled, or file order), as rows [x_i, 1] and, for small batches,
    # also as columns [x; 1] (see "Storage orders" in the module docstring)
    X0 = x0buf[: (n0 + 1) * N if columns else 0].reshape(n0 + 1 if columns else 0, N)
    for i in range(N):
        r = order[s + i]
        for k in range(n0):
            Xb[i, k] = X[r, k]
        if columns:
            for k in range(n0):
                X0[k, i] = X[r, k]
            X0[n0, i] = 1.0
        for k in range(nL):
            Yb[i, k] = Y[r, k]
        if weighted:
            wb[i] = w[r]

    # ---- forward (§1.3): z_l = [W_l | b_l] [a_{l-1}; 1];  a_l = σ_l(z_l)
    for l in range(1, L + 1):
        m = sizes[l - 1]
        nl = sizes[l]
        Wb = theta[offs[l - 1] : offs[l]].reshape(nl, m + 1)
        Z = zbuf[zoff[l - 1] : zoff[l - 1] + nl * N].reshape(nl, N)
        if l == 1:
            if columns:
                np.dot(Wb, X0, Z)
            else:
                np.dot(Wb, Xb[:N].T, Z)
        else:
            Aprev = abuf[aoff[l - 2] : aoff[l - 2] + (m + 1) * N].reshape(m + 1, N)
            np.dot(Wb, Aprev, Z)
        Aaug = abuf[aoff[l - 1] : aoff[l - 1] + (nl + 1) * N].reshape(nl + 1, N)
        _activate(act_codes[l - 1], Z, Aaug[:nl], zero)  # (identity: a copy, so that Aaug holds every a_l)
        if l < L:
            Aaug[nl, :] = 1.0  # the row of ones that carries b_{l+1}
            if columns:  # and the same as rows, for [dW_{l+1} | db_{l+1}] = δ_{l+1} [a_l; 1]ᵀ
                AT = atbuf[aoff[l - 1] : aoff[l - 1] + (nl + 1) * N].reshape(N, nl + 1)
                for i in range(N):
                    for k in range(nl + 1):
                        AT[i, k] = Aaug[k, i]

    # ---- the loss and δ_L = dJ/dŶ ∘ σ_L'(z_L)
    ZL = zbuf[zoff[L - 1] : zoff[L - 1] + nL * N].reshape(nL, N)
    AL = abuf[aoff[L - 1] : aoff[L - 1] + nL * N].reshape(nL, N)
    DL = dbuf[doff[L - 1] : doff[L - 1] + nL * N].reshape(nL, N)
    batch_loss = _loss_and_delta(loss_code, AL, Yb, wb, c, weighted, huber_delta, DL)
    _times_sigma_prime(act_codes[L - 1], DL, ZL, AL, zero)

    # ---- backward (§1.3), from the output down to layer 1
    for l in range(L, 0, -1):
        m = sizes[l - 1]
        nl = sizes[l]
        D = dbuf[doff[l - 1] : doff[l - 1] + nl * N].reshape(nl, N)  # δ_l
        Gl = G[offs[l - 1] : offs[l]].reshape(nl, m + 1)
        if l == 1:
            np.dot(D, Xb[:N], Gl)  # [dW_1 | db_1] = δ_1 [x; 1]ᵀ
        else:
            Aprev = abuf[aoff[l - 2] : aoff[l - 2] + (m + 1) * N].reshape(m + 1, N)
            if columns:
                ATprev = atbuf[aoff[l - 2] : aoff[l - 2] + (m + 1) * N].reshape(N, m + 1)
                np.dot(D, ATprev, Gl)  # [dW_l | db_l] = δ_l [a_{l-1}; 1]ᵀ
            else:
                np.dot(D, Aprev.T, Gl)
            Wb = theta[offs[l - 1] : offs[l]].reshape(nl, m + 1)
            Dprev = dbuf[doff[l - 2] : doff[l - 2] + (m + 1) * N].reshape(m + 1, N)
            np.dot(Wb.T, D, Dprev)  # [W_lᵀ δ_l; b_lᵀ δ_l]
            # δ_{l-1} = (W_lᵀ δ_l) ∘ σ_{l-1}'(z_{l-1}): the first m rows
            Zp = zbuf[zoff[l - 2] : zoff[l - 2] + m * N].reshape(m, N)
            _times_sigma_prime(act_codes[l - 2], Dprev[:m], Zp, Aprev[:m], zero)
    return batch_loss


def _two_halves(theta, parts, losses, X, Y, w, order, s, N, sizes, act_codes, loss_code, c, huber_delta, columns,
                zbuf, abuf, atbuf, dbuf, Xb, x0buf, Yb, wb):  # fmt: skip
    """:func:`_batch_gradient` on a batch's two halves at once: ``parts[t]`` and ``losses[t]`` for t = 0, 1.

    Compiled with ``parallel=True``: the ``prange`` runs the halves on two of Numba's threads, each
    with its own buffers (row ``t`` of every buffer argument) and its products on one BLAS thread.
    """
    h = N // 2
    for t in prange(2):
        rows = h if t == 0 else N - h
        losses[t] = _batch_gradient(theta, parts[t], X, Y, w, order, s + t * h, rows, sizes, act_codes, loss_code,
                                    c, huber_delta, columns, zbuf[t], abuf[t], atbuf[t], dbuf[t], Xb[t], x0buf[t],
                                    Yb[t], wb[t])  # fmt: skip


def _sum_halves(grad, parts):
    """grad = parts[0] + parts[1]; returns ‖grad‖², summed in float64 (as :func:`_sq_norm`).

    Compiled with ``parallel=True``: each of two threads sums half of the parameters (a pass over
    every parameter per step: for the 790k of the wide network, about 1 ms on one thread).
    """
    P = grad.shape[0]
    h = P // 2
    totals = np.zeros(2)
    for t in prange(2):
        total = 0.0
        for p in range(t * h, h if t == 0 else P):
            g = parts[0, p] + parts[1, p]
            grad[p] = g
            gp = float(g)
            total += gp * gp
        totals[t] = total
    return totals[0] + totals[1]


def _run_epoch(
    theta, grad, state, X, Y, w, order, batch_size, sizes, act_codes, loss_code, opt_code, hyper, t, lr, seed_den,
    halves,
):  # fmt: skip
    L = sizes.shape[0] - 1
    n = order.shape[0]
    n0 = sizes[0]
    nL = sizes[L]
    dtype = theta.dtype
    B = min(batch_size, n)
    weighted = w.shape[0] > 0
    huber_delta = hyper[_HUBER]
    c = _constants(theta.dtype, lr, hyper, t)
    sets = 2 if halves else 1
    if halves:
        B = B - B // 2  # each half's rows at most
    columns = B <= _COLUMNS_UP_TO  # see "Storage orders" in the module docstring (a product's columns)

    # ---- buffers, allocated once per call, one set per half (flat; each batch views them as (rows, N)).
    # Per layer l = 1..L: z_l (n_l·B); [a_l; 1] ((n_l+1)·B, hidden layers; the output's a_L is n_L·B);
    # the deltas: [W_lᵀ δ_l; b_lᵀ δ_l] ((n_{l-1}+1)·B), whose first n_{l-1} rows become δ_{l-1}; the
    # batch as rows [x_i, 1] (N, n_0 + 1) and, for small batches, also as columns [x; 1]; its targets
    # and weights.
    _, zoff, aoff = _layout(sizes, B)
    zbuf = np.empty((sets, zoff[L]), dtype)
    abuf = np.empty((sets, aoff[L]), dtype)
    atbuf = np.empty((sets, aoff[L] if columns else 0), dtype)  # small batches: [a_l; 1]ᵀ (N, n_l + 1) as well
    dbuf = np.empty((sets, aoff[L]), dtype)
    Xb = np.empty((sets, B, n0 + 1), dtype)
    Xb[:, :, n0] = 1.0
    x0buf = np.empty((sets, (n0 + 1) * B if columns else 0), dtype)
    Yb = np.empty((sets, B, nL), dtype)
    wb = np.empty((sets, B if weighted else 0), dtype)
    parts = np.empty((2 if halves else 0, theta.shape[0]), dtype)  # the halves' gradients
    losses = np.zeros(2)

    loss_sum = 0.0
    weight_sum = 0.0
    sq = 0.0
    n_batches = (n + batch_size - 1) // batch_size
    for b in range(n_batches):  # for i = 1:batch_size:size(X, 1)
        s = b * batch_size
        N = min(batch_size, n - s)
        wsum = 0.0
        if weighted:
            for i in range(N):
                wsum += w[order[s + i]]
        else:
            wsum = N
        # dJ/dŶ's factor: 1/N_b (1/Σw), or the seed's fixed 1/batch_size
        c[_C_SCALE] = 1.0 / (seed_den if seed_den > 0 else wsum)
        if halves and N >= 2:
            _two_halves(theta, parts, losses, X, Y, w, order, s, N, sizes, act_codes, loss_code, c, huber_delta,
                        columns, zbuf, abuf, atbuf, dbuf, Xb, x0buf, Yb, wb)  # fmt: skip
            batch_loss = losses[0] + losses[1]
            sq = _sum_halves(grad, parts)
        else:  # (with halves, a last batch of one row: it fits one half's buffers)
            batch_loss = _batch_gradient(theta, grad, X, Y, w, order, s, N, sizes, act_codes, loss_code, c,
                                         huber_delta, columns, zbuf[0], abuf[0], atbuf[0], dbuf[0], Xb[0],
                                         x0buf[0], Yb[0], wb[0])  # fmt: skip
            sq = _sq_norm(grad)
        if not (math.isfinite(batch_loss) and math.isfinite(sq)):
            return loss_sum, weight_sum, sq, b + 1, t  # no update from this batch
        t += 1
        if opt_code >= 3:  # Adam's bias corrections for step t, computed in float64 as optimizers.py does
            c[_C_ADAM1] = lr / (1.0 - hyper[_B1] ** t)
            c[_C_ADAM2] = math.sqrt(1.0 - hyper[_B2] ** t)
        _update(theta, grad, state, sizes, opt_code, c)
        loss_sum += batch_loss
        weight_sum += wsum
    return loss_sum, weight_sum, sq, 0, t


# =========================================================================== compilation
_KERNELS = (
    "_log1p_exp",
    "_sigmoid",
    "_act",
    "_act_deriv",
    "_activate",
    "_times_sigma_prime",
    "_loss_and_delta",
    "_sgd",
    "_momentum",
    "_adam",
    "_update_range",
    "_update",
    "_constants",
    "_sq_norm",
    "_layout",
    "_batch_gradient",
    "_two_halves",
    "_sum_halves",
    "_run_epoch",
)
_compiled = None

#: Called with the dtype's name (``"float64"``) just before the kernel is *compiled* for it, i.e. not
#: found in Numba's on-disk cache: 10-20 s, once on a machine. None (the default): nothing is said;
#: the command line sets it to say so.
on_compile = None
_ready: set = set()  # dtypes known to be compiled or cached


def _will_compile(kernel, dtype) -> bool:
    """Whether the next call in ``dtype`` compiles the kernel (it is neither in this process nor in
    Numba's cache for this machine). NOTE: reads Numba's cache index through its private attributes;
    where they differ (another Numba version), says False: the notice is a courtesy, not a contract."""
    name = np.dtype(dtype).name
    if name in _ready:
        return False
    _ready.add(name)
    try:
        if any(str(sig[0].dtype) == name for sig in kernel.signatures):
            return False
        magic = kernel.targetctx.codegen().magic_tuple()
        index = kernel._cache._cache_file._load_index()
        return not any(key[1] == magic and str(key[0][0].dtype) == name for key in index)
    except Exception:  # Numba's internals: any failure means "do not know"
        return False


def load():
    """Import Numba and compile the kernel (or load it from the on-disk cache); returns it.

    :func:`run_epoch` calls this on first use. NOTE: Numba's ``np.dot`` calls the BLAS of
    SciPy (``scipy.linalg.cython_blas``), a library apart from NumPy's, loaded here: a
    ``threadpoolctl`` controller made *before* this call does not see it, and a BLAS left at
    its default thread count runs the kernel's small products on every core, several times
    slower. Make the controller (``train(blas_threads=...)``'s) after this call.

    Raises
    ------
    ImportError
        Without Numba, naming the extra that installs it.
    """
    global _compiled
    if _compiled is None:
        try:
            import numba
            import scipy.linalg.cython_blas  # noqa: F401  (the BLAS that Numba's np.dot calls)
        except ImportError:
            raise ImportError(_INSTALL) from None
        g = globals()
        # NOTE: each piece is rebound to its compiled dispatcher *before* the kernel is compiled,
        # so that the kernel's calls resolve to compiled code. cache=True keys the on-disk cache
        # by this file and each function's name: later processes load the machine code.
        g["prange"] = numba.prange
        for name in _KERNELS:
            options = {"fastmath": {"reassoc"}} if name in ("_sq_norm", "_sum_halves") else {}
            if name in ("_two_halves", "_sum_halves"):
                options["parallel"] = True
            g[name] = numba.njit(cache=True, nogil=True, error_model="numpy", **options)(g[name])
        _compiled = g["_run_epoch"]
    return _compiled


#: One epoch in halves at a time in the process: Numba's "workqueue" threading layer (its fallback where
#: neither OpenMP nor TBB is installed) aborts the process when two threads launch parallel regions at
#: once, and two such epochs at once would put four threads on two halves' worth of cores anyway.
_HALVES_LOCK = threading.Lock()

#: Largest matrix product of a step (multiply-adds, ``max n_l·n_{l-1} × batch``) for which the
#: kernel splits batches in halves (:func:`split_in_halves`); above it, BLAS's own threads are faster.
HALVES_UP_TO = 2**24


def split_in_halves(largest_product: int, batch_size: int) -> bool:
    """Whether :func:`run_epoch` should take ``halves=True`` for a step whose largest product is this large.

    ``train()`` asks where BLAS would otherwise spread the products over its threads (its
    ``blas_threads`` rule: not for small products, where waking a second thread costs more than it
    saves, and not with ``blas_threads=None``, which leaves the threads to the user). Measured
    (``docs/benchmarks.md``, "The compiled epoch"; fresh processes, medians of 3): the seed's
    network at batch 256 and 1024 runs 1.2-1.4x faster with two halves of each batch on one BLAS
    thread each than with every product on two; the wide 37-512-512-512-1 network at batch 256
    (products of 67M multiply-adds) runs 0.9-1.0x, as OpenBLAS's threads already split such
    products well: hence up to :data:`HALVES_UP_TO`. Needs two CPUs and batches of two rows.
    """
    import os

    return largest_product < HALVES_UP_TO and batch_size >= 2 and (os.cpu_count() or 1) >= 2


def run_epoch(
    theta: np.ndarray,
    grad: np.ndarray,
    state: np.ndarray,
    X: np.ndarray,
    Y: np.ndarray,
    w: np.ndarray,
    order: np.ndarray,
    batch_size: int,
    sizes: np.ndarray,
    act_codes: np.ndarray,
    loss_code: int,
    opt_code: int,
    hyper: np.ndarray,
    t: int,
    lr: float,
    seed_denominator: int = 0,
    halves: bool = False,
) -> tuple[float, float, float, int, int]:
    """One epoch of mini-batch training, compiled: forward, loss, §1.3, update, for every batch.

    Updates ``theta``, ``grad`` and ``state`` in place. Nothing is checked here beyond
    what Numba's typing checks: the caller (the engine) validates once per ``train`` call.
    NOTE: Numba compiles one specialisation per combination of argument types; the cached
    ones are those of the types below (theta's float dtype for every float array, ``w`` too
    when empty; int64 ``order``, ``sizes``, ``act_codes``; C-ordered ``X``, ``Y``). Another
    dtype or memory order works but compiles anew (seconds, once per machine).

    Parameters
    ----------
    theta : ndarray of shape (n_params,)
        ``[W_l | b_l]`` for l = 1..L, row-major, one after the other (module docstring).
    grad : ndarray of shape (n_params,)
        Scratch, same dtype and layout; holds the last batch's ``dJ/dθ`` on return.
    state : ndarray of shape (STATE_ROWS[opt_code], n_params)
        Optimizer state: ``[velocity]`` (momentum, Nesterov), ``[m, v]`` (Adam, AdamW), else 0 rows.
    X : ndarray of shape (n, n_0), C order
    Y : ndarray of shape (n, n_L), C order
    w : ndarray of shape (n,) or (0,)
        Per-row sample weights, or an empty array for none.
    order : ndarray of shape (n,), int64
        The epoch's row order (a permutation, or ``arange(n)``).
    batch_size : int
        Rows per mini-batch; the last has the rest.
    sizes : ndarray of shape (L + 1,), int64
        ``[n_0, ..., n_L]``.
    act_codes : ndarray of shape (L,), int64
        :data:`ACTIVATION_CODES` of σ_1 ... σ_L.
    loss_code, opt_code : int
        :data:`LOSS_CODES`, :data:`OPTIMIZER_CODES`.
    hyper : ndarray of shape (len(HYPER),), float64
        See :data:`HYPER` (:func:`codes` fills it).
    t : int
        Optimizer steps taken so far (Adam's bias correction uses ``t + 1`` for the next step).
    lr : float
    seed_denominator : int, default 0
        0: each batch's gradient is the mean over its own rows (``Σw`` of its rows if
        weighted); ``k > 0``: the seed's fixed ``1/k`` (also on a short last batch).
    halves : bool, default False
        Each batch's gradient as the sum of its two halves' (rows ``[0, N//2)`` and ``[N//2, N)``),
        computed at once on two of Numba's threads, each half's products on one BLAS thread (the
        caller limits BLAS to one): see :func:`split_in_halves`. Equal to the whole batch's
        gradient to rounding (the order of the sum differs).

    Returns
    -------
    loss_sum : float
        ``Σ_i w_i ℓ_i`` over the rows of the batches that were applied (``J`` of the
        epoch is ``loss_sum / weight_sum``).
    weight_sum : float
        Rows (or their weights) of those batches.
    last_sq_norm : float
        ``‖dJ/dθ‖²`` of the last batch computed.
    bad_batch : int
        1-based index of the first batch whose loss or gradient is non-finite (no update
        made from it, the epoch stopped there), else 0.
    t : int
        The step count after the epoch.
    """
    kernel = load()
    if on_compile is not None and _will_compile(kernel, theta.dtype):
        on_compile(np.dtype(theta.dtype).name)
    threads = None
    with _HALVES_LOCK if halves else contextlib.nullcontext():
        if halves:  # the prange has two iterations: two of Numba's threads, whatever the size of its pool
            import numba

            threads = numba.get_num_threads()
            numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        try:
            loss_sum, weight_sum, sq, bad, t = kernel(
                theta,
                grad,
                state,
                X,
                Y,
                w,
                order,
                int(batch_size),
                sizes,
                act_codes,
                int(loss_code),
                int(opt_code),
                hyper,
                int(t),
                float(lr),
                int(seed_denominator),
                bool(halves),
            )
        finally:
            if threads is not None:
                numba.set_num_threads(threads)
    return float(loss_sum), float(weight_sum), float(sq), int(bad), int(t)


# =========================================================================== from handgrad's objects


def is_kernel_blas(filepath: str) -> bool:
    """Whether the BLAS library at ``filepath`` is SciPy's own (the one Numba's ``np.dot`` calls),
    apart from NumPy's: the OpenBLAS that SciPy's wheels bundle in ``scipy.libs`` (or in SciPy's
    package folder). False where NumPy and SciPy share a system or conda BLAS: then there is one."""
    from pathlib import Path

    parts = Path(filepath).parts
    return "scipy.libs" in parts or "scipy" in parts


def available() -> bool:
    """Whether Numba can be imported (the compiled epoch's only requirement)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def applies(network, loss, optimizer) -> bool:
    """Whether :func:`run_epoch` computes what the NumPy engine would for this combination.

    True for the named activations, losses and the optimizers of
    :mod:`handgrad.training.optimizers`; False for a user-supplied activation or loss.
    """
    try:
        codes(network, loss, optimizer)
    except ConfigError:
        return False
    return True


def codes(network, loss, optimizer) -> tuple[np.ndarray, np.ndarray, int, int, np.ndarray]:
    """``(sizes, act_codes, loss_code, opt_code, hyper)`` for :func:`run_epoch`.

    Parameters
    ----------
    network : Network
    loss : Loss
    optimizer : Optimizer (SGD or Adam)

    Raises
    ------
    ConfigError
        For an activation, loss or optimizer the kernel does not implement.
    """
    from ..activations import ACTIVATIONS
    from ..losses import LOSSES
    from .optimizers import SGD, Adam

    acts = []
    for act in network.activations:
        if ACTIVATIONS.get(act.name) is not act:
            raise ConfigError(f"the compiled epoch has no code for the activation {act.name!r}")
        acts.append(ACTIVATION_CODES[act.name])
    if LOSSES.get(loss.name) is not type(loss):
        raise ConfigError(f"the compiled epoch has no code for the loss {loss!r}")
    hyper = np.zeros(len(HYPER))
    hyper[_HUBER] = getattr(loss, "delta", 1.0)
    if type(optimizer) is SGD:
        hyper[_WD] = optimizer.weight_decay
        hyper[_MU] = optimizer.momentum
        opt_code = 0 if optimizer.momentum == 0 else (2 if optimizer.nesterov else 1)
    elif type(optimizer) is Adam:
        hyper[_WD] = optimizer.weight_decay
        hyper[_B1], hyper[_B2], hyper[_EPS] = optimizer.beta1, optimizer.beta2, optimizer.eps
        opt_code = 4 if optimizer.decoupled else 3
    else:
        raise ConfigError(f"the compiled epoch has no code for the optimizer {optimizer!r}")
    sizes = np.asarray(network.layer_sizes, np.int64)
    return sizes, np.asarray(acts, np.int64), LOSS_CODES[loss.name], opt_code, hyper


def pack(network) -> np.ndarray:
    """The network's parameters as one flat ``theta`` in the layout of the module docstring."""
    parts = [np.concatenate([W, b[:, None]], axis=1).ravel() for W, b in zip(network.weights, network.biases)]
    return np.concatenate(parts)


def unpack(theta: np.ndarray, network) -> None:
    """Copy ``theta`` (layout of the module docstring) into the network's ``W_l``, ``b_l``."""
    off = 0
    for W, b in zip(network.weights, network.biases):
        n, m = W.shape
        block = theta[off : off + n * (m + 1)].reshape(n, m + 1)
        W[...] = block[:, :m]
        b[...] = block[:, m]
        off += n * (m + 1)


def pack_state(optimizer) -> np.ndarray:
    """The optimizer's state slots as ``(rows, n_params)`` in theta's layout (copies)."""
    slots = list(optimizer._slots)
    out = np.zeros((len(slots), sum(p.size for p in optimizer.params)), optimizer.params[0].dtype)
    for r, slot in enumerate(slots):
        views = optimizer.state[slot]
        parts = [
            np.concatenate([views[2 * l], views[2 * l + 1][:, None]], axis=1).ravel() for l in range(len(views) // 2)
        ]
        out[r] = np.concatenate(parts)
    return out


def unpack_state(state: np.ndarray, optimizer) -> None:
    """Copy ``state`` rows back into the optimizer's slots (inverse of :func:`pack_state`)."""
    for r, slot in enumerate(optimizer._slots):
        views = optimizer.state[slot]
        off = 0
        for l in range(len(views) // 2):
            Wv, bv = views[2 * l], views[2 * l + 1]
            n, m = Wv.shape
            block = state[r, off : off + n * (m + 1)].reshape(n, m + 1)
            Wv[...] = block[:, :m]
            bv[...] = block[:, m]
            off += n * (m + 1)
