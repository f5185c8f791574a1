r"""The thin backend layer: where the engine's arrays live, and the few in-place operations it needs.

The engine (:mod:`handgrad.backprop`, :mod:`handgrad.training.step`, the optimizers,
the activations and losses) is written once, against the Python array API
standard: it takes the namespace of its arrays (:func:`namespace`) or the
:class:`Backend` of its buffers and never names an array library itself. So the
same §1.3 runs on NumPy arrays (the default and the only required dependency),
PyTorch tensors on the CPU or a GPU, CuPy arrays and ``array-api-strict`` arrays.

What differs between libraries is only how a result is written **into a buffer
that already exists** (the engine allocates its buffers once and a training step
allocates nothing), so that is all this module implements, three times:

============== ============================= ===========================================
backend        arrays                         "write ``x @ y`` into ``out``"
============== ============================= ===========================================
NumPy          ``numpy.ndarray``              ``np.dot(x, y, out=out)`` (ufuncs' ``out=``)
PyTorch        ``torch.Tensor`` (any device)  ``torch.mm(x, y, out=out)`` (``out=`` too)
generic        any other array API library    ``out[...] = x @ y`` (assignment)
============== ============================= ===========================================

The primitives, each as NumPy spells it (``out`` must have the result's shape and dtype):

``dot(x, y, out)``, ``multiply``, ``add``, ``subtract``, ``divide``, ``maximum``,
``greater`` (1/0 in ``out``'s float dtype) and ``sqrt(x, out)``, ``take_rows(src, rows, out)``,
``sumsq(x)`` (``Σ x²``) and ``item(s)`` (a Python float on NumPy; unchanged elsewhere, see
:attr:`Backend.lazy`).

NOTE: NumPy is the fast path: :func:`namespace` returns the ``numpy`` module itself
for NumPy arrays (no array-api-compat call, which costs microseconds where a step
of the seed's network costs ~40 µs), and :data:`NUMPY`'s primitives *are* NumPy's
functions, so the engine's NumPy path makes the same calls it made before this layer.
"""

from __future__ import annotations

import importlib
import numbers

import numpy as np

from .errors import ConfigError

__all__ = ["NUMPY", "Backend", "astype", "device", "namespace", "of", "select", "to_numpy"]

_GPU_EXTRA = 'pip install "handgrad[gpu]"'


def _is_numpy_like(x) -> bool:
    """NumPy arrays and scalars, Python numbers and sequences: what NumPy takes as it is."""
    return x is None or isinstance(x, (np.ndarray, np.generic, numbers.Number, list, tuple))


def _compat():
    """array-api-compat, imported on first use (an optional dependency: the ``gpu`` and ``test`` extras)."""
    try:
        import array_api_compat
    except ImportError:
        raise ConfigError(f"arrays other than NumPy's need the array-api-compat package: {_GPU_EXTRA}") from None
    return array_api_compat


def namespace(*arrays):
    """The array API namespace of ``arrays``: the ``numpy`` module itself for NumPy arrays.

    Otherwise array-api-compat's ``array_namespace`` (``array_api_compat.torch`` for
    torch tensors, ``array_api_strict`` for its arrays, ...). Python numbers, None
    and NumPy scalars do not count.
    """
    others = [x for x in arrays if not _is_numpy_like(x)]
    if not others:
        return np
    return _compat().array_namespace(*others)


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch") and type(x).__name__ in ("Tensor", "Parameter")


def astype(x, dtype):
    """``x`` as ``dtype`` (the array API's ``astype``; NumPy < 2 has only the method)."""
    if isinstance(x, np.ndarray):
        return x.astype(dtype, copy=False)
    return namespace(x).astype(x, dtype)


def device(x):
    """The device of the array ``x`` (None for NumPy's)."""
    if isinstance(x, np.ndarray):
        return None
    return _compat().device(x)


def to_numpy(x) -> np.ndarray:
    """A NumPy array with the values of ``x`` (copied from a GPU; a view where the library allows)."""
    if _is_numpy_like(x):
        return np.asarray(x)
    if _is_torch(x):
        return x.detach().cpu().numpy()
    if type(x).__module__.startswith("cupy"):
        return x.get()
    try:
        return np.from_dlpack(x)
    except (TypeError, RuntimeError, BufferError, ValueError, AttributeError):
        return np.asarray(x)


class Backend:
    """The arrays of one library on one device, and the engine's in-place primitives for them.

    Attributes
    ----------
    name : str
        ``"numpy"``, ``"torch"`` or the namespace's name.
    xp : module
        The array API namespace.
    device : object or None
        Where new arrays are made (None: the library's default, NumPy's CPU).
    lazy : bool
        Whether per-step scalars (a batch's loss) stay arrays on the device, read once
        per epoch: ``float()`` of a GPU value waits for every queued kernel, which at
        small batches would cost more than the step. NumPy: False (``item`` is ``float``).
    """

    name = "generic"
    lazy = True

    def __init__(self, xp, device=None):
        self.xp = xp
        self.device = device
        self.name = getattr(xp, "__name__", "generic").rsplit(".", 1)[-1]

    def __repr__(self) -> str:
        return f"<handgrad backend {self.name} on {self.device}>"

    def __reduce__(self):
        # NOTE: by name (a module cannot be pickled): an estimator holding an optimizer pickles.
        return (_generic_backend, (self.xp.__name__, self.device))

    # ------------------------------------------------------------------ arrays
    def dtype(self, dtype):
        """The library's dtype named as NumPy's ``dtype`` (float32 or float64)."""
        return getattr(self.xp, np.dtype(dtype).name)

    def empty(self, shape, dtype):
        return self.xp.empty(shape, dtype=self.dtype(dtype), device=self.device)

    def zeros(self, shape, dtype):
        return self.xp.zeros(shape, dtype=self.dtype(dtype), device=self.device)

    def asarray(self, x, dtype=None):
        """``x`` (a NumPy array) as an array of this backend, on its device (a copy)."""
        x = np.ascontiguousarray(x, dtype=dtype)
        return self.xp.asarray(x, device=self.device, copy=True)

    def index(self, rows: np.ndarray):
        """0-based row indices (NumPy) as this backend's integer array."""
        return self.xp.asarray(np.asarray(rows, np.int64), device=self.device)

    def to_numpy(self, x) -> np.ndarray:
        return to_numpy(x)

    def rows_that_fit(self, n: int, bytes_per_row: int) -> int:
        """How many of ``n`` data rows of ``bytes_per_row`` to keep on the device (here: all)."""
        return n

    def copy_into(self, out, x_numpy: np.ndarray) -> None:
        """``out[...] = x_numpy``: a NumPy array written into this backend's array ``out``."""
        out[...] = self.xp.asarray(np.ascontiguousarray(x_numpy), device=self.device)

    # ------------------------------------------------------------------ primitives
    def _arr(self, y, like):
        """A Python number as a 0-d array like ``like`` (the standard's functions take arrays)."""
        if isinstance(y, numbers.Number):
            return self.xp.asarray(y, dtype=like.dtype, device=self.device)
        return y

    def dot(self, x, y, out):
        out[...] = x @ y

    def multiply(self, x, y, out):
        out[...] = x * y

    def add(self, x, y, out):
        out[...] = x + y

    def subtract(self, x, y, out):
        out[...] = x - y

    def divide(self, x, y, out):
        out[...] = x / y

    def maximum(self, x, y, out):
        out[...] = self.xp.maximum(x, self._arr(y, x))

    def greater(self, x, y, out):
        out[...] = self.xp.astype(x > y, out.dtype)

    def sqrt(self, x, out):
        out[...] = self.xp.sqrt(x)

    def take_rows(self, src, rows, out):
        out[...] = self.xp.take(src, rows, axis=0)

    def sumsq(self, x):
        return self.xp.sum(x * x)

    @staticmethod
    def item(s):
        return s


class _NumPy(Backend):
    """NumPy: the primitives are NumPy's own functions with ``out=`` (the engine's fast path)."""

    lazy = False

    def __reduce__(self):
        return "NUMPY"  # the one instance, handgrad.backend.NUMPY

    def __init__(self):
        super().__init__(np, None)
        self.name = "numpy"

    def empty(self, shape, dtype):
        return np.empty(shape, dtype)

    def zeros(self, shape, dtype):
        return np.zeros(shape, dtype)

    def asarray(self, x, dtype=None):
        return np.array(x, dtype=dtype)

    def index(self, rows):
        return rows

    def copy_into(self, out, x_numpy):
        np.copyto(out, x_numpy)

    # NOTE: the functions themselves, not wrappers: the same calls as before this layer.
    dot = staticmethod(np.dot)  # needs a C-contiguous out; the engine's buffers are
    multiply = staticmethod(np.multiply)
    add = staticmethod(np.add)
    subtract = staticmethod(np.subtract)
    divide = staticmethod(np.divide)
    maximum = staticmethod(np.maximum)
    greater = staticmethod(np.greater)
    sqrt = staticmethod(np.sqrt)
    sumsq = staticmethod(lambda x: np.vdot(x, x))
    item = staticmethod(float)

    @staticmethod
    def take_rows(src, rows, out):
        # NOTE: mode="clip" (the indices are valid by construction): with the default
        # mode="raise", np.take buffers its output, which doubles the copy.
        np.take(src, rows, axis=0, out=out, mode="clip")


class _Torch(Backend):
    """PyTorch on one device: ``torch`` functions with ``out=``, as NumPy's ufuncs."""

    def __init__(self, device):
        import torch  # optional: the caller has a tensor or asked for a device

        self.torch = torch
        super().__init__(_compat().array_namespace(torch.empty(0)), torch.device(device))
        self.name = "torch"
        # NOTE: torch's own functions, which take out= as NumPy's do: no Python frame per call
        # (on a GPU at small batches the step's cost is the launching of its kernels).
        self.dot = torch.mm
        self.multiply = torch.mul
        self.add = torch.add
        self.subtract = torch.sub
        self.divide = torch.div
        self.greater = torch.gt
        self.sqrt = torch.sqrt

    def dtype(self, dtype):
        return getattr(self.torch, np.dtype(dtype).name)

    def __reduce__(self):
        return (_torch_backend, (str(self.device),))

    def rows_that_fit(self, n, bytes_per_row):
        """All ``n``, or on a GPU as many as fill half of its free memory (the rest is the training's)."""
        if self.device.type != "cuda":
            return n
        free, _ = self.torch.cuda.mem_get_info(self.device)
        return min(n, int(free // 2 // max(bytes_per_row, 1)))

    def empty(self, shape, dtype):
        return self.torch.empty(shape, dtype=self.dtype(dtype), device=self.device)

    def zeros(self, shape, dtype):
        return self.torch.zeros(shape, dtype=self.dtype(dtype), device=self.device)

    def asarray(self, x, dtype=None):
        t = self.torch.from_numpy(np.array(x, dtype=dtype, order="C"))
        return t.to(self.device) if self.device.type != "cpu" else t

    def index(self, rows):
        return self.torch.from_numpy(np.asarray(rows, np.int64)).to(self.device)

    def copy_into(self, out, x_numpy):
        out.copy_(self.torch.from_numpy(np.ascontiguousarray(x_numpy)))

    def maximum(self, x, y, out):
        # NOTE: clamp_min keeps NaN (as np.maximum); torch.maximum needs a tensor y.
        if isinstance(y, numbers.Number):
            self.torch.clamp_min(x, y, out=out)
        else:
            self.torch.maximum(x, y, out=out)

    def take_rows(self, src, rows, out):
        self.torch.index_select(src, 0, rows, out=out)

    def sumsq(self, x):
        v = x.reshape(-1)
        return self.torch.dot(v, v)


#: The NumPy backend (the default; its primitives are NumPy's functions).
NUMPY: Backend = _NumPy()
_TORCH: dict = {}


def _torch_backend(device) -> Backend:
    key = str(device)
    bk = _TORCH.get(key)
    if bk is None:
        bk = _TORCH[key] = _Torch(device)
    return bk


def _generic_backend(module: str, device) -> Backend:
    """A generic backend from its namespace's module name (what an unpickled one is rebuilt from)."""
    return Backend(importlib.import_module(module), device)


def of(x) -> Backend:
    """The backend of the array ``x`` (its library, on its device)."""
    if isinstance(x, np.ndarray):
        return NUMPY
    if _is_torch(x):
        return _torch_backend(x.device)
    xp = namespace(x)
    return Backend(xp, _compat().device(x))


def _check_torch_device(device: str):
    """A torch.device for ``device``, or ConfigError saying why it cannot be used here."""
    try:
        import torch
    except ImportError:
        raise ConfigError(f"device={device!r} needs PyTorch: {_GPU_EXTRA}") from None
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"unknown device {device!r} ({exc}); expected 'cpu', 'cuda' or 'cuda:N'") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device={device!r} but PyTorch sees no CUDA GPU here (torch {torch.__version__}); "
                "use device='cpu' or a machine with a GPU and a CUDA build of PyTorch"
            )
        index = 0 if dev.index is None else dev.index
        if index >= torch.cuda.device_count():
            raise ConfigError(f"device={device!r} but there are only {torch.cuda.device_count()} CUDA devices")
    return dev


def select(device=None, like=None) -> Backend:
    """Where training runs, as in scikit-learn's array API support: the input decides, ``device`` overrides.

    Parameters
    ----------
    device : None, str or a library's device object
        None: where ``like`` lives (NumPy arrays: NumPy). ``"cpu"`` with NumPy input:
        NumPy; ``"cuda"``, ``"cuda:1"``, ...: PyTorch on that GPU (``like`` may be NumPy).
        With torch tensors, PyTorch on ``device``. With another library's arrays
        (CuPy, array-api-strict), that library on ``device``.
    like : array, optional
        The training input ``X``.
    """
    if device is None:
        return NUMPY if _is_numpy_like(like) else of(like)
    if _is_numpy_like(like) or _is_torch(like):
        if _is_numpy_like(like) and str(device) == "cpu":
            return NUMPY
        return _torch_backend(_check_torch_device(str(device)) if isinstance(device, str) else device)
    bk = of(like)
    return Backend(bk.xp, device)
