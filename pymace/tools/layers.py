"""`pymace validate --layers`: every intermediate tensor on the device against the source framework's own, in
graph order, and the first node that diverges (what MACE's validate does with its per-layer outputs).

The engine runs a copy of the graph whose outputs are every float tensor (validate.probe_graph). onnxruntime
exposes the source model's intermediates when they are made graph outputs; LiteRT keeps them with
`experimental_preserve_all_tensors`. pymace's IR keeps the source's tensor names where a node survives the
passes; a fused node's inner tensors have no twin on one side or the other, and only tensors present on both
sides are compared (NHWC source tensors are compared in the IR's NCHW order)."""
from __future__ import annotations

import numpy as np

from ..extras import require


def compare_layers(graph, kind: str, source: str | None, feeds: dict, device: str, data_type: str,
                   threshold: float, storage_dir=None) -> dict:
    from .. import Engine
    from .validate import node_rows, probe_graph

    probe = probe_graph(graph)
    got = Engine(probe, device=device, data_type=data_type, storage_dir=storage_dir).run(feeds)
    if kind == "onnxruntime":
        want = onnx_intermediates(source, graph, feeds)
    elif kind == "litert":
        want = litert_intermediates(source, feeds)
    else:
        from ..reference import executor

        want = executor.run(graph, feeds, keep=True)
    aligned = {n: a for n, a in ((n, _align(want.get(n), got[n])) for n in got) if a is not None}
    rows = node_rows(graph, got, aligned, threshold)
    return rows | {"reference": kind, "compared": len(rows["nodes"]),
                   "unmatched": sum(1 for n in probe.outputs if n not in aligned)}


def _align(want, got):
    """`want` in `got`'s shape: as it is, NHWC → NCHW, or with unit dims dropped; None when it has no twin."""
    if want is None:
        return None
    want = np.asarray(want)
    if want.shape == got.shape:
        return want
    if want.ndim == 4 and want.transpose(0, 3, 1, 2).shape == got.shape:
        return want.transpose(0, 3, 1, 2)
    squeeze = [d for d in want.shape if d != 1] == [d for d in got.shape if d != 1]
    return want.reshape(got.shape) if squeeze else None


def onnx_intermediates(source: str, graph, feeds: dict) -> dict[str, np.ndarray]:
    """Every node output of the source ONNX model, run by onnxruntime."""
    require("validate --layers", "reference", "onnx", "onnxruntime")
    import onnx
    import onnxruntime as ort

    from .validate import onnx_model_bytes

    data = onnx_model_bytes(source, graph)
    model = onnx.load_from_string(data) if isinstance(data, bytes) else onnx.load(data)
    have = {o.name for o in model.graph.output}
    for node in model.graph.node:
        for name in node.output:
            if name and name not in have:
                model.graph.output.append(onnx.ValueInfoProto(name=name))
                have.add(name)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    ins = {i.name: feeds[i.name] for i in session.get_inputs() if i.name in feeds}
    return dict(zip(names, session.run(names, ins)))


def litert_intermediates(source: str, feeds: dict) -> dict[str, np.ndarray]:
    """Every tensor of the source TFLite model after one invoke, by name."""
    require("validate --layers", "reference", "ai_edge_litert")
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=source, experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    values = list(feeds.values())
    for i, d in enumerate(it.get_input_details()):
        it.set_tensor(d["index"], np.asarray(feeds.get(d["name"], values[i]), d["dtype"]))
    it.invoke()
    out = {}
    for d in it.get_tensor_details():
        try:
            out[d["name"]] = it.get_tensor(d["index"]).copy()
        except ValueError:  # tensors without data (e.g. freed scratch) are not comparable
            continue
    return out
