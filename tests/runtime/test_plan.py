"""The pure half of planning, without a device: launch specs, choices and the memory plan from device traits alone,
and no pyopencl imported on the way."""
import subprocess
import sys

import numpy as np
import pytest

from pymace.ops.base import DeviceTraits
from pymace.runtime.plan import HostBuffer, default_local_size, fits, make_plan
from tests.tuner.common import chain_graph

CPU = DeviceTraits(is_gpu=False, compute_units=2, max_work_group_size=4096, max_work_item_sizes=(4096,) * 3,
                   local_mem_size=256 << 10, fp16=False, name="a CPU", vendor="nobody")
GPU = DeviceTraits(is_gpu=True, compute_units=132, max_work_group_size=1024, max_work_item_sizes=(1024, 1024, 64),
                   local_mem_size=48 << 10, fp16=False, name="a GPU", vendor="nobody")


def test_planning_imports_no_opencl():
    code = ("import sys; import pymace.runtime.plan, pymace.runtime.tuning_file, pymace.tools.tune_report; "
            "assert 'pyopencl' not in sys.modules, [m for m in sys.modules if 'opencl' in m]")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("traits", [CPU, GPU], ids=["cpu", "gpu"])
@pytest.mark.parametrize("data_type", ["fp32", "fp16"])
def test_a_plan_from_traits_alone(traits, data_type):
    graph, _ = chain_graph()
    plan = make_plan(graph, traits, data_type)
    kernels = [launch for launch in plan.launches if launch.node.op_type != "StorageCast"]
    assert {launch.node.name for launch in kernels} == {"conv1", "relu", "conv2"}
    assert all(f"-DKERNEL_{launch.spec.name}" in launch.options for launch in plan.launches)
    assert ("-DFP16_STORAGE" in plan.launches[0].options) == (data_type == "fp16")
    assert plan.required_programs() == sorted({launch.program_key for launch in plan.launches})
    assert {c.node.name for c in plan.choices} <= {"conv1", "conv2"} and all(not c.tuned for c in plan.choices)
    itemsize = 4 if data_type == "fp32" else 2
    weights = sum(t.data.size for t in graph.tensors.values() if t.is_const) * itemsize
    assert plan.memory.weights_bytes >= weights and plan.memory.activation_bytes >= plan.memory.peak_live_bytes > 0
    buffers = [plan.buffer_key(a) for launch in plan.launches for a in launch.spec.args]
    assert all(k in plan.slot_of or k in plan.staging for k in buffers if k is not None)
    if data_type == "fp16":  # the host's fp32 side of every input and output is a staging buffer of its own
        assert plan.inputs["x"][0] == plan.buffer_key(HostBuffer("x", 0)) and len(plan.staging) == 2


class Tuned:
    """A tuning source: a local size for every key, a variant for none."""

    def __init__(self, lws):
        self.lws = lws

    def get(self, key):
        return self.lws

    def get_choice(self, key):
        return None


def test_tuned_local_sizes_and_overrides_are_data():
    graph, _ = chain_graph()
    plan = make_plan(graph, CPU, "fp32", Tuned((4, 2, 1)))
    open_ = [launch for launch in plan.launches if launch.spec.lws is None]
    assert open_ and all(launch.lws == (4, 2, 1) and launch.lws_tuned for launch in open_)
    [choice, *_] = plan.choices
    other = next(c for c in choice.candidates if c != choice.default)
    forced = make_plan(graph, CPU, "fp32", overrides={choice.key: other})
    assert forced.choices[0].chosen == other and not forced.choices[0].tuned
    ignored = make_plan(graph, CPU, "fp32", overrides={choice.key: {"variant": "not offered"}})
    assert ignored.choices[0].chosen == choice.default


def test_fits_checks_every_dimension():
    items = (1024, 1024, 64)
    assert fits((32, 4, 1), (64, 8, 8), 1024, items)
    assert not fits((1, 1, 128), (8, 8, 256), 1024, items)  # dimension 2 of NVIDIA's is at most 64
    assert not fits((64, 32, 1), (64, 64, 1), 1024, items)  # 2048 work-items: over the kernel's work-group
    assert not fits((64, 1), (64, 8, 8), 1024, items)  # not one size per dimension
    for gws in [(7,), (56, 56, 32), (1000, 3, 300)]:
        assert fits(default_local_size(gws, 256, True, items), gws, 256, items)
    assert np.prod(default_local_size((56, 56, 32), 1024, True, items)) <= 128
