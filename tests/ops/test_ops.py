"""Every op's cases, on every OpenCL device present, in fp32 and fp16 storage, against the op's NumPy
reference on fresh random inputs."""
import zlib

import numpy as np
import pytest

from pymace import Engine
from pymace.reference import executor as reference
from tests.helpers import all_cases, case_graph, opencl_devices, rel_err

CASES = list(all_cases())
DEVICES = opencl_devices()
FP16_TOL = 1e-2


@pytest.mark.parametrize("data_type", ["fp32", "fp16"])
@pytest.mark.parametrize("device", DEVICES, ids=[d.selector for d in DEVICES])
@pytest.mark.parametrize("case_id,module,case", CASES, ids=[c[0] for c in CASES])
def test_op_case(case_id, module, case, device, data_type, tmp_path_factory):
    check_case(case_id, module, case, device, data_type, tmp_path_factory.getbasetemp() / "op-cache")


def check_case(case_id, module, case, device, data_type, storage):
    rng = np.random.default_rng(zlib.crc32(case_id.encode()))  # fresh per case, reproducible per id
    graph, feeds = case_graph(module, case, rng)
    want = reference.run(graph, _as_stored(graph, feeds, data_type))
    engine = Engine(graph, device=device.selector, data_type=data_type, storage_dir=str(storage))
    assert engine.device.is_gpu == device.is_gpu
    got = engine.run(feeds)
    tol = case.tol if data_type == "fp32" else max(case.tol, FP16_TOL)
    kind = "GPU" if device.is_gpu else "CPU"
    for name in graph.outputs:
        err = rel_err(got[name], want[name])
        assert err <= tol, f"{case_id} on {device.name} as a {kind} ({data_type}): output {name} rel err {err:.3g}"


def _as_stored(graph, feeds, data_type):
    """The inputs the device computes on. fp16 storage rounds float inputs to half precision before any kernel
    reads them; an op whose outputs are integers (QuantizeLinear, ArgMax, comparisons) is exact on those rounded
    values, so its reference sees them too. Float outputs keep the reference on the inputs as given."""
    exact = any(np.dtype(graph.tensors[o].dtype).kind in "biu" for o in graph.outputs)
    if data_type != "fp16" or not exact:
        return feeds
    return {n: v.astype(np.float16).astype(v.dtype) if v.dtype.kind == "f" else v for n, v in feeds.items()}


def test_every_op_has_cases():
    from pymace import ops

    missing = [m.__name__ for m in ops.MODULES if not m.CASES]
    assert not missing, f"op files without test cases: {missing}"


# ops whose launch depends on the device kind: their GPU kernels run here too, on this machine's OpenCL device
# described as a GPU, so that CI checks them without one (the GPU machine runs them as themselves)
GPU_BRANCHING = ("conv", "gemm", "pad", "pool", "reduce", "separable_conv", "softmax", "transpose")
GPU_CASES = [c for c in CASES if c[1].__name__.rsplit(".", 1)[-1] in GPU_BRANCHING]


@pytest.mark.parametrize("data_type", ["fp32", "fp16"])
@pytest.mark.parametrize("case_id,module,case", GPU_CASES, ids=[c[0] for c in GPU_CASES])
def test_op_case_as_gpu(case_id, module, case, data_type, tmp_path_factory, monkeypatch):
    if not DEVICES or DEVICES[0].is_gpu:
        pytest.skip("needs a CPU OpenCL device (a GPU runs these as test_op_case)")
    import dataclasses

    from pymace.runtime import device as devices

    gpu = dataclasses.replace(DEVICES[0], is_gpu=True, compute_units=132)
    monkeypatch.setattr(devices, "select", lambda spec, storage_dir=None: gpu)
    check_case(case_id, module, case, gpu, data_type, tmp_path_factory.getbasetemp() / "op-cache-as-gpu")
