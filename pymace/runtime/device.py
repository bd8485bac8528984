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
                            tuple(self.max_work_item_sizes), self.local_mem_size, self.fp16, self.name, self.vendor)

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
        fp16="cl_khr_fp16" in d.extensions, image_support=bool(d.image_support), cl_device=d)


def _probe_memo_path() -> str:
    from ..config import default_storage_dir

    return os.path.join(default_storage_dir(), "probed-devices.json")


def _probe_id(info: DeviceInfo) -> str:
    return "|".join([info.platform_name, info.platform_version, info.name, info.driver_version])


def _load_probe_memo() -> set[str]:
    """Devices (with this exact driver) that already passed the probe: a warm start skips the test build."""
    try:
        with open(_probe_memo_path()) as f:
            data = json.load(f)
        return {str(x) for x in data} if isinstance(data, list) else set()
    except (OSError, ValueError):
        return set()


def _save_probe_memo(passed: set[str]) -> None:
    path = _probe_memo_path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(sorted(passed), f)
        os.replace(tmp, path)
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


def list_devices(probe: bool = True) -> list[DeviceInfo]:
    """Every OpenCL device of every platform, probed once per process."""
    global _DEVICES
    if _DEVICES is not None:
        return _DEVICES
    found, passed = [], _load_probe_memo()
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
        _save_probe_memo(now_passed)
    _DEVICES = found
    return found


def default_device(devices: list[DeviceInfo]) -> DeviceInfo | None:
    usable = [d for d in devices if d.usable]
    gpus = [d for d in usable if d.is_gpu]
    nvidia = [d for d in gpus if "nvidia" in d.platform_name.lower()]
    return (nvidia or gpus or usable or [None])[0]


def select(spec: str = "auto") -> DeviceInfo:
    """Resolve a --device selector: auto | cpu | gpu | P:D (platform and device indices)."""
    devices = list_devices()
    usable = [d for d in devices if d.usable]
    if not devices:
        raise DeviceError("no OpenCL device found (install Debian's pocl-opencl-icd, or a GPU driver)")
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        chosen = default_device(devices)
    elif spec in ("cpu", "gpu"):
        chosen = next((d for d in usable if d.is_gpu == (spec == "gpu")), None)
    elif ":" in spec and all(part.isdigit() for part in spec.split(":", 1)):
        chosen = next((d for d in devices if d.selector == spec), None)
        if chosen is not None and not chosen.usable:
            raise DeviceError(f"device {spec} ({chosen.name}) is not usable: {chosen.problem}")
    else:
        raise DeviceError(f"unknown device {spec!r}: use auto, cpu, gpu, reference or PLATFORM:DEVICE")
    if chosen is None:
        have = ", ".join(f"{d.selector} {d.name}" for d in usable) or "none usable"
        raise DeviceError(f"no OpenCL device matches {spec!r} (devices: {have})")
    return chosen
