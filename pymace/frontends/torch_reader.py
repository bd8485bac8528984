"""A safe reader for torch state dicts saved in torch's legacy (non-zip) format, without torch.

The legacy file is a run of pickles followed by raw storage bytes:
  magic number, protocol version, sys_info, the state dict (storages as persistent ids), the storage keys,
  then per key: an int64 element count and that many elements, little-endian.
A model file is untrusted: every pickle goes through `_Unpickler`, whose `find_class` allows only what a state
dict needs and maps torch's names to harmless local stand-ins, so no code named by the file ever runs. Sizes
come from the file and are checked against it before anything is allocated."""
from __future__ import annotations

import collections
import io
import os
import pickle
from dataclasses import dataclass

import numpy as np

from ..errors import ModelError
from ..safe_io import read_bounded

MAX_FILE_BYTES = 8 << 30  # the file is read whole (a FIFO or /dev/zero is refused before that)
MAGIC = 0x1950A86A20F9469CFC6C
PROTOCOL = 1001
# torch storage class -> element dtype (little-endian). Anything else (quantised, bfloat16, …) is refused.
DTYPES = {"FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "LongStorage": "<i8",
          "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1",
          "BoolStorage": "?"}


@dataclass(frozen=True)
class _StorageType:
    dtype: str


@dataclass
class _Storage:
    key: str
    dtype: str
    numel: int
    view: tuple | None  # (root_key, offset, size) for old storage views
    data: np.ndarray | None = None


@dataclass(frozen=True)
class _TensorRef:
    storage: _Storage
    offset: int
    size: tuple
    stride: tuple


def _rebuild_tensor(storage, offset, size, stride, *_ignored) -> _TensorRef:
    """Stand-in for torch._utils._rebuild_tensor_v2: record where the tensor lives; data comes later."""
    if not isinstance(storage, _Storage):
        raise ModelError("tensor does not refer to a storage")
    if not (isinstance(offset, int) and isinstance(size, tuple) and isinstance(stride, tuple)):
        raise ModelError("tensor with malformed offset, size or stride")
    return _TensorRef(storage, offset, size, stride)


class _Unpickler(pickle.Unpickler):
    ALLOWED = {("collections", "OrderedDict"): collections.OrderedDict,
               ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
               ("torch._utils", "_rebuild_tensor"): _rebuild_tensor}

    def __init__(self, f, storages: dict):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return self.ALLOWED[(module, name)]
        if module == "torch" and name in DTYPES:
            return _StorageType(DTYPES[name])
        raise ModelError(f"refusing to load {module}.{name}: not part of a plain tensor state dict")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise ModelError(f"unsupported persistent id {str(pid)[:60]}")
        _, stype, key, _location, numel, view = pid
        if not (isinstance(stype, _StorageType) and isinstance(key, str) and isinstance(numel, int)
                and numel >= 0 and (view is None or isinstance(view, tuple))):
            raise ModelError(f"malformed storage record for key {str(key)[:40]}")
        if key not in self.storages:
            self.storages[key] = _Storage(key, stype.dtype, numel, None)
        root = self.storages[key]
        if root.dtype != stype.dtype:
            raise ModelError(f"storage {key} is read as two element types")
        if view is None:
            return root
        if not (len(view) == 3 and all(isinstance(v, int) for v in view[1:])):
            raise ModelError(f"malformed storage view of {key}")
        return _Storage(str(view[0]), root.dtype, view[2], (key, view[1], view[2]))


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a legacy-format torch state dict into {name: array}. Any problem is a ModelError."""
    try:
        buf = read_bounded(path, MAX_FILE_BYTES)
    except OSError as e:
        raise ModelError(f"cannot read {path}: {e.strerror}") from None
    if buf[:2] == b"PK":
        raise ModelError(f"{path}: torch zip-format checkpoints are not supported (save with "
                         "_use_new_zipfile_serialization=False)")
    try:
        return _parse(io.BytesIO(buf), len(buf))
    except ModelError as e:
        raise ModelError(f"{path}: {e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            OverflowError, MemoryError, RecursionError, UnicodeDecodeError) as e:
        raise ModelError(f"{path}: not a valid torch state dict ({type(e).__name__}: {str(e)[:80]})") \
            from None


def _parse(f: io.BytesIO, size: int) -> dict[str, np.ndarray]:
    storages: dict[str, _Storage] = {}

    def load():
        return _Unpickler(f, storages).load()

    if load() != MAGIC:
        raise ModelError("not a torch legacy file (bad magic number)")
    if load() != PROTOCOL:
        raise ModelError("unsupported torch protocol version")
    sys_info = load()
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
        raise ModelError("only little-endian torch files are supported")
    state = load()
    keys = load()
    if not isinstance(state, dict) or not isinstance(keys, list):
        raise ModelError("the file does not hold a state dict")
    for key in keys:
        s = storages.get(key) if isinstance(key, str) else None
        if s is None or s.data is not None:
            raise ModelError(f"storage key {str(key)[:40]} is unknown or repeated")
        s.data = _read_storage(f, size, s)
    return {str(name): _materialise(name, t, storages) for name, t in state.items()}


def _read_storage(f: io.BytesIO, size: int, s: _Storage) -> np.ndarray:
    header = f.read(8)
    if len(header) != 8:
        raise ModelError(f"file ends before storage {s.key}")
    count = int(np.frombuffer(header, "<i8")[0])
    itemsize = np.dtype(s.dtype).itemsize
    if count != s.numel or count < 0 or count * itemsize > size - f.tell():
        raise ModelError(f"storage {s.key}: {count} elements do not fit the file or the declared {s.numel}")
    return np.frombuffer(f.read(count * itemsize), s.dtype)


def _materialise(name, t, storages: dict[str, _Storage]) -> np.ndarray:
    if not isinstance(t, _TensorRef):
        raise ModelError(f"entry {str(name)[:60]} is not a tensor")
    s = t.storage
    if s.view is not None:  # an old-style view: a window onto its root storage
        root, start, n = storages[s.view[0]], s.view[1], s.view[2]
        if root.data is None or start < 0 or start + n > root.data.size:
            raise ModelError(f"tensor {name}: storage view out of bounds")
        data = root.data[start:start + n]
    else:
        data = s.data
    if data is None:
        raise ModelError(f"tensor {name}: its storage has no data")
    size, stride, offset = t.size, t.stride, t.offset
    if (len(size) != len(stride) or not all(isinstance(v, int) and v >= 0 for v in size + stride)
            or offset < 0):
        raise ModelError(f"tensor {name}: malformed size {size} / stride {stride}")
    last = offset + sum((n - 1) * st for n, st in zip(size, stride, strict=True)) if all(size) else offset - 1
    if last >= data.size:
        raise ModelError(f"tensor {name}: size {size} stride {stride} reaches past its storage")
    if not all(size):
        return np.zeros(size, data.dtype)
    # A view may not repeat storage elements: a zero stride (or overlapping ones) would let a few bytes of storage
    # expand into gigabytes when the tensor is copied out. State dicts hold plain (contiguous or permuted) tensors.
    if any(st == 0 and n > 1 for n, st in zip(size, stride, strict=True)) or \
            int(np.prod(size, dtype=object)) > data.size - offset:
        raise ModelError(f"tensor {name}: size {size} stride {stride} repeats elements of its storage "
                         f"({data.size} elements)")
    view = np.lib.stride_tricks.as_strided(data[offset:], size, [st * data.itemsize for st in stride])
    return np.array(view, dtype=data.dtype.newbyteorder("="))  # own, writable, native-order copy
