"""Where a warm start's time goes: the engine's creation under cProfile, in a fresh process whose storage dir an
earlier start filled (the first call below). Prints init_stats and the functions with the most cumulative time.

    python benchmarks/init_profile.py [--model mobilenet_v2] [--device auto] [--storage-dir D] [--top 40]"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

CHILD = """
import cProfile, pstats, sys, time
t0 = time.perf_counter()
from pymace import Engine
import numpy  # noqa: F401
tp = time.perf_counter()
import pyopencl  # noqa: F401  imported here so that the profile shows engine work, not imports; but a real engine
t1 = time.perf_counter()  # creation imports it (pymace imports it lazily): its time is printed on its own
profile = cProfile.Profile()
profile.enable()
engine = Engine(sys.argv[1], device=sys.argv[2], storage_dir=sys.argv[3])
profile.disable()
t2 = time.perf_counter()
print(f"import {tp - t0:.3f} s, then pyopencl {t1 - tp:.3f} s (part of a real engine creation), engine {t2 - t1:.3f} s")
print({k: round(v, 4) if isinstance(v, float) else v for k, v in engine.init_stats.items()
       if isinstance(v, (int, float))})
if len(sys.argv) > 4:
    pstats.Stats(profile).sort_stats(sys.argv[5]).print_stats(int(sys.argv[4]))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mobilenet_v2", help="a zoo name or a .pmace path")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--storage-dir")
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, root)
    model = args.model
    if not model.endswith(".pmace"):
        from pymace.tools.zoo import fetch
        model = str(fetch(model))
    storage = args.storage_dir or tempfile.mkdtemp(prefix="pymace-init-profile-")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    base = [sys.executable, "-c", CHILD, model, args.device, storage]
    print("first start (fills the storage dir):", flush=True)
    subprocess.run(base, env=env, check=True)
    for order in ("cumulative", "tottime"):
        print(f"\nwarm start, by {order}:", flush=True)
        subprocess.run([*base, str(args.top), order], env=env, check=True)


if __name__ == "__main__":
    main()
