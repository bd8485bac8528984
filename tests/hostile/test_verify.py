"""Models are verified at convert and at load (pymace/ir/verify.py): a declared shape, dtype, constant or attribute
that disagrees with what the ops derive is refused with one ModelError, before any kernel is planned. The cases
are those of the reliability study (findings/reliability.md §1 and §8), each of which crashed, returned heap
bytes or printed a traceback before."""
import io

import numpy as np
import pytest

from pymace.errors import ConvertError, ModelError
from pymace.ir import pmace_file
from tests.helpers import make_model
from tests.hostile.conftest import assert_one_line_error, node_attr, rewrite, run_cli, set_shape


def _npy(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def _const_member(index, data: bytes):
    return lambda name, b: data if name == f"const/{index}.npy" else b


def _meta(key, value):
    def edit(doc):
        doc["metadata"][key] = value
    return edit


def _dtype(name, dtype):
    def edit(doc):
        next(t for t in doc["tensors"] if t["name"] == name)["dtype"] = dtype
    return edit


def _raw_shape(name, text):
    """graph.json with one shape written as raw JSON text (1e400, a 40-digit integer): (edit, text edit)."""
    def edit(doc):
        next(t for t in doc["tensors"] if t["name"] == name)["shape"] = "@@"
    return edit, lambda s: s.replace('"@@"', text)


def _huge_header() -> bytes:
    """An .npy header claiming 10¹² float32 elements, followed by 64 bytes."""
    f = io.BytesIO()
    np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6)})
    return f.getvalue() + b"\0" * 64


BAD = {  # name: (graph.json edit, member edit)
    "activation_1x8x1600x1600": (set_shape("r", [1, 8, 1600, 1600]), None),
    "activation_1x8x2x2": (set_shape("r", [1, 8, 2, 2]), None),
    "output_1x4000": (set_shape("y", [1, 4000]), None),
    "flatten_1x400000": (set_shape("f", [1, 400000]), None),
    "conv_pads_1e6": (node_attr("Conv", "pads", [10**6] * 4), None),
    "conv_negative_pads": (node_attr("Conv", "pads", [-1] * 4), None),
    "weights_larger_than_declared": (None, _const_member(0, _npy(np.ones((8, 3, 5, 5), np.float32)))),
    "weights_smaller_than_declared": (None, _const_member(0, _npy(np.ones((8, 3, 2, 3), np.float32)))),
    "string_weights": (None, _const_member(0, _npy(np.array(["a"] * 216).reshape(8, 3, 3, 3)))),
    "npy_header_claims_1e12": (None, _const_member(0, _huge_header())),
    "dim_2_31": (set_shape("x", [1, 3, 16, 2**31]), None),
    "dim_2_62": (set_shape("x", [1, 3, 16, 2**62]), None),
    "dim_1e400": (*_raw_shape("x", "[1, 3, 16, 1e400]"), None),
    "dim_bignum": (*_raw_shape("x", "[1, 3, 16, 1234567890123456789012345678901234567890]"), None),
    "json_nesting": (lambda d: d["metadata"].update(x="@@"), lambda s: s.replace('"@@"', "[" * 100000 + "]" * 100000),
                     None),
    "dim_negative": (set_shape("x", [1, 3, -16, 16]), None),
    "input_1x3x40000x40000": (set_shape("x", [1, 3, 40000, 40000]), None),
    "dtype_evil": (_dtype("x", "evil"), None),
    "dtype_object": (_dtype("W", "object"), None),
    "kernel_shape_ab": (node_attr("Conv", "kernel_shape", "ab"), None),
    "strides_0": (node_attr("Conv", "strides", [0, 0]), None),
    "group_0": (node_attr("Conv", "group", 0), None),  # ZeroDivisionError
    "group_3": (node_attr("Conv", "group", 3), None),  # a traceback from a reshape
    "group_1e300": (node_attr("Conv", "group", 1e300), None),
    "group_1.5": (node_attr("Conv", "group", 1.5), None),  # passed as 1, the reference's reshape raised (fuzz 17192)
    "group_true": (node_attr("Conv", "group", True), None),
    "pads_1.5": (node_attr("Conv", "pads", [1.5] * 4), None),
    "strides_1.5": (node_attr("Conv", "strides", [1.5, 1]), None),
    "unknown_activation": (node_attr("Conv", "activation", "Evil"), None),
    "activation_params_dict": (node_attr("Conv", "activation_params", {"a": 1}), None),
    "runtime_is_a_dict": (_meta("runtime", {"a": 1}), None),
    "storage_dir_is_a_list": (_meta("storage_dir", ["x"]), None),
    "unknown_op": (lambda d: d["nodes"][2].update(op_type="Evil"), None),
    "missing_member": (None, lambda name, b: None if name == "const/1.npy" else b),
}


def _write(small, tmp_path, name) -> str:
    *edits, members = BAD[name]
    path = tmp_path / f"{name}.pmace"
    rewrite(small, path, edits[0], members, edit_text=edits[1] if len(edits) > 1 else None)
    return str(path)


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_model_is_one_model_error(small_model, tmp_path, name):
    path = _write(small_model[0], tmp_path, name)
    with pytest.raises(ModelError) as e:
        pmace_file.load(path)
    assert "\n" not in str(e.value) and len(str(e.value)) < 600


def test_the_untouched_model_loads(small_model):
    g = pmace_file.load(str(small_model[0]))
    assert g.tensors["y"].shape == (1, 4)


@pytest.mark.parametrize("name,device", [("output_1x4000", "cpu"), ("activation_1x8x1600x1600", "cpu"),
                                         ("npy_header_claims_1e12", "reference"), ("dim_2_62", "reference")])
def test_run_refuses_in_one_line(small_model, tmp_path, name, device):
    path = _write(small_model[0], tmp_path, name)
    rc, out, err = run_cli("run", path, "--device", device, "--input", f"x={small_model[0].parent / 'x.npy'}",
                           "--storage-dir", tmp_path / "st", "--output-dir", tmp_path / "o")
    assert_one_line_error(rc, out, err, path)
    assert not (tmp_path / "o").exists()


# --- the ONNX importer lets no inconsistent model through (it converted them before) ----------------------------
def _onnx(nodes, inputs, outputs, inits=(), opset=13):
    from onnx import TensorProto as T
    from onnx import helper as h

    vi = [h.make_tensor_value_info(n, T.FLOAT, s) for n, s in inputs]
    vo = [h.make_tensor_value_info(n, T.FLOAT, None) for n in outputs]
    return make_model(h.make_graph(nodes, "g", vi, vo, list(inits)), opset)


def _split_negative():
    from onnx import helper as h
    from onnx import numpy_helper as nh

    return _onnx([h.make_node("Split", ["x", "s"], ["a", "b"], axis=1)], [("x", [1, 4])], ["a", "b"],
                 [nh.from_array(np.array([6, -2], np.int64), "s")])


def _concat_axis7():
    from onnx import helper as h

    return _onnx([h.make_node("Concat", ["x", "z"], ["y"], axis=7)], [("x", [1, 4]), ("z", [1, 4])], ["y"])


def _concat_mismatch():
    from onnx import helper as h

    return _onnx([h.make_node("Concat", ["x", "z"], ["y"], axis=1)], [("x", [1, 4, 2]), ("z", [2, 4, 2])], ["y"])


def _add_no_broadcast():
    from onnx import helper as h

    return _onnx([h.make_node("Add", ["x", "z"], ["y"])], [("x", [1, 4]), ("z", [1, 3])], ["y"])


def _transpose_bad_perm():
    from onnx import helper as h

    return _onnx([h.make_node("Transpose", ["x"], ["y"], perm=[0, 0, 1])], [("x", [1, 4, 2])], ["y"])


def _reshape_count():
    from onnx import helper as h
    from onnx import numpy_helper as nh

    return _onnx([h.make_node("Reshape", ["x", "s"], ["y"])], [("x", [1, 4, 2])], ["y"],
                 [nh.from_array(np.array([3, 3], np.int64), "s")])


@pytest.mark.parametrize("make", [_split_negative, _concat_axis7, _concat_mismatch, _add_no_broadcast,
                                  _transpose_bad_perm, _reshape_count])
def test_onnx_inconsistencies_do_not_convert(make, tmp_path):
    import onnx

    from pymace.tools.convert import convert

    onnx.save(make(), str(tmp_path / "m.onnx"))
    with pytest.raises((ConvertError, ModelError)) as e:
        convert(tmp_path / "m.onnx", tmp_path / "m.pmace")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "m.pmace").exists()


def test_split_negative_convert_cli_one_line(tmp_path):
    import onnx

    onnx.save(_split_negative(), str(tmp_path / "m.onnx"))
    rc, out, err = run_cli("convert", tmp_path / "m.onnx", "-o", tmp_path / "m.pmace")
    assert_one_line_error(rc, out, err, "Split")


def test_a_constant_output_is_one_line_on_the_device(small_model, tmp_path):
    """A .pmace whose output names one of its constants: a KeyError from the runtime's binding (fuzz case 1437)."""
    def edit(doc):
        const = next(t["name"] for t in doc["tensors"] if t.get("const"))
        doc["outputs"] = [const]
    rewrite(small_model[0], tmp_path / "c.pmace", edit)
    rc, out, err = run_cli("run", tmp_path / "c.pmace", "--device", "cpu", "--storage-dir", tmp_path / "st",
                           "--output-dir", tmp_path / "o")
    assert_one_line_error(rc, out, err, "is a constant")


@pytest.mark.parametrize("dtype", ["uint8", "int32", "bool"])
def test_an_integer_input_of_a_float_kernel_is_one_line_on_the_device(small_model, tmp_path, dtype):
    """A model input declared uint8 is an int32 buffer on the device, which the conv kernel read as floats: a
    uniform softmax where the reference computed with the integers (fuzz_pmace case 1774)."""
    def edit(doc):
        next(t for t in doc["tensors"] if t["name"] == "x")["dtype"] = dtype
    rewrite(small_model[0], tmp_path / "c.pmace", edit)
    rc, out, err = run_cli("run", tmp_path / "c.pmace", "--device", "cpu", "--storage-dir", tmp_path / "st",
                           "--output-dir", tmp_path / "o")
    assert_one_line_error(rc, out, err, "reads floats")


def _graph(weight_shape, declared_y=None):
    from pymace.ir.graph import Graph, Node, Tensor

    w = np.random.default_rng(3).standard_normal(weight_shape).astype(np.float32)
    tensors = {"x": Tensor("x", (1, 3, 8, 8)), "w": Tensor("w", w.shape, "float32", w), "y": Tensor("y", declared_y)}
    return Graph("in-code", [Node("c", "Conv", ["x", "w"], ["y"], {"pads": [1] * 4})], tensors, ["x"], ["y"])


@pytest.mark.parametrize("weight_shape,declared_y,message", [
    ((4, 5, 3, 3), None, "take 5 channels a group"),  # was a TypeError from deep in the planner
    ((4, 3, 3, 3), (1, 4, 9, 9), "declared shape"),
])
def test_a_graph_built_in_code_is_verified_as_a_file_is(weight_shape, declared_y, message):
    from pymace import Engine

    with pytest.raises(ModelError, match=message):
        Engine(_graph(weight_shape, declared_y), device="reference")
    good = Engine(_graph((4, 3, 3, 3)), device="reference")
    x = np.random.default_rng(4).standard_normal((1, 3, 8, 8)).astype(np.float32)
    assert good.run({"x": x})["y"].shape == (1, 4, 8, 8)
