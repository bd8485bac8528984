"""The .pmace model file: a zip archive (NumPy's .npz container) holding `graph.json` and one .npy per constant.

Loading never unpickles: every array is read with allow_pickle=False, and the JSON is checked field by field.
Layout and versioning: docs/pmace-format.md."""
from __future__ import annotations

import json
import logging
import os
import struct
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import ModelError, writing
from ..safe_io import atomic_writer, npy_bytes, npy_from_buffer, open_regular, shorten
from ..trust import trusted_storage_dir
from .graph import Graph, Node, Tensor
from .symbolic import is_symbolic
from .verify import check_dims, check_dtype, check_symbolic_dims, verify, verify_symbolic

log = logging.getLogger(__name__)
FORMAT = "pmace"
VERSION = 2
READS = (1, 2)  # 2 added symbolic dims (docs/pmace-format.md); a version 1 file is a version 2 file without them


MAX_GRAPH_JSON = 16 << 20  # graph.json of the largest real models is well under 2 MiB; JSON objects take ~20x
# their text in memory, so this also bounds what a hostile graph.json costs
MAX_MEMBERS = 1 << 20
_META_TYPES = {"runtime": str, "data_type": str, "storage_dir": str, "storage_dir_tag": str, "converter": str,
               "framework": str,
               "source_file": str, "source_sha256": str, "labels": list, "preprocessing": dict,
               "validation_threshold": dict, "input_data_formats": dict, "input_shapes": dict,
               "limit_opencl_kernel_time": int, "library_name": str, "model_name": str, "zoo_name": str,
               "example_shapes": dict}


def save(graph: Graph, path: str) -> None:
    """Write `graph` to `path` (its folder created) atomically: a reader never sees half a model, and a symlink
    planted at the path or at a temp name is never written through."""
    doc = {
        "format": FORMAT, "version": VERSION, "name": graph.name,
        "inputs": graph.inputs, "outputs": graph.outputs, "metadata": graph.metadata,
        "tensors": [{"name": t.name, "shape": list(t.shape) if t.shape is not None else None, "dtype": t.dtype,
                     "const": t.is_const} for t in graph.tensors.values()],
        "nodes": [{"name": n.name, "op_type": n.op_type, "inputs": n.inputs, "outputs": n.outputs,
                   "attrs": n.attrs} for n in graph.nodes],
    }
    consts = [t for t in graph.tensors.values() if t.is_const]
    with writing(path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
            z.writestr("graph.json", json.dumps(doc, default=_json_default))
            for i, t in enumerate(consts):
                z.writestr(f"const/{i}.npy", npy_bytes(np.ascontiguousarray(t.data).reshape(t.data.shape)))  # 0-d
                # stays 0-d (ascontiguousarray makes it 1-d)


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"cannot store attribute value of type {type(v).__name__}")


@contextmanager
def _reading(path: str):
    """Every way a model file can be missing, damaged or hostile ends in one ModelError that names it."""
    try:
        yield
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except ModelError as e:
        raise ModelError(shorten(e if str(e).startswith(str(path)) else f"{path}: {e}")) from None
    except OSError as e:
        raise ModelError(f"{path}: cannot read ({e.strerror or e})") from None
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, EOFError, NotImplementedError, AttributeError,
            IndexError, ArithmeticError, MemoryError, RecursionError) as e:
        raise ModelError(shorten(f"{path}: corrupt or not a pymace model file ({type(e).__name__}: {e})")) \
            from None


@contextmanager
def _archive(path: str):
    """The model's zip archive, its members checked before any is read: stored (a compressed member could
    inflate to any size), sizes that fit the file together, no name twice."""
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        with zipfile.ZipFile(f) as z:
            infos = z.infolist()
            if len(infos) > MAX_MEMBERS:
                raise ModelError(f"{len(infos)} members")
            seen, total = set(), 0
            for i in infos:
                if i.compress_type != zipfile.ZIP_STORED or i.compress_size != i.file_size:
                    raise ModelError(f"member {i.filename[:60]!r} is compressed; a .pmace stores its members")
                if i.flag_bits & (0x1 | 0x20 | 0x40):  # encrypted, patched or strongly encrypted: zipfile raises
                    raise ModelError(f"member {i.filename[:60]!r} is encrypted; a .pmace stores plain members")
                if i.filename in seen:
                    raise ModelError(f"member {i.filename[:60]!r} appears twice")
                seen.add(i.filename)
                total += i.file_size
            if total > size:
                raise ModelError(f"its members claim {total} bytes, the file holds {size}")
            yield z


_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # a member's local header, zipfile's structFileHeader
_LOCAL_MAGIC, _UTF8_NAME = b"PK\x03\x04", 0x800


def _member(z: zipfile.ZipFile, name: str, limit: int | None = None) -> bytearray:
    """A stored member's bytes, its local header checked as zipfile.open checks it (magic, the same name as the
    central directory's) and its CRC-32 checked. Read straight into one buffer: zipfile's reader hands the bytes
    over in chunks and copies them twice, ~7 ms of a warm MobileNetV2 start (14 MB)."""
    info = z.getinfo(name)
    if limit is not None and info.file_size > limit:
        raise ModelError(f"member {name} holds {info.file_size} bytes (at most {limit})")
    f = z.fp
    f.seek(info.header_offset)
    head = f.read(_LOCAL_HEADER.size)
    if len(head) != _LOCAL_HEADER.size:
        raise ModelError(f"member {name} is truncated")
    magic, _, _, flags, *_, name_length, extra_length = _LOCAL_HEADER.unpack(head)
    if magic != _LOCAL_MAGIC:
        raise ModelError(f"member {name}: bad magic number in its local header")
    if f.read(name_length).decode("utf-8" if flags & _UTF8_NAME else "cp437") != info.orig_filename:
        raise ModelError(f"member {name}: its local header names another file")
    f.seek(extra_length, os.SEEK_CUR)
    buf = bytearray(info.file_size)
    if f.readinto(buf) != info.file_size:
        raise ModelError(f"member {name} is truncated")
    if zlib.crc32(buf) != info.CRC:
        raise ModelError(f"member {name}: bad CRC-32")
    return buf


def _read_doc(z: zipfile.ZipFile, path: str) -> dict:
    doc = json.loads(_member(z, "graph.json", MAX_GRAPH_JSON))
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelError(f"{path}: not a pymace model file")
    if doc.get("version") not in READS:
        raise ModelError(f"{path}: model file version {str(doc.get('version'))[:20]} (this pymace reads "
                         f"{', '.join(map(str, READS))}); convert the model again")
    meta = doc.get("metadata") or {}
    if not isinstance(meta, dict):
        raise ModelError("metadata is not a mapping")
    for key, kind in _META_TYPES.items():
        if meta.get(key) is not None and (not isinstance(meta[key], kind) or isinstance(meta[key], bool)):
            raise ModelError(f"metadata {key} is a {type(meta[key]).__name__}, not a {kind.__name__}")
    if meta.get("storage_dir") and trusted_storage_dir(meta) is None:  # docs/security.md
        log.warning("%s records storage_dir %s, which this user's conversions did not record; caches go to the "
                    "default (choose with --storage-dir)", path, shorten(meta["storage_dir"], 120))
        meta.pop("storage_dir")
    doc["metadata"] = meta
    return doc


def read_metadata(path: str) -> dict:
    """The model's metadata alone: graph.json is read, the constants are not."""
    with _reading(path), _archive(path) as z:
        return dict(_read_doc(z, path).get("metadata") or {})


def _names(items, what: str) -> list[str]:
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ModelError(f"{what} is not a list of names")
    return list(items)


def _tensor(t, z: zipfile.ZipFile, const_index: int, version: int) -> Tensor:
    if not isinstance(t, dict) or not isinstance(t.get("name"), str):
        raise ModelError("a tensor record is not a mapping with a name")
    name = t["name"]
    dims = check_symbolic_dims if version >= 2 else check_dims
    shape = None if t.get("shape") is None else dims(t["shape"], f"tensor {name!r}")
    dtype = check_dtype(t.get("dtype"), f"tensor {name!r}")
    data = None
    if t.get("const") is True:
        data = npy_from_buffer(_member(z, f"const/{const_index}.npy"), f"constant {name!r}")
    elif t.get("const") not in (False, None):
        raise ModelError(f"tensor {name!r}: const is {str(t.get('const'))[:20]}")
    return Tensor(name, shape, dtype, data)


def _node(n) -> Node:
    if not isinstance(n, dict) or not isinstance(n.get("name"), str) or not isinstance(n.get("op_type"), str):
        raise ModelError("a node record is not a mapping with a name and an op_type")
    attrs = n.get("attrs") or {}
    if not isinstance(attrs, dict):
        raise ModelError(f"node {n['name']!r}: attrs is not a mapping")
    return Node(n["name"], n["op_type"], _names(n.get("inputs"), f"node {n['name']!r} inputs"),
                _names(n.get("outputs"), f"node {n['name']!r} outputs"), dict(attrs))


def load(path: str) -> Graph:
    """Read and verify a model (ir/verify.py): any problem is one ModelError naming the file."""
    with _reading(path), _archive(path) as z:
        doc = _read_doc(z, path)
        tensors, ci = {}, 0
        if not isinstance(doc.get("tensors"), list) or not isinstance(doc.get("nodes"), list):
            raise ModelError("tensors and nodes must be lists")
        for t in doc["tensors"]:
            tensor = _tensor(t, z, ci, doc["version"])
            ci += tensor.is_const
            if tensor.name in tensors:
                raise ModelError(f"tensor {tensor.name!r} is recorded twice")
            tensors[tensor.name] = tensor
        nodes = [_node(n) for n in doc["nodes"]]
        graph = Graph(str(doc.get("name")), nodes, tensors, _names(doc.get("inputs"), "inputs"),
                      _names(doc.get("outputs"), "outputs"), dict(doc.get("metadata") or {}))
        verify_symbolic(graph) if is_symbolic(graph) else verify(graph)
    return graph
