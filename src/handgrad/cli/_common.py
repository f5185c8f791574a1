"""What the ``train``, ``predict``, ``evaluate`` and ``datasets`` commands share.

* :class:`TabularModel` — a network plus what it needs to read a CSV file and
  answer in the user's units: the :class:`~handgrad.data.Schema` (columns,
  categories, target, task), the input/target scaling statistics and the loss.
  It is stored as one model file by :func:`handgrad.modelfile.save_model`
  (arrays ``W1, b1, ...``, ``x_mean``, ``x_scale``, ``y_mean``, ``y_scale``;
  metadata ``task``, ``schema``, ``loss``, ``scaling``, ``training``, ``history``).
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import metrics
from ..data import Schema
from ..errors import HandgradError, ModelFileError
from ..losses import get_loss
from ..network import Network
from ..preprocessing import standardise, unstandardise

#: Written in a model's metadata so that ``predict`` knows how to read it.
CLI_MODEL_FORMAT = 1
CLASSIFICATION = ("binary", "multiclass")
#: What ``--missing`` accepts (train, predict, evaluate): see :func:`handgrad.data.load_csv`.
MISSING_CHOICES = ("error", "drop", "mean", "most_frequent")


def usage_error(message: str) -> HandgradError:
    """A :class:`handgrad.cli.UsageError` (imported lazily: the package imports this module's users)."""
    from . import UsageError

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


# ------------------------------------------------------------------ output files
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
    from ..modelfile import atomic_write

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
@dataclass
class TabularModel:
    """A trained network with its schema and scaling.

    Attributes
    ----------
    network : Network
    schema : Schema
        Input columns, categories, target and task.
    loss : str
    x_mean, x_scale : ndarray of shape (n_features,)
        The network sees ``(X − x_mean) / x_scale``.
    y_mean, y_scale : ndarray of shape (n_outputs,)
        Regression: the network predicts ``(y − y_mean) / y_scale``.
    metadata : dict
        Everything else stored with the model (training settings, history).
    """

    network: Network
    schema: Schema
    loss: str
    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: np.ndarray
    y_scale: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return self.schema.task or "regression"

    @property
    def classes(self) -> list | None:
        return self.schema.classes

    def raw(self, X: np.ndarray) -> np.ndarray:
        """The network's output for raw features ``X`` (n_samples, n_features): shape (n_samples, n_outputs)."""
        A0 = standardise(X, self.x_mean, self.x_scale, self.network.dtype).T  # (n_features, n)
        return np.asarray(self.network.predict_columns(A0).T, dtype=np.float64)

    def predict_values(self, X: np.ndarray) -> np.ndarray:
        """Regression: predictions in the target's units, shape (n_samples,)."""
        return unstandardise(self.raw(X), self.y_mean, self.y_scale)[:, 0]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Classification: probabilities of shape (n_samples, n_classes), columns in ``classes`` order."""
        Z = self.raw(X)
        P = np.asarray(get_loss(self.loss).output(Z.T).T, dtype=np.float64)
        if P.shape[1] == 1:  # binary: one sigmoid output is P(class 1)
            P = np.column_stack([1.0 - P[:, 0], P[:, 0]])
        return P

    def predict_index(self, X: np.ndarray) -> np.ndarray:
        """Classification: the predicted class index (into ``classes``) of each row, shape (n_samples,)."""
        return np.argmax(self.predict_proba(X), axis=1)

    # ---------------------------------------------------------- files
    def save(self, path, *, force: bool) -> Path:
        from ..modelfile import save_model

        metadata = {
            "handgrad_cli_model": CLI_MODEL_FORMAT,
            "task": self.task,
            "schema": self.schema.to_dict(),
            "loss": self.loss,
            **self.metadata,
        }
        arrays = {"x_mean": self.x_mean, "x_scale": self.x_scale, "y_mean": self.y_mean, "y_scale": self.y_scale}
        try:
            return save_model(path, self.network, arrays=arrays, metadata=metadata, force=force)
        except ModelFileError as exc:
            raise usage_error(str(exc).replace("force=True (--force)", "--force")) from None

    @classmethod
    def load(cls, path) -> TabularModel:
        """Read a model written by ``handgrad train`` (or by an estimator's ``save`` with feature names)."""
        from ..modelfile import load_model

        loaded = load_model(path)
        meta = loaded.metadata
        if meta.get("handgrad_cli_model") is None and meta.get("estimator") in ("MLPRegressor", "MLPClassifier"):
            return cls._from_estimator(path, loaded)
        if meta.get("handgrad_cli_model") != CLI_MODEL_FORMAT or meta.get("schema") is None:
            raise ModelFileError(
                f"{path}: a handgrad network, but not one written by 'handgrad train' (no column schema); "
                "the command line needs to know which CSV columns are its inputs"
            )
        schema = Schema.from_dict(meta["schema"])
        arrays = loaded.arrays
        n_in, n_out = loaded.network.n_inputs, loaded.network.n_outputs
        shapes = {"x_mean": (n_in,), "x_scale": (n_in,), "y_mean": (n_out,), "y_scale": (n_out,)}
        for name, shape in shapes.items():
            if name not in arrays or arrays[name].shape != shape:
                got = arrays[name].shape if name in arrays else "absent"
                raise ModelFileError(f"{path}: array {name!r} must have shape {shape}, got {got}")
        if not (arrays["x_scale"] > 0).all() or not (arrays["y_scale"] > 0).all():
            raise ModelFileError(f"{path}: scaling statistics must be positive")
        rest = {k: v for k, v in meta.items() if k not in ("handgrad_cli_model", "task", "schema", "loss")}
        return cls(
            loaded.network,
            schema,
            str(meta.get("loss") or "mse"),
            *(np.asarray(arrays[k], dtype=np.float64) for k in ("x_mean", "x_scale", "y_mean", "y_scale")),
            metadata=rest,
        )

    @classmethod
    def _from_estimator(cls, path, loaded) -> TabularModel:
        """A model saved by ``MLPRegressor.save`` / ``MLPClassifier.save`` fitted on named columns."""
        from ..data.schema import ColumnSpec
        from ..estimators import load as load_estimator

        est = load_estimator(path)
        names = getattr(est, "feature_names_in_", None)
        if names is None:
            raise ModelFileError(
                f"{path}: this estimator was fitted without column names (a NumPy array), so the command line "
                "cannot match CSV columns to its inputs; fit it on a table with named columns"
            )
        columns = [ColumnSpec(str(n), "numeric") for n in names]
        if type(est).__name__ == "MLPClassifier":
            classes = [c.item() if hasattr(c, "item") else c for c in est.classes_]
            task = "binary" if len(classes) == 2 else "multiclass"
            loss = "binary_crossentropy" if est.n_outputs_ == 1 else "softmax_crossentropy"
            y_mean, y_scale = np.zeros(est.n_outputs_), np.ones(est.n_outputs_)
        else:
            if est.n_outputs_ != 1:
                raise ModelFileError(
                    f"{path}: a regressor with {est.n_outputs_} outputs; the command line reads one target"
                )
            classes, task, loss = None, "regression", str(est.loss)
            y_mean, y_scale = np.asarray(est.y_mean_, dtype=np.float64), np.asarray(est.y_scale_, dtype=np.float64)
        schema = Schema(columns, None, task, classes)
        return cls(est.network_, schema, loss, est.x_mean_, est.x_scale_, y_mean, y_scale, metadata={})


# ------------------------------------------------------------------ metrics
def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """MSE (the seed's J), MAE and R² (NaN for a constant ``y``) of ``pred`` against ``y``, both (n_samples,)."""
    return {
        "mse": metrics.mean_squared_error(y, pred),
        "mae": metrics.mean_absolute_error(y, pred),
        "r2": metrics.r2_score(y, pred),
    }


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


def model_metrics(model: TabularModel, X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """The metrics of ``model`` on ``(X, y)``, in the target's units (``y`` as the Dataset holds it)."""
    if model.task in CLASSIFICATION:
        return classification_metrics(y, model.predict_proba(X))
    return regression_metrics(y, model.predict_values(X))


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
