"""The plots of ``handgrad train``: which to draw where (planned before training), drawing them, and the fit recorder.

:func:`plan_plots` decides and checks the plot files before any work, so that a run
never ends in "file exists"; :func:`draw_plots` draws them with :mod:`handgrad.plots`
after training; :class:`ScaledFitRecorder` records the fitted curve during training
for the GIF. matplotlib is imported lazily (the ``plot`` extra).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import plots
from ..training import Callback
from ._common import CLASSIFICATION, RunFolder, check_output, model_loss, usage_error


def _have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


#: The ``--plot-*`` flags that name one image file each.
PLOT_KINDS = ("loss", "pred", "fit", "gif", "boundary", "activations")


def check_plot_flags(args) -> None:
    """Before the data are read: ``--plot`` is not a file, each ``--plot-*`` file has an image suffix and can be written.

    (:func:`plan_plots` decides later which plots apply to the data.)
    """
    if args.plot and Path(args.plot).exists() and not Path(args.plot).is_dir():
        raise usage_error(f"{args.plot}: is a file; --plot takes a folder to write the plots into")
    explicit = {k: getattr(args, f"plot_{k}") for k in PLOT_KINDS if getattr(args, f"plot_{k}", None)}
    if not explicit or not _have_matplotlib():
        return  # plan_plots says how to get matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    formats = sorted(FigureCanvasAgg.get_supported_filetypes())
    for kind, name in explicit.items():
        path = Path(name)
        if kind == "gif" and path.suffix.lower() != ".gif":
            raise usage_error(f"{path}: the animation is a GIF; give a file name ending in .gif (--plot-gif)")
        if kind != "gif" and path.suffix.lower().lstrip(".") not in formats:
            raise usage_error(
                f"{path}: the suffix {path.suffix or '(none)'!r} is not an image format matplotlib writes "
                f"({', '.join('.' + f for f in formats)}) (--plot-{kind})"
            )
        check_output(path, force=args.force, flag=f"--plot-{kind}")


def plan_plots(args, task: str, n_features: int, default_run: bool, run: RunFolder) -> tuple[dict, list[str]]:
    """``({kind: path}, notes)``: which plots to draw where, decided (and checked) before training."""
    regression = task == "regression"
    applies = {
        "loss": True,
        "pred": regression,
        "fit": regression and n_features == 1,
        "gif": regression and n_features == 1,
        "boundary": task in CLASSIFICATION and n_features == 2,
        "activations": True,
    }
    why = {
        "pred": "regression",
        "fit": "one input, regression",
        "gif": "one input, regression",
        "boundary": "two inputs, classification",
    }
    files = {
        "loss": "loss.png",
        "pred": "predicted_vs_actual.png",
        "fit": "fit.png",
        "gif": "fit.gif",
        "boundary": "decision_boundary.png",
        "activations": "activations.png",
    }
    plan: dict[str, Path] = {}
    notes: list[str] = []
    explicit = {k: getattr(args, f"plot_{k}") for k in files if getattr(args, f"plot_{k}")}
    for kind, path in explicit.items():
        if not applies[kind]:
            raise usage_error(
                f"--plot-{kind} applies to {why[kind]} problems; this one is {task} with {n_features} inputs"
            )
        plan[kind] = Path(path)
    folder = None
    if args.plot is not None:
        folder = Path(args.plot) if args.plot else None
        if folder is not None and folder.exists() and not folder.is_dir():
            raise usage_error(f"{folder}: is a file; --plot takes a folder to write the plots into")
    if args.plot is not None or (default_run and not explicit):
        for kind, ok in applies.items():
            if ok and kind not in plan:
                plan[kind] = (folder if folder is not None else run.planned) / files[kind]
    if not plan:
        return plan, notes
    if not _have_matplotlib():
        if default_run and args.plot is None and not explicit:
            notes.append('plots skipped: matplotlib is not installed; get them with: pip install "handgrad[plot]"')
            return {}, notes
        raise usage_error('plots need matplotlib, which is not installed: pip install "handgrad[plot]"')
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # the plot extra, present (checked above)

    formats = sorted(FigureCanvasAgg.get_supported_filetypes())
    for kind, path in plan.items():
        if kind == "gif" and path.suffix.lower() != ".gif":
            raise usage_error(f"{path}: the animation is a GIF; give a file name ending in .gif (--plot-gif)")
        if kind != "gif" and path.suffix.lower().lstrip(".") not in formats:
            raise usage_error(
                f"{path}: the suffix {path.suffix or '(none)'!r} is not an image format matplotlib writes "
                f"({', '.join('.' + f for f in formats)}) (--plot-{kind})"
            )
        if path.parent == run.planned or (folder is not None and path.parent == folder):
            if path.exists() and not args.force:
                raise usage_error(f"{path}: the plot file already exists; pass --force to overwrite it")
            continue  # the folder is created when the plots are drawn
        check_output(path, force=args.force, flag=f"--plot-{kind}")
    return plan, notes


def _values(est):
    """``est.predict`` on a matrix of raw inputs (n_samples, n_features)."""
    return lambda X: est.predict(np.asarray(X, dtype=np.float64).reshape(len(X), -1))


def draw_plots(plan: dict, est, hist, train_ds, valid, recorder, run: RunFolder, force: bool) -> list[Path]:
    """Draw the planned plots of the fitted estimator ``est``; the files written."""
    written = []
    y_scale = getattr(est, "y_scale_", None)
    shown = valid if valid is not None else train_ds
    for kind, path in plan.items():
        if path.parent == run.planned:
            run.get()
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "loss":
            scaled = y_scale is not None and y_scale[0] != 1
            title = "Loss per epoch" + (" (standardised target)" if scaled else "") + f": {model_loss(est)}"
            written.append(plots.plot_loss_curves(hist.to_dict(), path, title=title, overwrite=force))
        elif kind == "pred":
            where = "validation" if valid is not None else "training"
            written.append(
                plots.plot_predicted_vs_actual(
                    shown.y,
                    est.predict(shown),
                    path,
                    output_names=[str(shown.target_name)],
                    title=f"{where} set",
                    overwrite=force,
                )
            )
        elif kind == "fit":
            written.append(plots.plot_fit_1d(_values(est), train_ds.X, train_ds.y, path, overwrite=force))
        elif kind == "gif" and recorder is not None:
            written.append(recorder.animate(train_ds.X, train_ds.y, path, max_frames=50, overwrite=force))
        elif kind == "boundary":
            index = lambda X: np.argmax(est.predict_proba(np.asarray(X, dtype=np.float64)), axis=1)  # noqa: E731
            written.append(plots.plot_decision_boundary(index, shown.X, shown.y, path, overwrite=force))
        elif kind == "activations":
            # σ and σ' of every distinct activation the network uses, in layer order.
            names = list(dict.fromkeys(a.name for a in est.network_.activations))
            written.append(plots.plot_activations(names, path, overwrite=force))
    return written


class ScaledFitRecorder(Callback):
    """Records the fitted curve (in the data's units) during training, for the GIF."""

    def __init__(self, est, x: np.ndarray, every: int):
        grid = np.linspace(x.min() - 0.05 * np.ptp(x), x.max() + 0.05 * np.ptp(x), 200)
        self.recorder = plots.FitRecorder(_values(est), grid, every=every)

    def on_train_begin(self, context):
        self.recorder.on_train_begin(context)

    def on_epoch_end(self, epoch, logs):
        self.recorder.on_epoch_end(epoch, logs)

    def on_train_end(self, history):
        self.recorder.on_train_end(history)

    def animate(self, x, y, path, **kw):
        return self.recorder.animate(x, y, path, **kw)
