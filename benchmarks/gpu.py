"""pymace on an NVIDIA GPU through its OpenCL vs torch (eager and CUDA graphs) on the same GPU, same inputs, one
run. Meant for the lent H100 machine (see benchmarks/NOTES.md for how it is called and what came out).

    python benchmarks/gpu.py [--assets DIR] [--runs 200] [--models mobilenet_v2,resnet50,blazeface]

DIR holds mobilenet_v2-b0353104.pth (ImageNet weights; torchvision layout) and face_detection_short_range.tflite;
without it they come from the zoo's storage dir (PYMACE_STORAGE_DIR, pre-filled where no registry is reachable).
torchvision's MobileNetV2 (those weights) and ResNet-50 (seeded random weights) are exported to ONNX by torch,
converted by pymace, and compared with torch on the same input. BlazeFace has no torch twin: its reference is
pymace's NumPy executor (itself checked against LiteRT in the tests)."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import cosine, device_only, median_ms, print_table  # noqa: E402


def asset(assets: str | None, zoo_name: str) -> str:
    from pymace.tools import zoo

    if assets:
        return os.path.join(assets, os.path.basename(zoo.entry(zoo_name).member))
    return str(zoo.source(zoo_name))


def torch_model(name: str, assets: str | None):
    import torch
    import torchvision

    torch.manual_seed(0)
    if name == "mobilenet_v2":
        m = torchvision.models.mobilenet_v2()
        m.load_state_dict(torch.load(asset(assets, "mobilenet_v2"), weights_only=True))
    elif name == "resnet50":
        m = torchvision.models.resnet50()
    elif name == "squeezenet":
        m = torchvision.models.squeezenet1_1()
    else:
        return None
    return m.eval()


def pmace_for(name: str, assets: str, work: str, model):
    """Convert the model with pymace (through ONNX for the torch ones)."""
    from pymace.tools.convert import convert

    out = os.path.join(work, f"{name}.pmace")
    if model is None:  # BlazeFace
        return convert(asset(assets, "blazeface"), out)
    import torch

    onnx_path = os.path.join(work, f"{name}.onnx")
    torch.onnx.export(model, torch.randn(1, 3, 224, 224), onnx_path, opset_version=13, input_names=["input"],
                      output_names=["output"], dynamo=False)
    return convert(onnx_path, out)


def time_torch(model, x):
    import torch

    mc, xc = model.cuda(), torch.from_numpy(x).cuda()
    with torch.inference_mode():
        ref = mc(xc).float().cpu().numpy()

        def eager():
            mc(xc)
            torch.cuda.synchronize()

        t_eager = median_ms(eager, 200, 20)
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                mc(xc)
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            mc(xc)

        def graph():
            g.replay()
            torch.cuda.synchronize()

        t_graph = median_ms(graph, 200, 20)
    return ref, t_eager, t_graph


def time_pymace(graph, feeds, data_type, runs, use_tuning, storage, fused=True):
    from pymace import Engine

    t = time.perf_counter()
    if not fused:  # the plan as converted: no SeparableConv (passes.for_device)
        os.environ["PYMACE_NO_DEVICE_FUSION"] = "1"
    try:
        engine = Engine(graph, device="gpu", data_type=data_type, use_tuning=use_tuning, storage_dir=storage)
    finally:
        os.environ.pop("PYMACE_NO_DEVICE_FUSION", None)
    init = time.perf_counter() - t
    out = engine.run(feeds)
    return out, median_ms(lambda: engine.run(feeds), runs, 20), median_ms(device_only(engine), runs, 20), engine, init


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets")
    ap.add_argument("--work", default="/tmp/pymace-gpu")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--models", default="mobilenet_v2,resnet50,blazeface")
    ap.add_argument("--tune-budget", type=float, default=0.0,
                    help="seconds per model and data type for `pymace tune`, then tuned rows too (0: untuned only)")
    ap.add_argument("--storage-dir", help="program cache and tuning file (default: a fresh folder under --work)")
    ap.add_argument("--unfused", action="store_true", help="also an untuned row without the GPU plan's fusion")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    storage = args.storage_dir or tempfile.mkdtemp(prefix="storage-", dir=args.work)
    from pymace.reference import executor as reference
    from pymace.runtime import tuner

    rows = []
    for name in args.models.split(","):
        model = torch_model(name, args.assets)
        graph = pmace_for(name, args.assets, args.work, model)
        rng = np.random.default_rng(0)
        feeds = {n: rng.uniform(-1, 1, graph.tensors[n].shape).astype(np.float32) for n in graph.inputs}
        x = next(iter(feeds.values()))
        if model is not None:
            ref, t_eager, t_graph = time_torch(model, x)
            refs = [ref]
        else:
            refs, t_eager, t_graph = list(reference.run(graph, feeds).values()), float("nan"), float("nan")
        for data_type in ("fp32", "fp16"):
            modes = [(False, False)] if args.unfused else []
            modes.append((False, True))
            if args.tune_budget > 0:
                tuner.tune(graph, device="gpu", data_type=data_type, budget=args.tune_budget, storage_dir=storage)
                modes.append((True, True))
            for use_tuning, fused in modes:
                out, t_run, t_dev, engine, init = time_pymace(graph, feeds, data_type, args.runs, use_tuning, storage,
                                                              fused)
                cos = min(cosine(out[o], r) for o, r in zip(graph.outputs, refs))
                tuned = sum(s.tuned for s in engine.plan.steps)
                plan = ("tuned" if use_tuning else "untuned") + ("" if fused else ", unfused")
                rows.append([name, data_type, plan, t_dev, t_run, t_eager, t_graph,
                             t_dev / t_eager, t_dev / t_graph, cos, len(engine.plan.steps), tuned, init])
                print(rows[-1], flush=True)
    print_table(f"pymace on {engine.device.name} ({engine.device.driver_version}) vs torch, batch 1, median ms",
                ["model", "dtype", "plan", "pymace dev", "pymace +copies", "torch eager", "torch graph", "÷eager",
                 "÷graph", "cosine", "launches", "tuned", "init s"], rows)


if __name__ == "__main__":
    main()
