"""`validate --dataset` in one process and on a three-node Ray cluster of this machine; a fleet cache build.

    python benchmarks/cluster.py [--images DIR] [--model mobilenet_v2] [--skip-fleet]

The cluster (tests/cluster/local_cluster.py) is a head (PoCL's default pthread driver) and two workers, one with
POCL_DEVICES=pthread and one with POCL_DEVICES=basic: two distinct OpenCL devices. Prints the dataset's counts and
metrics both ways (they must be equal) with their throughput, then the fleet build of the same model on the two
workers: its merged file (as `pymace inspect` explains it) and each node's warm start."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import print_table  # noqa: E402
from tests.cluster.local_cluster import LocalCluster, NodeSpec  # noqa: E402


def pymace(*args, env=None) -> dict:
    done = subprocess.run([sys.executable, "-m", "pymace.cli", *map(str, args), "--json"], capture_output=True,
                          text=True, env={**os.environ, **(env or {})})
    if done.returncode not in (0,):
        raise SystemExit(f"pymace {' '.join(map(str, args))}: exit {done.returncode}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def dataset_row(mode: str, r: dict, wall: float) -> list:
    s, t = r["summary"], r["timing"]
    return [mode, s["images"], s["labelled"], f"{s['top1']['pymace']:.1%} / {s['top1']['reference']:.1%}",
            f"{s['top5']['pymace']:.1%} / {s['top5']['reference']:.1%}", f"{s['top1_agreement']:.1%}",
            f"{s['cosine']['min']:.9f}", f"{s['cosine']['mean']:.12f}", t.get("connect_seconds", 0.0),
            t["setup_seconds"], t["images_seconds"], t["images_per_second"], round(wall, 1)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", default="cluster-images", help="dataset folder (built by cluster_images.py)")
    ap.add_argument("--model", default="mobilenet_v2")
    ap.add_argument("--skip-fleet", action="store_true")
    args = ap.parse_args()
    from pymace.tools import zoo

    if not Path(args.images).is_dir():
        subprocess.run([sys.executable, str(Path(__file__).with_name("cluster_images.py")), args.images], check=True)
    model = str(zoo.fetch(args.model))
    storage = tempfile.mkdtemp(prefix="pymace-bench-storage-")
    probe = {"PYMACE_STORAGE_DIR": storage}
    nodes = [NodeSpec(2, env=probe), NodeSpec(2, {"poclA": 1}, {**probe, "POCL_DEVICES": "pthread"}),
             NodeSpec(2, {"poclB": 1}, {**probe, "POCL_DEVICES": "basic"})]
    t = time.perf_counter()
    pymace("cache", "build", model, "--storage-dir", storage)  # both runs start with the programs cached
    alone = pymace("validate", model, "--dataset", args.images, "--storage-dir", storage)
    rows = [dataset_row("one process", alone, time.perf_counter() - t)]
    with LocalCluster(nodes, object_store_bytes=400 << 20) as cluster:
        t = time.perf_counter()
        spread = pymace("validate", model, "--dataset", args.images, "--ray", cluster.address, "--storage-dir",
                        storage, env=cluster.env)
        rows.append(dataset_row("Ray, 3 nodes", spread, time.perf_counter() - t))
        same = spread["summary"] == alone["summary"] and spread["images"] == alone["images"]
        print_table(f"validate --dataset {args.images} ({args.model}): identical counts and metrics: {same}",
                    ["run", "images", "labelled", "top-1 pymace / ORT", "top-5 pymace / ORT", "agreement",
                     "cos min", "cos mean", "connect s", "setup s", "images s", "images/s", "wall s"], rows)
        engines = [w for w in spread["cluster"]["workers"] if w["role"] == "engine"]
        print("engine actors:", "; ".join(f"{w['node']} {w['device']}" for w in engines))
        if not args.skip_fleet:
            fleet(model, cluster)


def fleet(model: str, cluster: LocalCluster) -> None:
    out = tempfile.mkdtemp(prefix="pymace-bench-fleet-")
    t = time.perf_counter()
    r = pymace("cache", "build", model, "--fleet", cluster.address, "--fleet-resources", "poclA,poclB", "-o", out,
               env=cluster.env)
    wall = time.perf_counter() - t
    print_table(f"cache build --fleet: {len(r['builds'])} devices on {len(r['nodes'])} nodes in {wall:.1f} s "
                f"({r['seconds']})", ["device", "node", "compiled", "entries", "seconds"],
                [[b["device"], b["node"], b["stats"]["programs_compiled"], b["entries"], b["stats"]["seconds"]]
                 for b in r["builds"]])
    print_table(f"warm start from {r['merged']['cache_file']} ({r['merged']['entries']} entries, "
                f"{r['merged']['size']} bytes); all warm: {r['all_warm']}", ["device", "node", "programs built",
                                                                             "from cache"],
                [[w["device"], w["node"], w["programs_from_source"], w["programs_from_cache"]] for w in r["warm"]])
    done = subprocess.run([sys.executable, "-m", "pymace.cli", "inspect", r["merged"]["cache_file"], "--device",
                           "reference"], capture_output=True, text=True)
    text = done.stdout.splitlines()
    print("\n".join(text[:8] + ["…"] + text[-2:]))


if __name__ == "__main__":
    main()
