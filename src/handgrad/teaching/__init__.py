"""Teaching: the seed's derivation generated for any network, and what backpropagation saves.

* :mod:`~handgrad.teaching.expr` — matrix expressions printed in the seed's notation and evaluated with NumPy;
* :mod:`~handgrad.teaching.derive` — :func:`derive`, the derivation of §1.1–1.3 for a network;
* :mod:`~handgrad.teaching.render` — the document as Markdown, LaTeX or terminal text;
* :mod:`~handgrad.teaching.check` — the printed formulas checked against finite differences;
* :mod:`~handgrad.teaching.cost` — matrix products and flops of both gradient methods;
* :mod:`~handgrad.teaching.cost_measure` — the same, timed (``handgrad bench gradients``).
"""

from .check import CheckReport, check
from .derive import Derivation, derive

__all__ = ["CheckReport", "Derivation", "check", "derive"]
