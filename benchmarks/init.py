"""Start-up, each start a fresh process, median of N: from process start to the first result, split into import,
engine creation (device + context, then plan with its programs) and the first inference.

Rows (every process is given a storage dir and nothing else; no driver cache variable is set by hand):
  cold, caches off     an empty storage dir, and the drivers' caches switched off (POCL_KERNEL_CACHE=0,
                       CUDA_CACHE_DISABLE=1, PYOPENCL_NO_CACHE=1): nothing cached anywhere
  cold                 an empty storage dir: what a user's first start pays (the drivers' caches are empty, in it)
  warm                 the storage dir one cold start and its first inference filled
  warm from bundle     an empty storage dir into which `pymace cache import` unpacked the bundle that
                       `pymace cache export` wrote from that filled storage dir
Python bytecode is compiled once before the first start, as an installed package has it (with
PYTHONDONTWRITEBYTECODE=1, as on the shared development machine, every process compiled pymace's modules anew).
"CPU ms" is the process's CPU time with its build workers' (user + system): on a shared machine, where wall
time is mostly waiting for a core, it is the figure that does not depend on the load.
The drivers' caches live in the storage dir (runtime/driver_caches.py), so "warm" carries them all.

    python benchmarks/init.py [--models mobilenet_v2,blazeface] [--processes 5] [--device auto]
                              [--data-type fp32] [--pmace-dir D] [--rows cold-off,cold,warm,bundle]"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import print_table  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHILD = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from pymace import Engine
t1 = time.perf_counter()
engine = Engine(sys.argv[1], device=sys.argv[2], data_type=sys.argv[3], storage_dir=sys.argv[4])
t2 = time.perf_counter()
rng = np.random.default_rng(0)
feeds = {n: rng.uniform(-1, 1, s).astype(engine.graph.tensors[n].dtype) for n, s in engine.inputs.items()}
engine.run(feeds)
t3 = time.perf_counter()
import resource
cpu = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
          for f in ("ru_utime", "ru_stime"))
print(json.dumps({"result_at": time.time(), "cpu_s": cpu, "import_s": t1 - t0, "init_s": t2 - t1,
                  "first_run_s": t3 - t2,
                  "device": engine.device.name, **{k: v for k, v in engine.init_stats.items()
                                                   if isinstance(v, (int, float))}}))
"""
WARM_BYTECODE = ("import numpy, pyopencl, filelock, platformdirs, yaml, json, resource; import pymace.engine, "
                 "pymace.runtime.session, pymace.runtime.bind, pymace.runtime.executor, pymace.runtime.pool, "
                 "pymace.runtime.build_worker, pymace.passes, pymace.ops, pymace.cli, pymace.tools.cache_bundle")
CACHE_VARIABLES = ("POCL_CACHE_DIR", "POCL_KERNEL_CACHE", "CUDA_CACHE_PATH", "CUDA_CACHE_DISABLE",
                   "CUDA_CACHE_MAXSIZE", "PYOPENCL_NO_CACHE", "PYMACE_STORAGE_DIR", "PYTHONDONTWRITEBYTECODE")
BYTECODE = tempfile.mkdtemp(prefix="pymace-init-pyc-")  # pymace's modules compiled once, as an install has them
CACHES_OFF = {"POCL_KERNEL_CACHE": "0", "CUDA_CACHE_DISABLE": "1", "PYOPENCL_NO_CACHE": "1"}


def clean_env(caches_off: bool = False) -> dict:
    """This environment without any cache variable (pymace places the drivers' caches), or with them all off."""
    env = {k: v for k, v in os.environ.items() if k not in CACHE_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    env["PYTHONPYCACHEPREFIX"] = BYTECODE
    return {**env, **CACHES_OFF} if caches_off else env


def start(model: str, args, storage: str, caches_off: bool = False) -> dict:
    """One fresh process: engine creation and the first inference; times in seconds."""
    began = time.time()
    out = subprocess.run([sys.executable, "-c", CHILD, model, args.device, args.data_type, storage],
                         env=clean_env(caches_off), capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"the start failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {**result, "start_to_result_s": result["result_at"] - began}


def pymace_cli(*argv: str) -> None:
    subprocess.run([sys.executable, "-m", "pymace.cli", *argv], env=clean_env(), check=True, capture_output=True)


def measure(model: str, args, scratch: str) -> dict[str, list[dict]]:
    """Cold rows: a new empty storage dir each; warm: fresh processes on the storage dir one cold start (and its
    first inference) filled; bundle: a new empty storage dir each, with the bundle exported from that one."""
    runs = {row: [] for row in args.rows}
    filled, bundle = tempfile.mkdtemp(dir=scratch), os.path.join(scratch, "bundle")
    first_cold = start(model, args, filled) if {"cold", "warm", "bundle"} & runs.keys() else None
    for i in range(args.processes):
        if "cold-off" in runs:
            runs["cold-off"].append(start(model, args, tempfile.mkdtemp(dir=scratch), caches_off=True))
        if "cold" in runs:
            runs["cold"].append(first_cold if i == 0 else start(model, args, tempfile.mkdtemp(dir=scratch)))
        if "warm" in runs:
            runs["warm"].append(start(model, args, filled))
        if "bundle" in runs:
            if i == 0:
                pymace_cli("cache", "export", "--model", model, bundle, "--device", args.device, "--data-type",
                           args.data_type, "--storage-dir", filled)
            empty = tempfile.mkdtemp(dir=scratch)
            pymace_cli("cache", "import", bundle, "--storage-dir", empty)
            runs["bundle"].append(start(model, args, empty))
    return runs


LABELS = {"cold-off": "cold, caches off", "cold": "cold", "warm": "warm", "bundle": "warm from bundle"}


def rows_of(name: str, runs: dict[str, list[dict]]) -> list[list]:
    rows = []
    for kind, results in runs.items():
        def med(key, results=results):
            return round(statistics.median(r.get(key, 0.0) for r in results) * 1e3)

        first = results[0]
        own = round(statistics.median(r["init_s"] - r.get("device_seconds", 0.0) for r in results) * 1e3)
        rows.append([name, LABELS[kind], med("start_to_result_s"), med("cpu_s"), med("import_s"), med("init_s"),
                     med("device_seconds"), own, med("build_seconds"), med("load_seconds"), med("first_run_s"),
                     f"{first.get('programs_from_source', 0)} / {first.get('programs_from_cache', 0)}",
                     f"{first.get('build_workers', 0)} ({first.get('built_by_workers', 0)})"])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="mobilenet_v2,blazeface")
    ap.add_argument("--processes", type=int, default=5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data-type", default="fp32")
    ap.add_argument("--pmace-dir", help="folder of NAME.pmace files (else the zoo fetches them)")
    ap.add_argument("--rows", default="cold-off,cold,warm,bundle", type=lambda s: s.split(","))
    args = ap.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(ROOT, "pymace")], env=clean_env(),
                   check=True)
    subprocess.run([sys.executable, "-c", WARM_BYTECODE], env=clean_env(), check=True)
    rows, device = [], "?"
    for name in args.models.split(","):
        if args.pmace_dir:
            path = os.path.join(args.pmace_dir, f"{name}.pmace")
        else:
            from pymace.tools import zoo

            path = str(zoo.fetch(name))
        with tempfile.TemporaryDirectory() as scratch:
            runs = measure(path, args, scratch)
        rows += rows_of(name, runs)
        device = next(iter(runs.values()))[0]["device"]
    load = f", load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores" if hasattr(os, "getloadavg") else ""
    print_table(f"start-up on {device}, median of {args.processes} fresh processes ({args.data_type}{load})",
                ["model", "start", "start → 1st result ms", "CPU ms (+workers)", "import ms", "init ms",
                 "device + context ms", "init − context ms", "build ms", "load ms", "1st inference ms",
                 "built / cached", "workers (built)"], rows)


if __name__ == "__main__":
    main()
