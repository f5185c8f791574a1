"""``handgrad train``: train a network on a CSV file or a built-in data set.

The command turns its flags into the hyper-parameters of an
:class:`~handgrad.MLPRegressor` or :class:`~handgrad.MLPClassifier` (defaults from
:data:`handgrad.estimators.DEFAULTS`, the estimators' own) and calls ``fit``:
:mod:`handgrad.data` reads the files and infers the schema, the estimator
standardises and trains (:func:`handgrad.training.train`), ``save`` writes the
model (read back with :func:`handgrad.load`), :mod:`handgrad.plots` draws the pictures.

``--seed-compatible`` is the seed's experiment exactly (``mode="seed"``): raw data,
batches in file order, the gradient scaled by ``2/batch_size`` also on the last
partial batch, plain SGD, randn weights (or ``--init-weights``), the caller's
``--permutations``, the validation loss printed every ``--print-every`` epochs.

Interruption: SIGINT (Ctrl-C) or SIGTERM lets the current epoch finish, writes a
checkpoint at that epoch boundary and exits with 130 / 143; ``--resume CHECKPOINT``
finishes the run with the same weights, to the bit, as a run left alone. A
second signal stops at once (no checkpoint).

Data-parallel (``--distributed``, launched by ``torchrun``): every process runs this
command; it joins the process group torchrun describes in the environment, each rank
trains on its part of every global batch (``--batch-size`` stays the global batch) and
only rank 0 prints and writes files (model, checkpoints, plots, exported weights); the
others run silently and exit with the same code. ``--resume CHECKPOINT`` of a checkpoint
that does not exist yet starts the run and checkpoints there, so the command that
``torchrun --max-restarts`` reruns continues from the last checkpoint (docs/scaling.md).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import stat
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._memory import check_memory, estimate_training_bytes
from ..activations import ACTIVATIONS
from ..data import Dataset, list_datasets, load_csv
from ..data.stream import csv_chunks, csv_head
from ..errors import ConfigError, HandgradError
from ..estimators import DEFAULTS, FitHooks, MLPClassifier, MLPRegressor
from ..init import INITS, default_init
from ..losses import LOSSES, check_task, default_for_task, get_loss
from ..network import GRADIENT_METHODS
from ..params import Integer, check
from ..preprocessing import check_precision, constant_columns, constant_warnings
from ..search import successive_halving
from ..training import Callback, History, PrintEvery, TrainState
from ..training import compiled as _compiled
from ..training.distributed import DataParallel
from ..training.loop import ENGINES
from ._common import (
    MISSING_CHOICES,
    RunFolder,
    add_number_format,
    check_output,
    delimiter_arg,
    file_digest,
    reading,
    save_estimator,
    say,
    usage_error,
)
from ._interrupt import PER_INVOCATION, Checkpointer, Interrupted, graceful_stop, restore
from ._plots import ScaledFitRecorder, check_plot_flags, draw_plots, plan_plots
from ._report import Report, loss_units, print_metrics
from ._seed_files import export_weights, read_init_weights, read_permutations
from ._train_data import DEFAULT_DATASET, load_data
from ._train_settings import Settings

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine")
TASK_CHOICES = ("regression", "classification", "binary", "multiclass")

EXAMPLES = """examples:
  handgrad train
      train on the built-in 'sine' data set; model and plots go to a new folder runs/sine-<time>/
  handgrad train --dataset spiral --hidden 32 32 --epochs 300 --plot
  handgrad train --train train.csv --valid valid.csv --target price --hidden 128 64 -o model.npz
  handgrad train --train smoke.csv --target smoking --drop id --missing drop --plot plots/

  the seed's experiment, number for number (house data, 37-128-64-1 ReLU, SGD, batch 32, 100 epochs):
  handgrad train --train train_house.csv --valid test_house.csv --target price --hidden 128 64 \\
      --activation relu --optimizer sgd --lr 1e-4 --batch-size 32 --epochs 100 --print-every 10 \\
      --seed-compatible --gradient backprop --init-weights INIT.npz --export-weights FINAL.npz

  checkpoints, and resuming a run stopped with Ctrl-C or SIGTERM (ends with the same weights, to the bit):
  handgrad train --train train.csv --target y --checkpoint-every 10 -o model.npz
  handgrad train --resume runs/train-20240101-120000/checkpoint.npz

files: --init-weights is an .npz with W1, b1, W2, b2, ... (W_l of shape (n_l, n_{l-1}), b_l of n_l
values); --permutations an .npy of shape (epochs, n_training_rows), 0-based, row e applied to the
(already permuted) training rows after epoch e; --export-weights writes the same layout as --init-weights.
"""

_PARSER: argparse.ArgumentParser | None = None


def register(subparsers) -> None:
    global _PARSER
    p = subparsers.add_parser(
        "train",
        help="train a network on a CSV file or a built-in data set (the default command)",
        description=(
            "Train a fully connected network. Data: a CSV file (--train, with --valid/--test or a --val-fraction "
            "split) or a built-in data set (--dataset; default: sine). Prints the inferred schema, a progress bar, "
            "the validation loss every --print-every epochs, the final metrics and the elapsed time; saves the "
            "model (-o, or a new run folder) and, on request, plots."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = p.add_argument_group("data")
    d.add_argument("--train", metavar="FILE", help="training CSV file (header row, comma-separated)")
    d.add_argument("--valid", metavar="FILE", help="validation CSV file (same columns)")
    d.add_argument("--test", metavar="FILE", help="test CSV file, scored once at the end")
    d.add_argument(
        "--target", metavar="NAME|INDEX", help="target column: a name or a 0-based index (default: the last column)"
    )
    d.add_argument("--drop", nargs="+", default=[], metavar="COL", help="columns to ignore (names or 0-based indices)")
    d.add_argument("--categorical", nargs="+", default=[], metavar="COL", help="numeric columns to one-hot encode")
    d.add_argument(
        "--val-fraction",
        type=float,
        metavar="F",
        help="hold out this fraction of the training rows for validation when there is no --valid (by default "
        "none: the estimator gets every row, as MLPRegressor().fit would; with --early-stopping it holds out "
        f"{DEFAULTS.validation_fraction:g} itself); a built-in data set's validation part (default "
        f"{DEFAULTS.validation_fraction:g})",
    )
    d.add_argument("--task", choices=TASK_CHOICES, help="override the inferred task")
    d.add_argument(
        "--missing",
        choices=MISSING_CHOICES,
        help="missing values: error (default) names file:line:column; drop the rows; or impute (mean, most_frequent)",
    )
    d.add_argument(
        "--delimiter",
        default=",",
        type=delimiter_arg,
        help="field separator of the CSV files (default ','; tab: '\\t' or tab)",
    )
    add_number_format(d)
    d.add_argument("--dataset", metavar="NAME", help=f"a built-in data set: {', '.join(sorted(list_datasets()))}")
    d.add_argument(
        "--stream",
        action=argparse.BooleanOptionalAction,
        help="train on --train without holding it in memory: one pass into a binary cache, then chunk by chunk "
        "(default: on for a file larger than a quarter of the available memory, and for .parquet)",
    )
    d.add_argument(
        "--cache", metavar="FILE.npy", help="--stream: the binary cache to write (default: a temporary file, removed)"
    )
    d.add_argument(
        "--chunk-rows",
        type=int,
        default=65_536,
        metavar="N",
        help="--stream: rows read at a time, the shuffle buffer (rounded up to a multiple of the batch size; "
        "default 65536)",
    )

    m = p.add_argument_group("network")
    m.add_argument(
        "--hidden", type=int, nargs="*", metavar="N", help="hidden layer widths (default: 128 64, the seed's)"
    )
    m.add_argument(
        "--activation",
        nargs="+",
        choices=sorted(ACTIVATIONS),
        metavar="NAME",
        help="hidden activation: one for all hidden layers, or one per hidden layer (default: relu)",
    )
    m.add_argument("--output-activation", choices=sorted(ACTIVATIONS), metavar="NAME", help="default: identity")
    m.add_argument(
        "--layers",
        metavar="SPEC",
        help='hidden layers of any type instead of --hidden/--activation, e.g. "conv(8,3x3,pad=1)-relu-maxpool(2)-'
        'dense(64)-relu-dropout(0.2)" or "lstm(32)" (the output layer is added); see docs/derivation.md',
    )
    m.add_argument(
        "--input-shape",
        metavar="SHAPE",
        help="with --layers: one row's shape, e.g. 1x8x8 (channels x height x width) or 8x8 (steps x features)",
    )
    m.add_argument(
        "--clip-norm", type=float, metavar="C", help="clip each batch's gradient to this norm (recurrent layers)"
    )
    m.add_argument(
        "--loss",
        choices=sorted(LOSSES),
        metavar="NAME",
        help="default: mse (regression), binary_crossentropy, softmax_crossentropy (classification)",
    )
    m.add_argument(
        "--init",
        choices=sorted(INITS),
        metavar="NAME",
        help="weight initialisation (default: he for ReLU-like, glorot_uniform otherwise; randn in seed mode)",
    )
    m.add_argument("--init-weights", metavar="INIT.npz", help="initial weights W1, b1, ... (see below)")
    m.add_argument("--float32", action="store_true", help="train in float32 (default float64)")
    m.add_argument(
        "--device",
        metavar="DEV",
        help="where training runs: cpu (default, NumPy) or cuda, cuda:1, ... (PyTorch on that GPU; "
        'pip install "handgrad[gpu]"); the model file stays NumPy and loads anywhere',
    )
    m.add_argument("--no-scale", action="store_true", help="do not standardise the inputs and the regression target")

    o = p.add_argument_group("optimisation")
    o.add_argument("--optimizer", choices=OPTIMIZERS, help="default: adam (sgd in seed mode)")
    o.add_argument(
        "--lr", type=float, metavar="RATE", help="learning rate (default: the optimizer's; 1e-4 in seed mode)"
    )
    o.add_argument(
        "--momentum",
        type=float,
        metavar="MU",
        help="momentum of sgd/momentum/nesterov (default 0.9 for the latter two)",
    )
    o.add_argument(
        "--weight-decay",
        type=float,
        metavar="LAMBDA",
        help="L2 on the weights (decoupled for adamw); default: min(3e-2, 10 / rows) for regression, "
        "min(1e-2, 10 / rows) for classification, as the estimators (docs/results.md); 0 with --seed-compatible",
    )
    o.add_argument(
        "--lr-schedule", choices=SCHEDULES, help="learning-rate schedule (default: cosine decay to 0 over the run)"
    )
    o.add_argument("--warmup", type=int, default=0, metavar="EPOCHS", help="epochs of linear learning-rate warm-up")
    o.add_argument(
        "--epochs",
        type=int,
        metavar="N",
        help=f"default: about {DEFAULTS.auto_schedule_steps} steps, at most {DEFAULTS.auto_max_epochs} epochs "
        "(100 in seed mode)",
    )
    o.add_argument(
        "--batch-size", type=int, metavar="N", help=f"default min({DEFAULTS.auto_batch_max}, rows) (32 in seed mode)"
    )
    o.add_argument("--seed", type=int, default=0, help="random seed: initial weights, split, shuffling (default 0)")
    o.add_argument(
        "--search",
        type=int,
        metavar="N",
        help="a budgeted search before keeping a model: N candidates (learning rate, widths, weight decay) trained "
        "by successive halving on a held-out 20%% of the training rows, the best third kept at each rung and "
        "trained 3x longer (handgrad.search); prints every rung and keeps the winner",
    )
    o.add_argument(
        "--early-stopping",
        action=argparse.BooleanOptionalAction,
        help="stop when the validation loss stops improving and restore the best epoch (default: on when there is "
        "validation data, --valid or a built-in set's part; off in seed mode)",
    )
    o.add_argument(
        "--patience", type=int, metavar="EPOCHS", help=f"early-stopping patience (default {DEFAULTS.patience})"
    )
    o.add_argument("--min-delta", type=float, default=0.0, help="least improvement that counts (default 0)")
    o.add_argument(
        "--gradient", choices=GRADIENT_METHODS, default="backprop", help="§1.3 backprop or the §1.2 expanded formulas"
    )
    o.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help='numpy, or compiled: each epoch in one Numba call (pip install "handgrad[fast]"); auto: compiled when '
        "installed and the run is long enough to win back loading it (about 2 s of work)",
    )

    s = p.add_argument_group("the seed's experiment")
    s.add_argument(
        "--seed-compatible",
        action="store_true",
        help="the seed's MATLAB loop exactly: raw data, file order, 2/batch_size on every batch, plain SGD, "
        "randn weights from --seed (or --init-weights)",
    )
    s.add_argument(
        "--permutations", metavar="PERMS.npy", help="seed mode: the row permutation applied after each epoch"
    )
    s.add_argument("--export-weights", metavar="FINAL.npz", help="write the final W1, b1, ... to this .npz")

    out = p.add_argument_group("output")
    out.add_argument(
        "-o", "--model", metavar="PATH", help="model file to write (default: model.npz in a new run folder)"
    )
    out.add_argument("--no-save", action="store_true", help="do not write a model file")
    out.add_argument("--runs-dir", default="runs", metavar="DIR", help="where new run folders go (default: runs)")
    out.add_argument("--force", action="store_true", help="overwrite existing output files")
    out.add_argument(
        "--plot",
        nargs="?",
        const="",
        metavar="DIR",
        help="write every plot that applies into DIR (default: the run folder): loss curves; predicted vs "
        "actual (regression); fit and GIF (1 input); decision boundary (2 inputs, classification); the "
        "activations with their derivatives",
    )
    out.add_argument("--plot-loss", metavar="FILE", help="loss curves image (.png, .svg, .pdf)")
    out.add_argument("--plot-pred", metavar="FILE", help="predicted vs actual on the validation set (regression)")
    out.add_argument("--plot-fit", metavar="FILE", help="the fitted curve (one input, regression)")
    out.add_argument("--plot-gif", metavar="FILE.gif", help="animated GIF of the fit during training (one input)")
    out.add_argument("--plot-boundary", metavar="FILE", help="decision boundary (two inputs, classification)")
    out.add_argument(
        "--plot-activations", metavar="FILE", help="the network's activations σ with their derivatives σ' side by side"
    )
    out.add_argument(
        "--print-every", type=int, metavar="K", help="print the validation loss every K epochs (default: epochs/10)"
    )
    out.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no schema; only the results")
    out.add_argument("--checkpoint-every", type=int, default=0, metavar="K", help="write a checkpoint every K epochs")
    out.add_argument("--checkpoint", metavar="PATH", help="checkpoint file (default: checkpoint.npz in the run folder)")
    out.add_argument(
        "--resume",
        metavar="CHECKPOINT",
        help="continue the run a checkpoint was written by (with --checkpoint-every and the run's flags: a "
        "checkpoint that does not exist yet starts the run and writes there, the restart recipe of torchrun)",
    )

    dist = p.add_argument_group("data-parallel (torchrun)")
    dist.add_argument(
        "--distributed",
        action="store_true",
        help="join the torch.distributed group torchrun describes (torchrun --nproc-per-node N -m handgrad "
        "train --distributed ...): each rank trains on its part of every global batch; rank 0 prints and writes",
    )
    dist.add_argument("--dist-backend", choices=("gloo", "nccl"), default="gloo", help="default gloo (CPU)")
    dist.add_argument(
        "--dist-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds a rank waits for the others in a collective before it stops with an error (default 60)",
    )
    p.set_defaults(func=run)
    _PARSER = p


# ============================================================ the command
def run(args: argparse.Namespace) -> int:
    """``handgrad train``: outputs → data → network and optimizer → train → report and save."""
    if getattr(args, "distributed", False):
        return _run_distributed(args)
    return _run(args)


def _run(args: argparse.Namespace, dp=None) -> int:
    """The command; ``dp``: the data-parallel group (:class:`DataParallel`) of a ``--distributed`` run."""
    state = None
    run_folder_path = None
    if args.resume and args.checkpoint_every and not Path(args.resume).exists():
        # The restart recipe: the first run of a command that names its own checkpoint.
        args.checkpoint, args.resume = args.checkpoint or args.resume, None
    if args.resume:
        assert _PARSER is not None
        args, state, cli = restore(args, _PARSER)
        run_folder_path = cli.get("run_folder")
    main = dp is None or dp.is_main
    if not main:
        _silence(args)
    cfg = Settings(args)
    default_run = not args.train and not args.dataset

    outputs = _plan_outputs(args, run_folder_path)
    if _streams(args):
        return _run_streamed(args, cfg, outputs, dp)
    data = _load_and_describe(args, cfg)
    plan, plot_notes = plan_plots(args, data.task, data.train.n_features, default_run, outputs.run)
    setup = _build(args, cfg, data, state)
    metric = None if cfg.seed_mode else ("r2" if data.task == "regression" else "accuracy")
    if metric == "r2" and any(constant_columns(part.y) for part in (data.train, data.valid) if part is not None):
        metric = None  # R² is undefined for a constant target: said once (a warning), not printed every epoch
    callbacks, recorder = _callbacks(cfg, data, setup, plan, metric)
    config = _checkpoint_config(args, outputs)
    if not args.quiet:
        _describe_network(args, cfg, setup, state)
        _compiled.on_compile = _say_compiling
    if dp is not None:
        dp.ready(True)  # every rank prepared (one that failed has said ready(False): see _run_distributed)

    t0 = time.perf_counter()
    with graceful_stop() as stop:
        checkpointer = Checkpointer(args.checkpoint_every, outputs.checkpoint_file, stop, config, dp)
        try:
            hist = _train(args, data, setup, callbacks, metric, checkpointer, state, dp)
        except Interrupted as exc:
            return _interrupted(exc, cfg) if main else (143 if exc.signum == signal.SIGTERM else 130)
    elapsed = time.perf_counter() - t0

    train_part, valid = _report_and_save(args, data, setup, hist, outputs)
    for note in plot_notes:
        say(note)
    if plan:
        for path in draw_plots(plan, setup.estimator, hist, train_part, valid, recorder, outputs.run, force=args.force):
            say(f"plot: {path}")
    if outputs.checkpoint_path is not None and checkpointer.written is not None:
        say(f"last checkpoint: {outputs.checkpoint_path}", quiet=args.quiet)
    if default_run and not args.quiet:
        say("next: handgrad train --help   (your own CSV: handgrad train --train FILE.csv --target COLUMN)")
    print(f"Elapsed time is {elapsed:.6f} seconds.")
    return 0


# ---- outputs
@dataclass
class _Outputs:
    """Where the run writes: its run folder (created when first needed), the model and the checkpoint files."""

    run: RunFolder
    model_path: Path | None
    checkpoint_path: Path | None  # None until --checkpoint is given or the first checkpoint is written

    def checkpoint_file(self) -> Path:
        """The checkpoint path, creating the run folder for the default ``checkpoint.npz``."""
        if self.checkpoint_path is None:
            self.checkpoint_path = self.run.get() / "checkpoint.npz"
        return self.checkpoint_path


def _plan_outputs(args, run_folder_path: str | None) -> _Outputs:
    """Decide and check the output files before any work, so that a run never ends in "file exists"."""
    for flag, value in (("--train", args.train), ("--valid", args.valid), ("--test", args.test)):
        if value is not None and Path(value).is_dir():
            raise usage_error(f"{value}: is a directory, expected a CSV file ({flag})")
    run = RunFolder(
        args.runs_dir, Path(args.train).stem if args.train else (args.dataset or DEFAULT_DATASET), run_folder_path
    )
    if args.no_save and args.model:
        raise usage_error(f"--no-save and -o {args.model} contradict each other: drop one")
    _check_runs_dir(args.runs_dir)
    check_plot_flags(args)
    model_path = None
    if not args.no_save:
        model_path = Path(args.model) if args.model else run.planned / "model.npz"
        if args.model:
            check_output(model_path, force=args.force, flag="-o/--model")
    named = {"-o/--model": model_path, "--export-weights": args.export_weights, "--checkpoint": args.checkpoint}
    if args.export_weights:
        check_output(args.export_weights, force=args.force, flag="--export-weights")
    if args.checkpoint and not args.resume:
        check_output(args.checkpoint, force=args.force, flag="--checkpoint")
    seen: dict[str, str] = {}
    for flag, value in named.items():
        if value is None:
            continue
        key = os.path.realpath(value)
        if key in seen:
            raise usage_error(f"{seen[key]} and {flag} name the same file {value}: give each output its own name")
        seen[key] = flag
    checkpoint_path = Path(args.checkpoint) if args.checkpoint else None
    return _Outputs(run, model_path, checkpoint_path)


def _check_runs_dir(runs_dir) -> None:
    """``--runs-dir`` is a folder, or can be made one: its nearest existing folder is writable."""
    path = Path(runs_dir)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise usage_error(f"{existing}: is not a folder, so run folders cannot be made in {path} (--runs-dir)")
    if existing == path and not os.access(path, os.W_OK | os.X_OK):
        raise usage_error(f"{path}: permission denied: cannot create run folders in it (--runs-dir)")


# ---- data
@dataclass
class _Data:
    """The parts of the data (valid/test may be None), the run's name and its task."""

    train: Dataset
    valid: Dataset | None
    test: Dataset | None
    name: str
    task: str


def _load_and_describe(args, cfg: Settings) -> _Data:
    """Load the data (:func:`load_data`) and, unless ``--quiet``, say what was loaded and how it was split."""
    train_ds, valid, test, name, notes = load_data(args, cfg)
    if not args.quiet:
        for note in notes:
            say(note)
        if args.valid:
            say(f"validation: {args.valid}: {valid.n_samples} rows")
        elif valid is not None and not args.train and valid is not train_ds:
            say(
                f"split (seed {args.seed}): {train_ds.n_samples} training, {valid.n_samples} validation, "
                f"{0 if test is None else test.n_samples} test samples"
            )
        if args.test:
            say(f"test: {args.test}: {test.n_samples} rows")
        if cfg.seed_mode:
            say("mode: seed-compatible (raw data, file order, gradient scaled by 2/batch_size, plain updates)")
    task = train_ds.task or "regression"
    y = train_ds.y if task == "regression" else None
    # NOTE: said even with --quiet: a constant target makes the R² printed later undefined.
    for line in constant_warnings(train_ds.X, y, train_ds.feature_names, str(train_ds.target_name or "y")):
        say(f"warning: {line}")
    return _Data(train_ds, valid, test, name, task)


# ---- the estimator
@dataclass
class _Setup:
    """The estimator built from the flags, the arrays it is given and what the run prints about it."""

    sizes: list[int]
    loss: str
    init: str
    estimator: MLPRegressor | MLPClassifier
    y: np.ndarray  # the training targets as the estimator takes them: values, or class labels
    validation: tuple[Dataset, np.ndarray] | None  # (X_val, y_val) for FitHooks.validation_data
    initial_weights: tuple | None
    permutations: np.ndarray | None
    weight_decay: float | str


def _targets(ds: Dataset, task: str) -> np.ndarray:
    """``ds.y`` as an estimator takes it: the values (regression) or the class labels (classification)."""
    return ds.y if task == "regression" else np.asarray(ds.classes)[ds.y]


def _build(args, cfg: Settings, data: _Data, state: TrainState | None) -> _Setup:
    """The estimator the flags describe (hyper-parameters from :data:`DEFAULTS` unless given), and its inputs."""
    task, train_ds, valid = data.task, data.train, data.valid
    n_out = len(train_ds.classes) if task == "multiclass" else 1
    sizes = [train_ds.n_features, *cfg.hidden, n_out]
    loss = args.loss or default_for_task(task)  # the losses' own table (handgrad.losses)
    try:
        check_task(loss, task, flag="--loss")
    except ConfigError as exc:
        raise usage_error(str(exc)) from None
    if task != "regression" and cfg.output_activation != "identity":
        raise usage_error(
            f"--loss {loss} works on logits (it applies the sigmoid/softmax itself); drop --output-activation"
        )
    rows = train_ds.n_samples
    batch = min(DEFAULTS.auto_batch_max, rows) if cfg.batch_size == "auto" else int(cfg.batch_size)
    if args.layers is not None:
        if args.hidden is not None or args.activation is not None:
            raise usage_error("--layers describes the hidden layers; drop --hidden and --activation")
        if cfg.seed_mode or args.init_weights:
            raise usage_error("--layers trains a network of layers; the seed's replay is for --hidden networks")
    elif args.input_shape is not None:
        raise usage_error("--input-shape goes with --layers")
    else:
        check_memory(
            estimate_training_bytes(sizes, rows, batch, cfg.dtype),
            f"training a network of {sizes} on {rows} rows",
            hint="use fewer or narrower hidden layers (--hidden), or fewer rows",
        )
    if np.dtype(cfg.dtype) == np.float32 and not cfg.scale:
        # NOTE: standardised values always fit; raw ones (--no-scale, seed mode) must fit float32 as they are.
        check_precision(train_ds.X, np.float32, train_ds.feature_names, what=str(train_ds.name))
        if task == "regression":
            check_precision(train_ds.y, np.float32, [str(train_ds.target_name)], what=str(train_ds.name))
    init = args.init or cfg.init_scheme()
    initial_weights = None
    if args.init_weights and not state:
        initial_weights = read_init_weights(args.init_weights, sizes, cfg.dtype)
    permutations = None
    if args.permutations:
        permutations = read_permutations(args.permutations, cfg.epochs, train_ds.n_samples)
    if cfg.lr is None:
        cfg.lr = DEFAULTS.learning_rate_for(task)
    if args.weight_decay is not None:
        weight_decay = args.weight_decay
    elif cfg.seed_mode:
        weight_decay = 0.0  # the seed's plain SGD
    else:
        weight_decay = DEFAULTS.weight_decay  # "auto": the estimator resolves it from the training rows
    params = {
        "hidden_layer_sizes": tuple(cfg.hidden),
        "activation": cfg.activation,
        "optimizer": cfg.optimizer,
        "learning_rate": cfg.lr,
        "batch_size": cfg.batch_size,
        "max_iter": cfg.max_iter,
        "init": init,
        "weight_decay": weight_decay,
        "early_stopping": cfg.early_stopping,
        "validation_fraction": cfg.val_fraction if cfg.val_fraction > 0 else DEFAULTS.validation_fraction,
        "patience": cfg.patience,
        "min_delta": args.min_delta,
        "lr_schedule": cfg.schedule,
        "scale_inputs": cfg.scale,  # NOTE: seed mode trains on the raw numbers
        "random_state": args.seed,
        "dtype": np.dtype(cfg.dtype).name,
        "momentum": cfg.momentum,
        "device": args.device,
        "layers": args.layers,
        "input_shape": args.input_shape,
        "clip_norm": args.clip_norm,
    }
    if task == "regression":
        est = MLPRegressor(loss=loss, scale_target=cfg.scale, output_activation=cfg.output_activation, **params)
    else:
        est = MLPClassifier(**params)
    validation = None if valid is None else (valid, _targets(valid, task))
    return _Setup(
        sizes, loss, init if not initial_weights else f"from {args.init_weights}", est,
        _targets(train_ds, task), validation, initial_weights, permutations, weight_decay,
    )  # fmt: skip


def _describe_network(args, cfg: Settings, setup: _Setup, state: TrainState | None) -> None:
    """The one line that describes the network and its training (and the epoch a resumed run starts after)."""
    arch = "-".join(str(n) for n in setup.sizes)
    act = cfg.activation if isinstance(cfg.activation, str) else "/".join(cfg.activation)
    first = cfg.activation if isinstance(cfg.activation, str) else cfg.activation[0]
    init = default_init(first) if setup.init == "auto" else setup.init
    lr = "the optimizer's default" if cfg.lr is None else f"{cfg.lr:g}"
    weight_decay = setup.weight_decay  # a number, or "auto" (resolved from the training rows)
    decay = weight_decay if isinstance(weight_decay, str) else f"{weight_decay:g}"
    if args.layers is not None:  # the layers as written, on the input's shape, then the output layer
        shape = args.input_shape or str(setup.sizes[0])
        arch, act, init = f"{shape} -> {args.layers} -> dense({setup.sizes[-1]})", "layers", setup.init
    say(
        f"network: {arch}, {act}, output {cfg.output_activation}, loss {setup.loss}, init {init}; "
        f"{cfg.optimizer} lr={lr}"
        + (f", weight decay {decay}" if weight_decay else "")
        + f", batch {cfg.batch_size}, "
        + (f"{cfg.epochs} epochs" if cfg.max_iter != "auto" else f"~{DEFAULTS.auto_schedule_steps} steps")
        + (", cosine decay" if cfg.schedule == "auto" else "")
        + (", early stopping" if cfg.early_stopping is True or (cfg.early_stopping and setup.validation) else "")
        + ("" if cfg.scale else ", unscaled data")
        + (f", gradient {args.gradient}" if args.gradient != "backprop" else "")
    )
    if state is not None:
        say(f"resuming from {args.resume} after epoch {state.epoch}")


# ---- callbacks, checkpoints
def _callbacks(
    cfg: Settings, data: _Data, setup: _Setup, plan: dict, metric: str | None
) -> tuple[list[Callback], ScaledFitRecorder | None]:
    """The per-epoch printing and, when the GIF is planned, the fit recorder (also returned)."""
    callbacks: list[Callback] = []
    if cfg.print_every:
        if cfg.seed_mode:
            callbacks.append(PrintEvery(cfg.print_every))  # the seed's line: Epoch k, Validation Loss: v
        else:
            held_out = data.valid is not None or cfg.early_stopping is True
            metric_label = ("validation " if held_out else "training ") + ("R²" if metric == "r2" else "accuracy")
            to_units = loss_units(get_loss(setup.loss).name, setup.estimator)
            callbacks.append(Report(cfg.print_every, to_units, metric_label))
    recorder = None
    if "gif" in plan:
        recorder = ScaledFitRecorder(setup.estimator, data.train.X[:, 0], every=max(1, cfg.epochs // 50))
        callbacks.append(recorder)
    return callbacks, recorder


def _checkpoint_config(args, outputs: _Outputs) -> dict:
    """What a checkpoint stores besides the state: the run's arguments (absolute paths), folder and file digests."""
    saved_args = {k: v for k, v in vars(args).items() if k not in PER_INVOCATION}
    for key in (
        "train",
        "valid",
        "test",
        "init_weights",
        "permutations",
        "model",
        "export_weights",
        "checkpoint",
        "runs_dir",
    ):
        # NOTE: a pipe (<(zcat f.csv.gz), /dev/fd/N) is kept as given: its name resolves to no file.
        if saved_args.get(key) and not _is_stream(saved_args[key]):
            saved_args[key] = str(Path(saved_args[key]).resolve())
    if outputs.model_path is not None:
        saved_args["model"] = str(outputs.model_path.resolve())
        saved_args["no_save"] = False
    if args.plot is not None and not args.plot:
        saved_args["plot"] = str(outputs.run.planned.resolve())  # the resumed run draws into the same folder
    return {
        "args": saved_args,
        "run_folder": str(outputs.run.planned.resolve()),
        "digests": {
            k: file_digest(saved_args[k])
            for k in ("train", "valid", "test", "permutations")
            if saved_args.get(k) and not _is_stream(saved_args[k])
        },
    }


def _is_stream(path) -> bool:
    """Whether ``path`` is standard input, a pipe or another stream read once (not a regular file)."""
    if path == "-" or str(path).startswith(("/dev/fd/", "/proc/self/fd/", "/dev/stdin")):
        return True
    try:
        return not stat.S_ISREG(os.stat(path).st_mode) and not stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


# ---- train
def _say_compiling(dtype: str) -> None:
    """The compiled epoch's one-time notice (handgrad.training.compiled.on_compile)."""
    say(f"compiling the training kernel for {dtype}: once on this machine, about 10-20 s (Numba keeps it in its "
        "cache; --engine numpy skips it)", file=sys.stderr)  # fmt: skip


def _train(args, data: _Data, setup: _Setup, callbacks, metric: str | None, checkpointer: Checkpointer, state, dp=None):
    """``fit`` the estimator on the training rows; the History, or :class:`Interrupted` from the checkpointer."""
    hooks = FitHooks(
        validation_data=setup.validation,
        callbacks=tuple(callbacks),
        metric=metric,
        checkpoint_every=1,  # the checkpointer decides when to write (see Checkpointer)
        on_checkpoint=checkpointer,
        resume=state,
        mode="seed" if args.seed_compatible else "standard",
        permutations=setup.permutations,
        gradient=args.gradient,
        engine=args.engine,
        initial_weights=setup.initial_weights,
        progress=False if args.quiet else None,
        classes=None if data.task == "regression" else tuple(data.train.classes),
        distributed=dp,
    )
    if args.search is not None:
        return _search(args, data, setup)
    setup.estimator.fit(data.train, setup.y, hooks=hooks)
    return setup.estimator.history_


def _search(args, data: _Data, setup: _Setup):
    """``--search N``: successive halving from the flags' estimator; the winner replaces it (its History)."""
    n = check("--search", args.search, Integer(low=1))
    if args.seed_compatible or args.resume or args.distributed:
        raise usage_error("--search trains its own candidates: not with --seed-compatible, --resume or --distributed")

    def show(rows):
        say(
            f"search: rung {rows[0]['rung']}, {len(rows)} candidate(s), {rows[0]['epochs']} epochs each",
            quiet=args.quiet,
        )
        for r in sorted(rows, key=lambda r: r["val_loss"]):
            say(f"  #{r['candidate']:<3} lr {r['learning_rate']:.3g}  weight decay {r['weight_decay']:.3g}  "
                f"hidden {tuple(r['hidden_layer_sizes'])}  held-out loss {r['val_loss']:.5g}  "
                f"score {r['val_score']:.4f}", quiet=args.quiet)  # fmt: skip

    result = successive_halving(setup.estimator, data.train, setup.y, n_candidates=n, random_state=args.seed,
                                on_rung=show)  # fmt: skip
    best = result.best_params
    say(f"search: kept #{result.table[-1]['candidate']}: lr {best['learning_rate']:.3g}, weight decay "
        f"{best['weight_decay']:.3g}, hidden {tuple(best['hidden_layer_sizes'])}", quiet=args.quiet)  # fmt: skip
    setup.estimator = result.best_estimator
    return setup.estimator.history_


def _interrupted(exc: Interrupted, cfg: Settings) -> int:
    """Say where the checkpoint of an interrupted run is and how to resume; the exit code 130 / 143."""
    code = 143 if exc.signum == signal.SIGTERM else 130
    name_ = "SIGTERM" if code == 143 else "SIGINT"
    print(
        f"handgrad: interrupted ({name_}) after epoch {exc.epoch} of "
        f"{'at most ' if isinstance(cfg.max_iter, str) else ''}{cfg.epochs}; checkpoint written to "
        f"{exc.path}; resume with: handgrad train --resume {exc.path}",
        file=sys.stderr,
        flush=True,
    )
    return code


# ---- results
def _report_and_save(
    args, data: _Data, setup: _Setup, hist: History, outputs: _Outputs
) -> tuple[Dataset, Dataset | None]:
    """Print the final metrics, then write the model and the exported weights; the (train, valid) parts used."""
    if hist.stop_reason == "early_stopping":
        say(f"early stopping after epoch {len(hist)}: best epoch {hist.best_epoch} restored", quiet=args.quiet)
    est = setup.estimator
    train_part, valid = data.train, data.valid
    if est.validation_indices_ is not None:  # the estimator held out its own validation rows
        held = np.zeros(data.train.n_samples, dtype=bool)
        held[est.validation_indices_] = True
        train_part, valid = data.train.subset(~held), data.train.subset(held)
    parts = (
        [("train", train_part)]
        + ([("valid", valid)] if valid is not None else [])
        + ([("test", data.test)] if data.test is not None else [])
    )
    print_metrics(est, parts, args.quiet)
    if outputs.model_path is not None:
        if not args.model:
            outputs.run.get()
        save_estimator(est, outputs.model_path, force=args.force)
        say(f"model saved to {outputs.model_path}")
    if args.export_weights:
        export_weights(args.export_weights, est.network_, args.force)
        say(f"final weights written to {args.export_weights}")
    return train_part, valid


# ---- data-parallel (torchrun)
def _run_distributed(args) -> int:
    """``--distributed``: join the group torchrun describes, run the command, leave the group.

    Rank 0 runs the command as usual; the other ranks train silently (:func:`_silence`: no
    output on standard output, no files) and return the same exit code. A rank's error
    (a usage error, a dead peer: :class:`DistributedError`) is its own one line on
    standard error.
    """
    if args.dist_timeout is None or not args.dist_timeout > 0:
        raise usage_error(f"--dist-timeout must be a positive number of seconds, got {args.dist_timeout}")
    dp = DataParallel.from_environment(backend=args.dist_backend, timeout=args.dist_timeout)
    try:
        if dp.is_main:
            code = _run(args, dp)
        else:
            with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
                code = _run(args, dp)
    except HandgradError as exc:
        if not dp.was_ready:
            _not_ready(dp)  # failed while preparing: the other ranks stop now instead of at the timeout
            raise
        # NOTE: after a failed collective the group's teardown at exit could wait for the dead
        # rank (or abort): say the error and leave at once.
        print(f"handgrad: error: {' '.join(str(exc).split())}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(2)
    except BaseException:
        if not dp.was_ready:
            _not_ready(dp)
        raise
    dp.close()  # NOTE: only after a run every rank finished; after a failed collective it could wait
    return code


def _not_ready(dp: DataParallel) -> None:
    """Tell the other ranks that this one failed while preparing, then leave the process group.

    NOTE: leaving it matters: a process that exits with the group still up can abort in gloo's
    teardown ("terminate called without an active exception", exit -6 instead of the error's 2).
    Only after the collective went through: after a failed one, leaving could wait for the dead rank.
    """
    try:
        dp.ready(False)
    except HandgradError:
        return
    dp.close()


def _silence(args) -> None:
    """A rank other than 0: nothing printed but errors, no file written (rank 0 writes them all)."""
    args.quiet = True
    args.no_save, args.model, args.export_weights = True, None, None
    args.plot = None
    for name in ("plot_loss", "plot_pred", "plot_fit", "plot_gif", "plot_boundary", "plot_activations"):
        setattr(args, name, None)


# ---- data larger than memory (--stream)
def _available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (Linux), else None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _streams(args) -> bool:
    """Whether ``--train`` is streamed: ``--stream``, a .parquet file, or a file too large to load comfortably."""
    if not args.train or args.stream is False:
        return False
    if args.stream or str(args.train).endswith(".parquet"):
        return True
    available = _available_memory()
    try:
        size = Path(args.train).stat().st_size
    except OSError:
        return False  # a pipe or a missing file: the loader says what is wrong
    if available is not None and size > available / 4:
        say(f"{args.train}: {size / 2**30:.1f} GiB, more than a quarter of the available memory: streaming it "
            "(--no-stream to load it)", quiet=args.quiet)  # fmt: skip
        return True
    return False


def _run_streamed(args, cfg: Settings, outputs: _Outputs, dp=None) -> int:
    """``handgrad train --stream``: ``fit`` on the file's chunks (one pass into a cache, then chunk by chunk).

    Data-parallel (``dp``): every rank converts the file into its own cache (``--cache`` gets the
    rank in its name) and computes on its part of every global batch.
    """
    given = [flag for flag, on in (
        ("--seed-compatible", args.seed_compatible), ("--val-fraction", cfg.split_train),
        ("--resume", args.resume), ("--checkpoint-every", args.checkpoint_every),
        ("--init-weights", args.init_weights), ("--gradient expanded", args.gradient != "backprop"),
        ("--plot", args.plot is not None or any(getattr(args, n) for n in ("plot_loss", "plot_pred", "plot_fit",
                                                                           "plot_gif", "plot_boundary"))),
    ) if on]  # fmt: skip
    if given:
        raise usage_error(f"a streamed --train file does not go with {', '.join(given)}")
    if args.chunk_rows < 1:
        raise usage_error(f"--chunk-rows must be an integer >= 1, got {args.chunk_rows}")
    target = args.target if args.target is not None else -1
    if str(args.train).endswith(".parquet"):
        head = None
        if args.drop or args.categorical or args.missing or args.task:
            raise usage_error("--drop, --categorical, --missing and --task apply to CSV files, not to Parquet")
    else:
        with reading(args.train):
            head = csv_head(args.train, target, drop=args.drop, categorical=args.categorical,
                            task=args.task if args.task in ("regression", "binary", "multiclass") else None,
                            missing=args.missing or "error", delimiter=args.delimiter)  # fmt: skip
    valid = test = None
    schema = None if head is None else head.schema
    if args.valid:
        with reading(args.valid):
            valid = load_csv(args.valid, schema=schema, require_target=True, delimiter=args.delimiter,
                             **({} if schema else {"target": target}))  # fmt: skip
    if args.test:
        with reading(args.test):
            test = load_csv(args.test, schema=schema or valid.schema if valid else schema, require_target=True,
                            delimiter=args.delimiter, **({} if (schema or valid) else {"target": target}))  # fmt: skip
    first = head if head is not None else (valid or test)
    if first is None:
        raise usage_error("a streamed .parquet --train needs --valid or --test (a CSV file with the same columns)")
    if not args.quiet:
        say(f"streaming {args.train}: one pass into a binary cache, then {args.chunk_rows} rows at a time")
        if head is not None:
            say(head.schema.summary())
    task = first.task or "regression"
    data = _Data(first, valid, test, Path(args.train).stem, task)
    setup = _build(args, cfg, data, None)
    metric = "r2" if task == "regression" else "accuracy"
    callbacks, _ = _callbacks(cfg, data, setup, {}, metric)
    if not args.quiet:
        _describe_network(args, cfg, setup, None)
    hooks = FitHooks(
        # as arrays: the estimator learns the schema of a stream of chunks only when it is given below
        validation_data=None if valid is None else (valid.X, _targets(valid, task)),
        callbacks=tuple(callbacks),
        metric=metric,
        progress=False if args.quiet else None,
        stream_cache=args.cache
        if dp is None or not args.cache
        else Path(args.cache).with_suffix(f".rank{dp.rank}.npy"),
        stream_chunk_rows=args.chunk_rows,
        distributed=dp,
        classes=None if task == "regression" else tuple(first.classes),
    )
    if dp is not None:
        dp.ready(True)
    t0 = time.perf_counter()
    est = setup.estimator
    with reading(args.train):
        if head is None:  # Parquet: the estimator reads it (numeric columns)
            est.fit(args.train, args.target, hooks=hooks)
        else:  # CSV: the chunks of the schema inferred from the head, with this command's delimiter
            chunks = csv_chunks(args.train, head.schema, args.chunk_rows, delimiter=args.delimiter)
            if task != "regression":  # the Schema's class indices as labels
                labels = np.asarray(head.schema.classes)
                chunks = ((X, labels[y]) for X, y in chunks)
            est.fit(chunks, hooks=hooks)
            est.schema_ = head.schema  # (what fit on the path stores: handgrad predict reads files with it)
            est.feature_names_in_ = np.asarray(head.schema.column_names, dtype=object)
    elapsed = time.perf_counter() - t0
    hist = setup.estimator.history_
    if hist.stop_reason == "early_stopping":
        say(f"early stopping after epoch {len(hist)}: best epoch {hist.best_epoch} restored", quiet=args.quiet)
    parts = [(name, ds) for name, ds in (("valid", valid), ("test", test)) if ds is not None]
    if parts:
        print_metrics(setup.estimator, parts, args.quiet)
    else:
        say("final metrics: none (the training rows were streamed; give --valid or --test to score the model)")
    if outputs.model_path is not None:
        if not args.model:
            outputs.run.get()
        save_estimator(setup.estimator, outputs.model_path, force=args.force)
        say(f"model saved to {outputs.model_path}")
    print(f"Elapsed time is {elapsed:.6f} seconds.")
    return 0
