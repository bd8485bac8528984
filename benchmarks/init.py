"""Init time cold vs warm: engine creation (device, weights, programs, plan) until ready to run, each in a fresh
process, median of N. Cold: an empty storage dir and every other cache off (pyopencl's, PoCL's, the NVIDIA
driver's); warm: the same storage dir after a first run filled it, other caches still off; warm+driver: also the
driver's own cache on (NVIDIA's binaries are PTX, which its driver compiles to machine code at load; PoCL compiles
work-group functions at the first enqueue: their caches are what a deployed app has after its first start).

    python benchmarks/init.py [--models mobilenet_v2,blazeface] [--processes 5] [--device auto] [--pmace-dir D]"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import print_table  # noqa: E402

CHILD = """
import json, sys, time
t0 = time.perf_counter()
from pymace import Engine
from pymace.runtime import device
t1 = time.perf_counter()
engine = Engine(sys.argv[1], device=sys.argv[2], data_type=sys.argv[3], storage_dir=sys.argv[4])
t2 = time.perf_counter()
engine.run({n: __import__("numpy").zeros(s, "float32") + 0.5 for n, s in engine.inputs.items()})
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "init_s": t2 - t1, "first_run_s": t3 - t2, "device": engine.device.name,
                  **{k: v for k, v in engine.init_stats.items() if k != "cache_misses"}}))
"""


def one(model: str, device: str, data_type: str, storage: str, driver_cache: str | None = None) -> dict:
    from pymace.runtime.program_cache import no_other_caches_env

    env = {**os.environ, **no_other_caches_env()}
    if driver_cache:  # the driver's own cache in a fresh folder: NVIDIA's JIT cache, PoCL's kernel cache
        env.pop("CUDA_CACHE_DISABLE", None)
        env.pop("POCL_KERNEL_CACHE", None)
        env["CUDA_CACHE_PATH"] = env["POCL_CACHE_DIR"] = driver_cache
    out = subprocess.run([sys.executable, "-c", CHILD, model, device, data_type, storage], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="mobilenet_v2,blazeface")
    ap.add_argument("--processes", type=int, default=5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data-type", default="fp32")
    ap.add_argument("--pmace-dir", help="folder of NAME.pmace files (else the zoo fetches them)")
    args = ap.parse_args()
    rows = []
    for name in args.models.split(","):
        if args.pmace_dir:
            path = os.path.join(args.pmace_dir, f"{name}.pmace")
        else:
            from pymace.tools import zoo

            path = str(zoo.fetch(name))
        runs = {"cold": [], "warm": [], "warm+driver": []}
        for _ in range(args.processes):
            with tempfile.TemporaryDirectory() as storage, tempfile.TemporaryDirectory() as driver_cache:
                runs["cold"].append(one(path, args.device, args.data_type, storage))
                runs["warm"].append(one(path, args.device, args.data_type, storage))
                # as deployed: the driver's own JIT cache on too (NVIDIA turns PTX into machine code at load)
                one(path, args.device, args.data_type, storage, driver_cache)
                runs["warm+driver"].append(one(path, args.device, args.data_type, storage, driver_cache))
        cold_ms = statistics.median(r["init_s"] for r in runs["cold"]) * 1e3
        for kind, results in runs.items():
            def med(key):
                return statistics.median(r[key] for r in results) * 1e3

            rows.append([name, kind, med("init_s"), cold_ms / med("init_s"), results[0]["programs_from_source"],
                         results[0]["programs_from_cache"], med("device_seconds"), med("build_seconds"),
                         med("load_seconds"), med("plan_seconds"), med("first_run_s"), med("import_s")])
    device = runs["cold"][0]["device"]
    print_table(f"init time on {device}, median of {args.processes} fresh processes ({args.data_type})",
                ["model", "start", "init ms", "cold/this", "built", "from cache", "device ms", "build ms", "load ms",
                 "plan ms (incl. build/load)", "1st run ms", "import ms"], rows)


if __name__ == "__main__":
    main()
