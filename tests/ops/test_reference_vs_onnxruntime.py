"""Every op case's NumPy reference against onnxruntime.

The rule: every case of every op file (`CASES`) whose op type is an ONNX operator of the default domain becomes
an ONNX model run by onnxruntime, and the op's `reference` must give the same outputs: shape, dtype, the shapes
`infer` gives, and max|err|/max|ref| within the case's tolerance (and within REFERENCE_TOL). Each case
attribute becomes, by its name:
  - an ONNX attribute, when the op's ONNX schema has one of that name (kernel_shape, axis, mode, …);
  - a constant input, when the name is one of the op's ONNX input names (Slice's `starts`, Clip's `min`, Pad's
    `pads`: pymace holds ONNX's static-parameter inputs as attributes, docs/ir.md), typed as the schema's type
    constraint allows (the data's type, else int64, else float32); IR_NAMES lists the IR attributes named
    otherwise than the ONNX input they stand for;
  - pymace's fused epilogue: a MatMul's `alpha` scales its product, `residual` (a MatMul's `addend`) adds the
    node's last input (before PRelu's slope), then `activation` with `activation_params` is the ONNX op of that
    name (PRelu's slope is the node's last input, per channel along axis 1);
  - nothing, when it only picks a kernel (KERNEL_CHOICE: `kernel_variant`, `tiling`).
A case with any other attribute, or of a pymace-only op type (SeparableConv), is skipped with the reason. So a
new op's cases are compared here without a new test file; tests/unit/test_ref_*.py keep what cases can't say
(inputs a Case doesn't describe, behaviour other than agreement with onnxruntime)."""
from __future__ import annotations

import zlib

import numpy as np
import onnx
import pytest
from onnx import helper

from pymace.ops.base import TensorInfo
from tests.helpers import all_cases, onnx_model, ort_run_model, rel_err

OPSET = 21  # new enough for every IR attribute (Split's num_outputs, Pad's wrap, Resize's half_pixel_symmetric);
# an op first defined in a later opset is run at that one
KERNEL_CHOICE = ("kernel_variant", "tiling")  # pymace attributes that force a kernel, not a result
EPILOGUE = ("residual", "activation", "activation_params")
MATMUL_EPILOGUE = ("alpha", "addend")  # pymace's MatMul: alpha · A·B + C (passes/fold_matmul_scale, fuse_matmul_add)
REFERENCE_TOL = 1e-5  # two fp32 CPU implementations agree this closely whatever a case allows its kernels
IR_NAMES = {"Pad": {"value": "constant_value"}}  # IR attribute -> the ONNX input it stands for, where they differ

CASES = list(all_cases())


def _schema(op_type: str):
    """The op's ONNX schema at OPSET, or its first one when the op is newer; None for a pymace-only op."""
    if not onnx.defs.has(op_type, ""):
        return None
    try:
        return onnx.defs.get_schema(op_type, OPSET, "")
    except onnx.defs.SchemaError:
        return onnx.defs.get_schema(op_type, "")


def _input_dtype(schema, slot: int, data: np.ndarray) -> np.dtype | None:
    """The NumPy type of ONNX input `slot` given as a constant: the data's when the schema ties them, else int64
    or float32 when the type constraint allows it."""
    type_str = schema.inputs[slot].type_str
    if type_str == schema.inputs[0].type_str:
        return data.dtype
    allowed = next((c.allowed_type_strs for c in schema.type_constraints if c.type_param_str == type_str),
                   [type_str])
    for onnx_type, dtype in (("tensor(int64)", np.int64), ("tensor(float)", np.float32)):
        if onnx_type in allowed:
            return np.dtype(dtype)
    return None


def _unsupported(op_type: str, attrs: dict) -> str | None:
    """Why the case can't be an ONNX model, or None."""
    schema = _schema(op_type)
    if schema is None:
        return f"{op_type} is pymace's own op, not an ONNX operator"
    inputs = [i.name for i in schema.inputs]
    renamed = IR_NAMES.get(op_type, {})
    other = [a for a in attrs if a not in schema.attributes and renamed.get(a, a) not in inputs
             and a not in KERNEL_CHOICE + EPILOGUE + (MATMUL_EPILOGUE if op_type == "MatMul" else ())]
    return f"pymace-only attributes {other}" if other else None


def _activation_nodes(activation, params, y: str, out: str, slope, rank: int, consts: dict) -> list:
    """The ONNX node(s) of a fused activation from `y` to `out`, adding its constant inputs to `consts`."""
    p = list(params or ())
    if activation == "Clip":
        bounds = []
        for name, v in zip(("clip_min", "clip_max"), (p + [None, None])[:2], strict=True):
            bounds.append(name if v is not None else "")
            if v is not None:
                consts[name] = np.float32(v)
        return [helper.make_node("Clip", [y, *bounds], [out])]
    if activation == "PRelu":
        consts["slope"] = slope.reshape((-1,) + (1,) * (rank - 2)) if slope.size > 1 else slope
        return [helper.make_node("PRelu", [y, "slope"], [out])]
    if activation == "Silu":  # pymace's own activation: x · Sigmoid(x)
        return [helper.make_node("Sigmoid", [y], [f"{out}_gate"]), helper.make_node("Mul", [y, f"{out}_gate"], [out])]
    attrs = {"HardSigmoid": dict(zip(("alpha", "beta"), p)), "LeakyRelu": dict(zip(("alpha",), p)),
             "Gelu": {"approximate": "tanh" if p and p[0] else "none"}}  # pymace's Gelu params: [1] is tanh
    return [helper.make_node(activation, [y], [out], **attrs.get(activation, {}))]


def case_model(op_type: str, arrays: list, attrs: dict, out_ranks: list[int]):
    """(ONNX model, feeds) of one case: the node, its static-parameter constants, and its fused epilogue."""
    schema = _schema(op_type)
    arrays = list(arrays)
    activation = attrs.get("activation")
    slope = arrays.pop() if activation == "PRelu" else None
    residual = arrays.pop() if attrs.get("residual") or attrs.get("addend") else None
    renamed = IR_NAMES.get(op_type, {})
    slots = {i.name: k for k, i in enumerate(schema.inputs)}
    names = [f"x{k}" if a is not None else "" for k, a in enumerate(arrays)]
    feeds = {n: a for n, a in zip(names, arrays, strict=True) if n}
    consts, onnx_attrs = {}, {}
    for name, value in attrs.items():
        if name in schema.attributes:  # a tensor-valued one (ConstantOfShape's value) from its array
            tensor = schema.attributes[name].type == onnx.AttributeProto.TENSOR
            onnx_attrs[name] = onnx.numpy_helper.from_array(np.asarray(value)) if tensor else value
        elif renamed.get(name, name) in slots and value is not None:
            slot = slots[renamed.get(name, name)]
            names += [""] * (slot + 1 - len(names))
            names[slot] = f"c_{name}"
            consts[names[slot]] = np.asarray(value, _input_dtype(schema, slot, arrays[0]))
    while names and not names[-1]:
        names.pop()
    outputs = [f"y{k}" for k in range(len(out_ranks))]
    node_outputs = [f"node_y{k}" if (residual is not None or activation) and k == 0 else o
                    for k, o in enumerate(outputs)]
    nodes = [helper.make_node(op_type, names, node_outputs, **onnx_attrs)]
    y = node_outputs[0]
    if op_type == "MatMul" and attrs.get("alpha", 1.0) != 1.0:
        consts["alpha"] = np.float32(attrs["alpha"])
        nodes.append(helper.make_node("Mul", [y, "alpha"], ["scaled"]))
        y = "scaled"
    if residual is not None:
        feeds["residual"] = residual
        nodes.append(helper.make_node("Add", [y, "residual"], ["with_residual" if activation else outputs[0]]))
        y = "with_residual"
    if activation:
        nodes += _activation_nodes(activation, attrs.get("activation_params"), y, outputs[0], slope, out_ranks[0],
                                   consts)
    return onnx_model(nodes, feeds, outputs, consts, opset=max(OPSET, schema.since_version)), feeds


@pytest.mark.parametrize("case_id,module,case", CASES, ids=[c[0] for c in CASES])
def test_reference_matches_onnxruntime(case_id, module, case):
    op_type = case.op_type or module.OP_TYPES[0]
    why = _unsupported(op_type, case.attrs)
    if why:
        pytest.skip(why)
    arrays = case.make_inputs(np.random.default_rng(zlib.crc32(case_id.encode())))
    infos = [TensorInfo(a.shape, str(a.dtype), a if k in case.consts else None) if a is not None else None
             for k, a in enumerate(arrays)]
    got = module.reference(*arrays, _op_type=op_type, **case.attrs)
    inferred = module.infer(*infos, _op_type=op_type, **case.attrs)
    got = got[:len(inferred)]  # the outputs the IR node has (MaxPool's Indices: the reference's only)
    model, feeds = case_model(op_type, arrays, case.attrs, [np.ndim(g) for g in got])
    want = ort_run_model(model, feeds)
    assert len(want) == len(got)
    tol = min(case.tol, REFERENCE_TOL)
    for k, (g, w, (shape, dtype)) in enumerate(zip(got, want, inferred, strict=True)):
        assert g.shape == w.shape, f"output {k}: shape {g.shape} != onnxruntime's {w.shape}"
        assert g.dtype == w.dtype, f"output {k}: dtype {g.dtype} != onnxruntime's {w.dtype}"
        assert (tuple(shape), str(dtype)) == (w.shape, str(w.dtype)), f"output {k}: infer gives {shape} {dtype}"
        err = rel_err(g, w)
        assert err <= tol, f"output {k}: max|err|/max|ref| = {err:.3g} > {tol}"
