"""ONNX LSTM / GRU → the IR's (ops/rnn.py): every output gets a name (the op always writes Y, Y_h and Y_c), and
layout 1 (batch first: X [batch, seq, input], states [batch, directions, hidden]) becomes Transposes around a
layout-0 node."""
from __future__ import annotations

OUTPUTS = {"LSTM": 3, "GRU": 2}
STATE_INPUTS = {"LSTM": (5, 6), "GRU": (5,)}  # initial_h, initial_c


def lower(imp, n) -> None:
    """The LSTM and GRU importer."""
    attrs = {k: v for k, v in n.attrs.items() if k != "layout"}
    inputs = list(n.inputs)
    named = [k < len(n.outputs) and bool(n.outputs[k]) for k in range(OUTPUTS[n.op_type])]
    outputs = [n.outputs[k] if named[k] else imp.temp(n, f"unused{k}") for k in range(len(named))]
    if not n.get("layout", 0):
        imp.emit(n.op_type, inputs, outputs, attrs, n.name)
        return
    for k in (0, *STATE_INPUTS[n.op_type]):
        if k < len(inputs) and inputs[k]:
            swapped = imp.temp(n, f"layout0_in{k}")
            imp.emit("Transpose", [inputs[k]], [swapped], {"perm": [1, 0, 2]}, f"{n.name}/to_layout0_{k}")
            inputs[k] = swapped
    inner = [imp.temp(n, f"layout0_out{k}") if named[k] else outputs[k] for k in range(len(outputs))]
    imp.emit(n.op_type, inputs, inner, attrs, n.name)
    for k in (k for k in range(len(outputs)) if named[k]):  # Y [seq, dirs, batch, hidden] → [batch, seq, dirs, …]
        perm = [2, 0, 1, 3] if k == 0 else [1, 0, 2]
        imp.emit("Transpose", [inner[k]], [outputs[k]], {"perm": perm}, f"{n.name}/to_layout1_{k}")
