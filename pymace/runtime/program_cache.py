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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pymace.formats import ByteReader, FormatError
from pymace.runtime import load_journal
from pymace.runtime.binary_probe import ProvenLedger
from pymace.runtime.identity import DeviceIdentity
from pymace.runtime.load_journal import LoadJournal
from pymace.safe_io import NotRegularFileError, read_bounded, shorten, write_atomically
from pymace.trust import storage_dir_problem

log = logging.getLogger(__name__)

MAGIC = b"MCLP"
FORMAT_VERSION = 0x00010000  # major.minor in 16+16 bits; any other value is a different format
# magic, version, entry count, file size, table offset, device count, device section offset, binaries offset
HEADER = struct.Struct("<4s7I")
DIGEST_SIZE = 32  # SHA-256
MIN_DEVICE_SIZE = 6 * 4  # six empty strings
MIN_RECORD_SIZE = 4 + 3 * 4 + 4 + 4 + DIGEST_SIZE
LOCK_TIMEOUT_S = 10.0
MAX_FILE_BYTES = 1 << 32  # the format's 32-bit sizes: no pymace cache is larger


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
    binary: bytes | memoryview = field(repr=False)  # a view into the file it was read from, or its own bytes
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
        """The stored checksum matches the entry (computed once: the binary is immutable bytes, or a view of them)."""
        known = self.__dict__.get("_intact")
        if known is None:
            digest = entry_digest(self.device, self.program, self.source_hash, self.options, self.binary)
            known = self.__dict__["_intact"] = digest == self.checksum
        return known


def make_entry(device: DeviceRecord, program: str, source_hash: str, options: str, binary: bytes) -> Entry:
    binary = bytes(binary)
    return Entry(device, program, source_hash, options, binary,
                 entry_digest(device, program, source_hash, options, binary))


def entry_digest(device: DeviceRecord, program: str, source_hash: str, options: str, binary: bytes) -> bytes:
    key = b"".join(_text(s) for s in (*device.cache_fields(), program, source_hash, options))
    h = hashlib.sha256(struct.pack("<I", FORMAT_VERSION) + key)
    h.update(binary)  # no copy of the binary
    return h.digest()


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
    structural: bool = False  # the header or the table is damaged: keep a copy before replacing it


def parse_cache_file(data: bytes) -> CacheFile:
    """Read what can be read; never raises. Entries read before a structural problem are kept — their own
    checksums decide, at use, whether they are any good — and when the header or the table is damaged, the
    table is walked again from where pymace writes it, to salvage every intact entry (other devices' too).
    Binaries are views into `data`, never copies, and may not overlap: the file's size bounds the memory."""
    cache = _parse(memoryview(data))
    if cache.structural:
        _salvage(memoryview(data), cache)
    cache.problems += [f"entry {i} ({e.program}) checksum bad" for i, e in enumerate(cache.entries)
                       if not e.intact()]
    return cache


def _parse(data: memoryview) -> "CacheFile":
    if not data:
        return CacheFile(problems=["empty file"])
    if bytes(data[:4]) != MAGIC:
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
        cache.structural = True
    elif hashlib.sha256(data[:-DIGEST_SIZE]).digest() != bytes(data[-DIGEST_SIZE:]):
        cache.problems.append("file checksum bad")
    # Binaries must not reach into the trailing hash (which only a file of the right size is known to have).
    binaries_end = len(data) - DIGEST_SIZE if size == len(data) else len(data)
    try:
        cache.devices = _read_devices(data, devices_at, device_count, table_at, cache)
        _read_table(data, table_at, count, (binaries_at, binaries_end), cache)
    except FormatError as error:
        cache.problems.append(str(error))
        cache.structural = True
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
    ranges: list[tuple[int, int, int]] = []  # (start, end, entry number) of each binary taken
    for i in range(count):
        device_index = reader.u32(f"entry {i} device")
        program, source_hash, options = (reader.text(f"entry {i} {p}") for p in ("name", "hash", "options"))
        start, length = reader.u32(f"entry {i} binary offset"), reader.u32(f"entry {i} binary size")
        checksum = reader.take(DIGEST_SIZE, f"entry {i} checksum")
        if device_index >= len(cache.devices):
            cache.problems.append(f"entry {i} names device {device_index} of {len(cache.devices)}")
            cache.structural = True
        elif not binaries_at <= start <= start + length <= binaries_end:
            cache.problems.append(f"entry {i} binary [{start}, {start + length}) lies outside the binaries")
        elif length and _overlaps(ranges, start, start + length):
            cache.problems.append(f"entry {i} binary [{start}, {start + length}) overlaps another entry's")
        else:
            if length:
                ranges.append((start, start + length, i))
            cache.entries.append(Entry(cache.devices[device_index], program, source_hash, options,
                                       data[start:start + length], bytes(checksum)))
    if reader.offset != binaries_at:
        cache.problems.append(f"the table ends at {reader.offset}, the binaries start at {binaries_at}")
        cache.structural = True


def _overlaps(ranges: list[tuple[int, int, int]], start: int, end: int) -> bool:
    """Whether [start, end) overlaps a binary already taken. Files pymace writes hold binaries in table order, so
    the last range decides; any other layout is checked against every range (bounded: a file of n bytes holds
    at most n / MIN_RECORD_SIZE records)."""
    if not ranges or start >= ranges[-1][1]:
        return False
    return any(s < end and start < e for s, e, _ in ranges)


def _salvage(data: memoryview, cache: "CacheFile") -> None:
    """Walk the device section and the table again from where pymace writes them (right after the header), with
    every plausible device count, and add the intact entries the damaged header or table hid."""
    have = {bytes(e.checksum) for e in cache.entries}
    best: list[Entry] = []
    for device_count in range(1, 65):
        reader = ByteReader(data, HEADER.size)
        try:
            devices = [DeviceRecord(*(reader.text("device field") for _ in range(6))) for _ in range(device_count)]
        except FormatError:
            break
        found = _walk_records(data, reader, devices)
        if len(found) > len(best):
            best = found
    added = [e for e in best if bytes(e.checksum) not in have and e.intact()]
    if added:
        cache.entries += added
        cache.devices += [d for d in dict.fromkeys(e.device for e in added) if d not in cache.devices]
        cache.problems.append(f"{len(added)} intact entries salvaged past the damage")


def _walk_records(data: memoryview, reader: ByteReader, devices: list) -> list[Entry]:
    """Records from `reader` on, while they parse and point at binaries inside the file."""
    found: list[Entry] = []
    end = len(data) - DIGEST_SIZE
    while reader.left >= MIN_RECORD_SIZE:
        try:
            index = reader.u32("device")
            program, source_hash, options = (reader.text("field") for _ in range(3))
            start, length = reader.u32("offset"), reader.u32("size")
            checksum = reader.take(DIGEST_SIZE, "checksum")
        except FormatError:
            break
        if index >= len(devices) or not 0 < start <= start + length <= end:
            break
        found.append(Entry(devices[index], program, source_hash, options, data[start:start + length],
                           bytes(checksum)))
    return found


def summarize(problems: list[str], most: int = 5) -> str:
    """At most `most` problems, then how many more, in a line of bounded length."""
    text = "; ".join(problems[:most]) + (f"; and {len(problems) - most} more" if len(problems) > most else "")
    return shorten(text)


_WARNED_DIRS: set[str] = set()


def _warn_storage_dir(folder: Path) -> None:
    """Once per process and folder: say who else could plant code in a storage dir (docs/security.md)."""
    key = os.path.realpath(folder)
    if key in _WARNED_DIRS:
        return
    _WARNED_DIRS.add(key)
    problem = storage_dir_problem(folder)
    if problem:
        log.warning("storage dir %s is %s: whoever can write it can run code in every pymace process that loads "
                    "its compiled programs (docs/security.md)", folder, problem)


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
        self.journal = load_journal.for_cache(self.path)
        self.proven = ProvenLedger(self.path)  # binaries that loaded on this machine (runtime/binary_probe.py)
        self._poisoned, self._stale_journals = self.journal.stale()
        _warn_storage_dir(self.path.parent)
        cache = self._read_disk()
        if cache is not None:
            self._entries = {e.key: e for e in cache.entries if bytes(e.checksum) not in self._poisoned}
            if cache.problems:
                self.load_warning = summarize(cache.problems)
                self._rewrite = True
                log.warning("program cache %s not fully usable (%s); the programs affected are rebuilt from "
                            "source", self.path, self.load_warning)
        # A process died while loading this file's binaries. Its journal names what it had handed to the driver
        # by then, not what it would have loaded next: another hostile entry it never reached would kill this
        # start too. So this start loads none of the file's binaries (it rebuilds what it needs, replacing those
        # entries); the next one trusts the file again, less the entries the journal names.
        self.distrusted = bool(self._poisoned)
        if self._poisoned:
            self._rewrite = True
            log.warning("an earlier pymace process died while loading %d cached program(s) from %s; this start "
                        "loads none of the file's binaries (the programs it needs are rebuilt from source), and "
                        "those are never loaded again", len(self._poisoned), self.path)

    @property
    def needs_save(self) -> bool:
        """New entries to merge, or a damaged (or poisoned) file on disk to rewrite clean."""
        return bool(self._new or self._rewrite)

    def loaded_ok(self) -> None:
        """The binaries handed out so far proved themselves (a run finished): forget them in the journal."""
        self.journal.end()

    def peek(self, program: str, source_hash: str, options: str) -> Entry | None:
        """The intact entry a lookup would hand out, without handing it out (nothing counted or journalled)."""
        entry = self._entries.get((self.device, program, source_hash, options))
        return entry if entry is not None and not self.distrusted and entry.intact() else None

    def lookup(self, program: str, source_hash: str, options: str) -> bytes | None:
        key = (self.device, program, source_hash, options)
        entry = self._entries.get(key)
        if entry is not None and self.distrusted:
            self.misses.append((program_key(program, options), "not loaded: an earlier process died while loading "
                                                               "this file's binaries"))
            return None
        if entry is not None and entry.intact():  # verified now, right before the driver sees it
            self.hits += 1
            self.journal.begin(entry.checksum)  # should the driver kill us, the next start skips it
            return bytes(entry.binary)  # the one copy: of a binary that is used
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

    def store(self, program: str, source_hash: str, options: str, binary: bytes) -> Entry:
        entry = make_entry(self.device, program, source_hash, options, binary)
        if self._entries.get(entry.key) != entry:
            self._entries[entry.key] = entry
            self._new[entry.slot] = entry
        return entry

    def entries(self) -> dict[tuple, Entry]:
        """Every entry read from the file or stored since, by key (device, program, source hash, options)."""
        return dict(self._entries)

    def add_entries(self, entries: Iterable[Entry]) -> None:
        """Entries, of any device, to merge into the file at the next save (`pymace cache export/import`)."""
        for entry in entries:
            self._entries[entry.key] = entry
            self._new[entry.slot] = entry

    def save(self) -> bool:
        """Merge new entries into the file on disk. False, with one warning, when that fails; never raises."""
        if not self._new and not self._rewrite:
            return True
        import filelock  # imported on a save only: a warm start saves nothing
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with filelock.FileLock(str(self.path) + ".lock", timeout=LOCK_TIMEOUT_S):
                self._remove_leftover_temp_files()
                merged = {e.slot: e for e in self._read_for_merge()
                          if e.intact() and bytes(e.checksum) not in self._poisoned}
                merged.update(self._new)
                write_atomically(self.path, encode_cache_file(merged.values()))
                LoadJournal.clear(self._stale_journals)
        except (OSError, filelock.Timeout) as error:
            log.warning("could not save the program cache %s: %s; this run goes on without saving",
                        self.path, error)
            return False
        self._new.clear()
        self._rewrite = False
        return True

    def _read_disk(self) -> CacheFile | None:
        try:
            data = read_bounded(self.path, MAX_FILE_BYTES)  # a FIFO or /dev/zero is refused, not read
        except FileNotFoundError:
            return None
        except OSError as error:
            return CacheFile(problems=[f"cannot read: {error.strerror or error}"])
        return parse_cache_file(data)

    def _read_for_merge(self) -> list[Entry]:
        try:
            data = read_bounded(self.path, MAX_FILE_BYTES)
        except (FileNotFoundError, NotRegularFileError):
            return []  # nothing a reader could use: a regular file replaces it
        # Any other unreadable file raises OSError here: better not to save than to lose what it holds.
        cache = parse_cache_file(data)
        if cache.problems:  # a damaged or foreign file: what the merge cannot use stays in the one backup
            backup = self.path.with_name(f"{self.path.name}.bak")
            write_atomically(backup, data)
            log.warning("%s %s (%s); kept it as %s", self.path,
                        "is not a pymace cache of this version" if cache.foreign else "is damaged",
                        summarize(cache.problems), backup.name)
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
    import filelock
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


def source_hash(source: str) -> str:
    """SHA-256 (hex) of a program's full source text, includes already inlined."""
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


__all__ = ["DeviceRecord", "ProgramCache", "source_hash", "parse_cache_file",
           "encode_cache_file", "make_entry", "merge_into_file", "mismatch_reasons", "CacheFile", "Entry",
           "FORMAT_VERSION"]
