"""The binary cache of rows larger than memory: float64 rows ``[x | y]`` in a ``.npy`` file, read chunk by chunk.

See :mod:`handgrad.data.stream` for why and how it is used (``fit`` on a file).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import DataError, ShapeError

#: Rows of a chunk by default (~16 MB of float64 rows of 31 columns, a multiple of common batch sizes).
CHUNK_ROWS = 65_536


class RowCache:
    """Float64 rows ``[x | y]`` in a ``.npy`` file, read chunk by chunk.

    Parameters
    ----------
    path : str or Path
        A 2-D float64 ``.npy`` file of shape (n_rows, n_features + n_outputs), C order.
    n_features : int
        The first ``n_features`` columns are ``x``; the rest ``y``.

    Attributes
    ----------
    shape : tuple
        ``(n_rows, n_features)``: the shape of ``X`` it stands for.
    x_mean, x_scale : ndarray of shape (n_features,)
        Applied when rows are read: ``(x − x_mean) / x_scale`` (zeros and ones by default).
    y_mean, y_scale : ndarray of shape (n_outputs,)
        Likewise for ``y``.
    """

    def __init__(self, path, n_features: int):
        self.path = Path(path)
        with open(self.path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(f)
            self._offset = f.tell()
        if len(shape) != 2 or fortran or dtype != np.float64 or not 0 < n_features < shape[1]:
            raise ShapeError(f"{path}: expected a C-order float64 array (n_rows, > {n_features} columns), got {shape}")
        self.n_rows, self.n_columns = int(shape[0]), int(shape[1])
        self.n_features = int(n_features)
        self.n_outputs = self.n_columns - self.n_features
        self.shape = (self.n_rows, self.n_features)
        self.x_mean, self.x_scale = np.zeros(self.n_features), np.ones(self.n_features)
        self.y_mean, self.y_scale = np.zeros(self.n_outputs), np.ones(self.n_outputs)
        #: Rows read at a time in training (rounded up to a multiple of the batch size): the shuffle buffer.
        self.chunk_rows = CHUNK_ROWS

    def scaled(self, x_mean, x_scale, y_mean=None, y_scale=None) -> RowCache:
        """The same file, read standardised with these statistics."""
        other = RowCache.__new__(RowCache)
        other.__dict__.update(self.__dict__)
        other.x_mean, other.x_scale = np.asarray(x_mean, float), np.asarray(x_scale, float)
        if y_mean is not None:
            other.y_mean, other.y_scale = np.asarray(y_mean, float), np.asarray(y_scale, float)
        return other

    def read(self, start: int, stop: int, raw: np.ndarray) -> np.ndarray:
        """Rows ``[start, stop)`` unscaled into ``raw`` (at least stop − start rows, n_columns); the filled part.

        The region is memory-mapped for the copy only and unmapped at once, so that the
        file's pages do not stay in this process's resident memory.
        """
        m = stop - start
        mm = np.memmap(
            self.path, np.float64, "r", offset=self._offset + start * self.n_columns * 8, shape=(m, self.n_columns)
        )
        out = raw[:m]
        np.copyto(out, mm)
        del mm
        return out

    def read_scaled(self, start: int, stop: int, raw: np.ndarray, X_out: np.ndarray, Y_out: np.ndarray) -> None:
        """Rows ``[start, stop)`` standardised: ``x`` into ``X_out`` (m, n_features), ``y`` into ``Y_out`` (m, n_outputs)."""
        r = self.read(start, stop, raw)
        nf = self.n_features
        np.subtract(r[:, :nf], self.x_mean, out=X_out)
        np.divide(X_out, self.x_scale, out=X_out)
        np.subtract(r[:, nf:], self.y_mean, out=Y_out)
        np.divide(Y_out, self.y_scale, out=Y_out)

    def chunks(self, chunk_rows: int = CHUNK_ROWS):
        """``(X, Y)`` unscaled, in file order, ``chunk_rows`` rows at a time (copies)."""
        raw = np.empty((min(chunk_rows, self.n_rows), self.n_columns))
        for start in range(0, self.n_rows, chunk_rows):
            r = self.read(start, min(start + chunk_rows, self.n_rows), raw)
            yield r[:, : self.n_features].copy(), r[:, self.n_features :].copy()

    @classmethod
    def write(cls, chunks: Iterable[tuple[np.ndarray, np.ndarray]], path, on_rows=None) -> RowCache:
        """Consume ``(X, Y)`` chunks (X (m, n_features), Y (m, n_outputs) or (m,)) into a new cache at ``path``.

        The rows are appended to the file as they come (memory: one chunk) and their
        ``on_rows`` called with each chunk's rows ``[x | y]`` (m, n_columns) — the caller's
        statistics (:class:`~handgrad.preprocessing.RunningMoments`). The header is written last,
        when the number of rows is known.
        """
        path = Path(path)
        n_rows = 0
        n_features = n_columns = None
        header_len = 128  # a fixed-size header slot, rewritten at the end (np.lib.format pads to 64)
        with open(path, "wb") as f:
            f.write(b"\0" * header_len)
            for X, Y in chunks:
                X = np.asarray(X, dtype=np.float64)
                Y = np.asarray(Y, dtype=np.float64)
                if Y.ndim == 1:
                    Y = Y[:, None]
                if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
                    raise ShapeError(
                        f"a chunk must be (X, y) with X of shape (m, n_features) and y of m rows; got X of shape "
                        f"{X.shape} and y of shape {Y.shape} (chunk after row {n_rows})"
                    )
                if n_columns is None:
                    n_features, n_columns = X.shape[1], X.shape[1] + Y.shape[1]
                elif X.shape[1] + Y.shape[1] != n_columns or X.shape[1] != n_features:
                    raise ShapeError(
                        f"the chunk after row {n_rows} has {X.shape[1]} features and {Y.shape[1]} outputs; "
                        f"the first had {n_features} and {n_columns - n_features}"
                    )
                A = np.concatenate([X, Y], axis=1)
                if not np.isfinite(A).all():
                    i, j = (int(v) for v in np.argwhere(~np.isfinite(A))[0])
                    what = f"feature {j}" if j < n_features else f"output {j - n_features}"
                    raise DataError(f"row {n_rows + i} ({what}) is not finite ({A[i, j]}); all values must be finite")
                if on_rows is not None:
                    on_rows(A)
                f.write(A.tobytes())
                n_rows += A.shape[0]
            if n_columns is None or n_rows == 0:
                raise ShapeError("the data hold no rows")
            header = {"descr": "<f8", "fortran_order": False, "shape": (n_rows, n_columns)}
            f.seek(0)
            buf = _header_bytes(header, header_len)
            f.write(buf)
        return cls(path, n_features)


def _header_bytes(header: dict, total: int) -> bytes:
    """A ``.npy`` version 1.0 header of exactly ``total`` bytes (magic, length, dict, padding, newline)."""
    text = repr(header).encode("latin1")
    magic = np.lib.format.magic(1, 0)
    pad = total - len(magic) - 2 - len(text) - 1
    if pad < 0:
        raise ShapeError("the cache header does not fit")  # a shape with 40-digit numbers; not reachable
    body = text + b" " * pad + b"\n"
    return magic + len(body).to_bytes(2, "little") + body


def temporary_cache_path(directory=None) -> Path:
    """A new file name for a cache in ``directory`` (default: the temporary folder, ``TMPDIR``)."""
    fd, name = tempfile.mkstemp(prefix="handgrad-cache-", suffix=".npy", dir=directory)
    os.close(fd)
    return Path(name)
