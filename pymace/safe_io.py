"""Reading untrusted files with bounded memory, and writing outputs atomically.

Every file pymace reads may come from someone else (a model, a shipped cache, a tuning file, a YAML): reads open
with O_NONBLOCK (a FIFO then cannot block the open), refuse anything `fstat` does not call a regular file (a FIFO,
/dev/zero, a directory), and take at most `limit` bytes — a file that holds more is refused, never read on.
Outputs are written to a fresh temp file in the target's folder (O_EXCL|O_NOFOLLOW, a random name: a planted
symlink is never written through), flushed, fsynced and renamed over the target, so a reader sees the old file or
the new one, never half of one."""
from __future__ import annotations

import errno
import io
import os
import re
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

WARNING_CHARS = 400  # a warning line longer than this is cut (a damaged file can name thousands of entries)
NPY_DTYPES = frozenset("bool int8 int16 int32 int64 uint8 uint16 uint32 uint64 float16 float32 float64".split())


class NotRegularFileError(OSError):
    """The path is a FIFO, a device, a socket or a directory: nothing pymace reads as a file."""


class FileTooLargeError(OSError):
    """The file holds more bytes than the reader accepts."""


def open_regular(path: str | os.PathLike, limit: int | None = None) -> io.BufferedReader:
    """A binary reader on the regular file at `path` (symlinks followed, as `open` does), checked before a byte is
    read: its size must be at most `limit` (None: any size). OSError (FileNotFoundError, NotRegularFileError,
    FileTooLargeError, …) otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise NotRegularFileError(errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EINVAL, kind, str(path))
        if limit is not None and st.st_size > limit:
            raise FileTooLargeError(errno.EFBIG, f"{st.st_size} bytes, more than the {limit} accepted", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path: str | os.PathLike, limit: int) -> bytes:
    """The whole regular file at `path`, which must hold at most `limit` bytes. Reads at most limit + 1 bytes even
    when the file grows while it is read. The buffer asked for is the file's size, not the limit: `read(n)`
    allocates n bytes up front, and a 4 GiB limit (the program cache's) was a MemoryError on a machine with less
    memory than that, for a file of a few KB."""
    with open_regular(path, limit) as f:
        size = os.fstat(f.fileno()).st_size
        chunks = [f.read(min(size, limit) + 1)]
        got = len(chunks[0])
        while size < got <= limit:  # the file grew while it was read: on, a MiB at a time, to limit + 1 at most
            more = f.read(min(1 << 20, limit + 1 - got))
            if not more:
                break
            chunks.append(more)
            got += len(more)
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if len(data) > limit:
        raise FileTooLargeError(errno.EFBIG, f"more than the {limit} bytes accepted", str(path))
    return data


def read_text_bounded(path: str | os.PathLike, limit: int) -> str:
    """read_bounded, decoded as UTF-8 (UnicodeDecodeError, a ValueError, when it is not)."""
    return read_bounded(path, limit).decode("utf-8")


def shorten(text: str, limit: int = WARNING_CHARS) -> str:
    """`text` cut to about `limit` characters, saying how much was left out."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


# --- .npy from untrusted bytes ------------------------------------------------------------------------------
# np.save's own version 1.0 header, the only form pymace writes: matched whole by one bounded pattern (no
# literal_eval; numpy's parser costs ~50 µs a header, 5 ms of a MobileNetV2 load). It accepts only headers that
# numpy reads the same way (ints without leading zeros, as Python literals need); any other header goes to numpy.
_DIM = rb"(?:0|[1-9][0-9]{0,19})"
_NPY_HEADER = re.compile(rb"\{'descr': '([<>|][a-z][0-9]{1,2})', 'fortran_order': (False|True), 'shape': \((|"
                         + _DIM + rb",|" + _DIM + rb"(?:, " + _DIM + rb")+)\), \} *\n")
_NPY_MAX_HEADER = 10000  # numpy's max_header_size: a longer header goes to numpy, which refuses it


def _npy_header(view: memoryview) -> tuple[tuple, bool, np.dtype, int]:
    """(shape, fortran order, dtype, offset of the data) of the .npy bytes `view`."""
    if view[:8] == b"\x93NUMPY\x01\x00" and len(view) >= 10:
        end = 10 + int.from_bytes(view[8:10], "little")
        m = _NPY_HEADER.fullmatch(view[10:end]) if end <= min(len(view), 10 + _NPY_MAX_HEADER) else None
        if m is not None:
            dims = m.group(3).replace(b",", b" ").split()
            return tuple(int(d) for d in dims), m.group(2) == b"True", np.dtype(m.group(1).decode()), end
    f = io.BytesIO(view[:min(len(view), 65536 + 16)])  # the header alone (numpy caps it well below 64 KiB)
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version in ((2, 0), (3, 0)):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f"npy format version {version}")
    return shape, fortran, dtype, f.tell()


def npy_from_buffer(buf, what: str) -> np.ndarray:
    """The array in `.npy` bytes `buf` (bytes, bytearray or memoryview), refused with ValueError (naming `what`)
    unless its header is a plain numeric dtype whose element count matches exactly the bytes that follow: a
    header claiming 10¹² elements is refused before anything is allocated. A writable `buf` gives a writable
    array without a copy."""
    view = memoryview(buf).cast("B")
    try:
        shape, fortran, dtype, offset = _npy_header(view)
    except Exception as e:  # numpy's header parser raises ValueError, SyntaxError, TokenError, EOFError, …
        raise ValueError(f"{what}: not a readable .npy array ({type(e).__name__}: {str(e)[:80]})") from None
    if dtype.hasobject or dtype.fields is not None or dtype.name not in NPY_DTYPES:
        raise ValueError(f"{what}: .npy element type {dtype} is not a number type pymace reads "
                         f"({', '.join(sorted(NPY_DTYPES))})")
    count = 1
    for d in shape:
        count *= int(d)
    body = len(view) - offset
    if count * dtype.itemsize != body:
        raise ValueError(f"{what}: .npy header claims {count} elements of {dtype} ({count * dtype.itemsize} bytes), "
                         f"{body} bytes follow it")
    flat = np.frombuffer(view, dtype=dtype, count=count, offset=offset)
    return flat.reshape(shape, order="F" if fortran else "C")


def load_npy(path: str | os.PathLike, limit: int | None = None) -> np.ndarray:
    """An .npy file (a regular file, of at most `limit` bytes when given) as a writable array whose header
    matches the file's size; ValueError or OSError."""
    with open_regular(path, limit) as f:
        size = os.fstat(f.fileno()).st_size
        buf = bytearray(size)
        got = f.readinto(buf)
    if got != size:
        raise ValueError(f"{path}: changed while it was read")
    return npy_from_buffer(buf, str(path))


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asanyarray(array), allow_pickle=False)
    return buf.getvalue()


# --- atomic outputs -------------------------------------------------------------------------------------------
_UMASK: list[int] = []


def _umask() -> int:
    if not _UMASK:  # read once: setting it back at once is the only way to read it
        old = os.umask(0o022)
        os.umask(old)
        _UMASK.append(old)
    return _UMASK[0]


@contextmanager
def atomic_writer(path: str | os.PathLike, mode: int = 0o666):
    """A binary file to write `path`'s new content into; on a clean exit it is fsynced and renamed over `path`
    (a symlink planted at `path` is replaced, not followed); on an exception it is removed and `path` is left as
    it was. The folder must exist."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # O_EXCL|O_NOFOLLOW
    try:
        f = os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        with f:
            os.fchmod(f.fileno(), mode & ~_umask())
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, data: bytes, mode: int = 0o666) -> None:
    with atomic_writer(path, mode) as f:
        f.write(data)


def write_new(path: str | os.PathLike, data: bytes, mode: int = 0o666) -> None:
    """Write `data` to `path`, which must not exist (FileExistsError — a symlink, dangling or not, exists): written
    to a temp file and hard-linked into place, so `path` appears complete or not at all and nothing is written
    through a link planted there."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode & ~_umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path, follow_symlinks=False)
    finally:
        Path(tmp).unlink(missing_ok=True)


def save_npy_atomic(path: str | os.PathLike, array: np.ndarray) -> None:
    with atomic_writer(path) as f:
        np.save(f, np.asanyarray(array), allow_pickle=False)


def write_atomically(path: Path, data: bytes) -> None:
    """Temp file in the same directory, fsync, rename: readers see the old file or the new one, never half."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fchmod(fd, 0o644)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(temp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        Path(temp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable; not every filesystem lets a directory be fsynced
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
