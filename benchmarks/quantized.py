"""Quantized ImageNet classifiers in pymace vs their own int8 runtime, on scikit-image's chelsea (285, Egyptian cat)
and coffee (967, espresso): top-1 and cosine of the logits, for pymace's reference executor and the device in fp32
and fp16 storage. Also: the runtime against itself with the input perturbed by 1e-6 (relative), the noise floor of
a quantized model, where one rounding step flipping propagates; and ONNX models run by onnxruntime with graph
optimizations off (QDQ executed literally in float, the semantics pymace implements).

    python benchmarks/quantized.py [--device cpu] [--work DIR] [--tflite PATH ...]

ONNX: torchvision MobileNetV2 (the zoo's weights), quantized by onnxruntime's quantize_static (QDQ, per-channel
int8 or uint8 weights, uint8 activations) in three settings. TFLite: int8 .tflite files given with --tflite (e.g.
the one benchmarks/make_tflite_int8.py writes), NHWC input normalised as torchvision's."""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import cosine  # noqa: E402
from tests.models import quantized  # noqa: E402

ONNX_SETTINGS = {"u8s8 per-channel": dict(weight_type="QInt8", reduce_range=False),
                 "u8s8 per-channel reduce_range": dict(weight_type="QInt8", reduce_range=True),
                 "u8u8 per-channel": dict(weight_type="QUInt8", reduce_range=False)}


def onnx_runners(path: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    int8 = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    literal = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return (lambda x: int8.run(None, {"input": x})[0]), (lambda x: literal.run(None, {"input": x})[0])


def tflite_runner(path: Path):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]

    def run(x):
        it.set_tensor(i["index"], x.transpose(0, 2, 3, 1).copy())
        it.invoke()
        return it.get_tensor(o["index"]).copy()
    return run


def pymace_runners(path: Path, device: str, storage: str, nhwc: bool):
    from pymace import Engine
    from pymace.reference import executor
    from pymace.tools.convert import convert

    graph = convert(path)
    name, out = graph.inputs[0], graph.outputs[0]
    engines = {dt: Engine(graph, device=device, data_type=dt, storage_dir=storage) for dt in ("fp32", "fp16")}
    prep = (lambda x: x.transpose(0, 2, 3, 1).copy()) if nhwc else (lambda x: x)
    runners = {"pymace reference": lambda x: executor.run(graph, {name: prep(x)})[out]}
    runners.update({f"pymace {dt}": (lambda x, e=e: e.run({name: prep(x)})[out]) for dt, e in engines.items()})
    return runners


def report(label: str, own, others: dict) -> None:
    rng = np.random.default_rng(0)
    for image in quantized.TEST_IMAGES:
        x = quantized.test_image(image)
        want = own(x)
        noisy = own((x * (1 + 1e-6 * rng.standard_normal(x.shape))).astype(np.float32))
        cells = [f"int8 runtime top-1 {int(want.argmax())}", f"self+1e-6 cos {cosine(noisy, want):.5f}"]
        for name, run in others.items():
            y = run(x)
            cells.append(f"{name}: top-1 {int(y.argmax())} cos {cosine(y, want):.5f}")
        print(f"{label:34} {image:8} " + " | ".join(cells), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "pymace-quantized"))
    ap.add_argument("--tflite", nargs="*", default=[])
    ap.add_argument("--skip-onnx", action="store_true")
    args = ap.parse_args()
    work = Path(args.work)
    if not args.skip_onnx:
        for label, settings in ONNX_SETTINGS.items():
            path = quantized.mobilenet_v2_qdq(work, **settings)
            int8, literal = onnx_runners(path)
            report(f"ONNX QDQ {label}", int8, {"onnxruntime literal QDQ": literal,
                                               **pymace_runners(path, args.device, str(work), nhwc=False)})
    for path in map(Path, args.tflite):
        report(f"TFLite {path.stem}", tflite_runner(path), pymace_runners(path, args.device, str(work), nhwc=True))


if __name__ == "__main__":
    main()
