r"""The cost of the expanded form, measured (``handgrad bench gradients``).

Times one gradient by :func:`handgrad.gradients.backprop` (§1.3) and by
:func:`handgrad.gradients.expanded` (§1.2) on the same network and batch, and
sets the measured ratio beside the analytic one of :mod:`handgrad.teaching.cost`.

Method: for each configuration both methods are warmed up, a number of calls
per sample is chosen so that a sample lasts at least ``min_time`` seconds, and
then ``repeats`` samples of each are taken **interleaved** (backprop, expanded,
expanded, backprop, ...) so that a slow spell of a shared machine hits both;
the times reported are the medians per gradient, and the ratio is the median
of the per-round ratios (each round times both methods back to back, so a slow
spell that spans a round cancels out of its ratio). :func:`run` sweeps the
whole grid in three passes, each in a random order, so that a longer slow spell
is spread over many configurations. Networks: ``[w] * L + [1]``
(``L`` weight layers of width ``w``, one output), ReLU, MSE, He initialisation,
float64, standard-normal inputs.

:func:`write_report` writes ``gradient-cost.md`` (tables, formulas, the command
and machine) and ``img/gradient-cost.png`` (matplotlib, imported only there).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .. import gradients as engine
from ..errors import ConfigError
from ..losses import get_loss
from ..network import Network
from . import cost as cost_module
from .cost import Cost, cost

SEED_NETWORK = (37, 128, 64, 1)
SEED_BATCH = 32


@dataclass(frozen=True)
class Measurement:
    """Median seconds per gradient for both methods, and the analytic counts."""

    layer_sizes: tuple[int, ...]
    batch: int
    backprop_s: float
    expanded_s: float
    #: timed rounds (samples of each method)
    repeats: int
    analytic: Cost
    #: median over rounds of (expanded sample / backprop sample of the same round)
    paired_ratio: float = float("nan")

    @property
    def L(self) -> int:
        return len(self.layer_sizes) - 1

    @property
    def width(self) -> int:
        return self.layer_sizes[0]

    @property
    def ratio(self) -> float:
        """Measured expanded / backprop: the median of the per-round ratios.

        Each round times both methods back to back, so a slow spell of a shared
        machine that spans a round cancels out of that round's ratio.
        """
        if np.isnan(self.paired_ratio):
            return self.expanded_s / self.backprop_s
        return self.paired_ratio


def _calls_for(fn: Callable[[], object], min_time: float) -> int:
    """How many calls make one timing sample last at least ``min_time`` seconds."""
    t0 = time.perf_counter()
    fn()
    single = max(time.perf_counter() - t0, 1e-7)
    return max(1, int(np.ceil(min_time / single)))


def _sample(fn: Callable[[], object], calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def interleaved_samples(
    fns: Sequence[Callable[[], object]], repeats: int = 7, min_time: float = 0.02
) -> list[list[float]]:
    """Seconds per call of each function, one sample per round, in interleaved rounds.

    Round ``r`` runs the functions in order, or in reverse order for odd ``r``,
    so that neither always runs first after the other. ``result[i][r]`` is
    function ``i`` in round ``r``.
    """
    for fn in fns:  # warm-up (allocations, caches, BLAS threads)
        fn()
    calls = [_calls_for(fn, min_time) for fn in fns]
    samples: list[list[float]] = [[] for _ in fns]
    for r in range(repeats):
        order = range(len(fns)) if r % 2 == 0 else reversed(range(len(fns)))
        for i in order:
            samples[i].append(_sample(fns[i], calls[i]))
    return samples


def interleaved_medians(fns: Sequence[Callable[[], object]], repeats: int = 7, min_time: float = 0.02) -> list[float]:
    """Median seconds per call of each function over :func:`interleaved_samples`."""
    return [statistics.median(s) for s in interleaved_samples(fns, repeats, min_time)]


class _Case:
    """One configuration: a network, a batch, and the two gradient calls, with their samples so far."""

    def __init__(self, layer_sizes: Sequence[int], batch: int, random_state: int = 0):
        rng = np.random.default_rng(random_state)
        self.layer_sizes, self.batch = tuple(layer_sizes), batch
        self.net = Network(list(layer_sizes), activation="relu", init="he", random_state=rng)
        self.A0 = rng.normal(size=(layer_sizes[0], batch))  # (n_0, N)
        self.Y = rng.normal(size=(layer_sizes[-1], batch))  # (n_L, N)
        self.loss = get_loss("mse")
        self.samples: tuple[list[float], list[float]] = ([], [])

    def backprop(self):
        return engine.backprop(self.net, self.A0, self.Y, self.loss)

    def expanded(self):
        return engine.expanded(self.net, self.A0, self.Y, self.loss)

    def take(self, repeats: int, min_time: float) -> None:
        s_bp, s_ex = interleaved_samples([self.backprop, self.expanded], repeats, min_time)
        self.samples[0].extend(s_bp)
        self.samples[1].extend(s_ex)

    def result(self) -> Measurement:
        s_bp, s_ex = self.samples
        return Measurement(
            self.layer_sizes,
            self.batch,
            statistics.median(s_bp),
            statistics.median(s_ex),
            len(s_bp),
            cost(self.layer_sizes, self.batch),
            statistics.median(e / b for b, e in zip(s_bp, s_ex)),
        )


def measure(
    layer_sizes: Sequence[int], batch: int, repeats: int = 15, min_time: float = 0.01, random_state: int = 0
) -> Measurement:
    """Time one gradient by backprop and by the expanded form (medians of interleaved samples).

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[n_0, ..., n_L]``.
    batch : int
        N, the number of columns.
    """
    case = _Case(layer_sizes, batch, random_state)
    case.take(repeats, min_time)
    return case.result()


def grid_sizes(L: int, width: int) -> list[int]:
    """The benchmark network: ``L`` weight layers of width ``width``, one output."""
    return [width] * L + [1]


def run(
    depths: Sequence[int] = range(1, 11),
    widths: Sequence[int] = (64, 256),
    batches: Sequence[int] = (32, 256),
    repeats: int = 15,
    min_time: float = 0.01,
    progress: Callable[[str], None] | None = None,
    passes: int = 3,
) -> tuple[list[Measurement], Measurement]:
    """The whole benchmark: the grid, then the seed's network (37-128-64-1, batch 32).

    The grid is swept ``passes`` times, each pass in a different (seeded) random
    order, taking ``repeats / passes`` rounds of every configuration per pass, so
    that a slow spell of the machine is spread over many configurations instead
    of spoiling one.
    """
    cases = [_Case(grid_sizes(L, w), n) for w in widths for n in batches for L in depths]
    cases.append(_Case(SEED_NETWORK, SEED_BATCH))
    per_pass = max(1, -(-repeats // passes))  # ceil
    order = np.random.default_rng(0)
    for p in range(passes):
        for i in order.permutation(len(cases)):
            # the seed's network is cheap: twice the rounds
            cases[i].take(2 * per_pass if i == len(cases) - 1 else per_pass, min_time)
        if progress:
            progress(f"pass {p + 1}/{passes} done")
    results = [c.result() for c in cases]
    if progress:
        for m in results[:-1]:
            progress(_progress_line(m))
        progress(_progress_line(results[-1]) + "  (the seed's network)")
    return results[:-1], results[-1]


def _progress_line(m: Measurement) -> str:
    return (
        f"{'-'.join(map(str, m.layer_sizes)):<28} L={m.L:<2} batch={m.batch:<4} backprop {m.backprop_s * 1e3:9.3f} ms  "
        f"expanded {m.expanded_s * 1e3:9.3f} ms  ratio {m.ratio:5.2f} (analytic {m.analytic.flop_ratio:5.2f})"
    )


# ----------------------------------------------------------------- report
def machine() -> str:
    """CPU, cores, Python, NumPy and its BLAS, and the OpenBLAS variables in effect."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    blas = "unknown BLAS"
    try:
        cfg = np.show_config(mode="dicts")
        info = cfg["Build Dependencies"]["blas"]
        blas = f"{info.get('name')} {info.get('version')}"
    except (TypeError, KeyError, AttributeError, ValueError):  # best effort: older NumPy, other build layouts
        pass
    env = ", ".join(f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS") if k in os.environ)  # fmt: skip
    return (
        f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, NumPy {np.__version__} ({blas}); "
        f"environment: {env or 'no OpenBLAS/OMP variables set'}"
    )


def _ms(s: float) -> str:
    return f"{s * 1e3:.3f}"


def _seed_comment(seed: Measurement) -> str:
    """A sentence on the seed network's measured vs analytic ratio, true to the figures of this run."""
    analytic, measured = seed.analytic.flop_ratio, seed.ratio
    if abs(measured / analytic - 1) <= 0.1:
        agreement = f"The measured ratio ({measured:.2f}) agrees with the flop count ({analytic:.2f}) within 10 %"
    else:
        agreement = (
            f"The measured ratio ({measured:.2f}) differs from the flop count ({analytic:.2f}) by more than 10 %"
        )
    return (
        agreement + ", although at this size a product such as 128×37 by 37×32 takes only microseconds and "
        "NumPy's per-call overhead (allocation, the bias broadcast, σ and σ') is not small beside it: both "
        "methods pay that overhead per layer and per product, so it scales roughly like the products do. "
        "Read the seed network's ratio with the noise of the grid below in mind."
    )


def markdown_report(results: list[Measurement], seed: Measurement, command: str, repeats: int, png: str | None) -> str:
    """The text of ``docs/gradient-cost.md``."""
    c = seed.analytic
    lines = [
        "# The cost of the expanded form, measured",
        "",
        "<!-- Generated by `" + command + "`; do not edit by hand. -->",
        "",
        "The seed says backpropagation “is computationally efficient because it leverages previously computed "
        "gradients”. This page counts by how much, and measures it: one gradient of every `W_l` and `b_l` by "
        "backpropagation (`handgrad.gradients.backprop`, §1.3) and by the expanded form "
        "(`handgrad.gradients.expanded`, §1.2), for the same network and batch.",
        "",
        "## The seed's network",
        "",
        f"37-128-64-1, ReLU, MSE, batch {seed.batch}, float64:",
        "",
        "| | backprop | expanded (engine) | ratio | seed's formulas as written |",
        "|---|---|---|---|---|",
        f"| matrix products | {c.backprop_products} | {c.expanded_products} | {c.product_ratio:.2f} | {c.literal_products} |",
        f"| flops of the products | {c.backprop_flops:,} | {c.expanded_flops:,} | **{c.flop_ratio:.2f}** (analytic) | {c.literal_flops:,} |",
        f"| measured time per gradient (ms, median) | {_ms(seed.backprop_s)} | {_ms(seed.expanded_s)} | **{seed.ratio:.2f}** (measured) | |",
        "",
        _seed_comment(seed),
        "",
        "## Counts, as a function of depth",
        "",
        "With layer sizes `n_0 … n_L`, `s_l = n_l n_{l-1}`, `S = Σ_l s_l`, batch `N`; flops are those of the "
        "matrix products, `2 m k n` for an `(m×k)(k×n)` product (the elementwise σ, σ', ∘ and bias additions are "
        "`O(N Σ n_l)` and are left out). Derivations in `handgrad.teaching.cost`; each count is checked against "
        "an instrumented run that counts the engine's `@` in `tests/test_cost.py`.",
        "",
        "| method | matrix products | flops |",
        "|---|---|---|",
        "| backpropagation (§1.3): forward L, `δ_l a_{l-1}ᵀ` L, `W_lᵀ δ_l` L − 1 | `3L − 1` | `2N (3S − s_1)` |",
        "| expanded, engine (§1.2): per layer a whole forward pass, the chain down to it, one outer product; plus J | `(3L² + 3L)/2` | `2N [(L + 2) S + Σ_l (l − 1) s_l]` |",
        "| the seed's formulas as written (every repeat re-evaluated), plus Ŷ once | `L(L−1) + L²(L−1) − (L−1)L(L+1)/3 + L(L+1)/2 + L ≈ (2/3) L³` | counted on the formulas of `handgrad derive` |",
        "",
        "| L | backprop products | expanded products (engine) | ratio | seed's formulas as written |",
        "|---|---|---|---|---|",
    ]
    for L in sorted({m.L for m in results} | {3}):
        bp, ex = cost_module.backprop_products(L), cost_module.expanded_products(L)
        lines.append(f"| {L} | {bp} | {ex} | {ex / bp:.2f} | {cost_module.literal_products(L)} |")
    lines += [
        "",
        "The expanded form's cost grows with L², backpropagation's with L; for equal widths the ratio tends to L/2. "
        "The seed's MATLAB lines, read literally, grow with L³, because each `σ'(z_k)` rebuilds `z_k` from the input.",
        "",
        "## Measured",
        "",
        "Networks `[w] * L + [1]` (L weight layers of width w, one output), ReLU, MSE, He initialisation, float64. "
        f"Times are medians of {repeats} interleaved rounds (each round times backprop and expanded back to back, "
        "alternating which goes first; each sample lasts at least `--min-time` seconds), taken in three passes over "
        "the whole grid in random order; the measured ratio is the median of the per-round ratios, which cancels "
        "slow spells of a shared machine that span a round.",
        "",
    ]
    if png:
        lines += [f"![Time per gradient and ratio against depth]({png})", ""]
    lines += [
        "The measured ratio is the median of the per-round ratios, not the quotient of the two median times beside "
        "it (those are each exposed to the machine's load separately). Where the measured ratio stays below the "
        "analytic one, work that the flop count leaves out and that both methods share — allocating and writing the "
        "L gradient arrays, the elementwise σ and σ', Python's per-call overhead — weighs more in the cheaper method.",
        "",
        "| width | batch | L | backprop (ms) | expanded (ms) | measured ratio | analytic ratio (flops) |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in results:
        lines.append(
            f"| {m.width} | {m.batch} | {m.L} | {_ms(m.backprop_s)} | {_ms(m.expanded_s)} | "
            f"{m.ratio:.2f} | {m.analytic.flop_ratio:.2f} |"
        )
    lines += [
        "",
        "## How these figures were taken",
        "",
        f"- command: `{command}`",
        f"- machine: {machine()}",
        f"- date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        "- The machine was shared with other jobs while measuring: individual figures are noisy (the interleaving "
        "and medians reduce, but do not remove, that noise); the ratios are more stable than the times.",
        "",
    ]
    return "\n".join(lines)


def plot(results: list[Measurement], path: Path) -> None:
    """Time per gradient against depth (log scale) and the measured and analytic ratios, as a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise ConfigError('the plot needs matplotlib: pip install "handgrad[plot]"') from None
    fig, (ax_t, ax_r) = plt.subplots(1, 2, figsize=(12, 4.8))
    configs = sorted({(m.width, m.batch) for m in results})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (w, n) in enumerate(configs):
        ms = sorted((m for m in results if (m.width, m.batch) == (w, n)), key=lambda m: m.L)
        Ls = [m.L for m in ms]
        col = colors[i % len(colors)]
        ax_t.plot(Ls, [m.backprop_s * 1e3 for m in ms], "o-", color=col, label=f"backprop, w={w}, N={n}")
        ax_t.plot(Ls, [m.expanded_s * 1e3 for m in ms], "s--", color=col, label=f"expanded, w={w}, N={n}")
        ax_r.plot(Ls, [m.ratio for m in ms], "o-", color=col, label=f"measured, w={w}, N={n}")
        ax_r.plot(Ls, [m.analytic.flop_ratio for m in ms], ":", color=col, alpha=0.8)
    ax_t.set_yscale("log")
    ax_t.set_xlabel("depth L (weight layers)")
    ax_t.set_ylabel("time per gradient (ms, median)")
    ax_t.set_title("Time per gradient")
    ax_t.legend(fontsize=7, ncol=2)
    ax_r.set_xlabel("depth L (weight layers)")
    ax_r.set_ylabel("expanded / backprop")
    ax_r.set_title("Ratio: measured (solid), analytic flops (dotted)")
    ax_r.legend(fontsize=7)
    for ax in (ax_t, ax_r):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(
    results: list[Measurement], seed: Measurement, out_dir: Path, command: str, repeats: int
) -> list[Path]:
    """Write ``out_dir/gradient-cost.md`` and ``out_dir/img/gradient-cost.png``; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / "img" / "gradient-cost.png"
    plot(results, png)
    md = out_dir / "gradient-cost.md"
    md.write_text(markdown_report(results, seed, command, repeats, "img/gradient-cost.png"), encoding="utf-8")
    return [md, png]
