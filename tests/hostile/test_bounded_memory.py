"""Memory bounded by the input: small files that allocated gigabytes (findings/reliability.md §3) are refused,
or cost what they honestly describe. The .pmace zip bomb and .npy headers are in test_safe_io.py."""
import subprocess
import sys

import numpy as np
import pytest

from pymace.errors import ModelError
from tests.helpers import make_model
from tests.hostile.conftest import run_cli
from tests.unit.test_torch_reader import _StorageRef, _TensorSpec, fake_torch, read_bytes, write_legacy  # noqa: F401


@pytest.mark.parametrize("size,stride,numel", [((40000, 40000), (0, 0), 1), ((40000, 40000), (1, 1), 80000),
                                               ((2, 3), (0, 1), 3)])
def test_torch_views_that_repeat_storage_are_refused(fake_torch, tmp_path, size, stride, numel):  # noqa: F811
    state = {"features.0.weight": _TensorSpec(_StorageRef("k0", fake_torch.FloatStorage, numel), 0, size, stride)}
    blob = write_legacy(state, {"k0": np.ones(numel, np.float32)})
    assert len(blob) < 400_000
    with pytest.raises(ModelError, match="repeats elements"):
        read_bytes(tmp_path, blob)


def test_torch_broadcast_dims_of_one_still_read(fake_torch, tmp_path):  # noqa: F811
    """A stride of 0 on a dim of size 1 repeats nothing (torch writes such strides for unsqueezed tensors)."""
    state = {"w": _TensorSpec(_StorageRef("k0", fake_torch.FloatStorage, 6), 0, (1, 2, 3), (0, 3, 1))}
    sd = read_bytes(tmp_path, write_legacy(state, {"k0": np.arange(6, dtype=np.float32)}))
    np.testing.assert_array_equal(sd["w"], np.arange(6).reshape(1, 2, 3))


def _expand_model(path, target):
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    g = h.make_graph([h.make_node("Expand", ["one", "shape"], ["big"]), h.make_node("Add", ["x", "big"], ["y"])],
                     "expand", [h.make_tensor_value_info("x", T.FLOAT, list(target))],
                     [h.make_tensor_value_info("y", T.FLOAT, None)],
                     [nh.from_array(np.ones((1, 1), np.float32), "one"),
                      nh.from_array(np.array(target, np.int64), "shape")])
    onnx.save(make_model(g, 13), str(path))


def test_folding_cap_keeps_a_small_model_small(tmp_path):
    """Expand(ones(1, 1), [4096, 4096]) in a 250-byte ONNX made a 64 MB constant (4 GB for [32768, 32768]);
    above PYMACE_FOLD_MAX_BYTES it stays a node, which runs on the device (Expand has a kernel: ops/tile.py)."""
    _expand_model(tmp_path / "e.onnx", [4096, 4096])
    assert (tmp_path / "e.onnx").stat().st_size < 400
    env = {**__import__("os").environ, "PYMACE_FOLD_MAX_BYTES": str(1 << 20)}
    rc, out, err = run_cli("convert", tmp_path / "e.onnx", "-o", tmp_path / "e.pmace", env=env)
    assert rc == 0, err
    assert (tmp_path / "e.pmace").stat().st_size < 100_000
    x = np.random.default_rng().uniform(-3, 3, (4096, 4096)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    rc, out, err = run_cli("run", tmp_path / "e.pmace", "--device", "cpu", "--storage-dir", tmp_path / "st",
                           "--input", f"x={tmp_path / 'x.npy'}", "--output-dir", tmp_path / "o", env=env)
    assert rc == 0, err[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "o" / "y.npy"), x + 1, rtol=1e-6)


def test_default_cap_refuses_the_4gb_expand(tmp_path):
    from pymace.tools.convert import convert

    _expand_model(tmp_path / "e.onnx", [32768, 32768])
    convert(tmp_path / "e.onnx", tmp_path / "e.pmace")
    assert (tmp_path / "e.pmace").stat().st_size < 100_000


def _generator_model(path, op):
    """A ~300-byte ONNX whose one constant node would make a 4 GB tensor (a 1e9-element Range: 4 GB too)."""
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    big = np.array([32768, 32768], np.int64)
    node, inits = {
        "ConstantOfShape": (h.make_node("ConstantOfShape", ["s"], ["big"],
                                        value=nh.from_array(np.ones(1, np.float32))), [nh.from_array(big, "s")]),
        "Tile": (h.make_node("Tile", ["one", "s"], ["big"]),
                 [nh.from_array(np.ones((1, 1), np.float32), "one"), nh.from_array(big, "s")]),
        "Range": (h.make_node("Range", ["a", "b", "d"], ["big"]),
                  [nh.from_array(np.array(v, np.float32), n) for n, v in (("a", 0), ("b", 1e9), ("d", 1))]),
    }[op]
    g = h.make_graph([node, h.make_node("Add", ["x", "big"], ["y"])], op, [h.make_tensor_value_info("x", T.FLOAT, [1])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)], inits)
    onnx.save(make_model(g, 13), str(path))


@pytest.mark.parametrize("op", ["ConstantOfShape", "Tile", "Range"])
def test_default_cap_holds_for_every_generator(tmp_path, op):
    """The study: ConstantOfShape and Range were refused only when the allocation itself failed. The convert runs
    under a 1 GB address-space limit, so a fold that allocates the 4 GB dies rather than passes."""
    _generator_model(tmp_path / "g.onnx", op)
    assert (tmp_path / "g.onnx").stat().st_size < 400
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)); "
    done = subprocess.run(
        [sys.executable, "-c", limit + "import sys; from pymace.cli import main; sys.exit(main())",
         "convert", str(tmp_path / "g.onnx"), "-o", str(tmp_path / "g.pmace")], capture_output=True, text=True,
        timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "g.pmace").stat().st_size < 100_000


def test_bad_fold_cap_is_a_config_error(monkeypatch):
    from pymace import config
    from pymace.errors import ConfigError

    monkeypatch.setenv("PYMACE_FOLD_MAX_BYTES", "lots")
    with pytest.raises(ConfigError):
        config.load()
