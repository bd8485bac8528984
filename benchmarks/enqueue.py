"""Host cost of one kernel launch: pyopencl's enqueue_nd_range_kernel vs pymace's event-free ctypes path.

    python benchmarks/enqueue.py [--device gpu] [--model mobilenet_v2]

Enqueues a model's whole plan many times without waiting (a finish every round) and divides the host time by the
number of launches; also the device-only latency of the model with each path."""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import median_ms, print_table  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    ap.add_argument("--model", default="mobilenet_v2")
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    from pymace import Engine
    from pymace.runtime.enqueue import Enqueuer
    from pymace.tools import zoo

    path = args.model if args.model.endswith(".pmace") else str(zoo.fetch(args.model))
    engine = Engine(path, device=args.device)
    steps, rows = engine.plan.steps, []
    for label, fast in [("pyopencl enqueue_nd_range_kernel", False), ("pymace ctypes, no event", True)]:
        enqueuer = Enqueuer(engine.queue, steps)
        enqueuer.fast = enqueuer.fast and fast
        host = []
        for _ in range(args.rounds):
            t = time.perf_counter()
            enqueuer()
            host.append(time.perf_counter() - t)
            engine.queue.finish()
        host.sort()
        per_launch_us = host[len(host) // 2] / len(steps) * 1e6

        def run():
            enqueuer()
            engine.queue.finish()

        rows.append([label, per_launch_us, median_ms(run, args.rounds, 10)])
    print_table(f"{args.model}: {len(steps)} launches on {engine.device.name}",
                ["enqueue path", "host µs / launch", "model device-only ms"], rows)


if __name__ == "__main__":
    main()
