"""A symbolic model (batch, height and width dynamic, shape arithmetic kept: tests/unit/test_symbolic.py) on the
device: one Engine runs it at any input shape, matching onnxruntime at each; plans are made per shape, cached,
evicted past `max_plans`, share programs and weights; runs at different shapes from several threads at once."""
import threading

import numpy as np
import onnx
import pytest

from pymace import Engine
from pymace.errors import InputError
from pymace.runtime.pool import ExecutorPool, PoolClosed
from tests.helpers import opencl_devices, ort_session, rel_err
from tests.unit.test_symbolic import shape_chain_model

DEVICES = opencl_devices()
pytestmark = pytest.mark.skipif(not DEVICES, reason="needs an OpenCL device")
SHAPES = [(1, 3, 32, 48), (2, 3, 40, 24), (1, 3, 17, 33)]
TOL = 1e-4


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """The model file and its onnxruntime session."""
    path = tmp_path_factory.mktemp("dyn") / "shape_chain.onnx"
    onnx.save(shape_chain_model(), str(path))
    return str(path), ort_session(str(path))


def fresh(shape, seed):
    return np.random.default_rng(seed).uniform(-2, 2, shape).astype(np.float32)


def test_one_engine_runs_every_shape_as_onnxruntime(model, tmp_path):
    path, session = model
    with Engine(path, device=DEVICES[0].selector, storage_dir=str(tmp_path), max_plans=2) as engine:
        at_start = engine._plans.planned  # the conversion's example shape, planned when the engine is made
        for k, shape in enumerate(SHAPES + SHAPES[:1]):
            x = fresh(shape, k)
            [want] = session.run(None, {"x": x})
            [got] = engine.run(None, {"x": x})
            assert got.shape == want.shape and rel_err(got, want) <= TOL, shape
            assert engine.plans[-1].key == (shape,)
        assert len(engine.plans) == 2  # the bounded cache: the first shape was evicted, then planned again
        assert [p.key for p in engine.plans] == [(SHAPES[2],), (SHAPES[0],)]
        assert engine._plans.planned == at_start + 4


def test_shapes_share_programs_and_weights(model, tmp_path):
    path, _ = model
    with Engine(path, device=DEVICES[0].selector, storage_dir=str(tmp_path)) as engine:
        weights = engine._plans.weights
        floats = sorted(w for w in weights.held() if w[0].startswith("float"))
        assert floats  # the conv's weights and bias
        for k, shape in enumerate(SHAPES[1:]):
            engine.run({"x": fresh(shape, k)})
        assert len(engine.plans) == 3  # the example shape, planned when the engine was made, and two more
        # each shape adds only its own index tables (Resize, Slice): the float weights are on the device once
        assert sorted(w for w in weights.held() if w[0].startswith("float")) == floats
        assert all(0 < p.stats["weight_bytes_uploaded"] < 4096 for p in engine.plans[1:])
        later = [p.stats for p in engine.plans[1:]]
        assert all(s["programs_from_source"] < s["programs_needed"] for s in later), later
        engine.close()
        assert len(weights) == 0 and engine.executors == 0 and engine.plans == []


def test_plan_for_warms_a_shape_up(model, tmp_path):
    path, session = model
    with Engine(path, device=DEVICES[0].selector, storage_dir=str(tmp_path)) as engine:
        stats = engine.plan_for({"x": SHAPES[1]})
        assert stats["programs_needed"] > 0 and engine.plans[-1].key == (SHAPES[1],)
        planned = engine._plans.planned
        x = fresh(SHAPES[1], 5)
        assert rel_err(engine.run({"x": x})["y"], session.run(None, {"x": x})[0]) <= TOL
        assert engine._plans.planned == planned  # the run found the plan


@pytest.mark.parametrize("max_plans", [None, 1], ids=["kept", "evicted-while-running"])
def test_threads_at_different_shapes(model, tmp_path, max_plans):
    """With max_plans=1 every shape evicts the one another thread is running: its run finishes on its executor,
    the next caller of that shape plans it again."""
    path, session = model
    engine = Engine(path, device=DEVICES[0].selector, storage_dir=str(tmp_path), max_plans=max_plans)
    wrong, start = [], threading.Barrier(len(SHAPES) * 2)

    def worker(seed):
        shape = SHAPES[seed % len(SHAPES)]
        start.wait()
        for run in range(3):
            x = fresh(shape, 100 * seed + run)
            got, [want] = engine.run({"x": x})["y"], session.run(None, {"x": x})
            if got.shape != want.shape or rel_err(got, want) > TOL:
                wrong.append(f"thread {seed} run {run} shape {shape}")

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(len(SHAPES) * 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.close()
    assert wrong == []
    assert len(engine._plans.weights) == 0 and engine.executors == 0


def test_a_closed_pool_frees_its_last_executor_then_calls_back():
    freed, done = [], []
    pool = ExecutorPool(lambda: object(), limit=2, discard=freed.append)
    a, b = pool.acquire(), pool.acquire()
    pool.release(a)
    pool.close(then=lambda: done.append(True))
    assert freed == [a] and done == []  # b is still running
    with pytest.raises(PoolClosed):
        pool.acquire()
    pool.release(b)
    assert freed == [a, b] and done == [True] and pool.made == 0


@pytest.mark.parametrize("shape,match", [((1, 4, 32, 32), "x"), ((1, 3, 32), "x"), ((3, 32, 32), "x")])
def test_a_shape_the_model_cannot_take_is_one_input_error(model, tmp_path, shape, match):
    path, _ = model
    with Engine(path, device=DEVICES[0].selector, storage_dir=str(tmp_path)) as engine:
        planned = engine._plans.planned
        with pytest.raises(InputError, match=match):
            engine.run({"x": fresh(shape, 0)})
        assert engine._plans.planned == planned  # refused before any planning
