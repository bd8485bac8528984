"""Graph passes, one per file, run in PIPELINE order. Each pass takes and returns a graph whose shapes are
known (shape inference runs before every pass) and keeps the graph's outputs unchanged."""
from __future__ import annotations

import logging
from importlib import import_module

from ..ir.graph import Graph
from ..ir.shapes import infer_shapes
from ..ops.base import DeviceTraits
from .rewrite import working_copy

log = logging.getLogger(__name__)

# The pass modules are imported when first used (passes.PIPELINE, passes.<module>, a plan's fusions): a CPU plan
# needs 3 of the 26, and a warm start imports only those (~3.5 ms less).
_PIPELINE = (
    "fold_constants",  # shape arithmetic and constant subgraphs → constants
    "remove_identity",  # Identity / Dropout / all-zero Pad / a Slice that keeps everything
    "cancel_transposes",  # NHWC ↔ NCHW pairs and identity permutations
    "remove_noop_reshape",
    "concat_slices",  # a Concat of Slices of one tensor along its axis (torch.roll) → one Gather
    "scale_integer_ops",  # Cast(ConvInteger + int bias) · s → Conv(x · s, w) + bias · s: no stored int32 sums
    "fuse_layer_norm",  # ReduceMean/Sub/Pow/Sqrt/Div (· gamma + beta) → LayerNormalization
    "fuse_gelu",  # x · 0.5 · (1 + Erf(x / √2)) → Gelu
    "fold_matmul_scale",  # scalar Mul/Div on a MatMul's operands or result → its alpha (scaled attention)
    "fold_matmul_columns",  # a per-column constant Mul after a Linear layer → its weights (ConvNeXt's layer scale)
    "fold_batch_norm",  # Conv + BN → Conv, before activations fuse into the Conv
    "fold_channel_affine",  # Conv or BN, then per-channel constant · s + t (a Caffe Scale) → the Conv or BN
    "fold_pad",
    "fuse_hardswish",  # x·relu6(x+3)/6 → HardSwish, which fuse_activation then folds into its producer
    "fuse_activation",
    "fuse_residual",  # after fuse_activation: an Add's fused activation moves into the Conv
    "fuse_matmul_add",  # MatMul + Add (a bias, a residual) → MatMul with an addend, the Add's activation with it
    "prune",
)


def _module(name: str):
    return import_module(f"{__name__}.{name}")


def __getattr__(name: str):
    """PIPELINE (the pass modules in order) and each pass module, imported on first use."""
    if name == "PIPELINE":
        return [_module(n) for n in _PIPELINE]
    if name in _PIPELINE or name in {module for _, module in DEVICE_FUSIONS}:
        return _module(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run(graph: Graph, pipeline=None) -> Graph:
    for p in __getattr__("PIPELINE") if pipeline is None else pipeline:
        infer_shapes(graph)
        before = len(graph.nodes)
        graph = p.run(graph)
        log.debug("%s: %d → %d nodes", p.__name__.rsplit(".", 1)[-1], before, len(graph.nodes))
    infer_shapes(graph)
    graph.verify()
    return graph


# A GPU plan's fusions, in order (passes.for_device); PYMACE_NO_<NAME>_FUSION=1 skips one, so that a benchmark can
# measure each (benchmarks/gpu_sweep.py --fusions).
DEVICE_FUSIONS = [
    ("silu", "fuse_silu"),  # x · Sigmoid(x) → the producer's activation
    ("se", "fuse_se"),  # squeeze-excitation: pool → FC → FC → gate → one SqueezeExcite node
    ("scale_prologue", "fuse_scale_prologue"),  # x · s (the SE scale) before a conv → the conv's prologue
    ("prologue", "fuse_prologue"),  # BN(+ReLU) or a stride-1 max pool before a conv → the conv's prologue
    ("separable", "fuse_separable"),  # depthwise → 1x1 pairs → SeparableConv
    ("concat", "fuse_concat"),  # a channel Concat → the conv of its last input, copying the others in
    ("shuffle", "fuse_shuffle"),  # channel shuffle → the conv's output layout; channel Slices → their readers' views
    ("transpose", "fuse_transpose"),  # a Transpose read only by a MatMul → the MatMul's operand strides
]
# Fusions a plan applies only when asked (PYMACE_<NAME>_FUSION=1): on the H200 sweep the BatchNorm and max-pool
# prologues made GoogLeNet and DenseNet-121 slower and the geomean worse (benchmarks/NOTES.md, "GPU fusions
# measured"); the scale prologue pays (eighth session).
OFF_BY_DEFAULT = frozenset({"prologue"})
# The fusions a CPU plan applies too: they repeat no work and save a pass over memory and two launches.
CPU_FUSIONS = frozenset({"silu"})


def for_device(graph: Graph, device: DeviceTraits) -> Graph:
    """The graph a plan runs on `device`: a copy with DEVICE_FUSIONS applied on a GPU (fewer launches pay on a
    GPU, where NVIDIA's OpenCL costs the host ~8 µs an enqueue; some of them recompute work that a CPU would pay
    for), with CPU_FUSIONS on a CPU. Convert-time passes (PIPELINE) stay device-neutral, so one .pmace file serves
    every device. PYMACE_NO_DEVICE_FUSION=1 turns them all off, PYMACE_NO_<NAME>_FUSION=1 one of them,
    PYMACE_<NAME>_FUSION=1 one of OFF_BY_DEFAULT on (GPU plans)."""
    from ..config import load as load_config

    config = load_config()
    if device.is_gpu:
        chosen = [(name, _module(m)) for name, m in DEVICE_FUSIONS
                  if name not in OFF_BY_DEFAULT or name in config.fusions_on]
    else:
        chosen = [(name, _module(m)) for name, m in DEVICE_FUSIONS if name in CPU_FUSIONS]
    # a fusion whose ops the graph lacks changes nothing: skipped, so is the copy and shape inference it needs
    # (MobileNetV2 on a CPU: ~3 ms of a warm start)
    op_types = {n.op_type for n in graph.nodes}
    chosen = [(name, p) for name, p in chosen
              if name not in config.no_fusions and getattr(p, "NEEDS", frozenset()) <= op_types]
    if config.no_device_fusion or not chosen:
        return graph
    work = working_copy(graph)
    for name, p in chosen:
        infer_shapes(work)
        work = p.run(work)
        log.debug("device fusion %s: %d nodes", name, len(work.nodes))
    if not device.is_gpu and _same_nodes(work, graph):  # nothing fused: a CPU plan runs the model's own graph
        return graph
    infer_shapes(work)
    work.verify()
    return work


def _same_nodes(a: Graph, b: Graph) -> bool:
    return len(a.nodes) == len(b.nodes) and all(
        (m.op_type, m.inputs, m.outputs, m.attrs) == (n.op_type, n.inputs, n.outputs, n.attrs)
        for m, n in zip(a.nodes, b.nodes))
