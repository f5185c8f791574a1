r"""Pictures of training and of the mathematics (needs the ``plot`` extra).

Every function here draws one picture, writes it to ``path`` and returns that
path as a :class:`pathlib.Path`:

=============================  ==================================================
:func:`plot_loss_curves`        train and validation loss per epoch, best epoch marked
:func:`plot_predicted_vs_actual` regression: ŷ against y with the identity line, R², MSE
:func:`plot_fit_1d`             a 1-D problem: the data and the network's curve
:func:`animate_fit_1d`          the same as an animated GIF of training
                                (:class:`FitRecorder` collects the frames)
:func:`plot_decision_boundary`  2-D classification: predicted class over the plane
:func:`plot_activations`        each σ (solid) with its derivative σ' (dashed)
=============================  ==================================================

Conventions
-----------
* Arrays follow the public API: ``X`` has shape ``(n_samples, n_features)``, a
  target ``y`` has shape ``(n_samples,)`` or ``(n_samples, n_outputs)``; a
  ``predict`` argument is any callable mapping ``(n, n_features)`` to
  ``(n,)`` or ``(n, n_outputs)`` (a :class:`handgrad.Network` is one), or an
  object with a ``.predict`` method.
* The image format follows the file's suffix (``.png``, ``.svg``, ``.pdf``, ...;
  the animation writes ``.gif``). The image measures ``figsize × dpi`` pixels.
* Files are written atomically: the picture goes to a temporary file in the
  same folder, which is then renamed over ``path``, so an interrupted or failed
  call never leaves a half-written image. ``overwrite=True`` is the default
  (re-drawing a plot is the normal case); with ``overwrite=False`` an existing
  file is an error (``FileExistsError``) and is left untouched.
* Bad input raises a :mod:`handgrad.errors` class before anything is written.
* matplotlib is imported only inside the functions, through its object-oriented
  API (``Figure`` + the Agg canvas) rather than ``pyplot``: no global figure
  registry, no leaked figures, and the user's own backend setting is never
  touched. Without matplotlib every function raises :class:`PlotDependencyError`
  (an ``ImportError`` and a :class:`~handgrad.errors.HandgradError`) that says
  ``pip install "handgrad[plot]"``.

Example::

    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from handgrad.plots import plot_loss_curves
    >>> history = {"train_loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.6, 0.4]}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     out = plot_loss_curves(history, Path(folder) / "loss.png", figsize=(4, 3), dpi=50)
    ...     out.name, out.stat().st_size > 0
    ('loss.png', True)
"""

from __future__ import annotations

import errno
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ._files import atomic_write_named
from ._validation import as_float_array, check_finite
from .activations import ACTIVATIONS, get_activation
from .errors import (
    ConfigError,
    HandgradError,
    NonFiniteError,
    PlotDependencyError,
    ShapeError,
)  # PlotDependencyError: re-exported
from .metrics import mean_squared_error, r2_score

__all__ = [
    "PLOT_INSTALL_HINT",
    "FitRecorder",
    "PlotDependencyError",
    "animate_fit_1d",
    "plot_activations",
    "plot_decision_boundary",
    "plot_fit_1d",
    "plot_loss_curves",
    "plot_predicted_vs_actual",
]

#: What to run when matplotlib is missing.
PLOT_INSTALL_HINT = 'pip install "handgrad[plot]"'
#: Dots per inch of every still image unless ``dpi=`` says otherwise.
DEFAULT_DPI = 100
#: Dots per inch of the animation (smaller: a GIF stores every frame).
DEFAULT_GIF_DPI = 80
#: At most this many outputs get a panel in :func:`plot_predicted_vs_actual`.
MAX_OUTPUT_PANELS = 4
#: At most this many points are drawn in a scatter (metrics still use all of them).
MAX_SCATTER_POINTS = 20_000
#: Points of the default x grid of the 1-D fit plots.
DEFAULT_GRID_POINTS = 400

# Key spellings accepted in a history (the training loop writes the first of each).
_TRAIN_KEYS = ("train_loss", "loss")
_VAL_KEYS = ("val_loss", "valid_loss", "validation_loss")


# ---------------------------------------------------------------- matplotlib
def _matplotlib():
    """Import matplotlib lazily; return ``(Figure, FigureCanvasAgg)``."""
    try:
        import matplotlib  # noqa: F401  (imported first so a missing package is reported as such)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise PlotDependencyError(
            f"plotting needs matplotlib, which could not be imported ({exc}); install it with: {PLOT_INSTALL_HINT}"
        ) from None
    return Figure, FigureCanvasAgg


def _new_figure(figsize: tuple[float, float], dpi: float):
    """A Figure drawn by its own Agg canvas.

    NOTE: ``Figure`` + ``FigureCanvasAgg`` instead of ``pyplot.figure``: pyplot
    would register the figure globally (leaking it unless closed) and would use,
    or switch, the user's interactive backend.
    """
    Figure, FigureCanvasAgg = _matplotlib()
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)  # attaches itself as fig.canvas
    return fig


def _check_figure_args(figsize, dpi) -> tuple[tuple[float, float], float]:
    try:
        w, h = (float(v) for v in figsize)
        dpi = float(dpi)
    except (TypeError, ValueError):
        raise ConfigError(
            f"figsize must be (width, height) in inches and dpi a number; got {figsize!r}, {dpi!r}"
        ) from None
    if not (w > 0 and h > 0 and dpi > 0 and math.isfinite(w * h * dpi)):
        raise ConfigError(f"figsize and dpi must be positive; got figsize={figsize!r}, dpi={dpi!r}")
    if w * dpi * h * dpi > 50e6:
        raise ConfigError(f"an image of {w * dpi:.0f}×{h * dpi:.0f} pixels is too large; lower figsize or dpi")
    return (w, h), dpi


# ---------------------------------------------------------------- writing files
def _check_path(path, *, overwrite: bool, formats: Iterable[str] | None = None) -> tuple[Path, str]:
    """Validate the output path before drawing; return it and its format (the suffix)."""
    try:
        path = Path(os.fspath(path))
    except TypeError:
        raise ConfigError(f"path must be a file name or path-like, got {type(path).__name__}") from None
    fmt = path.suffix.lower().lstrip(".")
    if formats is None:
        _, FigureCanvasAgg = _matplotlib()
        formats = FigureCanvasAgg.get_supported_filetypes()
    formats = sorted(formats)
    if fmt not in formats:
        raise ConfigError(
            f"cannot write an image to {str(path)!r}: the suffix {path.suffix or '(none)'!r} is not one of "
            + ", ".join("." + f for f in formats)
        )
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not an image file name", str(path))
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(errno.ENOENT, "the folder to write the image into does not exist", str(folder))
    if not overwrite and path.is_file():  # a device or FIFO is written into, never "overwritten"
        raise FileExistsError(errno.EEXIST, "the file exists; pass overwrite=True to replace it", str(path))
    return path, fmt


def _write_atomically(path: Path, write: Callable[[str], None], *, overwrite: bool) -> Path:
    """Call ``write(tmp_name)`` on a fresh temporary file beside ``path``, then rename it to ``path``.

    :func:`handgrad._files.atomic_write_named`, the one writer of handgrad's
    files: the temporary name keeps ``path``'s suffix (Pillow picks the GIF
    format from it); on any failure the temporary file is removed, ``path`` is
    untouched and the error names ``path``; a device or FIFO (``/dev/null``) is
    written into, never replaced.
    """
    return atomic_write_named(path, write, force=overwrite)


def _save_figure(fig, path: Path, fmt: str, *, overwrite: bool) -> Path:
    # No bbox_inches="tight": the image keeps exactly figsize × dpi pixels.
    return _write_atomically(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=fig.dpi), overwrite=overwrite)


# ---------------------------------------------------------------- input checks
def _as_array(a, name: str) -> np.ndarray:
    """``a`` as a float64 array (ShapeError on text or complex numbers)."""
    return as_float_array(a, name, np.float64)


def _squeeze_column(a: np.ndarray) -> np.ndarray:
    """``a`` of shape (n, 1) as (n,); any other shape unchanged (the caller checks it)."""
    return a[:, 0] if a.ndim == 2 and a.shape[1] == 1 else a


def _as_column_set(a, name: str) -> np.ndarray:
    """``a`` of shape (n,) or (n, k) as (n, k) (a 1-D target is one output, as in the engine)."""
    a = _as_array(a, name)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ShapeError(f"{name} must have shape (n_samples,) or (n_samples, n_outputs), got {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ShapeError(f"{name} is empty (shape {a.shape}); there is nothing to plot")
    check_finite(a, name)
    return a


def _as_1d(a, name: str, *, what: str = "one value per sample") -> np.ndarray:
    """``a`` of shape (n,) or (n, 1) as (n,); anything wider is a ShapeError."""
    a = _squeeze_column(_as_array(a, name))
    if a.ndim != 1:
        raise ShapeError(f"{name} must have shape (n,) or (n, 1) ({what}), got {a.shape}")
    if a.shape[0] == 0:
        raise ShapeError(f"{name} is empty (shape {a.shape}); there is nothing to plot")
    check_finite(a, name)
    return a


def _as_predict(predict) -> Callable:
    """A callable from a callable (a Network, a function) or an object with ``.predict``."""
    if callable(predict):
        return predict
    method = getattr(predict, "predict", None)
    if callable(method):
        return method
    raise ConfigError(
        f"predict must be a callable mapping X (n, n_features) to predictions, or have a .predict method; "
        f"got {type(predict).__name__}"
    )


def _predict_1d(predict: Callable, x_grid: np.ndarray) -> np.ndarray:
    """ŷ on ``x_grid`` (m,) as (m,): calls ``predict`` on the column ``(m, 1)``."""
    out = _squeeze_column(_as_array(predict(x_grid[:, None]), "the prediction on the x grid"))
    if out.shape != x_grid.shape:
        raise ShapeError(
            f"predict returned shape {out.shape} for {x_grid.shape[0]} grid points of shape ({x_grid.shape[0]}, 1); "
            f"expected ({x_grid.shape[0]},) or ({x_grid.shape[0]}, 1): a 1-D fit needs one output"
        )
    check_finite(out, "the prediction on the x grid")
    return out


def _padded_range(lo: float, hi: float) -> tuple[float, float]:
    """``[lo, hi]`` 5 % wider on each side (±1 around a single value)."""
    pad = 0.05 * (hi - lo) if hi > lo else 1.0
    return lo - pad, hi + pad


def _default_grid(x: np.ndarray, n: int = DEFAULT_GRID_POINTS) -> np.ndarray:
    """``n`` evenly spaced points over the data's range, 5 % wider on each side."""
    return np.linspace(*_padded_range(float(x.min()), float(x.max())), n)


def _check_grid(x_grid, name: str = "x_grid") -> np.ndarray:
    grid = _as_1d(x_grid, name, what="one x value per grid point")
    if grid.shape[0] < 2:
        raise ShapeError(f"{name} needs at least 2 points, got {grid.shape[0]}")
    return grid


def _check_xy_1d(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = _as_1d(x, "x", what="a 1-D problem has one input feature")
    y = _as_1d(y, "y", what="one target per sample")
    if x.shape != y.shape:
        raise ShapeError(f"x has {x.shape[0]} samples but y has {y.shape[0]}; they must match")
    return x, y


def _scatter_subset(n: int) -> np.ndarray | slice:
    """Which points to draw: all, or a fixed random MAX_SCATTER_POINTS of them (same picture every time)."""
    if n <= MAX_SCATTER_POINTS:
        return slice(None)
    return np.sort(np.random.default_rng(0).choice(n, MAX_SCATTER_POINTS, replace=False))


def _scatter_data_1d(ax, x: np.ndarray, y: np.ndarray, label: str) -> None:
    """The data points ``(x, y)``, each (n_samples,), grey, at most MAX_SCATTER_POINTS of them."""
    subset = _scatter_subset(x.shape[0])
    ax.scatter(x[subset], y[subset], color="0.35", edgecolors="none", label=label, **_point_style(x.shape[0]))


def _point_style(n: int) -> dict:
    """Smaller, fainter markers for more points, so that dense regions still read as dense."""
    shown = min(n, MAX_SCATTER_POINTS)
    return {"s": float(np.clip(2000 / shown, 2, 30)), "alpha": float(np.clip(400 / shown, 0.15, 0.85))}


# ---------------------------------------------------------------- loss curves
def _history_rows(history) -> list[Mapping] | None:
    """The per-epoch dicts of a history, or None if it is a dict of lists."""
    if isinstance(history, Mapping):
        epochs = history.get("epochs")
        if isinstance(epochs, Sequence) and not isinstance(epochs, str) and all(isinstance(r, Mapping) for r in epochs):
            return list(epochs)  # e.g. History.to_dict() = {"epochs": [{...}, ...], ...}
        return None
    if hasattr(history, "epochs"):  # the training loop's History
        return list(history.epochs)
    if isinstance(history, Sequence) and not isinstance(history, str):
        return list(history)
    raise HandgradError(
        "history must be a dict of lists ({'train_loss': [...], 'val_loss': [...]}), a list of per-epoch dicts, "
        f"or an object with .epochs; got {type(history).__name__}"
    )


def _first_key(mapping: Mapping, keys: Sequence[str]):
    for key in keys:
        if key in mapping:
            return key
    return None


def _losses(values, name: str) -> np.ndarray:
    """A loss series with None → NaN (an epoch without that loss)."""
    try:
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise HandgradError(f"{name} holds a value that is not a number or None: {exc}") from None


def _history_series(history) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(epochs, train_loss, val_loss)``, each (n_epochs,); a missing loss is NaN."""
    rows = _history_rows(history)
    if rows is not None:
        if not rows:
            raise HandgradError("history is empty: there is no epoch to plot")
        for i, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise HandgradError(
                    f"history entry {i} is a {type(row).__name__}, expected a dict of that epoch's values"
                )
        if not any(_first_key(r, _TRAIN_KEYS + _VAL_KEYS) for r in rows):
            raise HandgradError(f"history has no loss: expected keys {_TRAIN_KEYS[0]!r} and/or {_VAL_KEYS[0]!r}")
        train = _losses([r.get(_first_key(r, _TRAIN_KEYS) or "") for r in rows], "history's train loss")
        val = _losses([r.get(_first_key(r, _VAL_KEYS) or "") for r in rows], "history's validation loss")
        epochs = _losses([r.get("epoch", i + 1) for i, r in enumerate(rows)], "history's epoch numbers")
        return epochs, train, val
    train_key, val_key = _first_key(history, _TRAIN_KEYS), _first_key(history, _VAL_KEYS)
    if train_key is None and val_key is None:
        raise HandgradError(
            f"history has no loss: expected keys {_TRAIN_KEYS[0]!r} and/or {_VAL_KEYS[0]!r}, got {sorted(history)}"
        )
    series = {k: _losses(history[k], f"history[{k!r}]") for k in (train_key, val_key) if k is not None}
    lengths = {k: len(v) for k, v in series.items()}
    n = max(lengths.values())
    if n == 0:
        raise HandgradError("history is empty: there is no epoch to plot")
    if len(set(lengths.values())) > 1:
        raise ShapeError(f"history's lists differ in length: {lengths}; one value (or None) per epoch is expected")
    epochs = _losses(history["epoch"], "history['epoch']") if "epoch" in history else np.arange(1.0, n + 1)
    if len(epochs) != n:
        raise ShapeError(f"history['epoch'] has {len(epochs)} entries but the losses have {n}")
    nan = np.full(n, np.nan)
    return epochs, series.get(train_key, nan), series.get(val_key, nan)


def plot_loss_curves(
    history,
    path,
    *,
    log_scale: bool | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (6.4, 4.0),
    dpi: float = DEFAULT_DPI,
    overwrite: bool = True,
) -> Path:
    """Train and validation loss per epoch, with the best epoch marked.

    Parameters
    ----------
    history : dict of lists, list of dicts, or an object with ``.epochs``
        ``{"train_loss": [...], "val_loss": [...]}`` (optionally ``"epoch"``), or
        ``[{"epoch": 1, "train_loss": .., "val_loss": ..}, ...]``, or the training
        loop's ``History`` (its ``.epochs``, or ``History.to_dict()`` with an
        ``"epochs"`` list). ``"loss"`` is read as the train loss. A validation
        loss that is None, NaN or absent (validation every k epochs, or none)
        is simply not drawn for that epoch; so are non-finite losses (a run that
        diverged).
    path : str or path-like
        The image file; its suffix picks the format (``.png``, ``.svg``, ``.pdf``).
    log_scale : bool or None
        Logarithmic loss axis. None (default): logarithmic when every loss is
        positive and they span more than a decade (largest > 10 × smallest), so
        that the slow tail of training stays readable beside the first drop.
    title : str or None
        Default "Loss per epoch".
    figsize, dpi
        Size in inches and dots per inch: the image is ``figsize × dpi`` pixels
        (default 640×400).
    overwrite : bool
        Replace an existing file (default True); False raises ``FileExistsError``.

    The best epoch is the one with the lowest validation loss, or the lowest
    train loss when there is no validation loss.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    HandgradError
        Empty history, no loss key, a loss that is not a number, no finite loss.
    ShapeError
        Lists of different lengths.
    """
    epochs, train, val = _history_series(history)
    figsize, dpi = _check_figure_args(figsize, dpi)
    has_train, has_val = np.isfinite(train), np.isfinite(val)
    if not (has_train.any() or has_val.any()):
        raise HandgradError(f"history has {len(epochs)} epochs but no finite loss to plot")
    finite = np.concatenate([train[has_train], val[has_val]])
    if log_scale is None:
        log_scale = bool(finite.min() > 0 and finite.max() / finite.min() > 10)
    elif log_scale and not finite.min() > 0:
        raise HandgradError(f"a logarithmic loss axis needs positive losses; the smallest is {finite.min():.6g}")
    path, fmt = _check_path(path, overwrite=overwrite)

    fig = _new_figure(figsize, dpi)
    ax = fig.add_subplot()
    # Markers when the points are few or sparse, so a single epoch or every-10th validation shows.
    if has_train.any():
        ax.plot(
            epochs[has_train],
            train[has_train],
            "-",
            color="C0",
            label="train",
            marker="o" if has_train.sum() <= 30 else None,
            ms=3,
        )
    if has_val.any():
        ax.plot(
            epochs[has_val],
            val[has_val],
            "-",
            color="C1",
            label="validation",
            marker="o" if has_val.sum() <= 30 else None,
            ms=3,
        )
    which, series, ok = ("validation", val, has_val) if has_val.any() else ("train", train, has_train)
    best = int(np.flatnonzero(ok)[np.argmin(series[ok])])
    best_epoch = epochs[best]
    epoch_text = f"{best_epoch:g}"
    ax.axvline(best_epoch, color="0.5", ls=":", lw=1)
    ax.plot(
        [best_epoch],
        [series[best]],
        "*",
        color="C3",
        ms=12,
        zorder=5,
        label=f"best: epoch {epoch_text} ({which} {series[best]:.4g})",
    )
    if log_scale:
        ax.set_yscale("log")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss" + (" (log scale)" if log_scale else ""))
    ax.set_title(title if title is not None else "Loss per epoch")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return _save_figure(fig, path, fmt, overwrite=overwrite)


# ---------------------------------------------------------------- predicted vs actual
def plot_predicted_vs_actual(
    y_true,
    y_pred,
    path,
    *,
    output_names: Sequence[str] | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float = DEFAULT_DPI,
    overwrite: bool = True,
) -> Path:
    """Regression: predicted against actual values, with the identity line ŷ = y.

    Each panel's title gives that output's R² and MSE (mean over samples of
    (ŷ − y)², the seed's J for one output).

    Parameters
    ----------
    y_true, y_pred : array (n_samples,) or (n_samples, n_outputs)
        Actual and predicted targets, the same shape (a 1-D array is one output,
        so ``(n,)`` and ``(n, 1)`` go together). One panel per output, for the
        first :data:`MAX_OUTPUT_PANELS` outputs (the figure's title says so when
        there are more). At most :data:`MAX_SCATTER_POINTS` points are drawn
        (a fixed random subset); the metrics use all.
    path : str or path-like
        The image file (suffix picks the format).
    output_names : sequence of str or None
        A name per output for the panel titles (default ``"output 1"``, ... or
        ``"y"`` for one output).
    title : str or None
        Figure title above the panels (default none for one output).
    figsize : (float, float) or None
        Default 4.5 × 4.5 inches per panel (450×450 pixels at the default dpi).
    dpi, overwrite
        As in :func:`plot_loss_curves`.

    Raises
    ------
    ShapeError
        y_true and y_pred differ in shape, are empty or more than 2-D.
    NonFiniteError
        NaN or inf in either.
    """
    yt, yp = _as_column_set(y_true, "y_true"), _as_column_set(y_pred, "y_pred")
    if yt.shape != yp.shape:
        raise ShapeError(
            f"y_true has shape {np.shape(y_true)} but y_pred has shape {np.shape(y_pred)}; they must match: "
            "(n_samples,) or (n_samples, n_outputs)"
        )
    n, k = yt.shape
    if output_names is not None and len(output_names) != k:
        raise ShapeError(f"output_names has {len(output_names)} names for {k} outputs")
    names = (
        list(output_names) if output_names is not None else (["y"] if k == 1 else [f"output {j + 1}" for j in range(k)])
    )
    shown = min(k, MAX_OUTPUT_PANELS)
    figsize, dpi = _check_figure_args(figsize if figsize is not None else (4.5 * shown, 4.5), dpi)
    path, fmt = _check_path(path, overwrite=overwrite)

    fig = _new_figure(figsize, dpi)
    axes = fig.subplots(1, shown, squeeze=False)[0]
    subset = _scatter_subset(n)
    style = _point_style(n)
    for j, ax in enumerate(axes):
        # R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)² (NaN when y is constant), MSE = mean (ŷ − y)², of output j
        r2, mse = r2_score(yt[:, j], yp[:, j]), mean_squared_error(yt[:, j], yp[:, j])
        ax.scatter(yt[subset, j], yp[subset, j], color="C0", edgecolors="none", **style)
        lim = _padded_range(float(min(yt[:, j].min(), yp[:, j].min())), float(max(yt[:, j].max(), yp[:, j].max())))
        ax.axline((lim[0], lim[0]), slope=1, ls="--", color="k", lw=1, label="ŷ = y")
        ax.update_datalim([lim, lim[::-1]])  # the same range on both axes
        # NOTE: adjustable="datalim", not "box": a shrunken box loses its title under constrained layout
        # (and no set_xlim/set_ylim, which "datalim" would override with a warning).
        ax.set_aspect("equal", adjustable="datalim")
        r2_text = f"{r2:.3f}" if math.isfinite(r2) else "n/a (constant y)"
        ax.set_title(f"{names[j]}: R² = {r2_text}, MSE = {mse:.4g}", fontsize="medium")
        ax.set_xlabel("actual")
        ax.set_ylabel("predicted")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
    notes = [title] if title else []
    if k > shown:
        notes.append(f"first {shown} of {k} outputs")
    if n > MAX_SCATTER_POINTS:
        notes.append(f"{MAX_SCATTER_POINTS:,} of {n:,} points drawn")
    if notes:
        fig.suptitle("; ".join(notes))
    return _save_figure(fig, path, fmt, overwrite=overwrite)


# ---------------------------------------------------------------- 1-D fit
def plot_fit_1d(
    predict,
    x,
    y,
    path,
    *,
    x_grid=None,
    title: str | None = None,
    figsize: tuple[float, float] = (6.4, 4.0),
    dpi: float = DEFAULT_DPI,
    overwrite: bool = True,
) -> Path:
    """A 1-D regression: the data points and the network's curve ŷ(x).

    Parameters
    ----------
    predict : callable or object with ``.predict``
        Maps ``X`` of shape ``(m, 1)`` to ``(m,)`` or ``(m, 1)`` (a
        :class:`handgrad.Network` with one input and one output is such a callable).
    x : array (n_samples,) or (n_samples, 1)
        The inputs.
    y : array (n_samples,) or (n_samples, 1)
        The targets.
    path : str or path-like
        The image file (suffix picks the format).
    x_grid : array (m,) or (m, 1), or None
        Where to draw the curve; default 400 points over the data's range, 5 %
        wider on each side.
    title, figsize, dpi, overwrite
        As in :func:`plot_loss_curves` (default title "Fitted curve").

    Raises
    ------
    ShapeError
        x or y not one value per sample, different lengths, or ``predict``
        returning more than one output.
    NonFiniteError
        NaN or inf in x, y or the prediction.
    """
    fn = _as_predict(predict)
    x, y = _check_xy_1d(x, y)
    grid = _check_grid(x_grid) if x_grid is not None else _default_grid(x)
    figsize, dpi = _check_figure_args(figsize, dpi)
    path, fmt = _check_path(path, overwrite=overwrite)
    y_grid = _predict_1d(fn, grid)

    fig = _new_figure(figsize, dpi)
    ax = fig.add_subplot()
    _scatter_data_1d(ax, x, y, f"data ({x.shape[0]:,} points)")
    ax.plot(grid, y_grid, color="C3", lw=2, label="network ŷ(x)")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title if title is not None else "Fitted curve")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return _save_figure(fig, path, fmt, overwrite=overwrite)


class FitRecorder:
    """Collects the network's curve on a grid during training, for :func:`animate_fit_1d`.

    A training callback by duck typing (it does not import the training
    module): the loop calls ``on_train_begin(state)`` (records epoch 0, the
    initial curve), ``on_epoch_end(epoch, logs)`` (records every ``every``-th
    epoch; returns None, so it never stops training) and
    ``on_train_end(history)`` (records the last epoch if it was skipped).

    Parameters
    ----------
    network_or_predict : callable or object with ``.predict``
        Maps ``(m, 1)`` to ``(m,)`` or ``(m, 1)``; a :class:`handgrad.Network`
        works directly, since the training loop updates its arrays in place.
    x_grid : array (m,) or (m, 1)
        Where to evaluate the curve.
    every : int
        Record every ``every``-th epoch (default 1).

    Attributes
    ----------
    x_grid : ndarray (m,)
    snapshots : list of (int, ndarray (m,))
        ``(epoch, ŷ on x_grid)``, in the order recorded.

    Example::

        >>> import numpy as np
        >>> rec = FitRecorder(lambda X: 2 * X[:, 0], np.linspace(0, 1, 5), every=2)
        >>> rec.on_train_begin(None)
        >>> for epoch in range(1, 6):
        ...     rec.on_epoch_end(epoch, {})
        >>> rec.on_train_end(None)
        >>> [epoch for epoch, _ in rec.snapshots]
        [0, 2, 4, 5]
    """

    def __init__(self, network_or_predict, x_grid, every: int = 1):
        self.predict = _as_predict(network_or_predict)
        self.x_grid = _check_grid(x_grid)
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
            raise ConfigError(f"every must be a positive integer, got {every!r}")
        self.every = int(every)
        self.snapshots: list[tuple[int, np.ndarray]] = []
        self._last_epoch: int | None = None

    def record(self, epoch: int) -> None:
        """Evaluate the curve now and store it as ``(epoch, ŷ (m,))``."""
        self.snapshots.append((int(epoch), _predict_1d(self.predict, self.x_grid).copy()))

    def on_train_begin(self, state=None) -> None:
        """Record the curve before training: epoch 0, or ``state.start_epoch`` for a resumed run."""
        self.record(int(getattr(state, "start_epoch", 0) or 0))

    def on_epoch_end(self, epoch, logs=None) -> None:
        """Record after every ``every``-th epoch (1-based). Returns None: never asks to stop."""
        self._last_epoch = int(epoch)
        if self._last_epoch % self.every == 0:
            self.record(self._last_epoch)

    def on_train_end(self, history=None) -> None:
        """Record the last epoch if ``every`` skipped it.

        NOTE: this frame shows the network as training returns it; after early
        stopping with ``restore_best`` that is the best epoch's weights, drawn
        under the last epoch's number.
        """
        if self._last_epoch is not None and (not self.snapshots or self.snapshots[-1][0] != self._last_epoch):
            self.record(self._last_epoch)

    def animate(self, x, y, path, **kwargs) -> Path:
        """:func:`animate_fit_1d` of these snapshots (same keyword arguments)."""
        return animate_fit_1d(self, x, y, path, **kwargs)


def _snapshot_curves(snapshots, x_grid) -> tuple[np.ndarray, list[tuple[float, np.ndarray]]]:
    """Resolve the snapshots to ``(grid (m,), [(epoch, ŷ (m,)), ...])``."""
    if isinstance(snapshots, FitRecorder) or (hasattr(snapshots, "snapshots") and hasattr(snapshots, "x_grid")):
        if x_grid is None:
            x_grid = snapshots.x_grid
        snapshots = snapshots.snapshots
    try:
        pairs = list(snapshots)
    except TypeError:
        raise HandgradError(
            f"snapshots must be a list of (epoch, prediction) pairs, got {type(snapshots).__name__}"
        ) from None
    if not pairs:
        raise HandgradError("snapshots is empty: there is no frame to animate")
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, Sequence) and not isinstance(pair, str) and len(pair) == 2):
            raise HandgradError(f"snapshots[{i}] must be an (epoch, y_grid_pred or predict) pair, got {pair!r:.80}")
    if x_grid is None:
        if any(not callable(p) for _, p in pairs):
            raise ConfigError(
                "snapshots hold predictions on a grid: pass that grid as x_grid (shape (m,)), "
                "or give (epoch, predict) pairs, or a FitRecorder"
            )
        raise ConfigError("animate_fit_1d needs x_grid when the snapshots are (epoch, predict) pairs")
    grid = _check_grid(x_grid)
    curves = []
    for i, (epoch, pred) in enumerate(pairs):
        try:
            epoch = float(epoch)
        except (TypeError, ValueError):
            raise HandgradError(f"snapshots[{i}] has epoch {epoch!r}, which is not a number") from None
        if callable(pred):
            curve = _predict_1d(pred, grid)
        else:
            curve = _squeeze_column(_as_array(pred, f"snapshots[{i}] prediction"))
            if curve.shape != grid.shape:
                raise ShapeError(
                    f"snapshots[{i}] (epoch {epoch:g}) has a prediction of shape {curve.shape} "
                    f"for an x_grid of {grid.shape[0]} points; expected ({grid.shape[0]},)"
                )
            check_finite(curve, f"snapshots[{i}] prediction (epoch {epoch:g})")
        curves.append((epoch, curve))
    return grid, curves


def animate_fit_1d(
    snapshots,
    x,
    y,
    path,
    *,
    x_grid=None,
    fps: float = 10,
    max_frames: int = 100,
    hold_last: float = 1.0,
    title: str | None = None,
    figsize: tuple[float, float] = (6.0, 4.0),
    dpi: float = DEFAULT_GIF_DPI,
    overwrite: bool = True,
) -> Path:
    """An animated GIF of a 1-D fit during training: the data, and the curve at each snapshot.

    Parameters
    ----------
    snapshots : list of (epoch, y_grid_pred) or (epoch, predict) pairs, or a FitRecorder
        ``y_grid_pred`` of shape (m,) or (m, 1) is the curve on ``x_grid``;
        ``predict`` is a callable evaluated on ``x_grid`` now (so it must be a
        *frozen* copy, e.g. ``net.copy()``, not the live network). A
        :class:`FitRecorder` brings its own ``x_grid``.
    x : array (n_samples,) or (n_samples, 1)
        The inputs of the data drawn in every frame.
    y : array (n_samples,) or (n_samples, 1)
        The targets.
    path : str or path-like
        The GIF file; its suffix must be ``.gif``.
    x_grid : array (m,) or (m, 1), or None
        The grid of the snapshots; required unless ``snapshots`` is a FitRecorder.
    fps : float
        Frames per second (default 10).
    max_frames : int
        At most this many frames: with more snapshots an evenly spaced subset
        is drawn, always keeping the first and the last (default 100).
    hold_last : float
        Seconds the last frame stays before the GIF loops (default 1).
    title : str or None
        Text before "epoch k" in each frame's title (default "Fitted curve").
    figsize, dpi
        Default 6 × 4 inches at 80 dpi: 480×320 pixels per frame.
    overwrite : bool
        As in :func:`plot_loss_curves`.

    The y axis is fixed over the frames: the data's range, widened to show the
    curves but by at most the data's span on either side (so that a wild first
    epoch does not flatten the rest).

    Raises
    ------
    HandgradError
        No snapshots, or malformed pairs.
    ShapeError
        A prediction that does not match ``x_grid``; x and y of different lengths.
    ConfigError
        Arrays without ``x_grid``; fps, max_frames or hold_last out of range; a suffix other than ``.gif``.
    """
    x, y = _check_xy_1d(x, y)
    grid, curves = _snapshot_curves(snapshots, x_grid)
    if not (isinstance(fps, (int, float)) and 0 < fps <= 100):
        raise ConfigError(f"fps must be a number in (0, 100], got {fps!r}")
    if isinstance(max_frames, bool) or not isinstance(max_frames, (int, np.integer)) or max_frames < 2:
        raise ConfigError(f"max_frames must be an integer >= 2, got {max_frames!r}")
    if not (isinstance(hold_last, (int, float)) and 0 <= hold_last <= 60):
        raise ConfigError(f"hold_last must be a number of seconds in [0, 60], got {hold_last!r}")
    figsize, dpi = _check_figure_args(figsize, dpi)
    path, _ = _check_path(path, overwrite=overwrite, formats=["gif"])
    _matplotlib()  # the clear error first, if matplotlib is missing
    from matplotlib.animation import PillowWriter

    if len(curves) > max_frames:
        keep = np.unique(np.round(np.linspace(0, len(curves) - 1, int(max_frames))).astype(int))
        curves = [curves[i] for i in keep]

    # A fixed y axis for all frames: the data's range, widened to the curves by at most one span.
    lo, hi = float(y.min()), float(y.max())
    span = hi - lo if hi > lo else 1.0
    c_lo = min(float(c.min()) for _, c in curves)
    c_hi = max(float(c.max()) for _, c in curves)
    y_lo, y_hi = max(min(lo, c_lo), lo - span), min(max(hi, c_hi), hi + span)
    pad = 0.05 * (y_hi - y_lo)

    fig = _new_figure(figsize, dpi)
    ax = fig.add_subplot()
    _scatter_data_1d(ax, x, y, "data")
    (line,) = ax.plot(grid, curves[0][1], color="C3", lw=2, label="network ŷ(x)")
    ax.set_xlim(float(grid.min()), float(grid.max()))
    ax.set_ylim(y_lo - pad, y_hi + pad)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    heading = title if title is not None else "Fitted curve"
    n_hold = round(hold_last * fps)

    def write(tmp: str) -> None:
        writer = PillowWriter(fps=fps)
        with writer.saving(fig, tmp, dpi):
            for epoch, curve in curves:
                line.set_ydata(curve)
                ax.set_title(f"{heading}: epoch {epoch:g}")
                writer.grab_frame()
            # NOTE: Pillow merges identical consecutive frames into one longer frame, so holding
            # the last frame costs no space.
            for _ in range(n_hold):
                writer.grab_frame()

    return _write_atomically(path, write, overwrite=overwrite)


# ---------------------------------------------------------------- decision boundary
def _class_indices(y) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, index of each sample's class)`` from labels (n,) / (n, 1) or one-hot (n, k)."""
    y = _squeeze_column(np.asarray(y))
    if y.ndim == 2:  # one-hot (or per-class scores): the class is the column
        if y.dtype.kind not in "biuf":
            raise ShapeError(f"y of shape {y.shape} must be numeric to be read as one-hot")
        return np.arange(y.shape[1]), np.argmax(y, axis=1)
    if y.ndim != 1:
        raise ShapeError(
            f"y must have shape (n_samples,) of class labels or (n_samples, n_classes) one-hot, got {y.shape}"
        )
    if y.dtype.kind == "f":
        check_finite(y, "y")
    classes, index = np.unique(y, return_inverse=True)
    return classes, index.reshape(-1)


def _is_integral(a: np.ndarray) -> bool:
    return a.dtype.kind in "biu" or (a.dtype.kind == "f" and bool(np.all(a == np.round(a))))


def plot_decision_boundary(
    predict,
    X,
    y,
    path,
    *,
    resolution: int = 200,
    title: str | None = None,
    figsize: tuple[float, float] = (6.0, 5.0),
    dpi: float = DEFAULT_DPI,
    overwrite: bool = True,
) -> Path:
    """2-D classification: the predicted class (or probability) over the plane, and the data.

    The plane is the data's bounding box, 10 % wider on each side, sampled on a
    ``resolution × resolution`` grid that is passed to ``predict`` in one call.

    Parameters
    ----------
    predict : callable or object with ``.predict``
        Maps ``(m, 2)`` to one of:

        * ``(m,)`` or ``(m, 1)`` **class labels** (integer-valued, or the same
          labels as ``y``): filled regions, one colour per class;
        * ``(m,)`` or ``(m, 1)`` **probabilities** of the second class (real
          values in [0, 1]; binary problems): a shaded probability with the
          0.5 contour drawn as the boundary; real values outside [0, 1] are
          read as **logits** (handgrad's cross-entropies work on logits) and
          passed through the sigmoid first;
        * ``(m, k)``, k ≥ 2, per-class **scores** (probabilities or logits):
          the predicted class is the arg max, column j being the j-th class of
          ``y`` in sorted order.
    X : array (n_samples, 2)
        The data's two input features.
    y : array (n_samples,) or (n_samples, 1) of class labels, or (n_samples, n_classes) one-hot
        The data's classes (numbers or strings).
    path : str or path-like
        The image file (suffix picks the format).
    resolution : int
        Grid points per axis, 2 … 2000 (default 200: 40,000 predictions).
    title, figsize, dpi, overwrite
        As in :func:`plot_loss_curves` (default title "Decision boundary", 600×500 pixels).

    Raises
    ------
    ShapeError
        X not of shape (n_samples, 2), y of another length, or ``predict``
        returning another number of rows.
    HandgradError
        One probability per point for a problem with more than two classes.
    """
    fn = _as_predict(predict)
    X = _as_array(X, "X")
    if X.ndim != 2 or X.shape[1] != 2:
        raise ShapeError(
            f"plot_decision_boundary draws a plane: X must have shape (n_samples, 2), got {X.shape}"
            + ("; pick two features, or plot a 2-D projection" if X.ndim == 2 and X.shape[1] > 2 else "")
        )
    if X.shape[0] == 0:
        raise ShapeError(f"X has no samples (shape {X.shape}); there is nothing to plot")
    check_finite(X, "X")
    classes, idx = _class_indices(y)
    if idx.shape[0] != X.shape[0]:
        raise ShapeError(f"y has {idx.shape[0]} labels but X has {X.shape[0]} samples; they must match")
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or not 2 <= resolution <= 2000:
        raise ConfigError(f"resolution must be an integer in [2, 2000], got {resolution!r}")
    figsize, dpi = _check_figure_args(figsize, dpi)
    path, fmt = _check_path(path, overwrite=overwrite)

    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = np.where(hi > lo, 0.1 * (hi - lo), 1.0)
    g0 = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    g1 = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    xx, yy = np.meshgrid(g0, g1)  # (resolution, resolution), row i ↔ g1[i]
    grid = np.column_stack([xx.ravel(), yy.ravel()])  # (resolution², 2)
    out = np.asarray(fn(grid))
    m = grid.shape[0]
    if out.ndim == 0 or out.shape[0] != m or out.ndim > 2:
        raise ShapeError(
            f"predict returned shape {out.shape} for {m} grid points of shape ({m}, 2); "
            f"expected ({m},) labels or probabilities, or ({m}, n_classes) scores"
        )
    out = _squeeze_column(out)
    if out.dtype.kind in "f":
        check_finite(out, "the prediction on the grid")

    fig = _new_figure(figsize, dpi)
    ax = fig.add_subplot()
    from matplotlib.colors import ListedColormap

    n_classes = len(classes)
    probability = out.ndim == 1 and out.dtype.kind == "f" and not _is_integral(out)
    if probability:
        if n_classes > 2:
            raise HandgradError(
                f"predict returned one real value per point, read as P(second class), but y has {n_classes} "
                f"classes {list(classes)[:10]}; return labels or (m, {n_classes}) scores instead"
            )
        p = out if out.min() >= 0 and out.max() <= 1 else np.exp(-np.logaddexp(0, -out))  # sigmoid of logits
        p = p.reshape(resolution, resolution)
        cs = ax.contourf(xx, yy, p, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.55, vmin=0, vmax=1)
        ax.contour(xx, yy, p, levels=[0.5], colors="k", linewidths=1.5)
        positive = classes[1] if n_classes == 2 else "class 1"
        fig.colorbar(cs, ax=ax, label=f"P(y = {positive})", shrink=0.9)
        colours = ["#2166ac", "#b2182b"]  # the colour map's two ends
    else:
        if out.ndim == 2:
            pred_idx = np.argmax(out, axis=1)
            n_regions = max(out.shape[1], n_classes)
        else:
            # Labels: place them among y's classes (labels y never had get their own colours).
            try:
                all_classes = np.unique(np.concatenate([classes, np.unique(out)]))
            except (TypeError, ValueError):
                raise HandgradError(
                    f"predict returned labels of type {out.dtype} that cannot be compared with y's classes {list(classes)[:10]}"
                ) from None
            idx = np.searchsorted(all_classes, classes)[idx]
            pred_idx = np.searchsorted(all_classes, out)
            classes, n_regions = all_classes, len(all_classes)
        palette = [f"C{i % 10}" for i in range(n_regions)]
        ax.contourf(
            xx,
            yy,
            pred_idx.reshape(resolution, resolution),
            levels=np.arange(n_regions + 1) - 0.5,
            cmap=ListedColormap(palette),
            alpha=0.3,
        )
        colours = palette
    for c in range(len(classes)):
        members = idx == c
        if members.any():
            ax.scatter(
                X[members, 0],
                X[members, 1],
                color=colours[c % len(colours)],
                edgecolors="k",
                linewidths=0.6,
                **{"s": _point_style(X.shape[0])["s"] * 1.5, "alpha": 0.9},
                label=f"class {classes[c]}",
            )
    if not probability:
        from matplotlib.patches import Patch

        # Regions of classes that no data point has would otherwise be unexplained.
        handles, labels = ax.get_legend_handles_labels()
        for c in range(len(classes), n_regions) if out.ndim == 2 else np.setdiff1d(np.unique(pred_idx), np.unique(idx)):
            name = classes[c] if c < len(classes) else c
            handles.append(Patch(color=colours[c], alpha=0.3))
            labels.append(f"predicted {name} (no data)")
    ax.set_xlim(g0[0], g0[-1])
    ax.set_ylim(g1[0], g1[-1])
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_title(title if title is not None else "Decision boundary")
    if probability:
        ax.legend(loc="best", fontsize="small", framealpha=0.8)
    else:
        ax.legend(handles, labels, loc="best", fontsize="small", framealpha=0.8)
    return _save_figure(fig, path, fmt, overwrite=overwrite)


# ---------------------------------------------------------------- activations
def plot_activations(
    names,
    path,
    *,
    z_range: tuple[float, float] = (-4.0, 4.0),
    ncols: int | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float = DEFAULT_DPI,
    overwrite: bool = True,
) -> Path:
    """Each activation σ (solid) and its derivative σ' (dashed) over z ∈ [−4, 4], one panel each.

    These are the two functions the network uses: σ in the forward pass
    (``a_l = σ(z_l)``, §1.1) and σ' in backpropagation
    (``delta_l = (W_{l+1}ᵀ delta_{l+1}) ∘ σ'(z_l)``, §1.3); both are the
    library's own code, not re-derived here.

    Parameters
    ----------
    names : str, sequence of (str or Activation), or None
        Activation names of :data:`handgrad.activations.ACTIVATIONS` (aliases
        such as ``"logistic"`` work) or :class:`~handgrad.activations.Activation`
        objects; None (default) draws all registered activations.
    path : str or path-like
        The image file (suffix picks the format).
    z_range : (float, float)
        The z axis (default (−4, 4)).
    ncols : int or None
        Panels per row (default up to 4).
    figsize : (float, float) or None
        Default 3 × 2.5 inches per panel (300×250 pixels at the default dpi).
    dpi, overwrite
        As in :func:`plot_loss_curves`.

    Raises
    ------
    ConfigError
        An unknown name (the message lists the known ones), a bad z_range or ncols.
    HandgradError
        An empty list of names.
    """
    if names is None:
        names = list(ACTIVATIONS)
    elif isinstance(names, str):
        names = [names]
    activations = [get_activation(n) for n in names]
    if not activations:
        raise HandgradError(f"no activation to plot; give names from {sorted(ACTIVATIONS)}")
    try:
        z_lo, z_hi = (float(v) for v in z_range)
    except (TypeError, ValueError):
        raise ConfigError(f"z_range must be (low, high), got {z_range!r}") from None
    if not (math.isfinite(z_lo) and math.isfinite(z_hi) and z_lo < z_hi):
        raise ConfigError(f"z_range must be finite with low < high, got {z_range!r}")
    n = len(activations)
    if ncols is None:
        ncols = min(4, n)
    if isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ConfigError(f"ncols must be a positive integer, got {ncols!r}")
    ncols = min(int(ncols), n)
    nrows = math.ceil(n / ncols)
    figsize, dpi = _check_figure_args(figsize if figsize is not None else (3.0 * ncols, 2.5 * nrows), dpi)
    path, fmt = _check_path(path, overwrite=overwrite)

    z = np.linspace(z_lo, z_hi, 801)  # odd count: z = 0 is a grid point when the range is symmetric
    curves = []
    for act in activations:
        a, da = np.asarray(act.function(z), dtype=np.float64), np.asarray(act.derivative(z), dtype=np.float64)
        if a.shape != z.shape or da.shape != z.shape:
            raise ShapeError(f"activation {act.name!r} returned shapes {a.shape}, {da.shape} for z of shape {z.shape}")
        if not (np.isfinite(a).all() and np.isfinite(da).all()):
            raise NonFiniteError(f"activation {act.name!r} is not finite on z ∈ [{z_lo:g}, {z_hi:g}]")
        curves.append((act.name, a, da))

    fig = _new_figure(figsize, dpi)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (name, a, da) in zip(axes, curves):
        ax.axhline(0, color="0.6", lw=0.6)
        ax.axvline(0, color="0.6", lw=0.6)
        ax.plot(z, a, "-", color="C0", lw=1.8, label="σ(z)")
        ax.plot(z, da, "--", color="C3", lw=1.5, label="σ′(z)")
        ax.set_title(name, fontsize="medium")
        ax.set_xlim(z_lo, z_hi)
        ax.grid(True, alpha=0.25)
        ax.tick_params(labelsize="small")
    for ax in axes[n:]:
        ax.set_visible(False)
    axes[0].legend(loc="upper left", fontsize="x-small")
    for i in range(max(0, n - ncols), n):  # the lowest panel of each column
        axes[i].set_xlabel("z", fontsize="small")
    return _save_figure(fig, path, fmt, overwrite=overwrite)
