"""Which device a stored value is for: one frozen record, used by the program cache, the tuning file and inspect.

A program binary is valid for one device *and driver* (every text field below); a tuned value for a device
*class* (name, vendor, platform name and compute units, across driver updates). Equality and hashing follow the
binary's identity, so compute units — which a cache file does not record — take no part in them. No OpenCL here:
files are read and explained without a device."""
from __future__ import annotations

from dataclasses import dataclass, field

# The six texts of a program-cache device record, in file order, as docs/cache-format.md names them.
CACHE_FIELDS = ("device_name", "device_vendor", "driver_version", "platform_name", "platform_version",
                "opencl_c_version")


@dataclass(frozen=True)
class DeviceIdentity:
    name: str  # CL_DEVICE_NAME, stripped (as every text here)
    vendor: str  # CL_DEVICE_VENDOR
    driver_version: str  # CL_DRIVER_VERSION
    platform_name: str  # CL_PLATFORM_NAME
    platform_version: str  # CL_PLATFORM_VERSION
    opencl_c_version: str  # CL_DEVICE_OPENCL_C_VERSION
    compute_units: int | None = field(default=None, compare=False)  # None: not known (read from a cache file)

    @classmethod
    def from_cl_device(cls, device) -> DeviceIdentity:
        """From a pyopencl Device (duck-typed, so this module needs no OpenCL)."""
        return cls(device.name.strip(), device.vendor.strip(), device.driver_version.strip(),
                   device.platform.name.strip(), device.platform.version.strip(),
                   device.opencl_c_version.strip(), int(device.max_compute_units))

    def cache_fields(self) -> tuple[str, ...]:
        """The six texts a program-cache file stores for the device, in file order."""
        return (self.name, self.vendor, self.driver_version, self.platform_name, self.platform_version,
                self.opencl_c_version)

    def cache_record(self) -> dict[str, str]:
        """The cache file's device record by its documented field names (as `pymace inspect` shows it)."""
        return dict(zip(CACHE_FIELDS, self.cache_fields(), strict=True))

    def tuning_class(self) -> dict:
        """The tuning file's device object: what tuned values are valid for (None units match any count)."""
        return {"name": self.name, "vendor": self.vendor, "compute_units": self.compute_units,
                "platform": self.platform_name}


__all__ = ["DeviceIdentity", "CACHE_FIELDS"]
