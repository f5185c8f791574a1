r"""Training data larger than memory: one streaming pass into a binary cache, then chunks of it.

A CSV (or Parquet) file too large for memory is read **once**, chunk by chunk, and
written as float64 rows ``[x | y]`` into a ``.npy`` file (:class:`RowCache`); the same
pass accumulates the columns' means and variances (:class:`~handgrad.preprocessing.RunningMoments`,
Chan et al.'s pairwise update), which become the model's scaling statistics. Training then
reads the cache chunk by chunk, memory-mapping one chunk at a time and copying it into
a buffer allocated once (:class:`handgrad.training.step.ChunkedStep`), so that resident
memory stays proportional to the chunk, not to the file.

Why a cache and not re-reading the CSV every epoch: parsing text costs about as much
as an epoch of training the default network (measured in ``docs/scaling.md``: ~2 s per
million rows of 31 columns against ~2 s of training), while copying a chunk of the
binary cache costs a few per cent of it. The cache costs the disk space of the rows in
float64 (20,000,000 × 31 × 8 bytes ≈ 5 GB) and one pass.

The order of the rows in an epoch
---------------------------------
With ``shuffle``, each epoch visits the chunks (``chunk_rows`` consecutive rows of the
file, the stated buffer size) in a random order and the rows of each chunk in a random
order; the mini-batches are cut from the shuffled chunk (``chunk_rows`` is a multiple of
the batch size, so a batch never straddles two chunks). A mini-batch therefore holds rows
from one window of ``chunk_rows`` consecutive rows of the file, not from the whole file
(as the shuffle buffers of tf.data and WebDataset): a file sorted by the target or by
time gives batches that are not samples of the whole data. Shuffle such a file once
before training (e.g. ``shuf`` or ``terashuf``), or make ``chunk_rows`` larger.
Without ``shuffle`` the order is the file's and training equals in-memory training
with ``shuffle=False`` (tested to the bit).
"""

from __future__ import annotations

import gzip
import itertools
import os
from dataclasses import replace

import numpy as np

from ..errors import ConfigError, DataError
from .cache import CHUNK_ROWS, RowCache, temporary_cache_path
from .csv import iter_csv_chunks, load_csv

__all__ = ["CHUNK_ROWS", "RowCache", "csv_chunks", "csv_head", "parquet_chunks", "temporary_cache_path"]

# --------------------------------------------------------------------------- sources of chunks
#: Data rows read to infer a streamed CSV file's schema (its columns, kinds, categories, task).
SCHEMA_ROWS = 10_000


def is_path(source) -> bool:
    """Whether ``source`` names a file (str or os.PathLike), as ``fit`` takes a file to stream."""
    return isinstance(source, (str, os.PathLike))


def is_chunk_iterator(source) -> bool:
    """Whether ``source`` is an iterator (of ``(X, y)`` chunks), not an array or a table."""
    return hasattr(source, "__next__") and hasattr(source, "__iter__")


def csv_head(path, target=None, *, n_rows: int = SCHEMA_ROWS, **options):
    """The first ``n_rows`` data rows of a CSV file as a :class:`~handgrad.data.Dataset` (its Schema is the file's).

    ``options``: :func:`~handgrad.data.load_csv`'s (``drop``, ``categorical``, ``task``,
    ``missing``, ``delimiter``). NOTE: the schema is inferred from these rows only: a
    category that first appears later is an error naming it when the file is streamed.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        head = "".join(itertools.islice(f, n_rows + 1))
    tmp = temporary_cache_path().with_suffix(".csv")
    try:
        tmp.write_text(head)
        ds = load_csv(tmp, -1 if target is None else target, **options)
    finally:
        tmp.unlink(missing_ok=True)
    return replace(ds, name=str(path))


def csv_chunks(path, schema, chunk_rows: int = CHUNK_ROWS, **options):
    """``(X, y)`` chunks of a CSV file encoded by ``schema`` (one pass, :func:`~handgrad.data.csv.iter_csv_chunks`)."""
    for ds in iter_csv_chunks(path, schema, chunk_rows, require_target=True, **options):
        yield ds.X, ds.y


def parquet_chunks(path, target=None, chunk_rows: int = CHUNK_ROWS, *, columns=None):
    """``(X, y)`` chunks of a Parquet file (numeric columns; ``target``: a name or index, default the last)
    and the feature names: ``(chunks, feature_names, target_name)``. Needs pyarrow (the ``parquet`` extra).

    ``columns``: the feature columns to read (prediction: the model's), then ``y`` is None
    in every chunk and the target is not looked for."""
    try:
        import pyarrow.parquet as pq
    except ImportError:  # optional: pyarrow is the `parquet` extra
        raise ConfigError(f'{path}: reading Parquet needs pyarrow: pip install "handgrad[parquet]"') from None
    pf = pq.ParquetFile(path)
    names = list(pf.schema_arrow.names)
    if columns is not None:
        missing = [c for c in columns if c not in names]
        if missing:
            raise DataError(f"{path}: no column {missing[0]!r}; the model was fitted on {list(columns)}")

        def features_only():
            for batch in pf.iter_batches(batch_size=chunk_rows, columns=list(columns)):
                A = np.column_stack([batch.column(i).to_numpy(zero_copy_only=False) for i in range(batch.num_columns)])
                yield A.astype(np.float64, copy=False), None

        return features_only(), list(columns), None
    if target is None:
        target = names[-1]
    elif isinstance(target, int) and not isinstance(target, bool):
        if not -len(names) <= target < len(names):
            raise DataError(f"{path}: target index {target} is outside the {len(names)} columns")
        target = names[target]
    if target not in names:
        raise DataError(f"{path}: no column {target!r}; the columns are {names}")
    features = [n for n in names if n != target]
    for name in names:
        kind = pf.schema_arrow.field(name).type
        if not (str(kind).startswith(("int", "uint", "float", "double", "bool", "halffloat"))):
            raise DataError(
                f"{path}: column {name!r} is {kind}; streamed Parquet files take numeric columns "
                "(encode text columns first, or use a CSV file)"
            )

    def chunks():
        for batch in pf.iter_batches(batch_size=chunk_rows, columns=[*features, target]):
            A = np.column_stack([batch.column(i).to_numpy(zero_copy_only=False) for i in range(batch.num_columns)])
            A = A.astype(np.float64, copy=False)
            yield A[:, :-1], A[:, -1]

    return chunks(), features, target
