"""MediaPipe's landmark custom ops (version 2) → the IR ops of ops/landmarks.py. Their custom options are a
flexbuffer map, read as tensorflow/lite/delegates/gpu/common/mediapipe/*.cc reads them: Landmarks2TransformMatrix
has subset_idxs, left/right_rotation_idx, target_rotation_radians, output_height/width and scale_x/y;
TransformTensorBilinear's output size is its output tensor's (the CPU kernel's); TransformLandmarks has none."""
from __future__ import annotations

from ..errors import ConvertError, ModelError
from .tflite_reader import TfOp

_L2TM_KEYS = {"subset_idxs": list, "left_rotation_idx": int, "right_rotation_idx": int,
              "target_rotation_radians": float, "output_height": int, "output_width": int, "scale_x": float,
              "scale_y": float}


def _flexbuffer(imp, op: TfOp) -> dict:
    from flatbuffers import flexbuffers

    if not op.custom_options:
        return {}
    try:
        value = flexbuffers.Loads(op.custom_options)
    except Exception as e:  # an untrusted buffer: any decoding failure means a malformed file
        raise ModelError(f"{op.type} {imp.op_name(op)!r}: custom options are not a flexbuffer "
                         f"({type(e).__name__})") from None
    if not isinstance(value, dict):
        raise ModelError(f"{op.type} {imp.op_name(op)!r}: custom options are not a flexbuffer map")
    return value


def _version_2(imp, op: TfOp) -> None:
    if op.version != 2:
        raise ConvertError(f"{op.type} {imp.op_name(op)!r} is version {op.version} of the op; pymace supports "
                           "version 2")
    if len(op.inputs) != (1 if op.type == "CUSTOM:Landmarks2TransformMatrix" else 2) or len(op.outputs) != 1:
        raise ModelError(f"{op.type} {imp.op_name(op)!r}: {len(op.inputs)} inputs, {len(op.outputs)} outputs")


def _landmarks_to_matrix(imp, op: TfOp) -> None:
    _version_2(imp, op)
    opts = _flexbuffer(imp, op)
    attrs = {}
    for key, kind in _L2TM_KEYS.items():
        if key not in opts:
            raise ModelError(f"{op.type} {imp.op_name(op)!r}: custom options lack {key!r}")
        try:
            attrs[key] = [int(v) for v in opts[key]] if kind is list else kind(opts[key])
        except (TypeError, ValueError):
            raise ModelError(f"{op.type} {imp.op_name(op)!r}: {key} = {opts[key]!r}") from None
    imp.emit(op, "LandmarksToTransformMatrix", [imp.act(op.inputs[0])], **attrs)


def _transform_tensor(imp, op: TfOp) -> None:
    _version_2(imp, op)
    x, y = op.inputs[0], op.outputs[0]
    out = imp.tf[y].shape
    if not imp.is_4d(x) or len(out) != 4:
        raise ConvertError(f"{op.type} {imp.op_name(op)!r}: input {list(imp.tf[x].shape)}, output {list(out)}")
    opts = _flexbuffer(imp, op)
    for key, size in (("output_height", out[1]), ("output_width", out[2])):
        if key in opts and int(opts[key]) != size:
            raise ModelError(f"{op.type} {imp.op_name(op)!r}: {key} {opts[key]}, output tensor {list(out)}")
    imp.emit(op, "TransformTensorBilinear", [imp.act(x), imp.act(op.inputs[1])], output_height=int(out[1]),
             output_width=int(out[2]))


def _transform_landmarks(imp, op: TfOp) -> None:
    _version_2(imp, op)
    imp.emit(op, "TransformLandmarks", [imp.act(op.inputs[0]), imp.act(op.inputs[1])])


def output_shapes(imp, op: TfOp) -> list:
    """Output shapes at other input shapes (tflite_shapes)."""
    x = imp.tf[op.inputs[0]].shape
    if op.type == "CUSTOM:Landmarks2TransformMatrix":
        return [(1, 4, 4)]
    if op.type == "CUSTOM:TransformTensorBilinear":
        out = imp.tf[op.outputs[0]].shape
        return [(x[0], out[1], out[2], x[3])]
    return [x]


IMPORTERS = {"CUSTOM:Landmarks2TransformMatrix": _landmarks_to_matrix,
             "CUSTOM:TransformTensorBilinear": _transform_tensor,
             "CUSTOM:TransformLandmarks": _transform_landmarks}
