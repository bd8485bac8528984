"""The compiled-program cache, `<storage dir>/mace_cl_compiled_program.bin`; its bytes: docs/cache-format.md.

One file holds program binaries for any number of devices. An entry is handed out only when everything that
shapes a binary matches the running process (device, driver, platform, OpenCL C version, source hash, build
options, format version) and its SHA-256 still verifies at that moment; anything else is a miss with a reason
a person can act on. The file is untrusted: parsing is bounds-checked, a bad file costs a warning and a
rebuild, and saving merges with what other processes wrote, under a lock that dies with its process.
"""
import errno
import glob
import hashlib
import logging
import os
import struct
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import filelock

from pymace.formats import ByteReader, FormatError
from pymace.runtime.identity import DeviceIdentity

log = logging.getLogger(__name__)

MAGIC = b"MCLP"
FORMAT_VERSION = 0x00010000  # major.minor in 16+16 bits; any other value is a different format
# magic, version, entry count, file size, table offset, device count, device section offset, binaries offset
HEADER = struct.Struct("<4s7I")
DIGEST_SIZE = 32  # SHA-256
MIN_DEVICE_SIZE = 6 * 4  # six empty strings
MIN_RECORD_SIZE = 4 + 3 * 4 + 4 + 4 + DIGEST_SIZE
LOCK_TIMEOUT_S = 10.0


# The device and driver a binary is valid for: the one device identity (a cache file's readers know it by this
# name; compute units are not stored, and take no part in comparisons).
DeviceRecord = DeviceIdentity


# How a changed field reads in a miss reason (device name and vendor read as "another device").
_FIELD_LABELS = {"driver_version": "driver", "platform_name": "platform",
                 "platform_version": "platform version", "opencl_c_version": "OpenCL C version"}


@dataclass(frozen=True)
class Entry:
    device: DeviceRecord
    program: str
    source_hash: str
    options: str
    binary: bytes = field(repr=False)
    checksum: bytes = field(repr=False)  # as stored: SHA-256 over the key and the binary

    @property
    def key(self) -> tuple:
        return self.device, self.program, self.source_hash, self.options

    @property
    def slot(self) -> tuple:
        """Entries in one slot replace each other on save: a rebuilt program supersedes its stale binary,
        while other devices, platforms and option sets keep theirs."""
        return self.device.name, self.device.vendor, self.device.platform_name, \
            self.program, self.options

    def intact(self) -> bool:
        digest = entry_digest(self.device, self.program, self.source_hash, self.options, self.binary)
        return digest == self.checksum


def make_entry(device: DeviceRecord, program: str, source_hash: str, options: str, binary: bytes) -> Entry:
    binary = bytes(binary)
    return Entry(device, program, source_hash, options, binary,
                 entry_digest(device, program, source_hash, options, binary))


def entry_digest(device: DeviceRecord, program: str, source_hash: str, options: str, binary: bytes) -> bytes:
    key = b"".join(_text(s) for s in (*device.cache_fields(), program, source_hash, options))
    return hashlib.sha256(struct.pack("<I", FORMAT_VERSION) + key + binary).digest()


def mismatch_reasons(entry: Entry, device: DeviceRecord, source_hash: str | None = None,
                     options: str | None = None) -> list[str]:
    """Why `entry` cannot serve `device` (and, when given, this source hash and options); [] if it can."""
    stored = entry.device
    if (stored.name, stored.vendor) != (device.name, device.vendor):
        return [f"built for another device: {stored.name} ({stored.vendor})"]
    reasons = [f"{label} {getattr(stored, name)} → {getattr(device, name)}"
               for name, label in _FIELD_LABELS.items() if getattr(stored, name) != getattr(device, name)]
    if source_hash is not None and entry.source_hash != source_hash:
        reasons.append("source changed")
    if options is not None and entry.options != options:
        reasons.append(f"options differ: {entry.options!r} → {options!r}")
    return reasons


def _text(value: str) -> bytes:
    raw = value.encode("utf-8", "surrogatepass")
    return struct.pack("<I", len(raw)) + raw


def encode_cache_file(entries: Iterable[Entry]) -> bytes:
    entries = sorted(entries, key=lambda e: (e.program, e.options, e.device.cache_fields(), e.source_hash))
    devices = list(dict.fromkeys(e.device for e in entries))
    device_section = b"".join(_text(s) for d in devices for s in d.cache_fields())
    keys = [b"".join(_text(s) for s in (e.program, e.source_hash, e.options)) for e in entries]
    table_offset = HEADER.size + len(device_section)
    binary_offset = table_offset + sum(4 + len(k) + 8 + DIGEST_SIZE for k in keys)
    table, offset = [], binary_offset
    for entry, key in zip(entries, keys, strict=True):
        index = devices.index(entry.device)
        place = struct.pack("<II", offset, len(entry.binary))
        table.append(struct.pack("<I", index) + key + place + entry.checksum)
        offset += len(entry.binary)
    size = offset + DIGEST_SIZE
    if size >= 1 << 32:
        raise OSError(errno.EFBIG, f"a cache file of {size} bytes does not fit the format's 32-bit sizes")
    header = HEADER.pack(MAGIC, FORMAT_VERSION, len(entries), size, table_offset, len(devices), HEADER.size,
                         binary_offset)
    body = b"".join([header, device_section, *table, *(e.binary for e in entries)])
    return body + hashlib.sha256(body).digest()


@dataclass
class CacheFile:
    version: int | None = None
    devices: list[DeviceRecord] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # why the file is not fully usable; [] when it is
    foreign: bool = False  # not a pymace file of this version: keep a copy before replacing it


def parse_cache_file(data: bytes) -> CacheFile:
    """Read what can be read; never raises. Entries read before a structural problem are kept — their own
    checksums decide, at use, whether they are any good."""
    if not data:
        return CacheFile(problems=["empty file"])
    if data[:4] != MAGIC:
        return CacheFile(problems=[f"not a pymace cache (starts with {bytes(data[:8])!r})"], foreign=True)
    if len(data) < HEADER.size:
        return CacheFile(problems=[f"truncated header ({len(data)} of {HEADER.size} bytes)"])
    _, version, count, size, table_at, device_count, devices_at, binaries_at = HEADER.unpack_from(data)
    if version != FORMAT_VERSION:
        return CacheFile(version, problems=[f"format version 0x{version:08x}, this pymace reads "
                                            f"0x{FORMAT_VERSION:08x}"], foreign=True)
    cache = CacheFile(version)
    if size != len(data):
        cache.problems.append(f"size field says {size} bytes, the file has {len(data)} (truncated?)")
    elif hashlib.sha256(data[:-DIGEST_SIZE]).digest() != data[-DIGEST_SIZE:]:
        cache.problems.append("file checksum bad")
    # Binaries must not reach into the trailing hash (which only a file of the right size is known to have).
    binaries_end = len(data) - DIGEST_SIZE if size == len(data) else len(data)
    try:
        cache.devices = _read_devices(data, devices_at, device_count, table_at, cache)
        _read_table(data, table_at, count, (binaries_at, binaries_end), cache)
    except FormatError as error:
        cache.problems.append(str(error))
    cache.problems += [f"entry {i} ({e.program}) checksum bad" for i, e in enumerate(cache.entries)
                       if not e.intact()]
    return cache


def _read_devices(data: bytes, offset: int, count: int, table_at: int, cache: CacheFile) -> list[DeviceRecord]:
    reader = ByteReader(data, offset)
    if count * MIN_DEVICE_SIZE > reader.left:
        raise FormatError(f"device count {count} does not fit the file")
    devices = [DeviceRecord(*(reader.text(f"device {i} field") for _ in range(6))) for i in range(count)]
    if reader.offset != table_at:
        cache.problems.append(f"device section ends at {reader.offset}, the table starts at {table_at}")
    return devices


def _read_table(data: bytes, offset: int, count: int, binaries: tuple[int, int], cache: CacheFile) -> None:
    reader = ByteReader(data, offset)
    if count * MIN_RECORD_SIZE > reader.left:
        raise FormatError(f"entry count {count} does not fit the file")
    binaries_at, binaries_end = binaries
    for i in range(count):
        device_index = reader.u32(f"entry {i} device")
        program, source_hash, options = (reader.text(f"entry {i} {p}") for p in ("name", "hash", "options"))
        start, length = reader.u32(f"entry {i} binary offset"), reader.u32(f"entry {i} binary size")
        checksum = reader.take(DIGEST_SIZE, f"entry {i} checksum")
        if device_index >= len(cache.devices):
            cache.problems.append(f"entry {i} names device {device_index} of {len(cache.devices)}")
        elif not binaries_at <= start <= start + length <= binaries_end:
            cache.problems.append(f"entry {i} binary [{start}, {start + length}) lies outside the binaries")
        else:
            binary = bytes(data[start:start + length])
            cache.entries.append(Entry(cache.devices[device_index], program, source_hash, options, binary,
                                       bytes(checksum)))
    if reader.offset != binaries_at:
        cache.problems.append(f"the table ends at {reader.offset}, the binaries start at {binaries_at}")


def program_key(program: str, options: str) -> str:
    return f"{program} {options}" if options else program


class ProgramCache:
    """Program binaries for the running device, backed by one file shared by devices and processes."""
    FILE_NAME = "mace_cl_compiled_program.bin"

    def __init__(self, storage_dir: str | os.PathLike, device: DeviceRecord, file_name: str | None = None):
        self.path = Path(storage_dir) / (file_name or self.FILE_NAME)
        self.device = device
        self.hits = 0
        self.misses: list[tuple[str, str]] = []
        self.load_warning: str | None = None
        self._entries: dict[tuple, Entry] = {}
        self._new: dict[tuple, Entry] = {}
        self._rewrite = False  # the file on disk is damaged: replace it at the next save
        cache = self._read_disk()
        if cache is not None:
            self._entries = {e.key: e for e in cache.entries}
            if cache.problems:
                self.load_warning = "; ".join(cache.problems)
                self._rewrite = True
                log.warning("program cache %s not fully usable (%s); the programs affected are rebuilt from "
                            "source", self.path, self.load_warning)

    def lookup(self, program: str, source_hash: str, options: str) -> bytes | None:
        key = (self.device, program, source_hash, options)
        entry = self._entries.get(key)
        if entry is not None and entry.intact():  # verified now, right before the driver sees it
            self.hits += 1
            return entry.binary
        if entry is not None:
            del self._entries[key]
            reason = "checksum bad"
        else:
            reason = self._miss_reason(program, source_hash, options)
        self.misses.append((program_key(program, options), reason))
        log.debug("program cache miss for %s: %s", program_key(program, options), reason)
        return None

    def _miss_reason(self, program: str, source_hash: str, options: str) -> str:
        candidates = [mismatch_reasons(e, self.device, source_hash, options)
                      for e in self._entries.values() if e.program == program]
        if not candidates:
            return f"not in cache ({self.load_warning})" if self.load_warning else "not in cache"
        closest = min(candidates, key=lambda why: (bool(why) and why[0].startswith("built for"), len(why)))
        return "; ".join(closest) or "not in cache"

    def store(self, program: str, source_hash: str, options: str, binary: bytes) -> None:
        entry = make_entry(self.device, program, source_hash, options, binary)
        if self._entries.get(entry.key) != entry:
            self._entries[entry.key] = entry
            self._new[entry.slot] = entry

    def save(self) -> bool:
        """Merge new entries into the file on disk. False, with one warning, when that fails; never raises."""
        if not self._new and not self._rewrite:
            return True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with filelock.FileLock(str(self.path) + ".lock", timeout=LOCK_TIMEOUT_S):
                self._remove_leftover_temp_files()
                merged = {e.slot: e for e in self._read_for_merge() if e.intact()}
                merged.update(self._new)
                write_atomically(self.path, encode_cache_file(merged.values()))
        except (OSError, filelock.Timeout) as error:
            log.warning("could not save the program cache %s: %s; this run goes on without saving",
                        self.path, error)
            return False
        self._new.clear()
        self._rewrite = False
        return True

    def _read_disk(self) -> CacheFile | None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            return CacheFile(problems=[f"cannot read: {error.strerror or error}"])
        return parse_cache_file(data)

    def _read_for_merge(self) -> list[Entry]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        # An unreadable file raised OSError above: better not to save than to lose what it holds.
        cache = parse_cache_file(data)
        if cache.foreign:
            backup = self.path.with_name(f"{self.path.name}.{hashlib.sha256(data).hexdigest()[:12]}.bak")
            if not backup.exists():
                write_atomically(backup, data)
            log.warning("%s is not a pymace cache of this version (%s); kept it as %s",
                        self.path, "; ".join(cache.problems), backup.name)
        return cache.entries

    def _remove_leftover_temp_files(self) -> None:
        # Called with the lock held: no live writer has a temp file open, so any left is from a killed one.
        for leftover in self.path.parent.glob(glob.escape(self.path.name) + ".*.tmp"):
            try:
                leftover.unlink()
            except OSError:
                pass


def merge_into_file(path: str | os.PathLike, entries: Iterable[Entry]) -> bool:
    """Merge entries of any devices (e.g. gathered from a fleet's nodes) into the cache file at `path`, with a
    save's lock and atomic replace: every given entry is kept (two drivers of one device included), and an entry
    on disk stays unless a given one takes its slot. False, with one warning, when that fails; never raises."""
    path = Path(path)
    new = {e.key: e for e in entries}
    taken = {e.slot for e in new.values()}
    cache = ProgramCache(path.parent, None, path.name)  # no device of its own: only its reading and locking
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with filelock.FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S):
            cache._remove_leftover_temp_files()
            kept = {e.key: e for e in cache._read_for_merge() if e.intact() and e.slot not in taken}
            write_atomically(path, encode_cache_file([*kept.values(), *new.values()]))
    except (OSError, filelock.Timeout) as error:
        log.warning("could not merge into the program cache %s: %s", path, error)
        return False
    return True


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


def source_hash(source: str) -> str:
    """SHA-256 (hex) of a program's full source text, includes already inlined."""
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


def no_other_caches_env() -> dict[str, str]:
    """Environment that switches off the binary caches below pymace's own (pyopencl, PoCL, NVIDIA), so that a
    cold start measured with it is really cold. Set it before the OpenCL driver is loaded."""
    return {"PYOPENCL_NO_CACHE": "1", "POCL_KERNEL_CACHE": "0", "CUDA_CACHE_DISABLE": "1"}


__all__ = ["DeviceRecord", "ProgramCache", "source_hash", "no_other_caches_env", "parse_cache_file",
           "encode_cache_file", "make_entry", "merge_into_file", "mismatch_reasons", "CacheFile", "Entry",
           "FORMAT_VERSION"]
