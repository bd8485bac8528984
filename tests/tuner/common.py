"""Shared by the tuner tests: the OpenCL devices present and small graphs."""
import numpy as np
import pytest

from pymace import ops
from pymace.ir.graph import Graph, Node, Tensor
from pymace.ops.base import Case
from tests.helpers import case_graph, opencl_devices

DEVICES = opencl_devices()
needs_device = pytest.mark.skipif(not DEVICES, reason="no usable OpenCL device")


def pool_graph():
    """One node with a 3-D launch whose local size the op leaves to the planner on every device, and its feeds: a
    SpaceToDepth (a pool or a Resize on a CPU runs one work-item a work-group, which has nothing to tune)."""
    case = Case("s2d_tunable", [(1, 8, 64, 64)], {"blocksize": 2}, op_type="SpaceToDepth")
    return case_graph(ops.depth_to_space, case, np.random.default_rng(0))


def chain_graph():
    """Conv 3×3 → Relu → Conv 1×1: a few launches whose buffers the planner reuses, so tuning the later ones
    needs the earlier ones to have run."""
    rng = np.random.default_rng(1)
    w1 = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((6, 8, 1, 1)).astype(np.float32)
    tensors = {"x": Tensor("x", (1, 3, 17, 13)), "w1": Tensor("w1", w1.shape, "float32", w1),
               "a": Tensor("a", (1, 8, 17, 13)), "r": Tensor("r", (1, 8, 17, 13)),
               "w2": Tensor("w2", w2.shape, "float32", w2), "y": Tensor("y", (1, 6, 17, 13))}
    nodes = [Node("conv1", "Conv", ["x", "w1"], ["a"], {"pads": [1, 1, 1, 1]}),
             Node("relu", "Relu", ["a"], ["r"]),
             Node("conv2", "Conv", ["r", "w2"], ["y"])]
    graph = Graph("chain", nodes, tensors, ["x"], ["y"])
    graph.verify()
    return graph, {"x": rng.standard_normal((1, 3, 17, 13)).astype(np.float32)}
