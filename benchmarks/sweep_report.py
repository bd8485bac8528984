"""The sweep's tables: per model, the blockers ranked by how many models they stop, the speed table, the summary;
printed (rich), as markdown for benchmarks/NOTES.md, and as plain text for routing the blockers."""
from __future__ import annotations

import collections
import math
import re
import time

STATUS_HELP = {"ok": "converted, correct in fp32 and fp16", "wrong": "ran, cosine below the bar",
               "convert": "pymace convert failed", "fp32 run": "plan or run failed in fp32",
               "fp16 run": "plan or run failed in fp16", "reference": "the reference runtime failed",
               "fetch": "the model file could not be made", "timeout": "no result in time",
               "crash": "the worker process died"}


def _geomean(values: list[float]) -> float:
    values = [v for v in values if v and v > 0 and math.isfinite(v)]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def _ratio(rec: dict, key: str) -> float | None:
    ms = rec.get("ms") or {}
    return ms[key] / ms["reference"] if key in ms and ms.get("reference") else None


def _gflops(rec: dict, key: str = "pymace_fp32") -> float | None:
    ms = (rec.get("ms") or {}).get(key)
    return rec["flops"] / (ms * 1e6) if ms and rec.get("flops") else None


def machine_line(m: dict) -> str:
    return (f"machine: {m['device']}, {m['cores']} cores; peak fp32 {m['peak_gflops']:.0f} GFLOP/s (OpenCL FMA "
            f"{m['opencl_fma_gflops']:.0f}, NumPy sgemm {m['numpy_sgemm_gflops']:.0f}), memory "
            f"{m['peak_gbs']:.1f} GB/s (OpenCL copy {m['opencl_copy_gbs']:.1f}, NumPy copy "
            f"{m['numpy_copy_gbs']:.1f}); measured {m['measured']}, load average {m.get('load_average', 0):.1f}")


def _cos(rec: dict, key: str) -> str:
    v = rec.get(f"{key}_cosine")
    return "" if v is None else ("nan" if v != v else f"{v:.6f}")


def progress_line(rec: dict, machine: dict | None) -> str:
    head = f"{rec['name']:38s} {rec['source']:13s} {rec['format']:6s} {rec['status']:8s}"
    if rec["status"] not in ("ok", "wrong"):
        return f"{head} {rec.get('reason', '')}"
    text = f"{head} cos fp32 {_cos(rec, 'fp32')} fp16 {_cos(rec, 'fp16')}"
    ms = rec.get("ms")
    if ms:
        text += f"  ms pymace {ms.get('pymace_fp32', 0):.2f}"
        if "pymace_fp16" in ms:
            text += f" / fp16 {ms['pymace_fp16']:.2f}"
        text += f" vs {rec.get('reference', 'ref')} {ms['reference']:.2f} (×{_ratio(rec, 'pymace_fp32'):.2f})"
        g = _gflops(rec)
        if g is not None:
            text += f"  {g:.1f} GFLOP/s" + (f" ({100 * g / machine['peak_gflops']:.1f} % of peak)" if machine else "")
    return text


def summary(records: list[dict]) -> dict:
    n = len(records)
    timed = [r for r in records if r.get("ms")]
    return {"models": n, "sources": len({r["source"] for r in records}),
            "tflite": sum(r["format"] == "tflite" for r in records),
            "converted": sum(bool(r.get("converted")) for r in records),
            "correct": sum(r["status"] == "ok" for r in records),
            "timed": len(timed),
            "geomean_fp32": _geomean([_ratio(r, "pymace_fp32") for r in timed]),
            "geomean_fp16": _geomean([_ratio(r, "pymace_fp16") for r in timed]),
            "geomean_fp16_over_fp32": _geomean([r["ms"]["pymace_fp16"] / r["ms"]["pymace_fp32"] for r in timed
                                                if "pymace_fp16" in r["ms"]])}


def summary_line(s: dict, elapsed: float) -> str:
    pct = (lambda k: 100 * s[k] / s["models"]) if s["models"] else (lambda k: 0.0)
    return (f"{s['models']} models from {s['sources']} sources ({s['tflite']} TFLite): converted "
            f"{s['converted']} ({pct('converted'):.0f} %), correct {s['correct']} ({pct('correct'):.0f} %); "
            f"geomean pymace/reference over {s['timed']} timed: fp32 ×{s['geomean_fp32']:.2f}, fp16 "
            f"×{s['geomean_fp16']:.2f} (fp16/fp32 ×{s['geomean_fp16_over_fp32']:.2f}); {elapsed / 60:.1f} min")


def _normalise(reason: str) -> str:
    """A failure line with its model-specific names and numbers blanked, so that alike failures group."""
    reason = re.sub(r"'[^']*'", "'…'", reason)
    reason = re.sub(r"\S*/\S+|\S+\.(?:onnx|tflite)\b", "…", reason)
    return re.sub(r"\d+", "N", reason)


def blockers(records: list[dict]) -> list[tuple[str, list[str], list[str]]]:
    """[(blocker, models it blocks, models it alone blocks)], most models first: every unsupported op, and every
    other failure kind (numbers and names blanked)."""
    blocked: dict[str, list[str]] = collections.defaultdict(list)
    sole: dict[str, list[str]] = collections.defaultdict(list)
    for r in records:
        if r["status"] == "ok":
            continue
        keys = ([f"op {op}" for op in r.get("unsupported") or []]
                or [f"{r['status']}: {_normalise(r.get('reason', ''))}"])
        for k in keys:
            blocked[k].append(r["name"])
        if len(keys) == 1:
            sole[keys[0]].append(r["name"])
    return sorted(((k, v, sole.get(k, [])) for k, v in blocked.items()), key=lambda t: (-len(t[1]), -len(t[2]), t[0]))


def missing_sets(records: list[dict]) -> list[tuple[str, list[str]]]:
    """[(the exact set of unsupported ops, the models it alone stops)], most models first: what landing a few
    ops together unlocks."""
    sets: dict[str, list[str]] = collections.defaultdict(list)
    for r in records:
        if r["status"] != "ok" and r.get("unsupported"):
            sets[" + ".join(sorted(r["unsupported"]))].append(r["name"])
    return sorted(sets.items(), key=lambda t: (-len(t[1]), t[0].count("+"), t[0]))


def blockers_text(records: list[dict]) -> str:
    s = summary(records)
    lines = [f"pymace sweep blockers, {time.strftime('%Y-%m-%d %H:%M')}: {s['correct']}/{s['models']} correct, "
             f"{s['converted']}/{s['models']} converted", "",
             "Ranked (models blocked; of which blocked by this alone):"]
    for key, models, alone in blockers(records):
        lines.append(f"  {len(models):3d} ({len(alone)} alone)  {key}: {', '.join(models)}")
    lines += ["", "Exactly these ops missing (land them together to unlock the models):"]
    lines += [f"  {len(models):3d}  {ops}: {', '.join(models)}" for ops, models in missing_sets(records)]
    lines += ["", "Model -> first failure line:"]
    for r in records:
        if r["status"] != "ok":
            lines.append(f"  {r['name']} ({r['source']}, {r['format']}): [{r['status']}] {r.get('reason', '')}")
    return "\n".join(lines) + "\n"


def _speed_rows(records: list[dict], machine: dict | None) -> list[list]:
    rows = []
    for r in records:
        ms = r.get("ms")
        if not ms:
            continue
        g = _gflops(r)
        rows.append([r["name"], r.get("reference", ""), ms["pymace_fp32"], ms.get("pymace_fp16", float("nan")),
                     ms["reference"], _ratio(r, "pymace_fp32"), _ratio(r, "pymace_fp16") or float("nan"),
                     r.get("flops", 0) / 1e9, g if g is not None else float("nan"),
                     100 * g / machine["peak_gflops"] if g is not None and machine else float("nan"),
                     r["bytes"] / (ms["pymace_fp32"] * 1e6) if r.get("bytes") else float("nan"),
                     r.get("fp32_launches", "")])
    return rows


SPEED_HEADER = ["model", "reference", "pymace fp32 ms", "pymace fp16 ms", "reference ms", "fp32 ratio",
                "fp16 ratio", "GFLOP", "GFLOP/s fp32", "% of peak", "est. GB/s", "launches"]
STATUS_HEADER = ["model", "source", "format", "status", "fp32 cosine", "fp16 cosine", "reason"]


def _status_rows(records: list[dict]) -> list[list]:
    return [[r["name"], r["source"], r["format"], r["status"], _cos(r, "fp32"), _cos(r, "fp16"),
             "" if r["status"] == "ok" else r.get("reason", "")] for r in records]


def print_tables(records: list[dict], machine: dict | None, elapsed: float) -> None:
    from benchmarks.common import print_table

    print_table("sweep: every model", STATUS_HEADER, _status_rows(records))
    print_table("sweep: blockers, by models blocked", ["blocker", "models", "alone", "which"],
                [[k, len(v), len(a), ", ".join(v)] for k, v, a in blockers(records)])
    if any(r.get("ms") for r in records):
        print_table("sweep: same-process alternating median latency, threads = cores", SPEED_HEADER,
                    _speed_rows(records, machine))
    if machine:
        print(machine_line(machine))
    print(summary_line(summary(records), elapsed))


def _md_table(header: list[str], rows: list[list]) -> str:
    def cell(v) -> str:
        if isinstance(v, float):
            return "" if v != v else (f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}")
        return str(v).replace("|", "\\|")

    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


def sources_table(records: list[dict]) -> str:
    from benchmarks.sweep_models import sources

    count = collections.Counter(r["source"] for r in records)
    ok = collections.Counter(r["source"] for r in records if r["status"] == "ok")
    return _md_table(["source", "pin", "models", "correct"],
                     [[k, v, count[k], ok[k]] for k, v in sources().items() if count[k]])


def markdown(records: list[dict], machine: dict | None, elapsed: float) -> str:
    parts = [summary_line(summary(records), elapsed), sources_table(records)]
    if machine:
        parts.append(machine_line(machine))
    parts.append(_md_table(STATUS_HEADER, _status_rows(records)))
    parts.append(_md_table(["blocker", "models blocked", "alone", "which"],
                           [[k, len(v), len(a), ", ".join(v)] for k, v, a in blockers(records)]))
    parts.append(_md_table(["exactly these ops missing", "models", "which"],
                           [[k, len(v), ", ".join(v)] for k, v in missing_sets(records)]))
    if any(r.get("ms") for r in records):
        parts.append(_md_table(SPEED_HEADER, _speed_rows(records, machine)))
    return "\n\n".join(parts) + "\n"
