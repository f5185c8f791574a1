"""What the ``train``, ``predict``, ``evaluate`` and ``datasets`` commands share.

* the fitted model is an estimator (:class:`~handgrad.MLPRegressor` /
  :class:`~handgrad.MLPClassifier`), read with :func:`handgrad.load`; helpers here
  say what the command line needs of it (its Schema, task, classes, loss).
* output-file checks (never overwrite without ``--force``), run folders,
  metrics, and CSV writing.

Array shapes follow the public API: ``X`` is ``(n_samples, n_features)``.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import metrics
from .._files import check_destination
from ..data import ColumnSpec, Dataset, Schema
from ..errors import HandgradError, ModelFileError
from ..estimators import MLPClassifier, MLPRegressor, load
from ..losses import get_loss
from ..modelfile import atomic_write
from ..preprocessing import constant_columns
from . import UsageError

#: Written in a model's metadata so that ``predict`` knows how to read it.
CLI_MODEL_FORMAT = 1
CLASSIFICATION = ("binary", "multiclass")
#: What ``--missing`` accepts (train, predict, evaluate): see :func:`handgrad.data.load_csv`.
MISSING_CHOICES = ("error", "drop", "mean", "most_frequent")


def usage_error(message: str) -> HandgradError:
    """A :class:`handgrad.cli.UsageError` (exit code 2, one line)."""
    return UsageError(message)


# ------------------------------------------------------------------ input files
#: Names a shell user can type for separators that are awkward to type.
DELIMITER_NAMES = {"\\t": "\t", "tab": "\t", "TAB": "\t", "semicolon": ";", "comma": ",", "space": " "}


def delimiter_arg(text: str) -> str:
    """``--delimiter``'s type: ``'\\t'`` (what ``--delimiter '\\t'`` passes) or ``tab`` is a tab.

    NOTE: a shell passes ``--delimiter '\\t'`` as the two characters backslash and t,
    not a tab; the loader's own message for a tab-separated file suggests
    ``delimiter='\\t'``, so that spelling must work on the command line too.
    """
    return DELIMITER_NAMES.get(text, text)


def add_number_format(parser) -> None:
    """``--decimal`` and ``--thousands`` (train, predict, evaluate): how the CSV files write numbers."""
    parser.add_argument(
        "--decimal", default=".", metavar="MARK", help="decimal mark of the CSV numbers (default '.'; e.g. ',')"
    )
    parser.add_argument(
        "--thousands", metavar="SEP", help="thousands separator of the CSV numbers (default none; e.g. ',' or '.')"
    )


# ------------------------------------------------------------------ output files
def check_output(path, *, force: bool, flag: str = "") -> Path:
    """:func:`handgrad._files.check_destination` for a command-line output, before any work is done.

    Refuses a directory, a missing folder, an existing regular file without
    ``--force``, a read-only or unwritable folder (one line naming ``path`` and
    ``flag``); a device, FIFO or ``/dev/stdout`` is written into.
    """
    try:
        check_destination(path, force=force, error=UsageError)
    except UsageError as exc:
        hint = f" ({flag})" if flag else ""
        raise usage_error(str(exc).replace("force=True (--force)", "--force") + hint) from None
    return Path(path)


def check_new_file(path, *, force: bool, what: str, flag: str = "") -> Path:
    """Refuse, before any work is done, to write ``path`` if it exists (unless ``force``).

    Also refuses a directory and a file whose folder does not exist, so that a
    long training run never ends in an error about where to put its result.
    """
    path = Path(path)
    hint = f" ({flag})" if flag else ""
    if path.is_dir():
        raise usage_error(f"{path}: is a directory; give a file name for the {what}{hint}")
    if path.exists() and not force:
        raise usage_error(
            f"{path}: the {what} file already exists; pass --force to overwrite it, or choose another name{hint}"
        )
    folder = path.parent
    if not folder.is_dir():
        raise usage_error(f"{path}: the folder {folder} does not exist (for the {what}{hint})")
    return path


class RunFolder:
    """A fresh folder ``<parent>/<name>-YYYYmmdd-HHMMSS[-k]/``, created the first time it is needed.

    Repeated runs never share a folder (a suffix ``-2``, ``-3``, ... is added
    within the same second), so nothing earlier is ever overwritten.
    """

    def __init__(self, parent, name: str, path=None):
        self.parent = Path(parent)
        self.name = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "run"
        self._path: Path | None = Path(path) if path is not None else None
        self._planned: Path | None = self._path

    @property
    def planned(self) -> Path:
        """The folder's name (not created yet)."""
        if self._planned is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            base = self.parent / f"{self.name}-{stamp}"
            candidate, k = base, 1
            while candidate.exists():
                k += 1
                candidate = Path(f"{base}-{k}")
            self._planned = candidate
        return self._planned

    def get(self) -> Path:
        """The folder, created now if it does not exist yet."""
        if self._path is None or not self._path.is_dir():
            path = self.planned
            while True:
                try:
                    path.mkdir(parents=True, exist_ok=self._path is not None)
                    break
                except FileExistsError:  # another run took the name in the meantime
                    self._planned = None
                    path = self.planned
            self._path = path
        return self._path


@contextlib.contextmanager
def reading(path):
    """Name ``path`` in an OSError raised while reading it (a failed read carries no file name)."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
        raise


def file_digest(path) -> str:
    """SHA-256 of a file's bytes (to tell, on resume, that a data file is unchanged)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def write_text_atomically(path, text: str, *, force: bool) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; refuse an existing file unless ``force``."""
    data = text.encode("utf-8")
    try:
        return atomic_write(path, lambda f: f.write(data), force=force)
    except ModelFileError as exc:
        raise usage_error(str(exc).replace("force=True (--force)", "--force")) from None


def csv_text(header: list[str], columns: list[list[str]]) -> str:
    """CSV text (header + rows) from columns of already formatted strings."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(zip(*columns))
    return buf.getvalue()


def fmt_number(value) -> str:
    """A float as the shortest text that reads back to the same float (``repr``)."""
    return repr(float(value))


# ------------------------------------------------------------------ the model
def load_estimator(path) -> MLPRegressor | MLPClassifier:
    """The estimator in ``path`` (:func:`handgrad.load`), checked for what the command line can read."""
    est = load(path)
    if isinstance(est, MLPRegressor) and est.n_outputs_ != 1:
        raise ModelFileError(f"{path}: a regressor with {est.n_outputs_} outputs; the command line reads one target")
    if isinstance(est, MLPClassifier) and est._multilabel:
        raise ModelFileError(f"{path}: a multi-label classifier; the command line reads one target column")
    return est


def model_schema(est, path) -> Schema:
    """How CSV columns become the model's inputs: its Schema, or numeric columns named as in ``fit``."""
    if est.schema_ is not None:
        return est.schema_
    names = getattr(est, "feature_names_in_", None)
    if names is None:
        raise ModelFileError(
            f"{path}: this estimator was fitted without column names (a NumPy array), so the command line "
            "cannot match CSV columns to its inputs; fit it on a table with named columns"
        )
    task, classes = est._schema_task()
    return Schema([ColumnSpec(str(n), "numeric") for n in names], None, task, classes)


def model_task(est) -> str:
    """``"regression"``, ``"binary"`` or ``"multiclass"``."""
    if isinstance(est, MLPRegressor):
        return "regression"
    return "binary" if len(est.classes_) == 2 else "multiclass"


def model_classes(est) -> list | None:
    """The class labels as plain Python values (classification), else None."""
    if isinstance(est, MLPRegressor):
        return None
    return [c.item() if hasattr(c, "item") else c for c in est.classes_]


def model_loss(est) -> str:
    """The name of the loss the network was trained with."""
    if isinstance(est, MLPRegressor):
        return str(getattr(est.loss, "name", est.loss))
    return get_loss(est._loss_spec()).name  # the classifier's choice, made in one place


def save_estimator(est, path, *, force: bool) -> Path:
    """``est.save(path)``, its refusal to overwrite said with the command line's flag."""
    try:
        est.save(path, force=force)
    except ModelFileError as exc:
        raise usage_error(str(exc).replace("force=True (--force)", "--force")) from None
    return Path(path)


# ------------------------------------------------------------------ metrics
def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """MSE (the seed's J), MAE and R² (NaN for a constant ``y``) of ``pred`` against ``y``, both (n_samples,)."""
    return {
        "mse": metrics.mean_squared_error(y, pred),
        "mae": metrics.mean_absolute_error(y, pred),
        "r2": metrics.r2_score(y, pred),
    }


def r2_text(r2, y: np.ndarray, width: int = 0) -> str:
    """R² as printed: ``undefined`` where the target ``y`` (n_samples,) is constant (its variance, R²'s denominator, is 0)."""
    if r2 is None or constant_columns(y) or not np.isfinite(r2):
        return f"{'undefined':>{width}}"
    return f"{r2:>{width}.4f}" if width else f"{r2:.6f}"


def classification_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """Accuracy, log-loss and the confusion matrix.

    Parameters
    ----------
    y : ndarray of shape (n_samples,), int
        True class indices.
    proba : ndarray of shape (n_samples, n_classes)
        Predicted probabilities.

    Returns
    -------
    dict with ``accuracy``, ``log_loss`` (mean of −log p(true class), p clipped
    at 1e-15) and ``confusion`` (list of lists: row = true class, column =
    predicted class).
    """
    pred = np.argmax(proba, axis=1)
    return {
        "accuracy": metrics.accuracy_score(y, pred),
        "log_loss": metrics.log_loss(y, proba),
        "confusion": metrics.confusion_matrix(y, pred, proba.shape[1]).tolist(),
    }


def model_metrics(est, ds: Dataset) -> dict[str, Any]:
    """The metrics of ``est`` on ``ds``, in the target's units (``ds.y`` as the Dataset holds it)."""
    if model_task(est) in CLASSIFICATION:
        return classification_metrics(ds.y, est.predict_proba(ds))
    return regression_metrics(ds.y, est.predict(ds))


def format_confusion(confusion: list[list[int]], classes: list) -> str:
    """The confusion matrix as an aligned text table (rows: true class; columns: predicted)."""
    labels = [str(c) for c in classes]
    width = max(max(len(s) for s in labels), max(len(str(v)) for row in confusion for v in row), 4)
    head = " " * (width + 9) + "  ".join(f"{s:>{width}}" for s in labels)
    lines = ["confusion matrix (rows: true class, columns: predicted class):", head]
    for label, row in zip(labels, confusion):
        lines.append(f"  true {label:>{width}}  " + "  ".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)


def say(message: str = "", *, quiet: bool = False, file=None) -> None:
    """Print a progress message unless ``quiet`` (to stdout by default, flushed)."""
    if not quiet:
        print(message, file=file or sys.stdout, flush=True)
