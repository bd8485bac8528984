"""`pymace inspect` and `pymace inspect --extract`: say what a cache or tuning file is, what it holds, whether it
is intact, and whether it can serve the current device; write its binaries out.

Each format has an explainer: bytes (+ the current device, if known) → (JSON-able report, binaries), raising
FormatError when the bytes are not its format; EXPLAINERS tries them in order.
"""
import os
import re
import struct
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from pymace.errors import PymaceError, writing
from pymace.formats import FormatError, binary_kind
from pymace.formats import mace as mace_format
from pymace.runtime import driver_caches
from pymace.runtime import program_cache as cache_format
from pymace.runtime.identity import DeviceIdentity
from pymace.safe_io import read_bounded, write_new
from pymace.tools import tune_report

MAX_FILE_BYTES = 1 << 30  # far above any real cache (MobileNetV2's is a few MB); a larger file is not read
Binaries = list[tuple[str, bytes]]  # (descriptive name, bytes) for extract
Explainer = Callable[[bytes, DeviceIdentity | None], tuple[dict, Binaries]]


def explain_pymace_cache(data: bytes, device: DeviceIdentity | None) -> tuple[dict, Binaries]:
    if data[:4] != cache_format.MAGIC:
        raise FormatError("no MCLP magic")
    parsed = cache_format.parse_cache_file(data)
    version = parsed.version if parsed.version is not None else struct.unpack_from("<I", data.ljust(8, b"\0"), 4)[0]
    entries, binaries = [], []
    for entry in parsed.entries:
        intact = entry.intact()
        row = {"program": entry.program, "options": entry.options, "source_hash": entry.source_hash,
               "size": len(entry.binary), "kind": binary_kind(entry.binary),
               "device": parsed.devices.index(entry.device), "integrity": "ok" if intact else "checksum bad"}
        if device is not None:
            why_not = cache_format.mismatch_reasons(entry, device) + ([] if intact else ["checksum bad"])
            row["usable_here"], row["why_not"] = not why_not, "; ".join(why_not)
        entries.append(row)
        binaries.append((f"{entry.program}-{entry.source_hash[:8]}", entry.binary))
    report = {"format": "pymace program cache", "version": f"{version >> 16}.{version & 0xFFFF}",
              "integrity": "; ".join(parsed.problems) or "ok",
              "devices": [d.cache_record() for d in parsed.devices], "entries": entries}
    return report, binaries


def explain_mace(data: bytes, device: DeviceIdentity | None) -> tuple[dict, Binaries]:
    parsed = mace_format.read_mace_file(data)
    values = dict(parsed.pairs)
    platform = _text(values.get(mace_format.PLATFORM_KEY))
    device_name = _text(values.get(mace_format.DEVICE_NAME_KEY))
    era = "MACE ≤ v1.0.4" if parsed.layout == "A" else "MACE ≥ v1.1"
    tuning = platform is None and all(_uint32s(v) is not None for v in values.values())
    report = {"format": f"MACE {'tuning file' if tuning else 'compiled-program cache'}",
              "layout": f"{parsed.layout} ({era})", "pairs": len(parsed.pairs), "integrity": parsed.integrity,
              "platform": platform, "device_name": device_name}
    if tuning:
        report["entries"] = [{"key": key, "kernel_and_shape": mace_format.decode_tuning_key(key),
                              "values": _uint32s(value)} for key, value in parsed.pairs]
        return report, []
    hashes = {key[len(mace_format.PROGRAM_HASH_PREFIX):]: _text(value) for key, value in parsed.pairs
              if key.startswith(mace_format.PROGRAM_HASH_PREFIX)}
    special = (mace_format.PLATFORM_KEY, mace_format.DEVICE_NAME_KEY)
    programs = [(key, _as_bytes(value)) for key, value in parsed.pairs
                if key not in special and key not in {mace_format.PROGRAM_HASH_PREFIX + k for k in hashes}]
    report["entries"] = [_mace_program(key, value, hashes.get(key)) for key, value in programs]
    if device is not None:
        report["for_this_device"] = _mace_staleness(platform, device_name, device)
    binaries = [(f"{row['cl_file']}-{row['kernel'] or 'program'}", value)
                for row, (_, value) in zip(report["entries"], programs, strict=True)]
    return report, binaries


def _mace_program(key: str, value: bytes, source_hash: str | None) -> dict:
    split = mace_format.split_program_key(key)
    return {"key": key, "cl_file": split.cl_file, "options": split.options, "kernel": split.kernel,
            "source_hash": source_hash, "size": len(value), "kind": binary_kind(value)}


def _mace_staleness(platform: str | None, device_name: str | None, device: DeviceIdentity) -> str:
    # pymace never loads MACE's binaries (they come from MACE's kernels); this says whether MACE itself would.
    if device_name and device_name != device.name:
        return f"built for another device: {device_name}"
    built_on = (platform or "").split(",")[0]
    if built_on != device.platform_name:
        return f"built on another platform: {built_on or 'unknown'} (this device: {device.platform_name})"
    return "same platform; MACE reuses it only if the OpenCL versions match"


def _text(value) -> str | None:
    return bytes(value).decode("utf-8", "replace") if isinstance(value, bytes) else None


def _as_bytes(value) -> bytes:
    # A damaged (or odd) layout B file can hold uint32s where a program binary belongs: show them as bytes.
    return struct.pack(f"<{len(value)}I", *value) if isinstance(value, list) else bytes(value)


def _uint32s(value) -> list[int] | None:
    """A tuning value: a uint32 list (layout B), or 1 to 4 little-endian uint32s as bytes (layout A)."""
    if isinstance(value, list):
        return value
    if 0 < len(value) <= 16 and len(value) % 4 == 0:
        return list(struct.unpack(f"<{len(value) // 4}I", value))
    return None


# The tuning file (JSON) is tried before the structural MACE reader, which would misread it.
EXPLAINERS: list[tuple[str, Explainer]] = [("pymace program cache", explain_pymace_cache),
                                           ("pymace tuning", tune_report.explain_tuning_file), ("MACE", explain_mace)]


def _explain(path: str | Path, device: DeviceIdentity | None) -> tuple[dict, Binaries]:
    head = {"path": str(path)}
    try:
        data = read_bounded(path, MAX_FILE_BYTES)
    except OSError as error:
        return {**head, "format": "unreadable", "reason": error.strerror or str(error)}, []
    head["size"] = len(data)
    if not data:
        return {**head, "format": "unknown format", "reason": "empty file"}, []
    reasons = []
    for name, explain in EXPLAINERS:
        try:
            report, binaries = explain(data, device)
            return {**head, **report}, binaries
        except FormatError as error:
            reasons.append(f"not a {name} file ({error})")
    return {**head, "format": "unknown format", "reason": "; ".join(reasons)}, []


def inspect(path: str | Path, device: DeviceIdentity | None = None) -> dict:
    """A JSON-able description of any cache or tuning file; never raises for what the file holds. For pymace's
    own files, also the driver caches their storage dir (the file's folder) holds (runtime/driver_caches.py)."""
    report = _explain(path, device)[0]
    if str(report.get("format", "")).startswith("pymace"):
        report["driver_caches"] = driver_caches.report(Path(path).parent)
    return report


def extract(path: str | Path, out_dir: str | Path) -> list[Path]:
    """Write each program binary in `path` to `out_dir` under a safe name; refuses to overwrite anything."""
    report, binaries = _explain(path, None)
    if report["format"] in ("unknown format", "unreadable"):
        raise PymaceError(f"{path}: {report['format']}: {report['reason']}")
    out = Path(out_dir)
    targets = [out / f"{i:03d}-{_safe_name(name)}.{_EXTENSIONS.get(binary_kind(b), 'bin')}"
               for i, (name, b) in enumerate(binaries)]
    existing = [t.name for t in targets if os.path.lexists(t)]  # a dangling symlink counts: it is never followed
    if existing:
        raise PymaceError(f"{out} already holds {existing[0]}; extract into an empty directory")
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
        for target, (_, binary) in zip(targets, binaries, strict=True):
            try:
                write_new(target, binary)
            except FileExistsError:
                raise PymaceError(f"{out} already holds {target.name}; extract into an empty directory") from None
    return targets


_EXTENSIONS = {"ptx": "ptx", "poclbin": "poclbin", "mali-clcc": "clcc", "adreno": "adreno", "elf": "elf",
               "spirv": "spv", "llvm-bitcode": "bc"}


def _safe_name(name: str) -> str:
    # Keys come from the file: no path separators, no leading dots, bounded length.
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")[:60] or "entry"


def verdict(report: dict) -> tuple[int, str]:
    """(exit code, summary line): 0 intact (and covering the --model), 1 damaged or not covering, 2 unreadable
    or not a known format — what a CI job gating a shipped cache needs."""
    fmt = report["format"]
    if fmt == "unreadable":
        return 2, f"unreadable: {report.get('reason', '')}"
    if fmt == "unknown format":
        why = report.get("reason") if report.get("reason") == "empty file" else \
            "not a cache or tuning file of pymace or MACE (reason above)"
        return 2, f"unknown format: {why}"
    entries = _all_entries(report)
    parts = [f"{len(entries)} entries"]
    judged = [e for e in entries if "usable_here" in e]
    if judged:
        usable = sum(bool(e["usable_here"]) for e in judged)
        reasons = Counter(r for e in judged if not e["usable_here"] for r in (e.get("why_not") or "").split("; ") if r)
        parts.append(f"{usable} usable here" + (" (not usable: " + "; ".join(
            f"{why} ×{n}" for why, n in reasons.most_common(3)) + ")" if reasons else ""))
    elif report.get("for_this_device"):
        parts.append(report["for_this_device"])
    damaged = report.get("integrity") not in (None, "ok", "no checksum in this layout")
    if damaged:
        parts.append("damaged: " + _short(report["integrity"]))
    cov = report.get("coverage")
    if cov:
        parts.append(f"covers {cov['covered']} of {cov['programs']} programs {Path(cov['model']).name} needs on "
                     f"{cov['device']} ({cov['data_type']})")
    return (1 if damaged or (cov and not cov["complete"]) else 0), "; ".join(parts)


def _all_entries(report: dict) -> list[dict]:
    per_device = [e for d in report.get("devices", []) for e in d.get("entries") or []]
    return (report.get("entries") or []) + per_device


def _short(text: str, limit: int = 3) -> str:
    """A long '; '-joined problem list cut to its first few items."""
    items = [t for t in str(text).split("; ") if t]
    return "; ".join(items[:limit]) + (f"; and {len(items) - limit} more" if len(items) > limit else "")


FACTS = ("path", "size", "format", "version", "layout", "pairs", "integrity", "platform", "device_name",
         "for_this_device", "reason")
CELL_LIMIT = 72  # text cells are cut here (hashes to 12 characters); --json has every value whole


def render_text(report: dict, width: int | None = None) -> str:
    """The report as plain text: facts, device sections, entry tables, coverage, and the summary line. Linear in
    the number of entries (a 200k-pair file renders in about the time --json takes)."""
    lines = [f"{k.replace('_', ' '):<16}{_short(report[k]) if k == 'integrity' else report[k]}"
             for k in FACTS if report.get(k) is not None]
    for index, device in enumerate(report.get("devices", [])):
        lines.append(f"device {index}: " + ", ".join(f"{k}={v}" for k, v in device.items() if k != "entries"))
        if device.get("entries"):  # a tuning file keeps its entries per device class
            lines += text_table(device["entries"])
    entries = report.get("entries") or []
    if entries:
        lines += text_table(entries, skip=("key",) if "cl_file" in entries[0] else ())
    cov = report.get("coverage")
    if cov:
        lines.append(f"coverage of {cov['model']} on {cov['device']} ({cov['data_type']}): {cov['covered']} of "
                     f"{cov['programs']} programs" + (" — complete" if cov["complete"] else " — INCOMPLETE"))
        lines += [f"  missing {r['program']} [{r['options']}]: {r['reason']}" for r in cov["entries"]
                  if not r["covered"]]
    for row in report.get("driver_caches", []):
        lines.append(f"driver cache    {row['driver']}: {row['files']} files, {row['bytes']} bytes in {row['folder']}"
                     if row["files"] else f"driver cache    {row['driver']}: none in {row['folder']}")
    if report.get("extracted") is not None:
        folder = Path(report["extracted"][0]).parent if report["extracted"] else "—"
        lines.append(f"extracted {len(report['extracted'])} binaries into {folder}")
    lines.append("summary: " + verdict(report)[1])
    return "\n".join(lines) + "\n"


def text_table(rows: list[dict], skip=()) -> list[str]:
    """Aligned columns; columns empty in every row are left out."""
    names = dict.fromkeys(c for r in rows for c in r)  # rows of several kinds (a tuning file's) share one table
    columns = [c for c in names if c not in skip and any(_cell(r.get(c), c) for r in rows)]
    cells = [[_cell(r.get(c), c) for c in columns] for r in rows]
    widths = [max(len(c.replace("_", " ")), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    head = "  ".join(c.replace("_", " ").ljust(w) for c, w in zip(columns, widths)).rstrip()
    body = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return [head, "-" * len(head), *body]


def _cell(value, column: str = "") -> str:
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    text = "" if value is None else str(value)
    if column == "source_hash" and len(text) > 12:
        return text[:12] + "…"
    return text if len(text) <= CELL_LIMIT else text[:CELL_LIMIT - 1] + "…"


def render(report: dict):
    """The report as a rich renderable (the same plain text)."""
    from rich.text import Text

    return Text(render_text(report))


def coverage(cache_path: str | Path, model_path: str | Path, device_spec: str = "auto",
             data_type: str = "fp32") -> dict:
    """Whether the pymace cache at `cache_path` holds a usable binary for every program `model_path` needs on
    the device `device_spec` names (what an app that ships a pre-generated cache needs to know)."""
    from ..ir import pmace_file
    from ..runtime import device as devices
    from ..runtime.plan import make_plan
    from ..runtime.program_cache import ProgramCache, source_hash
    from ..runtime.programs import kernel_source

    if device_spec == "reference":
        raise PymaceError("cache coverage needs an OpenCL device; --device reference runs the NumPy executor, "
                          "which has no programs")
    device = devices.select(device_spec)
    graph = pmace_file.load(str(model_path))
    needed = make_plan(graph, device.traits, data_type).required_programs()
    path = Path(cache_path)
    cache = ProgramCache(path.parent, device.identity, file_name=path.name)
    rows = []
    for stem, options in needed:
        hit = cache.lookup(stem, source_hash(kernel_source(stem)), options) is not None
        reason = None if hit else (cache.misses[-1][1] if cache.misses else "not in the cache")
        rows.append({"program": stem, "options": options, "covered": hit, "reason": reason})
    return {"model": str(model_path), "device": device.name, "data_type": data_type, "programs": len(rows),
            "covered": sum(r["covered"] for r in rows), "complete": all(r["covered"] for r in rows),
            "entries": rows}
