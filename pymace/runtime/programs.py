"""The one place OpenCL programs are built: kernel source → program, through the compiled-program cache.

Source text and build options are data: a program is `kernels/<stem>.cl` with `kernels/common.h` inlined in
front (so the source hash covers the include) and a canonical, sorted option list. pyopencl's own binary cache is
bypassed (we build with the low-level program object) so that pymace's cache is the only one in the path."""
from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from ..errors import KernelBuildError
from .device import DeviceInfo, cl
from .plan import canonical_options
from .program_cache import program_key, source_hash

log = logging.getLogger(__name__)
KERNEL_DIR = Path(__file__).resolve().parent.parent / "kernels"


@cache
def kernel_source(stem: str) -> str:
    common = (KERNEL_DIR / "common.h").read_text()
    body = (KERNEL_DIR / f"{stem}.cl").read_text()
    return f"{common}\n#line 1\n{body}"


@dataclass
class BuildStats:
    """What program building cost this engine: shown by Engine.init_stats, benchmark and the report."""

    from_cache: int = 0
    from_source: int = 0
    build_seconds: float = 0.0  # compiling from source
    load_seconds: float = 0.0  # creating programs from cached binaries
    misses: list = field(default_factory=list)  # (program key, reason): cache misses and refused binaries

    def as_dict(self) -> dict:
        return {"programs_from_cache": self.from_cache, "programs_from_source": self.from_source,
                "build_seconds": round(self.build_seconds, 4), "load_seconds": round(self.load_seconds, 4),
                "cache_misses": [{"program": k, "reason": r} for k, r in self.misses]}


class ProgramBuilder:
    def __init__(self, context, device: DeviceInfo, cache=None):
        self.context, self.device, self.cache = context, device, cache
        # The cache's own miss list, so that a binary the driver refuses is reported beside the cache's misses.
        self.stats = BuildStats(misses=cache.misses if cache is not None else [])
        self._programs: dict[tuple[str, str], cl.Program] = {}

    def get(self, stem: str, options) -> cl.Program:
        key = (stem, canonical_options(options))
        if key not in self._programs:
            self._programs[key] = self._load_or_build(*key)
        return self._programs[key]

    def _load_or_build(self, stem: str, options: str) -> cl.Program:
        source = kernel_source(stem)
        digest = source_hash(source)
        if self.cache is not None:
            binary = self.cache.lookup(stem, digest, options)
            if binary is not None:
                t = time.perf_counter()
                try:
                    prg = cl.Program(self.context, [self.device.cl_device], [binary]).build(options)
                    self.stats.from_cache += 1
                    self.stats.load_seconds += time.perf_counter() - t
                    return prg
                except cl.Error as e:  # a binary the driver refuses is a miss, never an error
                    log.warning("cached binary of %s refused by the driver (%s); building from source", stem, e)
                    self.stats.misses.append((program_key(stem, options), f"driver refused the binary: {e}"))
        t = time.perf_counter()
        prg = self._build_from_source(stem, source, options)
        self.stats.from_source += 1
        self.stats.build_seconds += time.perf_counter() - t
        if self.cache is not None:
            binaries = prg.get_info(cl.program_info.BINARIES)
            if binaries and binaries[0]:
                self.cache.store(stem, digest, options, bytes(binaries[0]))
        return prg

    def _build_from_source(self, stem: str, source: str, options: str) -> cl.Program:
        low = cl._cl._Program(self.context, source)  # low-level: no pyopencl binary cache
        try:
            low.build(options.encode(), [self.device.cl_device])
        except cl.Error as e:
            try:
                build_log = low.get_build_info(self.device.cl_device, cl.program_build_info.LOG)
            except cl.Error:
                build_log = str(e)
            with tempfile.NamedTemporaryFile("w", suffix=f"-{stem}.cl", delete=False) as f:
                f.write(source)
            raise KernelBuildError(
                f"building kernels/{stem}.cl with options [{options}] failed on {self.device.name}; "
                f"source saved as {f.name}\n{build_log.strip()}") from None
        return cl.Program(low)

    def save_cache(self) -> None:
        if self.cache is not None:
            self.cache.save()
