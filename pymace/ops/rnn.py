"""LSTM and GRU (ONNX semantics, layout 0: X [T, batch, input]; forward, reverse or bidirectional; optional
bias, initial states and LSTM peepholes; `clip`, LSTM `input_forget`, GRU `linear_before_reset`; the default
activations only). Outputs Y [T, directions, batch, hidden], Y_h and (LSTM) Y_c [directions, batch, hidden].

On the device every time step is a launch (GRU: two, since the reset gate of every hidden unit must be known
before the candidate state of any) over (hidden unit, batch, direction); both directions of a bidirectional
layer advance in the same launch. The step's hidden state is read from Y's previous step (or initial_h) and
written to Y, so a launch never reads what it writes. W and R are rearranged at plan time to [k, hidden, gates]
(kernels/rnn.cl): a work-item loads its unit's gates as one vector and neighbouring work-items read neighbouring
vectors. The ONNX importer turns layout 1 into Transposes."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from .base import Case, Const, Scratch, TensorInfo

OP_TYPES = ("LSTM", "GRU")
GATES = {"LSTM": 4, "GRU": 3}
DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}
DIRECTIONS = ("forward", "reverse", "bidirectional")


def _text(v):
    return v.decode() if isinstance(v, bytes) else v


def _settings(op: str, direction="forward", activations=None, layout=0, **_) -> int:
    """Check the attributes pymace supports; return the number of directions."""
    direction = _text(direction)
    if direction not in DIRECTIONS:
        raise ConvertError(f"{op}: direction {direction!r} is not one of {', '.join(DIRECTIONS)}")
    dirs = 2 if direction == "bidirectional" else 1
    if activations is not None and [_text(a) for a in activations] != DEFAULT_ACTIVATIONS[op] * dirs:
        raise ConvertError(f"{op}: activations {[_text(a) for a in activations]} are not supported (only the "
                           f"defaults {DEFAULT_ACTIVATIONS[op]} per direction)")
    if layout:
        raise ConvertError(f"{op}: the IR takes layout 0 ([seq, batch, …]); the ONNX importer lowers layout 1")
    return dirs


def _expect(t: TensorInfo | None, shape: tuple, op: str, what: str) -> None:
    if t is not None and tuple(t.shape) != tuple(shape):
        raise ConvertError(f"{op}: {what} has shape {list(t.shape)}, expected {list(shape)}")


def _inputs(ins) -> list:
    """X, W, R, B, sequence_lens, initial_h, initial_c, P (None where omitted)."""
    return (list(ins) + [None] * 8)[:8]


def infer(*ins, _op_type: str, hidden_size=None, **attrs) -> list:
    x, w, r, b, seq_lens, h0, c0, p = _inputs(ins)
    op, dirs = _op_type, _settings(_op_type, **attrs)
    if len(x.shape) != 3:
        raise ConvertError(f"{op}: X must be [seq, batch, input], got shape {list(x.shape)}")
    steps, batch, size = x.shape
    hidden = r.shape[-1] if len(r.shape) == 3 else -1
    if hidden_size is not None and int(hidden_size) != hidden:
        raise ConvertError(f"{op}: hidden_size {hidden_size} but R has shape {list(r.shape)}")
    g = GATES[op]
    for t, shape, what in ((w, (dirs, g * hidden, size), "W"), (r, (dirs, g * hidden, hidden), "R"),
                           (b, (dirs, 2 * g * hidden), "B"), (h0, (dirs, batch, hidden), "initial_h"),
                           (c0, (dirs, batch, hidden), "initial_c"), (p, (dirs, 3 * hidden), "P")):
        _expect(t, shape, op, what)
    if op == "GRU" and (c0 is not None or p is not None):
        raise ConvertError("GRU: takes at most 6 inputs (no initial_c or P)")
    if seq_lens is not None and (seq_lens.value is None or (np.asarray(seq_lens.value) != steps).any()):
        raise ConvertError(f"{op}: sequence_lens other than a constant of the full length {steps} are not "
                           "supported")
    state = ((dirs, batch, hidden), x.dtype)
    return [((steps, dirs, batch, hidden), x.dtype), state] + ([state] if op == "LSTM" else [])


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _lstm_direction(x, weights, h, c, clip, input_forget):
    w, r, b, p = weights
    cut = (lambda v: np.clip(v, -clip, clip)) if clip is not None else (lambda v: v)
    pi, po, pf = np.split(p, 3)
    ys = []
    for xt in x:
        gi, go, gf, gc = np.split(xt @ w.T + h @ r.T + b[:b.size // 2] + b[b.size // 2:], 4, axis=-1)
        i = _sigmoid(cut(gi + pi * c))
        f = 1.0 - i if input_forget else _sigmoid(cut(gf + pf * c))
        c = f * c + i * np.tanh(cut(gc))
        h = _sigmoid(cut(go + po * c)) * np.tanh(c)
        ys.append(h)
    return ys, h, c


def _gru_direction(x, w, r, b, h, clip, linear_before_reset):
    cut = (lambda v: np.clip(v, -clip, clip)) if clip is not None else (lambda v: v)
    hidden = h.shape[-1]
    wb, rb = b[:3 * hidden], b[3 * hidden:]
    ys = []
    for xt in x:
        xw, hr = xt @ w.T + wb, h @ r.T
        z = _sigmoid(cut(xw[:, :hidden] + hr[:, :hidden] + rb[:hidden]))
        rg = _sigmoid(cut(xw[:, hidden:2 * hidden] + hr[:, hidden:2 * hidden] + rb[hidden:2 * hidden]))
        if linear_before_reset:
            cand = xw[:, 2 * hidden:] + rg * (hr[:, 2 * hidden:] + rb[2 * hidden:])
        else:
            cand = xw[:, 2 * hidden:] + (rg * h) @ r[2 * hidden:].T + rb[2 * hidden:]
        h = (1.0 - z) * np.tanh(cut(cand)) + z * h
        ys.append(h)
    return ys, h, None


def reference(*ins, _op_type: str, direction="forward", clip=None, input_forget=0, linear_before_reset=0,
              **_) -> list[np.ndarray]:
    x, w, r, b, _, h0, c0, p = _inputs(ins)
    dirs, hidden, batch = w.shape[0], r.shape[-1], x.shape[1]
    g = GATES[_op_type]
    b = np.zeros((dirs, 2 * g * hidden), x.dtype) if b is None else b
    h0 = np.zeros((dirs, batch, hidden), x.dtype) if h0 is None else h0
    c0 = np.zeros((dirs, batch, hidden), x.dtype) if c0 is None else c0
    p = np.zeros((dirs, 3 * hidden), x.dtype) if p is None else p
    ys, hs, cs = [], [], []
    for d in range(dirs):
        backward = _text(direction) == "reverse" or d == 1
        seq = x[::-1] if backward else x
        if _op_type == "LSTM":
            y, h, c = _lstm_direction(seq, (w[d], r[d], b[d], p[d]), h0[d], c0[d], clip, input_forget)
        else:
            y, h, c = _gru_direction(seq, w[d], r[d], b[d], h0[d], clip, linear_before_reset)
        ys.append(np.stack(y[::-1] if backward else y))
        hs.append(h)
        cs.append(c)
    out = [np.stack(ys, axis=1).astype(x.dtype), np.stack(hs).astype(x.dtype)]
    return out + ([np.stack(cs).astype(x.dtype)] if _op_type == "LSTM" else [])


def _weights(ctx, index: int, what: str, shape, transpose: bool = False) -> Const:
    """A constant weight input (zeros when omitted); `transpose`: [dirs, rows, k] → [dirs, k, rows]."""
    ref = ctx.inputs[index] if index < len(ctx.inputs) else None
    if ref is None:
        return Const(np.zeros(shape, np.float32))
    if ref.const is None:
        raise ConvertError(f"node {ctx.node.name!r} ({ctx.node.op_type}): {what} must be a constant (weights)")
    return Const(np.ascontiguousarray(ref.const.transpose(0, 2, 1) if transpose else ref.const))


def _gates_last(c: Const, gates: int, hidden: int) -> Const:
    """[..., gates*hidden] → [..., hidden, gates]: the gates of one hidden unit side by side (one vector load)."""
    a = c.data
    return Const(np.ascontiguousarray(a.reshape(a.shape[:-1] + (gates, hidden)).swapaxes(-1, -2)).reshape(
        a.shape[:-1] + (gates * hidden,)))


def _gru_split(c: Const, hidden: int) -> tuple[Const, Const]:
    """[dirs, k, 3*hidden] → the z and r gates side by side [dirs, k, hidden, 2], and h [dirs, k, hidden]."""
    zr = _gates_last(Const(c.data[..., :2 * hidden]), 2, hidden)
    return zr, Const(np.ascontiguousarray(c.data[..., 2 * hidden:]))


def _initial(ctx, index: int, shape):
    """initial_h / initial_c, or zeros when omitted."""
    ref = ctx.inputs[index] if index < len(ctx.inputs) else None
    return ref if ref is not None else Const(np.zeros(shape, np.float32))


def _step_tables(steps: int, dirs: int, reverse: bool) -> list[Const]:
    """Per step: (t, previous t or -1) of each direction."""
    tables = []
    for s in range(steps):
        row = []
        for d in range(dirs):
            backward = reverse or d == 1
            t = steps - 1 - s if backward else s
            row += [t, -1 if s == 0 else (t + 1 if backward else t - 1)]
        tables.append(Const(np.array(row, np.int32)))
    return tables


def launch(ctx, *, _op_type: str, direction="forward", clip=None, input_forget=0, linear_before_reset=0,
           **_) -> None:
    x, y, yh = ctx.inputs[0], ctx.outputs[0], ctx.outputs[1]
    steps, dirs, batch, hidden = y.shape
    size, g = x.shape[2], GATES[_op_type]
    if steps == 0 or batch == 0 or hidden == 0:
        return
    h0, c0 = (_initial(ctx, i, (dirs, batch, hidden)) for i in (5, 6))
    wt = _weights(ctx, 1, "W", (dirs, g * hidden, size), transpose=True)
    rt = _weights(ctx, 2, "R", (dirs, g * hidden, hidden), transpose=True)
    bias = _weights(ctx, 3, "B", (dirs, 2 * g * hidden))
    opts = (f"-DCLIP={float(clip)!r}f",) if clip is not None else ()
    dims = [np.int32(v) for v in (dirs, batch, size, hidden)]
    tables = _step_tables(steps, dirs, _text(direction) == "reverse")
    if _op_type == "LSTM":
        bias = Const(bias.data.reshape(dirs, 2, 4 * hidden))  # (W biases, R biases)
        wt, rt, bias = (_gates_last(c, 4, hidden) for c in (wt, rt, bias))
        peep = _weights(ctx, 7, "P", (dirs, 3 * hidden))
        opts += ("-DINPUT_FORGET=1",) if input_forget else ()
        for table in tables:
            args = [x, wt, rt, bias, peep, h0, c0, y, yh, ctx.outputs[2], table, *dims]
            ctx.kernel("rnn", "lstm_step", (hidden, batch, dirs), args, options=opts)
        return
    opts += ("-DLINEAR_BEFORE_RESET=1",) if linear_before_reset else ()
    (wzr, wh), (rzr, rh) = (_gru_split(c, hidden) for c in (wt, rt))
    gates = Scratch(2 * dirs * batch * hidden)
    for table in tables:
        ctx.kernel("rnn", "gru_gates", (hidden, batch, dirs), [x, wzr, rzr, bias, h0, y, gates, table, *dims],
                   options=opts)
        ctx.kernel("rnn", "gru_state", (hidden, batch, dirs), [x, wh, rh, bias, h0, y, yh, gates, table, *dims],
                   options=opts)


_LSTM, _GRU = {"hidden_size": 7}, {"hidden_size": 6}
CASES = [
    Case("lstm_forward", [(5, 2, 4), (1, 28, 4), (1, 28, 7)], _LSTM, consts=(1, 2), op_type="LSTM"),
    Case("lstm_states_peepholes", [(4, 3, 5), (1, 28, 5), (1, 28, 7), (1, 56), None, (1, 3, 7), (1, 3, 7),
                                   (1, 21)], _LSTM, consts=(1, 2, 3, 7), op_type="LSTM"),
    Case("lstm_reverse_clip", [(6, 2, 3), (1, 28, 3), (1, 28, 7), (1, 56)], {**_LSTM, "direction": "reverse",
                                                                             "clip": 1.5},
         consts=(1, 2, 3), op_type="LSTM"),
    Case("lstm_bidirectional", [(5, 2, 4), (2, 28, 4), (2, 28, 7), (2, 56), None, (2, 2, 7), (2, 2, 7)],
         {**_LSTM, "direction": "bidirectional"}, consts=(1, 2, 3), op_type="LSTM"),
    Case("lstm_input_forget", [(3, 1, 4), (1, 28, 4), (1, 28, 7), (1, 56)], {**_LSTM, "input_forget": 1},
         consts=(1, 2, 3), op_type="LSTM"),
    Case("gru_forward", [(5, 2, 4), (1, 18, 4), (1, 18, 6), (1, 36)], _GRU, consts=(1, 2, 3), op_type="GRU"),
    Case("gru_linear_before_reset_state", [(4, 3, 5), (1, 18, 5), (1, 18, 6), (1, 36), None, (1, 3, 6)],
         {**_GRU, "linear_before_reset": 1}, consts=(1, 2, 3), op_type="GRU"),
    Case("gru_bidirectional", [(5, 2, 3), (2, 18, 3), (2, 18, 6), (2, 36), None, (2, 2, 6)],
         {**_GRU, "direction": "bidirectional"}, consts=(1, 2, 3), op_type="GRU"),
    Case("gru_reverse_clip", [(4, 2, 3), (1, 18, 3), (1, 18, 6)], {**_GRU, "direction": "reverse", "clip": 0.8},
         consts=(1, 2), op_type="GRU"),
]
