"""How much memory a run needs, and refusing one the machine cannot hold, before allocating.

A network of ``--hidden 100000 100000`` needs a 100,000 × 100,000 weight
matrix: 80 GB in float64, several times that with its gradient and the
optimizer's state. NumPy would try, and fail with a ``MemoryError`` traceback
(or get the process killed) after minutes. :func:`estimate_training_bytes`
counts the arrays training allocates; :func:`check_memory` compares a figure
with what the machine has and raises a :class:`MemoryLimitError` naming both.

Both the command line and the estimators call them (the command line before
reading the data, the estimators in ``fit`` before building the network).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from .errors import ConfigError, HandgradError

__all__ = [
    "MemoryLimitError",
    "available_memory",
    "check_memory",
    "estimate_training_bytes",
    "format_bytes",
]

#: Arrays of the size of the parameters that training holds: the parameters, their
#: gradient, and up to two optimizer moments (Adam), plus the best-epoch copy.
PARAMETER_COPIES = 5
#: Per sample in a batch and per unit: z, a and delta of every layer (the forward
#: cache and the backward pass), plus a scratch array for σ'(z).
ACTIVATION_COPIES = 4


class MemoryLimitError(HandgradError, MemoryError):
    """A run would need more memory than the machine has; refused before allocating.

    A :class:`~handgrad.errors.HandgradError` (one line at the command line, exit 2)
    and a ``MemoryError``. Attributes ``needed`` and ``available`` are in bytes
    (``available`` is None where the machine does not tell).
    """

    def __init__(self, message: str, needed: int = 0, available: int | None = None):
        super().__init__(message)
        self.needed = needed
        self.available = available


def format_bytes(n: float) -> str:
    """``1.5 GiB``-style text for a number of bytes."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def estimate_training_bytes(layer_sizes: Sequence[int], n_rows: int, batch_size: int | None, dtype=np.float64) -> int:
    """Bytes that training a network of ``layer_sizes`` on ``n_rows`` rows allocates.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[n_0, n_1, ..., n_L]``: inputs, hidden widths, outputs.
    n_rows : int
        Training rows (the feature matrix itself is counted: n_rows × n_0 and
        n_rows × n_L in ``dtype``, the scaled copy the network sees).
    batch_size : int or None
        Rows per step (None: the whole set, as full-batch gradient descent).
    dtype : numpy dtype
        The network's float type (float32 halves everything).

    Returns
    -------
    int
        ``itemsize × (PARAMETER_COPIES × Σ_l n_l (n_{l-1} + 1) +
        ACTIVATION_COPIES × batch × Σ_l n_l + n_rows (n_0 + n_L))``: a lower
        bound of what NumPy allocates, exact in its leading terms (the weight
        matrices), so a refusal is never wrong.

    Examples
    --------
    >>> estimate_training_bytes([10, 100000, 100000, 1], 1000, 32) > 100e9  # the W of 100000 × 100000
    True
    """
    sizes = [int(n) for n in layer_sizes]
    if len(sizes) < 2 or any(n < 1 for n in sizes):
        raise ConfigError(f"layer_sizes must be at least two positive integers, got {list(layer_sizes)}")
    if n_rows < 0:
        raise ConfigError(f"n_rows must be >= 0, got {n_rows}")
    itemsize = np.dtype(dtype).itemsize
    batch = n_rows if batch_size is None else min(int(batch_size), max(n_rows, 1))
    # Python ints: no overflow however absurd the widths (--hidden 1000000000).
    n_params = sum(sizes[l] * (sizes[l - 1] + 1) for l in range(1, len(sizes)))
    n_units = sum(sizes[1:])
    data = n_rows * (sizes[0] + sizes[-1])
    return itemsize * (PARAMETER_COPIES * n_params + ACTIVATION_COPIES * batch * n_units + data)


def available_memory() -> int | None:
    """Bytes the machine can give this process now, or None if it does not say.

    ``MemAvailable`` from ``/proc/meminfo`` (Linux: free memory plus what the
    kernel can reclaim), capped by a cgroup limit (a container's) when one is
    set; elsewhere physical memory from ``os.sysconf``.
    """
    found = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    found = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        found = None
    if found is None:
        try:
            found = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            found = None
    limit = _cgroup_limit()
    if limit is not None and (found is None or limit < found):
        found = limit
    return found


def _cgroup_limit() -> int | None:
    """The memory left under a cgroup (v2 or v1) limit, or None where there is none."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            with open(limit_file, encoding="ascii") as f:
                text = f.read().strip()
            if text == "max":
                return None
            limit = int(text)
            if limit >= 1 << 60:  # v1's "no limit"
                return None
            with open(usage_file, encoding="ascii") as f:
                usage = int(f.read().strip())
            return max(limit - usage, 0)
        except (OSError, ValueError):
            continue
    return None


def check_memory(bytes_needed: int, what: str, *, available: int | None = None, hint: str = "") -> None:
    """Raise :class:`MemoryLimitError` if ``bytes_needed`` exceeds what the machine has.

    Parameters
    ----------
    bytes_needed : int
        The figure (e.g. from :func:`estimate_training_bytes`).
    what : str
        What needs it, for the message (``"training a network of [10, 100000, 100000, 1]"``).
    available : int, optional
        Bytes available (default :func:`available_memory`; tests pass a figure).
    hint : str
        What to do about it, appended to the message.

    Examples
    --------
    >>> check_memory(10**15, "training", available=8 << 30)
    Traceback (most recent call last):
    ...
    handgrad._memory.MemoryLimitError: training needs about 909.5 TiB of memory; this machine has 8.0 GiB available
    """
    if available is None:
        available = available_memory()
    if available is None or bytes_needed <= available:
        return
    message = (
        f"{what} needs about {format_bytes(bytes_needed)} of memory; "
        f"this machine has {format_bytes(available)} available"
    )
    if hint:
        message += f"; {hint}"
    raise MemoryLimitError(message, int(bytes_needed), int(available))
