"""Gemm (alpha·A'·B' + beta·C, ONNX broadcasting of C) and MatMul (numpy.matmul: 1-D operands, broadcast batch
dimensions). One strided kernel serves both: the host turns transposes into strides and batch broadcasting into
per-batch offset tables, so the kernel never reasons about shapes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConvertError
from . import activation as act
from . import conv_cpu, kernel_args, strided
from .base import Case, Const, Scratch, TensorInfo, check_ints, check_number

OP_TYPES = ("Gemm", "MatMul")


def _check_types(a: TensorInfo, b: TensorInfo, op: str) -> None:
    if a.dtype != b.dtype:
        raise ConvertError(f"{op}: A is {a.dtype}, B is {b.dtype}; both must have one type")


def _gemm_shape(a, b, c, transA, transB) -> tuple[int, int]:
    if len(a.shape) != 2 or len(b.shape) != 2:
        raise ConvertError(f"Gemm: A and B must be 2-D, got shapes {list(a.shape)} and {list(b.shape)}")
    (m, ka), (kb, n) = a.shape[::-1] if transA else a.shape, b.shape[::-1] if transB else b.shape
    if ka != kb:
        raise ConvertError(f"Gemm: inner dimensions differ: A{' (transA)' if transA else ''} {list(a.shape)} "
                           f"gives K={ka}, B{' (transB)' if transB else ''} {list(b.shape)} gives K={kb}")
    if c is not None:
        try:
            if np.broadcast_shapes(tuple(c.shape), (m, n)) != (m, n):
                raise ValueError
        except ValueError:
            raise ConvertError(f"Gemm: C of shape {list(c.shape)} does not broadcast to the output [{m}, {n}]")\
                from None
    return m, n


def matmul_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """numpy.matmul's output shape, with a one-line error for mismatched K or batch dims."""
    if not a or not b:
        raise ConvertError(f"MatMul: operands must have rank >= 1, got shapes {list(a)} and {list(b)}")
    ka, kb = a[-1], (b[0] if len(b) == 1 else b[-2])
    if ka != kb:
        raise ConvertError(f"MatMul: inner dimensions differ: A {list(a)} has K={ka}, B {list(b)} has K={kb}")
    try:
        batch = np.broadcast_shapes(tuple(a[:-2]), tuple(b[:-2]))
    except ValueError:
        raise ConvertError(f"MatMul: batch dimensions of A {list(a)} and B {list(b)} do not broadcast") from None
    return tuple(batch) + tuple(a[-2:-1]) + tuple(b[-1:] if len(b) > 1 else ())


def infer(a: TensorInfo, b: TensorInfo, *rest, _op_type="Gemm", transA=0, transB=0, activation=None,  # noqa: PLR0913
          alpha=1.0, beta=1.0, addend=False, a_view=None, b_view=None, **_):
    _check_types(a, b, _op_type)
    if a_view is not None or b_view is not None:
        if _op_type != "MatMul":
            raise ConvertError(f"{_op_type}: a_view and b_view are MatMul's")
        a, b = (TensorInfo(_viewed(t.shape, view, name), t.dtype) for t, view, name in
                ((a, a_view, "a_view"), (b, b_view, "b_view")))
    if _op_type == "Gemm":
        check_number(alpha, "Gemm", "alpha")
        check_number(beta, "Gemm", "beta")
        c = rest[0] if len(rest) > (activation == "PRelu") else None
        return [(_gemm_shape(a, b, c, transA, transB), a.dtype)]
    out = matmul_shape(tuple(a.shape), tuple(b.shape))
    check_number(alpha, "MatMul", "alpha")
    if addend:
        _check_addend(rest, out, activation)
    return [(out, a.dtype)]


def _viewed(shape, view, name: str) -> tuple:
    """The shape a MatMul reads through a strided view of its input (a GPU plan's: passes/fuse_transpose.py)."""
    if view is None:
        return tuple(shape)
    if shape is None or not all(isinstance(d, int) for d in shape):
        raise ConvertError(f"MatMul: {name} needs an input of known shape")
    return strided.check_view(view, shape, f"MatMul: {name}")


def addend_fits(c_shape, out_shape) -> bool:
    """Whether the kernels can add a c of `c_shape` (numpy broadcasting, through C's strides) to a MatMul output of
    `out_shape`: the output's own shape, or a row vector (ones but its last dimension, 1 or the output's)."""
    c_shape, out_shape = tuple(c_shape), tuple(out_shape)
    if not out_shape or len(c_shape) > len(out_shape):
        return False
    if c_shape == out_shape:
        return True
    return all(d == 1 for d in c_shape[:-1]) and (not c_shape or c_shape[-1] in (1, out_shape[-1]))


def _check_addend(rest, out, activation) -> None:
    """A MatMul's `addend` (passes/fuse_matmul_add.py): one input more, of a shape the kernels can add."""
    if len(rest) != 1 + (activation == "PRelu") or rest[0] is None:
        raise ConvertError("MatMul: `addend` needs exactly one addend input after A and B")
    if len(out) < 2 or not addend_fits(rest[0].shape, out):
        raise ConvertError(f"MatMul: an addend of shape {list(rest[0].shape)} cannot be added to the output "
                           f"{list(out)} (it must be the output's shape or a row vector)")


def reference(a, b, *rest, _op_type="Gemm", alpha=1.0, beta=1.0, transA=0, transB=0, activation=None,  # noqa: PLR0913
              activation_params=(), addend=False, a_view=None, b_view=None, **_):
    a = a if a_view is None else strided.read(a, a_view)
    b = b if b_view is None else strided.read(b, b_view)
    slope = rest[-1] if activation == "PRelu" else None
    bias = rest[0] if _op_type == "Gemm" and len(rest) > (activation == "PRelu") else None
    if _op_type == "MatMul":
        y = np.matmul(a, b) if alpha == 1.0 else np.float32(alpha) * np.matmul(a, b)
        y = y + rest[0] if addend else y
    else:
        y = alpha * ((a.T if transA else a) @ (b.T if transB else b))
        if bias is not None:
            y = y + beta * bias
    if np.asarray(a).dtype.kind != "f":  # integer MatMul/Gemm: folded shape arithmetic, no activation
        return [np.asarray(y).astype(np.asarray(a).dtype)]
    y = act.reference(np.asarray(y, np.float32), activation, activation_params, slope)
    return [y.astype(np.asarray(a).dtype)]


SPLITK_WG = 256  # gemm_splitk: work-items in a work-group (NVIDIA refused 512 for the fp16 build)
SPLITK_MAX_ROWS = 16  # ... used on GPUs for at most this many output rows (batch included)
SPLITK_MIN_K = 256
TILED_MIN_ROWS = 32  # gemm_tiled: used on GPUs for matrices of at least this many rows, columns and K
TILED_MIN_N = 16
TILED_MIN_K = 16
CPU_TILED_MIN_NK = 256  # ... and on CPUs when N and K are both this large (PoCL: benchmarks/NOTES.md)
CPU_ROWS = 4  # gemm_rows_cpu (a CPU's other products with B rows contiguous): rows a work-item (x 16 columns)
# gemm_tiled's TM x TN tiles with RM rows a work-item, the largest that fills the device first. At batch 1 many
# small tiles beat fewer large ones on the H200's transformers (benchmarks/NOTES.md), so 32 x 32 is the default
TILINGS = ((32, 32, 4),)
OTHER_TILINGS = ((128, 64, 8), (64, 64, 8), (64, 64, 4), (32, 64, 4))  # offered to the tuner and to tests only
TILED_TK = 16
SPLITS = (1, 2, 4, 8)  # gemm_tiled's K splits ...
SPLIT_THREADS = 256  # ... the default splits K until each compute unit has this many work-items
SPLIT_MIN_SLICES = 8  # ... while each split keeps at least this many TK slices


def tiles(m: int, n: int, batch: int, tile: tuple[int, ...]) -> int:
    return -(-m // tile[0]) * -(-n // tile[1]) * batch


def default_tiling(m: int, n: int, k: int, batch: int, device) -> tuple[int, int, int, int]:
    """(TM, TN, split, RM): the first of TILINGS that still gives every compute unit a work-group (larger tiles
    reuse each loaded value more, smaller ones leave fewer units idle), then K split in 2, 4 … while the device has
    fewer than SPLIT_THREADS work-items a unit to hide latency with."""
    tm, tn, rm = next((t for t in TILINGS if tiles(m, n, batch, t) >= device.compute_units), TILINGS[-1])
    items = tiles(m, n, batch, (tm, tn)) * (tm // rm) * (tn // 4)
    split = 1
    while split * 2 in SPLITS and items * split < device.compute_units * SPLIT_THREADS and _split_fits(k, split * 2):
        split *= 2
    return tm, tn, split, rm


def _split_fits(k: int, split: int) -> bool:
    """Whether K split `split` ways keeps SPLIT_MIN_SLICES slices of TK in each split."""
    return k >= split * TILED_TK * SPLIT_MIN_SLICES


def choose_variant(m: int, n: int, k: int, batch: int, b_rows: bool, device, forced=None) -> str:
    """`gemm_splitk` for a GPU and few long rows (a classifier), `gemm_tiled` for matrices of many rows
    (transformers' projections and attention: on a GPU from small sizes on, on a CPU where N and K are large enough
    for the tile's reuse to beat the plain kernel's straight loop), else on a CPU `gemm_rows_cpu` where B's rows
    are contiguous and N >= 16, else the plain `gemm`. `forced` is the node's
    pymace attribute `kernel_variant` (tests run every variant on every device)."""
    if forced:
        return forced
    if device.is_gpu and b_rows and m * batch <= SPLITK_MAX_ROWS and k >= SPLITK_MIN_K:
        return "gemm_splitk"
    small = n < TILED_MIN_N or k < TILED_MIN_K if device.is_gpu else min(n, k) < CPU_TILED_MIN_NK
    if m >= TILED_MIN_ROWS and not small:
        return "gemm_tiled"
    return "gemm_rows_cpu" if not device.is_gpu and b_rows and n >= 16 else "gemm"


@dataclass(frozen=True)
class Product:
    """A Gemm/MatMul as the kernels see it: `batch` products of m x k by k x n, each operand read through its
    element strides (A'[i][k] = a[i*SAM + k*SAK], B'[k][j] = b[k*SBK + j*SBN]) and per-batch offsets."""

    m: int
    n: int
    k: int
    out_batch: tuple[int, ...]
    a_strides: tuple[int, int]  # SAM, SAK
    b_strides: tuple[int, int]  # SBK, SBN
    a_offsets: np.ndarray
    b_offsets: np.ndarray

    @property
    def batch(self) -> int:
        return int(np.prod(self.out_batch, dtype=np.int64))


def _view(shape, view, promote: str) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """(the shape an operand is read as, its element strides, its first element): a contiguous tensor, or one read
    through a strided view (`a_view`, `b_view`: ops/strided.py); numpy.matmul's 1-D operand promoted to a row (A)
    or a column (B)."""
    if view is None:
        shape = tuple(int(d) for d in shape)
        strides, offset = tuple(strided.contiguous_strides(shape)), 0
    else:
        shape, strides, offset = tuple(view["shape"]), tuple(view["strides"]), view["offset"]
    if len(shape) == 1:
        n, st = shape[0], strides[0]
        return (((1, n), (n * st, st)) if promote == "row" else ((n, 1), (st, 1))) + (offset,)
    return shape, strides, offset


def _offsets(batch_shape, batch_strides, out_batch) -> np.ndarray:
    """Element offset of each output batch's matrix inside one operand (0 where it broadcasts)."""
    offsets = np.zeros(batch_shape, np.int64)
    for d, (size, stride) in enumerate(zip(batch_shape, batch_strides)):
        trailing = (1,) * (len(batch_shape) - d - 1)
        offsets = offsets + (np.arange(size, dtype=np.int64) * stride).reshape((size, *trailing))
    return np.broadcast_to(offsets, out_batch).ravel().astype(np.int32)


def product(a_shape, b_shape, transA=0, transB=0, a_view=None, b_view=None) -> Product:
    """The kernels' view of A' · B'. A's batch dims fold into its rows when B is one matrix and A is contiguous (a
    token-wise projection is one GEMM, not one a token)."""
    (a_shape, a_str, a_at), (b_shape, b_str, b_at) = _view(a_shape, a_view, "row"), _view(b_shape, b_view, "column")
    if len(b_shape) == 2 and len(a_shape) > 2 and not transA and a_view is None:
        a_shape, a_str = (int(np.prod(a_shape[:-1], dtype=np.int64)), a_shape[-1]), (a_shape[-1], 1)
    m, k = (a_shape[-1], a_shape[-2]) if transA else a_shape[-2:]
    n = b_shape[-2] if transB else b_shape[-1]
    out_batch = tuple(np.broadcast_shapes(a_shape[:-2], b_shape[:-2]))
    return Product(m, n, k, out_batch, (a_str[-1], a_str[-2]) if transA else (a_str[-2], a_str[-1]),
                   (b_str[-1], b_str[-2]) if transB else (b_str[-2], b_str[-1]),
                   a_at + _offsets(a_shape[:-2], a_str[:-2], out_batch),
                   b_at + _offsets(b_shape[:-2], b_str[:-2], out_batch))


def _prelu_slope(ctx, rest, y_shape) -> np.ndarray:
    if rest[-1].const is None:
        raise ConvertError(f"node {ctx.node.name!r}: a fused PRelu slope must be a constant")
    s = rest[-1].const  # per channel = axis 1, as activation.reference broadcasts it
    return np.broadcast_to(s.reshape((1, -1) + (1,) * (len(y_shape) - 2)) if s.size > 1 else s, y_shape)


def launch(ctx, *, _op_type="Gemm", alpha=1.0, beta=1.0, transA=0, transB=0, activation=None,  # noqa: PLR0913
           activation_params=(), kernel_variant=None, tiling=None, addend=False, a_view=None, b_view=None, **_):
    a, b, y = ctx.inputs[0], ctx.inputs[1], ctx.outputs[0]
    rest = ctx.inputs[2:]
    if np.dtype(y.dtype).kind != "f":
        raise ConvertError(f"node {ctx.node.name!r} ({_op_type}): integer {_op_type} runs only at conversion "
                           f"(constant inputs); this one reads a run-time {y.dtype} tensor")
    pre_transposed = b.const is not None and transB  # constant weights transposed so the kernel reads rows 4-wide
    b_shape = b.const.T.shape if pre_transposed else b.shape
    p = product(a.shape, b_shape, transA, 0 if pre_transposed else transB, a_view, b_view)
    bias = rest[0] if (_op_type == "Gemm" and len(rest) > (activation == "PRelu")) or addend else None
    if not kernel_variant and a_view is None and conv_cpu.fc_fits(ctx.device, p.m * p.batch, p.n, b, transA, bias):
        w_nk = b.const if transB else b.const.T  # a CPU's FC layer: a 1x1 conv over a 1x1 map
        slope_ref = rest[-1] if activation == "PRelu" else None
        conv_cpu.launch_fc(ctx, w_nk, bias, alpha, beta, activation, activation_params, slope_ref)
        return
    # the transposed copy made only here: the FC layer above packs its own (MobileNetV2's: 5 MB a warm start)
    b_arg = Const(np.ascontiguousarray(b.const.T)) if pre_transposed else b
    if bias is None:
        c_arg, c_strides, beta = Const(np.zeros(1, np.float32)), (0, 0), 0.0
    else:
        c_arg, c_strides = bias, _c_strides(bias.shape, p.m, p.n, p.batch, ctx.node.name)
    epilogue = dict(c=c_arg, y=y, SCM=c_strides[0], SCN=c_strides[1], alpha=alpha, beta=beta)
    if activation == "PRelu":  # the kernels have a slope parameter only then (-DHAS_SLOPE)
        epilogue["slope"] = Const(np.ascontiguousarray(_prelu_slope(ctx, rest, y.shape), np.float32))
    values = dict(a=a, b=b_arg, a_off=Const(p.a_offsets), b_off=Const(p.b_offsets), BATCH=p.batch, M=p.m, N=p.n,
                  K=p.k, SAM=p.a_strides[0], SAK=p.a_strides[1], SBK=p.b_strides[0], SBN=p.b_strides[1], **epilogue)
    opts = (f"-DB_ROWS={int(p.b_strides[1] == 1)}", *act.build_options(activation, activation_params))
    name = choose_variant(p.m, p.n, p.k, p.batch, p.b_strides[1] == 1, ctx.device, kernel_variant)
    _launch(ctx, name, p, values, opts, tiling, epilogue)


def _launch(ctx, name: str, p: Product, values: dict, opts: tuple, tiling, epilogue: dict) -> None:  # noqa: PLR0913
    """The launches of kernel `name` (and gemm_tiled's split sum), its arguments by name (`values`; `epilogue`:
    those of C, the slope, Y, alpha and beta, which the split sum takes too)."""
    m, n, k, batch = p.m, p.n, p.k, p.batch
    if name == "gemm_splitk":  # column quads per work-group: a 32-byte sector of B per k row
        cq = 4 if ctx.data_type == "fp16" else 2
        ks = SPLITK_WG // cq
        opts += (f"-DCQ={cq}", f"-DKS={ks}")
        kernel_args.launch(ctx, "gemm", name, (-(-n // (4 * cq)) * cq, ks, m * batch), values, opts, lws=(cq, ks, 1))
    elif name == "gemm_tiled":
        tm, tn, split, rm = _tiled_choice(ctx, m, n, k, batch, tiling)
        tiled = (f"-DTM={tm}", f"-DTN={tn}", f"-DRM={rm}", f"-DTK={TILED_TK}", f"-DSPLIT={split}",
                 f"-DA_KFAST={int(p.a_strides[1] == 1)}")
        part = Scratch(split * batch * m * n * (2 if ctx.data_type == "fp16" else 1)) if split > 1 else None
        if part is not None:
            values, tiled = values | {"part": part}, (*tiled, "-DHAS_PART")
        kernel_args.launch(ctx, "gemm", name, (-(-n // tn) * tn // 4, -(-m // tm) * tm // rm, batch * split),
                           values, opts + tiled, lws=(tn // 4, tm // rm, 1))
        if part is not None:  # the epilogue's options only: products of any shape share the sum
            kernel_args.launch(ctx, "gemm", "gemm_sum_splits", (-(-n // 4), m, batch),
                               dict(part=part, SPLITS=split, BATCH=batch, M=m, N=n, **epilogue), opts[1:])
    elif name == "gemm_rows_cpu":
        if p.b_strides[1] != 1 or n < 16:
            raise ConvertError(f"node {ctx.node.name!r}: gemm_rows_cpu needs B's rows contiguous and N >= 16")
        kernel_args.launch(ctx, "gemm", name, (-(-m // CPU_ROWS), -(-n // 16), batch), values,
                           (*opts, f"-DRB={CPU_ROWS}", f"-DA_KFAST={int(p.a_strides[1] == 1)}"), lws=(1, 1, 1))
    else:
        kernel_args.launch(ctx, "gemm", "gemm", (-(-n // 4), m, batch), values, opts)


def _c_strides(c_shape, m: int, n: int, batch: int, node: str) -> tuple[int, int]:
    """C's element strides over the (m, n) output matrix: 0 where it broadcasts. A MatMul's addend of the output's
    full shape is read as the (m, n) matrix it is; the kernels' C has no batch stride, so batched products take
    only a row vector."""
    c_shape = tuple(c_shape)
    if len(c_shape) > 2:
        if int(np.prod(c_shape, dtype=np.int64)) == m * n and batch == 1:
            c_shape = (m, n)
        elif all(d == 1 for d in c_shape[:-1]):
            c_shape = c_shape[-2:]
        else:
            raise ConvertError(f"node {node!r}: an addend of shape {list(c_shape)} does not fit the kernels' "
                               f"{m} x {n} output")
    c_shape = (1,) * (2 - len(c_shape)) + c_shape
    return np.broadcast_to(np.empty(c_shape, np.int8), (m, n)).strides


def _tiled_choice(ctx, m: int, n: int, k: int, batch: int, tiling) -> tuple[int, int, int, int]:
    """gemm_tiled's (TM, TN, split, RM): the node's `tiling` attribute [TM, TN(, split(, RM))] (tests), else the
    tuned or default choice."""
    if tiling:
        values = check_ints(tiling, f"node {ctx.node.name!r}:", "gemm tiling")
        tm, tn, split, rm = (values + [1, 4][len(values) - 2:])[:4] if 2 <= len(values) <= 4 else (0, 0, 0, 0)
        if (tm, tn, rm) not in TILINGS + OTHER_TILINGS or split not in SPLITS:  # (0, 0, 0, 0): a wrong length
            raise ConvertError(f"node {ctx.node.name!r}: gemm tiling {values} is not one of "
                               f"{[[t[0], t[1], s, t[2]] for t in TILINGS + OTHER_TILINGS for s in SPLITS]}")
        return tm, tn, split, rm
    tm, tn, split, rm = default_tiling(m, n, k, batch, ctx.device)
    candidates = [{"variant": "gemm_tiled", "tm": t[0], "tn": t[1], "split": s, "rm": t[2]}
                  for t in TILINGS + OTHER_TILINGS for s in SPLITS if s == 1 or _split_fits(k, s)]
    chosen = ctx.choose(f"gemm_tiled batch={batch} m={m} n={n} k={k}",
                        {"variant": "gemm_tiled", "tm": tm, "tn": tn, "split": split, "rm": rm}, candidates)
    return chosen["tm"], chosen["tn"], chosen["split"], chosen.get("rm", 4)


CASES = [
    Case("classifier_transB", [(1, 64), (100, 64), (100,)], dict(transB=1), consts=(1, 2)),
    Case("alpha_beta_transA", [(12, 5), (12, 7), (5, 7)], dict(alpha=0.5, beta=-1.5, transA=1), consts=(1,)),
    Case("both_trans_row_bias", [(9, 6), (11, 9), (1, 11)], dict(transA=1, transB=1, activation="Relu"),
         consts=(1, 2)),
    Case("col_bias_sigmoid", [(4, 8), (8, 6), (4, 1)], dict(activation="Sigmoid"), consts=(1, 2)),
    Case("scalar_bias_activations_b", [(5, 3), (3, 9), (1,)], dict(beta=2.0)),
    Case("prelu_no_bias", [(3, 10), (10, 9), None, np.linspace(-1, 1, 9, dtype=np.float32)],
         dict(activation="PRelu"), consts=(1, 3)),
    Case("matmul_2d", [(7, 13), (13, 10)], {}, op_type="MatMul", consts=(1,)),
    Case("matmul_batched", [(2, 3, 5, 8), (2, 3, 8, 6)], {}, op_type="MatMul"),
    Case("matmul_broadcast", [(4, 1, 3, 5), (2, 5, 7)], {}, op_type="MatMul"),
    Case("matmul_1d_left", [(6,), (3, 6, 5)], {}, op_type="MatMul"),
    Case("matmul_1d_right", [(2, 4, 6), (6,)], {}, op_type="MatMul", consts=(1,)),
    Case("matmul_1d_both", [(9,), (9,)], {}, op_type="MatMul"),
    Case("attention_scores", [(2, 3, 7, 8), (2, 3, 8, 7)], {}, op_type="MatMul"),
    Case("attention_context", [(2, 3, 7, 7), (2, 3, 7, 8)], {}, op_type="MatMul"),
    Case("matrix_times_batch", [(5, 6), (3, 6, 4)], {}, op_type="MatMul"),
    Case("gemm_matrix_bias", [(6, 4), (4, 5), (6, 5)], dict(alpha=1.5, beta=0.5)),
    # gemm_splitk (GPUs, few rows) forced so that every device runs it: K off the lanes, N off the quads
    Case("splitk_classifier", [(1, 1280), (1001, 1280), (1001,)], dict(transB=1, kernel_variant="gemm_splitk"),
         consts=(1, 2)),
    Case("splitk_rows_alpha_beta_prelu", [(3, 300), (300, 10), (3, 1), np.linspace(-1, 1, 10, dtype=np.float32)],
         dict(alpha=0.5, beta=2.0, activation="PRelu", kernel_variant="gemm_splitk"), consts=(1, 2, 3)),
    Case("splitk_matmul_batched", [(2, 2, 100), (2, 100, 7)], dict(kernel_variant="gemm_splitk"),
         op_type="MatMul"),
    # gemm_tiled (GPUs, many rows) forced so that every device runs each tile: partial tiles in M, N and K
    Case("tiled_vit_projection", [(1, 37, 72), (72, 100)], dict(kernel_variant="gemm_tiled"), op_type="MatMul",
         consts=(1,)),
    Case("tiled_split4_tokens_folded", [(2, 3, 11, 300), (300, 40)], dict(kernel_variant="gemm_tiled",
         tiling=[32, 32, 4], activation="Relu"), op_type="MatMul", consts=(1,)),
    Case("tiled_split2_bias_prelu", [(40, 70), (70, 33), (33,), np.linspace(-1, 1, 33, dtype=np.float32)],
         dict(kernel_variant="gemm_tiled", tiling=[64, 64, 2], activation="PRelu", alpha=0.5, beta=2.0),
         consts=(1, 2, 3)),
    Case("tiled_64x64_bias_gelu_like", [(70, 40), (40, 130), (130,)],
         dict(kernel_variant="gemm_tiled", tiling=[64, 64], activation="Sigmoid"), consts=(1, 2)),
    Case("tiled_32x64_trans_both_alpha_beta", [(19, 45), (66, 19), (45, 66)],
         dict(kernel_variant="gemm_tiled", tiling=[32, 64], transA=1, transB=1, alpha=0.5, beta=-2.0)),
    Case("tiled_32x32_attention_scores_split8", [(2, 3, 33, 1030), (2, 3, 1030, 35)],
         dict(kernel_variant="gemm_tiled", tiling=[32, 32, 8]), op_type="MatMul"),
    Case("tiled_broadcast_batch_clip", [(3, 1, 40, 17), (2, 17, 9)],
         dict(kernel_variant="gemm_tiled", tiling=[32, 32], activation="Clip", activation_params=[-0.5, 0.5]),
         op_type="MatMul"),
    Case("tiled_col_bias_transB_const", [(50, 24), (31, 24), (50, 1)],
         dict(kernel_variant="gemm_tiled", tiling=[64, 64], transB=1, activation="Relu"), consts=(1, 2)),
    # operands read through strided views (passes/fuse_transpose.py): heads out of a packed q·k·v product
    Case("matmul_views_heads", [(12, 1, 24), (12, 1, 24)], dict(
        a_view={"shape": [1, 2, 12, 4], "strides": [8, 4, 24, 1], "offset": 0},
        b_view={"shape": [1, 2, 4, 12], "strides": [8, 4, 1, 24], "offset": 8}), op_type="MatMul"),
    Case("tiled_views_gelu", [(3, 40, 2, 16), (16, 24)], dict(
        a_view={"shape": [3, 40, 16], "strides": [1280, 32, 1], "offset": 16}, kernel_variant="gemm_tiled",
        activation="Gelu", activation_params=[0.0]), op_type="MatMul", consts=(1,)),
    # a MatMul's addend (passes/fuse_matmul_add.py): a bias row, a residual of the output's shape
    Case("matmul_addend_bias", [(1, 9, 16), (16, 24), (24,)], dict(addend=True), op_type="MatMul", consts=(1, 2)),
    Case("matmul_alpha_addend", [(2, 6, 16), (16, 8), (2, 6, 8)], dict(alpha=0.125, addend=True), op_type="MatMul",
         consts=(1,)),
    Case("matmul_addend_gelu", [(1, 9, 16), (16, 24), (24,)], dict(addend=True, activation="Gelu",
         activation_params=[0.0]), op_type="MatMul", consts=(1, 2)),
    Case("tiled_gelu_tanh", [(50, 40), (40, 36)], dict(activation="Gelu", activation_params=[1.0],
         kernel_variant="gemm_tiled"), op_type="MatMul", consts=(1,)),
    Case("tiled_128x64_rm8", [(1, 150, 40), (40, 70)], dict(kernel_variant="gemm_tiled", tiling=[128, 64, 1, 8]),
         op_type="MatMul", consts=(1,)),
    Case("tiled_64x64_rm8_split2_trans_a", [(300, 70), (300, 66), (66,)],
         dict(kernel_variant="gemm_tiled", tiling=[64, 64, 2, 8], transA=1), consts=(1, 2)),
    Case("matmul_addend_residual_relu", [(2, 5, 16), (16, 16), (2, 5, 16)], dict(addend=True, activation="Relu"),
         op_type="MatMul", consts=(1,)),
    Case("matmul_addend_one_row_prelu", [(1, 40), (40, 12), (1, 12), np.linspace(-1, 1, 12, dtype=np.float32)],
         dict(addend=True, activation="PRelu"), op_type="MatMul", consts=(1, 2, 3)),
    Case("tiled_split2_addend_residual", [(1, 70, 300), (300, 48), (1, 70, 48)],
         dict(addend=True, kernel_variant="gemm_tiled", tiling=[32, 32, 2]), op_type="MatMul", consts=(1,)),
    # a CPU runs one-row Gemm/MatMul with constant weights as a 1x1 conv (ops/conv_cpu.py launch_fc)
    Case("fc_alpha_beta_prelu", [(1, 300), (300, 21), (21,), np.linspace(-1, 1, 21, dtype=np.float32)],
         dict(alpha=0.5, beta=2.0, activation="PRelu"), consts=(1, 2, 3)),
    Case("fc_matmul_1d", [(40,), (40, 19)], {}, op_type="MatMul", consts=(1,)),
    Case("matmul_add_relu6", [(1, 8, 16), (16, 12)], dict(activation="Clip", activation_params=[0.0, 6.0]),
         op_type="MatMul", consts=(1,)),
    # gemm_rows_cpu: rows past M (7 of blocks of 4), a last column block that overlaps (37), A transposed,
    # batches broadcast, a column bias with alpha/beta and PRelu
    Case("rows_cpu_bias_prelu", [(7, 13), (13, 37), (7, 1), np.linspace(-1, 1, 37, dtype=np.float32)],
         dict(alpha=0.5, beta=2.0, activation="PRelu", kernel_variant="gemm_rows_cpu"), consts=(1, 2, 3)),
    Case("rows_cpu_trans_a", [(12, 6), (12, 16)], dict(transA=1, kernel_variant="gemm_rows_cpu"), consts=(1,)),
    Case("rows_cpu_broadcast_batches", [(4, 1, 5, 9), (2, 9, 21)], dict(kernel_variant="gemm_rows_cpu"),
         op_type="MatMul"),
]
