"""OpenCL device discovery and selection.

Discovery must work on a fresh machine: pyopencl's bundled ICD loader sees the system's ICDs only when
OCL_ICD_VENDORS points at them, and NVIDIA's driver ships libnvidia-opencl.so.1 without an .icd file. Platforms
that cannot build a trivial kernel (e.g. an old PoCL that rejects the CPU: "unknown target CPU 'generic'") are
skipped with the reason kept for `pymace devices`."""
from __future__ import annotations

import glob
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field

from ..errors import DeviceError
from ..ops.base import DeviceTraits
from ..safe_io import read_bounded, write_atomic
from . import driver_caches
from .identity import DeviceIdentity

log = logging.getLogger(__name__)

SYSTEM_VENDORS = "/etc/OpenCL/vendors"
NVIDIA_LIBS = ["/usr/local/nvidia/lib64/libnvidia-opencl.so.1", "/usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1",
               "/usr/lib64/libnvidia-opencl.so.1"]


def _icd_folder() -> str | None:
    """A folder of .icd files naming every OpenCL driver on this machine, or None to leave the env alone."""
    system = sorted(glob.glob(os.path.join(SYSTEM_VENDORS, "*.icd")))
    icds = {os.path.basename(p): _read(p) for p in system if os.access(p, os.R_OK)}
    nvidia = next((p for p in NVIDIA_LIBS if os.path.exists(p)), None)
    if nvidia is None or "nvidia" in " ".join(icds.values()).lower():
        return SYSTEM_VENDORS if system else None
    folder = os.path.join(tempfile.gettempdir(), f"pymace-icd-{os.getuid()}")
    os.makedirs(folder, exist_ok=True)
    for name, text in {**icds, "nvidia.icd": nvidia + "\n"}.items():
        _write_if_changed(os.path.join(folder, name), text)
    return folder


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write_if_changed(path: str, text: str) -> None:
    if not os.path.exists(path) or _read(path) != text:
        with open(path, "w") as f:
            f.write(text)


def prepare_icd_environment() -> None:
    """Point the ICD loader at every driver present, unless the user already chose (OCL_ICD_VENDORS set)."""
    if "OCL_ICD_VENDORS" not in os.environ:
        folder = _icd_folder()
        if folder:
            os.environ["OCL_ICD_VENDORS"] = folder


prepare_icd_environment()
import pyopencl as cl  # noqa: E402  (the ICD environment must be set before the loader first runs)

PROBE_SOURCE = "__kernel void probe(__global float* x) { x[get_global_id(0)] *= 2.0f; }"


@dataclass
class DeviceInfo:
    """The facts about a device that matter to pymace (and that key its caches)."""

    platform_index: int
    device_index: int
    name: str
    vendor: str
    driver_version: str
    platform_name: str
    platform_version: str
    version: str
    opencl_c_version: str
    is_gpu: bool
    compute_units: int
    max_work_group_size: int
    max_work_item_sizes: tuple[int, ...]
    local_mem_size: int
    global_mem_size: int
    max_alloc_size: int
    fp16: bool
    image_support: bool
    usable: bool = True
    problem: str | None = None
    mem_base_addr_align: int = 0  # bytes (CL_DEVICE_MEM_BASE_ADDR_ALIGN): where a sub-buffer may start
    native_float_width: int = 0  # CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT: 16 on a CPU with AVX-512, 8 with AVX2
    cl_device: object = field(default=None, repr=False, compare=False)

    @property
    def selector(self) -> str:
        return f"{self.platform_index}:{self.device_index}"

    @property
    def identity(self) -> DeviceIdentity:
        """What the program cache and the tuning file key their entries by."""
        return DeviceIdentity(self.name, self.vendor, self.driver_version, self.platform_name,
                              self.platform_version, self.opencl_c_version, self.compute_units)

    @property
    def traits(self) -> DeviceTraits:
        """What ops and passes plan by."""
        return DeviceTraits(self.is_gpu, self.compute_units, self.max_work_group_size,
                            tuple(self.max_work_item_sizes), self.local_mem_size, self.fp16, self.name, self.vendor,
                            self.mem_base_addr_align, self.native_float_width)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "cl_device"} | {"selector": self.selector}


def _describe(pi: int, di: int, p, d) -> DeviceInfo:
    return DeviceInfo(
        platform_index=pi, device_index=di, name=d.name.strip(), vendor=d.vendor.strip(),
        driver_version=d.driver_version.strip(), platform_name=p.name.strip(), platform_version=p.version.strip(),
        version=d.version.strip(), opencl_c_version=d.opencl_c_version.strip(),
        is_gpu=bool(d.type & cl.device_type.GPU), compute_units=d.max_compute_units,
        max_work_group_size=d.max_work_group_size, max_work_item_sizes=tuple(d.max_work_item_sizes),
        local_mem_size=d.local_mem_size, global_mem_size=d.global_mem_size, max_alloc_size=d.max_mem_alloc_size,
        fp16="cl_khr_fp16" in d.extensions, image_support=bool(d.image_support), cl_device=d,
        mem_base_addr_align=d.mem_base_addr_align // 8, native_float_width=d.native_vector_width_float)


MAX_MEMO_BYTES = 1 << 20  # a memo names a few devices; a larger file is not one pymace wrote


def _probe_memo_path(storage_dir: str | None = None) -> str:
    from ..config import default_storage_dir

    return os.path.join(storage_dir or default_storage_dir(), "probed-devices.json")


def _probe_id(info: DeviceInfo) -> str:
    return "|".join([info.platform_name, info.platform_version, info.name, info.driver_version])


def _load_probe_memo(path: str) -> set[str]:
    """Devices (with this exact driver) that already passed the probe: a warm start skips the test build. A memo
    that is not a regular file of a list of strings is ignored (the devices are probed again)."""
    try:
        data = json.loads(read_bounded(path, MAX_MEMO_BYTES))
    except (OSError, ValueError, RecursionError):
        return set()
    return {x for x in data if isinstance(x, str)} if isinstance(data, list) else set()


def _save_probe_memo(path: str, passed: set[str]) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomic(path, json.dumps(sorted(passed)).encode(), 0o644)  # no temp file is left behind
    except OSError as e:  # a read-only cache dir only costs the probe next time
        log.debug("cannot record probed devices: %s", e)


def _probe(info: DeviceInfo) -> None:
    """Build and run a trivial kernel; mark the device unusable with the reason if that fails."""
    try:
        ctx = cl.Context([info.cl_device])
        prg = cl.Program(ctx, PROBE_SOURCE).build()
        q = cl.CommandQueue(ctx)
        buf = cl.Buffer(ctx, cl.mem_flags.READ_WRITE, 16)
        prg.probe(q, (4,), None, buf)
        q.finish()
    except Exception as e:  # any driver failure means "not usable", never a crash of discovery
        info.usable = False
        info.problem = " ".join(str(e).split())[:300]


_DEVICES: list[DeviceInfo] | None = None


def list_devices(probe: bool = True, storage_dir: str | None = None) -> list[DeviceInfo]:
    """Every OpenCL device of every platform, probed once per process. The first call initialises the OpenCL
    platform: just before, the drivers' caches are pointed at `storage_dir` (default: the default storage dir)
    where the user has not placed them (runtime/driver_caches.py); the probe memo lives there too."""
    global _DEVICES
    if _DEVICES is not None:
        return _DEVICES
    from ..config import default_storage_dir

    driver_caches.point_driver_caches(storage_dir or default_storage_dir())
    memo = _probe_memo_path(storage_dir)
    found, passed = [], _load_probe_memo(memo)
    try:
        platforms = cl.get_platforms()
    except cl.Error as e:  # CL_PLATFORM_NOT_FOUND_KHR when no ICD is installed
        log.info("no OpenCL platform: %s", e)
        platforms = []
    for pi, p in enumerate(platforms):
        try:
            devices = p.get_devices()
        except cl.Error as e:
            log.info("platform %s has no devices: %s", p.name, e)
            continue
        for di, d in enumerate(devices):
            info = _describe(pi, di, p, d)
            if probe and _probe_id(info) not in passed:
                _probe(info)
            found.append(info)
    now_passed = passed | {_probe_id(d) for d in found if d.usable}
    if probe and now_passed != passed:
        _save_probe_memo(memo, now_passed)
    _DEVICES = found
    return found


def default_device(devices: list[DeviceInfo]) -> DeviceInfo | None:
    usable = [d for d in devices if d.usable]
    gpus = [d for d in usable if d.is_gpu]
    nvidia = [d for d in gpus if "nvidia" in d.platform_name.lower()]
    return (nvidia or gpus or usable or [None])[0]


def select(spec: str | int = "auto", storage_dir: str | None = None) -> DeviceInfo:
    """Resolve a --device selector: auto | cpu | gpu | P:D (platform and device indices) | N (the N-th device
    `pymace devices` lists) | a name: a case-insensitive part of one device's name, vendor or platform
    (by_name). `storage_dir`: where the drivers' caches go if this call is the process's first look at OpenCL
    (list_devices)."""
    devices = list_devices(storage_dir=storage_dir)
    usable = [d for d in devices if d.usable]
    if not devices:
        raise DeviceError("no OpenCL device found (install Debian's pocl-opencl-icd, or a GPU driver)")
    spec = str("auto" if spec is None or spec == "" else spec).strip().lower()
    if spec == "auto":
        chosen = default_device(devices)
    elif spec in ("cpu", "gpu"):
        chosen = next((d for d in usable if d.is_gpu == (spec == "gpu")), None)
    elif ":" in spec and all(part.isdigit() for part in spec.split(":", 1)):
        chosen = next((d for d in devices if d.selector == spec), None)
    elif spec.isdigit():
        chosen = devices[int(spec)] if int(spec) < len(devices) else None
    else:
        chosen = by_name(spec, usable) or by_name(spec, devices)  # a broken driver's twin does not make it ambiguous
    if chosen is not None and not chosen.usable:
        raise DeviceError(f"device {chosen.selector} ({chosen.name}) is not usable: {chosen.problem}")
    if chosen is None:
        have = ", ".join(f"{d.selector} {d.name}" for d in usable) or "none usable"
        raise DeviceError(f"no OpenCL device matches {spec!r} (devices: {have})")
    return chosen


def by_name(spec: str, devices: list[DeviceInfo]) -> DeviceInfo | None:
    """The one device whose name (else vendor, platform name or version: "pocl", "NVIDIA CUDA") holds `spec`,
    ignoring case; None when none does; DeviceError listing the candidates when several do."""
    wanted = spec.strip().lower()
    for fields in (lambda d: [d.name], lambda d: [d.vendor, d.platform_name, d.platform_version]):
        found = [d for d in devices if any(wanted in f.lower() for f in fields(d))]
        if len(found) == 1:
            return found[0]
        if found:
            listed = "; ".join(f"{d.selector} {d.name} ({d.platform_name})" for d in found)
            raise DeviceError(f"device {spec!r} matches {len(found)} devices: {listed}; name one by its id "
                              "(PLATFORM:DEVICE)")
    if not wanted:
        raise DeviceError("an empty device name")
    return None
