r"""The seed's derivation, generated for any fully connected network (``handgrad derive``).

For a network ``[n_0, n_1, ..., n_L]`` with per-layer activations and a loss,
:func:`derive` builds, in the seed's notation and order:

1. the model as one nested formula (§1.1, ``Ŷ = W_3 σ(W_2 σ(W_1 Xᵀ + b_1) + b_2) + b_3``)
   and as the forward recurrence ``z_l``, ``a_l``, with the shape of every quantity;
2. the loss ``J`` and ``dJ/dŶ`` (for the cross-entropies on logits, ``dJ/dz_L = (P − Y)/N``
   with the sigmoid / softmax Jacobian cancelling, derived step by step; for the
   softmax this assumes one-hot targets, see :class:`handgrad.losses.SoftmaxCrossEntropy`);
3. the **expanded** gradient of every ``W_l`` and ``b_l``, written out whole (§1.2);
4. **backpropagation** (§1.3): the deltas ``δ_l = dJ/dz_l``, and which expanded
   sub-expression each one replaces;
5. ``σ'`` for each distinct activation.

Design: one structure, printed and evaluated
--------------------------------------------
Every formula is an expression tree (:mod:`handgrad.teaching.expr`). The text
you read — Markdown, LaTeX or terminal — is rendered from the tree, and
:mod:`handgrad.teaching.check` evaluates the *same* trees with NumPy and compares
them with central finite differences and with the engine
(:mod:`handgrad.gradients`). So ``handgrad derive --check`` proves the printed
formulas, not a separate implementation of them; and the trees are shape-checked
when built, so a product that does not conform cannot be printed.

NOTE: where the seed is inconsistent with itself the generator follows the
mathematics: the seed's ``dJ/dW_1 = … X^T`` does not conform (``δ_1`` is
``n_1 × N``, ``Xᵀ`` is ``n_0 × N``); its MATLAB ``* x'`` with ``x = X(batch,:)'`` is
``X``, which is what is printed. See ``tests/test_derive.py``.

    >>> from handgrad.teaching import derive
    >>> d = derive([37, 128, 64, 1], activation="relu", loss="mse")
    >>> print(d.expanded_dW[1].text())
    2/N (W₃ᵀ (Ŷ − Y)) ∘ σ'(W₂ σ(W₁ Xᵀ + b₁) + b₂) σ(W₁ Xᵀ + b₁)ᵀ
    >>> print(d.deltas[1].text())
    (W₃ᵀ δ₃) ∘ σ'(z₂)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ..activations import IDENTITY, Activation
from ..errors import ConfigError
from ..losses import LOSSES, Elementwise, Formula, Loss, get_loss
from ..network import Network
from ..params import check as check_setting
from . import render
from .check import check
from .expr import (
    Add,
    Apply,
    Expr,
    Func,
    Hadamard,
    MatMul,
    Scale,
    ShapeEnv,
    SumSamples,
    Sym,
    indexed,
    occurrences,
    sub,
    subscript,
    transpose,
)
from .render import Code, Equation, Heading, Math, Para, Table

FORMATS = ("markdown", "latex", "text")

# The symbols of the seed. Y and Ŷ are (n_L, N): one column per sample, as the seed's y_pred, y_true.
X = Sym("X", "X", "X")
Y = Sym("Y", "Y", "Y", "y_i", "yᵢ")
YHAT = Sym("Yhat", r"\hat{Y}", "Ŷ", r"\hat{y}_i", "ŷᵢ")
P = Sym("P", "P", "P", "p_i", "pᵢ")


def _name(fn) -> str:
    """``handgrad.activations.relu`` for a function, as the documents cite it."""
    return f"{fn.__module__}.{fn.__qualname__}"


def _formula(fn, fallback: str) -> str:
    """The right-hand side of the first docstring line ``σ(z) = max(z, 0)``, for the terminal."""
    line = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
    if "=" not in line:
        return fallback
    return line.split("=", 1)[1].split(", computed")[0].strip().rstrip(".")


# ----------------------------------------------------------------- the loss
@dataclass
class LossForm:
    r"""A loss as the derivation writes it: ``dJ/dŶ = factor/N · error``.

    ``error`` is an expression in ``Ŷ``, ``Y`` (and ``P`` for the cross-entropies):
    ``Ŷ − Y`` with factor 2 for the seed's MSE.
    """

    loss: Loss
    factor: Fraction
    error: Expr
    definitions: dict[str, Expr]
    J: Math
    steps: list[Equation]
    function: str


def _math(f: Formula) -> Math:
    return Math(f.latex, f.text)


def _note(parts: Sequence) -> list:
    """A loss's note (strings, `code` in backticks, and Formulas) as render segments."""
    out: list = []
    for part in parts:
        if isinstance(part, Formula):
            out.append(_math(part))
            continue
        for i, piece in enumerate(str(part).split("`")):
            if piece:
                out.append(Code(piece) if i % 2 else piece)
    return out


def _func(e: Elementwise) -> Func:
    return Func(e.latex, e.text, e.function, e.key, latex_args=e.latex_args, text_args=e.text_args)


def _loss_form(loss: Loss, n_outputs: int) -> LossForm:
    """The loss as the derivation writes it, from the pieces the loss itself declares (:meth:`Loss.derivation`)."""
    pieces = loss.derivation(n_outputs)
    if pieces is None:
        derivable = [name for name, cls in LOSSES.items() if cls.derivation is not Loss.derivation]
        raise ConfigError(
            f"handgrad derive knows the built-in losses {', '.join(derivable)}; got {loss!r} "
            "(a loss is derivable when its class defines derivation())"
        )
    definitions: dict[str, Expr] = {}
    if pieces.probabilities is not None:  # on logits: dJ/dŶ = factor/N (P − Y)
        error: Expr = sub(P, Y)
        definitions["P"] = Apply(_func(pieces.probabilities), YHAT)
    elif pieces.error_function is not None:
        error = Apply(_func(pieces.error_function), sub(YHAT, Y))
    else:
        error = sub(YHAT, Y)
    steps = [Equation(_math(st.lhs), _math(st.rhs), _note(st.note)) for st in pieces.steps]
    cls = f"handgrad.losses.{type(loss).__name__}"
    return LossForm(loss, pieces.factor, error, definitions, _math(pieces.J), steps, cls)


# ----------------------------------------------------------------- the derivation
@dataclass
class Derivation:
    """The formulas of the seed's derivation for one network, as expression trees.

    Lists are indexed by layer, 0-based: ``expanded_dW[0]`` is ``dJ/dW_1``.

    Attributes
    ----------
    layer_sizes : list of int
        ``[n_0, ..., n_L]``.
    activations : list of Activation
        σ_1 ... σ_L (σ_L is the output's).
    loss_form : LossForm
    model : Expr
        Ŷ as one nested formula (§1.1).
    expanded_dW, expanded_db : list of Expr
        §1.2, every sub-expression written out (``Ŷ`` and ``P`` stay symbols, as in the seed).
    forward : dict str -> Expr
        ``z_l := W_l a_{l-1} + b_l``, ``a_l := σ_l(z_l)``, ``Ŷ := a_L`` (§1.3).
    deltas : list of Expr
        ``δ_l := dJ/dz_l`` (§1.3).
    backprop_dW, backprop_db : list of Expr
        ``δ_l a_{l-1}ᵀ`` and ``Σ_i δ_l``.
    chains : list of Expr
        ``chains[l-1]`` is the expanded sub-expression that ``δ_l`` replaces.
    """

    layer_sizes: list[int]
    activations: list[Activation]
    loss_form: LossForm
    sigma: list[Func | None]
    sigma_prime: list[Func | None]
    model: Expr
    z_expanded: list[Expr]
    expanded_dW: list[Expr]
    expanded_db: list[Expr]
    forward: dict[str, Expr]
    deltas: list[Expr]
    backprop_dW: list[Expr]
    backprop_db: list[Expr]
    chains: list[Expr]
    z: list[Sym] = field(default_factory=list)
    a: list[Expr] = field(default_factory=list)
    delta_syms: list[Sym] = field(default_factory=list)

    @property
    def n_layers(self) -> int:
        """L."""
        return len(self.layer_sizes) - 1

    @property
    def loss(self) -> Loss:
        return self.loss_form.loss

    @property
    def factor(self) -> Fraction:
        """``k`` of the scalar ``k/N`` in front of every gradient (2 for MSE)."""
        return self.loss_form.factor

    def expanded_definitions(self) -> dict[str, Expr]:
        """Definitions under which the §1.2 formulas evaluate (``Ŷ`` := the nested model)."""
        return {"Yhat": self.model, **self.loss_form.definitions}

    def backprop_definitions(self) -> dict[str, Expr]:
        """Definitions under which the §1.3 formulas evaluate (``z_l``, ``a_l``, ``δ_l``, ``Ŷ := a_L``)."""
        defs = dict(self.forward)
        defs.update({s.key: d for s, d in zip(self.delta_syms, self.deltas)})
        defs.update(self.loss_form.definitions)
        return defs

    def shapes(self) -> ShapeEnv:
        """Shapes of the parameters and data, with ``N`` for the batch."""
        n = self.layer_sizes
        shapes: dict[str, tuple] = {"X": ("N", n[0]), "Y": (n[-1], "N")}
        for l in range(1, len(n)):
            shapes[f"W{l}"] = (n[l], n[l - 1])
            shapes[f"b{l}"] = (n[l],)
        return ShapeEnv(shapes, self.backprop_definitions() | {"Yhat": self.model})

    def replaced(self, l: int) -> Expr:
        """The expanded sub-expression that ``δ_l`` replaces: ``k/N · chain_l`` (l is 1-based)."""
        return Scale(self.factor, self.chains[l - 1])

    # -- rendering
    def blocks(self) -> list[render.Block]:
        """The document, format-independent (see :mod:`handgrad.teaching.render`)."""
        return _document(self)

    def markdown(self, heading_level: int = 1) -> str:
        """Markdown with ``$$`` math that GitHub renders."""
        return render.to_markdown(self.blocks(), heading_level)

    def latex(self, document: bool = True) -> str:
        """LaTeX: a complete document, or a body (``document=False``)."""
        return render.to_latex(self.blocks(), document)

    def text(self) -> str:
        """Unicode text for a terminal."""
        return render.to_text(self.blocks())

    def render(self, format: str = "text") -> str:
        """``format`` one of ``"markdown"``, ``"latex"``, ``"text"``."""
        if format == "markdown":
            return self.markdown()
        if format == "latex":
            return self.latex()
        if format == "text":
            return self.text()
        raise ConfigError(f"unknown format {format!r}; expected one of {FORMATS}")

    __str__ = text

    def check(self, **kwargs):
        """Evaluate these formulas numerically; see :func:`handgrad.teaching.check.check`."""
        return check(self, **kwargs)


def _funcs(activations: list[Activation]) -> tuple[list[Func | None], list[Func | None]]:
    """σ and σ' as printed for every layer: one shared ``σ`` if all non-linear layers share it, else ``σ_l``."""
    used = {a for a in activations if a is not IDENTITY}
    shared = len(used) == 1
    sig, dsig = [], []
    for l, act in enumerate(activations, start=1):
        if act is IDENTITY:
            sig.append(None)
            dsig.append(None)
            continue
        lat = r"\sigma" + ("" if shared else subscript(l, True))
        txt = "σ" + ("" if shared else subscript(l, False))
        key = act.name if shared else f"{act.name}{l}"
        sig.append(Func(lat, txt, act.function, key))
        dsig.append(Func(lat + "'", txt + "'", act.derivative, key + "'"))
    return sig, dsig


def derive(
    network: Network | Sequence[int],
    activation="relu",
    output_activation="identity",
    loss: str | Loss = "mse",
) -> Derivation:
    """The seed's derivation for a network of any depth.

    Parameters
    ----------
    network : Network or sequence of int
        A :class:`~handgrad.Network` (its sizes and activations are used), or the
        layer sizes ``[n_0, n_1, ..., n_L]`` (the seed's: ``[37, 128, 64, 1]``).
    activation : str or list of str
        σ of the hidden layers, one for all or one per hidden layer (ignored for a Network).
    output_activation : str
        σ_L (ignored for a Network). ``"identity"`` as in the seed.
    loss : str or Loss
        ``"mse"`` (the seed's), or any loss whose class defines
        :meth:`~handgrad.losses.Loss.derivation` (every one in :data:`handgrad.losses.LOSSES`).

    Returns
    -------
    Derivation
        ``.markdown()``, ``.latex()``, ``.text()``, ``.check()``.

    Raises
    ------
    ConfigError
        For bad sizes, an unknown activation or loss, or one activation per
        hidden layer with the wrong count.
    """
    if isinstance(network, Network):
        sizes, acts = network.layer_sizes, network.activations
    else:
        sizes = list(check_setting("layer_sizes", network))
        # The activations resolved exactly as training does, by a Network of the same depth
        # and width 1: the derivation is symbolic, and a network of the real widths
        # (--hidden 100000 100000) would allocate gigabytes for nothing.
        acts = Network([1] * len(sizes), activation, output_activation, init="randn", random_state=0).activations
    L = len(acts)
    loss = get_loss(loss)
    loss.check_outputs(sizes[-1])  # e.g. a softmax over one output: J = 0, nothing to derive
    form = _loss_form(loss, sizes[-1])
    sig, dsig = _funcs(acts)

    W = [indexed("W", "W", "W", l) for l in range(1, L + 1)]
    b = [indexed("b", "b", "b", l) for l in range(1, L + 1)]

    def act(l: int, e: Expr) -> Expr:  # σ_l(e), or e for a linear layer
        return e if sig[l - 1] is None else Apply(sig[l - 1], e)

    def times_dact(l: int, e: Expr, z: Expr) -> Expr:  # e ∘ σ_l'(z); σ' = 1 for a linear layer
        return e if dsig[l - 1] is None else Hadamard(e, Apply(dsig[l - 1], z))

    # §1.1: the nested model; z_expanded[l-1] is z_l written out from Xᵀ.
    a_exp: list[Expr] = [transpose(X)]
    z_exp: list[Expr] = []
    for l in range(1, L + 1):
        z_exp.append(Add(MatMul(W[l - 1], a_exp[-1]), b[l - 1]))
        a_exp.append(act(l, z_exp[-1]))
    model = a_exp[-1]

    # §1.2: chains[l-1] = dJ/dz_l without the scalar k/N, every z_k written out.
    chains: list[Expr] = [None] * L  # type: ignore[list-item]
    chains[L - 1] = times_dact(L, form.error, z_exp[L - 1])
    for l in range(L - 1, 0, -1):
        chains[l - 1] = times_dact(l, MatMul(transpose(W[l]), chains[l]), z_exp[l - 1])
    k = form.factor
    ex_dW = [Scale(k, MatMul(chains[l - 1], transpose(a_exp[l - 1]))) for l in range(1, L + 1)]
    # The seed writes the output layer's bias per sample: 2/N Σ_i (ŷ_i − y_i).
    ex_db = [Scale(k, SumSamples(chains[l - 1], per_sample=chains[l - 1] == form.error)) for l in range(1, L + 1)]

    # §1.3: the forward recurrence with names, and the deltas.
    z = [indexed("z", "z", "z", l) for l in range(1, L + 1)]
    a: list[Expr] = [transpose(X)]
    forward: dict[str, Expr] = {}
    for l in range(1, L + 1):
        forward[z[l - 1].key] = Add(MatMul(W[l - 1], a[l - 1]), b[l - 1])
        a_l = indexed("a", "a", "a", l)
        forward[a_l.key] = act(l, z[l - 1])
        a.append(a_l)
    forward["Yhat"] = a[L]
    d = [Sym(f"delta{l}", r"\delta" + subscript(l, True), "δ" + subscript(l, False)) for l in range(1, L + 1)]
    deltas: list[Expr] = [None] * L  # type: ignore[list-item]
    deltas[L - 1] = Scale(k, times_dact(L, form.error, z[L - 1]))
    for l in range(L - 1, 0, -1):
        deltas[l - 1] = times_dact(l, MatMul(transpose(W[l]), d[l]), z[l - 1])
    bp_dW = [MatMul(d[l - 1], transpose(a[l - 1])) for l in range(1, L + 1)]
    bp_db = [SumSamples(d[l - 1]) for l in range(1, L + 1)]

    der = Derivation(
        list(sizes), list(acts), form, sig, dsig, model, z_exp, ex_dW, ex_db, forward, deltas, bp_dW, bp_db, chains,
        z=z, a=a, delta_syms=d,
    )  # fmt: skip
    _check_shapes(der)
    return der


def _check_shapes(der: Derivation) -> None:
    """Every formula must conform; its shape must be the parameter's (a bug otherwise)."""
    env = der.shapes()
    for l in range(1, der.n_layers + 1):
        want_W, want_b = env.values[f"W{l}"], env.values[f"b{l}"]
        for e, want in ((der.expanded_dW[l - 1], want_W), (der.backprop_dW[l - 1], want_W),
                        (der.expanded_db[l - 1], want_b), (der.backprop_db[l - 1], want_b)):  # fmt: skip
            got = e.shape(env)
            if got != want:  # pragma: no cover - a bug in the generator
                raise AssertionError(f"{e.text()} has shape {got}, expected {want}")


# ----------------------------------------------------------------- the document
def _dJ(of: str, latex_of: str) -> Math:
    return Math(rf"\frac{{dJ}}{{d{latex_of}}}", f"dJ/d{of}")


def _shape_str(shape: tuple) -> Math:
    if len(shape) == 1:
        return Math(rf"{shape[0]}", f"{shape[0]}")
    return Math(rf"{shape[0]} \times {shape[1]}", f"{shape[0]} × {shape[1]}")


def _architecture(der: Derivation) -> str:
    sizes = "-".join(str(n) for n in der.layer_sizes)
    hidden = der.activations[:-1]
    names = sorted({a.name for a in hidden})
    hid = (
        "no hidden layer"
        if not hidden
        else (
            "hidden " + "/".join(a.name for a in hidden)
            if len(names) > 1
            else f"{names[0]} hidden layer{'s' if len(hidden) > 1 else ''}"
        )
    )
    return f"{sizes}, {hid}, {der.activations[-1].name} output, loss {der.loss.name}"


def _document(der: Derivation) -> list[render.Block]:
    L = der.n_layers
    env = der.shapes()
    E = der.loss_form.error
    k = der.factor
    blocks: list[render.Block] = [
        Heading(1, f"Derivation for the network {_architecture(der)}"),
        Para(["Generated by ", Code("handgrad derive"), " in the notation and order of the seed's derivation (§1.1–1.3); ",
              "every formula below is rendered from the expression that ", Code("handgrad derive --check"), " evaluates. ",
              "A matrix product and ", Math(r"\circ", "∘"), " bind equally, left to right: ",
              Math(r"A \circ B C = (A \circ B) C", "A ∘ B C = (A ∘ B) C"), "."]),
    ]  # fmt: skip

    # 1. the model
    blocks += [
        Heading(2, "1. The model (§1.1)"),
        Equation(Math(r"\hat{Y}", "Ŷ"), Math.of(der.model), ["computed by ", Code("handgrad.Network.predict_columns")]),
        Para(["The forward recurrence, one column per sample (", Code("handgrad.Network.forward_columns"), " caches every ",
              Math("z_l", "z_l"), " and ", Math("a_l", "a_l"), "):"]),
    ]  # fmt: skip
    blocks.append(Equation(Math("a_0", "a₀"), Math.of(transpose(X))))
    for l in range(1, L + 1):
        blocks.append(Equation(Math.of(der.z[l - 1]), Math.of(der.forward[der.z[l - 1].key])))
        blocks.append(Equation(Math.of(der.a[l]), Math.of(der.forward[der.a[l].key])))
    blocks.append(Equation(Math(r"\hat{Y}", "Ŷ"), Math.of(der.a[L])))
    rows = [
        [[Math("X", "X")], [_shape_str(env.values["X"])], ["the batch, one row per sample (", Math("X^T", "Xᵀ"), " is its columns)"]],
        [[Math("Y", "Y")], [_shape_str(env.values["Y"])], ["the targets, one column per sample (as ", Math(r"\hat{Y}", "Ŷ"), ")"]],
    ]  # fmt: skip
    for l in range(1, L + 1):
        W, bl = env.values[f"W{l}"], env.values[f"b{l}"]
        act = der.activations[l - 1]
        rows += [
            [[Math(f"W{subscript(l, True)}", f"W{subscript(l, False)}")], [_shape_str(W)], [f"weights of layer {l}"]],
            [[Math(f"b{subscript(l, True)}", f"b{subscript(l, False)}")], [_shape_str(bl)], ["bias, added to every column"]],
            [[Math.of(der.z[l - 1]), ", ", Math.of(der.a[l])], [_shape_str(env.lookup(der.z[l - 1]))],
             [f"pre-activation and activation ({act.name})" if act is not IDENTITY else "pre-activation (linear layer: a = z)"]],
        ]  # fmt: skip
    blocks.append(Table(["quantity", "shape", "meaning"], rows))

    # 2. the loss
    lf = der.loss_form
    blocks += [
        Heading(2, "2. The loss and its gradient"),
        Equation(Math("J", "J"), lf.J, ["computed by ", Code(lf.function + ".value")]),
    ]
    if lf.steps:
        blocks.append(
            Para(
                [
                    "Per sample ",
                    Math(r"\ell", "ℓ"),
                    ", with ",
                    Math(r"\hat{y}", "ŷ"),
                    " a column of ",
                    Math(r"\hat{Y}", "Ŷ"),
                    ":",
                ]
            )
        )
        blocks += lf.steps
    grad_lhs = _dJ("Ŷ", r"\hat{Y}")
    note = ["computed by ", Code(lf.function + ".gradient")]
    if lf.loss.on_logits:
        note += ["; ", Math(r"\hat{Y}", "Ŷ"), " are the logits"]
        if der.activations[-1] is IDENTITY:  # the fused case: the loss's gradient is dJ/dz_L itself
            zL = der.z[-1]
            grad_lhs = Math(rf"\frac{{dJ}}{{d{zL.latex()}}} = \frac{{dJ}}{{d\hat{{Y}}}}", f"dJ/d{zL.text()} = dJ/dŶ")
    blocks.append(Equation(grad_lhs, Math.of(Scale(k, E)), note))
    if der.activations[-1] is not IDENTITY:
        blocks.append(Para(["The output layer applies ", Math(der.sigma[-1].latex_name, der.sigma[-1].text_name), ", so ",
                            Math(r"\frac{dJ}{dz_L} = \frac{dJ}{d\hat{Y}} \circ \sigma_L'(z_L)", "dJ/dz_L = dJ/dŶ ∘ σ_L'(z_L)"), "."]))  # fmt: skip

    # 3. the expanded gradients
    blocks += [
        Heading(2, "3. The gradients written out whole (§1.2)"),
        Para(
            [
                "Every sub-expression evaluated afresh for each formula (",
                Code("handgrad.gradients.expanded_layer"),
                "):",
            ]
        ),
    ]
    for l in range(L, 0, -1):
        lw, tw = f"W{subscript(l, True)}", f"W{subscript(l, False)}"
        lb, tb = f"b{subscript(l, True)}", f"b{subscript(l, False)}"
        blocks.append(Equation(_dJ(tw, lw), Math.of(der.expanded_dW[l - 1])))
        blocks.append(Equation(_dJ(tb, lb), Math.of(der.expanded_db[l - 1])))

    # 4. backpropagation
    blocks += [
        Heading(2, "4. Backpropagation (§1.3)"),
        Para(["One forward pass caches every ", Math("z_l", "z_l"), " and ", Math("a_l", "a_l"), "; then, from the output down, ",
              Math(r"\delta_l = \frac{dJ}{dz_l}", "δ_l = dJ/dz_l"), " is computed once and reused by the layer below (",
              Code("handgrad.backprop.backward"), "):"]),
    ]  # fmt: skip
    for l in range(L, 0, -1):
        lz = f"z{subscript(l, True)}"
        tz = f"z{subscript(l, False)}"
        lw, tw = f"W{subscript(l, True)}", f"W{subscript(l, False)}"
        lb, tb = f"b{subscript(l, True)}", f"b{subscript(l, False)}"
        blocks.append(Equation(Math(rf"{der.delta_syms[l - 1].latex()} = \frac{{dJ}}{{d{lz}}}", f"{der.delta_syms[l - 1].text()} = dJ/d{tz}"),
                               Math.of(der.deltas[l - 1])))  # fmt: skip
        blocks.append(Equation(_dJ(tw, lw), Math.of(der.backprop_dW[l - 1])))
        blocks.append(Equation(_dJ(tb, lb), Math.of(der.backprop_db[l - 1])))
    blocks.append(Para(["Each delta, and each cached ", Math("z_l", "z_l"), ", stands for a sub-expression of §1.2 that the expanded form "
                        "evaluates wherever it occurs (", Math(r"\hat{Y}", "Ŷ"), " counted as one symbol, as the seed writes it):"]))  # fmt: skip
    rows = []
    all_expanded = [*der.expanded_dW, *der.expanded_db]
    for l in range(L, 0, -1):
        target = der.chains[l - 1]
        count = sum(occurrences(e, target) for e in all_expanded)
        rows.append([[Math.of(der.delta_syms[l - 1])], [Math.of(der.replaced(l))], [str(count)]])
    for l in range(L, 0, -1):
        count = sum(occurrences(e, der.z_expanded[l - 1]) for e in all_expanded)
        rows.append([[Math.of(der.z[l - 1])], [Math.of(der.z_expanded[l - 1])], [str(count)]])
    blocks.append(Table(["name", "replaces", "occurrences in the formulas of §1.2"], rows))

    # 5. the activations
    blocks.append(Heading(2, "5. The activations and their derivatives"))
    seen = set()
    for l, act in enumerate(der.activations, start=1):
        if act is IDENTITY:
            continue
        f, df = der.sigma[l - 1], der.sigma_prime[l - 1]
        if f.latex_name in seen:
            continue
        seen.add(f.latex_name)
        blocks.append(Equation(Math(f"{f.latex_name}(z)", f"{f.text_name}(z)"), Math(act.latex or act.name, _formula(act.function, act.name)),
                               ["computed by ", Code(_name(act.function)), f" ({act.name})"]))  # fmt: skip
        blocks.append(Equation(Math(f"{df.latex_name}(z)", f"{df.text_name}(z)"), Math(act.latex_derivative or f"{act.name}'", _formula(act.derivative, f"{act.name}'(z)")),
                               ["computed by ", Code(_name(act.derivative))]))  # fmt: skip
    linear = [l for l, act in enumerate(der.activations, start=1) if act is IDENTITY]
    if linear:
        which = ", ".join(str(l) for l in linear)
        blocks.append(Para([f"Layer{'s' if len(linear) > 1 else ''} {which} {'are' if len(linear) > 1 else 'is'} linear (identity, ",
                            Math(r"\sigma'(z) = 1", "σ'(z) = 1"), "): no ", Math(r"\circ\,\sigma'", "∘ σ'"), " factor."]))  # fmt: skip
    return blocks


# ----------------------------------------------------------------- docs/derivation.md
#: The network whose derivation docs/derivation.md embeds, as its command line.
DOC_COMMAND = "handgrad derive --inputs 37 --hidden 128 64 --outputs 1 --activation relu --loss mse"
DOC_BEGIN = f"<!-- BEGIN GENERATED: {DOC_COMMAND} -->"
DOC_END = "<!-- END GENERATED -->"


def update_document(path) -> bool:
    """Regenerate the block between the GENERATED markers of ``docs/derivation.md``; True if it changed."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if DOC_BEGIN not in text or DOC_END not in text:
        raise ConfigError(f"{path}: no block between {DOC_BEGIN!r} and {DOC_END!r}")
    head, rest = text.split(DOC_BEGIN, 1)
    _, tail = rest.split(DOC_END, 1)
    block = derive([37, 128, 64, 1], "relu", loss="mse").markdown(heading_level=3)
    new = f"{head}{DOC_BEGIN}\n{block}{DOC_END}{tail}"
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text
