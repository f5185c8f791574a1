"""What ``handgrad train`` prints: the line every ``--print-every`` epochs and the final metrics table.

Losses are printed in the target's units where the conversion from the network's
standardised units is exact (:func:`loss_units`).
"""

from __future__ import annotations

from ..data import Dataset
from ..training import Callback
from ._common import format_confusion, model_classes, model_metrics, model_task, r2_text


class Report(Callback):
    """Every ``k`` epochs: the seed's ``Epoch k, Validation Loss: v`` line, in the target's units.

    In standard mode the training loss and the validation metric follow on the same line.
    """

    def __init__(self, k: int, to_units, metric_name: str | None):
        self.k = k
        self.to_units = to_units
        self.metric_name = metric_name

    def on_epoch_end(self, epoch, logs):
        if epoch % self.k:
            return
        train_loss = self.to_units(logs["train_loss"])
        if logs.get("val_loss") is not None:
            line = f"Epoch {epoch}, Validation Loss: {self.to_units(logs['val_loss']):f}, Training Loss: {train_loss:f}"
            metric = logs.get("val_metric")
        else:
            line = f"Epoch {epoch}, Training Loss: {train_loss:f}"
            metric = logs.get("metric")
        if self.metric_name and metric is not None:
            line += f", {self.metric_name}: {metric:.4f}"
        print(line, flush=True)


def loss_units(loss: str, est):
    """Map a loss in the network's (standardised) units back to the target's units, where that is exact.

    ``est`` is the estimator being fitted: its target scale is read when a line is printed
    (``fit`` learns it before the first epoch).
    """

    def y_scale() -> float:
        scale = getattr(est, "y_scale_", None)
        return 1.0 if scale is None else float(scale[0])

    if loss == "mse":
        return lambda v: v * y_scale() ** 2
    if loss == "mae":
        return lambda v: v * y_scale()
    return lambda v: v  # huber / cross-entropies: no exact conversion (cross-entropies are unscaled anyway)


def print_metrics(est, parts: list[tuple[str, Dataset]], quiet: bool) -> dict:
    """The final metrics table of ``est`` on each named part; returns them by part name."""
    results = {}
    regression = model_task(est) == "regression"
    classes = model_classes(est)
    header = f"{'':<8}{'rows':>8}  " + (
        f"{'MSE':>12}  {'MAE':>12}  {'R²':>8}" if regression else f"{'log-loss':>10}  {'accuracy':>8}"
    )
    print("final metrics (target units):" if regression else "final metrics:")
    print(header)
    for name, ds in parts:
        r = model_metrics(est, ds)
        results[name] = r
        if regression:
            print(f"{name:<8}{ds.n_samples:>8}  {r['mse']:>12.6g}  {r['mae']:>12.6g}  {r2_text(r['r2'], ds.y, 8)}")
        else:
            print(f"{name:<8}{ds.n_samples:>8}  {r['log_loss']:>10.5g}  {r['accuracy']:>8.4f}")
    if not regression and not quiet and len(classes or []) <= 12:
        last_name, _ = parts[-1]
        print(f"{last_name}: " + format_confusion(results[last_name]["confusion"], classes))
    return results
