"""Hand-built ONNX graphs of the structures transformers and recurrent models are made of — a ViT-style encoder
block (class token by Expand + Concat, fused QKV split by Gather, batched 4-D MatMul or Einsum attention, Softmax,
class-token Gather, Gemm head) and a bidirectional LSTM + GRU stack with initial states — converted and run on
every OpenCL device in fp32 and fp16 storage against onnxruntime on fresh random inputs (seeded weights)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from pymace import Engine, passes
from pymace.frontends import onnx as onnx_frontend
from tests.helpers import make_model, opencl_devices, ort_run_model, rel_err

DEVICES = opencl_devices()
pytestmark = pytest.mark.skipif(not DEVICES, reason="needs an OpenCL device")
TOL = {"fp32": 1e-4, "fp16": 2e-2}
BATCH, PATCHES, WIDTH, HEADS = 2, 16, 32, 4


def _const(rng, name, shape, scale=0.2):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def _ints(name, values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


def attention_block(einsum: bool) -> onnx.ModelProto:
    rng, seq, dh = np.random.default_rng(0), PATCHES + 1, WIDTH // HEADS
    n = helper.make_node
    inits = [_const(rng, "cls", (1, 1, WIDTH)), _const(rng, "pos", (1, seq, WIDTH)),
             _const(rng, "w_qkv", (WIDTH, 3 * WIDTH)), _const(rng, "b_qkv", (3 * WIDTH,)),
             _const(rng, "w_out", (WIDTH, WIDTH)), _const(rng, "w_head", (10, WIDTH)), _const(rng, "b_head", (10,)),
             _ints("cls_shape", [BATCH, 1, WIDTH]), _ints("split_heads", [BATCH, seq, 3, HEADS, dh]),
             _ints("merge_heads", [BATCH, seq, WIDTH]), _ints("zero", 0), _ints("one", 1), _ints("two", 2),
             numpy_helper.from_array(np.float32(dh ** -0.5), "scale")]
    nodes = [n("Expand", ["cls", "cls_shape"], ["cls_b"]), n("Concat", ["cls_b", "x"], ["tokens"], axis=1),
             n("Add", ["tokens", "pos"], ["h"]), n("MatMul", ["h", "w_qkv"], ["qkv0"]),
             n("Add", ["qkv0", "b_qkv"], ["qkv1"]), n("Reshape", ["qkv1", "split_heads"], ["qkv2"]),
             n("Transpose", ["qkv2"], ["qkv"], perm=[2, 0, 3, 1, 4]),
             n("Gather", ["qkv", "zero"], ["q"], axis=0), n("Gather", ["qkv", "one"], ["k"], axis=0),
             n("Gather", ["qkv", "two"], ["v"], axis=0)]
    if einsum:
        nodes += [n("Einsum", ["q", "k"], ["s0"], equation="bhid,bhjd->bhij")]
    else:
        nodes += [n("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]), n("MatMul", ["q", "kt"], ["s0"])]
    nodes += [n("Mul", ["s0", "scale"], ["s1"]), n("Softmax", ["s1"], ["p"], axis=-1)]
    nodes += [n("Einsum", ["p", "v"], ["c0"], equation="bhij,bhjd->bhid")] if einsum else \
        [n("MatMul", ["p", "v"], ["c0"])]
    nodes += [n("Transpose", ["c0"], ["c1"], perm=[0, 2, 1, 3]), n("Reshape", ["c1", "merge_heads"], ["c2"]),
              n("MatMul", ["c2", "w_out"], ["o"]), n("Add", ["o", "h"], ["enc"]),
              n("Gather", ["enc", "zero"], ["cls_out"], axis=1),
              n("Gemm", ["cls_out", "w_head", "b_head"], ["logits"], transB=1)]
    graph = helper.make_graph(nodes, "vit_block", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                  [BATCH, PATCHES, WIDTH])],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in ("logits", "enc")],
                              inits)
    return make_model(graph, 17)


def recurrent_stack() -> onnx.ModelProto:
    rng, hidden, size = np.random.default_rng(1), 8, 6
    inits = [_const(rng, "W", (2, 4 * hidden, size), 0.4), _const(rng, "R", (2, 4 * hidden, hidden), 0.4),
             _const(rng, "B", (2, 8 * hidden), 0.4), _const(rng, "Wg", (1, 3 * hidden, 2 * hidden), 0.4),
             _const(rng, "Rg", (1, 3 * hidden, hidden), 0.4), _ints("flat", [0, 0, -1])]
    n = helper.make_node
    nodes = [n("LSTM", ["x", "W", "R", "B", "", "h0", "c0"], ["y", "", "yc"], hidden_size=hidden,
               direction="bidirectional"),
             n("Transpose", ["y"], ["yt"], perm=[0, 2, 1, 3]), n("Reshape", ["yt", "flat"], ["y2"]),
             n("GRU", ["y2", "Wg", "Rg"], ["", "gh"], hidden_size=hidden, direction="reverse",
               linear_before_reset=1)]
    value = [helper.make_tensor_value_info(k, TensorProto.FLOAT, s) for k, s in
             (("x", [7, 3, size]), ("h0", [2, 3, hidden]), ("c0", [2, 3, hidden]))]
    graph = helper.make_graph(nodes, "rnn_stack", value, [helper.make_tensor_value_info(o, TensorProto.FLOAT, None)
                                                          for o in ("gh", "yc")], inits)
    return make_model(graph, 14)


MODELS = {"vit_block_matmul": lambda: attention_block(False), "vit_block_einsum": lambda: attention_block(True),
          "lstm_gru_stack": recurrent_stack}


@pytest.mark.parametrize("data_type", ["fp32", "fp16"])
@pytest.mark.parametrize("device", DEVICES, ids=[d.selector for d in DEVICES])
@pytest.mark.parametrize("name", list(MODELS))
def test_graph_on_device_matches_onnxruntime(name, device, data_type, tmp_path):
    model = MODELS[name]()
    graph = passes.run(onnx_frontend.load(model))
    rng = np.random.default_rng(2)
    feeds = {i.name: rng.standard_normal([d.dim_value for d in i.type.tensor_type.shape.dim]).astype(np.float32)
             for i in model.graph.input}
    want = ort_run_model(model, feeds)
    got = Engine(graph, device=device.selector, data_type=data_type, storage_dir=str(tmp_path)).run(feeds)
    for out, w in zip(model.graph.output, want):
        err = rel_err(got[out.name], w)
        assert err <= TOL[data_type], f"{name} {out.name} ({data_type}): rel err {err:.3g}"
