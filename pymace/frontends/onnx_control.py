"""ONNX `If` at import. A condition that folds to a constant inlines the taken branch. A run-time condition
inlines both branches (ONNX subgraphs have no side effects) and selects each output with `Where`, which needs
both branches to give outputs of one shape; anything else is refused in one line. Branch tensors are renamed
under the If node's name, so they never clash with the outer graph's."""
from __future__ import annotations

import numpy as np
import onnx

from ..errors import ConvertError


def _subgraphs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    return [g for attr in node.attribute for g in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH
                                                   else list(attr.graphs))]


def outer_inputs(node: onnx.NodeProto) -> list[str]:
    """The tensors a node reads, including those its subgraphs read from the enclosing scope."""
    names = list(node.input)
    for g in _subgraphs(node):
        local = {i.name for i in g.input} | {t.name for t in g.initializer}
        for inner in g.node:
            names += [i for i in outer_inputs(inner) if i not in local]
            local.update(inner.output)
        names += [o.name for o in g.output if o.name not in local]
    return names


def with_subgraphs(nodes) -> list[onnx.NodeProto]:
    """`nodes` and, after each, the nodes of its subgraphs (recursively)."""
    out = []
    for node in nodes:
        out.append(node)
        for g in _subgraphs(node):
            out += with_subgraphs(g.node)
    return out


def _rename_captured(g: onnx.GraphProto, rename: dict[str, str]) -> None:
    """Apply `rename` to the enclosing-scope tensors that subgraph `g` (and the subgraphs in it) reads: a
    nested If reads its outer branch's tensors, which inlining that branch renamed."""
    local = {i.name for i in g.input} | {t.name for t in g.initializer} | {o for n in g.node for o in n.output}
    outer = {k: v for k, v in rename.items() if k not in local}
    if not outer:
        return
    for node in g.node:
        node.input[:] = [outer.get(i, i) for i in node.input]
        for sub in _subgraphs(node):
            _rename_captured(sub, outer)
    for o in g.output:
        o.name = outer.get(o.name, o.name)


def _inline(imp, n, branch: onnx.GraphProto, tag: str) -> list[str]:
    """Import the nodes of `branch` with its own tensors renamed; return the names of its outputs."""
    from . import onnx as frontend  # the importer table lives there (and imports this module)

    frontend._check_supported(branch.node)
    if branch.input:
        raise ConvertError(f"node {n.name!r} (If): a branch with graph inputs is malformed")
    prefix = f"{n.name}/{tag}/"
    local = {t.name for t in branch.initializer} | {o for node in branch.node for o in node.output if o}
    rename = {name: prefix + name for name in local}
    for init in branch.initializer:
        imp.add_const(rename[init.name], frontend._array(init))
    ready = set(imp.infos) | set(rename.values())
    protos = []
    for proto in branch.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(proto)
        copy.name = prefix + (proto.name or f"{proto.op_type}_{len(protos)}")
        copy.input[:] = [rename.get(i, i) for i in proto.input]
        copy.output[:] = [rename.get(o, o) for o in proto.output]
        for sub in _subgraphs(copy):
            _rename_captured(sub, rename)
        protos.append(copy)
    for index, proto in enumerate(frontend.topological_order(protos, ready, f"If {n.name!r} {tag} branch",
                                                             io=lambda p: (outer_inputs(p), p.output))):
        view = frontend._NodeView(proto, index, imp.names)
        frontend.IMPORTERS.get(view.op_type, frontend._generic)(imp, view)
    return [rename.get(o.name, o.name) for o in branch.output]


def lower_if(imp, n) -> None:
    """The If importer."""
    cond = imp.info(n, n.input(0))
    if int(np.prod(cond.shape, dtype=np.int64)) != 1:
        raise ConvertError(f"node {n.name!r} (If): the condition must have one element, got shape "
                           f"{list(cond.shape)}")
    branches = {"then": n.get("then_branch"), "else": n.get("else_branch")}
    if cond.value is not None:
        tag = "then" if bool(np.asarray(cond.value).reshape(-1)[0]) else "else"
        for src, dst in zip(_inline(imp, n, branches[tag], tag), n.outputs):
            imp.emit("Identity", [src], [dst], {}, f"{n.name}/{tag}_{dst}")
        return
    then_out, else_out = (_inline(imp, n, branches[t], t) for t in ("then", "else"))
    scalar = imp.temp(n, "condition")  # a scalar condition broadcasts without changing the outputs' shapes
    imp.emit("Reshape", [n.input(0)], [scalar], {"shape": [], "allowzero": 0}, f"{n.name}/condition")
    for k, (a, b, dst) in enumerate(zip(then_out, else_out, n.outputs)):
        sa, sb = imp.infos[a].shape, imp.infos[b].shape
        if sa != sb:
            raise ConvertError(f"node {n.name!r} (If): the condition is known only at run time and output {k} "
                               f"has shape {list(sa)} in one branch, {list(sb)} in the other; pymace plans one "
                               "shape per tensor")
        imp.emit("Where", [scalar, a, b], [dst], {}, f"{n.name}/select_{k}")
