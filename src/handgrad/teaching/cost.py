r"""What backpropagation saves: matrix products and flops of both gradient methods.

The seed says backpropagation "is computationally efficient because it leverages
previously computed gradients". For a network ``[n_0, ..., n_L]`` and a batch of
``N`` columns, with ``s_l = n_l n_{l-1}`` (the size of ``W_l``) and
``S = Σ_l s_l``, counting the matrix products and their flops (``2 m k n`` for an
``(m, k) @ (k, n)`` product; the elementwise σ, σ', ∘ and the bias additions are
``O(N Σ n_l)`` and are left out):

Backpropagation (:func:`handgrad.gradients.backprop`, §1.3)
    forward ``z_l = W_l a_{l-1}`` (L products), ``dW_l = δ_l a_{l-1}ᵀ`` (L),
    ``δ_{l-1} = W_lᵀ δ_l`` (L − 1, none below layer 1)::

        products  = 3L − 1
        flops     = 2N (3S − s_1)

The expanded form as the engine computes it (:func:`handgrad.gradients.expanded`, §1.2)
    for each layer l: the whole forward pass (L products), the chain
    ``W_{k+1}ᵀ (…)`` from the output down to l (L − l), the product with
    ``a_{l-1}ᵀ`` (1); plus one forward pass for the value of J (L)::

        products  = Σ_l (L + (L − l) + 1) + L = (3L² + 3L) / 2
        flops     = 2N [(L + 2) S + Σ_l (l − 1) s_l]

    It grows with L², backpropagation with L: for equal widths the ratio of
    products tends to L/2.

The seed's formulas taken literally (its MATLAB lines, §1.2)
    every sub-expression evaluated where it is written: in ``dW_l`` the chain has
    L − l products ``W_{k+1}ᵀ (…)``, each ``σ'(z_k)`` (k = l … L − 1) rebuilds ``z_k``
    with k products, ``a_{l-1}ᵀ`` needs l − 1 and the outer product 1; ``db_l``
    the same without the last two. With ``Ŷ`` evaluated once (L)::

        products  = L(L − 1) + L²(L − 1) − (L − 1) L (L + 1)/3 + L(L + 1)/2 + L
                  ≈ (2/3) L³

    (25 for the seed's L = 3: 22 in its six MATLAB lines plus 3 for ``y_pred``.)
    A non-linear output layer adds ``σ_L'(z_L)``, L more products, to each of the 2L formulas.

The seed's network (37-128-64-1, N = 32): 8 products and 2,191,360 flops by
backpropagation, 18 products and 4,689,920 flops by the engine's expanded form:
a ratio of 2.14 in flops.

Each count is checked in ``tests/test_cost.py`` against an instrumented run
that counts every ``@`` the engine executes, and (for the literal count) against
the ``*`` of the seed's MATLAB lines and the expression trees of :func:`handgrad.teaching.derive`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ConfigError
from .derive import derive
from .expr import product_flops


def _check_sizes(layer_sizes: Sequence[int]) -> list[int]:
    sizes = [int(n) for n in layer_sizes]
    if len(sizes) < 2 or any(n < 1 for n in sizes):
        raise ConfigError(f"layer_sizes must be at least two positive integers, got {list(layer_sizes)!r}")
    return sizes


def _s(sizes: list[int]) -> list[int]:
    """``s_l = n_l n_{l-1}`` for l = 1..L (index 0 is layer 1)."""
    return [sizes[l] * sizes[l - 1] for l in range(1, len(sizes))]


# ----------------------------------------------------------------- products
def backprop_products(L: int) -> int:
    """Matrix products of one backpropagation gradient: ``3L − 1``."""
    return 3 * L - 1


def expanded_products(L: int, include_loss: bool = True) -> int:
    """Matrix products of one expanded gradient as the engine computes it: ``(3L² + 3L)/2``.

    ``include_loss=False`` leaves out the forward pass that gives the value of J: ``(3L² + L)/2``.
    """
    return (3 * L * L + (3 if include_loss else 1) * L) // 2


def literal_products(L: int, linear_output: bool = True) -> int:
    """Matrix products of the seed's formulas as written (every repeat evaluated again), plus Ŷ once.

    ``≈ (2/3) L³``; 25 for the seed's L = 3.
    """
    grads = L * (L - 1) + L * L * (L - 1) - (L - 1) * L * (L + 1) // 3 + L * (L + 1) // 2
    if not linear_output:  # σ_L'(z_L) written out in each of the 2L formulas
        grads += 2 * L * L
    return grads + L


# ----------------------------------------------------------------- flops
def backprop_flops(layer_sizes: Sequence[int], N: int) -> int:
    """Flops of the matrix products of one backpropagation gradient: ``2N (3S − s_1)``."""
    s = _s(_check_sizes(layer_sizes))
    return 2 * N * (3 * sum(s) - s[0])


def expanded_flops(layer_sizes: Sequence[int], N: int, include_loss: bool = True) -> int:
    """Flops of the matrix products of one expanded gradient (engine): ``2N [(L + 2) S + Σ_l (l − 1) s_l]``.

    ``include_loss=False``: ``2N [(L + 1) S + Σ_l (l − 1) s_l]``.
    """
    s = _s(_check_sizes(layer_sizes))
    L, S = len(s), sum(s)
    return 2 * N * ((L + (2 if include_loss else 1)) * S + sum((l - 1) * s[l - 1] for l in range(1, L + 1)))


def literal_flops(
    layer_sizes: Sequence[int], N: int, activation="relu", output_activation="identity", loss="mse"
) -> int:
    """Flops of the seed's formulas as written, counted on the expression trees of :func:`derive` (plus Ŷ once)."""
    sizes = _check_sizes(layer_sizes)
    der = derive(sizes, activation, output_activation, loss)
    env = der.shapes()
    total = sum(product_flops(e, env, N) for e in [*der.expanded_dW, *der.expanded_db])
    return total + product_flops(der.model, env, N)


@dataclass(frozen=True)
class Cost:
    """Both methods' counts for one network and batch."""

    layer_sizes: tuple[int, ...]
    N: int
    backprop_products: int
    expanded_products: int
    literal_products: int
    backprop_flops: int
    expanded_flops: int
    literal_flops: int

    @property
    def L(self) -> int:
        return len(self.layer_sizes) - 1

    @property
    def flop_ratio(self) -> float:
        """Expanded (engine) over backpropagation, in flops."""
        return self.expanded_flops / self.backprop_flops

    @property
    def product_ratio(self) -> float:
        return self.expanded_products / self.backprop_products


def cost(layer_sizes: Sequence[int], N: int) -> Cost:
    """Every count for a network with ReLU hidden layers, linear output, MSE (the seed's setting).

    >>> c = cost([37, 128, 64, 1], 32)
    >>> (c.backprop_products, c.expanded_products, c.literal_products)
    (8, 18, 25)
    >>> round(c.flop_ratio, 2)
    2.14
    """
    sizes = _check_sizes(layer_sizes)
    L = len(sizes) - 1
    return Cost(
        tuple(sizes),
        N,
        backprop_products(L),
        expanded_products(L),
        literal_products(L),
        backprop_flops(sizes, N),
        expanded_flops(sizes, N),
        literal_flops(sizes, N),
    )
