"""A damaged, truncated, foreign or future cache file costs a warning and a rebuild — never an exception, never a
wrong binary, never the loss of a file pymace did not write."""
import hashlib
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pymace.runtime.program_cache import HEADER, ProgramCache, encode_cache_file, parse_cache_file
from tests.cache.common import DEVICE, ENTRIES, fill, synthetic_entries

VALID = encode_cache_file(synthetic_entries())
ORIGINAL = {e.key: e.binary for e in synthetic_entries()}


def assert_never_wrong(data: bytes) -> None:
    """The parser's promise for any input: no exception, and every entry that verifies is one that was written."""
    for entry in parse_cache_file(data).entries:
        if entry.intact():
            assert ORIGINAL[entry.key] == entry.binary


def boundaries(data: bytes) -> list[int]:
    """Offsets where a structure of the file starts or ends, walked as docs/cache-format.md describes."""
    _, _, count, size, table_at, device_count, devices_at, binaries_at = HEADER.unpack_from(data)
    points = set(range(0, HEADER.size + 1, 4)) | {size - 32, size - 1}
    offset = devices_at
    for _ in range(device_count * 6):
        points.add(offset)
        offset += 4 + struct.unpack_from("<I", data, offset)[0]
    assert offset == table_at
    for _ in range(count):
        points.add(offset)
        offset += 4
        for _ in range(3):
            offset += 4 + struct.unpack_from("<I", data, offset)[0]
        start, length = struct.unpack_from("<II", data, offset)
        points |= {offset, offset + 8, start, start + length}
        offset += 8 + 32
    assert offset == binaries_at
    return sorted(points)


def check_falls_back(storage, data: bytes, warnings_logged) -> ProgramCache:
    """Load `data` as the cache file: a warning, no binary but the right one, and a clean file after a rebuild."""
    path = storage / ProgramCache.FILE_NAME
    path.write_bytes(data)
    cache = ProgramCache(storage, DEVICE)
    assert cache.load_warning and any(cache.load_warning in w for w in warnings_logged())
    for program, digest, options, binary in ENTRIES:
        found = cache.lookup(program, digest, options)
        assert found in (None, binary)
        if found is None:
            cache.store(program, digest, options, binary)  # what the runtime does after building from source
    assert cache.save()
    rewritten = parse_cache_file(path.read_bytes())
    assert rewritten.problems == [] and {e.key: e.binary for e in rewritten.entries} == ORIGINAL
    return cache


def test_every_truncation_parses_safely():
    for length in range(len(VALID)):
        assert_never_wrong(VALID[:length])
        assert parse_cache_file(VALID[:length]).problems


def test_truncation_at_each_structural_boundary_falls_back(tmp_path, warnings_logged):
    for cut in boundaries(VALID):
        check_falls_back(tmp_path, VALID[:cut], warnings_logged)


def test_truncation_keeps_the_entries_it_can(tmp_path, warnings_logged):
    last_binary_start = max(VALID.index(b) for *_, b in ENTRIES)
    cache = check_falls_back(tmp_path, VALID[:last_binary_start + 1], warnings_logged)
    assert cache.hits == len(ENTRIES) - 1


def test_every_byte_flip_is_noticed():
    for offset in range(len(VALID)):
        damaged = bytearray(VALID)
        damaged[offset] ^= 0xFF
        assert_never_wrong(bytes(damaged))
        assert parse_cache_file(bytes(damaged)).problems, offset


@pytest.mark.parametrize("offset", [4, 40, len(VALID) // 2, len(VALID) - 40, len(VALID) - 1])
def test_bit_flip_falls_back(tmp_path, warnings_logged, offset):
    damaged = bytearray(VALID)
    damaged[offset] ^= 0x10
    check_falls_back(tmp_path, bytes(damaged), warnings_logged)


def with_field(data: bytes, offset: int, value: int, fix_hash: bool = False) -> bytes:
    damaged = bytearray(data)
    damaged[offset:offset + 4] = struct.pack("<I", value)
    if fix_hash:  # a file that looks whole: only the per-entry checksums can catch it
        damaged[-32:] = hashlib.sha256(damaged[:-32]).digest()
    return bytes(damaged)


TABLE_AT = HEADER.unpack_from(VALID)[4]
FIRST_BINARY_FIELDS = TABLE_AT + 4 + sum(4 + len(s.encode()) for s in sorted(ENTRIES)[0][:3])


@pytest.mark.parametrize("offset, value", [
    (8, 0xFFFFFFFF), (8, 1000), (8, 0),  # entry count
    (12, 0), (12, 0xFFFFFFFF), (12, len(VALID) - 1),  # file size
    (16, 0xFFFFFFF0), (16, 0), (16, 5),  # table offset
    (20, 0xFFFFFFFF), (20, 0),  # device count
    (24, 0xFFFFFFF0), (24, 1),  # device offset
    (28, 0xFFFFFFFF), (28, 0),  # binaries offset
    (32, 0xFFFFFFFF),  # first string length
    (TABLE_AT, 7),  # device index
    (FIRST_BINARY_FIELDS, 0), (FIRST_BINARY_FIELDS, 0xFFFFFFFF),  # binary offset
    (FIRST_BINARY_FIELDS + 4, 0xFFFFFFFF), (FIRST_BINARY_FIELDS + 4, 1),  # binary size
])
@pytest.mark.parametrize("fix_hash", [False, True])
def test_wrong_sizes_offsets_and_counts_fall_back(tmp_path, warnings_logged, offset, value, fix_hash):
    damaged = with_field(VALID, offset, value, fix_hash)
    assert_never_wrong(damaged)
    if damaged != VALID:
        check_falls_back(tmp_path, damaged, warnings_logged)


def test_tampered_entry_in_a_consistent_file_is_refused(tmp_path, warnings_logged):
    # Rewrite an entry's options to those another lookup asks for and make the whole-file hash match again:
    # the entry's own checksum still refuses to hand the binary out under the wrong key.
    cache = fill(tmp_path)
    data = bytearray(cache.path.read_bytes())
    at = data.index(b"-DUSE_RELU -DDATA_TYPE=float")
    data[at:at + 10] = b"-DUSE_GELU"
    data[-32:] = hashlib.sha256(data[:-32]).digest()
    cache.path.write_bytes(bytes(data))
    again = ProgramCache(tmp_path, DEVICE)
    assert again.load_warning == "entry 0 (conv) checksum bad"  # the file looks whole; its entry does not
    assert again.lookup("conv", ENTRIES[0][1], "-DUSE_GELU -DDATA_TYPE=float") is None
    assert again.misses == [("conv -DUSE_GELU -DDATA_TYPE=float", "checksum bad")]
    assert again.lookup(*ENTRIES[1][:3]) == ENTRIES[1][3]  # the other entries still serve


@pytest.mark.parametrize("name, content, reason", [
    ("future version", with_field(VALID, 4, 0x00020000), "format version 0x00020000"),
    ("MACE file", struct.pack("<q", 1) + struct.pack("<i", 3) + b"key" + struct.pack("<i", 2) + b"vv",
     "not a pymace cache"),
    ("garbage", b"\x89PNG\r\n\x1a\n" + bytes(100), "not a pymace cache"),
])
def test_foreign_and_future_files_are_kept_aside_and_replaced(tmp_path, warnings_logged, name, content, reason):
    path = tmp_path / ProgramCache.FILE_NAME
    path.write_bytes(content)
    cache = ProgramCache(tmp_path, DEVICE)
    assert reason in cache.load_warning
    assert cache.lookup(*ENTRIES[0][:3]) is None
    cache.store(*ENTRIES[0])
    assert cache.save()
    backups = list(tmp_path.glob(ProgramCache.FILE_NAME + "*.bak"))
    assert [b.read_bytes() for b in backups] == [content]  # nothing the user had is lost, in one backup
    assert any("kept it as" in w for w in warnings_logged())
    assert ProgramCache(tmp_path, DEVICE).lookup(*ENTRIES[0][:3]) == ENTRIES[0][3]


def test_empty_file_falls_back(tmp_path, warnings_logged):
    check_falls_back(tmp_path, b"", warnings_logged)


def test_leftover_temp_files_are_ignored_and_cleaned(tmp_path):
    fill(tmp_path)
    leftover = tmp_path / (ProgramCache.FILE_NAME + ".x1y2z3.tmp")
    leftover.write_bytes(b"half a file")
    cache = ProgramCache(tmp_path, DEVICE)
    assert cache.load_warning is None and cache.lookup(*ENTRIES[0][:3]) == ENTRIES[0][3]
    cache.store("extra", "e" * 64, "", b"extra")
    assert cache.save()
    cache.loaded_ok()  # the binary handed out proved itself: its load journal goes
    assert not leftover.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [ProgramCache.FILE_NAME, ProgramCache.FILE_NAME + ".lock"]


def test_a_cache_under_another_name_cleans_its_own_temp_files(tmp_path):
    name = "shipped[v2].bin"  # a file name of the user's, glob characters included
    leftover = tmp_path / (name + ".x1y2z3.tmp")
    leftover.write_bytes(b"half a file")
    cache = ProgramCache(tmp_path, DEVICE, file_name=name)
    cache.store(*ENTRIES[0])
    assert cache.save()
    assert not leftover.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name, name + ".lock"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_parser_survives_random_damage(data):
    damaged = bytearray(VALID)
    for _ in range(data.draw(st.integers(1, 8))):
        action = data.draw(st.sampled_from(["set", "cut", "insert", "delete"]))
        at = data.draw(st.integers(0, max(len(damaged) - 1, 0)))
        if action == "set" and damaged:
            damaged[at] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del damaged[at:]
        elif action == "insert":
            damaged[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        else:
            del damaged[at:at + data.draw(st.integers(1, 16))]
    assert_never_wrong(bytes(damaged))
