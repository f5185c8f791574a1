r"""A small document model rendered three ways: Markdown (GitHub math), LaTeX, terminal text.

A document is a list of blocks (:class:`Heading`, :class:`Para`, :class:`Equation`,
:class:`Table`); prose is a list of segments, each a ``str``, a :class:`Math`
(LaTeX and Unicode text of the same formula) or a :class:`Code` (an identifier
such as ``handgrad.backprop.backward``).

Markdown follows GitHub's math rules: display math in ``$$`` blocks on lines of
their own, inline math in ``$…$``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Math:
    """One formula, as LaTeX and as Unicode text."""

    latex: str
    text: str

    @classmethod
    def of(cls, expr) -> Math:
        """From anything with ``latex()`` and ``text()`` (an :class:`~handgrad.teaching.expr.Expr`)."""
        return cls(expr.latex(), expr.text())


@dataclass(frozen=True)
class Code:
    """An identifier or command, in code font."""

    text: str


Segment = str | Math | Code


@dataclass
class Heading:
    level: int
    title: str


@dataclass
class Para:
    segments: list[Segment]


@dataclass
class Equation:
    """``lhs = rhs``, optionally followed by a short note (prose segments)."""

    lhs: Math
    rhs: Math
    note: list[Segment] = field(default_factory=list)


@dataclass
class Table:
    header: list[str]
    rows: list[list[list[Segment]]]


Block = Heading | Para | Equation | Table


def _join(
    segments: list[Segment],
    math: Callable[[Math], str],
    code: Callable[[Code], str],
    prose: Callable[[str], str] = str,
) -> str:
    """Prose segments in one output format: each segment rendered by the function for its kind."""
    return "".join(math(s) if isinstance(s, Math) else code(s) if isinstance(s, Code) else prose(s) for s in segments)


# ------------------------------------------------------------------ Markdown
def _md_segments(segments: list[Segment]) -> str:
    return _join(segments, math=lambda m: f"${m.latex}$", code=lambda c: f"`{c.text}`")


def to_markdown(blocks: list[Block], heading_level: int = 1) -> str:
    """Markdown with LaTeX math that GitHub renders; headings start at ``heading_level``."""
    parts = []
    for b in blocks:
        if isinstance(b, Heading):
            parts.append("#" * (b.level + heading_level - 1) + " " + b.title)
        elif isinstance(b, Para):
            parts.append(_md_segments(b.segments))
        elif isinstance(b, Equation):
            eq = f"$$\n{b.lhs.latex} = {b.rhs.latex}\n$$"
            if b.note:
                eq += "\n\n" + _md_segments(b.note)
            parts.append(eq)
        elif isinstance(b, Table):
            lines = ["| " + " | ".join(b.header) + " |", "|" + "---|" * len(b.header)]
            lines += ["| " + " | ".join(_md_segments(c) for c in row) + " |" for row in b.rows]
            parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


# ------------------------------------------------------------------ LaTeX
_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    # so that the document is plain ASCII and compiles with any engine
    "§": r"\S{}",
    "–": "--",
    "—": "---",
}


def latex_escape(s: str) -> str:
    """Prose for LaTeX: the ten special characters escaped, § and dashes spelled in ASCII."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in s)


def _tex_segments(segments: list[Segment]) -> str:
    return _join(
        segments,
        math=lambda m: f"${m.latex}$",
        code=lambda c: r"\texttt{" + latex_escape(c.text) + "}",
        prose=latex_escape,
    )


#: Formulas longer than this (in LaTeX source characters) are scaled to the line width.
LONG_FORMULA = 140

_PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[a4paper,margin=2cm]{geometry}
\usepackage{amsmath,amssymb,graphicx}
\begin{document}
"""


def to_latex(blocks: list[Block], document: bool = True) -> str:
    """LaTeX: a complete document (``document=True``) or a body to ``\\input``."""
    cmds = {1: r"\section*", 2: r"\subsection*", 3: r"\subsubsection*"}
    parts = []
    for b in blocks:
        if isinstance(b, Heading):
            parts.append(cmds.get(b.level, r"\paragraph*") + "{" + latex_escape(b.title) + "}")
        elif isinstance(b, Para):
            parts.append(_tex_segments(b.segments))
        elif isinstance(b, Equation):
            body = f"{b.lhs.latex} = {b.rhs.latex}"
            if len(body) > LONG_FORMULA:
                # NOTE: expanded gradients of deep networks outgrow the page; scale, don't clip.
                eq = "\\[\n\\resizebox{\\linewidth}{!}{$\\displaystyle " + body + "$}\n\\]"
            else:
                eq = "\\[\n" + body + "\n\\]"
            if b.note:
                eq += "\n" + _tex_segments(b.note)
            parts.append(eq)
        elif isinstance(b, Table):
            spec = "l" * len(b.header)
            lines = [r"\begin{tabular}{" + spec + "}", r"\hline"]
            lines.append(" & ".join(latex_escape(h) for h in b.header) + r" \\ \hline")
            lines += [" & ".join(_tex_segments(c) for c in row) + r" \\" for row in b.rows]
            lines += [r"\hline", r"\end{tabular}"]
            parts.append("\n".join(lines))
    body = "\n\n".join(parts) + "\n"
    return _PREAMBLE + body + "\\end{document}\n" if document else body


# ------------------------------------------------------------------ text
def _txt_segments(segments: list[Segment]) -> str:
    return _join(segments, math=lambda m: m.text, code=lambda c: c.text)


def to_text(blocks: list[Block]) -> str:
    """Unicode text for a terminal: ``Ŷ``, ``σ``, ``∘``, ``ᵀ``, subscripts ``W₁``."""
    parts = []
    for b in blocks:
        if isinstance(b, Heading):
            underline = "=" if b.level == 1 else "-"
            parts.append(b.title + "\n" + underline * len(b.title))
        elif isinstance(b, Para):
            parts.append(_txt_segments(b.segments))
        elif isinstance(b, Equation):
            eq = f"    {b.lhs.text} = {b.rhs.text}"
            if b.note:
                eq += "\n      " + _txt_segments(b.note)
            parts.append(eq)
        elif isinstance(b, Table):
            cells = [b.header] + [[_txt_segments(c) for c in row] for row in b.rows]
            widths = [max(len(r[i]) for r in cells) for i in range(len(b.header))]
            lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
            lines.insert(1, "  ".join("-" * w for w in widths))
            parts.append("\n".join("    " + line for line in lines))
    return "\n\n".join(parts) + "\n"
