"""Symbolic dims: a model whose inputs have dynamic dims (`N`, `p2o.DynamicDimension.0`, TFLite's -1) keeps them
as names, and each concrete input shape gets its own graph.

    binding = bind(graph, {"x": (2, 3, 640, 480)})   # {"N": 2, "H": 640, "W": 480}, or one InputError
    concrete = specialize(graph, {"x": (2, 3, 640, 480)})

A symbolic graph's inputs have shapes of ints and names (str); its other activations have no shape (None) until
`specialize` substitutes the names, infers every shape again, folds what became constant (the Shape → Gather →
Concat → Reshape arithmetic of the input's dims), turns parameters computed that way into the attributes the ops
take (`resolve`), and verifies the result (ir/verify.py). A graph output's shape holds ints, input symbols (checked
against the binding) and labels for dims derived from them (shown, not checked). `metadata["example_shapes"]`
holds a binding the converter verified; docs/pmace-format.md has the file side."""
from __future__ import annotations

import numpy as np

from .. import ops
from ..errors import ConvertError, InputError, ModelError
from ..ops.base import TensorInfo
from .graph import Graph, Node, Tensor

MAX_PROPAGATED = 1 << 16  # elements: values are carried through shape arithmetic, never through activations


def is_symbol(dim) -> bool:
    return isinstance(dim, str)


def show(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def is_symbolic(graph: Graph) -> bool:
    return any(is_symbol(d) for name in graph.inputs for d in (graph.tensors[name].shape or ()))


def symbols(graph: Graph) -> list[str]:
    """The graph's symbols in order of first appearance among its inputs."""
    found: list[str] = []
    for name in graph.inputs:
        found += [d for d in graph.tensors[name].shape or () if is_symbol(d) and d not in found]
    return found


def example_shapes(graph: Graph, complete: bool = False) -> dict[str, tuple[int, ...]]:
    """Input shapes the graph is known to take: its own for a static graph, else the converter's example;
    `complete`: one InputError unless every input has one (random inputs are made of them)."""
    if not is_symbolic(graph):
        return {n: tuple(graph.tensors[n].shape) for n in graph.inputs}
    example = graph.metadata.get("example_shapes") or {}
    found = {n: tuple(int(d) for d in example[n]) for n in graph.inputs if n in example}
    missing = [n for n in graph.inputs if n not in found]
    if complete and missing:
        raise InputError(f"input(s) {missing} have dynamic dims and the model records no example shape: give "
                         "the inputs")
    return found


def bind(graph: Graph, shapes: dict[str, tuple[int, ...]]) -> dict[str, int]:
    """symbol → value for these input shapes; one InputError when an input's rank or a static dim differs from the
    model's, or one symbol would take two values."""
    binding: dict[str, int] = {}
    where: dict[str, str] = {}
    for name in graph.inputs:
        want, got = graph.tensors[name].shape, tuple(shapes[name])
        if len(want) != len(got):
            raise InputError(f"input {name!r} has shape {list(got)}, the model expects rank {len(want)}: {show(want)}")
        for axis, (w, g) in enumerate(zip(want, got)):
            if not is_symbol(w):
                if w != g:
                    raise InputError(f"input {name!r} has shape {list(got)}, the model expects {show(want)} "
                                     f"(dim {axis} is {w})")
                continue
            if g < 1:
                raise InputError(f"input {name!r} has shape {list(got)}: dim {axis} ({w}) must be at least 1")
            if binding.setdefault(w, g) != g:
                raise InputError(f"input {name!r} has shape {list(got)}, but {w} is {binding[w]} in {where[w]}: "
                                 f"the model's inputs share {w}")
            where.setdefault(w, f"input {name!r}")
    return binding


def concrete(shape, binding: dict[str, int]) -> tuple[int, ...]:
    return tuple(binding[d] if is_symbol(d) else int(d) for d in shape)


# --- parameters computed from shapes: the dynamic forms of Reshape, Slice and Resize -------------------------
def _ints(v) -> list[int]:
    return [int(x) for x in np.asarray(v).reshape(-1)]


def _reshape(node: Node, values: list, rank: int) -> tuple[list, dict]:
    return [node.inputs[0]], {"shape": _ints(values[1])}


def _slice(node: Node, values: list, rank: int) -> tuple[list, dict]:
    starts, ends, axes, steps = (values[k] if k < len(values) else None for k in (1, 2, 3, 4))
    count = len(_ints(starts))
    return [node.inputs[0]], {
        "starts": _ints(starts), "ends": _ints(ends),
        "axes": [a % max(rank, 1) for a in _ints(axes)] if axes is not None else list(range(count)),
        "steps": _ints(steps) if steps is not None else [1] * count}


def _resize(node: Node, values: list, rank: int) -> tuple[list, dict]:
    scales, sizes = (values[k] if k < len(values) else None for k in (2, 3))
    if sizes is not None and np.asarray(sizes).size:
        key, given = "sizes", _ints(sizes)
    elif scales is not None and np.asarray(scales).size:
        key, given = "scales", [float(v) for v in np.asarray(scales).reshape(-1)]
    else:
        raise ConvertError(f"node {node.name!r} (Resize): neither scales nor sizes given")
    return [node.inputs[0]], {key: given}


# op type → (first parameter input, what turns the parameters' values into attributes and the inputs kept)
DYNAMIC_FORMS = {"Reshape": (1, _reshape), "Slice": (1, _slice), "Resize": (1, _resize)}


SAME = ("SAME_UPPER", "SAME_LOWER")
WINDOWED = ("Conv", "MaxPool", "AveragePool")


def _explicit_pads(node: Node, infos: dict[str, TensorInfo]) -> Node:
    from ..ops.geometry import conv_window, pool_window

    a, x = node.attrs, infos[node.inputs[0]].shape
    geo = {k: a.get(k) for k in ("kernel_shape", "strides", "dilations")} | {"auto_pad": a["auto_pad"]}
    if node.op_type == "Conv":
        window = conv_window(x, infos[node.inputs[1]].shape, a.get("group", 1), **geo)
    else:
        window = pool_window(x, ceil_mode=a.get("ceil_mode", 0), **geo)
    attrs = {k: v for k, v in a.items() if k != "auto_pad"} | {"pads": list(window.pads)}
    return Node(node.name, node.op_type, list(node.inputs), list(node.outputs), attrs)


def is_dynamic(node: Node) -> bool:
    """Whether `node` takes parameters as inputs that its op takes as attributes (docs/ir.md, dynamic forms)."""
    form = DYNAMIC_FORMS.get(node.op_type)
    return form is not None and any(node.inputs[form[0]:])


def resolve(node: Node, infos: dict[str, TensorInfo]) -> Node:
    """`node` itself, or a new node whose attributes no longer depend on its inputs' shapes: a dynamic form's
    parameters become attributes, from their known values (ConvertError naming the node when one is not known);
    `auto_pad` SAME becomes explicit pads for the input's size."""
    if node.attrs.get("auto_pad") in SAME and node.op_type in WINDOWED and node.inputs[0] in infos:
        node = _explicit_pads(node, infos)
    if not is_dynamic(node):
        return node
    first, make = DYNAMIC_FORMS[node.op_type]
    values = []
    for k, name in enumerate(node.inputs):
        info = infos.get(name) if name else None
        if k >= first and name and (info is None or info.value is None):
            raise ConvertError(f"node {node.name!r} ({node.op_type}): its parameter {name!r} is not known before "
                               "the run (it depends on values computed on the device)")
        values.append(info.value if info is not None else None)
    rank = len(infos[node.inputs[0]].shape) if node.inputs[0] in infos else 0
    inputs, attrs = make(node, values, rank)
    return Node(node.name, node.op_type, inputs, list(node.outputs), {**node.attrs, **attrs})


def values_of(node: Node, infos: dict[str, TensorInfo], limit: int | None = MAX_PROPAGATED) -> list | None:
    """The values of `node`'s outputs when they follow from what is known — a Shape of a tensor whose shape is
    known, any other op whose inputs all have values — else None. `limit`: at most this many output elements
    (None: any; the caller checks the size)."""
    from ..passes.fold_constants import evaluate

    present = [i for i in node.inputs if i]
    if node.op_type == "Shape" and present and present[0] in infos:
        shape = np.array(infos[present[0]].shape, np.int64)
        return [shape[node.attrs.get("start", 0):node.attrs.get("end")]]
    module = ops.REGISTRY.get(node.op_type)
    if not present or module is None or not hasattr(module, "reference"):
        return None
    if not all(i in infos and infos[i].value is not None for i in present):
        return None
    if limit is not None:
        from .shapes import infer_node

        sizes = [int(np.prod(t.shape, dtype=np.int64)) for t in (*(infos[i] for i in present),
                                                                  *infer_node(node, infos))]
        if sum(sizes) > limit:
            return None
    resolved = resolve(node, infos)
    return evaluate(resolved, {i: infos[i].value for i in resolved.inputs if i})


def copy_node(node: Node) -> Node:
    return Node(node.name, node.op_type, list(node.inputs), list(node.outputs), dict(node.attrs))


def _start(graph: Graph, binding: dict[str, int]) -> tuple[Graph, dict[str, TensorInfo]]:
    out = Graph(graph.name, [], {}, list(graph.inputs), list(graph.outputs), dict(graph.metadata))
    infos: dict[str, TensorInfo] = {}
    for name, t in graph.tensors.items():
        if t.is_const:  # the same array: weights uploaded for one shape serve every other
            out.tensors[name] = Tensor(name, tuple(t.data.shape), str(t.data.dtype), t.data)
            infos[name] = TensorInfo(tuple(t.data.shape), str(t.data.dtype), t.data)
    for name in graph.inputs:
        t = graph.tensors[name]
        shape = concrete(t.shape, binding)
        out.tensors[name] = Tensor(name, shape, t.dtype)
        infos[name] = TensorInfo(shape, t.dtype)
    return out, infos


def specialize(graph: Graph, shapes: dict[str, tuple[int, ...]]) -> Graph:
    """The graph for these input shapes: symbols substituted, shapes inferred, what became constant folded,
    dynamic forms resolved, then verified (ir/verify.py). The symbolic graph is left as it is; constants are
    shared with it. InputError for shapes the inputs cannot take; ConvertError or ModelError (naming the node)
    for shapes the model's ops cannot take."""
    from ..passes.fold_constants import fold_cap, output_bytes
    from .shapes import infer_node
    from .verify import verify

    binding = bind(graph, shapes)
    out, infos = _start(graph, binding)
    for node in graph.nodes:
        node = resolve(copy_node(node), infos)
        derived = infer_node(node, infos)
        values = None
        if output_bytes((i.shape, i.dtype) for i in derived) <= fold_cap():
            values = values_of(node, infos, limit=None)
        for name, info, value in zip(node.outputs, derived, values or [None] * len(derived)):
            if not name:
                continue
            if value is not None:
                out.tensors[name] = Tensor(name, tuple(value.shape), str(value.dtype), value)
                infos[name] = TensorInfo(tuple(value.shape), str(value.dtype), value)
            else:
                out.tensors[name] = Tensor(name, info.shape, info.dtype)
                infos[name] = info
        if values is None:
            out.nodes.append(node)
    _check_outputs(graph, out, binding)
    out.metadata.pop("example_shapes", None)
    out.prune()
    return verify(out)


def _check_outputs(graph: Graph, out: Graph, binding: dict[str, int]) -> None:
    """A graph output's declared dims: ints must match, input symbols must take their bound value."""
    for name in graph.outputs:
        declared, t = graph.tensors[name].shape, out.tensors.get(name)
        if declared is None or t is None or t.is_const:
            continue
        if len(declared) != len(t.shape) or any(
                (binding.get(d) if is_symbol(d) else d) not in (None, g) for d, g in zip(declared, t.shape)):
            raise ModelError(f"graph output {name!r} has shape {list(t.shape)} for inputs {binding}; the model "
                             f"declares {show(declared)}")


# --- conversion: probe bindings, and a graph converted at a probe made symbolic ----------------------------------
def probe_binding(declared: dict[str, tuple], which: int) -> dict[str, int]:
    """A value for every symbol of `declared` (input → dims) for the converter's probe `which` (0: the example
    binding, 1: the second one, whose every value differs from the first's). A symbol first met as dim 0 is a
    batch (1, then 2); the others are sizes, distinct multiples of 32 (224, 256, … then 320, 352, …), since
    feature pyramids halve a size five times and add the halves back."""
    binding: dict[str, int] = {}
    sizes = iter(range(224 if which == 0 else 320 + 32 * len(declared), 1 << 20, 32))
    for dims in declared.values():
        for axis, d in enumerate(dims):
            if is_symbol(d) and d not in binding:
                binding[d] = (1 if which == 0 else 2) if axis == 0 else next(sizes)
    return binding


def difference(a: Graph, b: Graph) -> str | None:
    """The first way two conversions of one model differ (nodes, attributes, constants), or None."""
    if (a.inputs, a.outputs) != (b.inputs, b.outputs):
        return "its inputs or outputs"
    if len(a.nodes) != len(b.nodes):
        return f"the number of nodes ({len(a.nodes)} vs {len(b.nodes)})"
    for m, n in zip(a.nodes, b.nodes):
        if (m.name, m.op_type, m.inputs, m.outputs) != (n.name, n.op_type, n.inputs, n.outputs):
            return f"node {m.name!r} ({m.op_type}) vs {n.name!r} ({n.op_type})"
        for key in sorted(set(m.attrs) | set(n.attrs)):
            if not _same(m.attrs.get(key), n.attrs.get(key)):
                return (f"node {m.name!r} ({m.op_type}): attribute {key} {str(m.attrs.get(key))[:60]} vs "
                        f"{str(n.attrs.get(key))[:60]}")
    consts_a, consts_b = a.consts(), b.consts()
    for name in sorted(set(consts_a) | set(consts_b)):
        if name not in consts_a or name not in consts_b or not _same(consts_a[name], consts_b[name]):
            return f"constant {name!r}"
    return None


def _same(x, y) -> bool:
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return np.shape(x) == np.shape(y) and np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True)
    return x == y


def output_dims(graph: Graph, at: list[Graph], bindings: list[dict[str, int]], declared: dict) -> dict:
    """Each output's dims from the graph specialised at two probes: an int where both agree, an input symbol whose
    value it takes in both, else the source model's name for the dim (`declared`), else `<output>.<axis>`."""
    dims = {}
    for name in graph.outputs:
        shapes = [g.tensors[name].shape for g in at]
        if len(shapes[0]) != len(shapes[1]):
            raise ConvertError(f"output {name!r} has rank {len(shapes[0])} or {len(shapes[1])} by input shape")
        named = declared.get(name) or []
        row = []
        for axis, (u, v) in enumerate(zip(*shapes)):
            same = [s for s in bindings[0] if (bindings[0][s], bindings[1][s]) == (u, v)]
            label = named[axis] if axis < len(named) and is_symbol(named[axis]) else f"{name}.{axis}"
            row.append(u if u == v else same[0] if same else label)
        dims[name] = tuple(row)
    return dims


def generalize(graph: Graph, declared: dict[str, tuple], outputs: dict[str, tuple], example: dict) -> Graph:
    """`graph` (converted at a probe binding) made symbolic, in place: inputs take their declared dims, outputs
    `outputs`, other activations no shape; `example` (input → shape) becomes metadata["example_shapes"]."""
    for t in graph.tensors.values():
        if not t.is_const:
            t.shape = None
    for name, dims in {**declared, **outputs}.items():
        graph.tensors[name].shape = tuple(dims)
    for name in graph.inputs:
        if graph.tensors[name].shape is None:
            graph.tensors[name].shape = tuple(example[name])
    graph.metadata["example_shapes"] = {n: list(s) for n, s in example.items()}
    graph.metadata.pop("input_shapes", None)
    return graph
