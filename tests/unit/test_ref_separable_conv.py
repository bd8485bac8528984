"""SeparableConv's NumPy reference against onnxruntime running the two ONNX nodes it stands for: a depthwise
Conv (+ Relu/Clip), a 1x1 Conv, then pymace's fused residual Add and activation, on fresh random inputs."""
import numpy as np
import pytest
from onnx import helper

from pymace.ops import separable_conv
from pymace.ops.base import TensorInfo
from tests.helpers import onnx_model, ort_run_model

ONNX_ACT = {"Relu": "Relu", "Clip": "Clip", "HardSwish": "HardSwish", "PRelu": "PRelu"}


def separate_nodes_on_onnxruntime(case, arrays):
    """The case as ONNX nodes on onnxruntime (opset 14: HardSwish, Clip's bounds as inputs)."""
    x, dw_w, dw_b, pw_w, *rest = arrays
    a = case.attrs
    inits = {"dw_w": dw_w, "pw_w": pw_w}
    dw_inputs = ["x", "dw_w"] + (["dw_b"] if dw_b is not None else [])
    if dw_b is not None:
        inits["dw_b"] = dw_b
    geometry = {k: a[k] for k in ("kernel_shape", "strides", "pads", "dilations")}
    nodes = [helper.make_node("Conv", dw_inputs, ["mid"], group=x.shape[1], **geometry)]
    mid = "mid"
    if a.get("dw_activation"):
        clip = []
        if a["dw_activation"] == "Clip":
            inits["dw_lo"], inits["dw_hi"] = (np.float32(v) for v in a["dw_activation_params"])
            clip = ["dw_lo", "dw_hi"]
        nodes.append(helper.make_node(a["dw_activation"], ["mid", *clip], ["mid_act"]))
        mid = "mid_act"
    slope = rest.pop() if a.get("activation") == "PRelu" else None
    pw_b = rest[0] if rest else None
    res = rest[1] if a.get("residual") else None
    pw_inputs = [mid, "pw_w"] + (["pw_b"] if pw_b is not None else [])
    if pw_b is not None:
        inits["pw_b"] = pw_b
    nodes.append(helper.make_node("Conv", pw_inputs, ["y0"]))
    y = "y0"
    feeds = {"x": x}
    if res is not None:
        feeds["r"] = res
        nodes.append(helper.make_node("Add", ["y0", "r"], ["y1"]))
        y = "y1"
    if a.get("activation"):
        extra = []
        if slope is not None:
            inits["slope"] = slope.reshape(-1, 1, 1)
            extra = ["slope"]
        nodes.append(helper.make_node(ONNX_ACT[a["activation"]], [y, *extra], ["y"]))
    else:
        nodes.append(helper.make_node("Identity", [y], ["y"]))
    inits = {k: np.asarray(v, np.float32) for k, v in inits.items()}
    return ort_run_model(onnx_model(nodes, feeds, ["y"], inits, opset=14), feeds)[0]


# Cases with the GPU plan's layout attributes (a Concat prefix copied in, a channel shuffle in the output layout)
# have no separate-node form here; tests/unit/test_device_fusions.py checks them against the unfused graph.
LAYOUT_ATTRS = ("prefix_channels", "shuffle_groups")
ONNX_CASES = [c for c in separable_conv.CASES if not any(k in c.attrs for k in LAYOUT_ATTRS)]


@pytest.mark.parametrize("case", ONNX_CASES, ids=lambda c: c.name)
def test_cases_match_onnxruntime(case):
    arrays = case.make_inputs(np.random.default_rng(7))
    got = separable_conv.reference(*arrays, **case.attrs)[0]
    want = separate_nodes_on_onnxruntime(case, arrays)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5 * np.abs(want).max(), rtol=0)
    infos = [TensorInfo(a.shape) if a is not None else None for a in arrays]
    assert separable_conv.infer(*infos, **case.attrs)[0][0] == got.shape
