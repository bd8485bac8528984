"""The user's inputs checked against a model before any device work: names, dtypes and shapes, a symbolic
model's dims bound consistently (ir/symbolic.bind). Needs no OpenCL: the CLI checks its inputs with it before it
opens a device, and Engine.run before it takes an executor."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .errors import InputError
from .ir import symbolic
from .ir.graph import Graph

ORT_TYPES = {"float32": "tensor(float)", "float16": "tensor(float16)", "float64": "tensor(double)",
             "int8": "tensor(int8)", "int16": "tensor(int16)", "int32": "tensor(int32)", "int64": "tensor(int64)",
             "uint8": "tensor(uint8)", "uint16": "tensor(uint16)", "uint32": "tensor(uint32)",
             "uint64": "tensor(uint64)", "bool": "tensor(bool)"}


def check_feeds(graph: Graph, feeds) -> dict[str, np.ndarray]:
    """`feeds` as arrays of the model's dtypes, in the model's input order; one InputError for a missing or
    unknown name, a value that is no number, or a shape the model does not take."""
    if not isinstance(feeds, Mapping) or not all(isinstance(k, str) for k in feeds):
        raise InputError(f"inputs must be a dict {{input name: array}} (the model's inputs are {graph.inputs}), "
                         f"not {type(feeds).__name__}")
    unknown = sorted(set(feeds) - set(graph.inputs))
    if unknown:
        raise InputError(f"unknown input(s) {unknown}; the model's inputs are {graph.inputs}")
    out = {}
    for name in graph.inputs:
        if name not in feeds:
            raise InputError(f"missing input {name!r}; the model's inputs are {graph.inputs}")
        x, t = np.asarray(feeds[name]), graph.tensors[name]
        if x.dtype.kind not in "biuf":  # strings, objects, complex: no number to cast to
            raise InputError(f"input {name!r} has dtype {x.dtype}; the model expects {t.dtype}")
        out[name] = x.astype(t.dtype, copy=False)
    if symbolic.is_symbolic(graph):
        symbolic.bind(graph, {n: x.shape for n, x in out.items()})
    else:
        for name, x in out.items():
            want = graph.tensors[name].shape
            if want is not None and tuple(x.shape) != tuple(want):
                raise InputError(f"input {name!r} has shape {list(x.shape)}, the model expects {list(want)}")
    return out


def shape_key(graph: Graph, feeds: dict[str, np.ndarray]) -> tuple[tuple[int, ...], ...]:
    """The input shapes of checked feeds, in the model's input order: what a plan is made for."""
    return tuple(tuple(int(d) for d in feeds[n].shape) for n in graph.inputs)


def ort_type(dtype: str) -> str:
    """onnxruntime's name for an element type: tensor(float), tensor(int64), …"""
    return ORT_TYPES.get(str(dtype), f"tensor({dtype})")


__all__ = ["check_feeds", "shape_key", "ort_type"]
