"""The files of the seed's experiment: ``--init-weights``, ``--permutations``, ``--export-weights``.

``--init-weights`` and ``--export-weights`` are .npz archives holding ``W1, b1, W2, b2, ...``
(``W_l`` of shape ``(n_l, n_{l-1})``, ``b_l`` of ``n_l`` values); ``--permutations`` is an .npy
of shape ``(epochs, n_training_rows)``, 0-based. Each file is read without pickle and checked
against the network and the data before any training starts.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError, HandgradError
from ..modelfile import atomic_write
from ..network import Network
from ._common import usage_error


def _np_load(path, kind: str):
    """``np.load(path)`` without pickle; a file that is not a NumPy file is a DataError naming ``kind``."""
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        if isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise
        raise DataError(f"{path}: not a readable {kind} file: {exc}") from None


def read_init_weights(path, sizes: list[int], dtype) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``W1, b1, ...`` from an .npz (no pickle), checked against the architecture ``sizes``."""
    arch = "-".join(str(n) for n in sizes)
    npz = _np_load(path, ".npz")
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: an .npy array, expected an .npz archive holding W1, b1, W2, b2, ...")
    with npz:
        L = len(sizes) - 1
        expected = [f"{k}{l}" for l in range(1, L + 1) for k in "Wb"]
        missing = [n for n in expected if n not in npz.files]
        extra = [n for n in npz.files if n not in expected]
        if missing or extra:
            raise DataError(
                f"{path}: the network {arch} needs the arrays {expected}"
                + (f"; missing: {missing}" if missing else "")
                + (f"; unexpected: {extra}" if extra else "")
            )
        weights, biases = [], []
        for l in range(1, L + 1):
            for kind, shape in (("W", (sizes[l], sizes[l - 1])), ("b", (sizes[l],))):
                name = f"{kind}{l}"
                try:
                    a = npz[name]
                except ValueError as exc:  # an object array: would need pickle
                    raise DataError(f"{path}: array {name} cannot be read without pickle ({exc})") from None
                if kind == "b" and a.shape == (sizes[l], 1):
                    a = a[:, 0]  # documented: a MATLAB column b_l (n_l, 1) is accepted
                if a.shape != shape:
                    raise DataError(
                        f"{path}: {name} has shape {a.shape}, but the network {arch} needs {shape} "
                        f"({'W_l is (n_l, n_{l-1})' if kind == 'W' else 'b_l has n_l values'})"
                    )
                if a.dtype.kind not in "fiu":
                    raise DataError(f"{path}: {name} has dtype {a.dtype}; expected floating-point numbers")
                a = a.astype(dtype)
                if not np.isfinite(a).all():
                    raise DataError(f"{path}: {name} holds NaN or infinity")
                (weights if kind == "W" else biases).append(a)
    return weights, biases


def read_permutations(path, epochs: int, n_rows: int) -> np.ndarray:
    """The seed's per-epoch permutations: an .npy of shape (epochs, n_rows), 0-based, each row a permutation."""
    P = _np_load(path, ".npy")
    if not isinstance(P, np.ndarray):
        P.close()
        raise DataError(f"{path}: an .npz archive; expected one .npy array of shape (epochs, n_rows)")
    if P.shape != (epochs, n_rows):
        raise DataError(
            f"{path}: permutations of shape {P.shape}; expected (epochs, training rows) = ({epochs}, {n_rows})"
        )
    if P.dtype.kind not in "iu":
        if P.dtype.kind == "f" and np.isfinite(P).all() and np.all(P == np.round(P)):
            P = P.astype(np.int64)
        else:
            raise DataError(f"{path}: permutations must be integers (0-based row indices), got dtype {P.dtype}")
    ok = np.sort(P, axis=1) == np.arange(n_rows)
    bad = np.flatnonzero(~ok.all(axis=1))
    if bad.size:
        e = int(bad[0])
        row = np.sort(P[e])
        hint = "; it looks 1-based (MATLAB): subtract 1" if np.array_equal(row, np.arange(1, n_rows + 1)) else ""
        raise DataError(
            f"{path}: row {e} (epoch {e + 1}) is not a permutation of 0..{n_rows - 1} "
            f"(values {int(P[e].min())}..{int(P[e].max())}, {np.unique(P[e]).size} distinct){hint}"
        )
    return P.astype(np.intp)


def export_weights(path, network: Network, force: bool) -> None:
    state = network.state_dict()
    try:
        atomic_write(path, lambda f: np.savez(f, **state), force=force)
    except HandgradError as exc:
        raise usage_error(str(exc).replace("force=True (--force)", "--force")) from None
