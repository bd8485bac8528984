"""What tuning did and what a tuning file holds, for people: `pymace tune`'s tables and `pymace inspect`'s
explanation of a `pymace_tuned_params.json`. The runtime returns data (runtime/tuner, runtime/tuning_file); this
module renders it."""
from __future__ import annotations

import json
from pathlib import Path

from ..formats import FormatError
from ..runtime import tuning_file
from ..runtime.identity import DeviceIdentity
from ..runtime.tuning_records import LocalSizeRecord, MeasuredRecord, Record


def render_text(result: dict):
    """A rich renderable of `tune`'s summary, for the CLI."""
    from rich.console import Group

    lines = [f"{result.get('variants_complete', 0)} of {result.get('variant_keys', 0)} variant choices tuned "
             f"({result.get('variants_tuned_now', 0)} this run)"
             + (f", estimated speedup of their nodes: {v:.2f}x" if (v := result.get("variant_speedup")) else ""),
             f"{result['complete']} of {result['launches']} launches tuned ({result['tuned_now']} this run, "
             f"{result['elapsed_s']:.1f} s of a {result['budget_s']:g} s budget); "
             f"{result['fixed_local_size']} launches have a local size their op fixes",
             f"estimated speedup of the tunable launches: {s:.2f}x" if (s := result["estimated_speedup"])
             else "nothing measured yet",
             f"stored in {result['tuning_file']}"]
    if result["stopped_by_budget"]:
        lines.append("the budget ran out: run `pymace tune` again to continue where this run stopped")
    if not result.get("saved", True):
        lines.append(f"NOT SAVED: {result.get('save_warning') or 'the tuning file could not be written'}")
    tables = [_variant_table(result)] if result.get("variants") else []
    proof = _proof(result["proof"]) if result.get("proof") else []  # its table, then its lines, last
    return Group(*tables, _local_size_table(result), *proof[:-1], *lines, *proof[-1:])


def _gain(default_us, tuned_us) -> str:
    return f"{default_us / tuned_us:.2f}x" if default_us and tuned_us else "–"


def _proof(proof: dict) -> list:
    """The side-by-side measurement: a table of the changed layers, then end to end and the verdict."""
    from rich.table import Table
    from rich.text import Text

    out = []
    if proof["layers"]:
        table = Table(title=f"tuned against default, per layer (fastest of {proof['runs']} alternating runs each)")
        for column in ("node", "op", "default µs", "tuned µs", "gain", "kept"):
            table.add_column(column, justify="left" if column in ("node", "op") else "right", overflow="fold")
        for row in proof["layers"]:
            table.add_row(row["node"], row["op"], _us(row["default_us"]), _us(row["tuned_us"]),
                          _gain(row["default_us"], row["tuned_us"]), "yes" if row["kept"] else "no")
        out.append(table)
    lines = []
    for name, what in (("end_to_end", "as tuned"), ("final", "as kept")):
        e = proof.get(name)
        if e and (name == "end_to_end" or proof["refused"]):
            d, t = e.get("default_runs_us") or [0], e.get("tuned_runs_us") or [0]
            lines.append(f"end to end {what}, median of {proof['runs']} runs: default {e['default_us']:.0f} µs "
                         f"({min(d):.0f}–{max(d):.0f}), tuned {e['tuned_us']:.0f} µs ({min(t):.0f}–{max(t):.0f}): "
                         f"{_gain(e['default_us'], e['tuned_us'])}")
    lines.append(proof["verdict"])
    return [*out, Text("\n".join(lines))]


def _us(value) -> str:
    return f"{value:.1f}" if isinstance(value, float) else "–"


def _tried(row: dict) -> str:
    return f"{row['tried']}/{row['failed']}" + ("" if row["complete"] else " (partial)")


def _variant_table(result: dict):
    from rich.table import Table

    table = Table(title=f"variants tuned on {result['device']} ({result['data_type']})")
    for column in ("node", "×", "default", "µs", "best", "µs ", "speedup", "tried/failed"):
        table.add_column(column, justify="left" if column in ("node", "default", "best") else "right", overflow="fold")
    for v in result["variants"]:
        table.add_row(v["node"], str(v["nodes"]), v["default"], _us(v["default_us"]), v["best"], _us(v["best_us"]),
                      f"{v['speedup']:.2f}x" if v["speedup"] else "–", _tried(v))
    return table


def _local_size_table(result: dict):
    from rich.table import Table

    table = Table(title=f"local sizes tuned on {result['device']} ({result['data_type']})")
    for column in ("kernel", "global size", "×", "default lws", "µs", "best lws", "µs ", "speedup", "tried/failed"):
        table.add_column(column, justify="left" if column in ("kernel",) else "right", overflow="fold")
    for r in result["rows"]:
        table.add_row(r["kernel"], "x".join(map(str, r["gws"])), str(r["launches"]),
                      "x".join(map(str, r["default_lws"])), _us(r["default_us"]),
                      "x".join(map(str, r["best_lws"] or [])) or "–", _us(r["best_us"]),
                      f"{r['speedup']:.2f}x" if r["speedup"] else "–", _tried(r))
    return table


# ---- a tuning file, as `pymace inspect` explains it ----

def explain(path, device: DeviceIdentity | None = None) -> dict:
    """What `pymace inspect` shows for a pymace tuning file: format, version, devices, entries, problems, and,
    given the current device's identity, whether it holds values for it."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        return {"path": str(path), "format": "unreadable", "reason": error.strerror or str(error)}
    return {"path": str(path), "size": len(data), **explain_bytes(data, device)}


def explain_bytes(data: bytes, device: DeviceIdentity | None = None) -> dict:
    """Like `explain`, from the bytes. Raises FormatError when the bytes are not a pymace tuning file at all, so
    that `pymace inspect` can try other formats."""
    if not data.lstrip()[:1] == b"{" or tuning_file.FORMAT.encode() not in data[:512]:
        raise FormatError(f"not a {tuning_file.FORMAT} file")
    sections, problems = tuning_file.parse(data)
    report = {"format": tuning_file.FORMAT, "version": _peek_version(data), "integrity": "; ".join(problems) or "ok",
              "devices": [{**cls, "entries": [_entry_row(k, r) for k, r in sorted(entries.items())]}
                          for cls, entries in sections]}
    if device is not None:
        wanted = tuning_file.device_class(device)
        mine = [cls for cls, _ in sections if tuning_file.same_class(cls, wanted)]
        others = "; ".join(tuning_file.describe_class(c) for c, _ in sections)
        report["for_this_device"] = ("tuned for this device" if mine else
                                     f"tuned for another device: {others}" if sections else "no tuned values")
    return report


def explain_tuning_file(data: bytes, device: DeviceIdentity | None = None) -> tuple[dict, list]:
    """The tuning file's explainer for `pymace inspect` (pymace.tools.inspect.EXPLAINERS): (report, no binaries)."""
    return explain_bytes(data, device), []


def _peek_version(data: bytes):
    try:
        return json.loads(data.decode("utf-8")).get("version")
    except (ValueError, RecursionError, AttributeError):
        return None


def _entry_row(key: str, record: Record) -> dict:
    if isinstance(record, MeasuredRecord):  # a model's whole-run measurement (tuner/proof.py), in µs as the rest
        m = record.to_json()["measured"]
        return {"key": key, "time_us": record.tuned_us, "default_time_us": record.default_us,
                "speedup": None, "measured": m}
    default, best = record.default_time_us, record.time_us
    if isinstance(record, LocalSizeRecord):
        tuned = {"lws": list(record.lws), "default_lws": list(record.default_lws) if record.default_lws else None}
    else:
        tuned = {"choice": record.choice, "default_choice": record.default_choice}
    return {"key": key, **tuned, "time_us": best, "default_time_us": default,
            "speedup": round(default / best, 3) if default and best else None,
            "candidates": len(record.candidates), "failed": sum(c.failed is not None for c in record.candidates),
            "complete": record.complete}


__all__ = ["render_text", "explain", "explain_bytes", "explain_tuning_file"]
