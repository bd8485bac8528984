"""The report's measured sections: performance and validation, tuning, troubleshooting (report.py assembles)."""
from __future__ import annotations

import statistics

from .report_plots import plot_init, plot_latency, plot_ops


# --- 4. performance and validation ---------------------------------------------------------------------------
def performance(f: dict):
    b, v = f["bench"], f["valid"]
    cold, warm, lat = b["init"]["cold"], b["init"]["warm"], b["latency_ms"]
    blocks = [("img", "init", plot_init(b), "Init time without and with the compiled binary (fresh processes)"),
              ("table", ["", "init ms", "first inference ms", "programs built", "programs from cache", "build s"],
               [[name, f"{r['init_seconds'] * 1e3:.1f}", f"{r['first_inference_seconds'] * 1e3:.1f}",
                 r["programs_from_source"], r["programs_from_cache"], r["build_seconds"]]
                for name, r in (("cold (no cache)", cold), ("warm (cache)", warm))]),
              ("p", f"The binary saves {b['init']['saved_seconds'] * 1e3:.0f} ms of init ({_speedup(b)}). "
                    "Cold runs switch off every cache below pymace's (pyopencl, PoCL, the NVIDIA driver)."),
              ("img", "latency", plot_latency(b), f"Latency of {b['runs']} runs after {b['warmup']} warm-up runs"),
              ("table", ["min", "p50", "p90", "p99", "max", "mean", "throughput /s", "device memory MiB"],
               [[*(f"{lat[k]:.2f}" for k in ("min", "p50", "p90", "p99", "max", "mean")), b["throughput_per_s"],
                 f"{b['memory']['peak_device_bytes'] / 2**20:.1f}"]]),
              ("img", "ops", plot_ops(b), "Device time per op type and the slowest nodes (OpenCL profiling events)"),
              ("table", ["node", "op", "kernel", "ms", "%", "GFLOP/s", "GB/s", "tuned"],
               [[r["node"], r["op_type"], ", ".join(r["kernels"]), f"{r['time_ms']:.3f}", r["percent"], r["gflops"],
                 r["gbps"], "yes" if r["tuned"] else ""] for r in b["profile"]["top"]])]
    blocks += _accuracy(v)
    return "performance", "4. Performance and validation", blocks


def _speedup(b: dict) -> str:
    s = b["init"].get("speedup")
    return f"{s:.1f}× faster" if s else "no speed-up"


def _accuracy(v: dict) -> list:
    if v.get("skipped"):
        return [("p", f"Accuracy: not checked ({v['skipped']}).")]
    blocks = [("p", f"Accuracy against {v['reference']}"
                    + (f" ({v['reference_note']})" if v.get("reference_note") else "")
                    + f", input: {_input_text(v['input'])}. Verdict: "
                    + ("PASS" if v["passed"] else "FAIL") + f" (cosine ≥ {v['threshold']['value']})."),
              ("table", ["output", "cosine", "SQNR dB", "max |error|", "top-1 (reference)", "top-5 overlap"],
               [[o["name"], f"{o['cosine']:.6f}", "exact" if o["sqnr_db"] is None else o["sqnr_db"],
                 f"{o['max_abs_error']:.3g}", _top1(o), o.get("top5_overlap", "—")] for o in v["outputs"]])]
    first = (v.get("diff") or {}).get("first_divergent")
    if first:
        blocks.append(("p", f"First node whose output diverges: {first['node']} ({first['op_type']}), "
                            f"cosine {first['cosine']:.6f}."))
    return blocks


def _input_text(desc: dict) -> str:
    return f"image {desc['image']} ({desc['preprocessing']})" if desc["kind"] == "image" else \
        f"random {desc['distribution']}, seed {desc['seed']}"


def _top1(o: dict) -> str:
    if "top1" not in o:
        return "—"
    text = f"{o['top1']} {o.get('top1_label', '')} ({o['top1_reference']})".replace("  ", " ")
    return text + (" ✓" if o["top1_agree"] else " ✗")


# --- 5. tuning ----------------------------------------------------------------------------------------------
def tuning(f: dict):
    b, t = f["bench"]["tuning"], f["tuning_file"]
    if t is None:
        return "tuning", "5. Tuning", [("p", "The engine ran without a storage dir: no tuning file.")]
    if t.get("format") == "absent":
        return "tuning", "5. Tuning", [("p", f"No tuning file at {t['path']}: every launch used default parameters. "
                                             f"Run `pymace tune {f['model_path']}` on this device.")]
    mine = [d for d in t.get("devices") or [] if _same_device(d, f["bench"]["device"])]
    entries = [e for d in mine for e in d["entries"] if not e.get("measured")]
    gains = [e["speedup"] for e in entries if e.get("speedup")]
    # what `pymace tune` measured for this model, whole model, untuned against tuned (tuner/proof.py)
    measured = [e["measured"] for d in mine for e in d["entries"] if e.get("measured") and
                e["key"] == f.get("proof_key")]
    rows = [["file", t["path"]], ["integrity", t.get("integrity", t.get("reason"))],
            ["for this device", t.get("for_this_device", "—")], ["entries for this device", len(entries)],
            ["nodes that ran tuned", f"{b['tuned_nodes']} of {b['kernel_nodes']} ({b['tuned_steps']} of "
                                     f"{b['steps']} launches)"],
            ["per-launch estimate", f"median {statistics.median(gains):.2f}× over the default, best "
                                    f"{max(gains):.2f}× ({len(gains)} entries)" if gains else "—"],
            ["measured whole-model gain", _measured(measured[0]) if measured else
             f"not measured for this model: `pymace tune {f['model_path']}` measures it (a per-launch estimate is "
             "not a whole-model gain)"]]
    return "tuning", "5. Tuning", [("table", ["", ""], rows)]


def _same_device(cls: dict, device: dict) -> bool:
    return cls.get("name") == device["name"] and cls.get("compute_units") in (None, device["compute_units"])


def _measured(m: dict) -> str:
    """A MeasuredRecord's fields (µs) as the report says them."""
    gain = m["default_us"] / m["tuned_us"] if m["tuned_us"] else None
    kept = ("every tuned choice went back to the default" if not m["kept"] else
            f"{m['kept']} tuned choices kept" + (f", {m['refused']} went back" if m["refused"] else ""))
    return (f"{m['default_us'] / 1e3:.3f} ms untuned → {m['tuned_us'] / 1e3:.3f} ms tuned"
            + (f" ({gain:.2f}×)" if gain else "") + f", median of {m['runs']} alternating runs each; {kept}")


# --- 6. troubleshooting --------------------------------------------------------------------------------------
def troubleshooting(f: dict):
    b, access, cache, cov = f["bench"], f["access"], f["cache"], f["coverage"]
    recorded = [f"warm start, {m['program']}: {m['reason']}" for m in b["init"]["warm"]["cache_misses"] or []]
    recorded += [f"this run, {m['program']}: {m['reason']}" for m in b["programs"]["cache_misses"] or []]
    for key in ("cache_warning",):
        if b["programs"].get(key):
            recorded.append(f"cache file: {b['programs'][key]}")
    recorded += [f"file entry {e['program']} [{e['options']}]: {e['why_not']}"
                 for e in (cache or {}).get("entries") or [] if e.get("why_not")]
    recorded += [f"not covered: {r['program']} [{r['options']}]: {r['reason']}"
                 for r in (cov or {}).get("entries", []) if not r["covered"]]
    state = (f"The cache file is {access['path']}: it {'exists' if access['exists'] else 'does not exist'}, "
             f"is {'readable' if access['readable'] else 'not readable'}, and its folder is "
             f"{'writable' if access['dir_writable'] else 'NOT writable'}.")
    blocks = [("p", state), ("p", "Reasons pymace recorded for programs not read from the cache:"),
              ("list", recorded or ["none: every program this model needs came from the cache on a warm start"]),
              ("p", "When the cache is not read:"),
              ("list", [
                  "Path: caches live in --storage-dir, else PYMACE_STORAGE_DIR, else the user cache directory. "
                  "An app must pass the same directory on every start; `pymace inspect FILE --model MODEL` says "
                  "whether the file there covers the model.",
                  "Permissions: a folder that cannot be written means programs are rebuilt on every start (a "
                  "warning, never a crash). Make it writable, or ship a pre-built cache: `pymace cache build MODEL`.",
                  "Device mismatch: an entry is used only when device name, vendor, driver version, platform "
                  "version, OpenCL C version, kernel source and build options all match; `pymace inspect` prints "
                  "which field changed (e.g. a driver update). Rebuild on the device after an update.",
                  "Damage: a bad checksum or a truncated file is a miss, and the file is rewritten at the next save."]),
              ("p", "Device dependency: compiled programs are specific to one device and driver (PTX on NVIDIA, "
                    "ELF/LLVM objects on PoCL, vendor formats on phone GPUs). A cache built here speeds up only "
                    "this device with this driver; ship one per target device, or let the first start build it. "
                    "Tuned parameters are kept separately per device class and survive driver updates. Some "
                    "drivers also finish compiling at the first enqueue (PoCL builds work-group functions then), "
                    "which the binary cannot save: compare the first-inference times above.")]
    return "troubleshooting", "6. Troubleshooting", blocks


