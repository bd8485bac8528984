"""Throughput of one Engine shared by 1, 2, 4, 8 threads (runs/s), beside one engine per thread and, on the CPU,
one onnxruntime InferenceSession shared by the same threads. Each thread runs back to back on its own fresh
inputs until the deadline; every output is checked against a single-threaded run of the same input first.

    python benchmarks/threads.py [--model mobilenet_v2] [--device auto] [--threads 1,2,4,8] [--seconds 3]

On the GPU machine: python benchmarks/threads.py --device gpu (onnxruntime's column is then its CPU run, for
scale only)."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import print_table  # noqa: E402


def throughput(run, feeds_per_thread: list[list[dict]], seconds: float) -> float:
    """Runs per second of `run(thread index, feeds)` from len(feeds_per_thread) threads at once."""
    threads = len(feeds_per_thread)
    counts, start = [0] * threads, threading.Barrier(threads + 1)
    deadline = [0.0]

    def worker(k: int) -> None:
        feeds = feeds_per_thread[k]
        run(k, feeds[0])  # warm-up: makes this thread's executor (or session state) before timing
        start.wait()
        while time.perf_counter() < deadline[0]:
            run(k, feeds[counts[k] % len(feeds)])
            counts[k] += 1

    workers = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    deadline[0] = float("inf")
    start.wait()
    t0 = time.perf_counter()
    deadline[0] = t0 + seconds
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - t0)


def fresh_feeds(graph, threads: int, per_thread: int = 8) -> list[list[dict]]:
    rng = np.random.default_rng(0)
    return [[{n: rng.uniform(-1, 1, graph.tensors[n].shape).astype(np.float32) for n in graph.inputs}
             for _ in range(per_thread)] for _ in range(threads)]


def ort_session(name: str, path: str):
    """onnxruntime on the model's ONNX source, or None when it has none (a TFLite model)."""
    try:
        import onnxruntime as ort

        from pymace.tools import zoo

        source = zoo.source(name) if name in zoo.ENTRIES else None
    except ImportError:
        return None
    if name == "mobilenet_v2":
        from pymace.frontends.torch_mobilenet import to_onnx

        model = to_onnx(source).SerializeToString()
    elif source is not None and str(source).endswith(".onnx"):
        model = str(source)
    elif path.endswith(".onnx"):
        model = path
    else:
        return None
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return lambda feeds: sess.run(None, dict(zip(names, feeds.values())))


def check(engine, feeds_per_thread: list[list[dict]]) -> int:
    """Wrong outputs when every thread runs its first inputs once, at the same time, vs one at a time."""
    want = [engine.run(f[0]) for f in feeds_per_thread]
    got: list = [None] * len(feeds_per_thread)

    def one(k):
        got[k] = engine.run(feeds_per_thread[k][0])

    workers = [threading.Thread(target=one, args=(k,)) for k in range(len(feeds_per_thread))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(not np.array_equal(got[k][o], want[k][o]) for k in range(len(want)) for o in want[k])


def rows_for(args, graph, path: str, storage: str) -> list[list]:
    from pymace import Engine

    shared = Engine(graph, device=args.device, data_type=args.data_type, storage_dir=storage)
    most = max(args.threads)
    shared.max_concurrent_runs = max(shared.max_concurrent_runs, most)
    feeds = fresh_feeds(graph, most)
    own = [shared] + [Engine(graph, device=args.device, data_type=args.data_type, storage_dir=storage)
                      for _ in range(most - 1)]
    ort = ort_session(args.model, path) if args.onnxruntime else None
    rows, single = [], None
    for n in args.threads:
        wrong = check(shared, feeds[:n])
        one_engine = throughput(lambda k, f: shared.run(f), feeds[:n], args.seconds)
        single = single or one_engine
        per_thread = throughput(lambda k, f: own[k].run(f), feeds[:n], args.seconds)
        peer = throughput(lambda k, f: ort(f), feeds[:n], args.seconds) if ort else None
        rows.append([n, one_engine, one_engine / single, shared.executors, per_thread,
                     peer if peer is not None else "–", wrong])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mobilenet_v2", help="a zoo name or a .pmace path")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data-type", default="fp32")
    ap.add_argument("--threads", default="1,2,4,8")
    ap.add_argument("--seconds", type=float, default=3.0, help="timed per configuration")
    ap.add_argument("--no-onnxruntime", dest="onnxruntime", action="store_false")
    args = ap.parse_args()
    args.threads = [int(t) for t in args.threads.split(",")]
    from pymace import Engine
    from pymace.ir import pmace_file
    from pymace.tools import zoo

    path = args.model if args.model.endswith(".pmace") else str(zoo.fetch(args.model))
    graph = pmace_file.load(path)
    with tempfile.TemporaryDirectory(prefix="pymace-threads-") as storage:
        rows = rows_for(args, graph, path, storage)
        device = Engine(graph, device=args.device, storage_dir=storage).device_name
    print_table(f"{args.model} on {device} ({args.data_type}): runs/s, {args.seconds:g} s per cell, "
                f"{os.cpu_count()} CPU cores",
                ["threads", "one engine", "× 1 thread", "executors", "engine per thread", "onnxruntime shared (CPU)",
                 "wrong outputs"], rows)


if __name__ == "__main__":
    main()
