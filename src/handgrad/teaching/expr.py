r"""Matrix expressions that print as the seed writes them and evaluate with NumPy.

:mod:`handgrad.teaching.derive` builds every formula of a derivation (the model,
the expanded gradients of §1.2, the deltas of §1.3) as a tree of the nodes
below. The *same* tree is

* rendered to LaTeX (:meth:`Expr.latex`) and to terminal text (:meth:`Expr.text`),
* evaluated on NumPy arrays (:meth:`Expr.evaluate`), which is how
  ``handgrad derive --check`` proves the printed formula rather than the engine,
* shape-checked (:meth:`Expr.shape`): every product must conform, and
* counted (:func:`count_products`, :func:`product_flops`): the literal cost of a
  formula in which every repeated sub-expression is evaluated again.

Orientation as in the engine and the seed: ``X`` is ``(N, n_0)``, ``Xᵀ`` the
batch as columns, ``W_l`` is ``(n_l, n_{l-1})``, ``b_l`` is ``(n_l,)`` and is
added to every column (MATLAB's implicit expansion of ``W1 * x + b1``).

Reading convention (the seed's, and MATLAB's for ``*`` and ``.*``)
-----------------------------------------------------------------
A matrix product (juxtaposition) and the Hadamard product ``∘`` bind equally
and associate left to right, so ``A ∘ B C`` is ``(A ∘ B) C``: the seed's
``(W_3ᵀ (Ŷ − Y)) ∘ σ'(z_2) σ(z_1)ᵀ`` is ``[(W_3ᵀ (Ŷ − Y)) ∘ σ'(z_2)] σ(z_1)ᵀ``.
The printer adds what that convention needs and, like the seed, one thing it
does not: a product standing left of ``∘`` is bracketed, ``(W_3ᵀ (Ŷ − Y)) ∘ …``,
except directly inside the brackets of another product's right operand, where
the seed writes ``W_2ᵀ (W_3ᵀ (Ŷ − Y) ∘ σ'(…))``. With that one rule the seed's
six formulas of §1.2 come out character for character (tests/test_derive.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

# Precedence: sums bind loosest, products (matrix, Hadamard, scalar) next, then atoms.
_SUM, _PRODUCT, _ATOM = 1, 2, 3

_TEXT_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def subscript(index: int | str, latex: bool) -> str:
    """``_1`` / ``_{10}`` in LaTeX, ``₁`` / ``₁₀`` in text."""
    s = str(index)
    if latex:
        return f"_{s}" if len(s) == 1 else f"_{{{s}}}"
    return s.translate(_TEXT_SUBSCRIPTS)


@dataclass(frozen=True)
class _Ctx:
    latex: bool
    #: directly inside the brackets of a matrix product's right operand (see module docstring)
    minimal: bool = False
    #: inside Σ_i over samples, written per sample: Ŷ → ŷ_i, Y → y_i
    per_sample: bool = False

    def plain(self) -> _Ctx:
        """This context without ``minimal``: for an operand not directly inside a product's right brackets."""
        return _Ctx(self.latex, per_sample=self.per_sample)


class Expr:
    """A node of a matrix expression. Subclasses are frozen dataclasses (compared by structure)."""

    prec: int = _ATOM

    # -- rendering
    def latex(self) -> str:
        """The expression in LaTeX (the seed's notation: ``W_1 X^T + b_1``)."""
        return self._render(_Ctx(latex=True))

    def text(self) -> str:
        """The expression in Unicode for a terminal (``W₁ Xᵀ + b₁``)."""
        return self._render(_Ctx(latex=False))

    def _render(self, ctx: _Ctx) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- structure
    def children(self) -> tuple[Expr, ...]:
        return ()

    def walk(self) -> Iterator[Expr]:
        """Every node, this one first, repeated sub-expressions as often as they occur."""
        yield self
        for c in self.children():
            yield from c.walk()

    # -- numbers
    def evaluate(self, env: Env) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def shape(self, env: ShapeEnv) -> tuple:  # pragma: no cover - abstract
        raise NotImplementedError


def _wrap(s: str) -> str:
    return f"({s})"


# ----------------------------------------------------------------- leaves
@dataclass(frozen=True)
class Sym(Expr):
    """A named matrix: ``X``, ``Y``, ``W_l``, ``b_l``, or a defined quantity (``Ŷ``, ``z_l``, ``δ_l``).

    ``sample_latex`` / ``sample_text`` are its column ``i`` (``\\hat{y}_i``), used inside Σ_i.
    """

    key: str
    latex_name: str
    text_name: str
    sample_latex: str | None = None
    sample_text: str | None = None

    def _render(self, ctx):
        if ctx.per_sample and self.sample_latex is not None:
            return self.sample_latex if ctx.latex else self.sample_text
        return self.latex_name if ctx.latex else self.text_name

    def evaluate(self, env):
        return env.lookup(self)

    def shape(self, env):
        return env.lookup(self)


def indexed(key: str, latex_base: str, text_base: str, index: int) -> Sym:
    """``W_1``-style symbol: key ``W1``, LaTeX ``W_1``, text ``W₁``."""
    return Sym(f"{key}{index}", latex_base + subscript(index, True), text_base + subscript(index, False))


# ----------------------------------------------------------------- functions
@dataclass(frozen=True)
class Func:
    """An elementwise function as printed and as computed: ``σ``, ``σ'``, ``sign``, ``softmax`` ...

    ``fn`` maps an array to an array of the same shape (``softmax`` works per column).
    """

    latex_name: str
    text_name: str
    fn: Callable[[np.ndarray], np.ndarray] = field(compare=False)
    key: str = ""
    #: extra arguments printed after the operand: ``clip(Ŷ − Y, -1, 1)``
    latex_args: str = ""
    text_args: str = ""


@dataclass(frozen=True)
class Apply(Expr):
    """``f(arg)``, elementwise."""

    f: Func
    arg: Expr

    def _render(self, ctx):
        inner = self.arg._render(ctx.plain())
        name = self.f.latex_name if ctx.latex else self.f.text_name
        extra = self.f.latex_args if ctx.latex else self.f.text_args
        return f"{name}({inner}{extra})"

    def children(self):
        return (self.arg,)

    def evaluate(self, env):
        return self.f.fn(self.arg.evaluate(env))

    def shape(self, env):
        return self.arg.shape(env)


# ----------------------------------------------------------------- operators
@dataclass(frozen=True)
class Transpose(Expr):
    """``Aᵀ``."""

    arg: Expr

    def _render(self, ctx):
        inner = self.arg._render(ctx.plain())
        if self.arg.prec < _ATOM:
            inner = _wrap(inner)
        return inner + ("^T" if ctx.latex else "ᵀ")

    def children(self):
        return (self.arg,)

    def evaluate(self, env):
        return self.arg.evaluate(env).T

    def shape(self, env):
        s = self.arg.shape(env)
        return s[::-1]


def transpose(e: Expr) -> Expr:
    """``eᵀ``, with ``(Aᵀ)ᵀ = A`` (so that ``a_0ᵀ = (Xᵀ)ᵀ`` prints as ``X``)."""
    return e.arg if isinstance(e, Transpose) else Transpose(e)


def _bias_column(v: np.ndarray) -> np.ndarray:
    # b_l of shape (n_l,) is added to every column, as MATLAB's `W1 * x + b1`.
    return v[:, None] if v.ndim == 1 else v


@dataclass(frozen=True)
class Add(Expr):
    """``a + b`` (or ``a − b`` with ``minus=True``); a vector ``b`` is added to every column."""

    a: Expr
    b: Expr
    minus: bool = False
    prec = _SUM

    def _render(self, ctx):
        left = self.a._render(ctx.plain())
        right = self.b._render(ctx.plain())
        if self.b.prec <= _SUM:
            right = _wrap(right)
        op = ("-" if ctx.latex else "−") if self.minus else "+"
        return f"{left} {op} {right}"

    def children(self):
        return (self.a, self.b)

    def evaluate(self, env):
        a, b = self.a.evaluate(env), _bias_column(self.b.evaluate(env))
        return a - b if self.minus else a + b

    def shape(self, env):
        sa, sb = self.a.shape(env), self.b.shape(env)
        if sa[0] != sb[0] or (len(sb) == 2 and sa != sb):
            raise ValueError(f"cannot add {self.b.text()} {sb} to {self.a.text()} {sa}")
        return sa


def sub(a: Expr, b: Expr) -> Add:
    """``a − b``."""
    return Add(a, b, minus=True)


@dataclass(frozen=True)
class MatMul(Expr):
    """The matrix product ``a b`` (the seed's juxtaposition, MATLAB's ``*``)."""

    a: Expr
    b: Expr
    prec = _PRODUCT

    def _render(self, ctx):
        base = ctx.plain()
        left = _wrap(self.a._render(base)) if self.a.prec < _PRODUCT else self.a._render(ctx)
        if self.b.prec <= _PRODUCT:
            # bracketed right operand: inside it, the seed writes no extra brackets
            right = _wrap(self.b._render(_Ctx(ctx.latex, minimal=True, per_sample=ctx.per_sample)))
        else:
            right = self.b._render(base)
        return f"{left} {right}"

    def children(self):
        return (self.a, self.b)

    def evaluate(self, env):
        return self.a.evaluate(env) @ self.b.evaluate(env)

    def shape(self, env):
        sa, sb = self.a.shape(env), self.b.shape(env)
        if len(sa) != 2 or len(sb) != 2 or sa[1] != sb[0]:
            raise ValueError(f"{self.a.text()} {sa} and {self.b.text()} {sb} do not conform in {self.text()}")
        return (sa[0], sb[1])


@dataclass(frozen=True)
class Hadamard(Expr):
    """The elementwise product ``a ∘ b`` (MATLAB's ``.*``)."""

    a: Expr
    b: Expr
    prec = _PRODUCT

    def _render(self, ctx):
        base = ctx.plain()
        if self.a.prec < _PRODUCT or (isinstance(self.a, MatMul) and not ctx.minimal):
            left = _wrap(self.a._render(base))
        else:
            left = self.a._render(ctx)
        right = self.b._render(base)
        if self.b.prec <= _PRODUCT:
            right = _wrap(right)
        op = r"\circ" if ctx.latex else "∘"
        return f"{left} {op} {right}"

    def children(self):
        return (self.a, self.b)

    def evaluate(self, env):
        return self.a.evaluate(env) * self.b.evaluate(env)

    def shape(self, env):
        sa, sb = self.a.shape(env), self.b.shape(env)
        if sa != sb:
            raise ValueError(f"{self.a.text()} {sa} and {self.b.text()} {sb} differ in shape in {self.text()}")
        return sa


@dataclass(frozen=True)
class Scale(Expr):
    """``c e`` for a scalar ``c = k/N`` (``2/N`` for the seed's MSE), printed in front."""

    factor: Fraction
    arg: Expr
    prec = _PRODUCT

    def _render(self, ctx):
        k = self.factor
        if ctx.latex:
            c = rf"\frac{{{k.numerator}}}{{{k.denominator if k.denominator != 1 else ''}N}}"
        else:
            c = f"{k.numerator}/{k.denominator if k.denominator != 1 else ''}N"
        inner = self.arg._render(ctx)
        if self.arg.prec < _PRODUCT:
            inner = _wrap(inner)
        return f"{c} {inner}"

    def children(self):
        return (self.arg,)

    def evaluate(self, env):
        return float(self.factor) / env.N * self.arg.evaluate(env)

    def shape(self, env):
        return self.arg.shape(env)


@dataclass(frozen=True)
class SumSamples(Expr):
    """``Σ_{i=1}^{N} e``: the sum over the batch's columns, a vector of shape ``(rows,)``.

    With ``per_sample=True`` the operand is written for one sample (``ŷ_i − y_i``),
    as the seed writes ``dJ/db_3``.
    """

    arg: Expr
    per_sample: bool = False

    def _render(self, ctx):
        inner = self.arg._render(_Ctx(ctx.latex, per_sample=self.per_sample))
        if self.arg.prec < _ATOM:
            inner = _wrap(inner)
        sigma = r"\sum_{i=1}^{N}" if ctx.latex else "Σᵢ"
        return f"{sigma}{inner}" if inner.startswith("(") else f"{sigma} {inner}"

    def children(self):
        return (self.arg,)

    def evaluate(self, env):
        return self.arg.evaluate(env).sum(axis=1)

    def shape(self, env):
        return (self.arg.shape(env)[0],)


# ----------------------------------------------------------------- environments
class Env:
    """Values for evaluation: arrays for symbols, and definitions (``z_l := W_l a_{l-1} + b_l``).

    A defined symbol is evaluated from its definition once and remembered, which
    is what backpropagation does with ``z_l``, ``a_l`` and ``δ_l``.

    Parameters
    ----------
    values : dict str -> ndarray
        ``{"X": (N, n_0), "Y": (n_L, N), "W1": (n_1, n_0), "b1": (n_1,), ...}``.
    definitions : dict str -> Expr
    """

    _what = "value"

    def __init__(self, values: dict[str, np.ndarray], definitions: dict[str, Expr] | None = None):
        self.values = dict(values)
        self.definitions = dict(definitions or {})
        self.N = self._n_samples()

    def _n_samples(self):
        return self.values["X"].shape[0]

    def _compute(self, definition: Expr):
        return definition.evaluate(self)

    def lookup(self, sym: Sym) -> np.ndarray:
        if sym.key not in self.values:
            if sym.key not in self.definitions:
                raise KeyError(f"no {self._what} or definition for {sym.text()}")
            self.values[sym.key] = self._compute(self.definitions[sym.key])
        return self.values[sym.key]


class ShapeEnv(Env):
    """Shapes instead of values: ``{"X": ("N", 37), "W1": (128, 37), "b1": (128,), ...}``."""

    _what = "shape"

    def _n_samples(self):
        return "N"

    def _compute(self, definition: Expr):
        return definition.shape(self)


# ----------------------------------------------------------------- cost
def count_products(e: Expr) -> int:
    """Matrix products in ``e`` as written: a sub-expression that occurs k times counts k times."""
    return sum(isinstance(n, MatMul) for n in e.walk())


def product_flops(e: Expr, env: ShapeEnv, N: int) -> int:
    """Floating-point operations of the matrix products in ``e`` as written: ``2 m k n`` each."""
    total = 0
    for n in e.walk():
        if isinstance(n, MatMul):
            (m, k), (_, c) = n.a.shape(env), n.b.shape(env)
            m, k, c = (N if d == "N" else d for d in (m, k, c))
            total += 2 * m * k * c
    return total


def occurrences(e: Expr, target: Expr) -> int:
    """How often ``target`` occurs in ``e`` (nested occurrences included)."""
    return sum(n == target for n in e.walk())
