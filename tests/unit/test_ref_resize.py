"""Resize's reference and shape inference against onnxruntime: nearest (every rounding) and linear, every
coordinate transformation, scales or sizes, up- and down-sampling, axes and aspect-ratio policies."""
import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from pymace.errors import ConvertError
from pymace.ops import resize
from pymace.ops.base import TensorInfo
from tests.helpers import ort_run

COORDS = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "half_pixel_symmetric"]
SAMPLINGS = [("linear", "round_prefer_floor")] + [("nearest", m) for m in resize.ROUND]
GEOMETRY = [  # input shape, scales, sizes
    ((1, 3, 5, 7), [1, 1, 2, 2], None),
    ((2, 2, 9, 11), [1, 1, 0.5, 0.75], None),
    ((1, 5, 6, 9), None, [1, 5, 13, 4]),
    ((1, 2, 4, 5), None, [1, 2, 1, 9]),
    ((3, 5, 8), [1, 1, 2.5], None),
]


@pytest.mark.parametrize("geometry", GEOMETRY, ids=lambda g: "x".join(map(str, g[0])))
@pytest.mark.parametrize("coord,sampling", list(itertools.product(COORDS, SAMPLINGS)))
def test_matches_onnxruntime(geometry, coord, sampling):
    shape, scales, sizes = geometry
    x = np.random.default_rng(len(shape)).standard_normal(shape).astype(np.float32)
    attrs = {"mode": sampling[0], "nearest_mode": sampling[1], "coordinate_transformation_mode": coord}
    # half_pixel_symmetric lands exactly on integers, where float noise tips floor/ceil: onnxruntime (float32)
    # maps column 2 of 11 -> 8 by 0.75 to 2.9999998, ONNX's reference (float64) row 0 of 9 -> 4 by 0.5 to
    # 0.9999999999999998. pymace decides as exact arithmetic does; so does this oracle, in fractions.
    exact = coord == "half_pixel_symmetric" and sampling[1] in ("floor", "ceil")
    check(x, attrs, scales=scales, sizes=sizes, oracle=exact_symmetric_nearest if exact else ort_run)


@pytest.mark.parametrize("policy", ["stretch", "not_larger", "not_smaller"])
@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_axes_and_aspect_policy(policy, mode):
    x = np.random.default_rng(4).standard_normal((2, 3, 6, 10)).astype(np.float32)
    check(x, {"mode": mode, "keep_aspect_ratio_policy": policy}, sizes=[9, 12], axes=[2, 3])
    check(x, {"mode": mode}, scales=[1.5, 0.7], axes=[-2, -1])


def exact_symmetric_nearest(op_type, inputs, attrs, opset=19):
    """Nearest resize with half_pixel_symmetric coordinates computed in exact rational arithmetic."""
    x, _, scales, sizes = inputs + [None] * (4 - len(inputs))
    y, rnd = x, math.floor if attrs["nearest_mode"] == "floor" else math.ceil
    for a, n_in in enumerate(x.shape):
        n_out = int(sizes[a]) if sizes is not None else int(n_in * float(scales[a]))
        scale = Fraction(n_out, n_in) if sizes is not None else Fraction(float(scales[a]))
        offset = Fraction(n_in, 2) * (1 - n_out / (scale * n_in))
        coords = [offset + (k + Fraction(1, 2)) / scale - Fraction(1, 2) for k in range(n_out)]
        y = np.take(y, [min(max(rnd(c), 0), n_in - 1) for c in coords], axis=a)
    return [y]


def check(x, attrs, scales=None, sizes=None, axes=None, oracle=ort_run):
    given = {"scales": scales, "sizes": sizes, "axes": axes}
    onnx_inputs = [x, None, None if scales is None else np.array(scales, np.float32),
                   None if sizes is None else np.array(sizes, np.int64)]
    onnx_attrs = dict(attrs, **({"axes": axes} if axes is not None else {}))
    while onnx_inputs[-1] is None:
        onnx_inputs.pop()
    (want,) = oracle("Resize", onnx_inputs, onnx_attrs, opset=19)
    (got,) = resize.reference(x, _op_type="Resize", **attrs, **given)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())
    (shape, dtype), = resize.infer(TensorInfo(x.shape, str(x.dtype)), _op_type="Resize", **attrs, **given)
    assert shape == want.shape and dtype == str(want.dtype)


@pytest.mark.parametrize("attrs", [{"mode": "cubic"}, {"mode": "linear", "antialias": 1},
                                   {"coordinate_transformation_mode": "tf_crop_and_resize"},
                                   {"coordinate_transformation_mode": "tf_half_pixel_for_nearest"}])
def test_unsupported_settings_are_named(attrs):
    x = np.random.default_rng(6).standard_normal((1, 1, 4, 4)).astype(np.float32)
    with pytest.raises(ConvertError, match="Resize"):
        resize.reference(x, scales=[1, 1, 0.5, 0.5], _op_type="Resize", **attrs)
