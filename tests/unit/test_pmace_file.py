"""The .pmace file: round trip, and damaged files end in ModelError (one line), never another exception."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymace.errors import ModelError
from pymace.ir import pmace_file
from pymace.ir.graph import Graph, Node, Tensor
from pymace.reference import executor


def small_graph() -> Graph:
    rng = np.random.default_rng(5)
    w = rng.standard_normal((3, 2, 1, 1)).astype(np.float32)
    tensors = {"x": Tensor("x", (1, 2, 4, 4)), "w": Tensor("w", w.shape, "float32", w),
               "y": Tensor("y", (1, 3, 4, 4))}
    node = Node("conv", "Conv", ["x", "w"], ["y"], {"kernel_shape": [1, 1], "pads": [0, 0, 0, 0],
                                                   "strides": [1, 1], "dilations": [1, 1], "group": 1})
    return Graph("g", [node], tensors, ["x"], ["y"], {"framework": "test"})


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("pmace") / "g.pmace"
    pmace_file.save(small_graph(), str(path))
    return path.read_bytes()


def test_round_trip(tmp_path):
    g = small_graph()
    pmace_file.save(g, str(tmp_path / "g.pmace"))
    back = pmace_file.load(str(tmp_path / "g.pmace"))
    x = np.random.default_rng(1).standard_normal((1, 2, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(executor.run(back, {"x": x})["y"], executor.run(g, {"x": x})["y"])
    assert back.metadata == {"framework": "test"}


def test_an_encrypted_member_is_a_model_error(saved, tmp_path):
    """A flipped bit 0 of a member's flags marks it encrypted: zipfile raised RuntimeError (hypothesis found it)."""
    blob = bytearray(saved)
    blob[6] |= 0x1  # the first local header's general-purpose flags
    at = blob.index(b"PK\x01\x02")
    blob[at + 8] |= 0x1  # and the central directory's, which zipfile reads
    path = tmp_path / "encrypted.pmace"
    path.write_bytes(bytes(blob))
    with pytest.raises(ModelError, match="encrypted"):
        pmace_file.load(str(path))


@pytest.mark.parametrize("damage, message", [("data", "bad CRC-32"), ("magic", "bad magic number"),
                                             ("name", "names another file")])
def test_a_damaged_member_is_named(saved, tmp_path, damage, message):
    """Members are read without zipfile.open, so its checks are pymace's: the CRC-32 of the data, the local
    header's magic and its name (the last constant's member is damaged; the central directory is left as is)."""
    blob = bytearray(saved)
    at = blob.rindex(b"PK\x03\x04")
    name_length = int.from_bytes(blob[at + 26:at + 28], "little")
    where = {"data": len(blob[:blob.index(b"PK\x01\x02")]) - 1, "magic": at + 2, "name": at + 30 + name_length - 5}
    blob[where[damage]] ^= 0x4
    path = tmp_path / "damaged.pmace"
    path.write_bytes(bytes(blob))
    with pytest.raises(ModelError, match=message):
        pmace_file.load(str(path))


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_damaged_files_are_model_errors(saved, tmp_path_factory, data):
    blob = bytearray(saved)
    kind = data.draw(st.sampled_from(["truncate", "flip", "garbage"]))
    if kind == "truncate":
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    elif kind == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            blob[data.draw(st.integers(0, len(blob) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    else:
        blob = bytearray(data.draw(st.binary(max_size=2000)))
    path = tmp_path_factory.mktemp("bad") / "bad.pmace"
    path.write_bytes(bytes(blob))
    try:
        pmace_file.load(str(path))  # a flip may land in padding and leave a valid file: that is fine
    except ModelError as e:
        assert "\n" not in str(e)
