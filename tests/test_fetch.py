"""Fetching the seed's data sets: a local HTTP server on loopback stands in for the seed's repository.

The server (http.server in a thread on 127.0.0.1, port 0) serves the test data folder in the
repository's layout (``Math/Dataset/...``, ``Math/Dataset/Extra/...``); a second tree holds a
corrupted copy. No test contacts a real host.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from handgrad.cli import main
from handgrad.data import datasets
from handgrad.data.datasets import (
    SEED_FILES,
    SEED_SOURCES,
    cache_dir,
    fetch_seed_dataset,
    load_dataset,
    seed_cache_dir,
    seed_file,
)
from handgrad.errors import DataError


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep the test output clean
        pass


@pytest.fixture
def serve():
    """``serve(folder)`` starts a server on 127.0.0.1 (free port) for ``folder``; returns its base URL."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/kapshaul/DeepLearning/abc123"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _repository_tree(data_dir: Path, root: Path) -> Path:
    """The seed's files copied under ``root/kapshaul/DeepLearning/abc123`` at their repository paths."""
    base = root / "kapshaul" / "DeepLearning" / "abc123"
    for rel, (remote, _) in SEED_SOURCES.items():
        (base / remote).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data_dir / rel, base / remote)
    return root


@pytest.fixture
def fresh_machine(monkeypatch, tmp_path):
    """No HANDGRAD_DATA, no checkout data folder: only the (empty) cache in tmp_path/cache."""
    monkeypatch.delenv("HANDGRAD_DATA", raising=False)
    monkeypatch.delenv("HANDGRAD_DATA_URL", raising=False)
    monkeypatch.setenv("HANDGRAD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(datasets, "_checkout_data_dir", lambda: None)
    return tmp_path / "cache"


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_shipped_digests_match_the_local_copy(data_dir):
    # Every file the package knows has a digest, and it is the digest of the copy the tests read.
    assert set(SEED_SOURCES) == {rel for parts in SEED_FILES.values() for rel in parts.values()}
    for rel, (remote, digest) in SEED_SOURCES.items():
        assert remote.startswith("Math/Dataset/") and remote.endswith(Path(rel).name)
        assert hashlib.sha256((data_dir / rel).read_bytes()).hexdigest() == digest, rel


def test_insurance_remote_paths_are_under_extra():
    assert SEED_SOURCES["insurance/train_insurance.csv"][0] == "Math/Dataset/Extra/train_insurance.csv"
    assert SEED_SOURCES["house/test_house.csv"][0] == "Math/Dataset/test_house.csv"
    assert datasets.SEED_BASE_URL == (
        "https://raw.githubusercontent.com/kapshaul/DeepLearning/b738a0d54499c76850d32c3b9c06e48045da24a8/"
    )


def test_cache_dir_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("HANDGRAD_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    assert seed_cache_dir() == tmp_path / "c" / "seed-data"
    monkeypatch.delenv("HANDGRAD_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if datasets.sys.platform.startswith("linux"):
        assert cache_dir() == tmp_path / "xdg" / "handgrad"


def test_fetch_downloads_byte_identical_verified_files(data_dir, fresh_machine, serve, monkeypatch, tmp_path):
    monkeypatch.setenv("HANDGRAD_DATA_URL", serve(_repository_tree(data_dir, tmp_path / "www")))
    lines = []
    paths = fetch_seed_dataset("house", log=lines.append)
    assert paths == [
        fresh_machine / "seed-data" / "house" / "train_house.csv",
        fresh_machine / "seed-data" / "house" / "test_house.csv",
    ]
    for path, rel in zip(paths, SEED_FILES["house"].values()):
        assert path.read_bytes() == (data_dir / rel).read_bytes()
    assert len(lines) == 2 and all("SHA-256 verified" in line for line in lines)
    # Only the two files: no temporary file or staging folder is left behind.
    assert _files_under(fresh_machine) == sorted(paths)
    # The lookup now finds them in the cache.
    assert seed_file("house", "test") == paths[1]
    # A second fetch does not download again.
    lines.clear()
    fetch_seed_dataset("house", log=lines.append)
    assert lines == [f"house: already in {fresh_machine / 'seed-data' / 'house'}"]


def test_a_corrupted_copy_is_refused_and_nothing_is_cached(data_dir, fresh_machine, serve, monkeypatch, tmp_path):
    www = _repository_tree(data_dir, tmp_path / "www")
    victim = www / "kapshaul/DeepLearning/abc123/Math/Dataset/Extra/valid_insurance.csv"
    data = bytearray(victim.read_bytes())
    data[200] ^= 1  # one bit of one digit: the file still looks like a valid CSV
    victim.write_bytes(bytes(data))
    monkeypatch.setenv("HANDGRAD_DATA_URL", serve(www))
    with pytest.raises(DataError, match=r"valid_insurance\.csv: SHA-256 [0-9a-f]{64} does not match"):
        fetch_seed_dataset("insurance")
    # The train file downloaded fine before the corrupted one, but the set is all or nothing.
    assert _files_under(fresh_machine) == []
    assert not (fresh_machine / "seed-data" / "insurance").exists()
    # The command line: one line, exit 2, nothing cached.
    assert main(["datasets", "fetch", "insurance"]) == 2
    assert _files_under(fresh_machine) == []


def test_missing_file_on_the_server_is_a_clear_error(data_dir, fresh_machine, serve, monkeypatch, tmp_path):
    www = _repository_tree(data_dir, tmp_path / "www")
    (www / "kapshaul/DeepLearning/abc123/Math/Dataset/test_smoke.csv").unlink()
    monkeypatch.setenv("HANDGRAD_DATA_URL", serve(www))
    with pytest.raises(DataError, match=r"test_smoke\.csv: the server answered HTTP 404"):
        fetch_seed_dataset("smoke")
    assert _files_under(fresh_machine) == []


def test_unreachable_server_names_the_way_out(fresh_machine, monkeypatch):
    # A port nothing listens on: bind one, note it, close it.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HANDGRAD_DATA_URL", f"http://127.0.0.1:{port}/")
    with pytest.raises(DataError, match=r"cannot download.*HANDGRAD_DATA"):
        fetch_seed_dataset("insurance", timeout=5)
    assert _files_under(fresh_machine) == []
    monkeypatch.setenv("HANDGRAD_DATA_URL", "ftp://example.invalid/")
    with pytest.raises(DataError, match="http://, https:// or file://"):
        fetch_seed_dataset("insurance")


def test_seed_file_without_download_says_how_to_fetch(fresh_machine):
    with pytest.raises(DataError, match="handgrad datasets fetch smoke"):
        seed_file("smoke", "valid")
    with pytest.raises(DataError, match="unknown seed data set"):
        fetch_seed_dataset("mnist")


def test_handgrad_data_wins_over_the_cache(data_dir, fresh_machine, monkeypatch, tmp_path):
    monkeypatch.setenv("HANDGRAD_DATA", str(data_dir))
    assert seed_file("insurance", "valid") == data_dir / "insurance" / "valid_insurance.csv"
    monkeypatch.setenv("HANDGRAD_DATA", str(tmp_path / "absent"))
    with pytest.raises(DataError, match="set HANDGRAD_DATA"):
        seed_file("insurance", download=True)  # never falls back to a download
    assert _files_under(fresh_machine) == []


def test_dataset_name_fetches_on_first_use_then_reads_the_cache(data_dir, fresh_machine, serve, monkeypatch, tmp_path):
    monkeypatch.setenv("HANDGRAD_DATA_URL", serve(_repository_tree(data_dir, tmp_path / "www")))
    ds = load_dataset("insurance")
    assert ds.X.shape == (900, 11) and ds.target_name == "charges" and "age" in ds.feature_names
    assert len(_files_under(fresh_machine)) == 3
    valid = load_dataset("insurance", part="valid")
    assert valid.X.shape == (100, 11)
    # With the server gone, the cache still serves.
    monkeypatch.setenv("HANDGRAD_DATA_URL", "http://127.0.0.1:9/")
    assert load_dataset("insurance").X.shape == (900, 11)


def test_cli_fetch_then_train_on_a_fresh_machine(data_dir, fresh_machine, serve, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HANDGRAD_DATA_URL", serve(_repository_tree(data_dir, tmp_path / "www")))
    monkeypatch.chdir(tmp_path)
    assert main(["datasets", "fetch", "insurance"]) == 0
    out = capsys.readouterr().out
    assert out.count("SHA-256 verified") == 3
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert str(fresh_machine / "seed-data") in out
    # `datasets path` prints a file's path, fetching its set first: the seed's experiment can name its files.
    assert main(["datasets", "path", "house", "test"]) == 0
    assert capsys.readouterr().out.strip() == str(fresh_machine / "seed-data" / "house" / "test_house.csv")
    assert (fresh_machine / "seed-data" / "house" / "train_house.csv").is_file()
    model = tmp_path / "ins.npz"
    assert main(["train", "--dataset", "insurance", "--epochs", "2", "--hidden", "8", "--quiet", "-o", str(model)]) == 0
    assert model.is_file()
