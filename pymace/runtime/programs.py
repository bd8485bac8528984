"""The one place OpenCL programs are built: kernel source → program, through the compiled-program cache.

Source text and build options are data: a program is `kernels/<stem>.cl` with `kernels/common.h` inlined in
front (so the source hash covers the include) and a canonical, sorted option list. pyopencl's own binary cache is
bypassed (we build with the low-level program object) so that pymace's cache is the only one in the path. The
programs a plan needs are asked for together (`build_all`): hits load from the cache, and misses build at once,
here and in worker processes (runtime/parallel_build.py)."""
from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from ..errors import KernelBuildError
from . import binary_probe
from .cl_kernel import Kernel
from .device import DeviceInfo, cl
from .plan import canonical_options
from .program_cache import program_key, source_hash

log = logging.getLogger(__name__)
KERNEL_DIR = Path(__file__).resolve().parent.parent / "kernels"


class _NotThisProgram(Exception):
    """A cached binary whose identity kernel is missing."""


@cache
def kernel_source(stem: str) -> str:
    common = (KERNEL_DIR / "common.h").read_text()
    body = (KERNEL_DIR / f"{stem}.cl").read_text()
    return f"{common}\n#line 1\n{body}"


@cache
def source_digest(stem: str) -> str:
    return source_hash(kernel_source(stem))


def identity_kernel(digest: str, options: str) -> str:
    """The name of the empty kernel every program carries for its (source hash, options): a cached binary
    that lacks it was built from another source or with other options (another program's binary, the same
    kernel with other -D values), whatever its cache key and checksum say, and is refused before it runs."""
    return "pymace_id_" + hashlib.sha256(f"{digest}\0{options}".encode()).hexdigest()[:24]


def program_from_binary(context, device, binary: bytes, options: str) -> cl.Program:
    """A program built from a binary with the low-level calls (pyopencl's Program.build re-parses the options
    and looks for its own include path at every call)."""
    low = cl._cl._Program(context, [device], [binary])
    low.build(options.encode(), [device])
    return cl.Program(low)


def program_source(stem: str, options: str) -> str:
    """What is compiled: the kernel file (common.h inlined) and its identity kernel."""
    source = kernel_source(stem)
    return f"{source}\n__kernel void {identity_kernel(source_hash(source), options)}(void) {{}}\n"


@dataclass
class BuildStats:
    """What program building cost this engine: shown by Engine.init_stats, benchmark and the report."""

    from_cache: int = 0
    from_source: int = 0
    build_seconds: float = 0.0  # compiling from source
    load_seconds: float = 0.0  # creating programs from cached binaries
    misses: list = field(default_factory=list)  # (program key, reason): cache misses and refused binaries
    build_workers: int = 0  # worker processes that built misses beside this one (runtime/parallel_build.py)
    built_by_workers: int = 0  # of the programs from source
    probed: int = 0  # cached binaries new to this machine, loaded first by a probe process (runtime/binary_probe.py)
    probe_seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"programs_from_cache": self.from_cache, "programs_from_source": self.from_source,
                "build_workers": self.build_workers, "built_by_workers": self.built_by_workers,
                "binaries_probed": self.probed, "probe_seconds": round(self.probe_seconds, 4),
                "build_seconds": round(self.build_seconds, 4), "load_seconds": round(self.load_seconds, 4),
                "cache_misses": [{"program": k, "reason": r} for k, r in self.misses]}


class ProgramBuilder:
    def __init__(self, context, device: DeviceInfo, cache=None):
        self.context, self.device, self.cache = context, device, cache
        # The cache's own miss list, so that a binary the driver refuses is reported beside the cache's misses.
        self.stats = BuildStats(misses=cache.misses if cache is not None else [])
        self._programs: dict[tuple[str, str], cl.Program] = {}
        self._missed: set[tuple[str, str]] = set()

    def get(self, stem: str, options) -> cl.Program:
        key = (stem, canonical_options(options))
        if key not in self._programs:
            self._prove([key])
            program = self._load_cached(*key) if key not in self._missed else None
            self._programs[key] = program if program is not None else self._build_and_store(*key)
        return self._programs[key]

    def build_all(self, wanted) -> None:
        """Load or build every program of `wanted` ((stem, options) pairs) ahead of `get`: the cache's hits first,
        then the misses at once, in this process and in worker processes (runtime/parallel_build.py). Misses
        left (no workers, or a build that failed there) are built by `get`, one after another."""
        keys = list(dict.fromkeys((stem, canonical_options(options)) for stem, options in wanted))
        self._prove([k for k in keys if k not in self._programs])
        misses = []
        for key in (k for k in keys if k not in self._programs):
            program = self._load_cached(*key) if key not in self._missed else None
            if program is None:
                misses.append(key)
                self._missed.add(key)  # `get` does not ask the cache again
            else:
                self._programs[key] = program
        if not misses:
            return
        from . import parallel_build  # cold builds only: its subprocess machinery stays out of a warm start

        workers = parallel_build.worker_count(len(misses))
        if not workers:
            return
        t = time.perf_counter()
        jobs = [(key, program_source(*key), key[1]) for key in misses]
        built, by_workers = parallel_build.build_all(jobs, self._build_here, self._from_binary, self.device,
                                                     workers)
        for (stem, options), found in built.items():
            if found is not None:
                self._programs[stem, options], binary = found
                self._store(stem, options, binary)
                self.stats.from_source += 1
        self.stats.build_seconds += time.perf_counter() - t
        self.stats.build_workers = workers
        self.stats.built_by_workers += len(by_workers)

    def _prove(self, keys) -> None:
        """The cached binaries of `keys` that never loaded on this machine go to a probe process first
        (runtime/binary_probe.py): one it refused or died on is a miss here, built from source."""
        if self.cache is None:
            return
        unproven = {}
        for key in (k for k in keys if k not in self._missed):
            entry = self.cache.peek(key[0], source_digest(key[0]), key[1])
            if entry is not None and not self.cache.proven.has(entry.checksum):
                unproven[key] = entry
        if not unproven:
            return
        t = time.perf_counter()
        jobs = [(key, bytes(e.binary), key[1], identity_kernel(source_digest(key[0]), key[1]))
                for key, e in unproven.items()]
        verdicts = binary_probe.probe(self.device, jobs, self.cache.path.parent)
        for key, reason in verdicts.items():
            if reason is not None:
                log.warning("cached binary of %s refused (%s); building from source", key[0], reason)
                self.stats.misses.append((program_key(*key), f"driver refused the binary: {reason}"))
                self._missed.add(key)
        self.cache.proven.add(unproven[key].checksum for key, reason in verdicts.items() if reason is None)
        self.stats.probed += len(verdicts)
        self.stats.probe_seconds += time.perf_counter() - t

    def _load_cached(self, stem: str, options: str) -> cl.Program | None:
        """The program from the cache's binary; None on a miss or a binary the driver refuses."""
        if self.cache is None:
            return None
        binary = self.cache.lookup(stem, source_digest(stem), options)
        if binary is None:
            return None
        return self._cached_program(stem, source_digest(stem), options, binary)

    def _build_and_store(self, stem: str, options: str) -> cl.Program:
        t = time.perf_counter()
        prg = self._build_from_source(stem, program_source(stem, options), options)
        self.stats.from_source += 1
        self.stats.build_seconds += time.perf_counter() - t
        self._store(stem, options, _binary(prg))
        return prg

    def _build_here(self, key: tuple[str, str]):
        """A miss built in this process for build_all: (program, binary), or None when the build failed."""
        try:
            prg = self._build_from_source(key[0], program_source(*key), key[1])
        except KernelBuildError:  # `get` builds it again and raises the error with the driver's log
            return None
        return prg, _binary(prg)

    def _from_binary(self, key: tuple[str, str], binary: bytes):
        """A worker's binary made a program of this context (build_all): (program, binary)."""
        return program_from_binary(self.context, self.device.cl_device, binary, key[1]), binary

    def _store(self, stem: str, options: str, binary: bytes | None) -> None:
        if self.cache is not None and binary:  # this machine's driver made it: proven
            self.cache.proven.add([self.cache.store(stem, source_digest(stem), options, binary).checksum])

    def _cached_program(self, stem: str, digest: str, options: str, binary: bytes) -> cl.Program | None:
        """The program from a cached binary, or None (a miss, logged) when the driver refuses it, at build or at
        kernel creation, or it is not the program it claims to be."""
        t = time.perf_counter()
        try:
            prg = program_from_binary(self.context, self.device.cl_device, binary, options)
            names = prg.get_info(cl.program_info.KERNEL_NAMES).split(";")
            if identity_kernel(digest, options) not in names:
                raise _NotThisProgram("the binary was built from another source or with other options")
            Kernel(prg, identity_kernel(digest, options))  # kernel creation works: INVALID_KERNEL_NAME here
        except (cl.Error, _NotThisProgram) as e:  # a binary the driver refuses is a miss, never an error
            log.warning("cached binary of %s refused (%s); building from source", stem, e)
            self.stats.misses.append((program_key(stem, options), f"driver refused the binary: {e}"))
            return None
        self.stats.from_cache += 1
        self.stats.load_seconds += time.perf_counter() - t
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


def _binary(prg: cl.Program) -> bytes | None:
    binaries = prg.get_info(cl.program_info.BINARIES)
    return bytes(binaries[0]) if binaries and binaries[0] else None
