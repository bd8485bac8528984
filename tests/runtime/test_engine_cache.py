"""The compiled-program cache seen from the engine and the CLI, with a real model (MTCNN R-Net): a warm start
builds nothing, eight processes starting at once end with one complete file, a writer killed mid-save costs
nothing, and a read-only or full storage dir is a warning with exit 0."""
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import numpy as np
import pytest

from pymace import Engine
from pymace.ir import pmace_file
from pymace.reference import executor as reference
from pymace.runtime.program_cache import ProgramCache
from pymace.runtime.programs import ProgramBuilder
from pymace.tools import inspect, zoo
from tests.helpers import opencl_devices, rel_err

pytestmark = pytest.mark.skipif(not opencl_devices(), reason="needs an OpenCL device")
CACHE = ProgramCache.FILE_NAME


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """The model file, one input .npy of fresh random data, and the reference outputs."""
    path = zoo.fetch("mtcnn_rnet")
    graph = pmace_file.load(str(path))
    (name,) = graph.inputs
    x = np.random.default_rng(7).uniform(-1, 1, graph.tensors[name].shape).astype(np.float32)
    folder = tmp_path_factory.mktemp("rnet")
    np.save(folder / "x.npy", x)
    return {"path": str(path), "input": f"{name}={folder / 'x.npy'}", "want": reference.run(graph, {name: x}),
            "feeds": {name: x}}


def pymace_run(model, storage, out_dir, **popen):
    cmd = [sys.executable, "-m", "pymace.cli", "run", model["path"], "--input", model["input"], "--output-dir",
           str(out_dir), "--storage-dir", str(storage)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def check_outputs(model, out_dir):
    for name, want in model["want"].items():
        got = np.load(out_dir / f"{name}.npy")
        assert rel_err(got, want) <= 1e-4, name


def check_cache_complete(model, storage):
    report = inspect.coverage(storage / CACHE, model["path"])
    assert report["complete"], report
    assert inspect.inspect(storage / CACHE)["integrity"] == "ok"


def test_warm_start_builds_nothing(model, tmp_path, monkeypatch):
    cold = Engine(model["path"], storage_dir=str(tmp_path))
    assert cold.init_stats["programs_from_source"] > 0 and cold.init_stats["programs_from_cache"] == 0

    def no_compiling(*args):
        raise AssertionError("a warm start compiled a program")

    monkeypatch.setattr(ProgramBuilder, "_build_from_source", no_compiling)
    warm = Engine(model["path"], storage_dir=str(tmp_path))
    assert warm.init_stats["programs_from_source"] == 0
    assert warm.init_stats["programs_from_cache"] == cold.init_stats["programs_from_source"]
    for name, want in model["want"].items():
        assert rel_err(warm.run(model["feeds"])[name], want) <= 1e-4


def test_eight_processes_start_at_once(model, tmp_path):
    storage = tmp_path / "storage"
    runs = [pymace_run(model, storage, tmp_path / f"out{i}") for i in range(8)]
    results = [p.communicate(timeout=300) for p in runs]
    assert [p.returncode for p in runs] == [0] * 8, [err for _, err in results]
    for i in range(8):
        check_outputs(model, tmp_path / f"out{i}")
    check_cache_complete(model, storage)
    assert not list(storage.glob("*.tmp"))


STALL_AT_FSYNC = """
import os, sys, time
from pymace.runtime import program_cache
storage = sys.argv[1]
def stall(fd):  # temp file written, lock held: tell the test, then wait to be killed
    open(os.path.join(storage, "stalled"), "w").close()
    time.sleep(300)
program_cache.os.fsync = stall
from pymace.cli import main
sys.argv = ["pymace", *sys.argv[2:]]
main()
"""


def test_writer_killed_mid_save(model, tmp_path):
    storage = tmp_path / "storage"
    storage.mkdir()
    args = ["run", model["path"], "--input", model["input"], "--output-dir", str(tmp_path / "o"),
            "--storage-dir", str(storage)]
    child = subprocess.Popen([sys.executable, "-c", STALL_AT_FSYNC, str(storage), *args])
    try:
        deadline = time.monotonic() + 240
        while not (storage / "stalled").exists():
            assert child.poll() is None and time.monotonic() < deadline, "the writer never reached its save"
            time.sleep(0.05)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    p = pymace_run(model, storage, tmp_path / "after")
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    check_outputs(model, tmp_path / "after")
    check_cache_complete(model, storage)


@contextmanager
def tmpfs(path, options):
    path.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"{options},mode=0755", "tmpfs", str(path)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root and mount for a real read-only or full filesystem")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


@pytest.mark.parametrize("options", ["ro,size=1m", "size=64k"], ids=["read-only", "full-disk"])
def test_unwritable_storage_is_a_warning(model, tmp_path, options):
    with tmpfs(tmp_path / "storage", options) as storage:
        p = pymace_run(model, storage, tmp_path / "out")
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert "warning" in err.lower() and CACHE in err
        assert "Traceback" not in err
        check_outputs(model, tmp_path / "out")


def test_a_binary_the_driver_refuses_is_rebuilt_and_reported(model, tmp_path, monkeypatch):
    from pymace.runtime import programs

    cold = Engine(model["path"], storage_dir=str(tmp_path))

    def refuse_binaries(context, device, binary, options):  # every program made from a binary
        raise programs.cl.Error("CL_INVALID_BINARY")

    monkeypatch.setattr(programs, "program_from_binary", refuse_binaries)
    warm = Engine(model["path"], storage_dir=str(tmp_path))
    assert warm.init_stats["programs_from_source"] == cold.init_stats["programs_from_source"]
    reasons = [m["reason"] for m in warm.init_stats["cache_misses"]]
    assert len(reasons) == cold.init_stats["programs_from_source"]
    assert all(r.startswith("driver refused the binary") for r in reasons), reasons
