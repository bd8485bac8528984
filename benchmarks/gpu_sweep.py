"""pymace on an NVIDIA GPU through OpenCL vs torch (eager and CUDA graphs) over torchvision architectures, one call.

    bash benchmarks/gpu_machine.sh python3 benchmarks/gpu_sweep.py [--models a,b] [--runs 100] [--rounds 3]

Each architecture gets seeded random weights with randomised BatchNorm statistics, is exported to ONNX by torch
(opset 17), converted by pymace and run at batch 1 on the same input as torch. Timings alternate between pymace
and torch in `--rounds` rounds of `--runs` runs each; the table holds medians over all rounds. pymace's
"device" time is its enqueue loop with the inputs already on the device (as torch's inputs are); "+copies" is
`Engine.run` with the host copies. A model that fails to convert or run gets its one-line reason in the table."""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import cosine, device_only, print_table  # noqa: E402

MODELS = ["mobilenet_v2", "resnet18", "resnet50", "mobilenet_v3_large", "efficientnet_b0", "shufflenet_v2_x1_0",
          "regnet_y_400mf", "squeezenet1_1", "googlenet", "densenet121", "mnasnet1_0", "convnext_tiny", "vit_b_16"]


def torch_model(name: str):
    import torch
    import torchvision

    torch.manual_seed(0)
    kwargs = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
    model = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) * 0.5 + 0.75)
    return model


def export(model, path: str) -> None:
    import torch

    torch.onnx.export(model, torch.randn(1, 3, 224, 224), path, opset_version=17, input_names=["input"],
                      output_names=["output"], dynamo=False)


def times_ms(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e3)
    return out


class TorchRunner:
    def __init__(self, model, x: np.ndarray):
        import torch

        self.torch = torch
        self.model, self.x = model.cuda(), torch.from_numpy(x).cuda()
        with torch.inference_mode():
            self.reference = self.model(self.x).float().cpu().numpy()
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(3):
                    self.model(self.x)
            torch.cuda.current_stream().wait_stream(stream)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.model(self.x)

    def eager(self) -> None:
        with self.torch.inference_mode():
            self.model(self.x)
        self.torch.cuda.synchronize()

    def replay(self) -> None:
        self.graph.replay()
        self.torch.cuda.synchronize()


def count_convs(graph) -> int:
    return sum(n.op_type in ("Conv", "SeparableConv", "ConvTranspose") for n in graph.nodes)


def measure(name: str, args, storage: str) -> list[list]:
    """Rows for one architecture: one per data type, or one row holding the failure."""
    from pymace import Engine
    from pymace.tools.convert import convert

    model = torch_model(name)
    onnx_path = os.path.join(args.work, f"{name}.onnx")
    if not os.path.exists(onnx_path):
        export(model, onnx_path)
    graph = convert(onnx_path, os.path.join(args.work, f"{name}.pmace"))
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    feeds = {graph.inputs[0]: x}
    torch_run = TorchRunner(model, x)
    rows = []
    for data_type in args.data_types.split(","):
        t0 = time.perf_counter()
        engine = Engine(graph, device="gpu", data_type=data_type, storage_dir=storage, use_tuning=args.tuned)
        init_s = time.perf_counter() - t0
        out = engine.run(feeds)[graph.outputs[0]]
        dev, host, eager, replay = [], [], [], []
        run_dev = device_only(engine)
        for fn in (run_dev, lambda: engine.run(feeds), torch_run.eager, torch_run.replay):
            times_ms(fn, 10)  # warm-up
        for _ in range(args.rounds):
            dev += times_ms(run_dev, args.runs)
            host += times_ms(lambda: engine.run(feeds), args.runs // 2)
            eager += times_ms(torch_run.eager, args.runs // 2)
            replay += times_ms(torch_run.replay, args.runs)
        med = [statistics.median(t) for t in (dev, host, eager, replay)]
        rows.append([name, data_type, *med, med[0] / med[3], cosine(out, torch_run.reference),
                     len(engine.plan.steps), count_convs(graph), init_s])
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--data-types", default="fp32,fp16")
    ap.add_argument("--tuned", action="store_true", help="use the storage dir's tuning file")
    ap.add_argument("--work", default="/tmp/pymace-gpu-sweep")
    ap.add_argument("--storage-dir")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    storage = args.storage_dir or tempfile.mkdtemp(prefix="storage-", dir=args.work)
    rows, failed = [], []
    for name in args.models.split(","):
        try:
            rows += measure(name, args, storage)
        except Exception as e:  # one model's failure is a row of the table, not the end of the sweep
            failed.append([name, f"{type(e).__name__}: {' '.join(str(e).split())[:150]}"])
            traceback.print_exc(limit=3)
    print_table("pymace (OpenCL) vs torch on the same GPU, batch 1, median ms",
                ["model", "dtype", "pymace dev", "+copies", "torch eager", "CUDA graph", "÷graph", "cosine",
                 "launches", "convs", "init s"], rows)
    for data_type in args.data_types.split(","):
        ratios = [r[6] for r in rows if r[1] == data_type and math.isfinite(r[6])]
        if ratios:
            geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
            print(f"{data_type}: geomean pymace device / CUDA graph over {len(ratios)} models = {geo:.3f}")
    if failed:
        print_table("not run", ["model", "reason"], failed)


if __name__ == "__main__":
    main()
