"""The resolved settings of ``handgrad train``: every default filled in, every combination of options checked.

The defaults are the estimators' (:data:`handgrad.estimators.DEFAULTS`, one table), so
that ``handgrad train --seed S`` and ``MLPRegressor(random_state=S).fit`` train the same
model. ``--seed-compatible`` mode is the seed's experiment instead (SGD, lr 1e-4, batch
32, 100 epochs, raw data, no early stopping, randn weights).
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from ..estimators import DEFAULTS
from ..params import check
from ._common import usage_error

#: The seed's experiment (``--seed-compatible``): its settings where they differ from DEFAULTS.
SEED_EPOCHS, SEED_BATCH, SEED_LR = 100, 32, 1e-4


class Settings:
    """The resolved settings of a run: every default filled in, every combination checked."""

    def __init__(self, args: argparse.Namespace):
        seed = bool(args.seed_compatible)
        self.seed_mode = seed
        check("--seed", args.seed, "seed")
        for name in ("epochs", "batch_size", "print_every", "checkpoint_every", "warmup", "patience"):
            value = getattr(args, name)
            low = 1 if name in ("batch_size", "patience") else 0
            if value is not None and value < low:
                raise usage_error(f"--{name.replace('_', '-')} must be an integer >= {low}, got {value}")
        self.hidden = list(args.hidden) if args.hidden is not None else list(DEFAULTS.hidden_layer_sizes)
        if any(h < 1 for h in self.hidden):
            raise usage_error(f"--hidden widths must be positive integers, got {self.hidden}")
        acts = args.activation or [DEFAULTS.activation]
        if len(acts) not in (1, len(self.hidden)):
            raise usage_error(
                f"--activation takes one name, or one per hidden layer ({len(self.hidden)}); got {len(acts)}: {acts}"
            )
        self.activation = acts[0] if len(acts) == 1 else list(acts)
        self.output_activation = args.output_activation or "identity"
        self.optimizer = args.optimizer or ("sgd" if seed else DEFAULTS.optimizer)
        self.lr = args.lr
        if self.lr is None:
            self.lr = SEED_LR if seed else None  # None: the task's default (DEFAULTS), set once the task is known
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise usage_error(f"--lr must be a positive number, got {self.lr}")
        self.momentum = args.momentum
        if self.momentum is not None and self.optimizer in ("adam", "adamw"):
            raise usage_error(f"--momentum applies to sgd, momentum and nesterov, not to --optimizer {self.optimizer}")
        #: the estimator's max_iter: --epochs, the seed's 100, or DEFAULTS' "auto" (about 2,000 steps);
        #: ``epochs`` is its upper bound, for what is planned by epoch (printing, the GIF, schedules)
        self.max_iter = args.epochs if args.epochs is not None else (SEED_EPOCHS if seed else DEFAULTS.max_iter)
        self.epochs = self.max_iter if not isinstance(self.max_iter, str) else DEFAULTS.auto_max_epochs
        #: an int, or "auto" (the estimators' rule: n_samples / 10 rows, between 32 and 200)
        self.batch_size = args.batch_size or (SEED_BATCH if seed else DEFAULTS.batch_size)
        if args.early_stopping and seed:
            raise usage_error("--seed-compatible runs every epoch as the seed does; drop --early-stopping")
        if args.early_stopping is None:
            self.early_stopping = False if seed else DEFAULTS.early_stopping  # "auto": on when there is validation data
        else:
            self.early_stopping = bool(args.early_stopping)
        self.patience = args.patience if args.patience is not None else DEFAULTS.patience
        self.scale = not (args.no_scale or seed)
        if args.permutations and not seed:
            raise usage_error("--permutations is the seed's reshuffling: use it with --seed-compatible")
        if args.val_fraction is not None:
            if not 0 <= args.val_fraction < 1:
                raise usage_error(f"--val-fraction must be in [0, 1), got {args.val_fraction}")
            if args.valid and args.val_fraction > 0:
                raise usage_error("give --valid or --val-fraction, not both")
        #: The part of a built-in data set held out for validation, or (given explicitly) of --train.
        default_fraction = 0.0 if (seed or args.valid) else DEFAULTS.validation_fraction
        self.val_fraction = args.val_fraction if args.val_fraction is not None else default_fraction
        #: Whether --train is split here (an explicit --val-fraction); by default the estimator
        #: trains on every row and, with --early-stopping, holds out its own validation part.
        self.split_train = args.val_fraction is not None and args.val_fraction > 0
        default_every = 0 if args.quiet else (10 if seed else max(1, self.epochs // 10))
        self.print_every = args.print_every if args.print_every is not None else default_every
        if args.train and args.dataset:
            raise usage_error("give --train FILE or --dataset NAME, not both")
        if (args.valid or args.test) and not args.train:
            raise usage_error("--valid and --test go with --train FILE")
        self.schedule = None if seed else DEFAULTS.lr_schedule
        if args.lr_schedule or args.warmup:
            name = args.lr_schedule or "constant"
            spec = {"name": name, "warmup": int(args.warmup)}
            if name == "step":
                spec.update(step_size=max(1, (self.epochs - args.warmup) // 3), gamma=0.1)
            elif name == "cosine":
                spec.update(total=max(1, self.epochs - args.warmup))
            self.schedule = spec
        self.dtype = np.float32 if args.float32 else np.float64

    def init_scheme(self) -> str:
        """The estimator's ``init``: the seed's randn in seed mode, else "auto" (He or Glorot by activation)."""
        return "randn" if self.seed_mode else DEFAULTS.init
