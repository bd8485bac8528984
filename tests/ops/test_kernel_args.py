"""ops/kernel_args.py: the parameter lists it reads from the .cl sources are the ones the OpenCL compiler sees
(CL_KERNEL_ARG_NAME, built with -cl-kernel-arg-info, each parameter macro on and off), binding by name refuses a
missing or an extra name, and a struct parameter is one argument whose fields are bound by name."""
import numpy as np
import pytest

from pymace.ops import kernel_args
from tests.helpers import opencl_devices

GEOMETRY = ("-DKH=3", "-DKW=3", "-DSH=1", "-DSW=1", "-DDH=1", "-DDW=1", "-DACT=0")
CPU = ("-DVW=16", "-DMB=4")
# program, kernel, build options; every parameter macro's guard among them is tried with and without
KERNELS = [
    ("conv", "conv1x1", GEOMETRY + ("-DHAS_RES=1",)),
    ("conv", "conv_depthwise", GEOMETRY + ("-DPX=4", "-DHAS_RES=1")),
    ("conv", "conv_direct", GEOMETRY + ("-DPX=2", "-DHAS_RES=1")),
    ("conv_gemm", "conv_gemm", GEOMETRY + ("-DTM=32", "-DTN=32", "-DTK=16", "-DSPLIT=2", "-DHAS_PART",
                                           "-DHAS_RES=1", "-DDW_FUSED=1", "-DSPLIT_LAST=1", "-DPROLOGUE=1",
                                           "-DPREFIX=1", "-DHAS_SLOPE")),
    ("conv_gemm", "conv_splitk_reduce", ("-DACT=0", "-DHAS_RES=1", "-DHAS_SLOPE")),
    ("gemm", "gemm", ("-DACT=0", "-DB_ROWS=1", "-DHAS_SLOPE")),
    ("gemm", "gemm_splitk", ("-DACT=0", "-DB_ROWS=1", "-DCQ=2", "-DKS=64", "-DHAS_SLOPE")),
    ("gemm", "gemm_tiled", ("-DACT=0", "-DB_ROWS=1", "-DTM=64", "-DTN=64", "-DRM=4", "-DTK=16", "-DSPLIT=2",
                            "-DHAS_PART", "-DA_KFAST=1", "-DHAS_SLOPE")),
    ("gemm", "gemm_sum_splits", ("-DACT=0", "-DHAS_SLOPE")),
    ("conv_cpu", "conv1x1_cpu", GEOMETRY + CPU + ("-DPB=2", "-DHAS_RES=1")),
    ("conv_cpu", "conv_direct_cpu", GEOMETRY + CPU + ("-DHAS_RES=1",)),
    ("conv_cpu", "conv_rows_cpu", GEOMETRY + CPU + ("-DCGB=2", "-DBUFW=64", "-DROWS=2", "-DHAS_RES=1")),
    ("conv_cpu", "conv_cvec_cpu", GEOMETRY + ("-DMV=2", "-DPX=4", "-DSTAGE=1", "-DHAS_RES=1")),
    ("conv_transpose", "conv_transpose", GEOMETRY),
    ("pool", "pool2d", GEOMETRY + ("-DPT=1", "-DPL=1", "-DPB=1", "-DPR=1", "-DMODE_MAX=1", "-DCOUNT_PAD=0")),
    ("reduce_cpu", "reduce_rows_cpu", ("-DOP_MAX=1",)),
    ("pool_cpu", "pool2d_cpu", GEOMETRY + ("-DPT=1", "-DPL=1", "-DPB=1", "-DPR=1", "-DMODE_MAX=0", "-DCOUNT_PAD=1",
                                           "-DROWS=2")),
]
GUARDS = ("-DHAS_RES=1", "-DDW_FUSED=1", "-DSPLIT_LAST=1", "-DPROLOGUE=1", "-DPREFIX=1", "-DHAS_SLOPE",
          "-DHAS_PART")


def _variants():
    for program, kernel, options in KERNELS:
        yield program, kernel, options
        if any(o in GUARDS for o in options):  # without partials, no split (kernels/common.h refuses one)
            yield program, kernel, tuple("-DSPLIT=1" if o == "-DSPLIT=2" else o for o in options if o not in GUARDS)


VARIANTS = list(_variants())
DEVICES = opencl_devices()


@pytest.mark.parametrize("device", DEVICES[:1], ids=[d.selector for d in DEVICES[:1]])
@pytest.mark.parametrize("program,kernel,options", VARIANTS,
                         ids=[f"{k}{'' if any(o in GUARDS for o in opts) else '-plain'}" for _, k, opts in VARIANTS])
def test_parameters_match_the_compiler(device, program, kernel, options):
    import pyopencl as cl

    from pymace.runtime.programs import kernel_source

    context = cl.Context([device.cl_device])
    built = cl.Program(context, kernel_source(program)).build(
        options=[*options, f"-DKERNEL_{kernel}", "-cl-kernel-arg-info"])
    compiled = cl.Kernel(built, kernel)
    names = [compiled.get_arg_info(i, cl.kernel_arg_info.NAME) for i in range(compiled.num_args)]
    defined = {o[2:].split("=")[0] for o in options}
    ours = [p.name for p in kernel_args.params(program, kernel) if p.guard is None or p.guard in defined]
    assert ours == names


def test_bind_orders_converts_and_refuses_wrong_names():
    values = dict(x="x", y="y", h=3, w=np.int64(4), oh=2, ow=5, planes=7)
    args = kernel_args.bind("pool", "pool2d", dict(reversed(values.items())))
    assert args[:2] == ["x", "y"] and args[2:] == [3, 4, 2, 5, 7]
    assert all(type(a) is np.int32 for a in args[2:])
    with pytest.raises(TypeError, match=r"no value for \['planes'\]"):
        kernel_args.bind("pool", "pool2d", {k: v for k, v in values.items() if k != "planes"})
    with pytest.raises(TypeError, match=r"no parameter \['stride'\]"):
        kernel_args.bind("pool", "pool2d", values | {"stride": 2})


def test_a_guarded_parameter_needs_its_option():
    values = dict(x=1, w=2, bias=3, y=5, N=1, C=2, M=3, P=4)
    assert len(kernel_args.bind("conv", "conv1x1", values)) == 5  # the sizes are one struct
    assert kernel_args.bind("conv", "conv1x1", values | {"res": 9}, ("-DHAS_RES=1",))[3] == 9
    assert kernel_args.bind("conv", "conv1x1", values | {"slope": 4}, ("-DHAS_SLOPE",))[3] == 4
    with pytest.raises(TypeError, match="slope"):  # a PRelu's slope only with its option
        kernel_args.bind("conv", "conv1x1", values | {"slope": 4})
    with pytest.raises(TypeError, match="res"):
        kernel_args.bind("conv", "conv1x1", values, ("-DHAS_RES=1",))
    with pytest.raises(TypeError, match="res"):
        kernel_args.bind("conv", "conv1x1", values | {"res": 9})


def test_a_struct_parameter_is_one_argument_with_its_fields_bound_by_name():
    values = dict(part="p", c="c", y="y", SPLITS=2, BATCH=np.int64(3), M=4, N=5, SCM=0, SCN=1, alpha=0.5, beta=2)
    args = kernel_args.bind("gemm", "gemm_sum_splits", dict(reversed(values.items())))
    assert args[:3] == ["p", "c", "y"] and len(args) == 4 and isinstance(args[3], np.void)
    sizes = args[3]
    assert sizes.dtype.names == ("SPLITS", "BATCH", "M", "N", "SCM", "SCN", "alpha", "beta")
    assert sizes.dtype.itemsize == 32 and sizes.tolist() == (2, 3, 4, 5, 0, 1, 0.5, 2.0)
    with pytest.raises(TypeError, match=r"no value for \['N'\]"):
        kernel_args.bind("gemm", "gemm_sum_splits", {k: v for k, v in values.items() if k != "N"})
    with pytest.raises(TypeError, match=r"no parameter \['sizes'\]"):  # fields are named, not the struct
        kernel_args.bind("gemm", "gemm_sum_splits", values | {"sizes": 1})
