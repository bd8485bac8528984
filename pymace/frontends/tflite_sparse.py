"""TFLite's sparse tensor format → dense arrays (what DENSIFY computes, done once at import).

A sparse constant stores only its values, in the order of a traversal of an *expanded* index space: the tensor's n
dims, then one inner dim for each dim listed in `block_map` (whose block size is the inner dim's dense size; the
outer dim then counts blocks). `traversal_order` is a permutation of those n + k dims: level l of the traversal
walks expanded dim traversal_order[l], described by dim_metadata[l] — DENSE (every index 0..dense_size-1) or
SPARSE_CSR (for the parent position p, the indices array_indices[array_segments[p]:array_segments[p + 1]]). A
position is the parent's position times the dense size plus the index (DENSE) or the segment slot (CSR); the last
level's positions index the stored values (schema.fbs, SparsityParameters)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelError


@dataclass
class Dim:
    dense_size: int = 0  # DENSE levels
    segments: np.ndarray | None = None  # SPARSE_CSR levels
    indices: np.ndarray | None = None


@dataclass
class Sparsity:
    traversal_order: list[int]
    block_map: list[int]
    dims: list[Dim] = field(default_factory=list)


def _expanded_shape(shape, sp: Sparsity, name: str) -> list[int]:
    n, k = len(shape), len(sp.block_map)
    if sorted(sp.traversal_order) != list(range(n + k)) or len(sp.dims) != n + k or \
            any(not 0 <= b < n for b in sp.block_map) or len(set(sp.block_map)) != k:
        raise ModelError(f"sparse constant {name!r}: traversal order {sp.traversal_order}, block map "
                         f"{sp.block_map} and {len(sp.dims)} dim records do not fit shape {list(shape)}")
    level_of = {d: lvl for lvl, d in enumerate(sp.traversal_order)}
    expanded = list(shape)
    for j, b in enumerate(sp.block_map):
        block = sp.dims[level_of[n + j]].dense_size
        if block < 1 or shape[b] % block:
            raise ModelError(f"sparse constant {name!r}: block size {block} does not divide dim {b} of "
                             f"{list(shape)}")
        expanded[b] = shape[b] // block
        expanded.append(block)
    return expanded


def _walk(sp: Sparsity, expanded: list[int], name: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """(value position, coordinate per expanded dim) of every stored value, level by level."""
    positions = np.zeros(1, np.int64)
    coords: list[np.ndarray | None] = [None] * len(expanded)
    for level, d in enumerate(sp.traversal_order):
        meta = sp.dims[level]
        if meta.segments is None:  # DENSE: every index of the dim under every parent
            size = meta.dense_size
            if size != expanded[d]:
                raise ModelError(f"sparse constant {name!r}: level {level} has dense size {size}, its dim "
                                 f"{expanded[d]}")
            parent = np.repeat(np.arange(len(positions)), size)
            index = np.tile(np.arange(size, dtype=np.int64), len(positions))
            positions = positions[parent] * size + index
        else:
            seg, idx = meta.segments, meta.indices
            if np.any(positions + 1 >= len(seg)) or np.any(np.diff(seg) < 0) or (len(seg) and seg[0] < 0) \
                    or (len(seg) and seg[-1] > len(idx)) or np.any((idx < 0) | (idx >= expanded[d])):
                raise ModelError(f"sparse constant {name!r}: malformed CSR segments or indices at level {level}")
            counts = seg[positions + 1] - seg[positions]
            parent = np.repeat(np.arange(len(positions)), counts)
            slot = seg[positions][parent] + np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts,
                                                                                    counts)
            index, positions = idx[slot], slot
        coords = [c[parent] if c is not None else None for c in coords]
        coords[d] = index
    return positions, coords


def densify(values: np.ndarray, shape: tuple[int, ...], sp: Sparsity, name: str) -> np.ndarray:
    """The dense array of `shape` that the stored `values` and sparsity metadata describe."""
    n = len(shape)
    expanded = _expanded_shape(shape, sp, name)
    positions, coords = _walk(sp, expanded, name)
    if len(positions) and (positions.max() >= len(values) or positions.min() < 0):
        raise ModelError(f"sparse constant {name!r}: {len(values)} stored values, the metadata addresses "
                         f"{int(positions.max()) + 1}")
    full = [coords[d] for d in range(n)]
    for j, b in enumerate(sp.block_map):
        full[b] = full[b] * expanded[n + j] + coords[n + j]
    dense = np.zeros(shape, values.dtype)
    if n == 0:
        return values[:1].reshape(()) if len(values) else dense
    dense[tuple(full)] = values[positions]
    return dense
