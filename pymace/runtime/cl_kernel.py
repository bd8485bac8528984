"""Kernel objects made through the OpenCL C API of the ICD loader pyopencl links, instead of as pyopencl.Kernel.

pyopencl generates Python code for every new Kernel — an argument setter and an enqueuer, looked up in a
persistent dict under the user's cache dir (sqlite, unpickled and exec'd) or generated afresh when that cache is
cold — and pymace uses neither: it sets each argument once per executor and enqueues through runtime/enqueue.py.
So a plan's kernels are this module's `Kernel`s: created, given arguments, asked for their work-group limits,
released. The few paths that need a pyopencl.Kernel (profiled runs with events, the tuner's timing) get one over
the same cl_kernel (`Kernel.cl`, made on first use). Without the C entry points (an unusual pyopencl build) every
call goes through pyopencl instead (benchmarks/NOTES.md, "fifth session": what this saves at a warm start)."""
from __future__ import annotations

import ctypes
import glob
import os
import sys
from functools import cache

import numpy as np

from .device import cl

_KERNEL_WORK_GROUP_SIZE, _KERNEL_LOCAL_MEM_SIZE = 0x11B0, 0x11B2
_p = ctypes.c_void_p


@cache
def library():
    """The ICD loader pyopencl is linked against (bundled in its wheel, else the system's), with the prototypes
    pymace calls; None when it cannot be found."""
    here = os.path.dirname(cl.__file__)
    for path in sorted(glob.glob(os.path.join(here, ".libs", "libOpenCL*.so*"))) + ["libOpenCL.so.1"]:
        try:
            lib = ctypes.CDLL(path)
            lib.clEnqueueNDRangeKernel, lib.clCreateKernel, lib.clSetKernelArg  # noqa: B018  all present
        except (OSError, AttributeError):
            continue
        _enqueue_proto(lib.clEnqueueNDRangeKernel)
        _proto(lib.clCreateKernel, _p, _p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int32))
        _proto(lib.clSetKernelArg, ctypes.c_int32, _p, ctypes.c_uint32, ctypes.c_size_t, _p)
        _proto(lib.clGetKernelWorkGroupInfo, ctypes.c_int32, _p, _p, ctypes.c_uint32, ctypes.c_size_t, _p,
               ctypes.POINTER(ctypes.c_size_t))
        _proto(lib.clReleaseKernel, ctypes.c_int32, _p)
        return lib
    return None


@cache
def enqueue_entry():
    """clEnqueueNDRangeKernel of library(), called without releasing the GIL (ctypes.PyDLL), or None.

    A non-blocking enqueue returns in microseconds; held, the GIL stays with the enqueuing thread for its whole
    loop instead of going to another thread and back at every enqueue (waits for the device still release it).
    On the H200 this alone changed no thread figure measurably (benchmarks/NOTES.md, "sixth session")."""
    lib = library()
    if lib is None:
        return None
    fn = ctypes.PyDLL(lib._name).clEnqueueNDRangeKernel
    _enqueue_proto(fn)
    return fn


def _enqueue_proto(fn) -> None:
    size_p = ctypes.POINTER(ctypes.c_size_t)
    _proto(fn, ctypes.c_int32, _p, _p, ctypes.c_uint32, size_p, size_p, size_p, ctypes.c_uint32, _p, _p)


def _proto(fn, restype, *argtypes) -> None:
    fn.restype, fn.argtypes = restype, list(argtypes)


def _check(status: int, what: str) -> None:
    if status != 0:
        names = {v: k for k, v in vars(cl.status_code).items() if isinstance(v, int)}
        raise cl.LogicError(f"{what} failed: CL_{names.get(status, 'UNKNOWN')} ({status})")


class Kernel:
    """One kernel of a built program (see the module's docstring)."""

    def __init__(self, program, name: str):
        self.name, self._cl, self._lib = name, None, library()
        if self._lib is None:
            self._cl = cl.Kernel(program, name)
            self.int_ptr = self._cl.int_ptr
            return
        status = ctypes.c_int32()
        self.int_ptr = self._lib.clCreateKernel(program.int_ptr, name.encode(), ctypes.byref(status))
        _check(status.value, f"clCreateKernel({name})")

    @property
    def cl(self):
        """A pyopencl.Kernel over the same cl_kernel (same arguments)."""
        if self._cl is None:
            self._cl = cl.Kernel.from_int_ptr(self.int_ptr, retain=True)
        return self._cl

    def set_arg(self, index: int, value) -> None:
        """A buffer (cl.MemoryObject) or a NumPy scalar."""
        if self._lib is None:
            self._cl.set_arg(index, value)
            return
        if isinstance(value, cl.MemoryObjectHolder):
            handle = _p(value.int_ptr)
            status = self._lib.clSetKernelArg(self.int_ptr, index, ctypes.sizeof(handle), ctypes.addressof(handle))
        else:
            data = np.ascontiguousarray(value)
            status = self._lib.clSetKernelArg(self.int_ptr, index, data.nbytes, data.ctypes.data)
        _check(status, f"clSetKernelArg({self.name}, {index})")

    def _work_group_info(self, device, param: int) -> int:
        if self._lib is None:
            return self._cl.get_work_group_info(param, device)
        out = ctypes.c_size_t()
        status = self._lib.clGetKernelWorkGroupInfo(self.int_ptr, device.int_ptr, param, ctypes.sizeof(out),
                                                    ctypes.addressof(out), None)
        _check(status, f"clGetKernelWorkGroupInfo({self.name})")
        return out.value

    def work_group_size(self, device) -> int:
        """CL_KERNEL_WORK_GROUP_SIZE on `device` (a cl.Device)."""
        return self._work_group_info(device, _KERNEL_WORK_GROUP_SIZE)

    def local_mem_size(self, device) -> int:
        """CL_KERNEL_LOCAL_MEM_SIZE: the kernel's static local memory on `device`."""
        return self._work_group_info(device, _KERNEL_LOCAL_MEM_SIZE)

    def __del__(self):
        # not while the interpreter shuts down: the driver may have been torn down already
        if self._lib is not None and self.int_ptr and not sys.is_finalizing():
            self._lib.clReleaseKernel(self.int_ptr)
            self.int_ptr = None


__all__ = ["Kernel", "library", "enqueue_entry"]
