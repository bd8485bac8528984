"""The .pmace model file: a zip archive (NumPy's .npz container) holding `graph.json` and one .npy per constant.

Loading never unpickles: every array is read with allow_pickle=False, and the JSON is checked field by field.
Layout and versioning: docs/pmace-format.md."""
from __future__ import annotations

import io
import json
import os
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import ModelError, writing
from .graph import Graph, Node, Tensor

FORMAT = "pmace"
VERSION = 1


def save(graph: Graph, path: str) -> None:
    """Write `graph` to `path` (its folder created), through a temp file so a reader never sees half a model."""
    doc = {
        "format": FORMAT, "version": VERSION, "name": graph.name,
        "inputs": graph.inputs, "outputs": graph.outputs, "metadata": graph.metadata,
        "tensors": [{"name": t.name, "shape": list(t.shape) if t.shape is not None else None, "dtype": t.dtype,
                     "const": t.is_const} for t in graph.tensors.values()],
        "nodes": [{"name": n.name, "op_type": n.op_type, "inputs": n.inputs, "outputs": n.outputs,
                   "attrs": n.attrs} for n in graph.nodes],
    }
    consts = [t for t in graph.tensors.values() if t.is_const]
    tmp = f"{path}.tmp"
    with writing(path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:
                z.writestr("graph.json", json.dumps(doc, default=_json_default))
                for i, t in enumerate(consts):
                    buf = io.BytesIO()
                    np.save(buf, np.ascontiguousarray(t.data), allow_pickle=False)
                    z.writestr(f"const/{i}.npy", buf.getvalue())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"cannot store attribute value of type {type(v).__name__}")


@contextmanager
def _reading(path: str):
    """Every way a model file can be missing or damaged ends in one ModelError that names it."""
    try:
        yield
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except ModelError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError, EOFError, NotImplementedError) as e:
        raise ModelError(f"{path}: corrupt or not a pymace model file ({type(e).__name__}: {e})") from None


def _read_doc(z: zipfile.ZipFile, path: str) -> dict:
    doc = json.loads(z.read("graph.json"))
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelError(f"{path}: not a pymace model file")
    if doc.get("version") != VERSION:
        raise ModelError(f"{path}: model file version {doc.get('version')} (this pymace reads {VERSION});"
                         " convert the model again")
    return doc


def read_metadata(path: str) -> dict:
    """The model's metadata alone: graph.json is read, the constants are not."""
    with _reading(path), zipfile.ZipFile(path) as z:
        return dict(_read_doc(z, path).get("metadata") or {})


def load(path: str) -> Graph:
    with _reading(path), zipfile.ZipFile(path) as z:
        doc = _read_doc(z, path)
        tensors, ci = {}, 0
        for t in doc["tensors"]:
            data = None
            if t["const"]:
                data = np.load(io.BytesIO(z.read(f"const/{ci}.npy")), allow_pickle=False)
                ci += 1
            shape = tuple(int(d) for d in t["shape"]) if t["shape"] is not None else None
            tensors[str(t["name"])] = Tensor(str(t["name"]), shape, str(t["dtype"]), data)
        nodes = [Node(str(n["name"]), str(n["op_type"]), [str(i) for i in n["inputs"]],
                      [str(o) for o in n["outputs"]], dict(n["attrs"])) for n in doc["nodes"]]
        graph = Graph(str(doc["name"]), nodes, tensors, [str(i) for i in doc["inputs"]],
                      [str(o) for o in doc["outputs"]], dict(doc.get("metadata") or {}))
    graph.verify()
    return graph
