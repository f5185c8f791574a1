"""Backpropagation against the expanded form: time per gradient at depths 1-10.

Regenerates ``docs/gradient-cost.md`` and ``docs/img/gradient-cost.png``; the same as
``handgrad bench gradients --out docs/``. Run, from the repository root::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_gradients.py
    python benchmarks/bench_gradients.py --quick          # a smoke run, printed only

The method (interleaved samples, medians) and the networks are described in
:mod:`handgrad.teaching.cost_measure`; the analytic counts in :mod:`handgrad.teaching.cost`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from handgrad.cli import main

DOCS = Path(__file__).resolve().parent.parent / "docs"

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--quick" not in argv and "--out" not in argv:
        argv += ["--out", str(DOCS)]
    sys.exit(main(["bench", "gradients", *argv]))
