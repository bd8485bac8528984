"""Command-line options that several commands share (run, benchmark, validate, report): inputs from files, random
inputs' shape and range, run counts, image preprocessing — what benchmark_model and onnxruntime_perf_test users
type — and their parsing into the library's arguments."""
from __future__ import annotations

import argparse
import sys

from ..errors import ConfigError, InputError


def add_inputs(p: argparse.ArgumentParser, shapes: bool = True, ranges: bool = True) -> None:
    p.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                   help="an input from a .npy file (NAME= may be left out for a single-input model)")
    if shapes:
        p.add_argument("--input-shape", action="append", default=[], metavar="NAME=D0,D1,…",
                       help="the shape of a random input (must fit the model)")
    if ranges:
        p.add_argument("--input-range", metavar="LOW,HIGH", default="-1,1",
                       help="random inputs are uniform in [LOW, HIGH) (default -1,1)")


def add_runs(p: argparse.ArgumentParser, default: int) -> None:
    p.add_argument("--runs", "--rounds", dest="runs", type=int, default=default,
                   help=f"timed runs (default {default}; --rounds is the same)")


def add_cache_parser(sub, common) -> None:
    """`pymace cache build | export | import | prune`, each with its own arguments (`common`: cli.py's --json,
    --storage-dir, --device, --data-type)."""
    from .cluster import commands as cluster_commands

    cache = sub.add_parser("cache", help="fill, export, import or prune a storage dir's caches (programs, tuning, "
                           "drivers')")
    actions = cache.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = actions.add_parser("build", help="build every program a model needs, run it once (drivers' caches too)")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--tune", action="store_true", help="tune first (as `pymace tune`), then build the tuned plan")
    p.add_argument("--budget", type=float, default=60.0, help="with --tune: seconds of tuning per device (default 60)")
    cluster_commands.add_fleet_options(p)
    common(p)
    p = actions.add_parser("export", help="build, then write a bundle folder of the caches --model M uses")
    p.add_argument("model", metavar="DIR")
    p.add_argument("--model", dest="bundle_model", metavar="M", help="the model the bundle is for")
    common(p)
    p = actions.add_parser("import", help="merge a bundle folder into --storage-dir")
    p.add_argument("model", metavar="DIR")
    common(p)
    p = actions.add_parser("prune", help="drop the programs and tuning records no --model needs")
    p.add_argument("--model", dest="bundle_model", metavar="M", action="append", default=[],
                   help="a model whose programs and tuning records to keep (repeat it for several)")
    p.add_argument("--all-devices", action="store_true",
                   help="every device of this machine, not only the one the engine would use for each model")
    p.add_argument("--dry-run", action="store_true", help="say what would go, change nothing")
    common(p)


def add_preprocessing(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("image preprocessing (default: what the model records)")
    g.add_argument("--mean", help="per-channel mean, after scaling: 0.485,0.456,0.406 or one number")
    g.add_argument("--std", help="per-channel std: 0.229,0.224,0.225 or one number")
    g.add_argument("--scale", type=float, help="pixel scale before mean/std (default 1/255)")
    g.add_argument("--size", help="resize to H,W (or N for N,N; default: the input's)")
    g.add_argument("--crop", type=float, help="centre crop keeping this fraction of the shorter side (0.875)")
    g.add_argument("--layout", choices=["NCHW", "NHWC"], help="the input's layout (default: from its shape)")


def preprocessing(a) -> dict:
    return {"mean": _numbers(a.mean, "--mean"), "std": _numbers(a.std, "--std"), "scale": a.scale,
            "size": a.size, "crop": a.crop, "layout": a.layout}


def _numbers(text: str | None, flag: str):
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: expected numbers separated by commas") from None
    return values[0] if len(values) == 1 else values


def parse_shapes(items, flag: str = "--input-shape") -> dict[str, list[int]]:
    shapes = {}
    for item in items:
        name, _, dims = item.partition("=")
        try:
            shapes[name] = [int(d) for d in dims.split(",")]
        except ValueError:
            raise InputError(f"{flag} {item!r}: expected NAME=D0,D1,…") from None
    return shapes


def parse_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--input-range {text!r}: expected LOW,HIGH (e.g. 0,255)") from None
    if not low < high:
        raise ConfigError(f"--input-range {text!r}: LOW must be below HIGH")
    return low, high


def input_files(items, input_names: list[str]) -> dict[str, str]:
    """{input name: .npy path} from NAME=FILE items (FILE alone names the only input of a one-input model)."""
    files = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            if len(input_names) != 1:
                raise InputError(f"--input {item!r}: this model has inputs {input_names}; write NAME=FILE.npy")
            name, path = input_names[0], item
        if name not in input_names:
            raise InputError(f"--input {name}: the model's inputs are {input_names}")
        files[name] = path
    return files


def load_arrays(files: dict[str, str]) -> dict:
    from ..safe_io import load_npy

    feeds = {}
    for name, path in files.items():
        try:
            feeds[name] = load_npy(path)  # a header that claims more than the file holds is refused unread
        except OSError as e:
            raise InputError(f"--input {name}: cannot read {path}: {e.strerror or e}") from None
        except ValueError as e:
            raise InputError(f"--input {name}: {e}") from None
    return feeds


def feeds(a, graph, seed: int = 0) -> tuple[dict, dict]:
    """(inputs, what they are) for run and benchmark: --input files, random ones (--input-shape, --input-range)
    for the rest; checked against the model before any device work."""
    import numpy as np

    from ..ir import symbolic
    from ..reference.executor import check_inputs

    files = input_files(a.input, list(graph.inputs))
    given = load_arrays(files)
    shapes = parse_shapes(getattr(a, "input_shape", []) or [])
    unknown = sorted(set(shapes) - set(graph.inputs))
    if unknown:
        raise InputError(f"--input-shape {unknown[0]}: the model's inputs are {list(graph.inputs)}")
    low, high = parse_range(getattr(a, "input_range", "-1,1") or "-1,1")
    rng = np.random.default_rng(seed)
    random = [n for n in graph.inputs if n not in given]
    example = symbolic.example_shapes(graph)  # dynamic dims: the example shape the converter checked
    for n in random:
        if n not in shapes and n not in example:
            raise InputError(f"input {n!r} has dynamic dims {graph.tensors[n].shape}: give --input or --input-shape")
        given[n] = rng.uniform(low, high, shapes.get(n, example.get(n))).astype(graph.tensors[n].dtype)
    check_inputs(graph, given)
    desc = {"kind": "files" if not random else "random", "files": files}
    if random:
        desc |= {"seed": seed, "distribution": f"uniform({low:g}, {high:g})",
                 "shapes": {n: list(given[n].shape) for n in random}}
    return given, desc


def show_progress(a) -> bool:
    """Progress bars go to stderr when it is a terminal and the output is not --json."""
    return not getattr(a, "json", False) and sys.stderr.isatty()
