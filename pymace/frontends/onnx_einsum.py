"""ONNX Einsum → Transpose / Reshape / MatMul at import, for the one- and two-operand forms that attention and
common exports use (`bij,bjk->bik`, `bhid,bhjd->bhij`, `bhij,bhjd->bhid`, `ij,jk->ik`, `ij->ji`, `ij->i`, `i,i`,
with `...`). Letters summed out of one operand are contracted with a vector of ones (a MatMul); a letter repeated
within an operand (a diagonal) or three or more operands are refused with the equation named."""
from __future__ import annotations

import string

import numpy as np

from ..errors import ConvertError

_ELLIPSIS_LETTERS = string.ascii_uppercase  # stand-ins for the dims `...` covers (ONNX letters are lower case)


def parse(equation: str, ranks: list[int]) -> tuple[list[str], str]:
    """Each operand's letters and the output's, with `...` expanded and an implicit output made explicit."""
    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise ConvertError(f"Einsum {equation!r}: {len(terms)} operand terms for {len(ranks)} inputs")
    spans = [rank - len(t.replace("...", "")) for t, rank in zip(terms, ranks)]
    width = max([s for t, s in zip(terms, spans) if "..." in t], default=0)
    ell = _ELLIPSIS_LETTERS[:width]
    letters = []
    for t, rank, span in zip(terms, ranks, spans):
        full = t.replace("...", ell[width - span:] if span > 0 else "") if "..." in t else t
        if len(full) != rank or not all(c.isalpha() for c in full):
            raise ConvertError(f"Einsum {equation!r}: term {t!r} does not match an input of rank {rank}")
        letters.append(full)
    if not arrow:  # implicit output: `...` first, then the letters used once, in alphabetical order
        once = sorted(c for c in set("".join(letters)) - set(ell) if "".join(letters).count(c) == 1)
        out = ell + "".join(once)
    else:
        out = out.replace("...", ell)
    return letters, out


def unsupported(equation: str, why: str) -> ConvertError:
    return ConvertError(f"Einsum {equation!r} is not supported: {why} (pymace lowers one- and two-operand "
                        "einsums without repeated letters to Transpose/Reshape/MatMul)")


class _Lowering:
    """Emits the IR nodes of one Einsum, each named after it."""

    def __init__(self, imp, n):
        self.imp, self.n, self.count = imp, n, 0

    def _out(self, final: bool) -> str:
        self.count += 1
        return self.n.outputs[0] if final else self.imp.temp(self.n, f"einsum{self.count}")

    def emit(self, op: str, inputs: list[str], attrs: dict, final: bool = False) -> str:
        out = self._out(final)
        self.imp.emit(op, inputs, [out], attrs, f"{self.n.name}/{op.lower()}{self.count}")
        return out

    def transpose(self, x: str, letters: str, order: str) -> str:
        perm = [letters.index(c) for c in order]
        return x if perm == sorted(perm) else self.emit("Transpose", [x], {"perm": perm})

    def reshape(self, x: str, shape: list[int], final: bool = False) -> str:
        if not final and list(self.imp.infos[x].shape) == list(shape):
            return x
        return self.emit("Reshape", [x], {"shape": [int(d) for d in shape], "allowzero": 1}, final)

    def sum_out(self, x: str, letters: str, drop: str, sizes: dict) -> tuple[str, str]:
        """Sum `x` over the letters in `drop` (a MatMul with ones); return it and its remaining letters."""
        if not drop:
            return x, letters
        keep = "".join(c for c in letters if c not in drop)
        k = int(np.prod([sizes[c] for c in drop], dtype=np.int64))
        x = self.reshape(self.transpose(x, letters, keep + drop), [sizes[c] for c in keep] + [k])
        ones = self.imp.temp(self.n, "ones")
        self.imp.add_const(ones, np.ones(k, self.imp.infos[x].dtype))
        return self.emit("MatMul", [x, ones], {}), keep


def lower(imp, n) -> None:
    """The Einsum importer."""
    equation = n.get("equation", "")
    shapes = [imp.shape(n, i) for i in range(len(n.inputs))]
    letters, out = parse(equation, [len(s) for s in shapes])
    if len(letters) > 2:
        raise unsupported(equation, f"{len(letters)} operands")
    if any(len(set(t)) != len(t) for t in letters) or len(set(out)) != len(out):
        raise unsupported(equation, "a letter repeated within a term (a diagonal)")
    sizes: dict[str, int] = {}
    for t, shape in zip(letters, shapes):
        for c, d in zip(t, shape):
            if sizes.setdefault(c, d) != d:
                raise unsupported(equation, f"letter {c!r} has sizes {sizes[c]} and {d} (broadcasting)")
    if set(out) - set(sizes):
        raise ConvertError(f"Einsum {equation!r}: output letters {sorted(set(out) - set(sizes))} are in no input")
    low = _Lowering(imp, n)
    xs = []
    for i, t in enumerate(letters):
        others = "".join(letters[:i] + letters[i + 1:]) + out
        xs.append(low.sum_out(n.inputs[i], t, "".join(c for c in t if c not in others), sizes))
    if len(xs) == 1:
        x, t = xs[0]
        low.reshape(low.transpose(x, t, out), [sizes[c] for c in out], final=True)
        return
    (a, ta), (b, tb) = xs
    batch = "".join(c for c in out if c in ta and c in tb)
    a_kept = "".join(c for c in ta if c in out and c not in tb)
    b_kept = "".join(c for c in tb if c in out and c not in ta)
    contracted = "".join(c for c in ta if c in tb and c not in out)
    dims = [sizes[c] for c in batch]
    m, k, cols = (int(np.prod([sizes[c] for c in g], dtype=np.int64)) for g in (a_kept, contracted, b_kept))
    a = low.reshape(low.transpose(a, ta, batch + a_kept + contracted), dims + [m, k])
    b = low.reshape(low.transpose(b, tb, batch + contracted + b_kept), dims + [k, cols])
    y, ty = low.emit("MatMul", [a, b], {}), batch + a_kept + b_kept
    if ty == out:
        low.reshape(y, [sizes[c] for c in out], final=True)
    else:
        y = low.reshape(y, [sizes[c] for c in ty])
        low.emit("Transpose", [y], {"perm": [ty.index(c) for c in out]}, final=True)
