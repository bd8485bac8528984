"""Shared by the benchmark scripts: timing, model inputs, and tables (benchmarks print; they never assert)."""
from __future__ import annotations

import statistics
import time

import numpy as np


def median_ms(fn, runs: int = 50, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def device_only(engine):
    """One inference with the inputs already on the device (as torch's are in its timings): the engine's
    enqueue loop and its kernels, no copies. Takes and ignores feeds, so it can stand in for `engine.run`."""
    def run(_feeds=None) -> None:
        engine.plan.enqueuer()
        engine.queue.finish()

    return run


def random_feeds(graph, seed: int = 0, low: float = -1.0, high: float = 1.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {n: rng.uniform(low, high, graph.tensors[n].shape).astype(np.float32) for n in graph.inputs}


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-30))


def print_table(title: str, header: list[str], rows: list[list], width: int = 160) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for h in header:
        table.add_column(h)
    for r in rows:
        table.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in r])
    Console(width=width).print(table)
