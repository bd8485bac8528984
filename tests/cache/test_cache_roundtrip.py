"""The program cache keeps what it is given, for the device it was built for, and says why it misses."""
import dataclasses
import hashlib

import numpy as np
import pytest

from pymace.runtime.driver_caches import no_other_caches_env
from pymace.runtime.program_cache import (
    DeviceRecord,
    ProgramCache,
    parse_cache_file,
    source_hash,
)
from tests.cache.common import DEVICE, ENTRIES, OTHER_DEVICE, fill


def test_round_trip_of_real_pocl_binaries(tmp_path, pocl):
    _, _, cl_device, built = pocl
    device = DeviceRecord.from_cl_device(cl_device)
    cache = ProgramCache(tmp_path, device)
    assert cache.path == tmp_path / "mace_cl_compiled_program.bin" and cache.load_warning is None
    for name, (options, digest, binary) in built.items():
        assert cache.lookup(name, digest, options) is None
        cache.store(name, digest, options, binary)
    assert cache.save()

    again = ProgramCache(tmp_path, device)
    for name, (options, digest, binary) in built.items():
        assert again.lookup(name, digest, options) == binary
    assert again.hits == len(built) and again.misses == [] and again.load_warning is None
    assert parse_cache_file(cache.path.read_bytes()).problems == []


def test_binary_from_the_cache_loads_back_into_the_driver(tmp_path, pocl):
    cl, context, cl_device, built = pocl
    device = DeviceRecord.from_cl_device(cl_device)
    options, digest, binary = built["scale"]
    fill(tmp_path, device, [("scale", digest, options, binary)])

    cached = ProgramCache(tmp_path, device).lookup("scale", digest, options)
    program = cl.Program(context, [cl_device], [cached]).build()
    queue = cl.CommandQueue(context)
    host = np.arange(8, dtype=np.float32)
    buffer = cl.Buffer(context, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR, hostbuf=host)
    program.scale(queue, host.shape, None, buffer)
    result = np.empty_like(host)
    cl.enqueue_copy(queue, result, buffer)
    np.testing.assert_array_equal(result, host * 3)


def _changed(field, value):
    return dataclasses.replace(DEVICE, **{field: value})


@pytest.mark.parametrize("device, program, options, reason", [
    (_changed("driver_version", "580.170.01"), "conv", ENTRIES[0][2], "driver 580.159.04 → 580.170.01"),
    (_changed("platform_name", "Other CL"), "conv", ENTRIES[0][2], "platform ACME OpenCL → Other CL"),
    (_changed("platform_version", "OpenCL 3.0 ACME 13.0"), "conv", ENTRIES[0][2],
     "platform version OpenCL 3.0 ACME 12.8 → OpenCL 3.0 ACME 13.0"),
    (_changed("opencl_c_version", "OpenCL C 3.0"), "conv", ENTRIES[0][2],
     "OpenCL C version OpenCL C 1.2 → OpenCL C 3.0"),
    (_changed("name", "Test GPU 9001"), "conv", ENTRIES[0][2], "built for another device: Test GPU 9000 (ACME)"),
    (_changed("vendor", "ACME2"), "conv", ENTRIES[0][2], "built for another device: Test GPU 9000 (ACME)"),
    (DEVICE, "conv", "-DUSE_RELU", "options differ: '-DUSE_RELU -DDATA_TYPE=float' → '-DUSE_RELU'"),
    (DEVICE, "gemm", "", "not in cache"),
])
def test_each_mismatch_is_a_miss_with_its_reason(tmp_path, device, program, options, reason):
    fill(tmp_path)
    cache = ProgramCache(tmp_path, device)
    digest = ENTRIES[0][1] if program == "conv" else "d" * 64
    assert cache.lookup(program, digest, options) is None
    assert cache.misses == [(f"{program} {options}".strip(), reason)] and cache.hits == 0


def test_changed_source_is_a_miss(tmp_path):
    fill(tmp_path)
    cache = ProgramCache(tmp_path, DEVICE)
    assert cache.lookup("conv", "f" * 64, ENTRIES[0][2]) is None
    assert cache.misses == [(f"conv {ENTRIES[0][2]}", "source changed")]


def test_several_differences_are_all_named(tmp_path):
    fill(tmp_path)
    cache = ProgramCache(tmp_path, _changed("driver_version", "581"))
    assert cache.lookup("conv", "f" * 64, ENTRIES[0][2]) is None
    assert cache.misses[0][1] == "driver 580.159.04 → 581; source changed"


def test_other_format_version_is_a_miss_naming_the_version(tmp_path, warnings_logged):
    cache = fill(tmp_path)
    data = bytearray(cache.path.read_bytes())
    data[4:8] = (0x00010001).to_bytes(4, "little")
    cache.path.write_bytes(bytes(data))
    again = ProgramCache(tmp_path, DEVICE)
    assert again.lookup(*ENTRIES[0][:3]) is None
    assert "format version 0x00010001" in again.misses[0][1] and "format version" in warnings_logged()[0]


def test_devices_share_one_file_without_evicting_each_other(tmp_path):
    fill(tmp_path, DEVICE)
    other_entries = [(p, h, o, b"other:" + b) for p, h, o, b in ENTRIES]
    fill(tmp_path, OTHER_DEVICE, other_entries)
    parsed = parse_cache_file((tmp_path / ProgramCache.FILE_NAME).read_bytes())
    assert parsed.devices == [DEVICE, OTHER_DEVICE] or parsed.devices == [OTHER_DEVICE, DEVICE]
    assert len(parsed.entries) == 2 * len(ENTRIES)
    for device, entries in ((DEVICE, ENTRIES), (OTHER_DEVICE, other_entries)):
        cache = ProgramCache(tmp_path, device)
        assert [cache.lookup(p, h, o) for p, h, o, _ in entries] == [b for *_, b in entries]


def test_rebuilt_program_replaces_its_stale_binary(tmp_path):
    fill(tmp_path)
    newer = dataclasses.replace(DEVICE, driver_version="581")
    cache = ProgramCache(tmp_path, newer)
    cache.store("conv", ENTRIES[0][1], ENTRIES[0][2], b"rebuilt")
    assert cache.save()
    parsed = parse_cache_file(cache.path.read_bytes())
    conv = [e for e in parsed.entries if e.program == "conv"]
    assert [(e.device, e.binary) for e in conv] == [(newer, b"rebuilt")]
    assert len(parsed.entries) == len(ENTRIES)  # the others stay


def test_save_without_changes_writes_nothing(tmp_path):
    cache = ProgramCache(tmp_path, DEVICE)
    assert cache.save() and not cache.path.exists()
    fill(tmp_path)
    before = cache.path.stat().st_mtime_ns
    cache = ProgramCache(tmp_path, DEVICE)
    cache.store(*ENTRIES[0])  # already there, byte for byte
    assert cache.save() and cache.path.stat().st_mtime_ns == before


def test_checksum_is_verified_at_lookup(tmp_path):
    fill(tmp_path)
    cache = ProgramCache(tmp_path, DEVICE)
    entry = cache._entries[(DEVICE, *ENTRIES[0][:3])]
    # the binary changes in memory after loading: the lookup must notice, not hand it to the driver
    cache._entries[entry.key] = dataclasses.replace(entry, binary=bytes(entry.binary)[:-1] + b"X")
    assert cache.lookup(*ENTRIES[0][:3]) is None
    assert cache.misses[-1][1] == "checksum bad"
    assert cache.lookup(*ENTRIES[1][:3]) == ENTRIES[1][3]


def test_helpers():
    assert source_hash("kernel é") == hashlib.sha256("kernel é".encode()).hexdigest()
    assert no_other_caches_env() == {"PYOPENCL_NO_CACHE": "1", "POCL_KERNEL_CACHE": "0", "CUDA_CACHE_DISABLE": "1"}
