"""Kernel arguments by name: a kernel's parameter list is read once from its .cl source, and a launch's values,
given as a dict keyed by parameter name, are put in that order for `LaunchContext.kernel`. A name missing or
extra raises, so two integers can't be swapped silently.

A parameter macro (`RES_PARAM`, `DW_PARAM`, `COUNT_PARAM`: `#define X_PARAM <params>,` under `#ifdef GUARD`,
empty otherwise) stands for parameters that exist when the build options define GUARD (-DHAS_RES, …). int and
float parameters take Python or NumPy numbers (converted to np.int32 / np.float32), buffer parameters what
`LaunchContext.kernel` takes (input and output refs, Const, Scratch, Counters). A parameter whose type is a
`typedef struct { int …; float …; } name;` of the source is passed by value as one argument, its fields given by
name like parameters: every argument is host time in every enqueue, and a struct of sizes costs one
(benchmarks/NOTES.md, "what an enqueue costs")."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

KERNEL_DIR = Path(__file__).resolve().parent.parent / "kernels"
SCALARS = {"int": np.int32, "float": np.float32}


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "buffer", "int", "float" or "struct"
    guard: str | None = None  # the -D option a parameter macro needs, None: always there
    fields: tuple[tuple[str, str], ...] = ()  # a struct's (field, "int" | "float"), in order


STRUCT = re.compile(r"typedef\s+struct\s*\{([^}]*)\}\s*(\w+)\s*;")


def _structs(source: str) -> dict[str, tuple[tuple[str, str], ...]]:
    """Struct type name -> its fields, from `typedef struct { int a, b; float c; } name;` (ints and floats only:
    4 bytes each, so the host's packed layout is the device's)."""
    found = {}
    for body, name in STRUCT.findall(source):
        fields = []
        for decl in filter(str.strip, body.split(";")):
            kind, _, names = decl.strip().partition(" ")
            if kind not in SCALARS or "#" in decl:
                raise ValueError(f"struct {name}: field declaration {decl.strip()!r} is not int or float fields")
            fields += [(n.strip(), kind) for n in names.split(",")]
        found[name] = tuple(fields)
    return found


def _source(program: str) -> str:
    text = (KERNEL_DIR / "common.h").read_text() + "\n" + (KERNEL_DIR / f"{program}.cl").read_text()
    return re.sub(r"//[^\n]*", "", re.sub(r"/\*.*?\*/", " ", text, flags=re.S))


def _macros(source: str) -> dict[str, tuple[str, str]]:
    """Parameter macro -> (guard, its parameters' text), from `#define X_PARAM …` under an `#ifdef GUARD`."""
    found, stack = {}, []
    for line in source.splitlines():
        words = line.split()
        if not words or not words[0].startswith("#"):
            continue
        if words[0] in ("#ifdef", "#ifndef", "#if"):
            stack.append(words[1] if words[0] == "#ifdef" else None)
        elif words[0] == "#else" and stack:
            stack[-1] = None
        elif words[0] == "#endif" and stack:
            stack.pop()
        elif words[0] == "#define" and len(words) > 2 and words[1].endswith("_PARAM"):
            guard = next((g for g in reversed(stack) if g), None)
            if guard is None:
                raise ValueError(f"parameter macro {words[1]} is defined outside an #ifdef")
            found[words[1]] = (guard, " ".join(words[2:]))
    return found


def _parse(text: str, guard: str | None, structs: dict) -> list[Param]:
    params = []
    for chunk in text.split(","):
        words = re.findall(r"\w+", chunk)
        if not words:
            continue
        struct = next((w for w in words if w in structs), None)
        if struct is not None and "*" not in chunk:
            params.append(Param(words[-1], "struct", guard, structs[struct]))
            continue
        kind = "buffer" if "*" in chunk else next((w for w in words if w in SCALARS), None)
        if kind is None:
            raise ValueError(f"kernel parameter {chunk.strip()!r} is neither a buffer, an int, a float nor a struct")
        params.append(Param(words[-1], kind, guard))
    return params


@functools.cache
def params(program: str, kernel: str) -> tuple[Param, ...]:
    """The parameters of `kernel` in kernels/<program>.cl, in order."""
    source = _source(program)
    found = re.search(r"__kernel\b[^{;]*?\bvoid\s+" + re.escape(kernel) + r"\s*\(([^)]*)\)", source)
    if found is None:
        raise ValueError(f"kernels/{program}.cl has no kernel {kernel!r}")
    macros, structs = _macros(source), _structs(source)
    out: list[Param] = []
    for piece in re.split(r"\b(\w+_PARAM)\b", found.group(1)):
        if piece in macros:
            out += _parse(macros[piece][1], macros[piece][0], structs)
        elif piece.endswith("_PARAM"):
            raise ValueError(f"kernel {kernel!r} uses {piece}, which no #ifdef defines")
        else:
            out += _parse(piece, None, structs)
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def _layout(program: str, kernel: str, options: tuple[str, ...]) -> tuple[tuple, frozenset]:
    """((name, None | scalar type | struct dtype) in order, the set of names given values) of the parameters
    present under `options`; a struct's fields are named, not the struct."""
    defined = {o[2:].split("=")[0] for o in options if o.startswith("-D")}
    wanted = [p for p in params(program, kernel) if p.guard is None or p.guard in defined]
    order = tuple((p.name, np.dtype([(f, SCALARS[k]) for f, k in p.fields]) if p.kind == "struct" else
                   SCALARS.get(p.kind)) for p in wanted)
    names = [f for p in wanted for f, _ in p.fields] + [p.name for p in wanted if p.kind != "struct"]
    if len(set(names)) != len(names):
        raise ValueError(f"{program}.cl {kernel}: a struct field has the name of another parameter or field")
    return order, frozenset(names)


def bind(program: str, kernel: str, values: dict, options=()) -> list:
    """`values` (parameter or struct field name -> value) as the kernel's positional argument list under build
    `options` (a struct as one np.void)."""
    order, names = _layout(program, kernel, tuple(options))
    if values.keys() != names:
        missing, extra = sorted(names - values.keys()), sorted(values.keys() - names)
        raise TypeError(f"{program}.cl {kernel}: {f'no value for {missing}' if missing else ''}"
                        f"{'; ' if missing and extra else ''}{f'no parameter {extra}' if extra else ''}")
    return [values[name] if kind is None else
            np.array(tuple(values[f] for f in kind.names), kind)[()] if isinstance(kind, np.dtype) else
            kind(values[name]) for name, kind in order]


def launch(ctx, program: str, kernel: str, gws, values: dict, options=(), lws=None) -> None:
    """ctx.kernel with the arguments given by name (see `bind`)."""
    ctx.kernel(program, kernel, gws, bind(program, kernel, values, options), options=options, lws=lws)
