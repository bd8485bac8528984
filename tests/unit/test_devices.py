"""Device discovery: the ICD folder names every driver present (NVIDIA's has no .icd file of its own), a device
that cannot build a trivial kernel is skipped with the driver's reason, and selectors pick as documented."""
import pytest

from pymace.errors import DeviceError
from pymace.runtime import device


def test_icd_folder_adds_the_nvidia_driver(tmp_path, monkeypatch):
    system = tmp_path / "vendors"
    system.mkdir()
    (system / "pocl.icd").write_text("libpocl.so.2\n")
    lib = tmp_path / "libnvidia-opencl.so.1"
    lib.write_bytes(b"")
    monkeypatch.setattr(device, "SYSTEM_VENDORS", str(system))
    monkeypatch.setattr(device, "NVIDIA_LIBS", [str(lib)])
    monkeypatch.setattr(device.tempfile, "gettempdir", lambda: str(tmp_path))
    folder = device._icd_folder()
    assert folder != str(system)
    icds = {p.name: p.read_text() for p in (tmp_path / folder).iterdir()}
    assert icds == {"pocl.icd": "libpocl.so.2\n", "nvidia.icd": f"{lib}\n"}


def test_icd_folder_is_the_system_one_without_nvidia(tmp_path, monkeypatch):
    system = tmp_path / "vendors"
    system.mkdir()
    (system / "pocl.icd").write_text("libpocl.so.2\n")
    monkeypatch.setattr(device, "SYSTEM_VENDORS", str(system))
    monkeypatch.setattr(device, "NVIDIA_LIBS", [str(tmp_path / "absent.so")])
    assert device._icd_folder() == str(system)


def fresh(monkeypatch, tmp_path):
    """Rediscover devices (the list is kept per process) with an empty probe memo."""
    monkeypatch.setattr(device, "_DEVICES", None)
    monkeypatch.setenv("PYMACE_STORAGE_DIR", str(tmp_path))


def test_a_device_that_cannot_build_is_skipped_with_the_reason(tmp_path, monkeypatch):
    fresh(monkeypatch, tmp_path)

    class Broken:
        def __init__(self, *args):
            pass

        def build(self, *args, **kwargs):
            raise device.cl.RuntimeError("clBuildProgram failed: error: unknown target CPU 'generic'")

    monkeypatch.setattr(device.cl, "Program", Broken)
    found = device.list_devices()
    assert found and all(not d.usable and "unknown target CPU" in d.problem for d in found)
    with pytest.raises(DeviceError, match="no OpenCL device matches|not usable"):
        device.select("auto" if len(found) > 1 else found[0].selector)
    assert not (tmp_path / "probed-devices.json").exists()  # failures are never remembered


def test_selectors(tmp_path, monkeypatch):
    fresh(monkeypatch, tmp_path)
    usable = [d for d in device.list_devices() if d.usable]
    if not usable:
        pytest.skip("needs an OpenCL device")
    assert device.select("auto") is device.default_device(usable)
    assert device.select(usable[0].selector) is usable[0]
    for bad in ("tpu", "9:9", "1:x"):
        with pytest.raises(DeviceError):
            device.select(bad)
    assert (tmp_path / "probed-devices.json").exists()  # a warm start skips the probe build
