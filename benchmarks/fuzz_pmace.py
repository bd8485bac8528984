"""Fuzz the .pmace reader and everything after it: mutate converted models (shapes, attributes, dtypes, constant
sizes and headers, zip members, graph wiring, raw bytes), then load each one and, when it loads, run it on the
OpenCL device and on the NumPy reference. A mutated model must be refused with one PymaceError, or run on the
device with the reference's outputs; it must never kill the process, hang, grow memory past
max(200 MB, 4 × its size), raise another exception, or return other numbers than the reference without an error.

    .venv/bin/python benchmarks/fuzz_pmace.py [--cases 10000] [--first 0] [--device cpu]

Cases are numbered: case N mutates seed model N % 2 with random.Random(N), so any case can be replayed alone
(`--first N --cases 1`)."""
from __future__ import annotations

import argparse
import atexit
import io
import json
import random
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzz_harness  # noqa: E402

INTERESTING = [0, 1, -1, 2, 3, 4, 7, 8, 16, 255, 2**31 - 1, 2**31, 2**32 + 1, 2**62, -2**31, 10**6, 10**12]
WEIRD = [None, "ab", 1.5, 1e300, True, [], {}, [[1]], "", -0.0, float("nan")]
DTYPES = ["float32", "float16", "float64", "int8", "int64", "bool", "uint8", "evil", "object", "<U1", None, 3]


def seed_models(folder: Path) -> list[tuple[bytes, dict]]:
    """The seeds as .pmace bytes: the reliability study's small model, and one that exercises the shape checks
    of most ops (Split, Pad, Slice, Concat, BatchNormalization, Clip, MaxPool, Resize, Add, Mul, AveragePool,
    Transpose, Reshape, Gemm, Softmax)."""
    from pymace.tools.convert import convert
    from tests.hostile.conftest import small_onnx

    small_onnx(folder / "small.onnx")
    _wide_onnx(folder / "wide.onnx")
    seeds = []
    for name in ("small", "wide"):
        convert(folder / f"{name}.onnx", folder / f"{name}.pmace")
        seeds.append((folder / f"{name}.pmace").read_bytes())
    return [(blob, _members(blob)) for blob in seeds]


def _wide_onnx(path: Path) -> None:
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    r = np.random.default_rng(1)

    def const(name, *shape, positive=False):
        a = r.uniform(0.5, 1.5, shape) if positive else r.standard_normal(shape)
        return nh.from_array(a.astype(np.float32), name)

    ints = lambda name, v: nh.from_array(np.array(v, np.int64), name)  # noqa: E731
    nodes = [h.make_node("Conv", ["x", "W"], ["c1"], pads=[1, 1, 1, 1]),
             h.make_node("Split", ["c1", "sp"], ["s1", "s2"], axis=1),
             h.make_node("Pad", ["s1", "pads"], ["p1"], mode="reflect"),
             h.make_node("Slice", ["p1", "st", "en", "ax"], ["sl"]),
             h.make_node("Concat", ["sl", "s2"], ["cat"], axis=1),
             h.make_node("BatchNormalization", ["cat", "bs", "bb", "bm", "bv"], ["bn"]),
             h.make_node("Clip", ["bn", "lo", "hi"], ["cl"]),
             h.make_node("MaxPool", ["cl"], ["mp"], kernel_shape=[2, 2], strides=[2, 2]),
             h.make_node("Resize", ["mp", "", "sc"], ["rs"], mode="nearest"),
             h.make_node("Add", ["rs", "c1"], ["ad"]),
             h.make_node("Mul", ["ad", "k"], ["mu"]),
             h.make_node("AveragePool", ["mu"], ["ap"], kernel_shape=[2, 2], strides=[2, 2]),
             h.make_node("Transpose", ["ap"], ["tr"], perm=[0, 2, 3, 1]),
             h.make_node("Reshape", ["tr", "shp"], ["rsh"]),
             h.make_node("Gemm", ["rsh", "Wg", "bg"], ["g"], transB=1),
             h.make_node("Softmax", ["g"], ["y"], axis=1)]
    inits = [const("W", 8, 4, 3, 3), ints("sp", [3, 5]), ints("pads", [0, 0, 1, 1, 0, 0, 1, 1]),
             ints("st", [1, 1]), ints("en", [9, 9]), ints("ax", [2, 3]), const("bs", 8, positive=True),
             const("bb", 8), const("bm", 8), const("bv", 8, positive=True),
             nh.from_array(np.float32(0.0), "lo"), nh.from_array(np.float32(6.0), "hi"),
             nh.from_array(np.array([1, 1, 2, 2], np.float32), "sc"), const("k", 1, 8, 1, 1),
             ints("shp", [1, 128]), const("Wg", 10, 128), const("bg", 10)]
    g = h.make_graph(nodes, "wide", [h.make_tensor_value_info("x", T.FLOAT, [1, 4, 8, 8])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, 10])], inits)
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 13)]), str(path))


def _members(blob: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        return {n: z.read(n) for n in z.namelist()}


# --- mutations: each edits (doc, members, settings) in place ------------------------------------------------
def _value(rng: random.Random, old):
    """A hostile replacement for an attribute value or dim, shaped by the old one."""
    pick = rng.random()
    if isinstance(old, list) and old and pick < 0.6:
        new = list(old)
        k = rng.randrange(len(new))
        roll = rng.random()
        if roll < 0.6:
            new[k] = _value(rng, new[k])
        elif roll < 0.8:
            del new[k]
        else:
            new.insert(k, rng.choice(INTERESTING))
        return new
    if isinstance(old, (int, float)) and not isinstance(old, bool) and pick < 0.7:
        return rng.choice(INTERESTING + [old + 1, old - 1, -old, old * 2])
    if isinstance(old, str) and pick < 0.5:
        return rng.choice(["Relu", "Clip", "PRelu", "Evil", "reflect", "edge", "wrap", "linear", "", old.upper()])
    return rng.choice(WEIRD + INTERESTING)


def m_shape(doc, members, s, rng):
    t = rng.choice(doc["tensors"])
    if isinstance(t.get("shape"), list) and t["shape"] and rng.random() < 0.8:
        t["shape"] = _value(rng, t["shape"])
    else:
        t["shape"] = rng.choice(WEIRD + [[1, 2, 3, 4], [0], [2**31], [1] * 20])


def m_attr(doc, members, s, rng):
    nodes = [n for n in doc["nodes"] if n.get("attrs")]
    if not nodes:
        return
    n = rng.choice(nodes)
    key = rng.choice(sorted(n["attrs"]))
    roll = rng.random()
    if roll < 0.8:
        n["attrs"][key] = _value(rng, n["attrs"][key])
    elif roll < 0.9:
        del n["attrs"][key]
    else:
        n["attrs"][rng.choice(["activation", "residual", "kernel_variant", "group", "axis", "tiling"])] = \
            _value(rng, rng.choice(INTERESTING + ["Relu"]))


def m_dtype(doc, members, s, rng):
    rng.choice(doc["tensors"])["dtype"] = rng.choice(DTYPES)


def m_const(doc, members, s, rng):
    names = sorted(n for n in members if n.startswith("const/"))
    if not names:
        return
    name = rng.choice(names)
    old = np.load(io.BytesIO(members[name]), allow_pickle=False)
    roll = rng.random()
    if roll < 0.3:  # another shape
        shape = list(old.shape) or [1]
        k = rng.randrange(len(shape))
        shape[k] = max(0, shape[k] + rng.choice([-1, 1, 2, -shape[k]]))
        members[name] = _npy(np.resize(old, shape))
    elif roll < 0.45:
        members[name] = _npy(old.astype(rng.choice(["float16", "float64", "int8", "int64", "bool", "uint8"])))
    elif roll < 0.6:
        members[name] = members[name][: rng.randrange(len(members[name]))]
    elif roll < 0.75:  # a header that claims another shape than the data holds
        f = io.BytesIO()
        np.lib.format.write_array_header_1_0(f, {"descr": old.dtype.str, "fortran_order": False,
                                                 "shape": tuple(rng.choice([10**6, 2**31, 7]) for _ in old.shape)})
        members[name] = f.getvalue() + old.tobytes()
    elif roll < 0.85:
        members[name] = _npy(np.full(old.shape, rng.choice([np.nan, np.inf, -np.inf, 1e30]), old.dtype)
                             if old.dtype.kind == "f" else old)
    else:
        b = bytearray(members[name])
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        members[name] = bytes(b)


def m_members(doc, members, s, rng):
    names = sorted(members)
    roll = rng.random()
    if roll < 0.25:
        members.pop(rng.choice(names))
    elif roll < 0.45:
        s["compression"] = rng.choice([zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
    elif roll < 0.6:
        s["duplicate"] = rng.choice(names)
    elif roll < 0.75:
        a, b = rng.sample(names, 2) if len(names) > 1 else (names[0], names[0])
        members[a], members[b] = members[b], members[a]
    elif roll < 0.9:
        members[f"const/{rng.choice([99, 1000, -1])}.npy"] = _npy(np.ones(3, np.float32))
    else:
        s["flips"] = rng.randint(1, 8)


def m_wiring(doc, members, s, rng):
    names = [t["name"] for t in doc["tensors"]] + ["", "nope"]
    roll = rng.random()
    if roll < 0.4:
        n = rng.choice(doc["nodes"])
        if n["inputs"]:
            n["inputs"][rng.randrange(len(n["inputs"]))] = rng.choice(names)
    elif roll < 0.6:
        from pymace import ops

        rng.choice(doc["nodes"])["op_type"] = rng.choice(sorted(ops.REGISTRY) + ["Evil"])
    elif roll < 0.75:
        doc["outputs"] = rng.choice([[], [rng.choice(names)], doc["outputs"] * 2])
    elif roll < 0.85:
        doc["inputs"] = rng.choice([[], [rng.choice(names)], doc["inputs"] * 2])
    else:
        n = rng.choice(doc["nodes"])
        n["outputs"] = [rng.choice(names)] + n["outputs"][1:]


def m_metadata(doc, members, s, rng):
    key = rng.choice(["runtime", "data_type", "storage_dir", "labels", "input_shapes", "preprocessing"])
    doc["metadata"][key] = rng.choice(WEIRD + ["cpu", "fp16_fp32", "/tmp/elsewhere"])


MUTATIONS = [(m_shape, 4), (m_attr, 5), (m_dtype, 1), (m_const, 3), (m_members, 2), (m_wiring, 2), (m_metadata, 1)]


def _npy(a) -> bytes:
    f = io.BytesIO()
    np.save(f, a, allow_pickle=False)
    return f.getvalue()


def mutated(seed: tuple[bytes, dict], case: int) -> bytes:
    rng = random.Random(case)
    members = dict(seed[1])
    doc = json.loads(members.pop("graph.json"))
    settings = {"compression": zipfile.ZIP_STORED}
    fns, weights = zip(*MUTATIONS)
    for fn in rng.choices(fns, weights, k=rng.choice([1, 1, 1, 2, 3])):
        try:
            fn(doc, members, settings, rng)
        except Exception:  # noqa: BLE001 - an edit that cannot apply (an earlier one broke the member): skip it
            pass
    f = io.BytesIO()
    with zipfile.ZipFile(f, "w", settings["compression"]) as z:
        z.writestr("graph.json", json.dumps(doc))
        for n, b in members.items():
            z.writestr(n, b)
        if settings.get("duplicate"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                z.writestr(settings["duplicate"], members.get(settings["duplicate"], b"x"))
    blob = bytearray(f.getvalue())
    for _ in range(settings.get("flips", 0)):
        blob[rng.randrange(len(blob))] ^= 1 << rng.randrange(8)
    return bytes(blob)


# --- one case ------------------------------------------------------------------------------------------------
class Runner:
    def __init__(self, device: str):
        self.device = device
        self.tmp = Path(tempfile.mkdtemp(prefix="fuzz-pmace-"))
        atexit.register(shutil.rmtree, self.tmp, True)  # a worker killed by a signal leaves it
        self.seeds = seed_models(self.tmp)
        self.storage = self.tmp / "storage"
        for k, (blob, _) in enumerate(self.seeds):  # warm up: the OpenCL platform and the seeds' programs
            (self.tmp / f"seed{k}.pmace").write_bytes(blob)
            run_model(self.tmp / f"seed{k}.pmace", device, str(self.storage), len(blob))

    def __call__(self, case: int) -> fuzz_harness.Result:
        blob = mutated(self.seeds[case % len(self.seeds)], case)
        path = self.tmp / "case.pmace"
        path.write_bytes(blob)
        return run_model(path, self.device, str(self.storage), len(blob))


def run_model(path: Path, device: str, storage: str, size: int) -> fuzz_harness.Result:
    """Load, run on the device and on the reference, compare. PymaceError anywhere is a clean refusal."""
    from pymace import Engine
    from pymace.errors import PymaceError
    from pymace.ir import pmace_file
    from pymace.reference import executor as reference

    declared = 0
    before = fuzz_harness._rss_bytes()
    try:
        with fuzz_harness.Sampler() as product:  # load, plan, run: what a user's process goes through
            graph = pmace_file.load(str(path))
            declared = declared_bytes(graph)
            feeds = _inputs(graph)
            if feeds is None:
                return fuzz_harness.Result("skipped", "input larger than 16M elements", size, declared)
            engine = Engine(str(path), device=device, data_type="fp32", storage_dir=storage, use_tuning=False)
            got = engine.run(feeds)
    except PymaceError as e:
        return fuzz_harness.Result("refused", str(e)[:200], size, declared)
    try:
        with np.errstate(all="ignore"):
            want = reference.run(graph, feeds)
    except PymaceError as e:
        return fuzz_harness.Result("wrong", f"the device ran, the reference refused: {e}", size, declared)
    result = _compare(got, want, size)
    if result.kind == "wrong" and (want64 := _reference_fp64(path, feeds)) is not None:
        # an ill-conditioned model (rows of 1e30 weights): the fp32 reference's own rounding decides; the device
        # is right when it agrees with the reference computed in float64
        if _compare(got, want64, size).kind == "ok":
            result = fuzz_harness.Result("ok", "agrees with the float64 reference", size)
    result.declared_bytes, result.peak_growth, result.peak_rss = declared, max(0, product.peak - before), product.peak
    return result


def _reference_fp64(path: Path, feeds: dict):
    """The reference's outputs with every float tensor in float64, or None when it cannot run that way."""
    from pymace.errors import PymaceError
    from pymace.ir import pmace_file
    from pymace.reference import executor as reference

    graph = pmace_file.load(str(path))
    for t in graph.tensors.values():
        if np.dtype(t.dtype).kind == "f":
            t.dtype = "float64"
            if t.is_const:
                t.data = t.data.astype(np.float64)
    try:
        with np.errstate(all="ignore"):
            return reference.run(graph, {k: v.astype(np.float64) for k, v in feeds.items()})
    except (PymaceError, ValueError, TypeError):
        return None


def declared_bytes(graph) -> int:
    """Bytes of every tensor the verified model declares: constants as stored, activations as fp32."""
    total = 0
    for t in graph.tensors.values():
        if t.is_const:
            total += t.data.nbytes
        elif t.shape is not None:
            total += 4 * _elements(t.shape)
    return total


def _concrete(shape) -> tuple[int, ...]:
    """A shape with each symbolic dim (a name such as "N", from a model with dynamic dims) taken as 1."""
    return tuple(int(d) if isinstance(d, (int, np.integer)) else 1 for d in shape)


def _elements(shape) -> int:
    return int(np.prod(_concrete(shape), dtype=np.int64))


def _inputs(graph):
    rng = np.random.default_rng(0)
    feeds = {}
    for name in graph.inputs:
        shape = _concrete(graph.tensors[name].shape)
        if _elements(shape) > 1 << 24:
            return None
        feeds[name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def _compare(got: dict, want: dict, size: int) -> fuzz_harness.Result:
    for name, w in want.items():
        g = np.asarray(got[name], np.float64)
        w = np.asarray(w, np.float64)
        if g.shape != w.shape:
            return fuzz_harness.Result("wrong", f"output {name}: shape {g.shape} vs reference {w.shape}", size)
        same_nan = np.array_equal(np.isnan(g), np.isnan(w))
        finite = np.isfinite(w) & np.isfinite(g)
        scale = max(float(np.max(np.abs(w[finite]))) if finite.any() else 0.0, 1e-6)
        err = float(np.max(np.abs(g[finite] - w[finite]))) / scale if finite.any() else 0.0
        inf_same = np.array_equal(g[np.isinf(w) | np.isinf(g)], w[np.isinf(w) | np.isinf(g)])
        if not (same_nan and inf_same and err <= 1e-3):
            return fuzz_harness.Result("wrong", f"output {name}: rel err {err:.3g}, NaN same {same_nan}, "
                                                f"inf same {inf_same}", size)
    return fuzz_harness.Result("ok", "", size)


def fuzz(cases: int, first: int = 0, device: str = "cpu", timeout: float = 120.0, progress=None):
    return fuzz_harness.run("fuzz_pmace", ["--device", device], range(first, first + cases), timeout,
                            env={"PYTHONPATH": _pythonpath()}, progress=progress)


def _pythonpath() -> str:
    root = Path(__file__).resolve().parent
    import os

    return os.pathsep.join([str(root), str(root.parent), os.environ.get("PYTHONPATH", "")])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=10000)
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        fuzz_harness.serve(Runner(a.device))
        return
    step = max(1, a.cases // 20)
    summary = fuzz(a.cases, a.first, a.device, a.timeout,
                   progress=lambda n: n % step == 0 and print(f"  {n} cases", file=sys.stderr, flush=True))
    print(summary.table(f".pmace mutation fuzz: {a.cases} cases from {a.first}, device {a.device}"))
    sys.exit(1 if summary.defects else 0)


if __name__ == "__main__":
    main()
