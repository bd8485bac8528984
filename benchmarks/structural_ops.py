"""Device time of the structural ops at the sizes real models give them: LSTM/GRU (one launch per time step —
silero-vad's 128-unit LSTM, ddddocr's bidirectional 512-unit one), attention-shaped batched MatMul (ViT-B/16's
[1, 12, 197, 64] × [1, 12, 64, 197]), Gather of an embedding table, and TopK over a vocabulary. For each op, size
and storage type: the median device-only latency (enqueue + finish of the plan's kernels, inputs already on the
device), the number of launches, and the error against the op's NumPy reference.

    python benchmarks/structural_ops.py [--device gpu] [--runs 20]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import device_only, median_ms, print_table  # noqa: E402
from pymace import Engine, ops  # noqa: E402
from pymace.metrics import rel_err  # noqa: E402
from pymace.ops.base import Case, Ints  # noqa: E402
from pymace.reference import executor  # noqa: E402
from tests.helpers import case_graph  # noqa: E402


def _rnn(op: str, steps: int, size: int, hidden: int, direction: str) -> Case:
    """Weights uniform in ±1/sqrt(hidden), as trained RNNs start (unit-variance ones make the recurrence chaotic:
    rounding differences then grow step by step, in any implementation)."""
    gates, dirs = (4 if op == "LSTM" else 3), (2 if direction == "bidirectional" else 1)
    rng, bound = np.random.default_rng(1), hidden ** -0.5
    weights = [rng.uniform(-bound, bound, s).astype(np.float32) for s in
               ((dirs, gates * hidden, size), (dirs, gates * hidden, hidden), (dirs, 2 * gates * hidden))]
    return Case(f"{op.lower()}_{direction}_T{steps}_I{size}_H{hidden}", [(steps, 1, size), *weights],
                {"hidden_size": hidden, "direction": direction}, consts=(1, 2, 3), op_type=op)


SIZES = [
    (ops.rnn, _rnn("LSTM", 32, 128, 128, "forward")),  # silero-vad 16k
    (ops.rnn, _rnn("LSTM", 16, 512, 512, "bidirectional")),  # ddddocr
    (ops.rnn, _rnn("GRU", 32, 128, 128, "forward")),
    (ops.gemm, Case("vit_b16_scores", [(1, 12, 197, 64), (1, 12, 64, 197)], op_type="MatMul")),
    (ops.gemm, Case("vit_b16_context", [(1, 12, 197, 197), (1, 12, 197, 64)], op_type="MatMul")),
    (ops.gather, Case("embedding_30k", [(30000, 256), Ints((1, 128), 0, 30000)], {"axis": 0}, consts=(0,))),
    (ops.topk, Case("topk_6625", [(40, 6625), np.array([5], np.int64)], {"axis": -1}, consts=(1,))),
]


def measure(module, case, device: str, data_type: str, runs: int) -> list:
    graph, feeds = case_graph(module, case, np.random.default_rng(0))
    want = executor.run(graph, feeds)
    engine = Engine(graph, device=device, data_type=data_type, storage_dir=tempfile.mkdtemp())
    got = engine.run(feeds)
    err = max(rel_err(got[n], want[n]) for n in graph.outputs)
    ms = median_ms(device_only(engine), runs=runs, warmup=3)
    return [case.op_type or module.OP_TYPES[0], case.name, data_type, len(engine.plan.steps), ms, f"{err:.2e}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    rows = [measure(m, c, args.device, dt, args.runs) for m, c in SIZES for dt in ("fp32", "fp16")]
    print_table(f"structural ops on {args.device}", ["op", "size", "storage", "launches", "ms", "rel err"], rows)


if __name__ == "__main__":
    main()
