"""TFLite builtins against LiteRT: each fixture (tests/fixtures/tflite, made by TensorFlow's converter) is
imported and run by the reference executor on fresh random inputs and must match LiteRT. Outputs that need an IR
op pymace does not have yet must fail to plan with an error naming that op."""
from __future__ import annotations

import copy
import zlib
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from pymace import ops
from pymace.errors import UnsupportedOpError
from pymace.frontends import tflite
from pymace.reference import executor

FIXTURES = Path(__file__).parent.parent / "fixtures" / "tflite"
FLOAT = ["prelu", "resize", "fully_connected", "reduce", "activations", "strided_slice", "slice", "space_depth",
         "transpose_conv", "binary_math", "gather", "split_pack", "transpose_squeeze", "batch_matmul", "sparse",
         "sparse_blocks", "fp16_weights"]
QUANT = ["quant_int8", "quant_int8_io", "quant_uint8_io"]


def litert(path: Path, feeds: dict) -> dict:
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    for d in it.get_input_details():
        it.set_tensor(d["index"], feeds[d["name"]])
    it.invoke()
    return {d["name"]: it.get_tensor(d["index"]).copy() for d in it.get_output_details()}


def random_inputs(path: Path, rng) -> dict:
    feeds = {}
    for d in Interpreter(model_path=str(path)).get_input_details():
        if d["dtype"] == np.float32:
            feeds[d["name"]] = rng.uniform(-1, 1, d["shape"]).astype(np.float32)
        else:
            info = np.iinfo(d["dtype"])
            feeds[d["name"]] = rng.integers(info.min, info.max + 1, d["shape"]).astype(d["dtype"])
    return feeds


def output_graph(graph, name):
    """The part of `graph` that computes output `name`."""
    sub = copy.copy(graph)
    sub.nodes, sub.tensors, sub.outputs = list(graph.nodes), dict(graph.tensors), [name]
    sub.prune()
    return sub


def rel_err(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-12))


@pytest.mark.parametrize("name", FLOAT)
def test_float_builtins_match_litert(name):
    path = FIXTURES / f"{name}.tflite"
    graph = tflite.load(path)
    feeds = random_inputs(path, np.random.default_rng(zlib.crc32(name.encode())))
    want = litert(path, feeds)
    assert graph.outputs == list(want)  # TFLite's names and order
    for out in graph.outputs:
        sub = output_graph(graph, out)
        missing = sorted({n.op_type for n in sub.nodes if n.op_type not in ops.REGISTRY})
        if missing:  # waits for an IR op: planning must say which
            with pytest.raises(UnsupportedOpError) as e:
                ops.check_supported(sub.nodes)
            assert set(e.value.unsupported) == set(missing)
            continue
        got = executor.run(sub, {k: v for k, v in feeds.items() if k in sub.inputs})
        assert rel_err(got[out], want[out]) <= 2e-6, out


def _real(values, detail):
    scale, zero = detail["quantization"]
    return values.astype(np.float64) if detail["dtype"] == np.float32 else (values.astype(np.float64) - zero) * scale


@pytest.mark.parametrize("name", QUANT)
def test_quantized_models_agree_with_litert_int8(name):
    """int8 weights and activations computed in float with fake-quant rounding: within a few steps of the int8
    runtime's grid, and cosine ≥ 0.9995."""
    path = FIXTURES / f"{name}.tflite"
    graph = tflite.load(path)
    details = {d["name"]: d for d in Interpreter(model_path=str(path)).get_output_details()}
    for seed in range(3):
        feeds = random_inputs(path, np.random.default_rng(seed))
        want, got = litert(path, feeds), executor.run(graph, feeds)
        for out, d in details.items():
            r, y = _real(want[out], d), _real(got[out], d)
            step = d["quantization"][0] or float(np.abs(r).max()) / 127  # float outputs: the int8 grid they had
            assert np.abs(r - y).max() <= 3 * step + 1e-6, out
            cos = float(r.ravel() @ y.ravel() / (np.linalg.norm(r) * np.linalg.norm(y) + 1e-30))
            assert cos >= 0.9995, (out, cos)


def test_quantized_interface_is_kept():
    graph = tflite.load(FIXTURES / "quant_uint8_io.tflite")
    assert graph.tensors[graph.inputs[0]].dtype == "uint8"
    assert all(graph.tensors[o].dtype == "uint8" for o in graph.outputs)
    assert {n.op_type for n in graph.nodes} >= {"QuantizeLinear", "DequantizeLinear"}


def test_float_activations_skip_fake_quant():
    fake = tflite.load(FIXTURES / "quant_int8.tflite")
    plain = tflite.load(FIXTURES / "quant_int8.tflite", quantized_activations="float")
    count = lambda g: sum(n.op_type == "QuantizeLinear" for n in g.nodes)  # noqa: E731
    assert count(plain) == 0 < count(fake)


def test_dynamic_range_weights_dequantized():
    """Hybrid models: int8 weights, float activations (LiteRT quantizes activations on the fly, so ~1e-3)."""
    path = FIXTURES / "dynamic_range.tflite"
    graph = tflite.load(path)
    assert all(t.dtype == "float32" for t in graph.tensors.values() if t.data is not None and t.data.ndim >= 2)
    feeds = random_inputs(path, np.random.default_rng(5))
    want, got = litert(path, feeds), executor.run(graph, feeds)
    for out in want:
        assert rel_err(got[out], want[out]) <= 1e-2, out
