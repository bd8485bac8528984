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
import math
import re
from pathlib import Path

import filelock

# The program cache's writer: temp file in the same folder, fsync, os.replace, fsync of the folder.
from .identity import DeviceIdentity
from .program_cache import LOCK_TIMEOUT_S, write_atomically

log = logging.getLogger(__name__)

FILE_NAME = "pymace_tuned_params.json"
FORMAT = "pymace tuned parameters"
VERSION = 3  # 2 added variant-choice records; 3 put the kernels' integer arguments into local-size keys
ARGS_KEYED = 3  # local-size records of older files are keyed without them: not used (their variants are)
MAX_FILE_BYTES = 32 << 20
MAX_KEY_CHARS = 4096
MAX_LWS = 1 << 16  # per dimension; no OpenCL device allows a larger work-group
MAX_CANDIDATES = 1024
MAX_TEXT = 1000
MAX_PARAM = 1 << 20
MAX_LAUNCHES = 64  # a variant's launches
_VARIANT = re.compile(r"[a-z0-9_]{1,64}")
_PARAM = re.compile(r"[a-z_][a-z0-9_]{0,31}")


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


class TuningError(ValueError):
    """A field of the file is not what the format says; the message names the field."""


# ---- validation, field by field ----

def _expect(cond: bool, what: str) -> None:
    if not cond:
        raise TuningError(what)


def _text(value, what: str, limit: int = MAX_TEXT) -> str:
    _expect(isinstance(value, str) and len(value) <= limit, f"{what} is not a string of at most {limit} chars")
    return value


def _lws(value, what: str) -> tuple[int, ...]:
    _expect(isinstance(value, list) and 1 <= len(value) <= 3, f"{what} is not a list of 1 to 3 sizes")
    _expect(all(type(v) is int and 1 <= v <= MAX_LWS for v in value), f"{what} holds a size outside 1..{MAX_LWS}")
    return tuple(value)


def _time(value, what: str) -> float:
    ok = type(value) in (int, float) and math.isfinite(value) and 0 <= value < 1e12
    _expect(ok, f"{what} is not a time in microseconds")
    return float(value)


def _choice(value, what: str) -> dict:
    """A variant: {"variant": name, param: int, …} (at most 16 parameters)."""
    _expect(isinstance(value, dict) and 1 <= len(value) <= 17, f"{what} is not an object of 1 to 17 fields")
    variant = value.get("variant")
    _expect(isinstance(variant, str) and _VARIANT.fullmatch(variant) is not None,
            f"{what}.variant is not a kernel name")
    for name, v in value.items():
        if name != "variant":
            _expect(isinstance(name, str) and _PARAM.fullmatch(name) is not None, f"{what} has a bad parameter name")
            _expect(type(v) is int and 0 <= v <= MAX_PARAM, f"{what}.{name} is not an integer in 0..{MAX_PARAM}")
    return dict(value)


def _candidate(value, what: str, kind: str = "lws") -> dict:
    _expect(isinstance(value, dict), f"{what} is not an object")
    out = {kind: list(_lws(value.get("lws"), f"{what}.lws")) if kind == "lws"
           else _choice(value.get("choice"), f"{what}.choice")}
    for field in ("time_us", "dropped_us"):
        if field in value:
            out[field] = _time(value[field], f"{what}.{field}")
    if "failed" in value:
        out["failed"] = _text(value["failed"], f"{what}.failed")
    _expect(len(out) == 2, f"{what} needs exactly one of time_us, dropped_us, failed")
    if kind == "choice" and "launches" in value:
        launches = value["launches"]
        _expect(type(launches) is int and 1 <= launches <= MAX_LAUNCHES, f"{what}.launches is not 1..{MAX_LAUNCHES}")
        out["launches"] = launches
    return out


def validate_record(value, what: str = "record") -> dict:
    """A key's record as the tuner writes it (see docs/tuning-format.md): a local size (`lws`) or a variant
    (`choice`), checked and copied; raises TuningError naming the first bad field."""
    _expect(isinstance(value, dict), f"{what} is not an object")
    kind = "choice" if "choice" in value else "lws"
    _expect(not (kind == "choice" and "lws" in value), f"{what} has both lws and choice")
    if kind == "lws":
        out = {"lws": list(_lws(value.get("lws"), f"{what}.lws"))}
        if "default_lws" in value:
            out["default_lws"] = list(_lws(value["default_lws"], f"{what}.default_lws"))
    else:
        out = {"choice": _choice(value["choice"], f"{what}.choice")}
        if "default_choice" in value:
            out["default_choice"] = _choice(value["default_choice"], f"{what}.default_choice")
    for field in ("time_us", "default_time_us") + (("launch_us",) if kind == "choice" else ()):
        if field in value:
            out[field] = _time(value[field], f"{what}.{field}")
    if "complete" in value:
        _expect(isinstance(value["complete"], bool), f"{what}.complete is not true/false")
        out["complete"] = value["complete"]
    candidates = value.get("candidates", [])
    _expect(isinstance(candidates, list) and len(candidates) <= MAX_CANDIDATES,
            f"{what}.candidates is not a list of at most {MAX_CANDIDATES}")
    out["candidates"] = [_candidate(c, f"{what}.candidates[{i}]", kind) for i, c in enumerate(candidates)]
    return out


def _key_dims(key: str) -> int | None:
    """How many dimensions the global size in a tuning key has (`… gws=AxBxC`), None if it does not say."""
    tail = key.rsplit("gws=", 1)
    return len(tail[1].split("x")) if len(tail) == 2 and tail[1] else None


def parse(data: bytes) -> tuple[list[tuple[dict, dict]], list[str]]:
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
        stale = sum("lws" in record for _, entries in sections for record in entries.values())
        sections = [(cls, {k: r for k, r in entries.items() if "lws" not in r}) for cls, entries in sections]
        if stale:
            problems.append(f"version {version}: its {stale} local sizes are keyed without the kernels' integer "
                            f"arguments and are not used (pymace tune measures them again)")
    return sections, problems


def _section(section, what: str, problems: list[str]) -> tuple[dict, dict]:
    _expect(isinstance(section, dict), f"{what} is not an object")
    raw = section.get("device")
    _expect(isinstance(raw, dict), f"{what}.device is not an object")
    cls = {k: _text(raw.get(k), f"{what}.device.{k}") for k in ("name", "vendor", "platform")}
    units = raw.get("compute_units")
    _expect(type(units) is int and 0 <= units < 1 << 31, f"{what}.device.compute_units is not a count")
    cls["compute_units"] = units
    entries = section.get("entries")
    _expect(isinstance(entries, dict), f"{what}.entries is not an object")
    good = {}
    for key, record in entries.items():
        try:
            _expect(len(key) <= MAX_KEY_CHARS, f"{what}: a key longer than {MAX_KEY_CHARS} chars")
            record = validate_record(record, f"{what}.entries[{key[:80]!r}]")
            dims = _key_dims(key)
            _expect(dims is None or all(len(record[f]) == dims for f in ("lws", "default_lws") if f in record),
                    f"{what}.entries[{key[:80]!r}]: the local size has not the {dims} dimensions of the key")
            good[key] = record
        except TuningError as error:
            problems.append(f"corrupt: {error}")
    return cls, good


def encode(sections: list[tuple[dict, dict]]) -> bytes:
    doc = {"format": FORMAT, "version": VERSION,
           "devices": [{"device": cls, "entries": dict(sorted(entries.items()))} for cls, entries in sections]}
    return (json.dumps(doc, indent=1, sort_keys=False) + "\n").encode()


# ---- the file, as the engine and the tuner use it ----

class TuningFile:
    """Tuned local work sizes of one device class. `get` is what the planner asks per launch."""

    def __init__(self, path: Path, device_cls: dict, entries: dict, load_warning: str | None):
        self.path, self.device_class = path, device_cls
        self.entries: dict[str, dict] = entries
        self.load_warning = load_warning
        self._new: dict[str, dict] = {}

    @classmethod
    def open(cls, storage_dir, device: DeviceIdentity) -> TuningFile:
        """The entries for `device`'s class from `<storage_dir>/pymace_tuned_params.json`. Never raises for what
        the file holds (or fails to hold): the reason lands in `.load_warning` and a logging warning."""
        path = Path(storage_dir) / FILE_NAME
        wanted = device_class(device)
        try:
            data = path.read_bytes()
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
        warning = "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
        return cls._refused(path, wanted, warning, entries)

    @classmethod
    def _refused(cls, path: Path, wanted: dict, reason: str, entries: dict | None = None) -> TuningFile:
        log.warning("tuning file %s: %s; launches without tuned values use the default local sizes", path, reason)
        return cls(path, wanted, entries or {}, reason)

    def get(self, key: str) -> tuple[int, ...] | None:
        record = self.entries.get(key)
        return tuple(record["lws"]) if record and "lws" in record else None

    def get_choice(self, key: str) -> dict | None:
        """The tuned variant for a choice key (the caller checks it is one the op offers)."""
        record = self.entries.get(key)
        return dict(record["choice"]) if record and "choice" in record else None

    def record(self, key: str) -> dict | None:
        return self.entries.get(key)

    def put(self, key: str, lws, record: dict | None = None) -> None:
        """Store the best local size for `key` with its record (validated here, so a bug cannot write a file
        that the next load refuses)."""
        record = validate_record({**(record or {}), "lws": [int(v) for v in lws]}, f"record for {key[:80]!r}")
        self.entries[key] = self._new[key] = record

    def put_choice(self, key: str, choice: dict, record: dict | None = None) -> None:
        """Store the best variant for a choice key with its record (validated like `put`)."""
        record = validate_record({**(record or {}), "choice": dict(choice)}, f"record for {key[:80]!r}")
        self.entries[key] = self._new[key] = record

    def save(self) -> bool:
        """Merge this session's entries into the file on disk. False, with a warning, when that fails; a file
        of a future version is left alone (a newer pymace wrote it)."""
        if not self._new:
            return True
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
            return False
        self._new.clear()
        return True

    def _read_for_merge(self) -> list[tuple[dict, dict]]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        sections, problems = parse(data)
        if any(p.startswith("future version") for p in problems):
            raise TuningError(problems[0])
        if problems:
            log.warning("tuning file %s: %s; rewriting it with what is still valid", self.path, problems[0])
        return sections


def explain(path, device=None) -> dict:
    """What `pymace inspect` shows for a pymace tuning file: format, version, devices, entries, problems, and,
    given the current device's identity, whether it holds values for it."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        return {"path": str(path), "format": "unreadable", "reason": error.strerror or str(error)}
    return {"path": str(path), "size": len(data), **explain_bytes(data, device)}


def explain_bytes(data: bytes, device=None) -> dict:
    """Like `explain`, from the bytes. Raises FormatError (pymace.formats) when the bytes are not a pymace tuning
    file at all, so that `pymace inspect` can try other formats."""
    from ..formats import FormatError

    if not data.lstrip()[:1] == b"{" or FORMAT.encode() not in data[:512]:
        raise FormatError(f"not a {FORMAT} file")
    sections, problems = parse(data)
    report = {"format": FORMAT, "version": _peek_version(data), "integrity": "; ".join(problems) or "ok",
              "devices": [{**cls, "entries": [_entry_row(k, r) for k, r in sorted(entries.items())]}
                          for cls, entries in sections]}
    if device is not None:
        wanted = device_class(device)
        mine = [cls for cls, _ in sections if same_class(cls, wanted)]
        report["for_this_device"] = ("tuned for this device" if mine else
                                     f"tuned for another device: {'; '.join(describe_class(c) for c, _ in sections)}"
                                     if sections else "no tuned values")
    return report


def _peek_version(data: bytes):
    try:
        return json.loads(data.decode("utf-8")).get("version")
    except (ValueError, RecursionError, AttributeError):
        return None


def _entry_row(key: str, record: dict) -> dict:
    default, best = record.get("default_time_us"), record.get("time_us")
    tuned = {"choice": record["choice"], "default_choice": record.get("default_choice")} if "choice" in record \
        else {"lws": record["lws"], "default_lws": record.get("default_lws")}
    return {"key": key, **tuned, "time_us": best,
            "default_time_us": default, "speedup": round(default / best, 3) if default and best else None,
            "candidates": len(record["candidates"]),
            "failed": sum("failed" in c for c in record["candidates"]), "complete": record.get("complete", True)}


def inspect_explainer(data: bytes, device=None) -> tuple[dict, list]:
    """This format's explainer for `pymace inspect` (pymace.tools.inspect.EXPLAINERS): (report, no binaries)."""
    return explain_bytes(data, device), []


__all__ = ["TuningFile", "explain", "explain_bytes", "inspect_explainer", "device_class", "parse", "encode",
           "validate_record", "FILE_NAME", "VERSION"]
