"""Which conv kernel runs a Conv node, and with what parameters.

`heuristic` picks per node: on CPUs (PoCL vectorises across work-items and __local memory is plain memory) the
explicit-vector kernels of conv_cpu.py: conv1x1_cpu for a 1x1 conv over at least a vector of pixels,
conv_cvec_cpu for any other conv whose groups have CPU_CVEC_MIN output channels or more (more than one vector of
8 when grouped), unless it is a wide kernel over a few input channels (a 7x7 stem), and for the rest (depthwise
among them) conv_rows_cpu when its staged rows fit private memory, else conv_direct_cpu; on GPUs conv_depthwise for
a depthwise conv, conv_gemm for any other one-group conv, conv_direct for a grouped one. `candidates` lists what
`pymace tune` times besides; the runtime returns a tuned choice only when it is one of them. A variant travels
as a choice dict ({"variant": kernel, and the parameters it reads}), the form tuning files keep."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConvertError
from . import conv_cpu
from .conv_gemm import GemmTiling, default_tiling, tilings
from .conv_layer import ConvLayer

PX_KERNELS = ("conv_depthwise", "conv_direct", "separate")  # the variants whose choice carries `px`
KERNELS = ("conv1x1", "conv_depthwise", "conv_direct", "conv_gemm", "conv1x1_cpu", "conv_direct_cpu",
           "conv_rows_cpu", "conv_cvec_cpu")
CPU_CVEC_MIN = 4  # output channels at least for conv_cvec_cpu (its vectors hold 8 channels)
CPU_CVEC_GROUP_MIN = 9  # a grouped conv's output channels a group at least for conv_cvec_cpu
CPU_ROWS_STEM_C, CPU_ROWS_STEM_TAPS = 4, 25  # input channels a group at most, kernel taps at least: conv_rows_cpu
GPU_ITEMS_PER_CU = 1024  # a GPU conv takes fewer pixels a work-item until it has this many work-items per CU


@dataclass(frozen=True)
class Variant:
    """A kernel and its parameters: `px` output pixels a work-item (PX_KERNELS), `tiling` for conv_gemm."""

    kernel: str
    px: int | None = None
    tiling: GemmTiling | None = None

    def choice(self) -> dict:
        return ({"variant": self.kernel} | ({"px": self.px} if self.px is not None else {})
                | (self.tiling.fields() if self.tiling is not None else {}))

    @classmethod
    def of(cls, choice: dict) -> Variant:
        tiling = GemmTiling.of(choice) if choice["variant"] == "conv_gemm" else None
        return cls(choice["variant"], choice.get("px"), tiling)


def default_kernel(layer: ConvLayer, device) -> str:
    """The kernel the heuristic picks for `layer` on `device`."""
    if not device.is_gpu:
        if (layer.is_1x1 or layer.is_strided_1x1) and layer.pixels >= conv_cpu.pixel_vector(device):
            return "conv1x1_cpu"  # a strided one on its input subsampled first (conv_cpu.launch)
        if cvec_suits(layer):
            return "conv_cvec_cpu"
        return "conv_rows_cpu" if conv_cpu.rows_fit(layer) else "conv_direct_cpu"
    if layer.is_depthwise:
        return "conv_depthwise"
    return "conv_gemm" if layer.group == 1 else "conv_direct"  # conv_gemm: data reuse through __local memory


def cvec_suits(layer: ConvLayer) -> bool:
    """Whether conv_cvec_cpu is the CPU heuristic's kernel for a conv that is not conv1x1_cpu's (benchmarks/NOTES.md
    "CPU kernels across the sweep": conv_rows_cpu was ~2x faster on groups of 8 channels and on 7x7 stems)."""
    mg, taps = layer.m // layer.group, layer.window.kernel[0] * layer.window.kernel[1]
    if mg < (CPU_CVEC_MIN if layer.group == 1 else CPU_CVEC_GROUP_MIN):
        return False
    stem = layer.c // layer.group <= CPU_ROWS_STEM_C and taps >= CPU_ROWS_STEM_TAPS
    return not (stem and conv_cpu.rows_fit(layer))


def pixels_per_item(layer: ConvLayer, kernel: str, device) -> int:
    """Output pixels a work-item of the kernels that take PX: 8 on a CPU (benchmarks/NOTES.md); on a GPU 4,
    halved while the layer has fewer than GPU_ITEMS_PER_CU work-items per compute unit."""
    if not device.is_gpu:
        return 8
    blocks = layer.m if kernel == "conv_depthwise" else layer.group * -(-(layer.m // layer.group) // 4)
    px, want = 4, GPU_ITEMS_PER_CU * device.compute_units
    while px > 1 and layer.n * layer.out[0] * -(-layer.out[1] // px) * blocks < want:
        px //= 2
    return px


def heuristic(layer: ConvLayer, device, kernel: str | None = None) -> Variant:
    """The heuristic's variant for `layer`, or its parameters for `kernel` when that is given (forced)."""
    kernel = kernel or default_kernel(layer, device)
    px = pixels_per_item(layer, kernel, device)
    if device.is_gpu and kernel == "conv1x1" and px < 4:  # conv1x1 tiles 4 pixels; conv_direct takes any
        kernel = "conv_direct"
    if kernel == "conv_gemm":
        return Variant(kernel, tiling=default_tiling(layer.m, layer.pixels, layer.reduction, layer.n, device))
    return Variant(kernel, px if kernel in PX_KERNELS else None)


def forced(layer: ConvLayer, device, kernel: str, tiling=None) -> Variant:
    """The variant a node's `kernel_variant` (and for conv_gemm `tiling` [TM, TN, TK, SPLIT(, last)]) forces:
    pymace's own attributes, so that the tests run every kernel on every device."""
    if kernel not in KERNELS:
        raise ConvertError(f"kernel_variant {kernel!r} is not one of {', '.join(KERNELS)}")
    variant = heuristic(layer, device, kernel)
    if tiling and variant.kernel == "conv_gemm":
        return Variant("conv_gemm", tiling=GemmTiling(*tiling))
    return variant


def candidates(layer: ConvLayer, device) -> tuple[Variant, list[Variant]]:
    """(the heuristic's variant, every variant worth timing, it first): on GPUs conv_gemm's tilings and
    conv_direct, or the depthwise kernel or conv_direct over pixels per work-item; on CPUs the portable kernels
    besides the explicit-vector one."""
    default = heuristic(layer, device)
    found = [default]
    px = pixels_per_item(layer, default.kernel, device)
    if device.is_gpu:
        if default.kernel == "conv_depthwise":
            found += [Variant("conv_depthwise", v) for v in (1, 2, 4, 8)]
        elif layer.group == 1:
            found += [Variant("conv_gemm", tiling=t) for t in
                      tilings(layer.m, layer.pixels, layer.reduction, layer.n, device)]
            found.append(Variant("conv_direct", px))
        else:
            found += [Variant("conv_direct", v) for v in (1, 2, 4)]
    else:
        if layer.is_1x1:
            found.append(Variant("conv1x1"))
        found += [Variant("conv_cvec_cpu"), Variant("conv_rows_cpu" if conv_cpu.rows_fit(layer) else "conv_direct_cpu")]
        found.append(Variant("conv_direct", px))
    return default, list(dict.fromkeys(found))


def choice_key(layer: ConvLayer, residual: bool) -> str:
    """What a Conv's best variant depends on: shapes and geometry (not the activation: every variant fuses it
    the same way). The runtime appends the data type."""
    w = layer.window
    return (f"Conv x={_dims(layer.x_shape)} w={_dims(layer.w_shape)} g={layer.group} s={_dims(w.strides)} "
            f"p={','.join(map(str, w.pads))} d={_dims(w.dilations)}{' res' if residual else ''}")


def _dims(values) -> str:
    return "x".join(map(str, values))
