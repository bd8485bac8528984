"""A journal of the cached program binaries a process hands to the OpenCL driver, so that a binary whose loading
killed the process (a driver abort cannot be caught: PoCL asserts on a truncated binary, Mali's
clCreateProgramWithBinary has segfaulted) is never loaded again.

Before a binary from the cache reaches the driver, its checksum is appended to this process's journal,
`<cache file>.loading.<pid>.<random>` in the storage dir, which the process keeps locked (flock) for as long as
it lives. The journal is removed once the binaries have proved themselves (the engine's first run finished:
Session.binaries_proved) or when the process exits normally. At the next start, a journal whose
lock can be taken was left by a process that died: the entries it names are dropped from the cache (rebuilt
from source, rewritten), that start loads no cached binary at all (program_cache.ProgramCache.distrusted: the
journal cannot name what the dead process had not reached) and the journal is removed at its save. A journal a
live process holds is left alone. Writes are plain write(2) calls: a process that dies keeps what it wrote, since
the kernel, not the process, holds the page cache."""
from __future__ import annotations

import atexit
import fcntl
import glob
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)
MAX_JOURNAL_BYTES = 1 << 20


_SHARED: dict[str, LoadJournal] = {}


def for_cache(cache_path: str | os.PathLike) -> LoadJournal:
    """This process's one journal for the cache file at `cache_path` (every engine of the process shares it)."""
    key = os.path.abspath(cache_path)
    if key not in _SHARED:
        _SHARED[key] = LoadJournal(cache_path)
    return _SHARED[key]


class LoadJournal:
    def __init__(self, cache_path: str | os.PathLike):
        self.cache_path = Path(cache_path)
        self._fd: int | None = None
        self.path: Path | None = None
        self._written: set[str] = set()

    @property
    def pattern(self) -> str:
        return glob.escape(str(self.cache_path)) + ".loading.*"

    def begin(self, checksum: bytes) -> None:
        """Record that the binary with this checksum is about to reach the driver. Never raises: without a
        journal (a read-only storage dir) pymace still runs, only without this protection."""
        digest = checksum.hex()
        if digest in self._written:
            return
        try:
            if self._fd is None:
                self._open()
            os.write(self._fd, (digest + "\n").encode())
            self._written.add(digest)
        except OSError as e:
            log.debug("no load journal in %s: %s", self.cache_path.parent, e)

    def _open(self) -> None:
        path = self.cache_path.with_name(f"{self.cache_path.name}.loading.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else can hold it
        self._fd, self.path = fd, path
        atexit.register(self.end)

    def end(self) -> None:
        """The binaries loaded so far proved themselves: remove the journal (idempotent)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass
        os.close(self._fd)
        self._fd, self.path = None, None
        self._written.clear()
        atexit.unregister(self.end)

    def stale(self) -> tuple[set[bytes], list[Path]]:
        """Checksums named by journals that dead processes left, and those journals' paths (for `clear`)."""
        found: set[bytes] = set()
        left: list[Path] = []
        mine = f".loading.{os.getpid()}."
        for name in glob.glob(self.pattern):
            path = Path(name)
            if mine in path.name:  # this process's own: alive by definition
                continue
            digests = _read_if_dead(path)
            if digests is not None:
                found |= digests
                left.append(path)
        return found, left

    @staticmethod
    def clear(paths: list[Path]) -> None:
        for path in paths:
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass


def _read_if_dead(path: Path) -> set[bytes] | None:
    """The checksums in the journal at `path` when no live process holds it, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # its process is alive and still loading
        data = os.read(fd, MAX_JOURNAL_BYTES)
    except OSError:
        return None
    finally:
        os.close(fd)
    found = set()
    for line in data.decode("ascii", "replace").split():
        try:
            found.add(bytes.fromhex(line))
        except ValueError:
            continue
    return found
