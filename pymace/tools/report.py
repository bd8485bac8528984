"""`pymace report`: the deployment report of DESIGN.md §6, filled from real runs on the chosen device.

The report opens on a summary card (verdict, latency, init cold → warm, time to first result), then sections:
overview with the environment, the compiled binary, the workflow, performance and validation, tuning,
troubleshooting. Each section is a list of blocks (report_writers.py) written as one self-contained HTML file
or as Markdown with the PNGs beside it — chosen by -o's extension. Measurements come from benchmark, validate
and inspect — passed in when the caller already has them (the demo), else run here."""
from __future__ import annotations

import os
from pathlib import Path

from .. import __version__
from ..errors import ConfigError, PymaceError, writing
from .progress import QUIET
from .report_sections import performance, troubleshooting, tuning
from .report_writers import to_html, to_markdown

FORMATS = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}


def format_for(out_path, fmt: str | None = None) -> str:
    """The report format: `fmt` when given, else from the file's extension (.md → Markdown, else HTML)."""
    if fmt is None:
        return FORMATS.get(Path(out_path).suffix.lower(), "html")
    if fmt not in ("html", "md"):
        raise ConfigError(f"unknown report format {fmt!r}: use html or md")
    return fmt


def write_report(model_path, out_path, device: str = "auto", data_type: str = "fp32", fmt: str | None = None,
                 runs: int = 50, commands: list[str] | None = None, storage_dir: str | None = None,
                 bench: dict | None = None, valid: dict | None = None, image=None, reference: str = "auto",
                 progress=QUIET) -> Path:
    """Measure (unless `bench` / `valid` are given), then write the report to `out_path`; returns its path."""
    fmt = format_for(out_path, fmt)
    from . import benchmark

    skipped = None if valid is not None else validation_precheck(model_path, reference)
    if bench is None:
        bench = benchmark.benchmark(model_path, device=device, data_type=data_type, runs=runs,
                                    warmup=min(5, runs), storage_dir=storage_dir, progress=progress)
    if valid is None:
        progress.task("validating", None)
        valid = skipped or validate_or_skip(model_path, image=image, device=device, data_type=data_type,
                                            storage_dir=storage_dir, reference=reference)
    progress.task("writing the report", None)
    facts = gather(model_path, bench, valid, device, data_type, commands or [])
    out = Path(out_path)
    title = f"pymace deployment report — {bench['model']['name']} on {bench['device']['name']}"
    with writing(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        lead, sections = [summary_card(facts)], build_sections(facts)
        out.write_text(to_html(title, sections, lead) if fmt == "html" else to_markdown(title, sections, out, lead))
    return out


def validation_precheck(model_path, reference: str) -> dict | None:
    """{"skipped": why} when validation cannot run (its runtime missing, its source gone), known before the
    benchmark's long work; None when it can."""
    from ..extras import MissingExtraError
    from ..ir import pmace_file
    from . import validate

    graph = pmace_file.load(str(model_path))
    try:
        kind, _, _ = validate.choose_reference(graph, reference)
        validate.require_runtime(kind, graph)
    except MissingExtraError as missing:
        return {"skipped": str(missing)}
    except PymaceError as error:
        return {"skipped": str(error)}
    return None


def validate_or_skip(model_path, **options) -> dict:
    """validate's result, or {"skipped": why} when its runtime is not installed or its source model is gone."""
    from . import validate

    return validation_precheck(model_path, options.get("reference", "auto")) or \
        validate.validate(model_path, **options)


def gather(model_path, bench: dict, valid: dict, device: str, data_type: str, commands: list[str]) -> dict:
    """What the sections need besides the measurements: the cache file as inspect reads it, whether it covers
    this model, whether its directory can be written, the tuning file, and the environment."""
    from ..runtime.program_cache import DeviceRecord
    from . import inspect

    d = bench["device"]
    record = DeviceRecord(d["name"], d["vendor"], d["driver_version"], d["platform_name"], d["platform_version"],
                          d["opencl_c_version"])
    cache_path = bench["programs"].get("cache_file")
    cache = inspect.inspect(cache_path, record) if cache_path else None
    coverage = inspect.coverage(cache_path, model_path, d.get("selector") or device, data_type) if cache_path \
        else None
    folder = Path(cache_path).parent if cache_path else None
    access = {"path": cache_path, "exists": bool(cache_path) and Path(cache_path).exists(),
              "dir_writable": bool(folder) and folder.exists() and os.access(folder, os.W_OK),
              "readable": bool(cache_path) and os.access(cache_path, os.R_OK)}
    return {"bench": bench, "valid": valid, "cache": cache, "coverage": coverage, "access": access,
            "tuning_file": _tuning_file(folder, record), "environment": environment(d),
            "model_path": str(model_path), "device_spec": device, "data_type": data_type, "commands": commands,
            "proof_key": _proof_key(model_path, bench.get("data_type") or data_type)}


def _proof_key(model_path, data_type: str) -> str | None:
    """The tuning-file key of what `pymace tune` measured for this model (tuner/proof.py)."""
    from ..ir import pmace_file
    from ..runtime.tuner.proof import proof_key

    return proof_key(pmace_file.load(str(model_path)), data_type) if data_type else None


def _tuning_file(folder: Path | None, record) -> dict | None:
    from ..runtime import tuning_file
    from . import tune_report

    if folder is None:
        return None
    path = folder / tuning_file.FILE_NAME
    return tune_report.explain(path, record) if path.exists() else {"path": str(path), "format": "absent"}


def environment(device: dict) -> list[tuple[str, str]]:
    """(label, value) pairs that make the report reproducible: when, where, with what."""
    import datetime
    import platform
    from importlib import metadata

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    return [("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
            ("host", platform.node() or "—"), ("OS", platform.platform()),
            ("Python", platform.python_version()), ("pymace", __version__), ("numpy", version("numpy")),
            ("pyopencl", version("pyopencl")), ("driver", device["driver_version"]),
            ("device", f"{device['name']} — `--device {device.get('selector') or 'auto'}`"),
            ("platform", f"{device['platform_name']} — {device['platform_version']}")]


def verdict_text(v: dict) -> str:
    if v.get("skipped"):
        return f"validation skipped: {v['skipped']}"
    return f"{'PASS' if v['passed'] else 'FAIL'} vs {v['reference']} (cosine ≥ {v['threshold']['value']})"


def summary_card(f: dict):
    b, v = f["bench"], f["valid"]
    cold, warm = b["init"]["cold"], b["init"]["warm"]
    first = {k: (r["init_seconds"] + r["first_inference_seconds"]) * 1e3 for k, r in (("cold", cold), ("warm", warm))}
    speedup = f" ({b['init']['speedup']:.1f}× faster)" if b["init"].get("speedup") else ""
    lat = b["latency_ms"]
    pairs = [("verdict", verdict_text(v)),
             ("latency p50", f"{lat['p50']:.2f} ms (p99 {lat['p99']:.2f} ms, {b['runs']} runs)"),
             ("init cold → warm",
              f"{cold['init_seconds'] * 1e3:.0f} ms → {warm['init_seconds'] * 1e3:.0f} ms{speedup}"),
             ("time to first result", f"{first['cold']:.0f} ms cold, {first['warm']:.0f} ms warm (init + first "
                                      "inference)"),
             ("device", f"{b['device']['name']} ({b['data_type']})")]
    state = "skip" if v.get("skipped") else "pass" if v.get("passed") else "fail"
    return ("card", f"Summary — {b['model']['name']}", pairs, state)


def build_sections(f: dict) -> list:
    return [_overview(f), _binary(f), _workflow(f), performance(f), tuning(f), troubleshooting(f)]


# --- 1. overview ---------------------------------------------------------------------------------------------
def _overview(f: dict):
    m, d = f["bench"]["model"], f["bench"]["device"]
    rows = [["model", m["name"]], ["model file", m["path"]], ["model sha256", m["model_sha256"]],
            ["source framework", m["framework"] or "—"], ["source file", m["source_file"] or "—"],
            ["source sha256", m["source_sha256"] or "—"], ["inputs", _shapes(m["inputs"])],
            ["outputs", _shapes(m["outputs"])], ["nodes", m["nodes"]], ["parameters", f"{m['params']:,}"],
            ["MACs", f"{m['macs']:,} ({m['macs'] / 1e9:.3f} G)"], ["data type", f["data_type"]],
            ["vendor", d["vendor"]], ["OpenCL (device)", d["version"]], ["OpenCL C", d["opencl_c_version"]],
            ["compute units", d["compute_units"]], ["device kind", "GPU" if d["is_gpu"] else "CPU / other"]]
    return "overview", "1. Project overview", [("facts", f["environment"]), ("table", ["", ""], rows)]


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
    missed = [r for r in cov["entries"] if not r["covered"]]
    headers = ["program", "build options", "in cache"] + (["why not"] if missed else [])
    table = ("table", headers, [[r["program"], r["options"], "yes" if r["covered"] else "no"]
                                + ([r["reason"] or ""] if missed else []) for r in cov["entries"]])
    blocks.append(("details", f"{cov['programs']} programs and their build options", [table]))
    return "binary", "2. The compiled binary (mace_cl_compiled_program.bin)", blocks


# --- 3. workflow ---------------------------------------------------------------------------------------------
def _image_flag(v: dict) -> str:
    image = (v.get("input") or {}).get("image", "(array)")
    return f" --image {image}" if image != "(array)" else ""


def _workflow(f: dict):
    b, v, m = f["bench"], f["valid"], f["bench"]["model"]
    model, dt = f["model_path"], f["data_type"]
    opts = f" --device {b['device'].get('selector') or f['device_spec']} --data-type {dt}"
    tuned = b["tuning"]
    rows = [["convert", f"pymace convert {m['source_file'] or 'SOURCE'} -o {model}" if m["framework"] else "—",
             f"{m['nodes']} nodes from {m['framework'] or 'a graph built in Python'}"],
            ["tune", f"pymace tune {model}{opts}",
             f"{tuned['tuned_nodes']} of {tuned['kernel_nodes']} nodes ran with tuned parameters"
             + ("" if tuned["tuned_nodes"] else " (not tuned on this device: defaults used)")],
            ["validate", f"pymace validate {model}{opts}" + _image_flag(v), verdict_text(v)],
            ["benchmark", f"pymace benchmark {model}{opts} --runs {b['runs']}",
             f"p50 {b['latency_ms']['p50']:.2f} ms; init cold {b['init']['cold']['init_seconds'] * 1e3:.0f} ms, "
             f"warm {b['init']['warm']['init_seconds'] * 1e3:.0f} ms"]]
    blocks = [("table", ["step", "equivalent command", "result"], rows)]
    if f["commands"]:
        blocks += [("p", "Commands run to make this report:"), ("pre", "\n".join(f["commands"]))]
    return "workflow", "3. Deployment workflow", blocks
