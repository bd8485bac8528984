"""pymace on an NVIDIA GPU through OpenCL vs torch (eager and CUDA graphs) over torchvision architectures, one call.

    bash benchmarks/gpu_machine.sh python3 benchmarks/gpu_sweep.py [--models a,b] [--runs 100] [--rounds 3]
        [--variants default,before,split-last,no-se,…]

Each architecture gets seeded random weights with randomised BatchNorm statistics (and random values for the
tensors torchvision initialises to zeros), is exported to ONNX by torch (opset 17), converted by pymace and run at
batch 1 on the same input as torch. Each plan variant
(benchmarks/fusion_variants.py: the GPU plan's fusions all on, some off, the in-kernel split-K sums on) is one
engine per data type; timings alternate between every engine and torch in `--rounds` rounds of `--runs` runs
each; the table holds medians over all rounds. pymace's "device" time is its enqueue loop with the inputs
already on the device (as torch's inputs are); "+copies" is `Engine.run` with the host copies. "launches" is
the plan's kernel launches, "÷convs" launches per conv of the model. A model that fails to convert or run gets
its one-line reason in the table."""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import signal
import statistics
import sys
import tempfile
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import cosine, device_only, print_table  # noqa: E402
from benchmarks.fusion_variants import check, variant_env  # noqa: E402

MODELS = ["mobilenet_v2", "resnet18", "resnet50", "mobilenet_v3_large", "efficientnet_b0", "shufflenet_v2_x1_0",
          "regnet_y_400mf", "squeezenet1_1", "googlenet", "densenet121", "mnasnet1_0", "convnext_tiny", "vit_b_16",
          "swin_t"]


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
    with torch.no_grad():  # torchvision zero-initialises some tensors (ViT's head: every output 0, cosine 0)
        for p in model.parameters():
            if not p.any():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
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
    """torch eager and CUDA-graph replays of the model on the GPU (without CUDA, for dry runs: eager on the CPU
    for both)."""

    def __init__(self, model, x: np.ndarray):
        import torch

        self.torch, self.cuda = torch, torch.cuda.is_available()
        device = "cuda" if self.cuda else "cpu"
        self.model, self.x = model.to(device), torch.from_numpy(x).to(device)
        with torch.inference_mode():
            self.reference = self.model(self.x).float().cpu().numpy()
            if not self.cuda:
                return
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
        if self.cuda:
            self.torch.cuda.synchronize()

    def replay(self) -> None:
        if not self.cuda:
            return self.eager()
        self.graph.replay()
        self.torch.cuda.synchronize()


def count_convs(graph) -> int:
    return sum(n.op_type in ("Conv", "SeparableConv", "ConvTranspose") for n in graph.nodes)


def plan_signature(graph, device, data_type: str) -> tuple:
    """What tells two plan variants apart: every launch's program and tuning key (kernel, options, shapes)."""
    from pymace.runtime.plan import make_plan

    return tuple((launch.program_key, launch.tuning_key) for launch in make_plan(graph, device, data_type).launches)


def make_engines(name: str, graph, feeds, args, storage: str, failed: list) -> tuple[list[tuple], dict]:
    """(variant, data type, engine, init s, output) for every variant and data type whose plan differs from the
    variants before it, and {(variant, data type): the earlier variant with the same plan}. Each engine plans (and
    runs once) under its variant's environment; one that fails is a row of `failed`, the others still run."""
    from pymace import Engine
    from pymace.runtime import device as devices

    if args.as_gpu:  # dry runs off the GPU machine: this device planned as a 132-unit GPU (the fusions apply)
        described = dataclasses.replace(devices.select(args.device), is_gpu=True, compute_units=132)
        devices.select = lambda spec: described
    traits = devices.select(args.device).traits
    made, same, seen = [], {}, {}
    for variant in args.variants.split(","):
        for data_type in args.data_types.split(","):
            with variant_env(variant):
                signature = (data_type, plan_signature(graph, traits, data_type))
                if signature in seen:
                    same[(variant, data_type)] = seen[signature]
                    continue
                t0 = time.perf_counter()
                try:
                    engine = Engine(graph, device=args.device, data_type=data_type, storage_dir=storage,
                                    use_tuning=args.tuned)
                    init_s = time.perf_counter() - t0
                    out = engine.run(feeds)[graph.outputs[0]]
                except Exception as e:  # e.g. a variant's program that this driver does not build
                    failed.append([f"{name} {variant} {data_type}", f"{type(e).__name__}: {short(e)}"])
                    continue
                seen[signature] = variant
            made.append((variant, data_type, engine, init_s, out))
    return made, same


def short(e: Exception) -> str:
    return " ".join(str(e).split())[:150]


def measure(name: str, args, storage: str, failed: list) -> list[list]:
    """Rows for one architecture, one per variant and data type; a variant whose plan equals an earlier one's is
    not timed again: its row is that one's, with the earlier variant's name in the last column."""
    from pymace.tools.convert import convert

    model = torch_model(name)
    onnx_path = os.path.join(args.work, f"{name}.onnx")
    if not os.path.exists(onnx_path):
        export(model, onnx_path)
    graph = convert(onnx_path, os.path.join(args.work, f"{name}.pmace"))
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    feeds = {graph.inputs[0]: x}
    torch_run = TorchRunner(model, x)
    engines, same = make_engines(name, graph, feeds, args, storage, failed)
    runners = [(device_only(e), lambda e=e: e.run(feeds)) for _, _, e, _, _ in engines]
    for fn in [f for pair in runners for f in pair] + [torch_run.eager, torch_run.replay]:
        times_ms(fn, 10)  # warm-up
    dev, host, eager, replay = [[] for _ in engines], [[] for _ in engines], [], []
    for _ in range(args.rounds):
        for k, (run_dev, run_host) in enumerate(runners):
            dev[k] += times_ms(run_dev, args.runs)
            host[k] += times_ms(run_host, args.runs // 2)
        eager += times_ms(torch_run.eager, args.runs // 2)
        replay += times_ms(torch_run.replay, args.runs)
    eager_ms, graph_ms, convs, rows = statistics.median(eager), statistics.median(replay), count_convs(graph), []
    for k, (variant, data_type, engine, init_s, out) in enumerate(engines):
        dev_ms, host_ms, launches = statistics.median(dev[k]), statistics.median(host[k]), len(engine.plan.steps)
        rows.append([name, variant, data_type, dev_ms, host_ms, eager_ms, graph_ms, dev_ms / graph_ms,
                     dev_ms / eager_ms, cosine(out, torch_run.reference), launches, convs, launches / max(convs, 1),
                     init_s, ""])
        print(rows[-1], flush=True)
    timed = {(r[1], r[2]): r for r in rows}
    return rows + [[name, v, d, *timed[(earlier, d)][3:-1], earlier] for (v, d), earlier in same.items()]


HEADER = ["model", "variant", "dtype", "pymace dev", "+copies", "torch eager", "CUDA graph", "÷graph", "÷eager",
          "cosine", "launches", "convs", "÷convs", "init s", "same plan as"]


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def print_summary(rows: list[list], args) -> None:
    """Per variant and data type: geomean of pymace / CUDA graph and pymace / eager over the models it ran, and
    the models with more launches than 1.2 per conv; then each variant's fp32 time against the default plan's."""
    for variant in args.variants.split(","):
        for data_type in args.data_types.split(","):
            mine = [r for r in rows if r[1:3] == [variant, data_type] and math.isfinite(r[7])]
            if mine:
                over = [r[0] for r in mine if r[12] > 1.2]
                print(f"{variant} {data_type}: geomean pymace device / CUDA graph over {len(mine)} models = "
                      f"{geomean([r[7] for r in mine]):.3f}, / torch eager = {geomean([r[8] for r in mine]):.3f}; "
                      f"launches > 1.2 x convs: {', '.join(over) or 'none'}")
    default = {(r[0], r[2]): r for r in rows if r[1] == "default"}
    compared = [[r[0], r[1], r[2], r[3], default[(r[0], r[2])][3], r[3] / default[(r[0], r[2])][3], r[10],
                 default[(r[0], r[2])][10]] for r in rows
                if r[1] != "default" and (r[0], r[2]) in default and r[-1] != "default"]
    if compared:
        print_table("each variant against the default plan (device ms; > 1: the default is faster)",
                    ["model", "variant", "dtype", "variant ms", "default ms", "÷default", "launches",
                     "default launches"], compared)
    fp16 = {r[0]: r for r in rows if r[1:3] == ["default", "fp16"]}
    slower = [r[0] for r in rows if r[1:3] == ["default", "fp32"] and r[0] in fp16 and fp16[r[0]][3] > r[3]]
    if fp16:
        print(f"default fp16 slower than fp32 on: {', '.join(slower) or 'none'}")


class Stopped(BaseException):
    """SIGTERM (`timeout`): stop measuring and print what was measured (a BaseException, so that no
    `except Exception` on the way swallows it)."""


def _stop(signum, frame):
    raise Stopped


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--data-types", default="fp32,fp16")
    ap.add_argument("--variants", default="default", help="plan variants (benchmarks/fusion_variants.py), e.g. "
                    "default,before,split-last,no-se; one whose plan equals an earlier one's is not timed again")
    ap.add_argument("--tuned", action="store_true", help="use the storage dir's tuning file")
    ap.add_argument("--work", default="/tmp/pymace-gpu-sweep")
    ap.add_argument("--storage-dir")
    ap.add_argument("--device", default="gpu")
    ap.add_argument("--as-gpu", action="store_true", help="plan --device as a GPU (dry runs without one)")
    ap.add_argument("--budget-s", type=float, default=math.inf, help="start no model after this many seconds")
    args = ap.parse_args()
    check(args.variants.split(","))
    os.makedirs(args.work, exist_ok=True)
    storage = args.storage_dir or tempfile.mkdtemp(prefix="storage-", dir=args.work)
    rows, failed, start, stopped = [], [], time.perf_counter(), False
    signal.signal(signal.SIGTERM, _stop)
    for name in args.models.split(","):
        if stopped or time.perf_counter() - start > args.budget_s:
            failed.append([name, "not started: " + ("stopped" if stopped else f"past --budget-s {args.budget_s:g}")])
            continue
        try:
            rows += measure(name, args, storage, failed)
        except Stopped:
            failed.append([name, "stopped by SIGTERM (timeout)"])
            stopped = True
        except Exception as e:  # one model's failure is a row of the table, not the end of the sweep
            failed.append([name, f"{type(e).__name__}: {short(e)}"])
            traceback.print_exc(limit=3)
    print_table("pymace (OpenCL) vs torch on the same GPU, batch 1, median ms", HEADER, rows, width=210)
    print_summary(rows, args)
    if failed:
        print_table("not run", ["model", "reason"], failed)
    print(f"sweep took {time.perf_counter() - start:.0f} s", flush=True)
    if stopped:  # a program build may still hold a driver thread: do not wait for it
        os._exit(1)


if __name__ == "__main__":
    main()
