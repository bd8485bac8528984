"""inspect as a CI gate: the --model coverage in text, a summary line, exit codes (0 usable, 1 damaged or not
covering, 2 unreadable or unknown), a truncated MACE file named as such, no BrokenPipe traceback, and text that
stays linear in the number of entries."""
from __future__ import annotations

import lzma
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from pymace.tools import inspect

FIXTURES = Path(__file__).parent.parent / "cache" / "fixtures"


def pymace(*args):
    done = subprocess.run([sys.executable, "-m", "pymace.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=600)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def built_cache(small_pmace, storage):
    """The cache the small model's programs went into (built for --device cpu)."""
    from pymace import Engine

    return Engine(small_pmace, device="cpu", storage_dir=storage).init_stats["cache_file"]


def test_model_coverage_and_summary_in_text(built_cache, small_pmace):
    code, out, err = pymace("inspect", built_cache, "--model", small_pmace, "--device", "cpu")
    assert code == 0, err
    assert "coverage of " + small_pmace in out and "programs — complete" in out
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("summary: ") and " usable here" in summary and "programs small.pmace needs" in summary


def test_not_covering_exits_1(built_cache, tmp_path):
    """A model whose programs are not in the file (another op) does not pass the gate."""
    from pymace.ir import pmace_file
    from pymace.ir.graph import Graph, Node, Tensor

    shape = (1, 4, 6, 6)
    graph = Graph("pool", [Node("p", "MaxPool", ["x"], ["y"], {"kernel_shape": [2, 2], "strides": [2, 2]})],
                  {"x": Tensor("x", shape), "y": Tensor("y", (1, 4, 3, 3))}, ["x"], ["y"])
    model = tmp_path / "pool.pmace"
    pmace_file.save(graph, str(model))
    copy = tmp_path / "shipped.bin"
    copy.write_bytes(Path(built_cache).read_bytes())
    code, out, _ = pymace("inspect", copy, "--model", model, "--device", "cpu")
    assert code == 1 and "INCOMPLETE" in out and "  missing " in out


def test_exit_codes_for_damaged_unknown_and_missing(built_cache, tmp_path):
    data = Path(built_cache).read_bytes()
    damaged = tmp_path / "damaged.bin"
    damaged.write_bytes(data[:-40] + bytes(40))  # the last binary and the trailing hash
    assert pymace("inspect", damaged, "--device", "cpu")[0] == 1
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    code, out, _ = pymace("inspect", empty)
    assert code == 2 and "summary: unknown format: empty file" in out
    assert pymace("inspect", tmp_path / "missing.bin")[0] == 2
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x07" * 999)
    assert pymace("inspect", garbage)[0] == 2


def test_truncated_mace_file_is_named_as_such(tmp_path):
    data = lzma.decompress((FIXTURES / "adreno-2020-reencoded-v1.1-format.bin.xz").read_bytes())
    cut = tmp_path / "cut.bin"
    cut.write_bytes(data[: len(data) // 2])
    report = inspect.inspect(cut)
    assert report["format"] == "MACE compiled-program cache" and report["layout"].startswith("B")
    assert report["integrity"].startswith("truncated: ")
    code, out, _ = pymace("inspect", cut)
    assert code == 1 and "damaged: truncated" in out.splitlines()[-1]


def large_mace_tuning_file(path: Path, pairs: int) -> None:
    body = b"".join(struct.pack("<i", len(k)) + k + struct.pack("<i", 16) + struct.pack("<4I", 8, 4, 4, i % 7)
                    for i, k in ((i, f"conv2d_3x3_opencl_kernel_1_{i}_112_32".encode()) for i in range(pairs)))
    path.write_bytes(struct.pack("<q", pairs) + body)


def test_large_file_text_is_linear_and_complete(tmp_path):
    """200k pairs (the 4 MB+ file that took 85 s as text): every entry printed, one line each."""
    big = tmp_path / "big.bin"
    large_mace_tuning_file(big, 200_000)
    report = inspect.inspect(big)
    text = inspect.render_text(report)
    assert text.count("\n") == len(text.splitlines()) and "conv2d_3x3_opencl_kernel_1_199999_112_32" in text
    assert text.strip().splitlines()[-1] == "summary: 200000 entries"


def test_no_broken_pipe_traceback(tmp_path):
    big = tmp_path / "big.bin"
    large_mace_tuning_file(big, 50_000)
    proc = subprocess.Popen([sys.executable, "-m", "pymace.cli", "inspect", str(big), "--device", "reference"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # as `| head -1` does
    err = proc.stderr.read().decode()
    proc.wait(timeout=300)
    assert "Traceback" not in err and "BrokenPipe" not in err
