"""Programs built in other processes, so that the cache misses of one start compile at once on several cores.

Drivers compile in the calling thread and do not overlap builds in one process (PoCL holds one compiler lock;
NVIDIA's builds from several threads serialise: /work/shared/device/README.md, benchmarks/NOTES.md), although
pyopencl releases the GIL while they run. So each worker is a fresh Python process (`python -m
pymace.runtime.build_worker PLATFORM DEVICE NAME`, not a fork: a forked child cannot use an OpenCL the parent
has initialised; not multiprocessing: spawning would re-import the caller's main module) that imports pyopencl
alone, opens its own context on the same device, says it is ready, and then builds what it is sent:

    parent → worker   one JSON line per job: {"source": text, "options": text}
    worker → parent   one JSON line {"size": N} followed by the N bytes of the program binary,
                      or {"error": text} when the build failed (the parent builds that one itself, for its log)

The environment is the parent's, so the worker sees the same ICD folder and the same driver caches (which the
parent pointed at its storage dir before it first initialised OpenCL: runtime/driver_caches.py)."""
from __future__ import annotations

import json
import sys


def _device(platform_index: int, device_index: int, name: str):
    import pyopencl as cl

    device = cl.get_platforms()[platform_index].get_devices()[device_index]
    if device.name.strip() != name:
        raise RuntimeError(f"device {platform_index}:{device_index} is {device.name.strip()!r}, not {name!r}")
    return cl, device


def _build(cl, context, device, job: dict) -> bytes:
    program = cl._cl._Program(context, job["source"])  # low-level: no pyopencl binary cache
    program.build(job["options"].encode(), [device])
    return bytes(program.get_info(cl.program_info.BINARIES)[0])


def serve(platform_index: int, device_index: int, name: str, jobs=None, replies=None) -> None:
    """Build every job read from `jobs` (stdin) and write each binary to `replies` (stdout), as the protocol says."""
    jobs, replies = jobs or sys.stdin, replies or sys.stdout.buffer
    cl, device = _device(platform_index, device_index, name)
    context = cl.Context([device])
    replies.write(b'{"ready": true}\n')
    replies.flush()
    for line in jobs:
        try:
            binary = _build(cl, context, device, json.loads(line))
            replies.write(json.dumps({"size": len(binary)}).encode() + b"\n" + binary)
        except Exception as error:  # any failure is the parent's to report: it rebuilds the job in-process
            replies.write(json.dumps({"error": " ".join(str(error).split())[:500]}).encode() + b"\n")
        replies.flush()


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
