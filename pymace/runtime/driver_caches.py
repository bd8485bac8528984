"""The OpenCL drivers' own caches, kept in pymace's storage dir beside its program cache and tuning file.

A program binary from pymace's cache is not the whole of a warm start: NVIDIA's binaries are PTX, which the
driver compiles to machine code at every load unless its JIT cache holds the result, and PoCL compiles each
kernel's work-group function at the first enqueue unless its kernel cache holds it. Before the OpenCL platform is
first initialised in a process (runtime/device.py's list_devices, before clGetPlatformIDs: the drivers read these
variables once, when they load), pymace points each of those caches at a folder of its storage dir —
`<storage dir>/driver-cache/pocl` (POCL_CACHE_DIR) and `<storage dir>/driver-cache/nvidia` (CUDA_CACHE_PATH, with
CUDA_CACHE_MAXSIZE raised to the driver's maximum) — but only where the user has not set the variable. So one
storage dir carries every cache a warm start needs, and copying it (or `pymace cache export`) carries them all.
Each driver validates its own cache; pymace only chooses where it lives. A process that had initialised OpenCL
before pymace keeps the caches it had: the variables are read once per process."""
from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

FOLDER = "driver-cache"
CUDA_CACHE_MAX_BYTES = 4 << 30  # the NVIDIA driver's upper limit for CUDA_CACHE_MAXSIZE


@dataclass(frozen=True)
class DriverCache:
    driver: str  # the subfolder of <storage dir>/driver-cache
    path_variable: str  # where the driver reads the cache's location from
    off_variable: str  # how a user turns the cache off (the value that does it: off_value)
    off_value: str
    extra: tuple[tuple[str, str], ...] = ()  # more variables pymace sets when the user has not


DRIVER_CACHES = (
    DriverCache("pocl", "POCL_CACHE_DIR", "POCL_KERNEL_CACHE", "0"),
    DriverCache("nvidia", "CUDA_CACHE_PATH", "CUDA_CACHE_DISABLE", "1",
                (("CUDA_CACHE_MAXSIZE", str(CUDA_CACHE_MAX_BYTES)),)),
)
_POINTED: dict[str, str] = {}  # driver → folder pymace pointed it at in this process


def folder(storage_dir: str | os.PathLike, driver: str) -> Path:
    return Path(storage_dir) / FOLDER / driver


def point_driver_caches(storage_dir: str | os.PathLike, environ=None) -> dict[str, str]:
    """Point every driver cache the user has not placed at `storage_dir`'s folders (creating them); returns
    driver → folder for those pymace set. Call before the OpenCL platform is first initialised."""
    environ = os.environ if environ is None else environ
    pointed = {}
    for cache in DRIVER_CACHES:
        if cache.path_variable in environ:
            continue
        path = folder(storage_dir, cache.driver)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:  # a read-only storage dir: the driver keeps its default place
            continue
        environ[cache.path_variable] = str(path)
        for name, value in cache.extra:
            environ.setdefault(name, value)
        pointed[cache.driver] = str(path)
    if environ is os.environ:
        _POINTED.update(pointed)
    return pointed


def active(environ=None) -> dict[str, dict]:
    """Where each driver's cache is in this process: folder, whether pymace chose it, whether it is off."""
    environ = os.environ if environ is None else environ
    return {c.driver: {"folder": environ.get(c.path_variable), "set_by_pymace": c.driver in _POINTED,
                       "off": environ.get(c.off_variable) == c.off_value} for c in DRIVER_CACHES}


def report(storage_dir: str | os.PathLike) -> list[dict]:
    """What driver caches `storage_dir` holds: one row per driver with files and bytes (0 when absent)."""
    rows = []
    for cache in DRIVER_CACHES:
        path = folder(storage_dir, cache.driver)
        sizes = [_size(p) for p in path.rglob("*")] if path.is_dir() else []
        sizes = [n for n in sizes if n is not None]
        rows.append({"driver": cache.driver, "folder": str(path), "files": len(sizes), "bytes": sum(sizes),
                     "variable": cache.path_variable})
    return rows


def clear(storage_dir: str | os.PathLike) -> int:
    """Empty every driver cache of `storage_dir` (the folders stay); the number of entries removed. For a start
    after a process died loading cached binaries: what the driver had unpacked from the binary that killed it is
    in there, and a later build of that program from source would load it. Never raises."""
    removed = 0
    for cache in DRIVER_CACHES:
        path = folder(storage_dir, cache.driver)
        try:
            children = list(path.iterdir())
        except OSError:
            continue
        for child in children:
            try:
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
                removed += 1
            except OSError:  # another process's temp file, gone meanwhile, or a folder we may not write
                pass
    return removed


def _size(path: Path) -> int | None:
    """A regular file's size; None for anything else, or a file the driver removed meanwhile (its temp files)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def no_other_caches_env() -> dict[str, str]:
    """Environment that switches off the binary caches below pymace's own (pyopencl, PoCL, NVIDIA), so that a
    cold start measured with it is really cold. Set it before the OpenCL driver is loaded."""
    return {"PYOPENCL_NO_CACHE": "1", "POCL_KERNEL_CACHE": "0", "CUDA_CACHE_DISABLE": "1"}


__all__ = ["DRIVER_CACHES", "FOLDER", "point_driver_caches", "active", "report", "folder", "clear",
           "no_other_caches_env"]
