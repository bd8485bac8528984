"""Driver defects that pymace works around, each with the versions it applies to and why.

PoCL before 7.0 (Debian 12 ships 3.1, Ubuntu 24.04 5.0): its CPU drivers keep loaded work-group functions in one
process-wide cache whose entries are told apart by kernel build hash, local size, grid width and global offset,
but a finished launch gives back its reference to the first entry with the same hash and local size, which may be
another one. When launches of one kernel build at the same local size but different grid widths (the layers of
one model, the same layer in another engine) are in flight on several command queues at once, an entry's count
can reach zero while it is still being given back to: the driver aborts the process
(`pocl_release_dlhandle_cache: Assertion 'found->ref_count > 0' failed`). PoCL 7.0 hands each launch its own
entry back (upstream commit c9ac4c0c3, "fix dlhandle cache"). A single in-order queue never has two launches in
flight, so on those versions runs in this process take turns at the device: `run_lock` is one lock for every
PoCL device of the process, held by a run from its first enqueue until its queue is finished
(benchmarks/NOTES.md, "tenth session": the reproduction and what the turns cost)."""
from __future__ import annotations

import re
import threading

from ..config import load as load_config

FIXED_POCL = (7, 0)
_POCL_RUNS = threading.Lock()  # PoCL's cache is one per process: so is the lock, whatever the device or engine


def pocl_version(platform_version: str) -> tuple[int, int] | None:
    """(major, minor) of a PoCL platform's CL_PLATFORM_VERSION ("OpenCL 3.0 PoCL 3.1+debian ..."), else None."""
    found = re.search(r"\bPoCL (\d+)\.(\d+)", platform_version or "")
    return (int(found.group(1)), int(found.group(2))) if found else None


def run_lock(device) -> threading.Lock | None:
    """The lock runs on `device` (a DeviceInfo) hold while their launches are in flight, or None when runs may
    overlap there (every driver but PoCL before 7.0; PYMACE_RUN_TURNS=0|1 decides instead when set, e.g. for a
    PoCL build that carries the fix)."""
    chosen = load_config().run_turns
    if chosen is not None:
        return _POCL_RUNS if chosen else None
    version = pocl_version(device.platform_version)
    return _POCL_RUNS if version is not None and version < FIXED_POCL else None


__all__ = ["FIXED_POCL", "pocl_version", "run_lock"]
