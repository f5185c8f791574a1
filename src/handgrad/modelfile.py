"""Model files and checkpoints: NumPy ``.npz`` arrays plus JSON metadata, never pickle.

One file per model. It is a ``.npz`` archive (a zip of ``.npy`` files, as
``np.savez`` writes it) holding

* the parameters ``W1, b1, ..., WL, bL`` in the seed's orientation
  (``W_l`` of shape ``(n_l, n_{l-1})``, ``b_l`` of shape ``(n_l,)``);
* any extra arrays the caller adds (scaling statistics, optimizer state, ...);
* ``__metadata__``: UTF-8 JSON stored as a uint8 array: the format name and
  version, the architecture, a manifest of every array (shape, dtype, SHA-256)
  and the caller's metadata (loss, task, schema, scaling, training settings,
  history, ...).

Writing is atomic (:func:`atomic_write`): a temporary file in the same folder,
flushed and fsync'ed, then renamed over the target, so an interrupted save leaves
either the old file or the new one, never a half-written one; an existing file is
only replaced with ``force=True``.

Reading trusts nothing (:func:`load_model`): the zip structure, every ``.npy``
header (no object arrays: ``allow_pickle=False``; declared sizes checked against
the archive before anything is allocated), the JSON, the format version, the
manifest (names, shapes, dtypes and checksums: two swapped arrays of the same
shape are caught), the architecture against the parameter shapes, the names of
activations and losses, finite values. Every failure is a
:class:`~handgrad.errors.ModelFileError` naming the file and what is wrong.

The format is documented in ``docs/data-and-model-files.md``.

Example::

    >>> import tempfile, pathlib, numpy as np
    >>> from handgrad import Network
    >>> net = Network([3, 4, 1], activation="tanh", random_state=0)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.npz"
    >>> _ = save_model(path, net, arrays={"x_mean": np.zeros(3)}, metadata={"task": "regression"})
    >>> loaded = load_model(path)
    >>> loaded.network.layer_sizes, loaded.metadata["task"], sorted(loaded.arrays)
    ([3, 4, 1], 'regression', ['x_mean'])
    >>> bool(np.array_equal(loaded.network.weights[0], net.weights[0]))
    True
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from . import _files
from ._memory import MemoryLimitError, check_memory
from .activations import ACTIVATIONS
from .errors import ConfigError, DataError, HandgradError, ModelFileError, NonFiniteError
from .losses import get_loss
from .network import Network, parameter_names

#: Format names written in ``__metadata__["format"]``.
MODEL_FORMAT = "handgrad-model"
ARRAYS_FORMAT = "handgrad-arrays"
#: The newest version this handgrad writes; it reads versions 1..FORMAT_VERSION. A fully connected
#: network is written as version 1 (what every handgrad since the first release reads); a stack of
#: layers (:mod:`handgrad.layers`) as version 2, so that a handgrad older than the layers says
#: "upgrade handgrad" instead of misreading its architecture.
FORMAT_VERSION = 2
#: The version of a file holding a fully connected network, and of a checkpoint (save_arrays_json).
BASE_FORMAT_VERSION = 1
METADATA_KEY = "__metadata__"
#: Keys of the JSON document that the file layer owns (callers cannot set them).
RESERVED_KEYS = ("format", "format_version", "handgrad_version", "architecture", "arrays")
#: Limits that keep a hostile file from exhausting memory before it is rejected.
MAX_TOTAL_BYTES = 8 << 30  # declared uncompressed size of all members
MAX_METADATA_BYTES = 64 << 20
MAX_MEMBERS = 100_000
#: A compressed member may expand at most this many times (beyond 1 MiB): see _check_compression.
MAX_COMPRESSION_RATIO = 100
#: dtypes an array may have: (kind, itemsize). Parameters must be float32/float64.
PARAMETER_DTYPES = {np.dtype(np.float32), np.dtype(np.float64)}
ARRAY_DTYPES = PARAMETER_DTYPES | {np.dtype(t) for t in (np.int32, np.int64, np.uint8, np.uint64, np.bool_)}
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$")
_PARAM = re.compile(r"^[Wb][0-9]+$")
TASKS = ("regression", "binary", "multiclass")


@dataclass
class LoadedModel:
    """What :func:`load_model` returns.

    Attributes
    ----------
    network : Network
        The network, parameters as stored (float32 or float64).
    arrays : dict of str to ndarray
        The extra arrays given to :func:`save_model` (not the parameters).
    metadata : dict
        The ``metadata`` given to :func:`save_model`, as stored.
    document : dict
        The whole JSON document: ``format``, ``format_version``,
        ``handgrad_version``, ``architecture``, ``arrays`` (the manifest) and the metadata.
    path : Path
    """

    network: Network
    arrays: dict[str, np.ndarray]
    metadata: dict[str, Any]
    document: dict[str, Any] = field(repr=False, default_factory=dict)
    path: Path | None = None


# ------------------------------------------------------------------ writing
def atomic_write(path, write: Callable[[IO[bytes]], None], *, force: bool = False) -> Path:
    """Write a file through ``write(fileobj)`` so that it appears whole or not at all.

    :func:`handgrad._files.atomic_write` (one writer for every file handgrad
    writes: a temporary file renamed over a regular file; a device, FIFO or
    ``/dev/stdout`` written into, never replaced), with this module's error class.

    Raises
    ------
    ModelFileError
        If ``path`` exists and ``force`` is false, is a directory, or its folder does not exist.
    FileWriteError
        If writing fails (disk full, ...), naming ``path``; the old file is intact.
    """
    return _files.atomic_write(path, write, force=force, error=ModelFileError)


def save_arrays_json(path, arrays: Mapping[str, np.ndarray], metadata: Mapping[str, Any], force: bool = False) -> Path:
    """Write named arrays and JSON-able metadata (a checkpoint) atomically; no pickle.

    Parameters
    ----------
    path : str or Path
    arrays : mapping of str to ndarray
        Names of letters, digits, ``_ . -`` (not starting with ``__``); dtypes
        float32/float64 (finite), int32/int64/uint8/uint64 or bool.
    metadata : mapping
        JSON-able (numbers, strings, lists, dicts, None).
    force : bool
        Replace an existing file.

    Read it back with :func:`load_arrays_json`.
    """
    document = {
        "format": ARRAYS_FORMAT,
        "format_version": BASE_FORMAT_VERSION,
        "handgrad_version": _version(),
        "metadata": dict(metadata),
    }
    return _write(path, dict(arrays), document, force)


def save_model(
    path,
    network: Network,
    *,
    arrays: Mapping[str, np.ndarray] | None = None,
    metadata: Mapping[str, Any] | None = None,
    force: bool = False,
) -> Path:
    """Write ``network`` (and extra arrays and metadata) to one ``.npz`` model file, atomically.

    Parameters
    ----------
    path : str or Path
        The file to write (any name; ``.npz`` is conventional).
    network : Network
        Its activations must be built-in ones (stored by name).
    arrays : mapping of str to ndarray, optional
        Extra arrays (e.g. ``x_mean`` of shape (n_features,)); names must not be
        parameter names (``W1``, ``b1``, ...).
    metadata : mapping, optional
        JSON-able. Recognised (and validated on load) if present: ``task``
        (regression/binary/multiclass), ``schema`` (:meth:`Schema.to_dict`),
        ``loss`` (a loss name or a number), ``history``, ``scaling``,
        ``training`` (dicts). Keys ``format``, ``format_version``,
        ``handgrad_version``, ``architecture``, ``arrays`` are reserved.
    force : bool
        Replace an existing file (otherwise ModelFileError suggests ``--force``).

    Returns
    -------
    Path
    """
    arrays = dict(arrays or {})
    metadata = dict(metadata or {})
    clash = [k for k in RESERVED_KEYS if k in metadata]
    if clash:
        raise ConfigError(f"metadata keys {clash} are reserved by the model file format")
    if hasattr(network, "train_batch"):  # a stack of layers (handgrad.layers)
        return _save_stack(path, network, arrays, metadata, force)
    names = []
    for act in network.activations:
        if ACTIVATIONS.get(act.name) is not act:
            raise ConfigError(
                f"activation {act.name!r} is not a built-in one and cannot be stored by name; "
                f"built-in activations: {sorted(ACTIVATIONS)}"
            )
        names.append(act.name)
    params = network.state_dict()
    for name in arrays:
        if name in params or _PARAM.match(str(name)):
            raise ConfigError(f"extra array name {name!r} is reserved for the network's parameters")
    _check_model_metadata(metadata, network.layer_sizes, where="metadata")
    document = {
        "format": MODEL_FORMAT,
        "format_version": BASE_FORMAT_VERSION,
        "handgrad_version": _version(),
        "architecture": {
            "layer_sizes": network.layer_sizes,
            "activations": names,
            "dtype": str(network.dtype),
        },
        **metadata,
    }
    return _write(path, {**params, **arrays}, document, force)


def _save_stack(path, network, arrays: dict, metadata: dict, force: bool) -> Path:
    """:func:`save_model` for a :class:`handgrad.layers.LayerStack`: its specification, input shape, parameters and states."""
    from .layers import parse, to_text

    spec = network.spec
    try:
        if to_text(parse(spec)) != spec:
            raise ConfigError("it does not read back the same")
    except ConfigError as exc:
        raise ConfigError(
            f"the layers {spec!r} cannot be stored by their specification ({exc}); use built-in activations"
        ) from None
    params = network.state_dict()
    for name in arrays:
        if name in params:
            raise ConfigError(f"extra array name {name!r} is reserved for the network's parameters")
    _check_model_metadata(metadata, network.layer_sizes, where="metadata")
    document = {
        "format": MODEL_FORMAT,
        "format_version": FORMAT_VERSION,
        "handgrad_version": _version(),
        "architecture": {
            "layers": spec,
            "input_shape": list(network.input_shape),
            "layer_sizes": network.layer_sizes,
            "dtype": str(network.dtype),
        },
        **metadata,
    }
    return _write(path, {**params, **arrays}, document, force)


def _load_stack(path: Path, arch: dict, arrays: dict[str, np.ndarray], document: dict) -> LoadedModel:
    """:func:`load_model` for a file written by :func:`_save_stack`. Nothing is allocated before the
    specification is checked against the arrays the file holds (a file cannot ask for more memory
    than its own size)."""
    from .layers import LayerStack, StackLayout, parse, parse_shape

    dtype_name = arch.get("dtype")
    if dtype_name not in ("float32", "float64"):
        raise ModelFileError(f"{path}: architecture 'dtype' must be 'float32' or 'float64', got {dtype_name!r}")
    spec, shape = arch.get("layers"), arch.get("input_shape")
    try:
        layers = parse(spec)
        shape = parse_shape(shape if isinstance(shape, list) else "")
        built = shape
        for layer in layers:
            built = layer.build(built)
        layout = StackLayout(layers)
    except HandgradError as exc:
        raise ModelFileError(f"{path}: architecture: {exc}") from None
    stored = {}
    for name, spec_shape in zip(layout.names, (p.shape for x in layers for p in x.parameter_specs())):
        if name not in arrays:
            raise ModelFileError(f"{path}: the parameter {name} is missing")
        a = arrays.pop(name)
        if a.shape != tuple(spec_shape):
            raise ModelFileError(f"{path}: {name} has shape {a.shape}, the layers {spec!r} need {tuple(spec_shape)}")
        if a.dtype != np.dtype(dtype_name):
            raise ModelFileError(f"{path}: {name} has dtype {a.dtype}, the architecture says {dtype_name}")
        stored[name] = a
    for l, layer in enumerate(layers, start=1):
        for key in layer.state():
            if f"{key}{l}" in arrays:
                stored[f"{key}{l}"] = arrays.pop(f"{key}{l}")
    metadata = {k: v for k, v in document.items() if k not in RESERVED_KEYS}
    try:
        network = LayerStack(layers, shape, dtype=np.dtype(dtype_name), random_state=0)
        _check_model_metadata(metadata, network.layer_sizes, where=str(path))
        network.load_state_dict(stored)
    except ModelFileError:
        raise
    except HandgradError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    return LoadedModel(network, arrays, metadata, document, path)


def _write(path, arrays: dict[str, np.ndarray], document: dict, force: bool) -> Path:
    prepared: dict[str, np.ndarray] = {}
    manifest: dict[str, dict] = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not _NAME.match(name) or name.startswith("__"):
            raise ConfigError(
                f"array name {name!r} must be 1-200 letters, digits, '_', '.', '-', "
                "not starting with '.', '-' or '__' (reserved)"
            )
        a = np.asarray(value)
        if a.dtype.kind in "fiub":
            a = a.astype(a.dtype.newbyteorder("<"), copy=False)  # the file is little-endian
        if np.dtype(a.dtype.str.replace(">", "<").replace("=", "<")) not in ARRAY_DTYPES:
            raise ConfigError(
                f"array {name!r} has dtype {a.dtype}; storable dtypes are {sorted(str(d) for d in ARRAY_DTYPES)}"
            )
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise NonFiniteError(f"array {name!r} holds NaN or infinity; a model file stores finite values only")
        a = np.ascontiguousarray(a)
        prepared[name] = a
        manifest[name] = {"shape": list(a.shape), "dtype": a.dtype.name, "sha256": _digest(a)}
    document = {**document, "arrays": manifest}
    try:
        text = json.dumps(document, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"metadata is not JSON-able: {exc}") from None
    prepared[METADATA_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)

    def write(f):
        np.savez(f, **prepared)

    return atomic_write(path, write, force=force)


# ------------------------------------------------------------------ reading
def load_arrays_json(path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by :func:`save_arrays_json`: ``(arrays, metadata)``.

    Raises
    ------
    ModelFileError
        For anything wrong with the file (see the module docstring).
    """
    arrays, document = _read(path, expect=ARRAYS_FORMAT)
    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        raise ModelFileError(f"{path}: 'metadata' must be a JSON object, got {type(metadata).__name__}")
    return arrays, metadata


def load_model(path) -> LoadedModel:
    """Read and validate a model file written by :func:`save_model`.

    Raises
    ------
    ModelFileError
        Naming the file and the problem: not a model file, truncated, corrupted,
        a newer format version, missing or inconsistent arrays, unknown names,
        non-finite values, ...
    """
    path = Path(path)
    arrays, document = _read(path, expect=MODEL_FORMAT)
    arch = document.get("architecture")
    if not isinstance(arch, dict):
        raise ModelFileError(f"{path}: 'architecture' must be a JSON object")
    if "layers" in arch:
        return _load_stack(path, arch, arrays, document)
    sizes = arch.get("layer_sizes")
    if (
        not isinstance(sizes, list)
        or len(sizes) < 2
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes)
    ):
        raise ModelFileError(
            f"{path}: architecture 'layer_sizes' must be a list of >= 2 positive integers, got {sizes!r}"
        )
    n_layers = len(sizes) - 1
    acts = arch.get("activations")
    if not isinstance(acts, list) or len(acts) != n_layers or not all(isinstance(a, str) for a in acts):
        raise ModelFileError(
            f"{path}: architecture 'activations' must be {n_layers} names (one per layer), got {acts!r}"
        )
    unknown = [a for a in acts if a not in ACTIVATIONS]
    if unknown:
        raise ModelFileError(f"{path}: unknown activation {unknown[0]!r}; known: {sorted(ACTIVATIONS)}")
    dtype_name = arch.get("dtype")
    if dtype_name not in ("float32", "float64"):
        raise ModelFileError(f"{path}: architecture 'dtype' must be 'float32' or 'float64', got {dtype_name!r}")
    dtype = np.dtype(dtype_name)
    weights, biases = [], []
    for l in range(1, n_layers + 1):
        for kind, shape in (("W", (sizes[l], sizes[l - 1])), ("b", (sizes[l],))):
            name = f"{kind}{l}"
            if name not in arrays:
                raise ModelFileError(f"{path}: the parameter {name} is missing")
            a = arrays.pop(name)
            if a.shape != shape:
                raise ModelFileError(f"{path}: {name} has shape {a.shape}, the architecture {sizes} needs {shape}")
            if a.dtype != dtype:
                raise ModelFileError(f"{path}: {name} has dtype {a.dtype}, the architecture says {dtype}")
            (weights if kind == "W" else biases).append(a)
    extra_params = [k for k in arrays if _PARAM.match(k)]
    if extra_params:
        raise ModelFileError(
            f"{path}: parameter {extra_params[0]} does not belong to a network with {n_layers} layers "
            f"(expected {parameter_names(n_layers)})"
        )
    metadata = {k: v for k, v in document.items() if k not in RESERVED_KEYS}
    try:
        _check_model_metadata(metadata, sizes, where=str(path))
        network = Network.from_arrays(weights, biases, activation=acts[:-1], output_activation=acts[-1], dtype=dtype)
    except ModelFileError:
        raise
    except HandgradError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    return LoadedModel(network, arrays, metadata, document, path)


def _read(path, expect: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Open, validate and read the archive: (arrays without the metadata, JSON document)."""
    path = Path(path)
    # NOTE: refuse a FIFO or device before reading: open() of a FIFO blocks until a writer comes.
    f = _files.open_regular(path, ModelFileError, "model file")  # closed by the with-block below
    try:
        with f:
            return _read_archive(f, path, expect)
    except ModelFileError:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        EOFError,
        ValueError,
        KeyError,
        TypeError,
        IndexError,
        UnicodeError,
        struct.error,
        zlib.error,
        NotImplementedError,
        RuntimeError,
        OverflowError,
        MemoryError,
        SyntaxError,
        RecursionError,
    ) as exc:
        # NOTE: a hostile or damaged file can make the zip, npy-header or JSON
        # readers raise many things; each one is this file's fault, so each
        # becomes one clear ModelFileError (the fuzz test holds us to it).
        raise ModelFileError(
            f"{path}: not a valid handgrad file (truncated or corrupted?): {type(exc).__name__}: {exc}"
        ) from None


def _read_archive(f, path: Path, expect: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    head = f.read(4)
    f.seek(0)
    if head[:2] != b"PK":
        raise ModelFileError(
            f"{path}: not a handgrad model file (an .npz/zip archive starts with 'PK'; "
            f"this file starts with {head!r}{', it is empty' if not head else ''})"
        )
    with zipfile.ZipFile(f) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ModelFileError(f"{path}: the archive has {len(infos)} members (limit {MAX_MEMBERS})")
        total = sum(i.file_size for i in infos)
        if total > MAX_TOTAL_BYTES:
            raise ModelFileError(
                f"{path}: the archive declares {total} bytes uncompressed (limit {MAX_TOTAL_BYTES}); refusing to read it"
            )
        for info in infos:
            _check_compression(info, path)
        try:
            check_memory(2 * total, f"{path}: reading this model file")
        except MemoryLimitError as exc:
            raise ModelFileError(str(exc)) from None
        members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if not info.filename.endswith(".npy") or info.is_dir():
                raise ModelFileError(f"{path}: unexpected member {info.filename!r} (an .npz holds only .npy files)")
            key = info.filename[: -len(".npy")]
            if key in members:
                raise ModelFileError(f"{path}: the member {info.filename!r} appears twice")
            members[key] = info
        if METADATA_KEY not in members:
            raise ModelFileError(
                f"{path}: no {METADATA_KEY} in the archive: an .npz file, but not one written by handgrad"
            )
        meta_info = members.pop(METADATA_KEY)
        if meta_info.file_size > MAX_METADATA_BYTES:
            raise ModelFileError(f"{path}: metadata of {meta_info.file_size} bytes (limit {MAX_METADATA_BYTES})")
        raw = _read_member(zf, meta_info, path, METADATA_KEY)
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ModelFileError(f"{path}: {METADATA_KEY} must be a 1-D uint8 array, got {raw.dtype} {raw.shape}")
        try:
            document = json.loads(raw.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ModelFileError(f"{path}: the metadata is not valid UTF-8 JSON: {exc}") from None
        _check_format(document, path, expect)
        manifest = document.get("arrays")
        if not isinstance(manifest, dict):
            raise ModelFileError(f"{path}: the metadata has no 'arrays' manifest")
        missing = [k for k in manifest if k not in members]
        extra = [k for k in members if k not in manifest]
        if missing or extra:
            raise ModelFileError(
                f"{path}: the arrays do not match the manifest"
                + (f"; missing: {missing}" if missing else "")
                + (f"; unexpected: {extra}" if extra else "")
            )
        arrays: dict[str, np.ndarray] = {}
        for key, entry in manifest.items():
            a = _read_member(zf, members[key], path, key)
            if not isinstance(entry, dict):
                raise ModelFileError(f"{path}: manifest entry of {key!r} must be an object")
            if list(a.shape) != entry.get("shape") or a.dtype.name != entry.get("dtype"):
                raise ModelFileError(
                    f"{path}: array {key!r} has shape {a.shape} and dtype {a.dtype}, the manifest says "
                    f"{entry.get('shape')} and {entry.get('dtype')} (arrays swapped or replaced?)"
                )
            if _digest(a) != entry.get("sha256"):
                raise ModelFileError(
                    f"{path}: array {key!r} does not match its checksum (the file was modified or corrupted)"
                )
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                raise ModelFileError(f"{path}: array {key!r} holds NaN or infinity")
            arrays[key] = a
    return arrays, document


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, key: str) -> np.ndarray:
    """One .npy member: header checked before its data is read (no object arrays, no huge allocations)."""
    with zf.open(info) as fp:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise ModelFileError(f"{path}: array {key!r} has .npy format version {version}")
        native = dtype.newbyteorder("=") if dtype.byteorder in "<>" else dtype
        if dtype.hasobject or native not in ARRAY_DTYPES:
            raise ModelFileError(
                f"{path}: array {key!r} has dtype {dtype}; handgrad files hold only numeric arrays "
                "(object arrays would need pickle, which handgrad never loads)"
            )
        if any(not isinstance(n, int) or n < 0 for n in shape):
            raise ModelFileError(f"{path}: array {key!r} declares an invalid shape {shape}")
        count = 1
        for n in shape:
            count *= n
        nbytes = count * dtype.itemsize
        # NOTE: the member must hold exactly the header and the data its shape and dtype
        # need. A member declaring more (a zip bomb: gigabytes of zeros compressed into a
        # few kilobytes) is refused here, before any of its data is decompressed.
        data_size = info.file_size - fp.tell()
        if nbytes != data_size:
            raise ModelFileError(
                f"{path}: array {key!r} declares shape {shape} and dtype {dtype} ({nbytes} bytes) but its "
                f"member holds {data_size} bytes of data: truncated or hostile"
            )
        a = np.empty(count, dtype=dtype)
        view = memoryview(a).cast("B")
        done = 0
        while done < nbytes:  # into the array: no second copy of the data
            n = fp.readinto(view[done : done + (1 << 24)])
            if not n:
                raise ModelFileError(f"{path}: array {key!r} is truncated ({done} of {nbytes} bytes)")
            done += n
        if fp.read(1):
            raise ModelFileError(f"{path}: array {key!r} has trailing bytes after its data")
        # Reading to the end made zipfile check the member's CRC-32.
    a = a.reshape(shape, order="F" if fortran else "C")
    return np.array(a, dtype=native, order="C") if a.dtype != native or fortran else a


def _check_compression(info: zipfile.ZipInfo, path: Path) -> None:
    """Refuse a compressed member that would expand beyond any real model's ratio (a zip bomb).

    handgrad writes members uncompressed (``np.savez``); ``np.savez_compressed``
    files are read too, but float parameters compress little, so a member
    expanding more than :data:`MAX_COMPRESSION_RATIO` times (beyond 1 MiB) is
    refused from its declared sizes, before a byte is decompressed.
    """
    if info.compress_type == zipfile.ZIP_STORED:
        if info.compress_size != info.file_size:
            raise ModelFileError(
                f"{path}: member {info.filename!r} is stored uncompressed but declares {info.file_size} bytes "
                f"in {info.compress_size}: corrupted or hostile"
            )
        return
    if info.file_size > max(MAX_COMPRESSION_RATIO * info.compress_size, 1 << 20):
        raise ModelFileError(
            f"{path}: member {info.filename!r} would expand from {info.compress_size} to {info.file_size} bytes "
            f"(more than {MAX_COMPRESSION_RATIO} times: a zip bomb?); refusing to decompress it"
        )


def _check_format(document: Any, path: Path, expect: str) -> None:
    if not isinstance(document, dict):
        raise ModelFileError(f"{path}: the metadata must be a JSON object, got {type(document).__name__}")
    fmt = document.get("format")
    if fmt != expect:
        if fmt in (MODEL_FORMAT, ARRAYS_FORMAT):
            what = {MODEL_FORMAT: "a model (read it with load_model)", ARRAYS_FORMAT: "a checkpoint (load_arrays_json)"}
            raise ModelFileError(f"{path}: this file is {what[fmt]}, not a {expect!r} file")
        raise ModelFileError(f"{path}: unknown format {fmt!r}; expected {expect!r}")
    version = document.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(f"{path}: invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: written by a newer handgrad ({document.get('handgrad_version')!r}, format version "
            f"{version}); this handgrad {_version()} reads format versions up to {FORMAT_VERSION}: upgrade handgrad"
        )


def _check_model_metadata(metadata: dict, layer_sizes: list[int], where: str) -> None:
    """Validate the recognised metadata fields; raise ModelFileError (load) naming ``where``."""
    from .data.schema import Schema

    task = metadata.get("task")
    if task is not None and task not in TASKS:
        raise ModelFileError(f"{where}: 'task' must be one of {TASKS} or null, got {task!r}")
    loss = metadata.get("loss")
    if isinstance(loss, str):
        try:
            get_loss(loss)
        except ConfigError as exc:
            raise ModelFileError(f"{where}: {exc}") from None
    elif loss is not None and (isinstance(loss, bool) or not isinstance(loss, (int, float))):
        raise ModelFileError(f"{where}: 'loss' must be a loss name, a number or null, got {loss!r}")
    for key in ("history", "scaling", "training"):
        if metadata.get(key) is not None and not isinstance(metadata[key], dict):
            raise ModelFileError(f"{where}: {key!r} must be a JSON object or null, got {type(metadata[key]).__name__}")
    schema = metadata.get("schema")
    if schema is not None:
        try:
            parsed = Schema.from_dict(schema.to_dict() if isinstance(schema, Schema) else schema)
        except DataError as exc:
            raise ModelFileError(f"{where}: invalid schema: {exc}") from None
        if parsed.n_features != layer_sizes[0]:
            raise ModelFileError(
                f"{where}: the schema has {parsed.n_features} features but the network has {layer_sizes[0]} inputs"
            )
        if isinstance(schema, Schema):
            metadata["schema"] = parsed.to_dict()


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _version() -> str:
    from . import __version__

    return __version__


def read_metadata(path) -> dict[str, Any]:
    """The JSON document of a handgrad file (model or checkpoint), after the same checks as a full load."""
    try:
        return _read(path, expect=MODEL_FORMAT)[1]
    except ModelFileError as exc:
        if "this file is a checkpoint" not in str(exc):
            raise
    return _read(path, expect=ARRAYS_FORMAT)[1]


__all__ = [
    "ARRAYS_FORMAT",
    "BASE_FORMAT_VERSION",
    "FORMAT_VERSION",
    "METADATA_KEY",
    "MODEL_FORMAT",
    "LoadedModel",
    "atomic_write",
    "load_arrays_json",
    "load_model",
    "read_metadata",
    "save_arrays_json",
    "save_model",
]
