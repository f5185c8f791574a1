"""Reading and writing the user's files: one place for what can go wrong with them.

Writing (:func:`atomic_write`, :func:`atomic_write_named`)
-----------------------------------------------------------
* A **regular file** (or a new name) is written atomically: a temporary file in
  the same folder is written, flushed and fsync'ed, then renamed over the
  target, so an interrupted or failed write leaves the old file (or no file),
  never a half-written one. An existing file is replaced only with ``force``;
  a symbolic link to a file keeps pointing where it did (its target is replaced).
* Anything else that exists (a character device such as ``/dev/null``, a FIFO,
  a socket) is **written into**, never replaced, and without ``force``: it is
  a stream, not a file that could be lost. So is a name for one of this
  process's open streams (``/dev/stdout``, ``/dev/stderr``, ``/dev/fd/N``,
  ``/proc/self/fd/N``), even when the shell pointed it at a regular file
  (``> out.csv``): renaming over that file would detach it from the stream.
* Every failure (disk full, read-only file system, permission) is a
  :class:`~handgrad.errors.FileWriteError` (a ``HandgradError`` and an
  ``OSError``) naming **the user's path**, never the hidden temporary file.

Reading (:func:`open_input`)
----------------------------
* ``-`` is standard input; a pipe, a FIFO or process substitution
  (``<(zcat f.csv.gz)``, i.e. ``/dev/fd/N``) is read **once**: a reader that
  needs several passes gets a copy spooled to an anonymous temporary file (disk,
  not memory), so nothing is lost to a second pass that a pipe cannot give.
* gzip, bzip2 and xz files are decompressed on the fly, recognised by their
  first bytes (not only by the suffix).
* :func:`check_regular_file` refuses what is not a regular file before opening
  it (a FIFO given as a model file would block ``open`` forever).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, BinaryIO

from .errors import FileWriteError, HandgradError

__all__ = [
    "InputSource",
    "atomic_write",
    "atomic_write_named",
    "check_destination",
    "check_regular_file",
    "compression_of",
    "open_input",
    "open_regular",
]

#: First bytes of the compressed formats read transparently, and their openers.
_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
)
_OPENERS = {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}
#: Names of this process's own open streams: written into, never replaced.
_STREAM_NAME = re.compile(r"^/(dev/(stdout|stderr|fd/\d+)|proc/(self|\d+)/fd/\d+)$")


# ------------------------------------------------------------------ writing
def atomic_write(
    path,
    write: Callable[[IO[bytes]], None],
    *,
    force: bool = False,
    error: type[HandgradError] = FileWriteError,
) -> Path:
    """Write a file through ``write(fileobj)`` so that it appears whole or not at all.

    Parameters
    ----------
    path : str or Path
        The user's file name (see the module docstring for devices, FIFOs and
        ``/dev/stdout``).
    write : callable
        Called once with a binary file object open for writing.
    force : bool
        Replace an existing regular file (otherwise ``error`` is raised, naming ``--force``).
    error : HandgradError subclass
        The class of the "already exists", "is a directory" and "no such folder"
        errors (model files use :class:`~handgrad.errors.ModelFileError`).

    Raises
    ------
    error
        ``path`` exists and ``force`` is false, is a directory, or its folder is missing.
    FileWriteError
        Writing failed (disk full, read-only file system, ...); the message names
        ``path``; the old file is intact and no temporary file is left.
    """
    return _write(Path(path), write, force=force, error=error, by_name=False)


def atomic_write_named(
    path,
    write: Callable[[str], None],
    *,
    force: bool = False,
    error: type[HandgradError] = FileWriteError,
) -> Path:
    """As :func:`atomic_write`, for writers that need a file **name** (matplotlib, Pillow).

    ``write(name)`` is called with a temporary file name that keeps ``path``'s
    suffix (Pillow picks the image format from it). For a device or stream
    target the finished temporary file is then copied into it.
    """
    return _write(Path(path), write, force=force, error=error, by_name=True)


def _replaceable(path: Path, st, force: bool, error: type[HandgradError]) -> tuple[Path, Path]:
    """``(target, folder)`` of a regular-file destination, or ``error``: no folder, or exists without ``force``.

    A symbolic link to a file is replaced at its target, so that the link keeps working.
    """
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise _refuse(error, path, f"the folder {folder} does not exist")
    if st is not None and not force:
        raise _refuse(error, path, _EXISTS)
    return target, folder


def _write(path: Path, write, *, force: bool, error: type[HandgradError], by_name: bool) -> Path:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _write_error(exc, path) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise _refuse(error, path, "is a directory, expected a file name")
    if st is not None and (not stat.S_ISREG(st.st_mode) or _STREAM_NAME.match(str(path))):
        _write_into(path, write, by_name)
        return path
    if st is None and _STREAM_NAME.match(str(path)):
        raise _refuse(error, path, "this stream is not open")
    target, folder = _replaceable(path, st, force, error)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=folder)
    except OSError as exc:  # read-only file system, permission: name the user's path
        raise _write_error(exc, path) from None
    tmp = Path(tmp_name)
    try:
        if by_name:
            os.close(fd)
            write(tmp_name)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        else:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
        # mkstemp makes the file 0600: give it the old file's mode, or a new file's (0666 & ~umask).
        os.chmod(tmp, stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask())
        if force:
            os.replace(tmp, target)
        else:
            # NOTE: link() fails if ``path`` appeared since the check above, so a
            # concurrent writer's file is never overwritten without force.
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise _refuse(error, path, _EXISTS) from None
            except OSError:  # a file system without hard links
                if target.exists():
                    raise _refuse(error, path, _EXISTS) from None
                os.replace(tmp, target)
            tmp.unlink(missing_ok=True)
        _fsync_folder(folder)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, HandgradError):
            raise _write_error(exc, path) from None
        raise
    return path


def _write_into(path: Path, write, by_name: bool) -> None:
    """Write into an existing stream (device, FIFO, /dev/stdout): never replace it.

    NOTE: O_APPEND, not O_TRUNC: ``/dev/stdout`` may be a file the shell opened
    with ``>>``; appending to a device or a FIFO is plain writing.
    """
    try:
        if by_name:
            with tempfile.TemporaryDirectory() as folder:
                tmp = os.path.join(folder, "out" + path.suffix)
                write(tmp)
                with open(tmp, "rb") as src, open(path, "ab") as dst:
                    shutil.copyfileobj(src, dst)
        else:
            with open(path, "ab") as f:
                write(_Stream(f))
                f.flush()
    except BrokenPipeError:
        raise  # the reader went away: the command line exits quietly with 141
    except OSError as exc:
        if isinstance(exc, HandgradError):
            raise
        raise _write_error(exc, path) from None


class _Stream(io.RawIOBase):
    """A write-only view of a device or pipe that says it cannot seek or tell.

    NOTE: ``/dev/null`` claims to be seekable and reports position 0 after any
    write; ``zipfile`` (``np.savez``) trusts that and fails. Refusing ``tell``
    makes it write a streamable archive (data descriptors) instead.
    """

    def __init__(self, f: IO[bytes]):
        self._f = f

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        raise io.UnsupportedOperation("a stream has no position")

    def seek(self, *args) -> int:
        raise io.UnsupportedOperation("a stream cannot seek")

    def write(self, data) -> int:
        self._f.write(data)
        return len(data)

    def flush(self) -> None:
        self._f.flush()


_EXISTS = "the file already exists; pass force=True (--force) to overwrite it"


def _refuse(error: type[HandgradError], path: Path, reason: str) -> HandgradError:
    """``error`` with the message ``"{path}: {reason}"``."""
    message = f"{path}: {reason}"
    if issubclass(error, FileWriteError):
        return error(None, message, str(path))
    return error(message)


def _write_error(exc: OSError, path: Path) -> FileWriteError:
    """The OSError ``exc`` as a FileWriteError naming the user's ``path`` (not a temporary file)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return FileWriteError(exc.errno, f"cannot write {path}: {reason}", str(path))


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_destination(path, *, force: bool = False, error: type[HandgradError] = FileWriteError) -> None:
    """Check, before any work, that :func:`atomic_write` could write ``path``.

    For the command line: every output (``-o``, ``--checkpoint``, plots) is
    checked before training starts, so a run is never lost to a bad name at
    the end. Refuses a directory, a missing folder, an existing regular file
    without ``force``, and a folder this process cannot write into (read-only
    file system, permissions). A device, FIFO or ``/dev/stdout`` is fine.

    Raises
    ------
    error
        Naming ``path`` and the problem.
    """
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _refuse(error, path, f"cannot be written: {exc.strerror or exc}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise _refuse(error, path, "is a directory, expected a file name")
    if st is not None and (not stat.S_ISREG(st.st_mode) or _STREAM_NAME.match(str(path))):
        if not os.access(path, os.W_OK):
            raise _refuse(error, path, "permission denied")
        return
    _, folder = _replaceable(path, st, force, error)
    # NOTE: os.access ignores a read-only mount for root; statvfs's ST_RDONLY does not.
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        read_only = False
    if read_only:
        raise _refuse(error, path, f"the folder {folder} is on a read-only file system")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _refuse(error, path, f"permission denied: cannot create files in {folder}")


# ------------------------------------------------------------------ reading
def check_regular_file(path, error: type[HandgradError], what: str = "file") -> os.stat_result:
    """``os.stat(path)`` if ``path`` is a regular file; otherwise ``error`` naming it.

    Called before ``open``: opening a FIFO for reading blocks until a writer
    appears, forever if none does.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except PermissionError:
        raise error(f"{path}: permission denied") from None
    except OSError as exc:
        raise error(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{path}: is a directory, expected a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{path}: is {_kind(st.st_mode)}, not a regular file; expected a {what}")
    return st


def open_regular(path, error: type[HandgradError], what: str = "file") -> BinaryIO:
    """``path`` opened for binary reading if it is a regular file; otherwise ``error`` naming it.

    NOTE: opened with O_NONBLOCK and checked with fstat on the open descriptor:
    checking the name first and opening it after would still hang on a FIFO
    swapped in between, as open() of a FIFO blocks until a writer appears.
    """
    check_regular_file(path, error, what)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except PermissionError:
        raise error(f"{path}: permission denied") from None
    except OSError as exc:
        raise error(f"{path}: cannot be opened: {exc.strerror or exc}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise error(f"{path}: is {_kind(st.st_mode)}, not a regular file; expected a {what}")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def compression_of(head: bytes) -> str | None:
    """``"gzip"``, ``"bzip2"``, ``"xz"`` or None, from a file's first bytes."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


class InputSource:
    """A data file to read, once or several times, under the name the user gave.

    Attributes
    ----------
    name : str
        What messages call it: the path as given, or ``"<stdin>"`` for ``-``.
    compression : str or None
        ``"gzip"``, ``"bzip2"``, ``"xz"`` (decompressed by :meth:`open`) or None.
    seekable : bool
        False for a pipe read in one pass (``passes="once"``): :meth:`open` works once.
    """

    def __init__(self, name: str, path: str | None, spool: IO[bytes] | None, stream: BinaryIO | None):
        self.name = name
        # A regular file, or the spooled copy of a pipe (by name: each pass gets its own offset).
        self._path = path if spool is None else spool.name
        self._spool = spool  # kept open: closing it deletes the copy
        self._stream = stream  # a pipe read once
        self._opened = False
        if stream is None:
            with open(self._path, "rb") as f:  # type: ignore[arg-type]
                head = f.read(6)
        else:
            head = stream.peek(6)[:6]  # type: ignore[attr-defined]
        self.compression = compression_of(head)

    @property
    def seekable(self) -> bool:
        return self._stream is None

    def _raw(self) -> BinaryIO:
        if self._path is not None:
            return open(self._path, "rb")
        return self._stream  # type: ignore[return-value]

    def open(self) -> BinaryIO:
        """A binary stream from the first byte, decompressed; close it when done."""
        if self._stream is not None:
            if self._opened:
                raise HandgradError(f"{self.name}: a pipe can be read only once")
            self._opened = True
        if self.compression is None:
            return self._raw()
        opener = _OPENERS[self.compression]
        if self._path is not None:
            return opener(self._path, "rb")  # type: ignore[return-value]
        return opener(self._stream, "rb")  # type: ignore[return-value]

    def open_text(self) -> io.TextIOWrapper:
        """:meth:`open` as UTF-8 text (a byte-order mark is skipped), newlines untranslated (as ``csv`` needs)."""
        return io.TextIOWrapper(self.open(), encoding="utf-8-sig", newline="")

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def __repr__(self) -> str:
        return f"InputSource({self.name!r}, compression={self.compression!r}, seekable={self.seekable})"


def open_input(path, *, passes: str = "many", error: type[HandgradError] = HandgradError) -> InputSource:
    """An :class:`InputSource` for ``path``: a file, ``-`` (standard input), a pipe or FIFO.

    Parameters
    ----------
    path : str or Path
    passes : {"many", "once"}
        ``"many"``: a non-seekable input (pipe, FIFO, standard input) is copied
        once to an anonymous temporary file that every pass reads again.
        ``"once"``: the reader makes a single pass (streaming prediction), so the
        pipe is read directly and nothing is copied.
    error : HandgradError subclass
        Raised for a directory.

    Raises
    ------
    error
        ``path`` is a directory.
    OSError
        It cannot be opened (FileNotFoundError, PermissionError).
    """
    name = os.fspath(path)
    if name == "-":
        stream, name = sys.stdin.buffer, "<stdin>"
    else:
        st = os.stat(name)  # FileNotFoundError / PermissionError name the path
        if stat.S_ISDIR(st.st_mode):
            raise error(f"{name}: is a directory, expected a file")
        if stat.S_ISREG(st.st_mode) and not _STREAM_NAME.match(name):
            return InputSource(name, name, None, None)
        stream = open(name, "rb")  # a pipe, FIFO or device: one pass only
    if not hasattr(stream, "peek"):
        stream = io.BufferedReader(stream)  # type: ignore[arg-type]
    if passes == "once":
        return InputSource(name, None, None, stream)
    # NOTE: on disk, not in memory (a pipe may carry gigabytes); removed when closed or collected.
    spool = tempfile.NamedTemporaryFile(prefix="handgrad-input-")
    try:
        shutil.copyfileobj(stream, spool, 1 << 20)
        spool.flush()
    except OSError as exc:
        spool.close()
        raise error(
            f"{name}: cannot keep a copy of this pipe in the temporary folder {tempfile.gettempdir()} "
            f"({exc.strerror or exc}); save it to a file first, or set TMPDIR to a folder with room"
        ) from None
    except BaseException:
        spool.close()
        raise
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    return InputSource(name, None, spool, None)
