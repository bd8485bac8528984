"""The decisions of the cluster commands that need no cluster: where actors go (GPU nodes included, which CI has
not), which node builds which device, and the merge of many devices' entries into one cache file."""
from __future__ import annotations

import pytest

from pymace.errors import ClusterError
from pymace.runtime.program_cache import DeviceRecord, ProgramCache, make_entry, merge_into_file, parse_cache_file
from pymace.tools.cluster import Node
from pymace.tools.cluster.dataset import plan_workers
from pymace.tools.cluster.fleet import assign

CPU_NODE = Node("c", "10.0.0.1", {"CPU": 4.0}, {})
GPU_NODE = Node("g", "10.0.0.2", {"CPU": 16.0, "GPU": 2.0}, {})
HEAD = Node("h", "10.0.0.3", {"CPU": 0.0}, {})


def test_actors_go_one_engine_per_gpu_else_one_per_node_with_a_reference_beside_each():
    plan = [(n.id, role, device, resources) for n, role, device, resources in plan_workers([CPU_NODE, GPU_NODE],
                                                                                           "auto")]
    assert plan == [("c", "engine", "auto", {"num_cpus": 1.0}), ("c", "reference", "", {"num_cpus": 1.0}),
                    ("g", "engine", "gpu", {"num_gpus": 1, "num_cpus": 0}),
                    ("g", "engine", "gpu", {"num_gpus": 1, "num_cpus": 0}),
                    ("g", "reference", "", {"num_cpus": 1.0}), ("g", "reference", "", {"num_cpus": 1.0})]
    cpu_only = plan_workers([GPU_NODE], "cpu")  # --device cpu: the GPU node's OpenCL CPU device, no GPU actors
    assert [(role, device, resources.get("num_gpus")) for _, role, device, resources in cpu_only] == \
        [("engine", "cpu", None), ("reference", "", None)]
    with pytest.raises(ClusterError, match="offers GPUs for the engine"):
        plan_workers([CPU_NODE], "gpu")
    with pytest.raises(ClusterError, match="offers CPUs"):
        plan_workers([HEAD], "auto")


def _device(name: str, driver: str = "1.0") -> list:
    return [name, "ACME", driver, "ACME CL", "OpenCL 3.0", "OpenCL C 1.2"]


def test_each_distinct_device_is_built_once_spread_over_the_nodes():
    a, b, c = (Node(x, "10.0.0.9", {"CPU": 1.0}, {}) for x in "abc")
    found = [{"devices": [{"record": _device("X")}, {"record": _device("Y")}]},
             {"devices": [{"record": _device("X")}]},
             {"devices": [{"record": _device("X", "2.0")}, {"record": _device("X")}]}]
    plan = {tuple(d["record"]): node.id for node, d in assign([a, b, c], found)}
    assert plan == {tuple(_device("Y")): "a", tuple(_device("X", "2.0")): "c", tuple(_device("X")): "b"}


def test_merging_keeps_every_device_and_driver_and_what_the_file_held(tmp_path):
    old = DeviceRecord(*_device("X", "1.0"))
    new = DeviceRecord(*_device("X", "2.0"))
    other = DeviceRecord(*_device("Y"))
    cache = ProgramCache(tmp_path, other)
    cache.store("keep", "h" * 64, "", b"other device, other program")
    cache.store("conv", "h" * 64, "-DA", b"Y conv")
    assert cache.save()
    stale = ProgramCache(tmp_path, old)
    stale.store("conv", "0" * 64, "-DA", b"X conv, older source")
    assert stale.save()
    entries = [make_entry(d, "conv", "h" * 64, "-DA", f"{d.driver_version} conv".encode()) for d in (old, new)]
    assert merge_into_file(tmp_path / ProgramCache.FILE_NAME, entries)
    merged = parse_cache_file((tmp_path / ProgramCache.FILE_NAME).read_bytes())
    assert not merged.problems
    got = sorted((e.device.name, e.device.driver_version, e.program, e.binary) for e in merged.entries)
    assert got == [("X", "1.0", "conv", b"1.0 conv"), ("X", "2.0", "conv", b"2.0 conv"),  # the stale one replaced
                   ("Y", "1.0", "conv", b"Y conv"), ("Y", "1.0", "keep", b"other device, other program")]
