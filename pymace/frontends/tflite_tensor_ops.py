"""TFLite importers for ops that move, select or combine tensors: STRIDED_SLICE, SLICE, GATHER, SPLIT(_V),
PACK/UNPACK, TRANSPOSE, DEPTH_TO_SPACE/SPACE_TO_DEPTH, SHAPE. Where an op's meaning depends on the axis order
and the result is not simply the NCHW twin of TFLite's, it runs on TFLite's own layout (`tf_view`, `emit_tf`)."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError, ModelError
from . import tflite as core
from .tflite_reader import TfOp

_BEFORE_START = -(2 ** 62)  # an ONNX Slice end that clamps to "before index 0" for negative steps


def _onnx_slice(axis_plan) -> dict:
    """IR Slice attributes for (axis, first index, step, count) tuples."""
    starts, ends, axes, steps = [], [], [], []
    for axis, first, step, count in axis_plan:
        end = first + count * step
        starts.append(first)
        ends.append(_BEFORE_START if step < 0 and end < 0 else end)
        axes.append(axis)
        steps.append(step)
    return {"starts": starts, "ends": ends, "axes": axes, "steps": steps}


def _range(dim: int, begin: int, end: int, step: int, begin_masked: bool, end_masked: bool) -> tuple[int, int]:
    """(first index, count) of begin:end:step on a dim, with TensorFlow's masks and clamping."""
    if step == 0:
        raise ModelError("STRIDED_SLICE with a stride of 0")
    lo, hi = (0, dim) if step > 0 else (-1, dim - 1)
    b = (lo if step > 0 else hi) if begin_masked else min(max(begin + dim if begin < 0 else begin, lo), hi)
    e = (hi if step > 0 else lo) if end_masked else min(max(end + dim if end < 0 else end, lo), hi)
    return b, max(0, -(-(e - b) // step))


def strided_slice_plan(shape, begin, end, strides, opts) -> tuple[list, list[int]]:
    """((axis, first, step, count) per input dim, output shape) of a STRIDED_SLICE, following TensorFlow's
    sparse-to-dense spec: an ellipsis covers the dims no other entry names, new_axis entries add a dim of 1,
    shrink_axis entries take one index and drop the dim."""
    bit = lambda mask, k: bool((int(opts.get(mask, 0)) >> k) & 1)  # noqa: E731
    n = len(begin)
    if not (len(end) == len(strides) == n):
        raise ModelError(f"STRIDED_SLICE begin/end/strides of lengths {len(begin)}, {len(end)}, {len(strides)}")
    named = sum(1 for k in range(n) if not bit("EllipsisMask", k) and not bit("NewAxisMask", k))
    if named > len(shape):
        raise ModelError(f"STRIDED_SLICE names {named} dims of its input's {list(shape)}")
    plan, out, dim = [], [], 0
    entries = list(range(n)) + ([] if any(bit("EllipsisMask", k) for k in range(n)) else [None])
    for k in entries:
        if k is None or bit("EllipsisMask", k):  # an explicit ellipsis, or the implicit one at the end
            for _ in range(len(shape) - named):
                plan.append((dim, 0, 1, shape[dim]))
                out.append(shape[dim])
                dim += 1
            named = len(shape)  # a second ellipsis covers nothing
            continue
        if bit("NewAxisMask", k):
            out.append(1)
            continue
        stop = begin[k] + end[k] if opts.get("Offset") else end[k]
        if bit("ShrinkAxisMask", k):
            first = begin[k] + shape[dim] if begin[k] < 0 else begin[k]
            if not 0 <= first < shape[dim]:
                raise ModelError(f"STRIDED_SLICE index {begin[k]} of a dim of {shape[dim]}")
            plan.append((dim, first, 1, 1))
        else:
            first, count = _range(shape[dim], begin[k], stop, strides[k], bit("BeginMask", k), bit("EndMask", k))
            plan.append((dim, first, strides[k], count))
            out.append(count)
        dim += 1
    return plan, out


def _slice_like(imp, op: TfOp, plan) -> None:
    """Emit a slice of input 0 by `plan` and give it the output's TFLite shape."""
    x, y = op.inputs[0], op.outputs[0]
    moved = [p for p in plan if not (p[1] == 0 and p[2] == 1 and p[3] == imp.tf[x].shape[p[0]])]
    sliced_shape = tuple(p[3] for p in plan)
    if imp.is_4d(x) and imp.is_4d(y) and sliced_shape == imp.tf[y].shape:  # stays a feature map: NCHW slice
        ir_plan = [(core.nchw_axis(a, 4), f, s, c) for a, f, s, c in moved]
        imp.emit(op, "Slice", [imp.act(x)], **_onnx_slice(ir_plan)) if moved else \
            imp.emit(op, "Identity", [imp.act(x)])
        return
    src = imp.tf_view(x)
    if moved:
        src = imp.add("Slice", [src], imp.fresh(imp.name(y) + "/slice"), sliced_shape, **_onnx_slice(moved))
    imp.emit_tf(op, "Reshape", [src], shape=list(imp.tf[y].shape))


def _strided_slice(imp, op: TfOp) -> None:
    x = op.inputs[0]
    ints = [imp.ints(op.inputs[j], f"STRIDED_SLICE {what}") for j, what in ((1, "begin"), (2, "end"),
                                                                           (3, "strides"))]
    plan, out = strided_slice_plan(imp.tf[x].shape, *ints, op.options)
    if tuple(out) != imp.tf[op.outputs[0]].shape:
        raise ModelError(f"STRIDED_SLICE {imp.op_name(op)!r}: gives {out}, the tensor says "
                         f"{list(imp.tf[op.outputs[0]].shape)}")
    _slice_like(imp, op, plan)


def _slice(imp, op: TfOp) -> None:
    shape = imp.tf[op.inputs[0]].shape
    begin, size = imp.ints(op.inputs[1], "SLICE begin"), imp.ints(op.inputs[2], "SLICE size")
    if len(begin) != len(shape) or len(size) != len(shape):
        raise ModelError(f"SLICE {imp.op_name(op)!r}: begin {begin}, size {size} for {list(shape)}")
    plan = []
    for d, (b, s) in enumerate(zip(begin, size)):
        count = shape[d] - b if s == -1 else s
        if not (0 <= b and 0 <= count and b + count <= shape[d]):
            raise ModelError(f"SLICE {imp.op_name(op)!r}: begin {begin}, size {size} for {list(shape)}")
        plan.append((d, b, 1, count))
    _slice_like(imp, op, plan)


def _gather(imp, op: TfOp) -> None:
    x, idx = op.inputs[0], op.inputs[1]
    rank = len(imp.tf[x].shape)
    if op.options.get("BatchDims", 0):
        raise ConvertError(f"GATHER {imp.op_name(op)!r}: batch_dims is not supported")
    axis = int(op.options.get("Axis", 0))
    if not -rank <= axis < rank:
        raise ModelError(f"GATHER {imp.op_name(op)!r}: axis {axis} of a {rank}-d input")
    indices = np.asarray(imp.const_of(idx, "GATHER indices")).astype(np.int64)
    if np.any((indices < -imp.tf[x].shape[axis]) | (indices >= imp.tf[x].shape[axis])):
        raise ModelError(f"GATHER {imp.op_name(op)!r}: indices outside a dim of {imp.tf[x].shape[axis]}")
    ind = imp.const(indices, imp.name(idx))
    if rank == 4 and indices.ndim == 1:  # one dim is replaced by another of the same place: gather in NCHW
        imp.emit(op, "Gather", [imp.act(x), ind], axis=core.nchw_axis(axis, 4))
        return
    imp.emit_tf(op, "Gather", [imp.tf_view(x), ind], axis=axis % rank)


def _split(imp, op: TfOp) -> None:
    if op.type == "SPLIT":
        axis_i, x = op.inputs[0], op.inputs[1]
    else:
        x, axis_i = op.inputs[0], op.inputs[2]
    shape, axis = imp.tf[x].shape, imp.ints(axis_i, f"{op.type} axis")
    if len(axis) != 1 or not -len(shape) <= axis[0] < len(shape):
        raise ModelError(f"{op.type} {imp.op_name(op)!r}: axis {axis} of {list(shape)}")
    axis = axis[0] % len(shape)
    sizes = [imp.tf[o].shape[axis] if len(imp.tf[o].shape) == len(shape) else -1 for o in op.outputs]
    if sum(sizes) != shape[axis] or any(s < 0 for s in sizes):
        raise ModelError(f"{op.type} {imp.op_name(op)!r}: outputs do not split {shape[axis]}")
    outs = [(imp.out(op, k), imp.ir_shape(o)) for k, o in enumerate(op.outputs)]
    imp.add_multi("Split", [imp.act(x)], outs, axis=core.nchw_axis(axis, len(shape)), split=sizes)
    for o, (name, _) in zip(op.outputs, outs):
        imp.value[o] = name


def _pack(imp, op: TfOp) -> None:
    y = op.outputs[0]
    rank = len(imp.tf[y].shape)
    axis = int(op.options.get("Axis", 0)) % rank
    parts = []
    for j in op.inputs:
        shape = list(imp.tf[j].shape)
        shape.insert(axis, 1)
        parts.append(imp.add("Reshape", [imp.tf_view(j)], imp.fresh(imp.name(j) + "/packed"), shape,
                             shape=shape))
    imp.emit_tf(op, "Concat", parts, axis=axis)


def _unpack(imp, op: TfOp) -> None:
    x = op.inputs[0]
    shape = list(imp.tf[x].shape)
    axis = int(op.options.get("Axis", 0)) % len(shape)
    if len(op.outputs) != shape[axis]:
        raise ModelError(f"UNPACK {imp.op_name(op)!r}: {len(op.outputs)} outputs for a dim of {shape[axis]}")
    piece = shape[:axis] + [1] + shape[axis + 1:]
    names = [(imp.fresh(f"{imp.name(o)}/piece"), piece) for o in op.outputs]
    imp.add_multi("Split", [imp.tf_view(x)], names, axis=axis, split=[1] * len(op.outputs))
    for k, (name, _) in enumerate(names):
        if imp.is_4d(op.outputs[k]):
            r = imp.add("Reshape", [name], imp.fresh(name + "/nhwc"), imp.tf[op.outputs[k]].shape,
                        shape=list(imp.tf[op.outputs[k]].shape))
            imp.to_ir(op, k, r)
        else:
            imp.value[op.outputs[k]] = imp.add("Reshape", [name], imp.out(op, k), imp.tf[op.outputs[k]].shape,
                                               shape=list(imp.tf[op.outputs[k]].shape))


def _transpose(imp, op: TfOp) -> None:
    """One IR Transpose: TFLite's perm composed with the NCHW ↔ NHWC layouts of input and output."""
    x = op.inputs[0]
    rank = len(imp.tf[x].shape)
    perm = [p % rank for p in imp.ints(op.inputs[1], "TRANSPOSE perm")] if rank else []
    if sorted(perm) != list(range(rank)):
        raise ModelError(f"TRANSPOSE {imp.op_name(op)!r}: perm {perm} for a {rank}-d input")
    p_in = core.TO_NCHW if rank == 4 else list(range(rank))
    inverse_in = [p_in.index(d) for d in range(rank)]
    composed = [inverse_in[perm[p]] for p in p_in]  # output's IR axis j reads the input's IR axis composed[j]
    if composed == list(range(rank)):
        imp.emit(op, "Identity", [imp.act(x)])
    else:
        imp.emit(op, "Transpose", [imp.act(x)], perm=composed)


def _space_depth(imp, op: TfOp) -> None:
    """TensorFlow's DEPTH_TO_SPACE channel order is ONNX's DCR; SPACE_TO_DEPTH is its inverse."""
    x = op.inputs[0]
    if not imp.is_4d(x):
        raise ModelError(f"{op.type} {imp.op_name(op)!r}: a {len(imp.tf[x].shape)}-d input")
    bs = int(op.options["BlockSize"])
    if op.type == "DEPTH_TO_SPACE":
        imp.emit(op, "DepthToSpace", [imp.act(x)], blocksize=bs, mode="DCR")
    else:
        imp.emit(op, "SpaceToDepth", [imp.act(x)], blocksize=bs)


def _densify(imp, op: TfOp) -> None:
    """Sparse constants are densified when the model is read (tflite_sparse): DENSIFY passes the dense array."""
    imp.consts[op.outputs[0]] = imp.const_of(op.inputs[0], "DENSIFY input")


def _shape(imp, op: TfOp) -> None:
    y = op.outputs[0]
    dtype = imp.tf[y].dtype if imp.tf[y].dtype in ("<i4", "<i8") else "<i4"
    imp.consts[y] = np.array(imp.tf[op.inputs[0]].shape, dtype)


IMPORTERS = {"STRIDED_SLICE": _strided_slice, "SLICE": _slice, "GATHER": _gather, "SPLIT": _split,
             "SPLIT_V": _split, "PACK": _pack, "UNPACK": _unpack, "TRANSPOSE": _transpose,
             "DEPTH_TO_SPACE": _space_depth, "SPACE_TO_DEPTH": _space_depth, "SHAPE": _shape,
             "DENSIFY": _densify}
