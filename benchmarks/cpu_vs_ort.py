"""pymace on the CPU OpenCL device (PoCL) vs onnxruntime on the same machine, same inputs, same run.

    python benchmarks/cpu_vs_ort.py [--runs 30] [--models mobilenet_v2,blazeface,ppocr_cls]

onnxruntime runs the source model (the ONNX export for MobileNetV2, LiteRT's .tflite has no ORT path, so
BlazeFace's peer is LiteRT). Median latency and the ratio pymace / peer."""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import cosine, median_ms, print_table, random_feeds  # noqa: E402


def peer_session(name: str, graph):
    """A callable running the model in its source framework's runtime on the CPU, and the peer's name."""
    from pymace.tools import zoo

    source = zoo.source(name)
    if name == "blazeface":
        from ai_edge_litert.interpreter import Interpreter

        interp = Interpreter(model_path=str(source), num_threads=os.cpu_count())
        interp.allocate_tensors()
        inp, outs = interp.get_input_details()[0], interp.get_output_details()

        def run(feeds):
            interp.set_tensor(inp["index"], next(iter(feeds.values())))
            interp.invoke()
            return [interp.get_tensor(o["index"]) for o in outs]

        return run, "LiteRT"
    import onnxruntime as ort

    if name == "mobilenet_v2":
        from pymace.frontends.torch_mobilenet import to_onnx

        model = to_onnx(source).SerializeToString()
    else:
        model = str(source)
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return (lambda feeds: sess.run(None, dict(zip(names, feeds.values())))), "onnxruntime"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--models", default="mobilenet_v2,blazeface,ppocr_cls")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data-type", default="fp32")
    args = ap.parse_args()
    from pymace import Engine
    from pymace.ir import pmace_file
    from pymace.tools import zoo

    rows = []
    for name in args.models.split(","):
        graph = pmace_file.load(str(zoo.fetch(name)))
        engine = Engine(graph, device=args.device, data_type=args.data_type)
        feeds = random_feeds(graph)
        peer, peer_name = peer_session(name, graph)
        ours = engine.run(feeds)
        theirs = peer(feeds)
        cos = min(cosine(ours[o], t) for o, t in zip(graph.outputs, theirs))
        t_ours = median_ms(lambda: engine.run(feeds), args.runs)
        t_peer = median_ms(lambda: peer(feeds), args.runs)
        rows.append([name, peer_name, t_ours, t_peer, t_ours / t_peer, cos, len(engine.plan.steps)])
    print_table(f"pymace on {engine.device.name} ({args.data_type}) vs the source runtime, CPU, median ms",
                ["model", "peer", "pymace ms", "peer ms", "ratio", "min cosine", "launches"], rows)


if __name__ == "__main__":
    main()
