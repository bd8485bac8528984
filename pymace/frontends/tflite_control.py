"""TFLite control flow and the model's interface: IF, inlined from its branch subgraphs, and the input shapes a
conversion runs at.

IF (cond, args…) runs subgraph then_subgraph_index or else_subgraph_index on args. A condition known at import
(a constant, or folded shape arithmetic) inlines the taken branch only. A condition computed at run time inlines
both branches and selects each output with Where(cond, then, else): TFLite branches are pure functions of their
inputs (pymace imports no stateful ops), so computing the branch not taken changes nothing but the work done."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError, ModelError


def input_shapes(imp, given: dict) -> dict[int, tuple[int, ...]]:
    """The shape of each input of the model: `given` for those it names (checked against the signature), the
    file's own for the rest. A -1 beyond the batch dim must be given; a -1 batch dim defaults to the file's 1."""
    inputs = imp.subgraphs[0].inputs
    names = {imp.name(i): i for i in inputs}
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ConvertError(f"input_shapes names {unknown}, but the model's inputs are {list(names)}")
    out = {}
    for name, i in names.items():
        t = imp.tf[i]
        declared = [-1 if s == -1 else d for d, s in zip(t.shape, t.signature or t.shape)]
        if name in given:
            shape = tuple(int(d) for d in given[name])
            if len(shape) != len(declared) or any(d != -1 and d != g for d, g in zip(declared, shape)) or \
                    any(g < 1 for g in shape):
                raise ConvertError(f"input {name!r}: input_shapes gives {list(shape)}, the model declares "
                                   f"{declared}")
        elif -1 in declared[1:]:
            raise ConvertError(f"input {name!r} has dims {declared}; give its shape with --input-shape "
                               f"{name}=D0,D1,… (input_shapes= in Python, input_shapes in a deployment YAML)")
        else:
            shape = t.shape
        out[i] = shape
    return out


def _branch(imp, op, index: int):
    if not 0 < index < len(imp.subgraphs):
        raise ModelError(f"IF {imp.op_name(op)!r}: branch subgraph {index} of {len(imp.subgraphs)}")
    sg = imp.subgraphs[index]
    if len(sg.inputs) != len(op.inputs) - 1 or len(sg.outputs) != len(op.outputs):
        raise ModelError(f"IF {imp.op_name(op)!r}: subgraph {index} takes {len(sg.inputs)} inputs and gives "
                         f"{len(sg.outputs)} outputs, the operator has {len(op.inputs) - 1} and {len(op.outputs)}")
    return sg


def _inline(imp, op, index: int) -> list[int]:
    """Import branch subgraph `index` on the IF's arguments; its output tensors (their values are set)."""
    sg = _branch(imp, op, index)
    if index in imp.inlined:
        raise ConvertError(f"IF {imp.op_name(op)!r}: subgraph {index} is a branch of more than one IF (or of "
                           "itself); pymace inlines each branch once")
    imp.inlined.add(index)
    for inner, outer in zip(sg.inputs, op.inputs[1:]):
        if outer < 0:
            raise ModelError(f"IF {imp.op_name(op)!r}: an argument is omitted")
        imp.tf[inner].shape = imp.tf[outer].shape
        if outer in imp.consts:
            imp.consts[inner] = imp.consts[outer]
        else:
            imp.value[inner] = imp.act(outer)
    for inner_op in sg.ops:
        imp.import_op(inner_op)
    for o in sg.outputs:
        if o not in imp.value and o not in imp.consts:
            raise ModelError(f"IF {imp.op_name(op)!r}: subgraph {index} never computes its output "
                             f"{imp.tf[o].name!r}")
    return sg.outputs


def _if(imp, op) -> None:
    cond = op.inputs[0]
    then_k, else_k = int(op.options.get("ThenSubgraphIndex", 0)), int(op.options.get("ElseSubgraphIndex", 0))
    if cond in imp.consts:
        value = np.asarray(imp.consts[cond])
        if value.size != 1:
            raise ModelError(f"IF {imp.op_name(op)!r}: a condition of {value.size} values")
        taken = _inline(imp, op, then_k if bool(value.reshape(-1)[0]) else else_k)
        pairs = [(o, None) for o in taken]
    else:
        pairs = list(zip(_inline(imp, op, then_k), _inline(imp, op, else_k)))
    imp.requant = {}  # the branches' operators used it; from here on it is the IF's own outputs'
    for k, (o, (then_o, else_o)) in enumerate(zip(op.outputs, pairs)):
        imp.tf[o].shape = imp.tf[then_o].shape
        if else_o is not None and imp.tf[else_o].shape != imp.tf[then_o].shape:
            raise ModelError(f"IF {imp.op_name(op)!r}: its branches give output {k} of shapes "
                             f"{list(imp.tf[then_o].shape)} and {list(imp.tf[else_o].shape)}")
        if else_o is None:
            imp.value[o] = imp.add("Identity", [imp.act(then_o)], imp.out(op, k), imp.ir_shape(o))
        else:
            imp.value[o] = imp.add("Where", [imp.act(cond), imp.act(then_o), imp.act(else_o)], imp.out(op, k),
                                   imp.ir_shape(o))


IMPORTERS = {"IF": _if}
