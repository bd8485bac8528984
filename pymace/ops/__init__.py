"""The op registry: this explicit import list is the set of ops pymace supports (one file per op family)."""
from __future__ import annotations

from types import ModuleType

from ..errors import UnsupportedOpError
from . import (
    argmax,
    batch_norm,
    binary,
    cast,
    compare,
    concat,
    conv,
    conv_transpose,
    depth_to_space,
    dynamic_quantize,
    gather,
    gemm,
    generate,
    landmarks,
    math,
    normalization,
    pad,
    pool,
    quantize,
    reduce,
    reshape,
    resize,
    rnn,
    scatter,
    separable_conv,
    slice,
    softmax,
    split,
    squeeze_excite,
    tile,
    topk,
    transpose,
    unary,
    where,
)

MODULES: list[ModuleType] = [
    batch_norm, binary, concat, conv, conv_transpose, depth_to_space, gemm, pad, pool, quantize, reduce, reshape,
    resize, separable_conv, slice, softmax, split, squeeze_excite, transpose, unary,
    gather, generate, rnn, scatter, tile, topk,  # structural ONNX ops (issue 12)
    landmarks,  # MediaPipe's landmark custom ops
    dynamic_quantize,  # ONNX DynamicQuantizeLinear
]
# elementwise math, comparisons, normalizations, arg-reductions
MODULES += [argmax, cast, compare, math, normalization, where]
REGISTRY: dict[str, ModuleType] = {t: m for m in MODULES for t in m.OP_TYPES}


def get(op_type: str) -> ModuleType:
    try:
        return REGISTRY[op_type]
    except KeyError:
        raise UnsupportedOpError({op_type: []}, list(REGISTRY)) from None


def check_supported(nodes) -> None:
    """Raise one UnsupportedOpError listing every unsupported op type and the nodes that use it."""
    missing: dict[str, list[str]] = {}
    for n in nodes:
        if n.op_type not in REGISTRY:
            missing.setdefault(n.op_type, []).append(n.name)
    if missing:
        raise UnsupportedOpError(missing, list(REGISTRY))
