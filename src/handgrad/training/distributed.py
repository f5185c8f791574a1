r"""Data-parallel training on ``torch.distributed``: the engine PyTorch users already run on clusters.

handgrad does not bring a communication layer of its own. Launched by ``torchrun``
(which sets ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``), every
process runs the same :func:`handgrad.training.train` call with
``distributed=DataParallel.from_environment()``; then

* the **global** mini-batch (``batch_size``) is the one single-process training
  would take, in the same order (the same ``random_state`` on every rank); rank
  ``r`` takes its contiguous part of it (``np.array_split`` of the batch's rows);
* each rank runs the engine's forward pass and backpropagation on its part, with
  ``dJ/dŶ`` scaled by the **global** batch's size (``Loss.gradient(denominator=)``),
  so that the sum of the ranks' gradients is the gradient of the global batch;
* the gradients are summed across ranks with **one** ``all_reduce`` of the flat
  gradient buffer per step (NumPy's buffer seen by torch through
  ``torch.from_numpy``: no copy), with the batch's loss sum in one extra slot so
  that every rank takes the same decision when a loss is not finite;
* every rank applies the same optimizer update to the same parameters (broadcast
  from rank 0 at the start): every rank ends with identical weights, equal to
  single-process training up to the rounding of the sum (tested to 1e-12 with
  2 and 3 processes over loopback, ``tests/test_distributed.py``).

Only rank 0 should print and write files (the command line does so); the other
ranks train silently. Backends: gloo on the CPU (NumPy arrays), NCCL for CUDA
tensors. A rank that dies makes the others fail in their next collective; with
gloo that is at once (the peer's connection closes), at the latest after
``timeout`` seconds: :class:`DistributedError` names the rank and the cause.

NOTE: every rank holds the training rows it is given (the command line has each
rank read the file); in each epoch rank ``r`` only computes on its part of each
global batch. With a shuffled order that part is a different set of rows each
epoch, as with PyTorch's ``DistributedSampler``.
"""

from __future__ import annotations

import datetime
import os

import numpy as np

from ..errors import ConfigError, HandgradError


class DistributedError(HandgradError, RuntimeError):
    """A collective failed: another rank died, the network failed, or a timeout passed."""


def _torch_distributed():
    try:
        import torch
        import torch.distributed as dist
    except ImportError:  # optional: torch is the `distributed` extra
        raise ConfigError(
            'data-parallel training needs PyTorch\'s torch.distributed: pip install "handgrad[distributed]"'
        ) from None
    return torch, dist


class DataParallel:
    """The ranks of an initialised ``torch.distributed`` process group, as :func:`train` uses them.

    Parameters
    ----------
    group : torch.distributed.ProcessGroup, optional
        Default: the default group (``torch.distributed.init_process_group``).
    """

    def __init__(self, group=None):
        self._torch, self._dist = _torch_distributed()
        if not self._dist.is_initialized():
            raise ConfigError(
                "torch.distributed is not initialised: launch with torchrun and use "
                "DataParallel.from_environment(), or call torch.distributed.init_process_group first"
            )
        self.group = group
        #: Whether :meth:`ready` was called (the ranks met once after preparing).
        self.was_ready = False
        self.rank = self._dist.get_rank(group)
        self.world_size = self._dist.get_world_size(group)

    @classmethod
    def from_environment(cls, backend: str | None = None, timeout: float = 60.0) -> DataParallel:
        """Join the process group ``torchrun`` describes in the environment (``RANK``, ``WORLD_SIZE``, ...).

        ``backend``: ``"gloo"`` (CPU, the default) or ``"nccl"`` (CUDA). ``timeout``: seconds a
        collective may wait for the other ranks before :class:`DistributedError`.
        """
        _, dist = _torch_distributed()
        missing = [v for v in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
        if missing:
            raise ConfigError(
                f"--distributed needs the environment torchrun sets ({', '.join(missing)} missing): "
                "launch with  torchrun --nproc-per-node N -m handgrad train --distributed ..."
            )
        if not dist.is_initialized():
            try:
                dist.init_process_group(backend=backend or "gloo", timeout=datetime.timedelta(seconds=float(timeout)))
            except Exception as exc:  # connection refused, timeout: name the rendezvous
                raise DistributedError(
                    f"could not join the process group at {os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']} "
                    f"as rank {os.environ['RANK']} of {os.environ['WORLD_SIZE']}: {exc}"
                ) from None
        return cls()

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that prints and writes files."""
        return self.rank == 0

    def part(self, n_rows: int) -> tuple[int, int]:
        """This rank's rows ``[start, stop)`` of a global batch of ``n_rows`` rows (``np.array_split``)."""
        base, extra = divmod(n_rows, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return start, start + base + (1 if self.rank < extra else 0)

    def all_reduce(self, flat: np.ndarray) -> None:
        """Sum ``flat`` (1-D, C-contiguous) over the ranks, in place, through one collective."""
        try:
            t = self._torch.from_numpy(flat) if isinstance(flat, np.ndarray) else flat  # NumPy: no copy
            self._dist.all_reduce(t, group=self.group)
        except Exception as exc:
            raise DistributedError(f"rank {self.rank}: the gradient all-reduce failed ({exc}); another rank "
                                   "probably stopped — see its output") from None  # fmt: skip

    def broadcast(self, flat: np.ndarray) -> None:
        """Rank 0's ``flat`` into every rank's (in place)."""
        try:
            t = self._torch.from_numpy(flat) if isinstance(flat, np.ndarray) else flat
            self._dist.broadcast(t, src=0, group=self.group)
        except Exception as exc:
            raise DistributedError(f"rank {self.rank}: the broadcast from rank 0 failed ({exc})") from None

    def close(self) -> None:
        """Leave the process group (NOTE: a process that exits without it may abort in gloo's teardown)."""
        if self._dist.is_initialized():
            self._dist.destroy_process_group()

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true on any rank (one collective; e.g. a stop request that reached one rank)."""
        buf = np.array([1.0 if flag else 0.0])
        try:
            self._dist.all_reduce(self._torch.from_numpy(buf), op=self._dist.ReduceOp.MAX, group=self.group)
        except Exception as exc:
            raise DistributedError(f"rank {self.rank}: a collective failed ({exc}); another rank probably "
                                   "stopped — see its output") from None  # fmt: skip
        return bool(buf[0])

    def ready(self, ok: bool = True) -> None:
        """Wait until every rank is ready; :class:`DistributedError` on a ready rank when another is not.

        A rank that failed while preparing (a file that exists, a bad flag) calls ``ready(False)``
        before it reports its own error, so that the others stop at once instead of waiting
        for it in the first collective until the timeout.
        """
        self.was_ready = True
        if self.any(not ok) and ok:
            raise DistributedError(f"rank {self.rank}: another rank stopped before training (its own error says why)")

    def same_on_every_rank(self, value: float) -> bool:
        """Whether ``value`` is the same on every rank (a check that the ranks run the same call)."""
        buf = np.array([value, -value], dtype=np.float64)
        t = self._torch.from_numpy(buf)
        try:
            self._dist.all_reduce(t, op=self._dist.ReduceOp.MAX, group=self.group)
        except Exception as exc:
            raise DistributedError(f"rank {self.rank}: a collective failed ({exc})") from None
        return buf[0] == -buf[1]
