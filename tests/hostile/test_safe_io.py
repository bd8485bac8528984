"""pymace/safe_io.py and the files it guards: special files are refused without blocking, reads stop at their
limit, .npy headers are checked against the bytes before anything is allocated, outputs replace their target
atomically and never write through a planted symlink. Also the .pmace member checks (no compressed member: a
3.9 KB bzip2 model took 3.1 GB to load)."""
import os
import threading
import zipfile

import numpy as np
import pytest

from pymace import safe_io
from pymace.errors import ModelError
from pymace.ir import pmace_file
from tests.hostile.conftest import assert_one_line_error, rewrite, run_cli


def _within(seconds, fn, *args):
    """fn(*args) in a thread; fails if it has not returned after `seconds` (a FIFO would block forever)."""
    out = {}

    def go():
        try:
            out["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            out["error"] = e
    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"{fn.__name__} blocked for {seconds} s"
    return out


def test_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    out = _within(10, safe_io.read_bounded, tmp_path / "fifo", 100)
    assert isinstance(out.get("error"), safe_io.NotRegularFileError)


def test_dev_zero_through_a_symlink_is_refused(tmp_path):
    (tmp_path / "zero").symlink_to("/dev/zero")
    with pytest.raises(safe_io.NotRegularFileError):
        safe_io.read_bounded(tmp_path / "zero", 1 << 20)


def test_directory_is_refused(tmp_path):
    with pytest.raises(safe_io.NotRegularFileError):
        safe_io.read_bounded(tmp_path, 100)


def test_reads_stop_at_the_limit(tmp_path):
    (tmp_path / "f").write_bytes(b"x" * 101)
    with pytest.raises(safe_io.FileTooLargeError):
        safe_io.read_bounded(tmp_path / "f", 100)
    assert safe_io.read_bounded(tmp_path / "f", 101) == b"x" * 101


def test_a_small_file_under_a_huge_limit_asks_for_its_size(tmp_path):
    """read(limit + 1) allocated the limit up front: a 1 TiB limit was a MemoryError for a 4-byte file, and the
    program cache's 4 GiB limit one on a machine with less memory than that."""
    (tmp_path / "f").write_bytes(b"abcd")
    assert safe_io.read_bounded(tmp_path / "f", 1 << 40) == b"abcd"


def test_a_file_that_grows_while_read_is_still_bounded(tmp_path, monkeypatch):
    """fstat said 10 bytes; 5000 are there by the time they are read."""
    (tmp_path / "f").write_bytes(b"y" * 5000)
    real = os.fstat

    def shrunk(fd):
        st = list(real(fd))
        st[6] = 10  # st_size
        return os.stat_result(st)
    monkeypatch.setattr(safe_io.os, "fstat", shrunk)
    with pytest.raises(safe_io.FileTooLargeError):
        safe_io.read_bounded(tmp_path / "f", 100)
    assert safe_io.read_bounded(tmp_path / "f", 10_000) == b"y" * 5000
    assert safe_io.read_bounded(tmp_path / "f", 5000) == b"y" * 5000


def test_npy_header_must_match_the_bytes():
    f = safe_io.npy_bytes(np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(safe_io.npy_from_buffer(bytearray(f), "a"), np.arange(6).reshape(2, 3))
    assert safe_io.npy_from_buffer(bytearray(f), "a").flags.writeable
    with pytest.raises(ValueError, match="claims"):
        safe_io.npy_from_buffer(f[:-4], "a")
    with pytest.raises(ValueError, match="claims"):
        safe_io.npy_from_buffer(f + b"\0" * 4, "a")
    with pytest.raises(ValueError, match="number type"):
        safe_io.npy_from_buffer(safe_io.npy_bytes(np.array(["a", "b"])), "a")
    with pytest.raises(ValueError, match="not a readable"):
        safe_io.npy_from_buffer(b"\x93NUMPY\x09\x00", "a")
    fortran = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(safe_io.npy_from_buffer(safe_io.npy_bytes(fortran), "f"), fortran)


def test_atomic_writer_replaces_a_planted_symlink_and_leaves_no_temp(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / "out.npy").symlink_to(victim)
    for name in ("out.npy.tmp", ".out.npy.tmp"):  # the names a fixed-suffix writer would use
        (tmp_path / name).symlink_to(victim)
    safe_io.save_npy_atomic(tmp_path / "out.npy", np.ones(3, np.float32))
    assert victim.read_bytes() == b"precious"
    assert not (tmp_path / "out.npy").is_symlink()
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), np.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.npy.tmp", "out.npy", "out.npy.tmp", "victim"]


def test_atomic_writer_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "m"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with safe_io.atomic_writer(target) as f:
            f.write(b"half")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_atomic_writer_honours_the_umask(tmp_path):
    safe_io.write_atomic(tmp_path / "f", b"x")
    want = 0o666 & ~safe_io._umask()
    assert (tmp_path / "f").stat().st_mode & 0o777 == want


def test_shorten():
    assert safe_io.shorten("abc", 5) == "abc"
    cut = safe_io.shorten("x" * 100_000)
    assert len(cut) < safe_io.WARNING_CHARS + 40 and "99600 more characters" in cut


# --- .pmace: members stored, sizes within the file, special files refused ------------------------------------
def test_compressed_member_is_refused(small_model, tmp_path):
    bomb = tmp_path / "bomb.pmace"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_BZIP2) as z:
        z.writestr("graph.json", b" " * (200 << 20))  # 200 MB of spaces: a few hundred bytes compressed
    assert bomb.stat().st_size < 10_000
    with pytest.raises(ModelError, match="compressed"):
        pmace_file.load(str(bomb))
    with pytest.raises(ModelError, match="compressed"):
        pmace_file.read_metadata(str(bomb))
    rewrite(small_model[0], tmp_path / "deflated.pmace", compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(ModelError, match="compressed"):
        pmace_file.load(str(tmp_path / "deflated.pmace"))


def test_members_claiming_more_than_the_file_are_refused(small_model, tmp_path):
    """Stored members that overlap (each entry of the central directory pointing at the same bytes) would read
    the same bytes many times over."""
    blob = bytearray(small_model[0].read_bytes())
    with zipfile.ZipFile(small_model[0]) as z:
        infos = z.infolist()
    end = blob.rindex(b"PK\x05\x06")
    central = int.from_bytes(blob[end + 16:end + 20], "little")
    first = blob.index(b"PK\x01\x02", central)
    entry = blob[first:blob.index(b"PK\x01\x02", first + 4)]  # graph.json's central directory entry
    copies = 200
    names = [b"const/%d.npy" % (k + len(infos)) for k in range(copies)]
    extra = b"".join(entry[:28] + len(n).to_bytes(2, "little") + entry[30:46] + n for n in names)
    new = blob[:end] + extra + blob[end:]
    count = len(infos) + copies
    tail = len(blob[:end]) + len(extra)
    new[tail + 8:tail + 10] = count.to_bytes(2, "little")
    new[tail + 10:tail + 12] = count.to_bytes(2, "little")
    size = int.from_bytes(new[tail + 12:tail + 16], "little") + len(extra)
    new[tail + 12:tail + 16] = size.to_bytes(4, "little")
    (tmp_path / "overlap.pmace").write_bytes(bytes(new))
    with pytest.raises(ModelError):
        pmace_file.load(str(tmp_path / "overlap.pmace"))


def test_fifo_model_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "m.pmace")
    out = _within(10, pmace_file.load, str(tmp_path / "m.pmace"))
    assert isinstance(out.get("error"), ModelError)


def test_save_never_writes_through_a_planted_temp_symlink(small_model, tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / "m.pmace.tmp").symlink_to(victim)
    graph = pmace_file.load(str(small_model[0]))
    pmace_file.save(graph, str(tmp_path / "m.pmace"))
    assert victim.read_bytes() == b"precious"
    assert pmace_file.load(str(tmp_path / "m.pmace")).tensors["y"].shape == (1, 4)


def test_npy_input_claiming_1e12_elements_is_one_line(small_model, tmp_path):
    f = tmp_path / "big.npy"
    with open(f, "wb") as out:
        np.lib.format.write_array_header_1_0(out, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
        out.write(b"\0" * 64)
    rc, o, err = run_cli("run", small_model[0], "--device", "reference", "--input", f"x={f}",
                         "--output-dir", tmp_path / "o")
    assert_one_line_error(rc, o, err, "claims")


def test_run_outputs_replace_a_planted_symlink(small_model, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (out / "y.npy").symlink_to(victim)
    rc, o, err = run_cli("run", small_model[0], "--device", "reference", "--input",
                         f"x={small_model[0].parent / 'x.npy'}", "--output-dir", out)
    assert rc == 0, err
    assert victim.read_bytes() == b"precious"
    assert np.load(out / "y.npy").shape == (1, 4)
    assert sorted(p.name for p in out.iterdir()) == ["y.npy"]
