"""The onnxruntime-shaped Engine API: Engine("model.onnx") (converted once into the storage dir), get_inputs() /
get_outputs() as InferenceSession's, run(output_names, input_feed) and run(feeds), close() and `with`, the
device chosen by name or index — on the reference executor and on every OpenCL device present."""
import numpy as np
import onnx
import pytest

from pymace import Engine
from pymace.errors import ConfigError, DeviceError, InputError
from pymace.tools.convert import CONVERTED_DIR
from tests.helpers import opencl_devices, ort_session, rel_err
from tests.unit.test_symbolic import shape_chain_model

DEVICES = opencl_devices()
TARGETS = ["reference"] + [d.selector for d in DEVICES]
TOL = 1e-4


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("api") / "shape_chain.onnx"
    onnx.save(shape_chain_model(), str(path))
    return str(path), ort_session(str(path))


def fresh(shape=(1, 3, 24, 20), seed=0):
    return np.random.default_rng(seed).uniform(-2, 2, shape).astype(np.float32)


@pytest.mark.parametrize("device", TARGETS)
def test_inputs_and_outputs_as_onnxruntime_names_them(model, tmp_path, device):
    path, session = model
    with Engine(path, device=device, storage_dir=str(tmp_path)) as engine:
        for ours, theirs in ((engine.get_inputs(), session.get_inputs()), (engine.get_outputs(),
                                                                            session.get_outputs())):
            assert [(a.name, a.type) for a in ours] == [(b.name, b.type) for b in theirs]
            assert [a.shape for a in ours] == [b.shape for b in theirs]
        assert engine.get_inputs()[0].dtype == "float32"


@pytest.mark.parametrize("device", TARGETS)
def test_both_run_forms(model, tmp_path, device):
    path, session = model
    x = fresh(seed=3)
    [want] = session.run(None, {"x": x})
    with Engine(path, device=device, storage_dir=str(tmp_path)) as engine:
        as_list = engine.run(None, {"x": x})
        named = engine.run(["y"], {"x": x})
        as_dict, by_keyword = engine.run({"x": x}), engine.run(feeds={"x": x})
    assert isinstance(as_list, list) and isinstance(named, list) and set(as_dict) == {"y"}
    for got in (as_list[0], named[0], as_dict["y"], by_keyword["y"]):
        assert rel_err(got, want) <= TOL


def test_run_mistakes_are_one_line_each(model, tmp_path):
    path, _ = model
    engine = Engine(path, device="reference", storage_dir=str(tmp_path))
    x = fresh()
    with pytest.raises(InputError, match="unknown output"):
        engine.run(["nope"], {"x": x})
    with pytest.raises(InputError, match="output_names"):
        engine.run("y", {"x": x})
    with pytest.raises(InputError, match="input_feed"):
        engine.run(["y"])
    with pytest.raises(InputError, match="not both"):
        engine.run(["y"], feeds={"x": x})
    with pytest.raises(ConfigError, match="run_options"):
        engine.run(None, {"x": x}, object())
    with pytest.raises(InputError, match="missing input"):
        engine.run(None, {})


@pytest.mark.skipif(not DEVICES, reason="needs an OpenCL device")
def test_close_frees_the_device_and_is_final(model, tmp_path):
    path, _ = model
    with Engine(path, device=DEVICES[0].selector, storage_dir=str(tmp_path)) as engine:
        engine.run({"x": fresh()})
        assert engine.executors >= 1 and engine.plan is not None
    assert engine.closed and engine.executors == 0 and engine.plan is None
    engine.close()  # a second close does nothing
    with pytest.raises(ConfigError, match="closed"):
        engine.run({"x": fresh()})


def test_a_source_model_is_converted_once(model, tmp_path):
    path, _ = model
    Engine(path, device="reference", storage_dir=str(tmp_path))
    [converted] = (tmp_path / CONVERTED_DIR).iterdir()
    stamp = converted.stat().st_mtime_ns
    engine = Engine(path, device="reference", storage_dir=str(tmp_path))
    assert converted.stat().st_mtime_ns == stamp and engine.get_inputs()[0].shape == ["N", 3, "H", "W"]
    converted.write_bytes(converted.read_bytes()[:100])  # damaged: converted again, with a warning
    engine = Engine(path, device="reference", storage_dir=str(tmp_path))
    assert engine.run({"x": fresh()})["y"].shape == (1, 3, 24, 10)


def test_a_tflite_model_opens_as_it_is(tmp_path):
    from tests.unit.test_tflite_builtins import FIXTURES, litert, random_inputs

    path = FIXTURES / "activations.tflite"
    engine = Engine(str(path), device="reference", storage_dir=str(tmp_path))
    feeds = random_inputs(path, np.random.default_rng(4))
    want = litert(path, feeds)
    assert [o.name for o in engine.get_outputs()] == list(want)
    for got, (name, w) in zip(engine.run(None, feeds), want.items()):
        assert rel_err(got, w) <= TOL, name


@pytest.mark.skipif(not DEVICES, reason="needs an OpenCL device")
def test_device_by_name_and_index(model, tmp_path):
    from pymace.runtime import device

    path, _ = model
    listed = device.list_devices()
    want = DEVICES[0]
    by_name = Engine(path, device=want.name.upper(), storage_dir=str(tmp_path))
    assert by_name.device.selector == want.selector
    by_index = Engine(path, device=listed.index(next(d for d in listed if d.selector == want.selector)),
                      storage_dir=str(tmp_path))
    assert by_index.device.selector == want.selector
    with pytest.raises(DeviceError, match="no OpenCL device matches"):
        Engine(path, device="no-such-device-name", storage_dir=str(tmp_path))
    with pytest.raises(DeviceError, match="no OpenCL device matches"):
        Engine(path, device=len(listed), storage_dir=str(tmp_path))


def test_cli_runs_a_symbolic_model_at_a_given_or_the_example_shape(model, tmp_path):
    import subprocess
    import sys

    from pymace.tools.convert import convert

    convert(model[0], tmp_path / "m.pmace")  # no input shapes: the dims stay dynamic
    run = [sys.executable, "-m", "pymace.cli", "run", str(tmp_path / "m.pmace"), "--device", "reference",
           "--storage-dir", str(tmp_path), "--output-dir", str(tmp_path / "out")]
    given = subprocess.run([*run, "--input-shape", "x=2,3,20,30"], capture_output=True, text=True)
    assert given.returncode == 0, given.stderr
    assert np.load(tmp_path / "out" / "y.npy").shape == (2, 3, 20, 15)
    example = subprocess.run(run, capture_output=True, text=True)  # the shape the conversion checked
    assert example.returncode == 0, example.stderr
    source = subprocess.run([*run[:4], model[0], *run[5:]], capture_output=True, text=True)  # the .onnx itself
    assert source.returncode == 0, source.stderr
    wrong = subprocess.run([*run, "--input-shape", "x=1,5,20,30"], capture_output=True, text=True)
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr and "dim 1 is 3" in wrong.stderr


def test_input_shapes_fix_some_dims_of_a_source_model(model, tmp_path):
    path, session = model
    engine = Engine.with_input_shapes(path, {"x": ["B", 3, 24, "W"]}, storage_dir=str(tmp_path), device="reference")
    assert engine.get_inputs()[0].shape == ["B", 3, 24, "W"]
    x = fresh((2, 3, 24, 36), 9)
    assert rel_err(engine.run(None, {"x": x})[0], session.run(None, {"x": x})[0]) <= TOL
    with pytest.raises(InputError, match="dim 2 is 24"):
        engine.run({"x": fresh((1, 3, 20, 36))})
    again = Engine.with_input_shapes(path, {"x": ["B", 3, 24, "W"]}, storage_dir=str(tmp_path), device="reference")
    assert len(list((tmp_path / CONVERTED_DIR).iterdir())) == 1 and again.graph.inputs == ["x"]
    with pytest.raises(ConfigError, match="source model"):
        Engine.with_input_shapes(engine.graph, {"x": [1, 3, 24, 24]}, device="reference")
