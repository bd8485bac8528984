"""Quantize a float TFLite model to int8 with ai-edge-quantizer; run by a Python that has ai-edge-quantizer.

    python benchmarks/sweep_tflite_quant.py SRC.tflite OUT.tflite [--recipe static_wi8_ai8] [--seed 0]

The quantizer calibrates through a signature; models without one (MediaPipe's, openWakeWord's) get a
`serving_default` signature over the subgraph's inputs and outputs first. Calibration: 8 seeded random samples,
uniform in [-1, 1], of each input's shape."""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np


def with_signature(data: bytes) -> bytes:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils

    model = tfl_flatbuffer_utils.read_model(data)
    if model.signatureDefs:
        return data
    sub = model.subgraphs[0]

    def tensor_maps(indices):
        maps = []
        for i in indices:
            m = schema.TensorMapT()
            m.name, m.tensorIndex = sub.tensors[i].name, int(i)
            maps.append(m)
        return maps

    sig = schema.SignatureDefT()
    sig.signatureKey, sig.subgraphIndex = b"serving_default", 0
    sig.inputs, sig.outputs = tensor_maps(sub.inputs), tensor_maps(sub.outputs)
    model.signatureDefs = [sig]
    builder = flatbuffers.Builder(len(data) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def quantize(src: str, out: str, recipe_name: str, seed: int) -> None:
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer, recipe

    data = with_signature(open(src, "rb").read())
    interp = Interpreter(model_content=data)
    key, sig = next(iter(interp.get_signature_list().items()))
    runner = interp.get_signature_runner(key)
    shapes = {name: d["shape"] for name, d in runner.get_input_details().items()}
    rng = np.random.default_rng(seed)
    samples = [{n: rng.uniform(-1, 1, s).astype(np.float32) for n, s in shapes.items()} for _ in range(8)]
    q = quantizer.Quantizer(data)
    q.load_quantization_recipe(getattr(recipe, recipe_name)())
    result = q.quantize(q.calibrate({key: samples}) if q.need_calibration else None)
    tmp = f"{out}.{os.getpid()}.tmp"
    result.export_model(tmp, overwrite=True)
    os.replace(tmp, out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--recipe", default="static_wi8_ai8")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    quantize(args.src, args.out, args.recipe, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
