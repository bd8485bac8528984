"""TFLite IF (inlined branches), comparisons, and inputs with -1 dims converted at a given shape: small models
written with LiteRT's schema (tests/tflite_build.py), run by the reference executor against LiteRT."""
from __future__ import annotations

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from pymace.errors import ConvertError, ModelError
from pymace.frontends import tflite
from pymace.ir.shapes import infer_shapes
from pymace.reference import executor
from tests.tflite_build import Builder, options


def litert(data: bytes, feeds: dict, shapes: dict | None = None) -> list[np.ndarray]:
    it = Interpreter(model_content=data)
    details = it.get_input_details()
    for d in details:
        if shapes and d["name"] in shapes:
            it.resize_tensor_input(d["index"], shapes[d["name"]])
    it.allocate_tensors()
    for d in details:
        it.set_tensor(d["index"], feeds[d["name"]])
    it.invoke()
    return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]


def load(tmp_path, data: bytes, **kwargs):
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    return tflite.load(path, **kwargs)


def _branch(b: Builder, name: str, kind: str, value: float) -> int:
    """A subgraph (x [1, 4]) -> kind(x, value)."""
    k = b.subgraph(name)
    x = b.tensor(f"{name}_x", [1, 4])
    c = b.const(f"{name}_c", np.float32([value, -value, 2 * value, 0.5]))
    y = b.tensor(f"{name}_y", [1, 4])
    b.op(kind, [x, c], [y], options(kind.title() + "Options"))
    b.io([x], [y])
    return k


def if_model(constant_condition: bool | None) -> bytes:
    """y = IF(cond, x): then x + c, else x * c'. cond: a constant, or flag >= 0.5 computed at run time."""
    b = Builder()
    x, y = b.tensor("x", [1, 4]), b.tensor("y", [1, 4])
    ins = [x]
    if constant_condition is None:
        flag = b.tensor("flag", [1])
        cond = b.tensor("cond", [1], np.bool_)
        b.op("GREATER_EQUAL", [flag, b.const("half", np.float32([0.5]))], [cond])
        ins.append(flag)
    else:
        cond = b.const("cond", np.array([constant_condition]))
    then_k, else_k = _branch(b, "then", "ADD", 0.75), _branch(b, "else", "MUL", -1.5)
    b.use(0)
    b.op("IF", [cond, x], [y], options("IfOptions", thenSubgraphIndex=then_k, elseSubgraphIndex=else_k))
    return b.finish(ins, [y])


@pytest.mark.parametrize("cond", [True, False])
def test_if_with_a_constant_condition_inlines_the_taken_branch(tmp_path, cond):
    data = if_model(cond)
    graph = load(tmp_path, data)
    assert {n.op_type for n in graph.nodes} <= {"Add", "Identity"} if cond else {"Mul", "Identity"}
    x = np.random.default_rng(1).standard_normal((1, 4)).astype(np.float32)
    got = executor.run(graph, {"x": x})[graph.outputs[0]]
    np.testing.assert_allclose(got, litert(data, {"x": x})[0], rtol=1e-6)


def test_if_branch_of_the_wrong_arity_is_one_error(tmp_path):
    b = Builder()
    x, y = b.tensor("x", [1, 4]), b.tensor("y", [1, 4])
    k = _branch(b, "then", "ADD", 1.0)
    b.use(0)
    b.op("IF", [b.const("cond", np.array([True])), x, x], [y], options("IfOptions", thenSubgraphIndex=k,
                                                                        elseSubgraphIndex=k))
    with pytest.raises(Exception, match="subgraph 1 takes 1 inputs"):
        load(tmp_path, b.finish([x], [y]))


def dynamic_model() -> bytes:
    """x [1, T, 4] (T: -1): ((x * c) - mean over T) transposed to [1, 4, T]."""
    b = Builder()
    x = b.tensor("x", [1, 1, 4], signature=[1, -1, 4])
    m = b.tensor("m", [1, 1, 4], signature=[1, -1, 4])
    b.op("MUL", [x, b.const("c", np.float32([0.5, -1.0, 2.0, 0.25]))], [m], options("MulOptions"))
    mean = b.tensor("mean", [1, 1, 4])
    b.op("MEAN", [m, b.const("axes", np.int32([1]))], [mean], options("ReducerOptions", keepDims=True))
    d = b.tensor("d", [1, 1, 4], signature=[1, -1, 4])
    b.op("SUB", [m, mean], [d], options("SubOptions"))
    y = b.tensor("y", [1, 4, 1], signature=[1, 4, -1])
    b.op("TRANSPOSE", [d, b.const("perm", np.int32([0, 2, 1]))], [y])
    return b.finish([x], [y])


@pytest.mark.parametrize("length", [3, 17])
def test_dynamic_dims_at_a_given_shape(tmp_path, length):
    data = dynamic_model()
    graph = load(tmp_path, data, input_shapes={"x": [1, length, 4]})
    assert graph.tensors["x"].shape == (1, length, 4)
    x = np.random.default_rng(length).standard_normal((1, length, 4)).astype(np.float32)
    got = executor.run(graph, {"x": x})[graph.outputs[0]]
    want = litert(data, {"x": x}, {"x": [1, length, 4]})[0]
    assert got.shape == want.shape == (1, 4, length)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_dynamic_dims_need_a_shape(tmp_path):
    with pytest.raises(ConvertError, match="--input-shape x="):
        load(tmp_path, dynamic_model())
    with pytest.raises(ConvertError, match="the model declares"):
        load(tmp_path, dynamic_model(), input_shapes={"x": [1, 5, 3]})
    with pytest.raises(ConvertError, match="model's inputs are"):
        load(tmp_path, dynamic_model(), input_shapes={"y": [1, 5, 4]})


def _landmark_model(custom: bytes, version: int = 2) -> bytes:
    b = Builder()
    x, y = b.tensor("x", [1, 30, 3]), b.tensor("y", [1, 4, 4])
    b.op("CUSTOM:Landmarks2TransformMatrix", [x], [y], custom=custom)
    b.model.operatorCodes[-1].version = version
    return b.finish([x], [y])


def test_mediapipe_custom_options_are_checked(tmp_path):
    from flatbuffers import flexbuffers

    good = {"subset_idxs": [1, 2, 3, 4], "left_rotation_idx": 1, "right_rotation_idx": 4,
            "target_rotation_radians": 0.0, "output_height": 8, "output_width": 8, "scale_x": 1.5, "scale_y": 1.5}
    graph = load(tmp_path, _landmark_model(bytes(flexbuffers.Dumps(good))))
    assert [n.op_type for n in graph.nodes] == ["LandmarksToTransformMatrix"]
    assert graph.nodes[0].attrs["subset_idxs"] == [1, 2, 3, 4]
    with pytest.raises(ModelError, match="not a flexbuffer"):
        load(tmp_path, _landmark_model(b"\x07garbage\xff\x01"))
    with pytest.raises(ModelError, match="lack 'scale_y'"):
        load(tmp_path, _landmark_model(bytes(flexbuffers.Dumps({k: v for k, v in good.items() if k != "scale_y"}))))
    with pytest.raises(ConvertError, match="version 1"):
        load(tmp_path, _landmark_model(bytes(flexbuffers.Dumps(good)), version=1))
    with pytest.raises(ConvertError, match="landmark indices"):  # checked by the op's shape inference
        infer_shapes(load(tmp_path, _landmark_model(bytes(flexbuffers.Dumps({**good, "right_rotation_idx": 30})))))
