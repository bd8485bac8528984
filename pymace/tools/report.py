"""`pymace report`: the deployment report of DESIGN.md §6, filled from real runs on the chosen device.

The report is a list of sections, each a list of blocks (paragraph, table, image, list, preformatted text);
one writer turns them into a self-contained HTML file (inline CSS, plots as base64 PNG, nothing fetched), another
into Markdown with the PNGs beside it. Measurements come from benchmark, validate and inspect — passed in when
the caller already has them (the demo), else run here."""
from __future__ import annotations

import base64
import dataclasses
import html
import io
import os
from pathlib import Path

from .. import __version__
from ..errors import ConfigError, writing

# A block: ("p", text) | ("table", headers, rows) | ("img", key, png bytes, caption) | ("list", items) |
# ("pre", text). A section: (anchor, title, [blocks]).


def write_report(model_path, out_path, device: str = "auto", data_type: str = "fp32", fmt: str = "html",
                 runs: int = 50, commands: list[str] | None = None, storage_dir: str | None = None,
                 bench: dict | None = None, valid: dict | None = None, image=None) -> Path:
    """Measure (unless `bench` / `valid` are given), then write the report to `out_path`; returns its path."""
    if fmt not in ("html", "md"):
        raise ConfigError(f"unknown report format {fmt!r}: use html or md")
    from . import benchmark, validate

    if bench is None:
        bench = benchmark.benchmark(model_path, device=device, data_type=data_type, runs=runs,
                                    warmup=min(5, runs), storage_dir=storage_dir)
    if valid is None:
        valid = validate.validate(model_path, image=image, device=device, data_type=data_type,
                                  storage_dir=storage_dir)
    facts = gather(model_path, bench, valid, device, data_type, commands or [])
    sections = build_sections(facts)
    out = Path(out_path)
    title = f"pymace deployment report — {bench['model']['name']} on {bench['device']['name']}"
    with writing(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(to_html(title, sections) if fmt == "html" else to_markdown(title, sections, out))
    return out


def gather(model_path, bench: dict, valid: dict, device: str, data_type: str, commands: list[str]) -> dict:
    """What the sections need besides the measurements: the cache file as inspect reads it, whether it covers
    this model, and whether its directory can be written."""
    from ..runtime.program_cache import DeviceRecord
    from . import inspect

    d = bench["device"]
    record = DeviceRecord(d["name"], d["vendor"], d["driver_version"], d["platform_name"], d["platform_version"],
                          d["opencl_c_version"])
    cache_path = bench["programs"].get("cache_file")
    cache = inspect.inspect(cache_path, record) if cache_path else None
    coverage = inspect.coverage(cache_path, model_path, device, data_type) if cache_path else None
    folder = Path(cache_path).parent if cache_path else None
    access = {"path": cache_path, "exists": bool(cache_path) and Path(cache_path).exists(),
              "dir_writable": bool(folder) and folder.exists() and os.access(folder, os.W_OK),
              "readable": bool(cache_path) and os.access(cache_path, os.R_OK)}
    return {"bench": bench, "valid": valid, "cache": cache, "coverage": coverage, "access": access,
            "model_path": str(model_path), "device_spec": device, "data_type": data_type, "commands": commands}


def build_sections(f: dict) -> list:
    return [_overview(f), _binary(f), _workflow(f), _performance(f), _troubleshooting(f)]


# --- 1. overview ---------------------------------------------------------------------------------------------
def _overview(f: dict):
    m, d = f["bench"]["model"], f["bench"]["device"]
    rows = [["pymace version", __version__], ["device", d["name"]], ["vendor", d["vendor"]],
            ["driver", d["driver_version"]], ["OpenCL (device)", d["version"]], ["OpenCL C", d["opencl_c_version"]],
            ["platform", f"{d['platform_name']} — {d['platform_version']}"],
            ["compute units", d["compute_units"]], ["device kind", "GPU" if d["is_gpu"] else "CPU / other"],
            ["model", m["name"]], ["model file", m["path"]], ["model sha256", m["model_sha256"]],
            ["source framework", m["framework"] or "—"], ["source file", m["source_file"] or "—"],
            ["source sha256", m["source_sha256"] or "—"], ["inputs", _shapes(m["inputs"])],
            ["outputs", _shapes(m["outputs"])], ["nodes", m["nodes"]], ["parameters", f"{m['params']:,}"],
            ["MACs", f"{m['macs']:,} ({m['macs'] / 1e9:.3f} G)"], ["data type", f["data_type"]]]
    return "overview", "1. Project overview", [("table", ["", ""], rows)]


def _shapes(shapes: dict) -> str:
    return ", ".join(f"{n} {s}" for n, s in shapes.items())


# --- 2. the compiled binary ----------------------------------------------------------------------------------
def _binary(f: dict):
    cache, cov, access = f["cache"], f["coverage"], f["access"]
    if cache is None:
        return "binary", "2. The compiled binary", [("p", "The engine ran without a program cache.")]
    rows = [["file", Path(access["path"]).name], ["path", access["path"]], ["size", f"{cache.get('size', 0):,} bytes"],
            ["format", cache.get("format")], ["format version", cache.get("version", "—")],
            ["integrity", cache.get("integrity", cache.get("reason"))],
            ["programs in the file", len(cache.get("entries") or [])],
            ["built for this device", sum(bool(e.get("usable_here")) for e in cache.get("entries") or [])]]
    blocks = [("table", ["", ""], rows)]
    devices = cache.get("devices") or []
    if devices:
        blocks.append(("p", "Devices the file holds programs for (one file serves several devices):"))
        blocks.append(("table", ["#", "device", "vendor", "driver", "platform", "OpenCL C"],
                       [[i, x["device_name"], x["device_vendor"], x["driver_version"], x["platform_version"],
                         x["opencl_c_version"]] for i, x in enumerate(devices)]))
    verdict = "covers every program" if cov["complete"] else f"covers {cov['covered']} of {cov['programs']} programs"
    blocks.append(("p", f"Programs this model needs on {cov['device']} ({cov['data_type']}): the cache {verdict}."))
    blocks.append(("table", ["program", "build options", "in cache", "why not"],
                   [[r["program"], r["options"], "yes" if r["covered"] else "no", r["reason"] or ""]
                    for r in cov["entries"]]))
    return "binary", "2. The compiled binary (mace_cl_compiled_program.bin)", blocks


# --- 3. workflow ---------------------------------------------------------------------------------------------
def _workflow(f: dict):
    b, v, m = f["bench"], f["valid"], f["bench"]["model"]
    model, dev, dt = f["model_path"], f["device_spec"], f["data_type"]
    opts = f" --device {dev} --data-type {dt}"
    tuned = b["tuning"]
    rows = [["convert", f"pymace convert {m['source_file'] or 'SOURCE'} -o {model}" if m["framework"] else "—",
             f"{m['nodes']} nodes from {m['framework'] or 'a graph built in Python'}"],
            ["tune", f"pymace tune {model}{opts}",
             f"{tuned['tuned_nodes']} of {tuned['kernel_nodes']} nodes ran with tuned parameters"
             + ("" if tuned["tuned_nodes"] else " (not tuned on this device: defaults used)")],
            ["validate", f"pymace validate {model}{opts}" + (f" --image {v['input']['image']}"
                                                            if v["input"].get("image", "(array)") != "(array)" else ""),
             f"{'PASS' if v['passed'] else 'FAIL'} vs {v['reference']} (cosine ≥ {v['threshold']['value']})"],
            ["benchmark", f"pymace benchmark {model}{opts} --runs {b['runs']}",
             f"p50 {b['latency_ms']['p50']:.2f} ms; init cold {b['init']['cold']['init_seconds'] * 1e3:.0f} ms, "
             f"warm {b['init']['warm']['init_seconds'] * 1e3:.0f} ms"]]
    blocks = [("table", ["step", "equivalent command", "result"], rows)]
    if f["commands"]:
        blocks += [("p", "Commands run to make this report:"), ("pre", "\n".join(f["commands"]))]
    return "workflow", "3. Deployment workflow", blocks


# --- 4. performance and validation ---------------------------------------------------------------------------
def _performance(f: dict):
    b, v = f["bench"], f["valid"]
    cold, warm, lat = b["init"]["cold"], b["init"]["warm"], b["latency_ms"]
    blocks = [("img", "init", plot_init(b), "Init time without and with the compiled binary (fresh processes)"),
              ("table", ["", "init ms", "first inference ms", "programs built", "programs from cache", "build s"],
               [[name, f"{r['init_seconds'] * 1e3:.1f}", f"{r['first_inference_seconds'] * 1e3:.1f}",
                 r["programs_from_source"], r["programs_from_cache"], r["build_seconds"]]
                for name, r in (("cold (no cache)", cold), ("warm (cache)", warm))]),
              ("p", f"The binary saves {b['init']['saved_seconds'] * 1e3:.0f} ms of init (×{b['init']['speedup']}). "
                    "Cold runs switch off every cache below pymace's (pyopencl, PoCL, the NVIDIA driver)."),
              ("img", "latency", plot_latency(b), f"Latency of {b['runs']} runs after {b['warmup']} warm-up runs"),
              ("table", ["min", "p50", "p90", "p99", "max", "mean", "throughput /s", "device memory MiB"],
               [[*(f"{lat[k]:.2f}" for k in ("min", "p50", "p90", "p99", "max", "mean")), b["throughput_per_s"],
                 f"{b['memory']['peak_device_bytes'] / 2**20:.1f}"]]),
              ("img", "ops", plot_ops(b), "Device time per op type and the slowest nodes (OpenCL profiling events)"),
              ("table", ["node", "op", "kernel", "ms", "%", "GFLOP/s", "GB/s", "tuned"],
               [[r["node"], r["op_type"], ", ".join(r["kernels"]), f"{r['time_ms']:.3f}", r["percent"], r["gflops"],
                 r["gbps"], "yes" if r["tuned"] else ""] for r in b["profile"]["top"]])]
    blocks += [("p", f"Accuracy against {v['reference']}"
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
    return "performance", "4. Performance and validation", blocks


def _input_text(desc: dict) -> str:
    return f"image {desc['image']} ({desc['preprocessing']})" if desc["kind"] == "image" else \
        f"random {desc['distribution']}, seed {desc['seed']}"


def _top1(o: dict) -> str:
    if "top1" not in o:
        return "—"
    text = f"{o['top1']} {o.get('top1_label', '')} ({o['top1_reference']})".replace("  ", " ")
    return text + (" ✓" if o["top1_agree"] else " ✗")


# --- 5. troubleshooting --------------------------------------------------------------------------------------
def _troubleshooting(f: dict):
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
    return "troubleshooting", "5. Troubleshooting", blocks


# --- plots ---------------------------------------------------------------------------------------------------
def _figure(width: float, height: float, cols: int = 1):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, cols, figsize=(width, height), dpi=100)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def plot_init(b: dict) -> bytes:
    fig, ax = _figure(7, 3.2)
    cold, warm = b["init"]["cold"], b["init"]["warm"]
    x = [0, 1]
    init = ax.bar([i - 0.2 for i in x], [cold["init_seconds"] * 1e3, warm["init_seconds"] * 1e3], 0.4,
                  label="init", color="#4f81bd")
    first = ax.bar([i + 0.2 for i in x],
                   [cold["first_inference_seconds"] * 1e3, warm["first_inference_seconds"] * 1e3], 0.4,
                   label="first inference", color="#9bbb59")
    for bars in (init, first):  # the warm init bar is often too short to read off the axis
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
    ax.set_xticks(x, ["without binary (cold)", "with binary (warm)"])
    ax.set_ylabel("ms")
    ax.legend()
    return _png(fig)


def plot_latency(b: dict) -> bytes:
    fig, (hist, box) = _figure(8, 3.2, cols=2)
    samples = b["latency_ms"]["samples"]
    hist.hist(samples, bins=min(30, max(5, len(samples) // 2)), color="#4f81bd")
    hist.set_xlabel("latency ms")
    hist.set_ylabel("runs")
    import matplotlib

    # `orientation` arrived in Matplotlib 3.10 and `vert` is deprecated from 3.11: ask for what this one has.
    sideways = {"orientation": "horizontal"} if _at_least(matplotlib.__version__, 3, 10) else {"vert": False}
    box.boxplot(samples, whis=(1, 99), **sideways)
    box.set_xlabel("latency ms (whiskers: p1–p99)")
    box.set_yticks([])
    return _png(fig)


def plot_ops(b: dict) -> bytes:
    fig, (kinds, top) = _figure(10, 3.8, cols=2)
    groups = b["profile"]["by_op_type"][::-1]
    kinds.barh([g["op_type"] for g in groups], [g["time_ms"] for g in groups], color="#4f81bd")
    kinds.set_xlabel("device ms per run, by op type")
    rows = b["profile"]["top"][::-1]
    top.barh([r["node"][-28:] for r in rows], [r["time_ms"] for r in rows], color="#c0504d")
    top.set_xlabel("device ms, slowest nodes")
    top.tick_params(axis="y", labelsize=7)
    return _png(fig)


def _at_least(version: str, major: int, minor: int) -> bool:
    parts = [int(p) for p in version.split(".")[:2] if p.isdigit()]
    return tuple(parts) >= (major, minor)


# --- writers -------------------------------------------------------------------------------------------------
CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:2px solid #4f81bd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:left;vertical-align:top;word-break:break-word}th{background:#eef3fa}figure{margin:1em 0}
figcaption{font-size:.85em;color:#555}img{max-width:100%}pre{background:#f5f5f5;padding:.8em;overflow-x:auto}"""


def to_html(title: str, sections: list) -> str:
    esc = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>"
             f"<style>{CSS}</style></head><body><h1>{esc(title)}</h1>"]
    for anchor, heading, blocks in sections:
        parts.append(f"<section id='{anchor}'><h2>{esc(heading)}</h2>")
        for block in blocks:
            kind = block[0]
            if kind == "p":
                parts.append(f"<p>{esc(block[1])}</p>")
            elif kind == "pre":
                parts.append(f"<pre>{esc(block[1])}</pre>")
            elif kind == "list":
                parts.append("<ul>" + "".join(f"<li>{esc(str(i))}</li>" for i in block[1]) + "</ul>")
            elif kind == "img":
                data = base64.b64encode(block[2]).decode()
                parts.append(f"<figure><img alt='{esc(block[3])}' src='data:image/png;base64,{data}'>"
                             f"<figcaption>{esc(block[3])}</figcaption></figure>")
            elif kind == "table":
                head = "".join(f"<th>{esc(h)}</th>" for h in block[1]) if any(block[1]) else ""
                body = "".join("<tr>" + "".join(f"<td>{esc(_str(c))}</td>" for c in row) + "</tr>"
                               for row in block[2])
                parts.append(f"<table>{f'<tr>{head}</tr>' if head else ''}{body}</table>")
        parts.append("</section>")
    return "\n".join(parts) + "\n</body></html>\n"


def to_markdown(title: str, sections: list, out: Path) -> str:
    lines = [f"# {title}", ""]
    for _, heading, blocks in sections:
        lines += [f"## {heading}", ""]
        for block in blocks:
            kind = block[0]
            if kind == "p":
                lines += [block[1], ""]
            elif kind == "pre":
                lines += ["```", block[1], "```", ""]
            elif kind == "list":
                lines += [f"- {i}" for i in block[1]] + [""]
            elif kind == "img":
                png = out.with_name(f"{out.stem}-{block[1]}.png")
                png.write_bytes(block[2])
                lines += [f"![{block[3]}]({png.name})", ""]
            elif kind == "table":
                headers = [h or " " for h in block[1]]
                lines += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
                lines += ["| " + " | ".join(_str(c).replace("|", "\\|") for c in row) + " |" for row in block[2]]
                lines.append("")
    return "\n".join(lines)


def _str(value) -> str:
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    return "—" if value is None else str(value)
