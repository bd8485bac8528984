"""The compiled-program cache against hostile files (findings/reliability.md §2, §3, §6, §7, §12): memory bounded
by the file, nothing lost when a header field is damaged, one backup, short warnings, special files refused, and
binaries the driver refuses or dies on never break the next start."""
import json
import os
import random
import shutil
import struct
import tracemalloc

import numpy as np
import pytest

from pymace.runtime import program_cache as pc
from pymace.runtime.program_cache import ProgramCache, encode_cache_file, make_entry, parse_cache_file
from tests.hostile.conftest import run_cli
from tests.hostile.test_safe_io import _within

DEV = pc.DeviceRecord("Test GPU 9000", "ACME", "580.159.04", "ACME OpenCL", "OpenCL 3.0 ACME 12.8", "OpenCL C 1.2")
GPU_B = pc.DeviceRecord("GPU B", "Initech", "1.2.3", "Initech CL", "OpenCL 2.0", "OpenCL C 2.0")
NAME = ProgramCache.FILE_NAME


def _shared_region_file(records: int, size: int) -> bytes:
    """The study's file: `records` table entries all pointing at one region of `size` bytes."""
    dev = b"".join(struct.pack("<I", 1) + b"d" for _ in range(6))
    key = b"".join(struct.pack("<I", len(s)) + s for s in (b"p", b"h", b""))
    t0 = 32 + len(dev)
    b0 = t0 + records * (4 + len(key) + 40)
    body = pc.HEADER.pack(b"MCLP", pc.FORMAT_VERSION, records, b0 + size + 32, t0, 1, 32, b0) + dev \
        + (struct.pack("<I", 0) + key + struct.pack("<II", b0, size) + bytes(32)) * records + b"\xab" * size
    import hashlib

    return body + hashlib.sha256(body).digest()


def test_overlapping_binaries_cost_no_copies():
    data = _shared_region_file(200, 1 << 20)  # the study's 4000 records made the reader allocate 4 GB
    tracemalloc.start()
    cache = parse_cache_file(data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2 * len(data), f"parsing a {len(data)}-byte file allocated {peak} bytes"
    assert len(cache.entries) == 1 and any("overlaps" in p for p in cache.problems)


def _two_devices(tmp_path):
    ours = [make_entry(DEV, f"p{i}", f"{i}" * 64, "-DX", os.urandom(300)) for i in range(4)]
    theirs = [make_entry(GPU_B, f"q{i}", f"{i}" * 64, "", os.urandom(200)) for i in range(3)]
    return encode_cache_file(ours + theirs), theirs


def test_header_damage_loses_no_other_devices_entry(tmp_path):
    """Every single-bit flip over the header, the device section and the first table bytes: after the next save
    the other device's intact entries are in the file, or the damaged file is kept as the .bak (the study: 56
    flips lost them with no backup)."""
    blob, theirs = _two_devices(tmp_path)
    want = {e.checksum for e in theirs}
    lost = []
    for byte in range(8, 200):
        for bit in (0, 3, 7):
            d = tmp_path / f"{byte}-{bit}"
            d.mkdir()
            damaged = bytearray(blob)
            damaged[byte] ^= 1 << bit
            (d / NAME).write_bytes(bytes(damaged))
            cache = ProgramCache(d, DEV)
            cache.store("new", "n" * 64, "", b"new binary")
            assert cache.save()
            kept = {e.checksum for e in parse_cache_file((d / NAME).read_bytes()).entries if e.device == GPU_B}
            backup = d / f"{NAME}.bak"
            if not want <= kept and not (backup.exists() and backup.read_bytes() == bytes(damaged)):
                lost.append((byte, bit))
            shutil.rmtree(d)
    assert not lost, f"{len(lost)} flips lost another device's entries without a backup: {lost[:10]}"


def test_the_count_field_flip_of_the_study(tmp_path):
    blob, theirs = _two_devices(tmp_path)
    damaged = bytearray(blob)
    damaged[10] ^= 1  # the entry count
    (tmp_path / NAME).write_bytes(bytes(damaged))
    cache = ProgramCache(tmp_path, DEV)
    cache.store("new", "n" * 64, "", b"new binary")
    assert cache.save()
    kept = [e for e in parse_cache_file((tmp_path / NAME).read_bytes()).entries if e.device == GPU_B]
    assert sorted(e.program for e in kept) == ["q0", "q1", "q2"]


def test_one_backup_however_often_a_foreign_file_comes_back(tmp_path):
    for k in range(6):  # a newer pymace and this one taking turns
        (tmp_path / NAME).write_bytes(b"MCLP" + struct.pack("<I", 0x00020000) + os.urandom(2000 + k))
        cache = ProgramCache(tmp_path, DEV)
        cache.store("p", "h" * 64, "", b"x")
        assert cache.save()
    assert [p.name for p in tmp_path.glob("*.bak")] == [f"{NAME}.bak"]


def test_warnings_are_short(tmp_path, caplog):
    """3000 entries whose binaries were damaged made one ~100 KB warning line."""
    records = 3000
    blob = bytearray(encode_cache_file([make_entry(DEV, f"p{i}", "h" * 64, "", b"b" * 8) for i in range(records)]))
    binaries_at = pc.HEADER.unpack_from(blob)[7]
    for i in range(records):
        blob[binaries_at + 8 * i] ^= 0x55  # every binary damaged: every entry's checksum fails
    (tmp_path / NAME).write_bytes(bytes(blob))
    cache = ProgramCache(tmp_path, DEV)
    assert "checksum bad" in cache.load_warning and len(cache.load_warning) < 600
    assert all(len(r.getMessage()) < 900 for r in caplog.records)


def test_special_files_at_the_cache_path(tmp_path):
    os.mkfifo(tmp_path / NAME)
    out = _within(10, ProgramCache, tmp_path, DEV)
    assert "regular" in out["value"].load_warning
    cache = out["value"]
    cache.store("p", "h" * 64, "", b"x")
    assert cache.save()  # the FIFO is replaced: it held nothing to lose
    other = tmp_path / "zero"
    other.mkdir()
    (other / NAME).symlink_to("/dev/zero")
    assert "regular" in _within(10, ProgramCache, other, DEV)["value"].load_warning


# --- binaries handed to the real driver ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def warm(small_model, tmp_path_factory):
    """A storage dir with small.pmace's programs for this device, and the model's outputs from the reference."""
    storage = tmp_path_factory.mktemp("warm")
    rc, out, err = run_cli("run", small_model[0], "--device", "cpu", "--input", f"x={small_model[0].parent / 'x.npy'}",
                           "--storage-dir", storage, "--output-dir", storage / "o")
    assert rc == 0, err
    rc, out, err = run_cli("run", small_model[0], "--device", "reference", "--input",
                           f"x={small_model[0].parent / 'x.npy'}", "--output-dir", storage / "ref")
    assert rc == 0, err
    return storage, np.load(storage / "ref" / "y.npy")


def _tampered(warm, tmp_path, change) -> str:
    storage = tmp_path / "st"
    storage.mkdir()
    entries = parse_cache_file((warm[0] / NAME).read_bytes()).entries
    (storage / NAME).write_bytes(encode_cache_file(change(entries)))
    return storage


def _rekey(entries, target_of, source_of):
    out = list(entries)
    k = next(i for i, e in enumerate(out) if target_of(e))
    src = next(e for e in out if source_of(e, out[k]))
    e = out[k]
    out[k] = make_entry(e.device, e.program, e.source_hash, e.options, bytes(src.binary))
    return out


def _run(model, storage, out, device="cpu"):
    return run_cli("run", model[0], "--device", device, "--input", f"x={model[0].parent / 'x.npy'}",
                   "--storage-dir", storage, "--output-dir", out, "--json")


CHANGES = {
    "another_programs_binary": lambda es: _rekey(es, lambda e: e.program.startswith("conv"),
                                                 lambda s, t: s.program != t.program),
    "other_options": lambda es: _rekey(es, lambda e: e.program.startswith("conv") and "ACT=1" in e.options,
                                       lambda s, t: s.program == t.program and s.options != t.options),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_binary_that_is_not_the_program_is_rebuilt(small_model, warm, tmp_path, change):
    """INVALID_KERNEL_NAME was a traceback on every run; the same kernel built with other -D values gave wrong
    outputs with exit 0. Now: a miss, a rebuild, the right outputs, and the entry rewritten."""
    storage = _tampered(warm, tmp_path, CHANGES[change])
    for k in range(2):
        rc, out, err = _run(small_model, storage, tmp_path / f"o{k}")
        assert rc == 0, err[-2000:]
        np.testing.assert_allclose(np.load(tmp_path / f"o{k}" / "y.npy"), warm[1], rtol=1e-4, atol=1e-6)
        built = json.loads(out)["init"]["programs_from_source"]
        assert built == (1 if k == 0 else 0), f"start {k}: {built} programs built from source"


def _cut(count: int):
    """`count` entries' binaries cut in half (PoCL dies on them: SIGSEGV or SIGABRT), checksums made valid."""
    def cut(es):
        out = list(es)
        for k in random.Random().sample(range(len(out)), count):
            e = out[k]
            out[k] = make_entry(e.device, e.program, e.source_hash, e.options, bytes(e.binary)[:len(e.binary) // 2])
        return out
    return cut


def _init(out: str) -> dict:
    return json.loads(out)["init"]


@pytest.mark.parametrize("count", [1, 2])
def test_a_binary_that_kills_the_driver_kills_only_a_probe(small_model, warm, tmp_path, count):
    """A truncated binary made PoCL abort on every run, until the user deleted the file; then the first start died
    and the second ran. Now a binary new to this machine is loaded first by a probe process: the one that dies is
    the probe, and the start itself runs, builds those programs from source and rewrites them; the next start
    loads every binary and probes none (what it loaded is in the ledger)."""
    storage = _tampered(warm, tmp_path, _cut(count))
    programs = len(parse_cache_file((storage / NAME).read_bytes()).entries)
    for k, built, probed in ((0, count, programs), (1, 0, 0)):
        rc, out, err = _run(small_model, storage, tmp_path / f"o{k}")
        assert rc == 0, err[-2000:]
        np.testing.assert_allclose(np.load(tmp_path / f"o{k}" / "y.npy"), warm[1], rtol=1e-4, atol=1e-6)
        init = _init(out)
        assert (init["programs_from_source"], init["binaries_probed"]) == (built, probed), f"start {k}: {init}"
        refused = [m for m in init["cache_misses"] if "driver refused the binary" in m["reason"]]
        assert len(refused) == built, init["cache_misses"]
    assert not list(storage.glob(f"{NAME}.loading.*"))


def test_a_binary_the_ledger_vouches_for_that_kills_the_driver(small_model, warm, tmp_path):
    """The ledger is as trusted as the cache beside it: forged to vouch for two truncated binaries, they reach this
    process's driver, which dies. The load journal then holds the line: the next start loads none of the file's
    binaries (it could not name what the dead process had not reached: fuzz_driver case 193), the one after it
    loads them all, rewritten."""
    storage = _tampered(warm, tmp_path, _cut(2))
    entries = parse_cache_file((storage / NAME).read_bytes()).entries
    (storage / f"{NAME}.proven").write_text("".join(bytes(e.checksum).hex() + "\n" for e in entries))
    rc, out, err = _run(small_model, storage, tmp_path / "o0")
    assert rc < 0, f"the first start loaded a truncated binary and lived (rc {rc}): {err[-2000:]}"
    for k, built in ((1, len(entries)), (2, 0)):
        rc, out, err = _run(small_model, storage, tmp_path / f"o{k}")
        assert rc == 0, err[-2000:]
        np.testing.assert_allclose(np.load(tmp_path / f"o{k}" / "y.npy"), warm[1], rtol=1e-4, atol=1e-6)
        assert (_init(out)["programs_from_source"], _init(out)["binaries_probed"]) == (built, 0), f"start {k}"
    assert not list(storage.glob(f"{NAME}.loading.*"))


def test_a_start_after_a_death_loads_none_of_the_files_binaries(tmp_path):
    """The journal a dead process left names what it had handed to the driver, not what it would have loaded next:
    the start that finds it loads no binary of the file; the next trusts the file again, less what it named."""
    entries = [make_entry(DEV, f"p{i}", f"{i}" * 64, "-DX", os.urandom(300)) for i in range(3)]
    (tmp_path / NAME).write_bytes(encode_cache_file(entries))
    (tmp_path / f"{NAME}.loading.1.0badf00d").write_text(entries[0].checksum.hex() + "\n")  # nobody holds it
    after = ProgramCache(tmp_path, DEV)
    assert [after.lookup(e.program, e.source_hash, e.options) for e in entries] == [None] * 3
    assert [r for _, r in after.misses][1:] == ["not loaded: an earlier process died while loading this file's "
                                                "binaries"] * 2
    after.store("p1", "1" * 64, "-DX", b"rebuilt")
    assert after.save() and not list(tmp_path.glob(f"{NAME}.loading.*"))
    then = ProgramCache(tmp_path, DEV)
    got = [then.lookup(e.program, e.source_hash, e.options) for e in entries]
    then.loaded_ok()
    assert got == [None, b"rebuilt", entries[2].binary]


def test_a_storage_dir_others_can_write_is_named(small_model, warm, tmp_path):
    storage = tmp_path / "shared"
    shutil.copytree(warm[0], storage)
    os.chmod(storage, 0o777)
    rc, out, err = _run(small_model, storage, tmp_path / "o")
    assert rc == 0 and "writable by group and others" in err and "docs/security.md" in err


def test_a_damaged_file_whose_entries_all_hit_is_rewritten(small_model, warm, tmp_path):
    """The file's own checksum bad, every entry intact: the warning repeated on every run, the file never
    rewritten. Now the first run rewrites it clean and the second has nothing to say."""
    storage = tmp_path / "st"
    shutil.copytree(warm[0], storage)
    data = bytearray((storage / NAME).read_bytes())
    data[-1] ^= 0xFF  # the trailing file hash
    (storage / NAME).write_bytes(bytes(data))
    for k in range(2):
        rc, out, err = _run(small_model, storage, tmp_path / f"o{k}")
        assert rc == 0, err[-2000:]
        init = json.loads(out)["init"]
        assert init["programs_from_source"] == 0 and bool(init["cache_warning"]) == (k == 0), init
    assert parse_cache_file((storage / NAME).read_bytes()).problems == []
    assert not list(storage.glob(f"{NAME}.loading.*"))  # the programs were built: no journal is left


def test_a_bundles_symlinks_are_not_followed(tmp_path):
    """`cache import` copied a bundle's driver-cache files with is_file() and copy2, which follow symlinks: a
    link in the bundle copied any file the user can read into the storage dir, and a dangling link planted in
    the storage dir was written through."""
    from pymace.runtime import driver_caches
    from pymace.tools import cache_bundle

    bundle, storage = tmp_path / "bundle", tmp_path / "storage"
    (bundle / cache_bundle.MANIFEST).parent.mkdir()
    (bundle / cache_bundle.MANIFEST).write_text("{}")
    src, dst = driver_caches.folder(bundle, "pocl"), driver_caches.folder(storage, "pocl")
    src.mkdir(parents=True)
    dst.mkdir(parents=True)
    (tmp_path / "secret").write_text("the user's own file")
    (src / "kernel.so").write_bytes(b"compiled")
    (src / "stolen").symlink_to(tmp_path / "secret")
    (src / "planted").write_bytes(b"from the bundle")
    (dst / "planted").symlink_to(tmp_path / "victim")  # dangling: exists() is False
    result = cache_bundle.unpack(str(bundle), str(storage))
    assert result["driver_files"] == 1 and (dst / "kernel.so").read_bytes() == b"compiled"
    assert not os.path.lexists(dst / "stolen") and not (tmp_path / "victim").exists()
