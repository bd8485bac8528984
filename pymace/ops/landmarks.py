"""MediaPipe's landmark custom ops, version 2 (face_landmark_with_attention's attention crops), as pymace ops. The
semantics are those of MediaPipe's CPU kernels, mediapipe/util/tflite/operations/landmarks_to_transform_matrix.cc,
transform_tensor_bilinear.cc and transform_landmarks.cc (namespace v2), with the attribute parsing of
tensorflow/lite/delegates/gpu/common/mediapipe/*.cc:

  LandmarksToTransformMatrix (Landmarks2TransformMatrix) landmarks [1, N, 3] → a row-major 4x4 matrix [1, 4, 4]:
    rotation = target_rotation_radians − atan2(y_right − y_left, x_right − x_left) of landmarks left_rotation_idx
    and right_rotation_idx; the landmarks named by subset_idxs (index pairs, flattened), rotated by `rotation`,
    span a box of width w and height h centred on c (turned back by −rotation); the matrix is
    shift(c) · rotate(−rotation) · scale(scale_x·w/output_width, scale_y·h/output_height)
    · shift(−output_width/2, −output_height/2).
  TransformTensorBilinear x [1, C, H, W] (NCHW here), matrix → [1, C, output_height, output_width]: output pixel
    (x, y) samples x bilinearly at the matrix's first two rows applied to (x, y, 0, 1), their last column
    corrected by +0.5·(m0 + m1) − 0.5 (half-pixel centres); a point outside [0, W−1] × [0, H−1] gives 0, and a
    corner beyond the last row or column reads 0.
  TransformLandmarks landmarks [1, N, D] (D = 2 or 3), matrix → the same shape: (x, y) → the first two rows
    applied to (x, y, 0, 1); z is copied.

MediaPipe's v2 kernels read batch 0 only; pymace takes batch 1. NaN anywhere in what an output reads makes it NaN
(MediaPipe's comparisons would skip it)."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from . import kernel_args
from .base import Case, Const, TensorInfo, ints

OP_TYPES = ("LandmarksToTransformMatrix", "TransformTensorBilinear", "TransformLandmarks")
MATRIX = (1, 4, 4)


def _check_matrix(m: TensorInfo, op: str) -> None:
    if tuple(m.shape) != MATRIX:
        raise ConvertError(f"{op}: the transform matrix is {list(m.shape)}, not {list(MATRIX)}")


def _check_l2tm(x: TensorInfo, subset_idxs=(), left_rotation_idx=0, right_rotation_idx=0, output_height=0,
                output_width=0, scale_x=0.0, scale_y=0.0, **_) -> None:
    if len(x.shape) != 3 or x.shape[0] != 1 or x.shape[2] != 3:
        raise ConvertError(f"LandmarksToTransformMatrix: landmarks of shape {list(x.shape)}, not [1, N, 3]")
    idx = ints(subset_idxs) + [int(left_rotation_idx), int(right_rotation_idx)]
    if len(idx) < 3 or min(idx) < 0 or max(idx) >= x.shape[1]:
        raise ConvertError(f"LandmarksToTransformMatrix: landmark indices {sorted(set(idx))[:4]}… for "
                           f"{x.shape[1]} landmarks (and a non-empty subset)")
    if output_height <= 0 or output_width <= 0 or not (scale_x > 0 and scale_y > 0):
        raise ConvertError(f"LandmarksToTransformMatrix: output {output_height}x{output_width}, scales "
                           f"{scale_x}, {scale_y}")


def infer(x: TensorInfo, m: TensorInfo | None = None, *_, _op_type="LandmarksToTransformMatrix", **attrs):
    if _op_type == "LandmarksToTransformMatrix":
        _check_l2tm(x, **attrs)
        return [(MATRIX, x.dtype)]
    if m is None:
        raise ConvertError(f"{_op_type}: needs a transform matrix input")
    _check_matrix(m, _op_type)
    if _op_type == "TransformLandmarks":
        if len(x.shape) != 3 or x.shape[0] != 1 or x.shape[2] not in (2, 3):
            raise ConvertError(f"TransformLandmarks: landmarks of shape {list(x.shape)}, not [1, N, 2 or 3]")
        return [(x.shape, x.dtype)]
    oh, ow = int(attrs.get("output_height", 0)), int(attrs.get("output_width", 0))
    if len(x.shape) != 4 or x.shape[0] != 1 or oh <= 0 or ow <= 0:
        raise ConvertError(f"TransformTensorBilinear: input {list(x.shape)} (not [1, C, H, W]) or output "
                           f"{oh}x{ow}")
    return [((1, x.shape[1], oh, ow), x.dtype)]


def _mat(*rows) -> np.ndarray:
    return np.array(rows, np.float64)


def _matrix(landmarks, subset_idxs, left_rotation_idx, right_rotation_idx, target_rotation_radians=0.0,
            **size) -> np.ndarray:
    """The matrix as MediaPipe composes it (in float64); size: output_height/width and scale_x/y."""
    ow, oh = float(size["output_width"]), float(size["output_height"])
    scale_x, scale_y = float(size["scale_x"]), float(size["scale_y"])
    p = landmarks.reshape(-1, 3)[:, :2].astype(np.float64)
    (lx, ly), (rx, ry) = p[int(left_rotation_idx)], p[int(right_rotation_idx)]
    r = float(target_rotation_radians) - np.arctan2(ry - ly, rx - lx)
    c, s = np.cos(r), np.sin(r)
    rotated = p[ints(subset_idxs)] @ _mat([c, s], [-s, c])  # row vectors: R(r) · point
    lo, hi = rotated.min(axis=0), rotated.max(axis=0)
    centre = _mat([c, -s], [s, c]).T @ ((lo + hi) / 2) if np.isfinite(r) else np.full(2, np.nan)
    shift = _mat([1, 0, 0, centre[0]], [0, 1, 0, centre[1]], [0, 0, 1, 0], [0, 0, 0, 1])
    turn = _mat([np.cos(-r), -np.sin(-r), 0, 0], [np.sin(-r), np.cos(-r), 0, 0], [0, 0, 1, 0], [0, 0, 0, 1])
    scale = np.diag([scale_x * (hi[0] - lo[0]) / ow, scale_y * (hi[1] - lo[1]) / oh, 1.0, 1.0])
    back = _mat([1, 0, 0, -ow / 2], [0, 1, 0, -oh / 2], [0, 0, 1, 0], [0, 0, 0, 1])
    m = shift @ turn @ scale @ back
    if np.isnan(p[ints(subset_idxs)]).any():
        m[:] = np.nan
    return m.reshape(MATRIX)


def _bilinear(x, m, output_height, output_width) -> np.ndarray:
    """MediaPipe's v2 sampling in float32, in its own order of operations."""
    f = np.float32
    a, b = m.reshape(16)[:4].astype(f), m.reshape(16)[4:8].astype(f)
    a3, b3 = a[3] + a[0] * f(0.5) + a[1] * f(0.5) - f(0.5), b[3] + b[0] * f(0.5) + b[1] * f(0.5) - f(0.5)
    ys, xs = np.meshgrid(np.arange(output_height, dtype=f), np.arange(output_width, dtype=f), indexing="ij")
    tx, ty = a[0] * xs + a[1] * ys + a[2] * f(0) + a3, b[0] * xs + b[1] * ys + b[2] * f(0) + b3
    _, ch, h, w = x.shape
    inside = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    fx, fy = np.floor(np.where(inside, tx, 0)), np.floor(np.where(inside, ty, 0))
    x0, y0 = fx.astype(np.int64), fy.astype(np.int64)
    padded = np.pad(x[0].astype(f), ((0, 0), (0, 1), (0, 1)))  # the corners past the edge read 0

    def at(dy, dx):
        return padded[:, y0 + dy, x0 + dx]

    right, lower = tx - fx, ty - fy
    top = (f(1) - right) * at(0, 0) + right * at(0, 1)
    bottom = (f(1) - right) * at(1, 0) + right * at(1, 1)
    y = np.where(inside, lower * bottom + (f(1) - lower) * top, f(0))
    y = np.where(np.isnan(tx) | np.isnan(ty), f(np.nan), y)
    return y[None].astype(x.dtype)


def reference(x, m=None, *_, _op_type="LandmarksToTransformMatrix", **attrs):
    if _op_type == "LandmarksToTransformMatrix":
        return [_matrix(x, **attrs).astype(x.dtype)]
    if _op_type == "TransformTensorBilinear":
        return [_bilinear(x, m, int(attrs["output_height"]), int(attrs["output_width"]))]
    r = m.reshape(16).astype(np.float32)
    y = x.astype(np.float32).copy()
    px, py = x[..., 0].astype(np.float32), x[..., 1].astype(np.float32)
    y[..., 0] = r[0] * px + r[1] * py + r[2] * np.float32(0) + r[3]
    y[..., 1] = r[4] * px + r[5] * py + r[6] * np.float32(0) + r[7]
    return [y.astype(x.dtype)]


def launch(ctx, _op_type="LandmarksToTransformMatrix", **attrs) -> None:
    x, y = ctx.inputs[0], ctx.outputs[0]
    if _op_type == "LandmarksToTransformMatrix":
        subset = np.array(ints(attrs["subset_idxs"]), np.int32)
        kernel_args.launch(ctx, "landmarks", "landmarks_to_transform_matrix", (1,), {
            "landmarks": x, "matrix": y, "subset": Const(subset), "count": len(subset),
            "left": int(attrs["left_rotation_idx"]), "right": int(attrs["right_rotation_idx"]),
            "target_rotation": float(attrs.get("target_rotation_radians", 0.0)),
            "out_w": float(attrs["output_width"]), "out_h": float(attrs["output_height"]),
            "scale_x": float(attrs["scale_x"]), "scale_y": float(attrs["scale_y"])})
        return
    m = ctx.inputs[1]
    if _op_type == "TransformLandmarks":
        n, dims = x.shape[1], x.shape[2]
        kernel_args.launch(ctx, "landmarks", "transform_landmarks", (n,),
                           {"landmarks": x, "matrix": m, "out": y, "n": n, "dims": dims})
        return
    _, ch, h, w = x.shape
    oh, ow = y.shape[2], y.shape[3]
    kernel_args.launch(ctx, "landmarks", "transform_tensor_bilinear", (ow, oh, ch),
                       {"in": x, "matrix": m, "out": y, "h": h, "w": w, "oh": oh, "ow": ow, "channels": ch})


def _landmarks(n: int, seed: int, dims: int = 3) -> np.ndarray:
    """Landmarks of a face-sized cloud in pixel units (a 48 px feature map's frame)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(4.0, 44.0, (1, n, dims)).astype(np.float32)
    if dims == 3:
        p[..., 2] = rng.normal(0, 3, (1, n))
    return p


def _affine(seed: int, scale: float = 1.5, shift: float = 10.0) -> np.ndarray:
    """A rotation-scale-shift matrix as Landmarks2TransformMatrix makes them."""
    rng = np.random.default_rng(seed)
    r, k = rng.uniform(-0.6, 0.6), rng.uniform(0.6, 1.4) * scale
    m = np.eye(4, dtype=np.float32)
    m[:2, :2] = k * np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]])
    m[:2, 3] = rng.uniform(0, shift, 2)
    return m[None]


def _feature_map(shape, seed: int) -> np.ndarray:
    """A smooth random field, as the conv features the op crops are: fp16 storage of the matrix moves sample
    points by ~0.01 px, which changes white noise by ~1 % but a feature map far less."""
    n, c, h, w = shape
    coarse = np.random.default_rng(seed).standard_normal((n, c, h // 4 + 2, w // 4 + 2))

    def spread(size: int, k: int) -> np.ndarray:  # [size, k]: linear interpolation from k knots
        return np.stack([np.interp(np.linspace(0, k - 1, size), np.arange(k), e) for e in np.eye(k)], axis=1)

    return (spread(h, coarse.shape[2]) @ coarse @ spread(w, coarse.shape[3]).T).astype(np.float32)


_SUBSET = [3, 7, 11, 2, 19, 23, 5, 30, 8, 14, 27]  # an odd count: MediaPipe pairs the last with itself
CASES = [
    Case("l2tm_eyes", [_landmarks(32, 1)], {"subset_idxs": _SUBSET, "left_rotation_idx": 3, "right_rotation_idx": 19,
                                            "target_rotation_radians": 0.0, "output_height": 16,
                                            "output_width": 16, "scale_x": 1.5, "scale_y": 1.5}),
    Case("l2tm_target_rotation", [_landmarks(40, 2)], {"subset_idxs": list(range(0, 40, 3)),
                                                       "left_rotation_idx": 39, "right_rotation_idx": 0,
                                                       "target_rotation_radians": 0.3, "output_height": 12,
                                                       "output_width": 20, "scale_x": 1.2, "scale_y": 2.0}),
    Case("bilinear_crop", [_feature_map((1, 5, 48, 48), 3), _affine(3)], {"output_height": 16, "output_width": 16},
         op_type="TransformTensorBilinear"),
    Case("bilinear_past_edges", [_feature_map((1, 3, 9, 13), 4), _affine(4, 2.5, 8.0)],
         {"output_height": 7, "output_width": 11}, op_type="TransformTensorBilinear"),
    Case("landmarks_2d", [_landmarks(80, 5, 2), _affine(6)], op_type="TransformLandmarks"),
    Case("landmarks_3d", [_landmarks(71, 7, 3), _affine(8, 0.5)], op_type="TransformLandmarks"),
]
