"""Cached binaries tried in another process before this one hands them to its driver.

A driver cannot be trusted to refuse a damaged binary: PoCL aborts (SIGABRT) on a truncated one, Mali's
clCreateProgramWithBinary has segfaulted. The load journal (runtime/load_journal.py) makes the start after such a
death succeed; this module keeps the start itself alive. A binary of the cache that has never loaded on this
machine — a cache file shipped from elsewhere, imported, copied in, or written before this ledger existed — is
first loaded by a probe process (runtime/build_worker.py): program built from the binary, the identity kernel
found, every kernel created. Only the binaries it survived reach this process; one that killed it or that it
refused is a miss, rebuilt from source and rewritten.

What loaded once is remembered in a ledger beside the cache file, `<cache file>.proven`: one hex checksum
(the entry's SHA-256 over key and binary) a line, appended. Binaries this machine's driver made (built from
source here or by a build worker) go in as they are stored; probed ones as they pass. So a warm start from a
cache this machine wrote starts no probe. The ledger is as trusted as the cache file beside it (whoever can write
one can write the other: docs/security.md); it is bounded (a larger file is started afresh) and a line that is
not a checksum is ignored."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from ..safe_io import read_bounded, write_atomic

log = logging.getLogger(__name__)
MAX_LEDGER_LINES = 20_000  # a checksum is 65 bytes a line: ~1.3 MB; past it the ledger starts afresh
_LINE = 65


class ProvenLedger:
    """The checksums of cached binaries that have loaded on this machine (see the module's docstring)."""

    def __init__(self, cache_path: str | os.PathLike):
        self.path = Path(str(cache_path) + ".proven")
        self._known: set[bytes] | None = None  # read at first use: a start with no cache file never reads it

    def _read(self) -> set[bytes]:
        try:
            data = read_bounded(self.path, MAX_LEDGER_LINES * _LINE)
        except OSError:  # absent, too large, not a regular file: nothing proven
            return set()
        found = set()
        for line in data.decode("ascii", "replace").split():
            if len(line) == 2 * 32:
                try:
                    found.add(bytes.fromhex(line))
                except ValueError:
                    continue
        return found

    @property
    def known(self) -> set[bytes]:
        if self._known is None:
            self._known = self._read()
        return self._known

    def has(self, checksum: bytes) -> bool:
        return bytes(checksum) in self.known

    def add(self, checksums) -> None:
        """Remember these checksums (appended; the ledger rewritten afresh when it would pass its bound). Never
        raises: without a ledger a start only probes again."""
        new = [bytes(c) for c in checksums if bytes(c) not in self.known]
        if not new:
            return
        self.known.update(new)
        lines = "".join(c.hex() + "\n" for c in new).encode()
        try:
            if self._size() + len(lines) > MAX_LEDGER_LINES * _LINE:
                write_atomic(self.path, lines, 0o644)
                self._known = set(new)
                return
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, lines)  # one write: appends don't interleave
            finally:
                os.close(fd)
        except OSError as error:
            log.debug("cannot write the proven-binaries ledger %s: %s", self.path, error)

    def _size(self) -> int:
        try:
            return self.path.lstat().st_size
        except OSError:
            return 0


def probe(device, jobs: list[tuple], storage_dir: str | os.PathLike) -> dict:
    """Load each job's binary in a probe process: jobs are (key, binary, options, identity kernel name). Returns
    key → None when it loaded there, or the reason it did not (refused, or it killed the probe); a key missing
    from the result could not be tried (no probe process would start): the caller loads it as before, under the
    load journal's protection. After a death the driver caches of `storage_dir` are emptied: a driver unpacks a
    binary there before it dies on it, and a build of that program from source would find it."""
    from . import driver_caches
    from .parallel_build import Worker

    verdicts: dict = {}
    pending = list(jobs)
    while pending:
        worker = Worker(device)
        try:
            if not worker.ready():
                log.debug("no probe process: %d cached binaries load unprobed", len(pending))
                return verdicts
            while pending:
                key, binary, options, identity = pending[0]
                reply = worker.probe(binary, options, identity)
                if reply is None:  # the probe died on it: the next binaries go to a new one
                    verdicts[key] = f"loading it killed a probe process ({worker.exit_reason()})"
                    pending.pop(0)
                    driver_caches.clear(storage_dir)
                    break
                verdicts[key] = reply.get("refused")
                pending.pop(0)
        finally:
            worker.close()
    return verdicts


__all__ = ["ProvenLedger", "probe"]
