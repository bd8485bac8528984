"""ops/kernel_args.py: the parameter lists it reads from the .cl sources are the ones the OpenCL compiler sees
(CL_KERNEL_ARG_NAME, built with -cl-kernel-arg-info, each parameter macro on and off), and binding by name
refuses a missing or an extra name."""
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
    ("conv_gemm", "conv_gemm", GEOMETRY + ("-DTM=32", "-DTN=32", "-DTK=16", "-DSPLIT=2", "-DHAS_RES=1",
                                           "-DDW_FUSED=1", "-DSPLIT_LAST=1", "-DPROLOGUE=1", "-DPREFIX=1")),
    ("conv_gemm", "conv_splitk_reduce", ("-DACT=0", "-DHAS_RES=1")),
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
GUARDS = ("-DHAS_RES=1", "-DDW_FUSED=1", "-DSPLIT_LAST=1", "-DPROLOGUE=1", "-DPREFIX=1")


def _variants():
    for program, kernel, options in KERNELS:
        yield program, kernel, options
        if any(o in GUARDS for o in options):
            yield program, kernel, tuple(o for o in options if o not in GUARDS)


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
    values = dict(x=1, w=2, bias=3, slope=4, y=5, N=1, C=2, M=3, P=4)
    assert len(kernel_args.bind("conv", "conv1x1", values)) == 9
    assert kernel_args.bind("conv", "conv1x1", values | {"res": 9}, ("-DHAS_RES=1",))[4] == 9
    with pytest.raises(TypeError, match="res"):
        kernel_args.bind("conv", "conv1x1", values, ("-DHAS_RES=1",))
    with pytest.raises(TypeError, match="res"):
        kernel_args.bind("conv", "conv1x1", values | {"res": 9})
