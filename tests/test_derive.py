"""``handgrad derive``: the seed's derivation reproduced term for term, generalised, and checked numerically."""

from __future__ import annotations

import dataclasses
import importlib
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from handgrad.cli import main
from handgrad.errors import ConfigError, HandgradError
from handgrad.losses import Loss
from handgrad.teaching import derive
from handgrad.teaching.derive import X
from handgrad.teaching.expr import Env, MatMul, Scale, transpose

REPO = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------------------------------------
# The seed's formulas, transcribed verbatim from its §1.1–1.3 (the `\hspace{20pt}` dropped).
SEED_MODEL = r"\hat{Y} = W_3 \sigma(W_2 \sigma(W_1 X^T + b_1) + b_2) + b_3"
SEED_J = r"J = \frac{1}{N} \sum_{i=1}^{N} {(\hat{y}_i - y_i)^2}"
SEED_DJ_DYHAT = r"\frac{dJ}{d\hat{Y}} = \frac{2}{N} (\hat{Y} - Y)"
SEED_EXPANDED = {
    "W3": r"\frac{dJ}{dW_3} = \frac{2}{N} (\hat{Y} - Y) \sigma(W_2 \sigma(W_1 X^T + b_1) + b_2)^T",
    "b3": r"\frac{dJ}{db_3} = \frac{2}{N} \sum_{i=1}^{N}{\hat{y}_i - y_i}",
    "W2": r"\frac{dJ}{dW_2} = \frac{2}{N} (W_3^T (\hat{Y} - Y)) \circ \sigma`(W_2 \sigma(W_1 X^T + b_1) + b_2) \sigma(W_1 X^T + b_1)^T",
    "b2": r"\frac{dJ}{db_2} = \frac{2}{N} \sum_{i=1}^{N}((W_3^T (\hat{Y} - Y)) \circ \sigma`(W_2 \sigma(W_1 X^T + b_1) + b_2))",
    "W1": r"\frac{dJ}{dW_1} = \frac{2}{N} (W_2^T (W_3^T (\hat{Y} - Y) \circ \sigma`(W_2 \sigma(W1 X^T + b1) + b2))) \circ \sigma`(W_1 X^T + b_1) X^T",
    "b1": r"\frac{dJ}{db_1} = \frac{2}{N} \sum_{i=1}^{N}((W_2^T (W_3^T (\hat{Y} - Y) \circ \sigma`(W_2 \sigma(W_1 X^T + b_1) + b_2))) \circ \sigma`(W_1 X^T + b_1))",
}
SEED_DELTAS = {
    2: r"\frac{dJ}{dz_2} = (W_3^T \frac{dJ}{d\hat{Y}}) \circ \sigma`(z_2)",
    1: r"\frac{dJ}{dz_1} = (W_2^T \frac{dJ}{dz_2}) \circ \sigma`(z_1)",
}


def normalise(latex: str) -> str:
    """Notation only: the seed's backtick prime, its unsubscripted W1/b1/b2, and spacing."""
    s = latex.replace(r"\sigma`", r"\sigma'")
    s = re.sub(r"\b([Wb])(\d)\b", r"\1_\2", s)
    return re.sub(r"\s+", "", s)


def seed_errata(name: str, latex: str) -> str:
    """The two places where handgrad prints something other than the seed's characters, on purpose.

    * ``dJ/db_3``: the seed groups ``{\\hat{y}_i - y_i}`` with invisible braces, so the rendered
      sum reads ``Σ ŷ_i − y_i``; handgrad prints visible parentheses.
    * ``dJ/dW_1``: the seed ends with ``X^T``, which does not conform (``δ_1`` is n_1×N, ``X^T`` is
      n_0×N; see ``test_seed_dW1_with_XT_does_not_conform``). Its MATLAB multiplies by ``x'`` where
      ``x = X(i:batch_end, :)'``, i.e. by ``X``: handgrad prints ``X``.
    """
    if name == "b3":
        return latex.replace(r"{\hat{y}_i - y_i}", r"(\hat{y}_i - y_i)")
    if name == "W1":
        assert latex.endswith(" X^T")
        return latex[: -len(" X^T")] + " X"
    return latex


@pytest.fixture(scope="module")
def seed():
    return derive([37, 128, 64, 1], activation="relu", loss="mse")


@pytest.mark.parametrize("name", list(SEED_EXPANDED))
def test_expanded_gradients_match_the_seed_term_for_term(seed, name):
    l = int(name[1])
    expr = (seed.expanded_dW if name[0] == "W" else seed.expanded_db)[l - 1]
    ours = rf"\frac{{dJ}}{{d{name[0]}_{l}}} = {expr.latex()}"
    assert normalise(ours) == normalise(seed_errata(name, SEED_EXPANDED[name]))


def test_the_seed_formulas_appear_in_the_markdown(seed):
    md = seed.markdown()
    for name in SEED_EXPANDED:
        block = re.search(r"\$\$\n(" + re.escape(r"\frac{dJ}{d" + name[0] + "_" + name[1] + "}") + r"[^\n]*)\n\$\$", md)
        assert block is not None, name
    blocks = re.findall(r"\$\$\n([^\n]*)\n\$\$", md)
    expanded = [b for b in blocks if normalise(b) in {normalise(seed_errata(n, s)) for n, s in SEED_EXPANDED.items()}]
    assert len(expanded) == 6
    assert normalise(SEED_MODEL) in {normalise(b) for b in blocks}
    assert normalise(SEED_J) in {normalise(b) for b in blocks}
    assert normalise(SEED_DJ_DYHAT) in {normalise(b) for b in blocks}


def test_model_loss_and_deltas_match_the_seed(seed):
    assert normalise(r"\hat{Y} = " + seed.model.latex()) == normalise(SEED_MODEL)
    assert normalise(r"\frac{dJ}{d\hat{Y}} = " + Scale(seed.factor, seed.loss_form.error).latex()) == normalise(
        SEED_DJ_DYHAT
    )
    # §1.3 names δ_l = dJ/dz_l, and δ_3 = dJ/dŶ for the seed's linear output.
    for l, seed_latex in SEED_DELTAS.items():
        ours = rf"\frac{{dJ}}{{dz_{l}}} = " + seed.deltas[l - 1].latex()
        ours = ours.replace(r"\delta_3", r"\frac{dJ}{d\hat{Y}}").replace(r"\delta_2", r"\frac{dJ}{dz_2}")
        assert normalise(ours) == normalise(seed_latex)
    assert seed.forward["z1"].latex() == r"W_1 X^T + b_1"


def test_text_rendering_of_the_seed(seed):
    # Written by hand from the seed's §1.2, in the terminal's Unicode.
    assert seed.expanded_dW[1].text() == "2/N (W₃ᵀ (Ŷ − Y)) ∘ σ'(W₂ σ(W₁ Xᵀ + b₁) + b₂) σ(W₁ Xᵀ + b₁)ᵀ"
    assert seed.expanded_db[2].text() == "2/N Σᵢ(ŷᵢ − yᵢ)"
    text = seed.text()
    for needle in ("Ŷ = W₃ σ(W₂ σ(W₁ Xᵀ + b₁) + b₂) + b₃", "δ₂ = dJ/dz₂ = (W₃ᵀ δ₃) ∘ σ'(z₂)", "W₁        128 × 37"):
        assert needle in text
    assert "\\" not in text  # no LaTeX leaks into the terminal form


def test_seed_dW1_with_XT_does_not_conform(seed):
    # The seed's literal ending `… X^T` fails the shape check that every printed formula passes.
    as_written = Scale(seed.factor, MatMul(seed.chains[0], transpose(X)))
    assert as_written.latex().endswith(r"\circ \sigma'(W_1 X^T + b_1) X^T")
    with pytest.raises(ValueError, match="do not conform"):
        as_written.shape(seed.shapes())
    assert seed.expanded_dW[0].shape(seed.shapes()) == (128, 37)  # W_1 is 128 × 37


def _relu(z):
    return np.maximum(z, 0)


def _relu_deriv(z):
    return (z > 0).astype(float)


def test_expanded_formulas_evaluate_to_the_seed_matlab(seed):
    # The seed's MATLAB lines transcribed to NumPy by hand (x = X(batch, :)'), independent of handgrad.
    rng = np.random.default_rng(3)
    N = 5
    W1, b1 = rng.normal(size=(128, 37)), rng.normal(size=(128, 1))
    W2, b2 = rng.normal(size=(64, 128)) / 10, rng.normal(size=(64, 1))
    W3, b3 = rng.normal(size=(1, 64)) / 10, rng.normal(size=(1, 1))
    X = rng.random((N, 37))
    y = rng.normal(size=(1, N))
    x = X.T
    error = W3 @ _relu(W2 @ _relu(W1 @ x + b1) + b2) + b3 - y
    dW3 = 2 / N * error @ _relu(W2 @ _relu(W1 @ x + b1) + b2).T
    db3 = 2 / N * error.sum(axis=1)
    dW2 = 2 / N * (W3.T @ error) * _relu_deriv(W2 @ _relu(W1 @ x + b1) + b2) @ _relu(W1 @ x + b1).T
    db2 = 2 / N * ((W3.T @ error) * _relu_deriv(W2 @ _relu(W1 @ x + b1) + b2)).sum(axis=1)
    dW1 = 2 / N * (W2.T @ (W3.T @ error * _relu_deriv(W2 @ _relu(W1 @ x + b1) + b2))) * _relu_deriv(W1 @ x + b1) @ x.T
    db1 = (
        2
        / N
        * ((W2.T @ (W3.T @ error * _relu_deriv(W2 @ _relu(W1 @ x + b1) + b2))) * _relu_deriv(W1 @ x + b1)).sum(axis=1)
    )
    values = {"X": X, "Y": y, "W1": W1, "b1": b1[:, 0], "W2": W2, "b2": b2[:, 0], "W3": W3, "b3": b3[:, 0]}
    env = Env(values, seed.expanded_definitions())
    got = [e.evaluate(env) for e in seed.expanded_dW] + [e.evaluate(env) for e in seed.expanded_db]
    want = [dW1, dW2, dW3, db1, db2, db3]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    bp_env = Env(values, seed.backprop_definitions())
    for g, w in zip([e.evaluate(bp_env) for e in seed.backprop_dW], want[:3]):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Generalisation: depths, activations, losses; each checked numerically from the printed trees.
CASES = [
    ([3, 2], "relu", "identity", "mse"),  # no hidden layer
    ([4, 5, 3], "tanh", "identity", "mae"),
    ([4, 5, 3], "elu", "identity", "huber"),
    ([3, 5, 2], "sigmoid", "sigmoid", "mse"),  # non-linear output: dJ/dŶ ∘ σ_L'(z_L)
    ([4, 5, 5, 2], "gelu", "identity", "binary_crossentropy"),
    ([3, 5, 4, 6, 3], ["tanh", "sigmoid", "leaky_relu"], "identity", "softmax_crossentropy"),
    ([3, 4, 4, 4, 4, 2], "softplus", "tanh", "mse"),
]


@pytest.mark.parametrize(("sizes", "act", "out", "loss"), CASES)
def test_check_passes_for_many_networks(sizes, act, out, loss):
    der = derive(sizes, act, out, loss)
    report = der.check(batch=3, random_state=1, tol=1e-5)
    assert report.ok, str(report)
    assert len(report.parameters) == 2 * (len(sizes) - 1)
    for text in (der.text(), der.markdown(), der.latex()):
        assert text.count("dJ") >= 4 * (len(sizes) - 1)


def test_check_catches_a_wrong_formula():
    der = derive([3, 4, 2], "tanh", loss="mse")
    # drop σ'(z_1) from dJ/dW_1: the formula a careless derivation would print
    wrong_chain = der.chains[0].a  # W_2ᵀ (…) without ∘ σ'(…)
    wrong = dataclasses.replace(
        der, expanded_dW=[Scale(der.factor, MatMul(wrong_chain, der.expanded_dW[0].arg.b)), *der.expanded_dW[1:]]
    )
    report = wrong.check(batch=3)
    assert not report.ok
    assert report.parameters[0].expanded_vs_fd > 1e-2  # W1
    assert report.parameters[0].backprop_vs_fd < 1e-6  # backprop's own formula is still right
    # and a wrong scalar (the seed's 2/N taken as 1/N) is caught in every parameter
    halved = dataclasses.replace(der, deltas=[*der.deltas[:-1], Scale(Fraction(1), der.loss_form.error)])
    assert all(p.backprop_vs_fd > 0.1 for p in halved.check(batch=3).parameters)


def test_per_layer_activations_get_subscripts_and_a_shared_one_does_not():
    mixed = derive([3, 4, 4, 1], ["tanh", "relu"])
    assert r"\sigma_2(W_2 \sigma_1(W_1 X^T + b_1) + b_2)" in mixed.model.latex()
    assert "handgrad.activations.tanh_deriv" in mixed.text() and "handgrad.activations.relu_deriv" in mixed.text()
    shared = derive([3, 4, 4, 1], ["tanh", "tanh"])
    assert r"\sigma(W_2 \sigma(W_1" in shared.model.latex()


def test_cross_entropy_shows_the_cancellation():
    text = derive([3, 4, 3], "relu", loss="softmax_crossentropy").text()
    assert "diag(p) − p pᵀ" in text and "= pⱼ − yⱼ" in text and "dJ/dŶ = 1/N (P − Y)" in text
    text = derive([3, 4, 1], "relu", loss="binary_crossentropy").text()
    assert "= p − y" in text and "p (1 − p)" in text


def test_network_argument_and_errors():
    from handgrad import Network

    net = Network([2, 3, 1], activation="tanh", random_state=0)
    assert "σ(z) = tanh(z)" in derive(net).text()
    with pytest.raises(ConfigError):
        derive([3, 4, 1], "nope")
    with pytest.raises(ConfigError):
        derive([3, 4, 4, 1], ["relu"])  # one per hidden layer, or one for all

    class Custom(Loss):
        name = "custom"

    with pytest.raises(ConfigError, match="built-in losses"):
        derive([2, 1], loss=Custom())
    with pytest.raises(HandgradError):
        derive([2, 0, 1])


def test_latex_document_is_well_formed():
    tex = derive([5, 6, 6, 6, 6, 2], "relu", loss="softmax_crossentropy").latex()
    assert tex.startswith(r"\documentclass") and tex.rstrip().endswith(r"\end{document}")
    body = re.sub(r"\\[{}]", "", tex)
    assert body.count("{") == body.count("}")
    assert r"\resizebox{\linewidth}" in tex  # the long expanded formulas are scaled, not clipped
    assert (
        "expanded\\_layer" in tex
    )  # identifiers escaped in prose (was backprop_from_cache, a function the engine no longer has)
    assert tex.isascii()  # compiles with pdflatex, no Unicode set-up needed


def test_markdown_math_parses_with_matplotlib_mathtext(seed):
    # A syntax check of the display math (mathtext is a subset of LaTeX; the seed's formulas are within it).
    from matplotlib.mathtext import MathTextParser

    parser = MathTextParser("path")
    for block in re.findall(r"\$\$\n([^\n]*)\n\$\$", seed.markdown()):
        parser.parse(f"${block}$")


# ---------------------------------------------------------------------------------------------
# The command line
def test_cli_derive_text_and_check(capsys):
    assert (
        main(
            [
                "derive",
                "--inputs",
                "37",
                "--hidden",
                "128",
                "64",
                "--outputs",
                "1",
                "--activation",
                "relu",
                "--loss",
                "mse",
                "--check",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "dJ/dW₂ = 2/N (W₃ᵀ (Ŷ − Y)) ∘ σ'(W₂ σ(W₁ Xᵀ + b₁) + b₂) σ(W₁ Xᵀ + b₁)ᵀ" in out
    assert re.search(r"^W1 +\(128, 37\) +\d+ +\d\.\d\de-\d\d", out, re.M)
    assert "PASS" in out


def test_cli_derive_writes_files_in_the_format_of_the_suffix(tmp_path, capsys):
    md, tex = tmp_path / "d.md", tmp_path / "d.tex"
    assert main(["derive", "--inputs", "3", "--hidden", "4", "5", "--activation", "tanh", "relu", "-o", str(md)]) == 0
    assert main(["derive", "--inputs", "3", "-o", str(tex)]) == 0
    assert md.read_text().startswith("# Derivation for the network 3-4-5-1") and "$$" in md.read_text()
    assert tex.read_text().startswith(r"\documentclass")
    assert main(["derive", "--inputs", "3", "--format", "latex"]) == 0
    assert capsys.readouterr().out.startswith(r"\documentclass")


def test_cli_derive_errors(capsys):
    assert main(["derive", "--inputs", "3", "--hidden", "4", "4", "--activation", "relu", "tanh", "relu"]) == 2
    assert "one per hidden layer" in capsys.readouterr().err
    assert main(["derive", "--inputs", "0"]) == 2
    assert main(["derive", "--inputs", "3", "--loss", "nope"]) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--inputs", "3", "--seed", "-1", "--check"], "--seed must be an integer >= 0, got -1"),
        (["--inputs", "3", "--tol", "nan", "--check"], "--tol must be a finite number >= 0, got nan"),
        (["--inputs", "3", "--batch", "0", "--check"], "--batch must be an integer >= 1, got 0"),
        (["--inputs", "3", "--hidden", "4", "0"], "--hidden must be an integer or a sequence of integers >= 1"),
        # Issue 9: a MemoryError traceback before; now the figure and what the machine has.
        (["--inputs", "100000", "--hidden", "100000", "--check"],
         "--check of a network of layer sizes [100000, 100000, 1] needs about 521.6 GiB of memory; this machine has"),
    ],
)  # fmt: skip
def test_cli_derive_refuses_bad_settings_in_one_line(args, message, capsys, tmp_path):
    out = tmp_path / "d.md"
    assert main(["derive", *args, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("handgrad: error: ") and message in err[0], err
    assert not out.exists()  # refused before anything was written


def test_a_huge_network_is_derived_symbolically_without_allocating_it():
    d = derive([100000, 100000, 1], "relu", loss="mse")  # 10^10 weights: 80 GB if they were allocated
    assert "100000 × 100000" in d.text() or "(100000, 100000)" in d.text(), d.text()[:2000]
    with pytest.raises(ConfigError, match=r"needs about .* GiB of memory"):
        d.check()


# ---------------------------------------------------------------------------------------------
# docs/derivation.md stays in step with the code
DOC = REPO / "docs" / "derivation.md"
BEGIN = re.compile(r"<!-- BEGIN GENERATED: (handgrad derive [^>]*?) -->\n")
END = "<!-- END GENERATED -->"


def test_derivation_doc_generated_part_is_current():
    text = DOC.read_text(encoding="utf-8")
    m = BEGIN.search(text)
    assert m, "docs/derivation.md has no generated block"
    block = text[m.end() : text.index(END)]
    assert m.group(1) == "handgrad derive --inputs 37 --hidden 128 64 --outputs 1 --activation relu --loss mse"
    expected = derive([37, 128, 64, 1], "relu", loss="mse").markdown(heading_level=3)
    assert block.strip() == expected.strip(), (
        "regenerate with: python -m handgrad.teaching --update-doc docs/derivation.md"
    )


def test_derivation_doc_names_functions_that_exist():
    text = DOC.read_text(encoding="utf-8")
    names = set(re.findall(r"`(handgrad(?:\.\w+)+)`", text))
    assert len(names) >= 15
    for name in sorted(names):
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
                break
            except ModuleNotFoundError:
                continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)  # AttributeError names the stale reference
        assert obj is not None, name


def test_derivation_doc_lists_every_activation_as_the_code_writes_it():
    from handgrad.activations import ACTIVATIONS

    text = DOC.read_text(encoding="utf-8")
    for act in ACTIVATIONS.values():
        assert f"| `{act.name}`" in text, act.name
        assert f"${act.latex}$" in text and f"${act.latex_derivative}$" in text, act.name


# ---------------------------------------------------------------------------------------------
# Adding a loss touches losses.py only: a loss declared here, put in the table, is derived,
# checked and gradient-checked by code that names no loss.
def _log_cosh_class():
    from handgrad.losses import Elementwise, Formula, LossDerivation, Step

    class LogCosh(Loss):
        """ℓ = Σ_k log cosh(ŷ_k − y_k);  dℓ/dŷ = tanh(ŷ − y)."""

        name = "logcosh"
        tasks = ("regression",)

        def _per_sample(self, Yhat, Y):
            r = np.abs(Yhat - Y)
            return r + np.log1p(np.exp(-2 * r)) - np.log(2.0)  # log cosh r, overflow-free

        def _per_sample_grad(self, Yhat, Y):
            return np.tanh(Yhat - Y)

        def derivation(self, n_outputs):
            return LossDerivation(
                Fraction(1),
                Formula(r"\frac{1}{N} \sum_i \sum_k \log\cosh(\hat{y}_{ik} - y_{ik})", "1/N Σᵢ Σₖ log cosh(ŷᵢₖ − yᵢₖ)"),
                error_function=Elementwise("tanh_residual", r"\tanh", "tanh", np.tanh),
                steps=(Step(Formula(r"\frac{d \log\cosh r}{dr}", "d log cosh r/dr"), Formula(r"\tanh r", "tanh r")),),
            )

    return LogCosh


def test_a_loss_added_in_losses_py_alone_is_derived_and_checked(monkeypatch, capsys):
    from handgrad.losses import LOSSES, for_task

    LogCosh = _log_cosh_class()
    monkeypatch.setitem(LOSSES, "logcosh", LogCosh)
    assert "logcosh" in for_task("regression")
    d = derive([3, 4, 2], "tanh", loss="logcosh")
    assert "tanh(Ŷ − Y)" in d.text()
    report = d.check(batch=3, random_state=0)
    assert report.ok, str(report)
    assert main(["gradcheck", "--inputs", "3", "--hidden", "4", "--outputs", "2", "--loss", "logcosh"]) == 0
    assert capsys.readouterr().out.count("PASS") == 2
    assert main(["derive", "--inputs", "3", "--loss", "logcosh", "--check"]) == 0
    assert "PASS" in capsys.readouterr().out
