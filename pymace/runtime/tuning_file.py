"""Tuned launch parameters, `<storage dir>/pymace_tuned_params.json`; the format: docs/tuning-format.md.

Two kinds of record: the local work size of a launch, and the variant of a node whose op offers several (kernel,
tile, split of K…; ops/base.py LaunchContext.choose). Kept apart from the program cache on purpose: a local work
size or a variant measured on a device stays good across driver updates, so entries are keyed by the device
*class* (name, vendor, compute units, platform name — not the driver version) and then by the launch's tuning key
(kernel, build options, global size) or the node's choice key (op, shapes, geometry, data type). One file serves
any number of devices. The file is untrusted input: every field is checked, a bad entry is skipped and a bad file
refused, each with a named reason in `load_warning` and a logging warning; opening never raises, so a run goes on
with the defaults. Saving merges with what other processes wrote, under a lock, by atomic replace.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from ..safe_io import NotRegularFileError, read_bounded, shorten, write_atomically
from .identity import DeviceIdentity
from .program_cache import LOCK_TIMEOUT_S
from .tuning_records import LocalSizeRecord, Record, TuningError, VariantRecord, check_text, expect, record_from_json

log = logging.getLogger(__name__)

FILE_NAME = "pymace_tuned_params.json"
FORMAT = "pymace tuned parameters"
VERSION = 3  # 2 added variant-choice records; 3 put the kernels' integer arguments into local-size keys
ARGS_KEYED = 3  # local-size records of older files are keyed without them: not used (their variants are)
MAX_FILE_BYTES = 32 << 20
MAX_KEY_CHARS = 4096


def device_class(device: DeviceIdentity) -> dict:
    """What tuned values are valid for: the identity's tuning class (its compute units None match any count)."""
    return device.tuning_class()


def describe_class(cls: dict) -> str:
    units = f", {cls['compute_units']} compute units" if cls.get("compute_units") is not None else ""
    return f"{cls['name']} ({cls['vendor']}{units}, {cls['platform']})"


def same_class(stored: dict, wanted: dict) -> bool:
    if wanted.get("compute_units") is not None and stored["compute_units"] != wanted["compute_units"]:
        return False
    return all(stored[k] == wanted[k] for k in ("name", "vendor", "platform"))


def _key_dims(key: str) -> int | None:
    """How many dimensions the global size in a tuning key has (`… gws=AxBxC`), None if it does not say."""
    tail = key.rsplit("gws=", 1)
    return len(tail[1].split("x")) if len(tail) == 2 and tail[1] else None


def parse(data: bytes) -> tuple[list[tuple[dict, dict[str, Record]]], list[str]]:
    """([(device class, {key: record})], problems). A problem with the file as a whole (not JSON, another
    format, a future version) leaves no sections; a bad section or entry is skipped and named."""
    if len(data) > MAX_FILE_BYTES:
        return [], [f"corrupt: {len(data)} bytes, more than the {MAX_FILE_BYTES} a tuning file may have"]
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return [], [f"corrupt: not JSON ({str(error)[:120]})"]
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return [], [f"corrupt: not a {FORMAT} file"]
    version = doc.get("version")
    if type(version) is not int or version < 1:
        return [], [f"corrupt: version {str(version)[:40]!r}"]
    if version > VERSION:
        return [], [f"future version {version} (this pymace reads versions 1 to {VERSION})"]
    devices = doc.get("devices")
    if not isinstance(devices, list):
        return [], ["corrupt: no list of devices"]
    sections, problems = [], []
    for i, section in enumerate(devices):
        try:
            sections.append(_section(section, f"devices[{i}]", problems))
        except TuningError as error:
            problems.append(f"corrupt: {error}")
    if version < ARGS_KEYED:
        stale = sum(isinstance(r, LocalSizeRecord) for _, entries in sections for r in entries.values())
        sections = [(cls, {k: r for k, r in entries.items() if isinstance(r, VariantRecord)})
                    for cls, entries in sections]
        if stale:
            problems.append(f"version {version}: its {stale} local sizes are keyed without the kernels' integer "
                            f"arguments and are not used (pymace tune measures them again)")
    return sections, problems


def _section(section, what: str, problems: list[str]) -> tuple[dict, dict]:
    expect(isinstance(section, dict), f"{what} is not an object")
    raw = section.get("device")
    expect(isinstance(raw, dict), f"{what}.device is not an object")
    cls = {k: check_text(raw.get(k), f"{what}.device.{k}") for k in ("name", "vendor", "platform")}
    units = raw.get("compute_units")
    expect(type(units) is int and 0 <= units < 1 << 31, f"{what}.device.compute_units is not a count")
    cls["compute_units"] = units
    entries = section.get("entries")
    expect(isinstance(entries, dict), f"{what}.entries is not an object")
    good = {}
    for key, record in entries.items():
        try:
            expect(len(key) <= MAX_KEY_CHARS, f"{what}: a key longer than {MAX_KEY_CHARS} chars")
            record = record_from_json(record, f"{what}.entries[{key[:80]!r}]")
            dims = _key_dims(key)
            sizes = (record.lws, record.default_lws) if isinstance(record, LocalSizeRecord) else ()
            expect(dims is None or all(len(lws) == dims for lws in sizes if lws is not None),
                    f"{what}.entries[{key[:80]!r}]: the local size has not the {dims} dimensions of the key")
            good[key] = record
        except TuningError as error:
            problems.append(f"corrupt: {error}")
    return cls, good


def encode(sections: list[tuple[dict, dict[str, Record]]]) -> bytes:
    doc = {"format": FORMAT, "version": VERSION,
           "devices": [{"device": cls, "entries": {k: r.to_json() for k, r in sorted(entries.items())}}
                       for cls, entries in sections]}
    return (json.dumps(doc, indent=1, sort_keys=False) + "\n").encode()


# ---- the file, as the engine and the tuner use it ----

class TuningFile:
    """The tuned values of one device class: local sizes (`get`) and variants (`get_choice`) by key."""

    def __init__(self, path: Path, device_cls: dict, entries: dict[str, Record], load_warning: str | None):
        self.path, self.device_class = path, device_cls
        self.entries: dict[str, Record] = entries
        self.load_warning = load_warning
        self.save_warning: str | None = None  # why the last save failed
        self._new: dict[str, Record] = {}

    @classmethod
    def open(cls, storage_dir, device: DeviceIdentity) -> TuningFile:
        """The entries for `device`'s class from `<storage_dir>/pymace_tuned_params.json`. Never raises for what
        the file holds (or fails to hold): the reason lands in `.load_warning` and a logging warning."""
        path = Path(storage_dir) / FILE_NAME
        wanted = device_class(device)
        try:
            data = read_bounded(path, MAX_FILE_BYTES)  # a FIFO or /dev/zero is refused, never read
        except FileNotFoundError:
            return cls(path, wanted, {}, None)
        except OSError as error:
            return cls._refused(path, wanted, f"cannot read: {error.strerror or error}")
        sections, problems = parse(data)
        mine = [entries for stored, entries in sections if same_class(stored, wanted)]
        if not mine and sections:
            others = "; ".join(describe_class(stored) for stored, _ in sections[:3])
            problems.insert(0, f"tuned for another device: {others}")
        entries = {k: v for found in mine for k, v in found.items()}
        if not problems:
            return cls(path, wanted, entries, None)
        warning = "; ".join(shorten(p, 240) for p in problems[:5]) + \
            (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
        return cls._refused(path, wanted, warning, entries)

    @classmethod
    def _refused(cls, path: Path, wanted: dict, reason: str, entries: dict | None = None) -> TuningFile:
        log.warning("tuning file %s: %s; launches without tuned values use the default local sizes", path, reason)
        return cls(path, wanted, entries or {}, reason)

    def get(self, key: str) -> tuple[int, ...] | None:
        """The tuned local size for a tuning key (the planner's question per launch)."""
        record = self.entries.get(key)
        return tuple(record.lws) if isinstance(record, LocalSizeRecord) else None

    def get_choice(self, key: str) -> dict | None:
        """The tuned variant for a choice key (the caller checks it is one the op offers)."""
        record = self.entries.get(key)
        return dict(record.choice) if isinstance(record, VariantRecord) else None

    def record(self, key: str) -> Record | None:
        return self.entries.get(key)

    def put(self, key: str, record: Record) -> None:
        """Store a key's record; checked as a load would check it, so that a bug cannot write a file that the next
        load refuses (raises TuningError then)."""
        record = record_from_json(record.to_json(), f"record for {key[:80]!r}")
        self.entries[key] = self._new[key] = record

    @property
    def unsaved(self) -> int:
        """How many records this session put that are not on disk yet (a failed save leaves them here)."""
        return len(self._new)

    def save(self) -> bool:
        """Merge this session's entries into the file on disk. False, with a warning, when that fails; a file
        of a future version is left alone (a newer pymace wrote it)."""
        if not self._new:
            return True
        import filelock  # imported on a save only: a warm start saves nothing
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with filelock.FileLock(str(self.path) + ".lock", timeout=LOCK_TIMEOUT_S):
                sections = self._read_for_merge()
                for stored, entries in sections:
                    if same_class(stored, self.device_class):
                        entries.update(self._new)
                        break
                else:
                    sections.append((self.device_class, dict(self._new)))
                write_atomically(self.path, encode(sections))
        except (OSError, filelock.Timeout, TuningError) as error:
            log.warning("could not save tuned parameters to %s: %s", self.path, error)
            self.save_warning = str(error)
            return False
        self._new.clear()
        self.save_warning = None
        return True

    def _read_for_merge(self) -> list[tuple[dict, dict[str, Record]]]:
        try:
            data = read_bounded(self.path, MAX_FILE_BYTES)
        except (FileNotFoundError, NotRegularFileError):
            return []  # nothing a reader could use: the saved file replaces it
        # Any other unreadable file (too large, no permission) raises OSError: better not to save than to lose it.
        sections, problems = parse(data)
        if any(p.startswith("future version") for p in problems):
            raise TuningError(problems[0])
        if problems:
            log.warning("tuning file %s: %s; rewriting it with what is still valid", self.path, shorten(problems[0]))
        return sections


__all__ = ["TuningFile", "device_class", "describe_class", "same_class", "parse", "encode", "FILE_NAME", "FORMAT",
           "VERSION", "TuningError"]
