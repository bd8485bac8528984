"""`pymace inspect` of hostile files (findings/reliability.md §4, §7, §12): a FIFO or /dev/zero is refused at
once, and --extract never writes through a symlink planted in DIR."""
import os
import struct
import time

from pymace.tools.inspect import extract, inspect, render_text
from tests.hostile.conftest import run_cli
from tests.hostile.test_safe_io import _within


def layout_a(pairs) -> bytes:
    out = [struct.pack("<q", len(pairs))]
    for k, v in pairs:
        out += [struct.pack("<i", len(k)), k, struct.pack("<i", len(v)), v]
    return b"".join(out)


PROGRAMS = [(b"mace_opencl_precompiled_platform_info_key", b"ARM Platform, FULL_PROFILE, OpenCL 2.1"),
            (b"conv_2d.cl-DCONV", b"\x7fELF" + b"\1" * 64)]


def test_fifo_and_dev_zero_are_unreadable_at_once(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "zero").symlink_to("/dev/zero")
    for name in ("fifo", "zero"):
        out = _within(10, inspect, tmp_path / name)
        assert out["value"]["format"] == "unreadable" and "regular" in out["value"]["reason"]
    rc, stdout, err = run_cli("inspect", tmp_path / "fifo", "--device", "reference", timeout=60)
    assert "unreadable" in stdout and "Traceback" not in err


def test_extract_never_writes_through_a_planted_symlink(tmp_path):
    (tmp_path / "cache.bin").write_bytes(layout_a(PROGRAMS))
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.elf"
    (out / "000-conv_2d_cl-DCONV-program.elf").symlink_to(victim)  # dangling: exists() is False
    rc, stdout, err = run_cli("inspect", tmp_path / "cache.bin", "--extract", out, "--device", "reference")
    assert rc == 1 and "empty directory" in err
    assert not victim.exists()


def test_extract_writes_complete_files(tmp_path):
    (tmp_path / "cache.bin").write_bytes(layout_a(PROGRAMS))
    written = extract(tmp_path / "cache.bin", tmp_path / "out")
    assert [p.read_bytes() for p in written] == [PROGRAMS[1][1]]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [p.name for p in written]


def _render_seconds(tmp_path, pairs: int) -> float:
    (tmp_path / f"c{pairs}").write_bytes(layout_a([(b"k%d" % i, b"v" * 10) for i in range(pairs)]))
    report = inspect(tmp_path / f"c{pairs}")
    assert len(report["entries"]) == pairs
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        text = render_text(report)
        best = min(best, time.perf_counter() - t0)
    assert f"k{pairs - 1}" in text
    return best


def test_text_report_is_linear_in_the_entries(tmp_path):
    """The text of a 4 MB file with 200k pairs took 85 s (a rich Table, quadratic), its --json 3 s. Four times
    the entries must cost about four times the rendering (quadratic would be 16), not measured in seconds so that a
    slow machine does not fail it."""
    small, large = _render_seconds(tmp_path, 20_000), _render_seconds(tmp_path, 80_000)
    assert large < 8 * small + 0.05, f"20k pairs {small:.3f} s, 80k pairs {large:.3f} s"
