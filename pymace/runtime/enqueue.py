"""The hot loop's enqueue: one clEnqueueNDRangeKernel per bound kernel, with no event object.

pyopencl's `enqueue_nd_range_kernel` always creates an event and wraps it in a Python object; at batch 1 on a GPU
that host cost is most of a small kernel's time (DESIGN.md §5). Here every step's sizes are packed once into
ctypes arrays and the C entry point of the very ICD loader pyopencl uses is called with a NULL event, holding the
GIL (runtime/cl_kernel.py: enqueue_entry says why). Any failure to find that entry point falls back to pyopencl's
call."""
from __future__ import annotations

import ctypes
import logging

from ..config import load as load_config
from .cl_kernel import enqueue_entry
from .device import cl

log = logging.getLogger(__name__)

_ENQUEUE = enqueue_entry()


class Enqueuer:
    """Enqueues a fixed list of steps on one queue. `failed_step` names the step whose enqueue failed."""

    def __init__(self, queue, steps):
        self.steps = steps
        self.queue = queue
        self.fast = _ENQUEUE is not None and not load_config().pyopencl_enqueue
        if self.fast:
            q = ctypes.c_void_p(queue.int_ptr)
            self._calls = [(q, ctypes.c_void_p(s.kernel.int_ptr), len(s.gws),
                            (ctypes.c_size_t * len(s.gws))(*s.gws), (ctypes.c_size_t * len(s.lws))(*s.lws))
                           for s in steps]

    def __call__(self) -> None:
        if not self.fast:
            enqueue = cl.enqueue_nd_range_kernel
            for s in self.steps:
                enqueue(self.queue, s.kernel.cl, s.gws, s.lws)
            return
        fn = _ENQUEUE
        for i, (q, k, dim, gws, lws) in enumerate(self._calls):
            status = fn(q, k, dim, None, gws, lws, 0, None, None)
            if status != 0:
                raise EnqueueError(self.steps[i], status)


class EnqueueError(Exception):
    def __init__(self, step, status: int):
        self.step, self.status = step, status
        super().__init__(f"clEnqueueNDRangeKernel returned {status} ({_status_name(status)})")


def _status_name(status: int) -> str:
    names = {v: k for k, v in vars(cl.status_code).items() if isinstance(v, int)}
    return f"CL_{names.get(status, 'UNKNOWN')}"
