"""The safe legacy-torch reader: the real MobileNetV2 file, hand-written files that exercise offsets, strides and
shared storages, and hostile files that must end in ModelError with nothing executed."""
from __future__ import annotations

import io
import os
import pickle
import sys
import types

import numpy as np
import pytest

from pymace.errors import ModelError
from pymace.frontends.torch_reader import MAGIC, PROTOCOL, read_state_dict
from pymace.tools import zoo

SYS_INFO = {"protocol_version": PROTOCOL, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}


@pytest.fixture(scope="module")
def real_bytes():
    return zoo.source("mobilenet_v2").read_bytes()


def test_reads_the_real_mobilenet(real_bytes, tmp_path):
    p = tmp_path / "m.pth"
    p.write_bytes(real_bytes)
    sd = read_state_dict(p)
    assert len(sd) == 314 and list(sd)[0] == "features.0.0.weight"
    assert sd["features.0.0.weight"].shape == (32, 3, 3, 3) and sd["classifier.1.weight"].shape == (1000, 1280)
    assert sum(v.size for v in sd.values() if v.dtype == np.float32) == 3_504_872 + 34_112
    assert sd["features.0.1.num_batches_tracked"].dtype == np.int64
    assert all(np.isfinite(v).all() for v in sd.values())
    assert (sd["features.0.1.running_var"] > 0).all()  # BN variances: real statistics, not garbage


# ---- a tiny legacy writer: fake torch modules so pickle emits torch's global names ----

class _StorageRef:
    def __init__(self, key, cls, numel, view=None):
        self.key, self.cls, self.numel, self.view = key, cls, numel, view


class _TensorSpec:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, {})

    def __reduce__(self):
        return (sys.modules["torch._utils"]._rebuild_tensor_v2, self.args)


@pytest.fixture
def fake_torch(monkeypatch):
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in ("FloatStorage", "LongStorage"):
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    torch._utils = utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


def write_legacy(state, storages: dict[str, np.ndarray], counts: dict | None = None, keys=None) -> bytes:
    class P(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _StorageRef):
                return ("storage", obj.cls, obj.key, "cpu", obj.numel, obj.view)
            return None
    f = io.BytesIO()
    for obj in (MAGIC, PROTOCOL, SYS_INFO):
        pickle.dump(obj, f, protocol=2)
    P(f, protocol=2).dump(state)
    keys = list(storages) if keys is None else keys
    pickle.dump(keys, f, protocol=2)
    for k in keys:
        data = storages[k]
        f.write(np.int64((counts or {}).get(k, data.size)).tobytes())
        f.write(data.tobytes())
    return f.getvalue()


def read_bytes(tmp_path, data: bytes):
    p = tmp_path / "x.pth"
    p.write_bytes(data)
    return read_state_dict(p)


def test_offsets_strides_and_shared_storage(fake_torch, tmp_path):
    data = np.arange(30, dtype=np.float32)
    s = _StorageRef("k0", fake_torch.FloatStorage, 30)
    state = {"plain": _TensorSpec(s, 0, (2, 3), (3, 1)),
             "offset_transposed": _TensorSpec(s, 6, (3, 4), (1, 3)),  # a transposed [4, 3] view
             "scalar": _TensorSpec(s, 29, (), ()),
             "count": _TensorSpec(_StorageRef("k1", fake_torch.LongStorage, 1), 0, (), ())}
    sd = read_bytes(tmp_path, write_legacy(state, {"k0": data, "k1": np.array([7], np.int64)}))
    np.testing.assert_array_equal(sd["plain"], data[:6].reshape(2, 3))
    np.testing.assert_array_equal(sd["offset_transposed"], data[6:18].reshape(4, 3).T)
    assert sd["scalar"] == 29 and sd["count"] == 7 and sd["count"].dtype == np.int64
    assert sd["offset_transposed"].flags.writeable


def test_tensor_reaching_past_its_storage(fake_torch, tmp_path):
    s = _StorageRef("k0", fake_torch.FloatStorage, 4)
    with pytest.raises(ModelError, match="reaches past"):
        read_bytes(tmp_path, write_legacy({"w": _TensorSpec(s, 2, (3,), (1,))}, {"k0": np.zeros(4, np.float32)}))


@pytest.mark.parametrize("count", [2**40, 2**62, -1, 5])
def test_storage_size_that_does_not_fit(fake_torch, tmp_path, count):
    s = _StorageRef("k0", fake_torch.FloatStorage, 4 if count == 5 else count)
    blob = write_legacy({"w": _TensorSpec(s, 0, (4,), (1,))}, {"k0": np.zeros(4, np.float32)}, {"k0": count})
    with pytest.raises(ModelError, match="k0"):
        read_bytes(tmp_path, blob)


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.003, 0.5, 0.9999])
def test_truncated_real_file(real_bytes, tmp_path, fraction):
    with pytest.raises(ModelError):
        read_bytes(tmp_path, real_bytes[:int(len(real_bytes) * fraction)])


class _Evil:
    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


@pytest.mark.parametrize("where", ["state", "sys_info"])
@pytest.mark.parametrize("fn", ["os.system", "builtins.eval", "builtins.exec"])
def test_code_in_the_pickle_is_never_run(tmp_path, where, fn):
    marker = tmp_path / "pwned"
    cmd = f"touch {marker}" if fn == "os.system" else f"open({str(marker)!r}, 'w')"
    evil = _Evil({"os.system": os.system, "builtins.eval": eval, "builtins.exec": exec}[fn], cmd)
    f = io.BytesIO()
    for obj in (MAGIC, PROTOCOL, evil if where == "sys_info" else SYS_INFO,
                {"w": evil} if where == "state" else {}, []):
        pickle.dump(obj, f, protocol=2)
    assert fn.split(".")[1].encode() in f.getvalue()  # the global really is in the stream
    with pytest.raises(ModelError, match="refusing to load"):
        read_bytes(tmp_path, f.getvalue())
    assert not marker.exists()


def test_not_a_torch_file(tmp_path):
    for blob in (b"", b"PK\x03\x04zip", pickle.dumps(12345), os.urandom(256)):
        with pytest.raises(ModelError):
            read_bytes(tmp_path, blob)
    with pytest.raises(ModelError, match="cannot read"):
        read_state_dict(tmp_path / "missing.pth")
