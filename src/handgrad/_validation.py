"""Checks at the boundary between the user's arrays and the engine.

Every check raises a :mod:`handgrad.errors` subclass of ``ValueError`` whose
message names the argument, the expected and the actual shape or value. None
of them reshapes silently.
"""

from __future__ import annotations

import numpy as np

from .backend import to_numpy
from .errors import HandgradError, NonFiniteError, ShapeError


def first_nonfinite(a: np.ndarray) -> tuple[int, ...] | None:
    """Index of the first NaN/inf entry of ``a``, or None if all are finite."""
    bad = ~np.isfinite(a)
    if not bad.any():
        return None
    return tuple(int(i) for i in np.argwhere(bad)[0])


def check_finite(a: np.ndarray, name: str) -> None:
    """Raise :class:`NonFiniteError` naming the first non-finite entry of ``a``."""
    idx = first_nonfinite(a)
    if idx is not None:
        raise NonFiniteError(f"{name} contains {a[idx].item()!r} at index {idx}; all values must be finite")


def as_float_array(a, name: str, dtype) -> np.ndarray:
    """``a`` as a float ndarray of ``dtype``, or :class:`ShapeError`/``ValueError`` on junk."""
    if isinstance(a, np.ndarray) and np.iscomplexobj(a):
        # NOTE: np.asarray(complex, float) would only warn and drop the imaginary part.
        raise ShapeError(f"{name} has complex dtype {a.dtype}; expected real numbers")
    if not isinstance(a, np.ndarray) and (hasattr(a, "__dlpack__") or hasattr(a, "__array_namespace__")):
        a = to_numpy(a)  # a torch tensor (also on a GPU), CuPy or array API array: its values on the host
    try:
        out = np.asarray(a, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"{name} could not be read as a numeric array: {exc}") from None
    except OverflowError:
        raise too_large_error(a, name, dtype) from None
    return out


def too_large_error(a, name: str, dtype) -> ShapeError:
    """The error for an integer too large for ``dtype`` (an object array of Python ints), naming its place."""
    cells = np.asarray(a, dtype=object)
    for index in np.ndindex(cells.shape):
        try:
            float(cells[index])
        except (OverflowError, TypeError, ValueError):
            place = f"row {index[0]}, column {index[1]}" if len(index) == 2 else f"index {index}"
            digits = len(str(abs(int(cells[index])))) if isinstance(cells[index], int) else None
            what = f"an integer of {digits} digits" if digits else repr(cells[index])[:40]
            return ShapeError(
                f"{name}: the value at {place} ({what}) is too large for {np.dtype(dtype).name} "
                f"(largest {np.finfo(np.float64).max:.4g}); rescale that column"
            )
    return ShapeError(f"{name} holds a value too large for {np.dtype(dtype).name}")


def check_X(X, n_features: int | None, dtype, name: str = "X") -> np.ndarray:
    """Validate ``X`` of shape (n_samples, n_features): 2-D, numeric, finite, right width."""
    X = as_float_array(X, name, dtype)
    if X.ndim != 2:
        raise ShapeError(
            f"{name} must be 2-D of shape (n_samples, n_features), got an array of shape {X.shape}"
            + ("; use X.reshape(-1, 1) for a single feature" if X.ndim == 1 else "")
        )
    if X.shape[0] == 0:
        raise ShapeError(f"{name} has no samples (shape {X.shape})")
    if n_features is not None and X.shape[1] != n_features:
        raise ShapeError(
            f"{name} has {X.shape[1]} features (shape {X.shape}), the network expects "
            f"{n_features}: shape (n_samples, {n_features})"
        )
    check_finite(X, name)
    return X


def check_Y(Y, n_samples: int, n_outputs: int | None, dtype, name: str = "Y") -> np.ndarray:
    """Validate targets; returns shape (n_samples, n_outputs). A 1-D Y is one output."""
    Y = as_float_array(Y, name, dtype)
    given = Y.shape
    if Y.ndim == 1:
        Y = Y.reshape(-1, 1)  # documented: a 1-D target is a single output
    if Y.ndim != 2:
        raise ShapeError(f"{name} must be 1-D or 2-D (n_samples, n_outputs), got shape {Y.shape}")
    if Y.shape[0] != n_samples:
        raise ShapeError(f"{name} has {Y.shape[0]} rows but X has {n_samples} samples")
    if n_outputs is not None and Y.shape[1] != n_outputs:
        raise ShapeError(
            f"{name} has {Y.shape[1]} outputs (shape {given}), the network has {n_outputs}: "
            f"expected shape ({n_samples}, {n_outputs})"
        )
    check_finite(Y, name)
    return Y


def check_sample_weight(sample_weight, n_samples: int, dtype) -> np.ndarray | None:
    """Validate ``sample_weight`` of shape (n_samples,): finite, non-negative, not all zero."""
    if sample_weight is None:
        return None
    w = as_float_array(sample_weight, "sample_weight", dtype)
    if w.ndim == 0:
        w = np.full(n_samples, float(w), dtype=dtype)
    if w.shape != (n_samples,):
        raise ShapeError(f"sample_weight must have shape ({n_samples},), got {w.shape}")
    check_finite(w, "sample_weight")
    if (w < 0).any():
        raise HandgradError(f"sample_weight must be >= 0, got {w[w < 0][0].item()!r} at index {int(np.argmax(w < 0))}")
    if not w.sum() > 0:
        raise HandgradError("sample_weight sums to zero; at least one sample must have weight > 0")
    return w
