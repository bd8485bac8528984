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
    rng = np.random.default_rng(zlib.crc32(case_id.encode()))  # fresh per case, reproducible per id
    graph, feeds = case_graph(module, case, rng)
    want = reference.run(graph, _as_stored(graph, feeds, data_type))
    storage = tmp_path_factory.getbasetemp() / "op-cache"
    engine = Engine(graph, device=device.selector, data_type=data_type, storage_dir=str(storage))
    got = engine.run(feeds)
    tol = case.tol if data_type == "fp32" else max(case.tol, FP16_TOL)
    for name in graph.outputs:
        err = rel_err(got[name], want[name])
        assert err <= tol, f"{case_id} on {device.name} ({data_type}): output {name} rel err {err:.3g} > {tol}"


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
