"""Start-up: one storage dir carries every cache a warm start needs (pymace's programs and tuning, the drivers'
caches), a bundle exported from it makes an empty storage dir start with nothing to build, misses build in
parallel, and running a .pmace imports no converter. Each start is a fresh process: the drivers read where their
caches live once, when OpenCL is first initialised."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pymace.ir import pmace_file
from pymace.ir.graph import Graph, Node, Tensor
from pymace.reference import executor as reference
from pymace.runtime import driver_caches
from tests.helpers import opencl_devices, rel_err

pytestmark = pytest.mark.skipif(not opencl_devices(), reason="needs an OpenCL device")
DRIVER_VARIABLES = ("POCL_CACHE_DIR", "POCL_KERNEL_CACHE", "CUDA_CACHE_PATH", "CUDA_CACHE_DISABLE",
                    "CUDA_CACHE_MAXSIZE", "PYOPENCL_NO_CACHE", "PYMACE_STORAGE_DIR", "PYMACE_BUILD_WORKERS")
SHAPE = (1, 4, 6, 6)

RUN_CHILD = """
import json, sys
import numpy as np
from pymace import Engine
engine = Engine(sys.argv[1], device="cpu", storage_dir=sys.argv[2])
x = np.load(sys.argv[3])
y = engine.run({"x": x})["y"]
np.save(sys.argv[4], y)
print(json.dumps({k: engine.init_stats[k] for k in ("programs_from_source", "programs_from_cache")}))
"""


def clean_env(**extra) -> dict:
    """The environment of a user who set no driver cache variable."""
    env = {k: v for k, v in os.environ.items() if k not in DRIVER_VARIABLES}
    return {**env, **extra}


def pymace(*args, env=None) -> str:
    out = subprocess.run([sys.executable, "-m", "pymace.cli", *map(str, args)], capture_output=True, text=True,
                         env=env or clean_env())
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """Sigmoid → Add(·, x) → Transpose: small, three programs; with a fresh random input and its reference."""
    folder = tmp_path_factory.mktemp("startup")
    t = {n: Tensor(n, SHAPE) for n in ("x", "s", "a")} | {"y": Tensor("y", (1, 6, 6, 4))}
    nodes = [Node("sig", "Sigmoid", ["x"], ["s"]), Node("add", "Add", ["s", "x"], ["a"]),
             Node("tr", "Transpose", ["a"], ["y"], {"perm": [0, 2, 3, 1]})]
    graph = Graph("startup", nodes, t, ["x"], ["y"])
    pmace_file.save(graph, str(folder / "m.pmace"))
    x = np.random.default_rng().uniform(-3, 3, SHAPE).astype(np.float32)
    np.save(folder / "x.npy", x)
    return {"path": folder / "m.pmace", "x": folder / "x.npy", "want": reference.run(graph, {"x": x})["y"]}


def run_child(model, storage, out, env=None) -> dict:
    proc = subprocess.run([sys.executable, "-c", RUN_CHILD, str(model["path"]), str(storage), str(model["x"]),
                           str(out)], capture_output=True, text=True, env=env or clean_env())
    assert proc.returncode == 0, proc.stderr
    assert rel_err(np.load(out), model["want"]) <= 1e-5
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_driver_caches_go_where_the_user_has_not_put_them(tmp_path):
    env = {"POCL_CACHE_DIR": "/mine"}
    pointed = driver_caches.point_driver_caches(tmp_path, env)
    assert env["POCL_CACHE_DIR"] == "/mine" and "pocl" not in pointed
    assert env["CUDA_CACHE_PATH"] == str(tmp_path / "driver-cache" / "nvidia") == pointed["nvidia"]
    assert int(env["CUDA_CACHE_MAXSIZE"]) == driver_caches.CUDA_CACHE_MAX_BYTES
    env = {"CUDA_CACHE_MAXSIZE": "123"}
    driver_caches.point_driver_caches(tmp_path, env)
    assert env["CUDA_CACHE_MAXSIZE"] == "123" and env["POCL_CACHE_DIR"] == str(tmp_path / "driver-cache" / "pocl")


def test_clearing_empties_the_driver_caches_and_keeps_their_folders(tmp_path):
    pocl = driver_caches.folder(tmp_path, "pocl")
    (pocl / "GC" / "INLF").mkdir(parents=True)
    (pocl / "GC" / "INLF" / "program.bc").write_bytes(os.urandom(64))  # what a killed load half-unpacked
    (pocl / "tempfile_x").write_bytes(b"")
    (pocl / "elsewhere").symlink_to(tmp_path / "keep")  # a link is removed, never followed
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "f").write_text("kept")
    assert driver_caches.clear(tmp_path) == 3
    assert pocl.is_dir() and not list(pocl.iterdir()) and (tmp_path / "keep" / "f").read_text() == "kept"
    assert driver_caches.clear(tmp_path / "absent") == 0


def test_the_first_look_at_opencl_points_the_caches_at_the_storage_dir(tmp_path):
    child = ("import os, sys; from pymace.runtime import device; device.select('cpu', sys.argv[1]); "
             "print(os.environ['POCL_CACHE_DIR'])")
    out = subprocess.run([sys.executable, "-c", child, str(tmp_path / "s")], capture_output=True, text=True,
                         env=clean_env(), check=True)
    assert out.stdout.strip() == str(tmp_path / "s" / "driver-cache" / "pocl")
    out = subprocess.run([sys.executable, "-c", child, str(tmp_path / "t")], capture_output=True, text=True,
                         env=clean_env(POCL_CACHE_DIR=str(tmp_path / "mine")), check=True)
    assert out.stdout.strip() == str(tmp_path / "mine")


def test_a_bundle_makes_an_empty_storage_dir_warm(model, tmp_path):
    """Export on one storage dir, import into an empty one, start there: nothing built, right outputs, and the
    driver cache came along (inspect lists it)."""
    manifest = json.loads(pymace("cache", "export", "--model", model["path"], tmp_path / "bundle", "--device", "cpu",
                                 "--storage-dir", tmp_path / "first", "--json"))
    assert manifest["programs"] >= 2
    if "Portable Computing Language" in manifest["platform"]:
        assert manifest["driver_cache"]["driver"] == "pocl" and manifest["driver_cache"]["files"] > 0
    imported = json.loads(pymace("cache", "import", tmp_path / "bundle", "--storage-dir", tmp_path / "empty",
                                 "--json"))
    assert imported["programs"] == manifest["programs"]
    stats = run_child(model, tmp_path / "empty", tmp_path / "y.npy")
    assert stats == {"programs_from_source": 0, "programs_from_cache": manifest["programs"]}
    report = json.loads(pymace("inspect", tmp_path / "empty" / "mace_cl_compiled_program.bin", "--json"))
    held = {row["driver"]: row["files"] for row in report["driver_caches"]}
    assert held.keys() == {"pocl", "nvidia"}
    assert held[manifest["driver_cache"].get("driver", "pocl")] >= manifest["driver_cache"].get("files", 0)


def test_import_refuses_a_folder_that_is_not_a_bundle(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pymace.cli", "cache", "import", str(tmp_path), "--storage-dir",
                          str(tmp_path / "s")], capture_output=True, text=True, env=clean_env())
    assert out.returncode != 0 and "not a pymace cache bundle" in out.stderr
    assert "Traceback" not in out.stderr


def test_running_a_pmace_imports_no_converter(model, tmp_path):
    child = ("import sys; from pymace import cli; rc = cli.main(sys.argv[1:]); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'matplotlib', 'skimage', "
             "'onnxruntime', 'tflite', 'torch') or m.startswith('pymace.frontends')), rc)")
    out = subprocess.run([sys.executable, "-c", child, "run", str(model["path"]), "--device", "cpu",
                          "--storage-dir", str(tmp_path), "--output-dir", str(tmp_path / "o")],
                         capture_output=True, text=True, env=clean_env(), check=True)
    assert out.stdout.strip().splitlines()[-1] == "[] 0"


def test_a_build_worker_builds_what_this_process_loads():
    import pyopencl as cl

    from pymace.runtime import device, parallel_build

    info = device.select("cpu")
    worker = parallel_build.Worker(info)
    try:
        assert worker.ready()
        scale = float(np.random.default_rng().uniform(2, 5))
        source = "__kernel void scale(__global float *x) { x[get_global_id(0)] *= SCALE; }"
        binary = worker.build(source, f"-DSCALE={scale!r}f")
        assert worker.build("__kernel void broken(", "") is None  # a failed build is the caller's to redo
    finally:
        worker.close()
    context = cl.Context([info.cl_device])
    program = cl.Program(context, [info.cl_device], [binary]).build()
    x = np.random.default_rng().uniform(-1, 1, 64).astype(np.float32)
    buf = cl.Buffer(context, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR, hostbuf=x)
    queue = cl.CommandQueue(context)
    program.scale(queue, x.shape, None, buf)
    got = np.empty_like(x)
    cl.enqueue_copy(queue, got, buf)
    assert rel_err(got, x * np.float32(scale)) <= 1e-6


def test_misses_built_by_workers_run_right(model, tmp_path):
    stats = run_child(model, tmp_path / "s", tmp_path / "y.npy", clean_env(PYMACE_BUILD_WORKERS="2"))
    assert stats["programs_from_source"] >= 2 and stats["programs_from_cache"] == 0
    stats = run_child(model, tmp_path / "s", tmp_path / "y2.npy", clean_env(PYMACE_BUILD_WORKERS="2"))
    assert stats["programs_from_source"] == 0
