"""NaN and ±inf on the device: a kernel gives what the op's reference gives (NumPy's semantics, which ONNX's
follow: NaN in, NaN out; Relu, Clip, max pooling, reductions and softmax propagate NaN), never a plausible number.

Each op type's first case, and the cases below that reach the padded and fused paths of the kernels, run with a
few NaN, +inf and -inf elements planted in every float activation. NaN positions and infinities must match the
reference exactly; finite values to the case's tolerance."""
import zlib

import numpy as np
import pytest

from pymace import Engine
from pymace.ops.base import Case
from pymace.reference import executor as reference
from tests.helpers import all_cases, case_graph, opencl_devices, rel_err

_G = dict(strides=[1, 1], group=1)
EXTRA = [  # (op_type, case): the branch-free padding of the GPU conv kernels, forced so every device runs them
    ("Conv", Case("nan_dw_dilated_pad", [(1, 6, 9, 10), (6, 1, 3, 3), (6,)],
                  dict(kernel_shape=[3, 3], pads=[2] * 4, strides=[1, 1], dilations=[2, 2], group=6,
                       kernel_variant="conv_depthwise"), consts=(1, 2))),
    ("Conv", Case("nan_direct_dilated_pad", [(1, 4, 9, 10), (6, 4, 3, 3), (6,)],
                  dict(kernel_shape=[3, 3], pads=[2] * 4, dilations=[2, 2], **_G, kernel_variant="conv_direct",
                       activation="Relu"), consts=(1, 2))),
    ("Conv", Case("nan_gemm_dilated_pad", [(1, 4, 9, 10), (6, 4, 3, 3), (6,)],
                  dict(kernel_shape=[3, 3], pads=[2] * 4, dilations=[2, 2], **_G, kernel_variant="conv_gemm",
                       activation="Clip", activation_params=[0.0, 6.0]), consts=(1, 2))),
    ("Conv", Case("nan_cpu_rows_dilated", [(1, 4, 9, 20), (5, 4, 3, 3), (5,)],
                  dict(kernel_shape=[3, 3], pads=[2] * 4, dilations=[2, 2], **_G, kernel_variant="conv_rows_cpu",
                       activation="HardSwish"), consts=(1, 2))),
]
NAMED = {
    "Add-add_clip6",
    "Add-add_relu",
    "BatchNormalization-relu6_tail",
    "Clip-clip_min_only",
    "Conv-3x3_pad1_relu",
    "Conv-dw3x3",
    "Gemm-both_trans_row_bias",
    "GlobalMaxPool-gmp_large",
    "HardSigmoid-hardsigmoid_default",
    "MaxPool-max_k3s2_pad_odd",
    "MaxPool-max_k5s1_pad_sppf",
    "Softmax-channels_nchw",
    "Softmax-last_axis_long",
}


def _selected():
    seen = set()
    for case_id, module, case in all_cases():
        op_type = case.op_type or module.OP_TYPES[0]
        if op_type not in seen or case_id in NAMED:
            seen.add(op_type)
            yield case_id, module, case
    from pymace import ops

    for op_type, case in EXTRA:
        yield f"{op_type}-{case.name}", ops.get(op_type), case


CASES = list(_selected())
DEVICES = opencl_devices()


def poison(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`x` with one NaN, one +inf and one -inf per 40 elements (at least one of each), at random positions."""
    x = x.copy()
    flat = x.reshape(-1)
    count = max(1, flat.size // 40)
    spots = rng.permutation(flat.size)[: 3 * count]
    for k, value in enumerate((np.nan, np.inf, -np.inf)):
        flat[spots[k * count:(k + 1) * count]] = value
    return x


def assert_same_specials(got: np.ndarray, want: np.ndarray, tol: float, what: str) -> None:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    lost = np.isnan(want) & ~np.isnan(got)
    made = np.isnan(got) & ~np.isnan(want)
    assert not lost.any(), f"{what}: {int(lost.sum())} NaN(s) of the reference became {got[lost][:4]}"
    assert not made.any(), f"{what}: {int(made.sum())} NaN(s) where the reference has {want[made][:4]}"
    inf = np.isinf(want) | np.isinf(got)
    assert np.array_equal(got[inf], want[inf]), f"{what}: infinities differ: {got[inf][:6]} vs {want[inf][:6]}"
    finite = np.isfinite(want)
    err = rel_err(got[finite], want[finite])
    assert err <= tol, f"{what}: finite values rel err {err:.3g} > {tol}"


@pytest.mark.parametrize("device", DEVICES, ids=[d.selector for d in DEVICES])
@pytest.mark.parametrize("case_id,module,case", CASES, ids=[c[0] for c in CASES])
def test_nan_and_inf_as_the_reference(case_id, module, case, device, tmp_path_factory):
    rng = np.random.default_rng(zlib.crc32(b"nan " + case_id.encode()))
    graph, feeds = case_graph(module, case, rng)
    feeds = {k: poison(v, rng) if v.dtype.kind == "f" else v for k, v in feeds.items()}
    with np.errstate(all="ignore"):
        want = reference.run(graph, feeds)
    storage = tmp_path_factory.getbasetemp() / "op-cache"
    got = Engine(graph, device=device.selector, data_type="fp32", storage_dir=str(storage)).run(feeds)
    for name in graph.outputs:
        assert_same_specials(got[name], want[name], case.tol, f"{case_id} on {device.name}, output {name}")


def test_poison_plants_every_kind():
    x = poison(np.zeros((3, 5), np.float32), np.random.default_rng(0))
    assert np.isnan(x).sum() == 1 and (x == np.inf).sum() == 1 and (x == -np.inf).sum() == 1
