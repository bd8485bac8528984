"""One Engine shared by many threads, as onnxruntime's InferenceSession may be: every run returns the outputs of
its own inputs (fresh random data per run, checked against the NumPy reference executor)."""
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from pymace import Engine
from pymace.ir.graph import Graph, Node, Tensor
from pymace.reference import executor as reference
from pymace.runtime import driver_quirks
from tests.helpers import opencl_devices, rel_err

DEVICES = opencl_devices()
pytestmark = pytest.mark.skipif(not DEVICES, reason="needs an OpenCL device")
SHAPE = (1, 8, 12, 12)
# how runs reach the device (docs/threads.md): each executor's own queue, every run at once (a CPU's default);
# one queue shared by the executors, one run enqueuing at a time (a GPU's default)
SUBMIT = {"own-queues": {"PYMACE_SUBMIT_LOCK": "0", "PYMACE_SHARED_QUEUE": "0"},
          "shared-queue": {"PYMACE_SUBMIT_LOCK": "1", "PYMACE_SHARED_QUEUE": "1"},
          "submit-thread": {"PYMACE_SUBMIT_LOCK": "1", "PYMACE_SHARED_QUEUE": "1", "PYMACE_SUBMIT_THREAD": "1"}}


@pytest.fixture(params=list(SUBMIT))
def submit(request, monkeypatch):
    for name, value in SUBMIT[request.param].items():
        monkeypatch.setenv(name, value)
    return request.param


def small_graph() -> Graph:
    """Conv 3×3 + ReLU → Conv 1×1 → Add (the input): buffers the memory plan reuses, a residual that reads the
    input late, so that runs sharing buffers would mix each other's data."""
    rng = np.random.default_rng(11)
    w1 = (rng.standard_normal((16, 8, 3, 3)) / 8).astype(np.float32)
    w2 = (rng.standard_normal((8, 16, 1, 1)) / 4).astype(np.float32)
    tensors = {"x": Tensor("x", SHAPE), "w1": Tensor("w1", w1.shape, "float32", w1),
               "a": Tensor("a", (1, 16, 12, 12)), "w2": Tensor("w2", w2.shape, "float32", w2),
               "b": Tensor("b", SHAPE), "y": Tensor("y", SHAPE)}
    nodes = [Node("conv1", "Conv", ["x", "w1"], ["a"], {"pads": [1, 1, 1, 1], "activation": "Relu"}),
             Node("conv2", "Conv", ["a", "w2"], ["b"]), Node("add", "Add", ["b", "x"], ["y"])]
    graph = Graph("threads", nodes, tensors, ["x"], ["y"])
    graph.verify()
    return graph


def hammer(engine, graph, threads: int, runs: int, tol: float, profiled: bool = False) -> list[str]:
    """`threads` threads × `runs` runs on one engine, each run with its own fresh input; what went wrong."""
    wrong, start = [], threading.Barrier(threads)

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        start.wait()
        for i in range(runs):
            x = rng.standard_normal(SHAPE).astype(np.float32)
            got = engine.run_profiled({"x": x})[0] if profiled else engine.run({"x": x})
            err = rel_err(got["y"], reference.run(graph, {"x": x})["y"])
            if not err <= tol:
                wrong.append(f"thread {seed} run {i}: rel err {err:.3g}")

    workers = [threading.Thread(target=worker, args=(seed,)) for seed in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return wrong


@pytest.mark.parametrize("device", DEVICES, ids=[d.selector for d in DEVICES])
def test_eight_threads_share_one_engine(device, submit, tmp_path):
    graph = small_graph()
    engine = Engine(graph, device=device.selector, storage_dir=str(tmp_path))
    engine.max_concurrent_runs = 4  # fewer executors than threads: runs both make executors and wait for them
    wrong = hammer(engine, graph, threads=8, runs=200, tol=1e-4)
    assert not wrong, f"{len(wrong)} of 1600 runs wrong, e.g. {wrong[:3]}"
    assert 2 <= engine.executors <= 4
    shared = submit != "own-queues"
    assert engine.plan.shared_queue == shared and (engine.plan.submitter is not None) == shared
    if shared:
        assert type(engine.plan.submitter).__name__ == ("SubmitThread" if submit == "submit-thread" else "Submitter")
    assert engine.plan.run_lock is driver_quirks.run_lock(device)  # PoCL before 7.0: runs take turns at the device


def test_pocl_before_7_has_every_run_of_the_process_take_turns_and_other_drivers_none(monkeypatch):
    """runtime/driver_quirks.py: PoCL < 7.0 aborts when launches of one kernel build overlap on several queues."""
    assert driver_quirks.pocl_version("OpenCL 3.0 PoCL 3.1+debian  Linux, None+Asserts, RELOC, LLVM 15.0.6") == (3, 1)
    assert driver_quirks.pocl_version("OpenCL 3.0 PoCL 7.1-pre main-abc  Linux, Release") == (7, 1)
    assert driver_quirks.pocl_version("OpenCL 3.0 CUDA 13.0.98") is None
    lock = [driver_quirks.run_lock(SimpleNamespace(platform_version=v)) for v in
            ("OpenCL 3.0 PoCL 3.1+debian", "OpenCL 3.0 PoCL 6.0+debian  Linux", "OpenCL 3.0 PoCL 7.0  Linux",
             "OpenCL 3.0 PoCL 12.2", "OpenCL 3.0 CUDA 13.0.98", "")]
    assert lock[0] is lock[1] and lock[0] is not None and lock[2:] == [None] * 4
    monkeypatch.setenv("PYMACE_RUN_TURNS", "0")  # a PoCL build that carries the fix
    assert driver_quirks.run_lock(SimpleNamespace(platform_version="OpenCL 3.0 PoCL 3.1+debian")) is None
    monkeypatch.setenv("PYMACE_RUN_TURNS", "1")
    assert driver_quirks.run_lock(SimpleNamespace(platform_version="OpenCL 3.0 CUDA 13.0.98")) is lock[0]


@pytest.mark.parametrize("device", DEVICES, ids=[d.selector for d in DEVICES])
def test_profiled_runs_from_threads_fp16(device, submit, tmp_path):
    """fp16 storage (each executor has its own fp32 staging buffers) and profiling events, from four threads."""
    graph = small_graph()
    engine = Engine(graph, device=device.selector, data_type="fp16", storage_dir=str(tmp_path), profile=True)
    wrong = hammer(engine, graph, threads=4, runs=25, tol=1e-2, profiled=True)
    assert not wrong, f"{len(wrong)} of 100 runs wrong, e.g. {wrong[:3]}"
    _, times = engine.run_profiled({"x": np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)})
    assert len(times) == len(engine.plan.steps) and all(t >= 0 for t in times)


@pytest.mark.parametrize("kind", ["Submitter", "SubmitThread"])
def test_submitter_runs_each_work_once_one_at_a_time_and_hands_back_its_own_result_or_error(kind):
    """runtime/submit.py: 8 threads × 300 works; no two works overlap, each caller gets its own result, and a
    work's exception is raised in the thread that submitted it, not in the one that ran it."""
    from pymace.runtime import submit

    submitter, inside, overlaps, ran = getattr(submit, kind)(), [0], [], []
    rng = np.random.default_rng(5)
    failing = set(rng.choice(8 * 300, size=40, replace=False).tolist())

    def work(tag: int):
        inside[0] += 1
        overlaps.append(inside[0] > 1)
        ran.append(tag)
        inside[0] -= 1
        if tag in failing:
            raise ValueError(tag)
        return tag * 3

    wrong, errors = [], []

    def caller(k: int):
        for i in range(300):
            tag = k * 300 + i
            try:
                if submitter.submit(lambda t=tag: work(t)) != tag * 3:
                    wrong.append(tag)
            except ValueError as e:
                errors.append((tag, e.args[0]))

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not any(overlaps) and sorted(ran) == list(range(8 * 300))
    assert wrong == [] and sorted(errors) == sorted((t, t) for t in failing)
