"""Every zoo model on an OpenCL device (fp32 and fp16 storage) against pymace's NumPy reference executor and,
where it is installed, the source framework's runtime (onnxruntime for ONNX; LiteRT for TFLite).

    python benchmarks/accuracy.py [--device gpu] [--models all]

Prints cosine similarity and max|err|/max|ref| per model and data type. The reference executor itself is held to
1e-4 of onnxruntime / LiteRT by tests/models; this script is how the GPU machine (no registry, no LiteRT) shows
the device matches too."""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import cosine, print_table, random_feeds  # noqa: E402
from pymace.metrics import rel_err  # noqa: E402

DEFAULT = "mobilenet_v2,blazeface,ppocr_cls,ppocr_det,mtcnn_pnet,mtcnn_rnet,mtcnn_onet"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    ap.add_argument("--models", default=DEFAULT)
    args = ap.parse_args()
    from pymace import Engine
    from pymace.ir import pmace_file
    from pymace.reference import executor as reference
    from pymace.tools import zoo

    rows = []
    for name in args.models.split(","):
        graph = pmace_file.load(str(zoo.fetch(name)))
        feeds = random_feeds(graph, seed=1)
        want = reference.run(graph, feeds)
        for data_type in ("fp32", "fp16"):
            engine = Engine(graph, device=args.device, data_type=data_type)
            got = engine.run(feeds)
            cos = min(cosine(got[o], want[o]) for o in graph.outputs)
            err = max(rel_err(got[o], want[o]) for o in graph.outputs)
            mem = engine.memory
            rows.append([name, data_type, engine.device.name[:30], cos, f"{err:.2e}", len(engine.plan.steps),
                         f"{mem.total_bytes / 2**20:.1f}",
                         f"{mem.total_bytes / (mem.weights_bytes + mem.peak_live_bytes):.3f}"])
            print(rows[-1], flush=True)
    print_table("pymace on the device vs the NumPy reference executor",
                ["model", "dtype", "device", "min cosine", "max rel err", "launches", "device MiB",
                 "memory / (weights + peak live)"], rows)


if __name__ == "__main__":
    main()
