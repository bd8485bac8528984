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
    parent → worker   {"probe": base64 binary, "options": text, "identity": kernel name}: a cached binary to load
    worker → parent   {"ok": true}, or {"refused": text} (runtime/binary_probe.py); no line if the driver killed it

The environment is the parent's, so the worker sees the same ICD folder and the same driver caches (which the
parent pointed at its storage dir before it first initialised OpenCL: runtime/driver_caches.py)."""
from __future__ import annotations

import base64
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


def _probe(cl, context, device, job: dict) -> dict:
    """Load a cached binary as the parent would (runtime/binary_probe.py): should the driver die on it, only this
    process dies."""
    try:
        program = cl.Program(context, [device], [base64.b64decode(job["probe"])]).build(job["options"])
        names = program.get_info(cl.program_info.KERNEL_NAMES).split(";")
        if job["identity"] not in names:
            return {"refused": "the binary was built from another source or with other options"}
        for name in names:
            cl.Kernel(program, name)
    except cl.Error as error:
        return {"refused": " ".join(str(error).split())[:500]}
    return {"ok": True}


def serve(platform_index: int, device_index: int, name: str, jobs=None, replies=None) -> None:
    """Build every job read from `jobs` (stdin) and write each binary to `replies` (stdout), as the protocol says."""
    jobs, replies = jobs or sys.stdin, replies or sys.stdout.buffer
    cl, device = _device(platform_index, device_index, name)
    context = cl.Context([device])
    replies.write(b'{"ready": true}\n')
    replies.flush()
    for line in jobs:
        try:
            job = json.loads(line)
            if "probe" in job:
                replies.write(json.dumps(_probe(cl, context, device, job)).encode() + b"\n")
                replies.flush()
                continue
            binary = _build(cl, context, device, job)
            replies.write(json.dumps({"size": len(binary)}).encode() + b"\n" + binary)
        except Exception as error:  # any failure is the parent's to report: it rebuilds the job in-process
            replies.write(json.dumps({"error": " ".join(str(error).split())[:500]}).encode() + b"\n")
        replies.flush()


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
