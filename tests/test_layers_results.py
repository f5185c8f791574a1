"""The scripts behind the layer types' figures (issue 14): their data splits, the models compared, tiny runs.

``benchmarks/layers_quality.py`` (quality over 3 seeds) and ``benchmarks/bench_layers.py`` (speed
against PyTorch) are run in full by hand (``docs/results.md``, "The layer types at work"); here: that the sine split is
in time with no test value in training, that the PyTorch models timed against handgrad have the same
parameters, and that both scripts run end to end with tiny settings.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_layers  # noqa: E402
import layers_quality  # noqa: E402


def test_sine_windows_predict_the_next_value_and_split_in_time():
    s, clean = layers_quality.sine_series()
    assert s.shape == clean.shape == (2400,)
    noise = s - clean
    assert 0.08 < noise.std() < 0.12  # 0.1 ε
    np.testing.assert_allclose(clean[:3], np.sin([0.0, 0.1, 0.2]))
    Xtr, Xte, ytr, yte, floor = layers_quality.sine()
    assert Xtr.shape == (1780, 20) and Xte.shape == (580, 20)
    # each window's target is the value right after it
    i = 37
    np.testing.assert_array_equal(Xtr[i], s[i : i + 20])
    assert ytr[i] == s[i + 20]
    np.testing.assert_array_equal(Xte[0], s[1800:1820])
    assert yte[0] == s[1820] and yte[-1] == s[-1]
    # no value of the test part is seen in training (inputs or targets)
    assert ytr[-1] == s[1799]
    assert abs(floor - np.mean(noise[1820:] ** 2)) < 1e-12
    # the validation part: the last 20 % in time, no window reaching across the cut
    _Xa, Xv, ya, yv = layers_quality.sine_validation(Xtr, ytr)
    cut = int(0.8 * len(Xtr))
    assert len(Xv) == len(Xtr) - cut and yv[0] == s[cut + 20]
    assert ya[-1] == s[cut - 1]  # the last training target precedes the first validation window


def test_digits_splits_are_fixed_and_stratified():
    Xtr, Xte, ytr, yte = layers_quality.digits()
    assert Xtr.shape == (1347, 64) and Xte.shape == (450, 64)
    per_class = np.bincount(ytr) + np.bincount(yte)
    assert np.all(np.abs(np.bincount(yte) - 0.25 * per_class) <= 1)  # stratified: 25 % of each class
    again = layers_quality.digits()
    np.testing.assert_array_equal(again[1], Xte)
    Xa, Xv, _ya, yv = layers_quality.digits_validation(Xtr, ytr)
    assert (len(Xa), len(Xv)) == (1077, 270)
    assert np.all(np.abs(np.bincount(yv) - 0.2 * np.bincount(ytr)) <= 1)


@pytest.mark.parametrize(
    "name",
    [
        "digits CNN conv(8)",
        "digits CNN conv(16)",
        "digits LSTM lstm(32)",
        "digits LSTM lstm(64)",
        "sine RNN",
        "sine LSTM",
    ],
)
def test_pytorch_models_have_handgrads_parameters(name):
    """The models timed against each other are the same networks: equal parameter counts and output shapes.

    PyTorch's recurrent layers carry two biases (bias_ih and bias_hh) where handgrad has one (their sum).
    """
    torch = pytest.importorskip("torch")
    from handgrad.layers import LayerStack

    models = bench_layers.models([16], [64])
    (key,) = [k for k in models if k.startswith(name)]
    m = models[key]
    stack = LayerStack(m["spec"], m["shape"], random_state=0)
    model = bench_layers.torch_model(m).double()
    extra = 0
    for mod in model.modules():
        if isinstance(mod, (torch.nn.RNN, torch.nn.LSTM)):
            extra += mod.bias_hh_l0.numel()
    assert sum(p.numel() for p in model.parameters()) - extra == stack.layout.size
    X = m["X"][:5]
    out = model(torch.tensor(X).reshape(-1, *m["shape"]))
    assert tuple(out.shape) == (5, stack.n_outputs) == stack.forward(X).shape


def test_bench_layers_runs(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "speed.md"
    assert (
        bench_layers.main(
            [
                "--rounds",
                "1",
                "--batch-sizes",
                "1024",
                "--models",
                "sine RNN",
                "--torch-threads",
                "1",
                "--markdown",
                str(out),
            ]
        )
        == 0
    )
    rows = [line for line in out.read_text().splitlines() if line.startswith("| sine RNN")]
    assert len(rows) == 4
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[3]) > 0 and float(cells[6]) > 0
        assert cells[5].endswith("×") == cells[2].startswith("PyTorch")


def test_layers_quality_runs(tmp_path, monkeypatch):
    """The quality script end to end on the sine task, with two epochs and a grid of two."""
    grids = {k: [dict(c, max_iter=2) for c in v[:2]] for k, v in layers_quality.GRIDS.items()}
    monkeypatch.setattr(layers_quality, "GRIDS", grids)
    monkeypatch.setattr(layers_quality, "SEEDS", (0, 1))
    out = tmp_path / "quality.md"
    assert layers_quality.main(["--tasks", "sine", "--markdown", str(out)]) == 0
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| sine:")]
    assert len(rows) == 3 + 3 * 2  # three results, then two validation rows per model
    assert sum("(chosen)" in r for r in rows) == 3
    assert "σ² = 0.01000" in text
