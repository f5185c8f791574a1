"""Model files: exact round trips, atomic writes, and real corruptions that must all be ModelFileError."""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from handgrad import Network
from handgrad.data import load_dataset
from handgrad.errors import ConfigError, ModelFileError, NonFiniteError
from handgrad.modelfile import (
    BASE_FORMAT_VERSION,
    FORMAT_VERSION,
    METADATA_KEY,
    load_arrays_json,
    load_model,
    save_arrays_json,
    save_model,
)


def small_model(dtype=np.float64, sizes=(3, 4, 4, 2), activation="tanh", seed=0):
    return Network(list(sizes), activation=activation, output_activation="sigmoid", random_state=seed, dtype=dtype)


def saved(tmp_path, name="model.npz", **kw):
    net = small_model(**kw)
    path = save_model(
        tmp_path / name,
        net,
        arrays={"x_mean": np.array([1.0, 2.0, 3.0]), "x_scale": np.array([0.5, 1.0, 2.0])},
        metadata={"task": "binary", "loss": "binary_crossentropy", "history": {"train_loss": [0.7, 0.5]}},
    )
    return path, net


def write_raw(path, arrays: dict, document: dict, manifest: bool = True):
    """An .npz written by hand (bypassing save_model's checks), with a correct manifest unless told."""
    import hashlib

    if manifest:
        document = {
            **document,
            "arrays": {
                k: {
                    "shape": list(np.shape(a)),
                    "dtype": np.asarray(a).dtype.name,
                    "sha256": hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest(),
                }
                for k, a in arrays.items()
            },
        }
    meta = np.frombuffer(json.dumps(document).encode(), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **arrays, **{METADATA_KEY: meta})
    return path


def document_of(path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return json.loads(z[METADATA_KEY].tobytes())


def arrays_of(path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files if k != METADATA_KEY}


# ----------------------------------------------------------------- round trip
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_is_exact(tmp_path, dtype):
    path, net = saved(tmp_path, dtype=dtype)
    loaded = load_model(path)
    assert loaded.network.layer_sizes == [3, 4, 4, 2]
    assert [a.name for a in loaded.network.activations] == ["tanh", "tanh", "sigmoid"]
    assert loaded.network.dtype == np.dtype(dtype)
    for name, value in net.state_dict().items():
        got = loaded.network.state_dict()[name]
        assert got.dtype == value.dtype and np.array_equal(got, value), name
    assert loaded.arrays["x_scale"].tolist() == [0.5, 1.0, 2.0]
    assert loaded.metadata == {"task": "binary", "loss": "binary_crossentropy", "history": {"train_loss": [0.7, 0.5]}}
    assert loaded.document["format_version"] == BASE_FORMAT_VERSION == 1  # a dense network: what every release reads
    X = np.random.default_rng(1).standard_normal((5, 3)).astype(dtype)
    np.testing.assert_array_equal(loaded.network.forward(X), net.forward(X))


def test_schema_is_stored_and_checked_against_the_inputs(tmp_path):
    ds = load_dataset("friedman1", n_samples=20)
    net = Network([10, 3, 1], random_state=0)
    path = save_model(tmp_path / "m.npz", net, metadata={"schema": ds.schema, "task": ds.task})
    assert load_model(path).metadata["schema"]["feature_names"] == ds.feature_names
    with pytest.raises(ModelFileError, match="the schema has 10 features but the network has 4 inputs"):
        save_model(tmp_path / "bad.npz", Network([4, 1]), metadata={"schema": ds.schema.to_dict()})


def test_checkpoint_arrays_and_metadata_round_trip(tmp_path):
    arrays = {
        "network.W1": np.ones((2, 3)),
        "order": np.arange(7),
        "split.train": np.array([3, 1]),
        "flag": np.ones(2, bool),
    }
    meta = {"epoch": 3, "rng_state": {"state": 2**127 + 5}, "history": {"loss": [1.5]}}
    save_arrays_json(tmp_path / "ckpt.npz", arrays, meta)
    got_arrays, got_meta = load_arrays_json(tmp_path / "ckpt.npz")
    assert got_meta == meta
    assert set(got_arrays) == set(arrays)
    for k in arrays:
        assert got_arrays[k].dtype == arrays[k].dtype and np.array_equal(got_arrays[k], arrays[k])
    with pytest.raises(ModelFileError, match="is a checkpoint"):
        load_model(tmp_path / "ckpt.npz")


def test_unsavable_things_are_refused_before_writing(tmp_path):
    net = small_model()
    cases = [
        ({"arrays": {"W1": np.ones(2)}}, ConfigError, "reserved for the network"),
        ({"arrays": {"__x": np.ones(2)}}, ConfigError, "array name"),
        ({"arrays": {"o": np.array([object()])}}, ConfigError, "dtype object"),
        ({"arrays": {"nan": np.array([np.nan])}}, NonFiniteError, "NaN"),
        ({"metadata": {"format": "x"}}, ConfigError, "reserved"),
        ({"metadata": {"when": object()}}, ConfigError, "not JSON-able"),
        ({"metadata": {"task": "clustering"}}, ModelFileError, "'task' must be one of"),
        ({"metadata": {"loss": "hinge"}}, ModelFileError, "unknown loss 'hinge'"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            save_model(tmp_path / "m.npz", net, **kwargs)
        assert os.listdir(tmp_path) == []
    custom = Network([2, 1], activation="relu", output_activation=(np.sin, np.cos))
    with pytest.raises(ConfigError, match="not a built-in one"):
        save_model(tmp_path / "m.npz", custom)


# ------------------------------------------------------------ atomic writing
def test_never_overwrites_without_force(tmp_path):
    path, _ = saved(tmp_path)
    before = path.read_bytes()
    with pytest.raises(ModelFileError, match=r"model.npz: the file already exists; pass force=True \(--force\)"):
        save_model(path, small_model(seed=1))
    assert path.read_bytes() == before
    save_model(path, small_model(seed=1), force=True)
    assert not np.array_equal(load_model(path).network.weights[0], small_model(seed=0).weights[0])
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]


@pytest.mark.parametrize("interruption", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_interrupted_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, interruption):
    path, _ = saved(tmp_path)
    before = path.read_bytes()
    real_savez = np.savez

    def half_written(f, **arrays):
        real_savez(f, **arrays)
        f.truncate(f.tell() // 2)  # half the bytes are out...
        raise interruption  # ...when the disk fills up or the user presses Ctrl-C

    monkeypatch.setattr(np, "savez", half_written)
    with pytest.raises(type(interruption)):
        save_model(path, small_model(seed=1), force=True)
    with pytest.raises(type(interruption)):
        save_model(tmp_path / "new.npz", small_model(seed=1))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]  # no temporary, no half-written new.npz
    load_model(path)


def test_save_into_a_missing_folder_or_onto_a_directory(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        save_model(tmp_path / "no" / "m.npz", small_model())
    with pytest.raises(ModelFileError, match="is a directory"):
        save_model(tmp_path, small_model())


# --------------------------------------------------------------- corruptions
def test_truncated_files(tmp_path):
    path, _ = saved(tmp_path)
    data = path.read_bytes()
    for cut in [0, 1, 3, 30, 100, len(data) // 3, len(data) // 2, len(data) - 200, len(data) - 22, len(data) - 1]:
        bad = tmp_path / f"cut{cut}.npz"
        bad.write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match=f"cut{cut}.npz"):
            load_model(bad)


def test_flipped_bytes(tmp_path):
    path, _ = saved(tmp_path)
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    # Bytes inside array data: caught by the zip CRC or the manifest checksum.
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("W2.npy")
    start = info.header_offset + 30 + len(info.filename) + 128 + 8  # past the local and .npy headers
    for offset in [start, start + 7, *rng.integers(0, len(data), 20).tolist()]:
        bad = bytearray(data)
        bad[offset] ^= 0xFF
        (tmp_path / "flip.npz").write_bytes(bytes(bad))
        try:
            loaded = load_model(tmp_path / "flip.npz")
        except ModelFileError:
            continue
        # A flip in a byte nobody reads (a zip timestamp) may load: then it must load the same model.
        original = load_model(path)
        for k, v in original.network.state_dict().items():
            assert np.array_equal(loaded.network.state_dict()[k], v)


def test_swapped_arrays_of_the_same_shape(tmp_path):
    path, _ = saved(tmp_path)  # W2 and W3? W2 is (4, 4); swap W2's data with a same-shaped fake
    arrays, document = arrays_of(path), document_of(path)
    arrays["W2"], arrays["b2"], arrays["b1"] = arrays["W2"].T.copy(), arrays["b1"], arrays["b2"]
    write_raw(tmp_path / "swapped.npz", arrays, document, manifest=False)
    with pytest.raises(ModelFileError, match=r"swapped.npz: array '(W2|b1|b2)' does not match its checksum"):
        load_model(tmp_path / "swapped.npz")
    arrays = arrays_of(path)
    arrays["W1"], arrays["W3"] = arrays["W3"], arrays["W1"]  # different shapes
    write_raw(tmp_path / "swapped2.npz", arrays, document, manifest=False)
    with pytest.raises(ModelFileError, match="the manifest says"):
        load_model(tmp_path / "swapped2.npz")
    # Even with a fresh manifest, shapes are checked against the architecture.
    write_raw(tmp_path / "swapped3.npz", arrays, {k: v for k, v in document.items() if k != "arrays"})
    with pytest.raises(ModelFileError, match=r"W1 has shape \(2, 4\), the architecture \[3, 4, 4, 2\] needs \(4, 3\)"):
        load_model(tmp_path / "swapped3.npz")


def rewrite_document(tmp_path, path, name, change):
    document = document_of(path)
    change(document)
    return write_raw(tmp_path / name, arrays_of(path), {k: v for k, v in document.items() if k != "arrays"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format_version=FORMAT_VERSION + 1), "written by a newer handgrad .* upgrade handgrad"),
        (lambda d: d.update(format_version="1"), "invalid format_version"),
        (lambda d: d.update(format="something-else"), "unknown format 'something-else'"),
        (lambda d: d["architecture"].update(activations=["tanh", "swish", "sigmoid"]), "unknown activation 'swish'"),
        (lambda d: d["architecture"].update(activations=["tanh"]), "must be 3 names"),
        (
            lambda d: d["architecture"].update(layer_sizes=[3, 4, 2], activations=["tanh", "sigmoid"]),
            r"W2 has shape \(4, 4\), the architecture \[3, 4, 2\] needs \(2, 4\)",
        ),
        (
            lambda d: d["architecture"].update(layer_sizes=[3, 4], activations=["tanh"]),
            r"parameter W2 does not belong to a network with 1 layers",
        ),
        (lambda d: d["architecture"].update(layer_sizes=[3, -4, 4, 2]), "positive integers"),
        (lambda d: d["architecture"].update(dtype="float16"), "'dtype' must be"),
        (lambda d: d.pop("architecture"), "'architecture' must be a JSON object"),
        (lambda d: d.update(loss="hinge"), "unknown loss"),
        (lambda d: d.update(history=[1, 2]), "'history' must be a JSON object"),
        (lambda d: d.update(schema={"columns": "x"}), "invalid schema"),
    ],
)
def test_bad_metadata(tmp_path, change, message):
    path, _ = saved(tmp_path)
    bad = rewrite_document(tmp_path, path, "bad.npz", change)
    with pytest.raises(ModelFileError, match=f"bad.npz: .*{message}"):
        load_model(bad)


def test_metadata_not_json_and_absent(tmp_path):
    path, _ = saved(tmp_path)
    arrays = arrays_of(path)
    with open(tmp_path / "notjson.npz", "wb") as f:
        np.savez(f, **arrays, **{METADATA_KEY: np.frombuffer(b"{not json", dtype=np.uint8)})
    with pytest.raises(ModelFileError, match=r"notjson.npz: the metadata is not valid UTF-8 JSON"):
        load_model(tmp_path / "notjson.npz")
    with open(tmp_path / "plain.npz", "wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(ModelFileError, match=r"plain.npz: no __metadata__ in the archive"):
        load_model(tmp_path / "plain.npz")


def test_pickled_object_array_is_never_unpickled(tmp_path):
    path, _ = saved(tmp_path)
    document = document_of(path)
    arrays = arrays_of(path)

    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "PWNED"),))

    arrays["x_mean"] = np.array([Boom()], dtype=object)  # listed in the manifest: read, not skipped
    with open(tmp_path / "hostile.npz", "wb") as f:
        np.savez(f, **arrays, **{METADATA_KEY: np.frombuffer(json.dumps(document).encode(), np.uint8)})
    with pytest.raises(ModelFileError, match=r"hostile.npz: array 'x_mean' has dtype object.*never loads"):
        load_model(tmp_path / "hostile.npz")
    # NumPy's own guard, which handgrad relies on too: allow_pickle=False refuses object arrays.
    with np.load(tmp_path / "hostile.npz", allow_pickle=False) as z, pytest.raises(ValueError, match="allow_pickle"):
        z["x_mean"]
    assert not (tmp_path / "PWNED").exists()


def test_non_finite_values_in_a_file(tmp_path):
    path, _ = saved(tmp_path)
    arrays = arrays_of(path)
    arrays["b2"] = arrays["b2"].copy()
    arrays["b2"][1] = np.inf
    write_raw(tmp_path / "inf.npz", arrays, {k: v for k, v in document_of(path).items() if k != "arrays"})
    with pytest.raises(ModelFileError, match=r"inf.npz: array 'b2' holds NaN or infinity"):
        load_model(tmp_path / "inf.npz")


def test_huge_declared_sizes_are_refused_before_allocating(tmp_path):
    path, _ = saved(tmp_path)
    data = path.read_bytes()
    # 1. An .npy header declaring 10^12 float64 values in a member of a few bytes.
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }"
    header += " " * (118 - len(header) - 1) + "\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\0" * 16
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, zipfile.ZipFile(path) as src:
        for info in src.infolist():
            # x_mean is in the manifest, so it is read (an unlisted member is rejected unread).
            zf.writestr(info.filename, npy if info.filename == "x_mean.npy" else src.read(info.filename))
    (tmp_path / "huge.npz").write_bytes(buf.getvalue())
    with pytest.raises(ModelFileError, match=r"huge.npz: array 'x_mean' declares shape \(1000000000000,\)"):
        load_model(tmp_path / "huge.npz")
    # 2. A central directory claiming members are 2 GiB each uncompressed (a zip bomb's lie).
    bomb = bytearray(data)
    cd = bomb.find(b"PK\x01\x02")
    while cd != -1:
        bomb[cd + 24 : cd + 28] = struct.pack("<I", 0x7FFFFFFF)
        cd = bomb.find(b"PK\x01\x02", cd + 4)
    (tmp_path / "bomb.npz").write_bytes(bytes(bomb))
    with pytest.raises(ModelFileError, match=r"bomb.npz: the archive declares \d+ bytes uncompressed \(limit"):
        load_model(tmp_path / "bomb.npz")


def test_not_a_model_file_at_all(tmp_path):
    cases = {"empty.npz": b"", "text.npz": b"W1,b1\n1,2\n", "npy.npz": b"\x93NUMPY\x01\x00"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ModelFileError, match=f"{name}: not a handgrad model file"):
            load_model(tmp_path / name)
    with pytest.raises(ModelFileError, match="no such file"):
        load_model(tmp_path / "absent.npz")
    with pytest.raises(ModelFileError, match="is a directory"):
        load_model(tmp_path)


# ------------------------------------------------------------------ fuzzing
@pytest.fixture(scope="module")
def valid_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    path, net = saved(folder)
    return path.read_bytes(), net.state_dict()


@given(
    st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), min_size=1, max_size=8),
    st.one_of(st.none(), st.integers(min_value=0)),
)
def test_fuzz_random_mutations_only_ever_raise_model_file_error(valid_file, tmp_path_factory, mutations, cut):
    data, state = valid_file
    bad = bytearray(data)
    for position, value in mutations:
        bad[position % len(bad)] = value
    if cut is not None:
        bad = bad[: cut % len(bad)]
    path = tmp_path_factory.mktemp("m") / "mutated.npz"
    path.write_bytes(bytes(bad))
    try:
        loaded = load_model(path)
    except ModelFileError as exc:
        assert "mutated.npz" in str(exc)
        return
    # Whatever survived every check must be the original model.
    for k, v in state.items():
        assert np.array_equal(loaded.network.state_dict()[k], v)


def test_every_region_of_the_file_flipped(valid_file, tmp_path):
    """A byte flipped every 7 bytes through the whole file (headers, data, central directory)."""
    data, state = valid_file
    path = tmp_path / "flipped.npz"
    for position in range(0, len(data), 7):
        bad = bytearray(data)
        bad[position] ^= 0xFF
        path.write_bytes(bytes(bad))
        try:
            loaded = load_model(path)
        except ModelFileError:
            continue
        for k, v in state.items():  # a byte nobody depends on (a timestamp, header padding)
            assert np.array_equal(loaded.network.state_dict()[k], v), (position, k)


# ------------------------------------------------- hostile files and destinations (issue 9)
import hashlib  # noqa: E402
import resource  # noqa: E402
import stat  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from handgrad import _files  # noqa: E402
from handgrad.errors import FileWriteError  # noqa: E402


def with_extra_member(path, out, name: str, npy_header: bytes, chunks, n_chunks: int, declared: dict, compress: int):
    """``path`` plus a member ``name``.npy (header + n_chunks × chunks), listed in the manifest as ``declared``."""
    document = document_of(path)
    document["arrays"][name] = declared
    meta = io.BytesIO()
    np.save(meta, np.frombuffer(json.dumps(document).encode(), dtype=np.uint8))
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", compress) as zf:
        for info in src.infolist():
            body = meta.getvalue() if info.filename == METADATA_KEY + ".npy" else src.read(info)
            zf.writestr(info.filename, body)
        with zf.open(name + ".npy", "w", force_zip64=True) as f:
            f.write(npy_header)
            for _ in range(n_chunks):
                f.write(chunks)
    return out


def npy_header(shape) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buf.getvalue()


def test_a_zip_bomb_is_refused_before_it_is_decompressed(tmp_path):
    path, _ = saved(tmp_path)
    # 256 MiB of zeros, consistently declared (header, manifest, digest), in well under 1 MB of file.
    n = 32 << 20
    zeros = bytes(1 << 20)
    digest = hashlib.sha256()
    for _ in range(n * 8 // len(zeros)):
        digest.update(zeros)
    declared = {"shape": [n], "dtype": "float64", "sha256": digest.hexdigest()}
    bomb = with_extra_member(
        path, tmp_path / "bomb.npz", "x", npy_header((n,)), zeros, n * 8 // len(zeros), declared, zipfile.ZIP_DEFLATED
    )
    assert bomb.stat().st_size < 1_000_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ModelFileError, match=r"bomb.npz: member 'x.npy' would expand from \d+ to \d+ bytes.*zip bomb"):
        load_model(bomb)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 100_000  # not the 256 MiB it declares
    # Neighbour: the same array compressed from real (random) data is read.
    ok = tmp_path / "ok.npz"
    rng_bytes = np.random.default_rng(0).standard_normal(1000)
    declared = {"shape": [1000], "dtype": "float64", "sha256": hashlib.sha256(rng_bytes.tobytes()).hexdigest()}
    with_extra_member(path, ok, "x", npy_header((1000,)), rng_bytes.tobytes(), 1, declared, zipfile.ZIP_DEFLATED)
    np.testing.assert_array_equal(load_model(ok).arrays["x"], rng_bytes)


def test_a_member_larger_than_its_shape_needs_is_refused_unread(tmp_path):
    path, _ = saved(tmp_path)
    # Shape (1,) but 64 MiB of data behind the header, stored: refused from the sizes alone.
    declared = {"shape": [1], "dtype": "float64", "sha256": hashlib.sha256(bytes(8)).hexdigest()}
    big = with_extra_member(
        path, tmp_path / "big.npz", "x", npy_header((1,)), bytes(1 << 20), 64, declared, zipfile.ZIP_STORED
    )
    with pytest.raises(ModelFileError, match=r"big.npz: array 'x' declares shape \(1,\) .*holds 67108864 bytes"):
        load_model(big)


def test_a_fifo_or_device_given_as_a_model_file_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "model.npz"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(ModelFileError, match=r"model.npz: is a pipe \(FIFO\), not a regular file"):
        load_model(fifo)
    with pytest.raises(ModelFileError, match=r"/dev/null: is a character device, not a regular file"):
        load_model("/dev/null")
    assert time.monotonic() - started < 5


def test_writing_to_a_device_writes_into_it_and_never_replaces_it(tmp_path):
    # NOTE: a clone of /dev/null (character device 1, 3) in tmp_path, never the real one: a
    # regression that replaced devices would otherwise replace the machine's /dev/null.
    null = tmp_path / "null"
    try:
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError as exc:
        pytest.skip(f"cannot create a character device here: {exc}")
    before = os.stat(null)
    save_model(null, small_model())  # no --force needed: nothing is overwritten
    save_model(null, small_model(), force=True)
    after = os.stat(null)
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_rdev, after.st_mode) == (before.st_ino, before.st_rdev, before.st_mode)
    assert sorted(os.listdir(tmp_path)) == ["null"]


def test_writing_to_a_fifo_and_to_dev_stdout(tmp_path):
    fifo = tmp_path / "out.npz"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    save_model(fifo, small_model())
    reader.join(10)
    assert fifo.is_fifo()  # not replaced by a regular file
    (tmp_path / "copy.npz").write_bytes(got[0])
    assert load_model(tmp_path / "copy.npz").network.layer_sizes == [3, 4, 4, 2]
    # /dev/stdout redirected by the shell to a regular file: written into, so the shell's file gets it.
    code = (
        "from handgrad import Network; from handgrad.modelfile import save_model; "
        "save_model('/dev/stdout', Network([2, 1], random_state=0))"
    )
    with open(tmp_path / "redirected.npz", "wb") as out:
        r = subprocess.run([sys.executable, "-c", code], stdout=out, stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 0, r.stderr
    assert load_model(tmp_path / "redirected.npz").network.layer_sizes == [2, 1]


def test_a_failed_write_names_the_users_path_not_the_temporary_file(tmp_path, monkeypatch):
    path, _ = saved(tmp_path)
    before = path.read_bytes()
    real_fsync = os.fsync

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(FileWriteError) as info:
        save_model(path, small_model(seed=1), force=True)
    monkeypatch.setattr(os, "fsync", real_fsync)
    message = str(info.value)
    assert message == f"cannot write {path}: No space left on device"
    assert ".tmp" not in message and info.value.filename == str(path) and info.value.errno == 28
    assert isinstance(info.value, OSError) and isinstance(info.value, ValueError)
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["model.npz"]


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs (needs root and mount(8)); skipped where it cannot be mounted."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], capture_output=True)


def test_a_full_disk_leaves_the_old_file_and_names_the_path(tiny_disk):
    path = save_model(tiny_disk / "m.npz", small_model())
    before = path.read_bytes()
    big = Network([100, 100, 1], random_state=0)  # 80 KB of parameters: more than the disk holds
    with pytest.raises(FileWriteError, match=rf"^cannot write {path}: No space left on device$"):
        save_model(path, big, force=True)
    assert path.read_bytes() == before and os.listdir(tiny_disk) == ["m.npz"]


def test_check_destination_before_any_work(tmp_path):
    existing = tmp_path / "m.npz"
    existing.write_bytes(b"old")
    _files.check_destination(tmp_path / "new.npz")
    _files.check_destination(existing, force=True)
    _files.check_destination("/dev/null")
    cases = [
        (existing, False, "the file already exists; pass force=True"),
        (tmp_path, True, "is a directory"),
        (tmp_path / "no" / "m.npz", True, "the folder .* does not exist"),
    ]
    for path, force, message in cases:
        with pytest.raises(FileWriteError, match=message):
            _files.check_destination(path, force=force)
    assert existing.read_bytes() == b"old"


def test_replacing_keeps_a_symlink_and_the_old_files_mode(tmp_path):
    real = tmp_path / "real.npz"
    save_model(real, small_model())
    os.chmod(real, 0o640)
    link = tmp_path / "link.npz"
    link.symlink_to(real)
    save_model(link, small_model(seed=1), force=True)
    assert link.is_symlink() and os.readlink(link) == str(real)  # the link still points at the file
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    np.testing.assert_array_equal(load_model(link).network.weights[0], small_model(seed=1).weights[0])
    assert sorted(os.listdir(tmp_path)) == ["link.npz", "real.npz"]
