"""Scaling of inputs and targets, and encoding of class labels (NumPy only).

The seed trains on raw data. The high-level API (:mod:`handgrad.estimators`)
standardises inputs, and regression targets, by default: ``smoke`` has raw
features up to ~2,900 next to features below 1, and a network trained on those
directly with a sensible learning rate either crawls or diverges.

* :class:`StandardScaler` — ``x' = (x − mean) / scale`` per column, with
  optional sample weights, and constant columns handled safely (scale 1, so
  they become 0 instead of NaN). :func:`scaling_stats`, :func:`standardise` and
  :func:`unstandardise` are the same steps on stored ``(mean, scale)`` arrays,
  shared by the estimators and the command line.
* :class:`LabelEncoder` — arbitrary class labels (ints, floats, strings,
  booleans) to indices ``0..n_classes-1`` and back; :func:`one_hot`.
* :func:`classes_to_json` / :func:`classes_from_json` — ``classes_`` as
  JSON-able data (values and their kind) so that a saved classifier returns
  the very labels it was trained on.

Shapes follow the public API: ``X`` is ``(n_samples, n_features)``.

Example::

    >>> import numpy as np
    >>> X = np.array([[1.0, 5.0], [3.0, 5.0]])     # the second column is constant
    >>> s = StandardScaler().fit(X)
    >>> s.transform(X)
    array([[-1.,  0.],
           [ 1.,  0.]])
    >>> enc = LabelEncoder().fit(["yes", "no", "yes"])
    >>> enc.classes_.tolist(), enc.transform(["no", "yes"]).tolist()
    (['no', 'yes'], [0, 1])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._validation import as_float_array, check_finite
from .errors import ConfigError, DataError, HandgradError, NonFiniteError, ShapeError

__all__ = [
    "LabelEncoder",
    "RunningMoments",
    "StandardScaler",
    "check_precision",
    "check_predictions",
    "classes_from_json",
    "classes_to_json",
    "constant_columns",
    "constant_warnings",
    "one_hot",
    "scaling_stats",
    "standardise",
    "unstandardise",
    "weighted_mean_std",
]


def weighted_mean_std(X: np.ndarray, sample_weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations of ``X``, optionally weighted.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,), optional
        Non-negative weights; integer weights give the statistics of ``X`` with
        each row repeated that many times (so weights ↔ duplicated rows agree).

    Returns
    -------
    mean, std : ndarrays of shape (n_features,)
        The population standard deviation (divisor Σw, as ``np.std``).

    NOTE: each column is divided by its largest magnitude ``m`` first, so every
    intermediate lies in [-1, 1]: values near 1e300 do not overflow the squares
    (``(1e300)² = inf`` made the variance infinite and the scaled data zero),
    and values near 1e-300 do not underflow them to 0 (which made the column
    look constant). ``mean = m · mean(X/m)``, ``std = m · std(X/m)``.

    NOTE: unweighted, the columns are taken a few at a time (:data:`_BLOCK`
    values), so the temporaries are a small part of ``X`` rather than three copies
    of it (a 1,000,000 × 30 table: 32 MB instead of 720 MB); each column's sums
    run in the same order as over the whole array, so the figures are the same.
    """
    X = np.asarray(X)
    # NOTE: every block is made column-major before its sums: NumPy sums a contiguous column
    # pairwise but the rows of a C-ordered array one after another, so the last bits of the mean
    # would depend on the memory order of X (a CSV file's columns vs a DataFrame's rows), and with
    # them every weight trained from it (the command line and fit must give the same model).
    step = max(1, _BLOCK // max(X.shape[0], 1))
    if sample_weight is not None or X.ndim != 2 or X.shape[1] <= step:
        return _mean_std(np.asfortranarray(X), sample_weight)
    starts = list(range(0, X.shape[1], step))
    parts = [_mean_std(np.asfortranarray(X[:, j:k]), None) for j, k in zip(starts, [*starts[1:], X.shape[1]])]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


#: Values per block of columns in :func:`weighted_mean_std` and :func:`_column_magnitude` (32 MB of float64).
_BLOCK = 1 << 22


def _mean_std(X: np.ndarray, sample_weight: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`weighted_mean_std` of all of ``X`` (n_samples, n_features) at once."""
    m = _column_magnitude(X)
    Xs = X / m
    if sample_weight is None:
        mean = Xs.mean(axis=0)
        # NOTE: the two-pass form (x − mean)² is used, not E[x²] − mean², which
        # cancels catastrophically for columns with a large mean and small spread.
        var = ((Xs - mean) ** 2).mean(axis=0)
    else:
        w = sample_weight / sample_weight.sum()
        mean = w @ Xs
        var = w @ ((Xs - mean) ** 2)
    return mean * m, np.sqrt(var) * m


def _column_magnitude(X: np.ndarray) -> np.ndarray:
    """Largest |x| of each column of ``X`` (n_samples, n_features), 1 for an all-zero column."""
    if not X.shape[0]:
        return np.where(np.ones(X.shape[1]) > 0, np.ones(X.shape[1]), 1.0)
    step = max(1, _BLOCK // X.shape[0])
    m = np.concatenate([np.max(np.abs(X[:, j : j + step]), axis=0) for j in range(0, X.shape[1], step)])
    return np.where(m > 0, m, 1.0)


def _safe_scale(std: np.ndarray, mean: np.ndarray, magnitude: np.ndarray | None = None) -> np.ndarray:
    """``std`` with (near-)constant columns replaced by 1.

    A column whose spread is below round-off of its own magnitude carries no
    information: dividing by it would turn noise into ±1 values (or NaN for an
    exactly constant column such as house's ``dummy``). Those columns keep scale
    1, so after centring they are exactly 0.

    NOTE: "its own magnitude" is the column's largest |x| (``magnitude``) or
    |mean|, never an absolute floor: a column of values near 1e-300 with a real
    spread is not constant (an absolute floor of 1 made it so).
    """
    eps = np.finfo(std.dtype).eps if np.issubdtype(std.dtype, np.floating) else np.finfo(np.float64).eps
    scale_of = np.abs(mean) if magnitude is None else np.maximum(np.abs(mean), magnitude)
    tiny = 10 * eps * scale_of
    return np.where((std > tiny) & (std > 0), std, 1.0)


class StandardScaler:
    """Per-column standardisation ``x' = (x − mean_) / scale_``.

    Parameters
    ----------
    with_mean : bool, default True
        Subtract the column means.
    with_std : bool, default True
        Divide by the column standard deviations.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
        Zeros when ``with_mean=False``.
    scale_ : ndarray of shape (n_features,)
        The standard deviations, 1 for constant columns (see ``_safe_scale``)
        and everywhere when ``with_std=False``.
    n_features_in_ : int
    """

    def __init__(self, with_mean: bool = True, with_std: bool = True):
        self.with_mean = with_mean
        self.with_std = with_std

    def fit(self, X, sample_weight=None) -> StandardScaler:
        """Learn ``mean_`` and ``scale_`` from ``X`` of shape (n_samples, n_features).

        ``sample_weight`` of shape (n_samples,), optional, weights the statistics.
        """
        X = _as_2d_float(X, "X")
        w = None
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float64)
            if w.shape != (X.shape[0],):
                raise ShapeError(f"sample_weight must have shape ({X.shape[0]},), got {w.shape}")
            if not w.sum() > 0:
                raise HandgradError("sample_weight sums to zero; cannot compute weighted statistics")
        mean, std = weighted_mean_std(X, w)
        self.mean_ = mean if self.with_mean else np.zeros_like(mean)
        self.scale_ = _safe_scale(std, mean, _column_magnitude(X)) if self.with_std else np.ones_like(std)
        self.n_features_in_ = X.shape[1]
        return self

    @classmethod
    def from_stats(cls, mean, scale) -> StandardScaler:
        """A fitted scaler from stored statistics (each of shape (n_features,))."""
        s = cls()
        s.mean_ = np.asarray(mean, dtype=np.float64)
        s.scale_ = np.asarray(scale, dtype=np.float64)
        if s.mean_.shape != s.scale_.shape or s.mean_.ndim != 1:
            raise ShapeError(f"mean and scale must be 1-D of equal shape, got {s.mean_.shape} and {s.scale_.shape}")
        if not (s.scale_ > 0).all():
            raise ConfigError("every scale must be > 0")
        s.n_features_in_ = s.mean_.shape[0]
        return s

    def _check_fitted_width(self, X: np.ndarray, name: str) -> None:
        if not hasattr(self, "mean_"):
            raise HandgradError("this StandardScaler is not fitted yet; call fit(X) first")
        if X.shape[1] != self.n_features_in_:
            raise ShapeError(
                f"{name} has {X.shape[1]} columns (shape {X.shape}), the scaler was fitted on {self.n_features_in_}"
            )

    def transform(self, X, dtype=None) -> np.ndarray:
        """``(X − mean_) / scale_``, a new array of shape (n_samples, n_features) in ``dtype``."""
        X = _as_2d_float(X, "X")
        self._check_fitted_width(X, "X")
        out = (X - self.mean_) / self.scale_
        return out if dtype is None else out.astype(dtype, copy=False)

    def inverse_transform(self, Z, dtype=None) -> np.ndarray:
        """``Z * scale_ + mean_``: back to the original units; shape as ``Z``."""
        Z = _as_2d_float(Z, "Z")
        self._check_fitted_width(Z, "Z")
        out = Z * self.scale_ + self.mean_
        return out if dtype is None else out.astype(dtype, copy=False)

    def fit_transform(self, X, sample_weight=None) -> np.ndarray:
        return self.fit(X, sample_weight).transform(X)

    def __repr__(self) -> str:
        return f"StandardScaler(with_mean={self.with_mean}, with_std={self.with_std})"


def _as_2d_float(X, name: str) -> np.ndarray:
    X = as_float_array(X, name, np.float64)
    if X.ndim != 2:
        raise ShapeError(f"{name} must be 2-D of shape (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ShapeError(f"{name} has no samples (shape {X.shape})")
    check_finite(X, name)
    return X


def scaling_stats(X, sample_weight=None, *, enabled: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, scale)``, each of shape (n_features,), that standardise the columns of ``X``.

    ``X`` of shape (n_samples, n_features); ``sample_weight`` (n_samples,),
    optional. The statistics of :class:`StandardScaler` (constant columns keep
    scale 1); with ``enabled=False`` the identity, zeros and ones.
    """
    if not enabled:
        n_features = np.shape(X)[1]
        return np.zeros(n_features), np.ones(n_features)
    scaler = StandardScaler().fit(X, sample_weight)
    return scaler.mean_, scaler.scale_


def standardise(
    X: np.ndarray, mean: np.ndarray, scale: np.ndarray, dtype=None, *, names: Sequence[str] | None = None
) -> np.ndarray:
    """``(X − mean) / scale``: what the network sees; shape as ``X`` (n_samples, n_features).

    ``mean``, ``scale`` of shape (n_features,); the result cast to ``dtype``
    (the network's) when given. ``names`` (one per column) name the column in
    errors.

    Raises
    ------
    NonFiniteError
        If a scaled value is not finite in ``dtype`` (``--float32`` and 1e39,
        or scaling statistics that overflow), naming the column and the row,
        instead of NumPy's overflow warning and a network fed infinities.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        # NOTE: X/scale − mean/scale rather than (X − mean)/scale: the difference of two
        # values near ±1e308 overflows although the scaled result is moderate.
        # C order whatever X's (a CSV file's columns arrive column by column): the training step
        # then takes it as it is, without a second, C-ordered copy.
        out = np.empty(X.shape, np.result_type(X, scale), order="C")
        np.divide(X, scale, out=out)
        np.subtract(out, mean / scale, out=out)  # in place: one copy of X, not two
        if dtype is not None:
            out = out.astype(dtype, copy=False)
    _check_representable(out, X, names, "scaled" if dtype is None else f"scaled to {np.dtype(dtype).name}")
    return out


def unstandardise(Z: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``Z · scale + mean``: network outputs (n_samples, n_outputs) back in the target's units.

    Overflow gives ±inf without a NumPy warning; :func:`check_predictions` then names the row.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        return Z * scale + mean


def _check_representable(out: np.ndarray, X: np.ndarray, names: Sequence[str] | None, what: str) -> None:
    """Raise NonFiniteError for the first non-finite entry of ``out`` (n_samples, n_features)."""
    if out.size == 0 or np.isfinite(out).all():
        return
    bad = ~np.isfinite(out)
    if out.ndim == 1:
        row, col = int(np.argmax(bad)), 0
    else:
        row, col = (int(k) for k in np.argwhere(bad)[0])
    value = X[row] if np.ndim(X) == 1 else X[row, col]
    label = repr(names[col]) if names is not None and col < len(names) else f"column {col}"
    raise NonFiniteError(
        f"{label} holds {float(value)!r} at row {row}, which cannot be {what} (the result is not finite); "
        f"rescale the column (e.g. divide it by a power of ten), or use float64"
    )


def check_precision(X, dtype, names: Sequence[str] | None = None, what: str = "X") -> None:
    """Refuse values of ``X`` that ``dtype`` cannot hold, naming the column.

    Parameters
    ----------
    X : array of shape (n_samples, n_features) or (n_samples,)
    dtype : numpy float dtype
        The network's (``float32`` holds magnitudes up to 3.4e38).
    names : sequence of str, optional
        One per column of ``X``, for the message.
    what : str
        What ``X`` is (``"X"``, ``"the target"``).

    Raises
    ------
    NonFiniteError
        For the first value beyond ``np.finfo(dtype).max``, naming the column, row and value.

    Examples
    --------
    >>> check_precision(np.array([[1.0, 1e39]]), np.float32, ["a", "b"])
    Traceback (most recent call last):
    ...
    handgrad.errors.NonFiniteError: X: column 'b' holds 1e+39 at row 0, beyond float32's largest value 3.4e+38; use float64 (no --float32) or rescale the column
    """
    X = np.asarray(X)
    limit = np.finfo(dtype).max
    if X.size == 0 or X.dtype.kind not in "fiu":
        return
    too_big = np.abs(X) > limit
    if not too_big.any():
        return
    if X.ndim == 1:
        row, col = int(np.argmax(too_big)), 0
        value = X[row]
    else:
        row, col = (int(k) for k in np.argwhere(too_big)[0])
        value = X[row, col]
    label = names[col] if names is not None and col < len(names) else col
    raise NonFiniteError(
        f"{what}: column {label!r} holds {float(value):.6g} at row {row}, beyond {np.dtype(dtype).name}'s largest "
        f"value {float(limit):.2g}; use float64 (no --float32) or rescale the column"
    )


def constant_columns(X, names: Sequence[str] | None = None) -> list:
    """Names (or indices) of the columns of ``X`` (n_samples, n_features) that are constant.

    Constant means: no spread beyond round-off of the column's own magnitude (the
    rule :class:`StandardScaler` uses to give them scale 1), so 1e-300-sized
    values with a real spread are not constant.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.shape[0] == 0:
        return []
    mean, std = weighted_mean_std(X)
    flat = (std == 0) | (std <= 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), _column_magnitude(X)))
    return [names[j] if names is not None else j for j in np.flatnonzero(flat)]


def constant_warnings(X, y=None, feature_names: Sequence[str] | None = None, target_name: str = "y") -> list[str]:
    """Sentences for a person about constant features and a constant target (the CLI prints them).

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    y : array of shape (n_samples,) or (n_samples, n_outputs), optional
        A regression target (R² is undefined when it is constant).
    feature_names : sequence of str, optional
    target_name : str

    Returns
    -------
    list of str
        Empty when nothing is constant.

    Examples
    --------
    >>> for line in constant_warnings(np.array([[1.0, 2.0], [1.0, 3.0]]), np.array([5.0, 5.0]), ["a", "b"], "price"):
    ...     print(line)
    feature 'a' is constant: it carries no information (consider dropping it)
    the target 'price' is constant (every value 5.0): R² is undefined (its denominator, the target's variance, is 0); judge the model by its error (MSE, MAE) instead
    """
    out = [
        f"feature {name!r} is constant: it carries no information (consider dropping it)"
        for name in constant_columns(X, feature_names)
    ]
    if y is not None:
        Y = np.asarray(y, dtype=np.float64)
        Y2 = Y.reshape(-1, 1) if Y.ndim == 1 else Y
        for j in constant_columns(Y2):
            label = target_name if Y2.shape[1] == 1 else f"{target_name}[{j}]"
            out.append(
                f"the target {label!r} is constant (every value {float(Y2[0, j])!r}): R² is undefined (its "
                "denominator, the target's variance, is 0); judge the model by its error (MSE, MAE) instead"
            )
    return out


def check_predictions(P, rows: np.ndarray | None = None, where: str = "") -> None:
    """Raise :class:`NonFiniteError` naming the first row whose prediction is NaN or infinite.

    Parameters
    ----------
    P : array of shape (n_samples,) or (n_samples, n_outputs)
        Predictions in the target's units (or probabilities).
    rows : array of shape (n_samples,), optional
        What to call each row in the message (e.g. the file's line numbers,
        or the row indices of a chunk); default 0, 1, ...
    where : str
        A prefix for the message (the input file's name).

    Examples
    --------
    >>> check_predictions(np.array([1.0, np.inf, 2.0]), where="new.csv")
    Traceback (most recent call last):
    ...
    handgrad.errors.NonFiniteError: new.csv: the prediction for row 1 is inf, not a finite number (an input far outside the training data, or a model in float32 overflowing); nothing was written for it
    """
    P = np.asarray(P)
    if P.size == 0 or P.dtype.kind not in "fc":
        return
    finite = np.isfinite(P) if P.ndim == 1 else np.isfinite(P).all(axis=tuple(range(1, P.ndim)))
    if finite.all():
        return
    i = int(np.argmin(finite))
    label = int(rows[i]) if rows is not None else i
    value = P[i] if P.ndim == 1 else P[i][~np.isfinite(P[i])].flat[0]
    prefix = f"{where}: " if where else ""
    raise NonFiniteError(
        f"{prefix}the prediction for row {label} is {float(value)!r}, not a finite number (an input far outside "
        "the training data, or a model in float32 overflowing); nothing was written for it"
    )


# --------------------------------------------------------------------- labels
class LabelEncoder:
    """Class labels ↔ indices ``0..n_classes-1``, in sorted label order.

    Works for any labels NumPy can sort: integers, floats, booleans, strings
    (``np.unique`` order, as scikit-learn's ``LabelEncoder``).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The distinct labels, sorted; ``classes_[i]`` is the label of index ``i``.
    """

    def fit(self, y) -> LabelEncoder:
        """Learn the classes of ``y`` of shape (n_samples,)."""
        y = _as_label_array(y)
        self.classes_ = np.unique(y)
        return self

    def fit_transform(self, y) -> np.ndarray:
        return self.fit(y).transform(y)

    def transform(self, y) -> np.ndarray:
        """Indices of shape (n_samples,) (int64) for labels ``y`` of shape (n_samples,).

        Raises :class:`DataError` naming the first label not seen in ``fit``.
        """
        if not hasattr(self, "classes_"):
            raise HandgradError("this LabelEncoder is not fitted yet; call fit(y) first")
        y = _as_label_array(y)
        idx = np.searchsorted(self.classes_, y)
        idx_c = np.minimum(idx, len(self.classes_) - 1)
        unknown = self.classes_[idx_c] != y
        if unknown.any():
            bad = y[np.argmax(unknown)]
            raise DataError(f"y contains the label {bad!r}, which is not one of the classes {self.classes_.tolist()}")
        return idx_c.astype(np.int64)

    def inverse_transform(self, indices) -> np.ndarray:
        """Labels for ``indices`` (any shape), same shape, dtype of ``classes_``."""
        indices = np.asarray(indices)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self.classes_)):
            raise ShapeError(f"class indices must lie in [0, {len(self.classes_) - 1}]")
        return self.classes_[indices]

    @classmethod
    def from_classes(cls, classes) -> LabelEncoder:
        """An encoder with given classes (sorted and de-duplicated)."""
        enc = cls()
        enc.classes_ = np.unique(_as_label_array(classes))
        return enc


def _as_label_array(y) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ShapeError(f"class labels must be 1-D of shape (n_samples,), got shape {y.shape}")
    if y.dtype == object:
        # NOTE: an object array mixing kinds (e.g. 1 and "a") cannot be sorted;
        # say so instead of letting np.unique raise a bare TypeError.
        kinds = {type(v).__name__ for v in y.tolist()}
        if len(kinds) > 1 and not kinds <= {"int", "float", "bool"}:
            raise DataError(f"class labels mix types {sorted(kinds)}; use labels of one type")
        if kinds == {"str"}:
            y = y.astype(str)
    if y.dtype.kind == "f":
        check_finite(y, "y")
    return y


def one_hot(indices: np.ndarray, n_classes: int, dtype=np.float64) -> np.ndarray:
    """One-hot rows, shape (n_samples, n_classes), for ``indices`` of shape (n_samples,)."""
    out = np.zeros((indices.shape[0], n_classes), dtype=dtype)
    out[np.arange(indices.shape[0]), indices] = 1
    return out


def classes_to_json(classes: np.ndarray) -> dict:
    """``{"kind": "int"|"float"|"bool"|"str", "values": [...]}`` for ``classes_``.

    JSON loses the distinction between 1 and 1.0 and between ``"1"`` and 1;
    the kind puts it back in :func:`classes_from_json`.
    """
    classes = np.asarray(classes)
    kind = {"i": "int", "u": "int", "f": "float", "b": "bool", "U": "str", "S": "str"}.get(classes.dtype.kind)
    if kind is None:
        values = classes.tolist()
        if all(isinstance(v, str) for v in values):
            kind = "str"
        else:
            raise DataError(f"classes of dtype {classes.dtype} cannot be stored; use int, float, bool or str labels")
    values = [v.decode() if isinstance(v, bytes) else v for v in classes.tolist()]
    return {"kind": kind, "dtype": classes.dtype.str, "values": values}


def classes_from_json(spec: dict) -> np.ndarray:
    """Inverse of :func:`classes_to_json`."""
    kind = spec.get("kind")
    values = spec.get("values")
    if kind not in ("int", "float", "bool", "str") or not isinstance(values, list):
        raise DataError(f"stored classes are malformed: {spec!r}")
    dtype = {"int": np.int64, "float": np.float64, "bool": np.bool_, "str": str}[kind]
    out = np.array(values, dtype=dtype)
    stored = spec.get("dtype")
    if stored and kind in ("int", "float"):
        out = out.astype(np.dtype(stored))
    return out


class RunningMoments:
    """Column means and variances of rows seen in chunks: Chan, Golub and LeVeque's pairwise update.

    Merging a chunk of ``n_b`` rows with mean ``m_b`` and sum of squared deviations ``M2_b``
    into ``n_a``, ``m_a``, ``M2_a``::

        δ = m_b − m_a;  n = n_a + n_b
        m = m_a + δ n_b / n;   M2 = M2_a + M2_b + δ² n_a n_b / n

    Each chunk's own ``m_b``, ``M2_b`` are computed two-pass (stable), so the result is as
    accurate as the two-pass formula on all the rows, without ever holding them (the naive
    ``Σx² − n m²`` loses every digit when the mean is large against the spread).
    """

    def __init__(self, n_columns: int):
        self.n = 0
        self.mean = np.zeros(n_columns)
        self.M2 = np.zeros(n_columns)
        self.magnitude = np.zeros(n_columns)  # largest |x| of each column (the constant-column rule)

    def update(self, A: np.ndarray) -> None:
        """Add the rows of ``A`` (n_b, n_columns)."""
        n_b = A.shape[0]
        if n_b == 0:
            return
        self.magnitude = np.maximum(self.magnitude, np.abs(A).max(axis=0))
        m_b = A.mean(axis=0)
        D = A - m_b
        M2_b = np.einsum("ij,ij->j", D, D)
        n_a, n = self.n, self.n + n_b
        delta = m_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.M2 = self.M2 + M2_b + delta * delta * (n_a * n_b / n)
        self.n = n

    @property
    def var(self) -> np.ndarray:
        """The population variance (ddof 0, as StandardScaler), shape (n_columns,)."""
        return self.M2 / max(self.n, 1)

    def scaling(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, scale)`` as :func:`handgrad.preprocessing.scaling_stats`: constant columns keep scale 1."""
        std = np.sqrt(self.var)
        return self.mean.copy(), _safe_scale(std, self.mean, np.where(self.magnitude > 0, self.magnitude, 1.0))
