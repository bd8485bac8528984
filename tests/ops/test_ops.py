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
    want = reference.run(graph, feeds)
    storage = tmp_path_factory.getbasetemp() / "op-cache"
    engine = Engine(graph, device=device.selector, data_type=data_type, storage_dir=str(storage))
    got = engine.run(feeds)
    tol = case.tol if data_type == "fp32" else max(case.tol, FP16_TOL)
    for name in graph.outputs:
        err = rel_err(got[name], want[name])
        assert err <= tol, f"{case_id} on {device.name} ({data_type}): output {name} rel err {err:.3g} > {tol}"


def test_every_op_has_cases():
    from pymace import ops

    missing = [m.__name__ for m in ops.MODULES if not m.CASES and m is not ops.shape_math]  # shape_math: folded
    assert not missing, f"op files without test cases: {missing}"
