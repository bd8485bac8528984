"""Fuzz the ONNX and TFLite importers and everything after them: mutate source models (ONNX: attributes,
initializers, wiring, op types, input shapes, opsets, raw bytes; TFLite: the zoo's BlazeFace with bytes flipped,
32-bit fields overwritten and the file cut short), convert each one, and when it converts, load the .pmace and
run it on the OpenCL device and on the NumPy reference. The rules are fuzz_pmace.py's: one PymaceError, or the
reference's outputs; never a signal, a hang, memory past max(200 MB, 4 × the file), another exception, or other
numbers than the reference without an error.

    .venv/bin/python benchmarks/fuzz_import.py [--cases 5000] [--first 0] [--device cpu]

Case N is TFLite when N % 3 == 2, else ONNX (seed N % 2), mutated with random.Random(N)."""
from __future__ import annotations

import argparse
import atexit
import random
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzz_harness  # noqa: E402
import fuzz_pmace  # noqa: E402

INTERESTING = fuzz_pmace.INTERESTING


def onnx_seeds(folder: Path) -> list:
    import onnx

    from tests.hostile.conftest import small_onnx

    small_onnx(folder / "small.onnx")
    fuzz_pmace._wide_onnx(folder / "wide.onnx")
    return [onnx.load(str(folder / f"{n}.onnx")) for n in ("small", "wide")]


# --- ONNX mutations on a ModelProto ----------------------------------------------------------------------------
def o_attr(model, rng):
    from onnx import helper

    nodes = [n for n in model.graph.node if n.attribute]
    if not nodes:
        return
    node = rng.choice(nodes)
    a = rng.choice(list(node.attribute))
    value = helper.get_attribute_value(a)
    roll = rng.random()
    if roll < 0.15:
        node.attribute.remove(a)
        return
    new = fuzz_pmace._value(rng, list(value) if isinstance(value, (list, tuple)) else
                            value.decode() if isinstance(value, bytes) else value)
    try:
        node.attribute.remove(a)
        node.attribute.append(helper.make_attribute(a.name, new))
    except (TypeError, ValueError):
        node.attribute.append(a)


def o_init(model, rng):
    from onnx import numpy_helper

    inits = list(model.graph.initializer)
    if not inits:
        return
    t = rng.choice(inits)
    value = numpy_helper.to_array(t)
    roll = rng.random()
    if roll < 0.35:
        flat = value.reshape(-1).copy()
        if flat.size:
            flat[rng.randrange(flat.size)] = rng.choice(INTERESTING + [0]) if value.dtype.kind in "iu" else \
                rng.choice([np.nan, np.inf, -np.inf, 0.0, 1e30])
        new = flat.reshape(value.shape)
    elif roll < 0.6:
        shape = list(value.shape) or [1]
        k = rng.randrange(len(shape))
        shape[k] = max(0, shape[k] + rng.choice([-1, 1, 2]))
        new = np.resize(value, shape)
    elif roll < 0.75:
        t.dims[:] = [rng.choice([0, 1, 3, 1000, 2**31]) for _ in t.dims] or [2]
        return
    elif roll < 0.9:
        if t.raw_data:
            t.raw_data = t.raw_data[: rng.randrange(len(t.raw_data))]
        return
    else:
        new = value.astype(rng.choice(["float16", "float64", "int32", "int8", "bool"]))
    t.CopyFrom(numpy_helper.from_array(new, t.name))


def o_wiring(model, rng):
    g = model.graph
    names = [i.name for i in g.initializer] + [i.name for i in g.input] + [o for n in g.node for o in n.output]
    node = rng.choice(list(g.node))
    roll = rng.random()
    if roll < 0.35 and node.input:
        node.input[rng.randrange(len(node.input))] = rng.choice(names + ["", "nope"])
    elif roll < 0.55:
        node.op_type = rng.choice(["Relu", "Conv", "Concat", "Split", "Pad", "Slice", "Resize", "Gemm", "MaxPool",
                                   "Reshape", "Transpose", "Softmax", "BatchNormalization", "Add", "Expand",
                                   "ConstantOfShape", "Tile", "Evil", "Cast", "Gather"])
    elif roll < 0.7:
        g.node.remove(node)
    elif roll < 0.8 and node.output:
        node.output[0] = rng.choice(names)
    else:
        g.node.append(node)  # a second producer of the same tensors


def o_inputs(model, rng):
    vi = rng.choice(list(model.graph.input))
    dims = vi.type.tensor_type.shape.dim
    if dims:
        d = dims[rng.randrange(len(dims))]
        if rng.random() < 0.8:
            d.dim_value = rng.choice([0, 1, 2, 3, 7, 100, 40000, 2**31])
        else:
            d.dim_param = "N"
    if rng.random() < 0.1:
        model.opset_import[0].version = rng.choice([1, 7, 9, 10, 11, 12, 18, 21, 99])


O_MUTATIONS = [(o_attr, 4), (o_init, 3), (o_wiring, 2), (o_inputs, 1)]


def mutated_onnx(seed, case: int) -> bytes:
    rng = random.Random(case)
    model = type(seed)()
    model.CopyFrom(seed)
    fns, weights = zip(*O_MUTATIONS)
    for fn in rng.choices(fns, weights, k=rng.choice([1, 1, 2, 3])):
        try:
            fn(model, rng)
        except Exception:  # noqa: BLE001 - an edit onnx itself refuses (an earlier one broke the tensor): skip it
            pass
    blob = bytearray(model.SerializeToString())
    if rng.random() < 0.15:  # raw damage on top
        for _ in range(rng.randint(1, 6)):
            blob[rng.randrange(len(blob))] ^= 1 << rng.randrange(8)
    if rng.random() < 0.05:
        blob = blob[: rng.randrange(len(blob))]
    return bytes(blob)


# --- TFLite mutations on the bytes -----------------------------------------------------------------------------
def mutated_tflite(seed: bytes, case: int) -> bytes:
    """Flatbuffer damage where the tables are (the first 8 KB and the last 16 KB hold the schema's tables and
    vectors in the zoo's file; the middle is weights): flipped bits, 32-bit fields set to edge values, cuts."""
    rng = random.Random(case)
    blob = bytearray(seed)
    n = len(blob)

    def spot() -> int:
        roll = rng.random()
        return rng.randrange(min(8192, n)) if roll < 0.4 else n - 1 - rng.randrange(min(16384, n)) \
            if roll < 0.8 else rng.randrange(n)
    for _ in range(rng.choice([1, 1, 2, 4])):
        roll = rng.random()
        if roll < 0.5:
            blob[spot()] ^= 1 << rng.randrange(8)
        elif roll < 0.9:
            at = spot() & ~3
            value = rng.choice([0, 1, 2, 3, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, n, n + 4, 1 << 20])
            blob[at:at + 4] = value.to_bytes(4, "little")
        else:
            blob = blob[: rng.randrange(n)]
            n = len(blob)
            if n < 16:
                break
    return bytes(blob)


class Runner:
    def __init__(self, device: str):
        import onnx  # noqa: F401 - imported once, before the first case is timed

        from pymace.tools import zoo

        self.device = device
        self.tmp = Path(tempfile.mkdtemp(prefix="fuzz-import-"))
        atexit.register(shutil.rmtree, self.tmp, True)  # a worker killed by a signal leaves it
        self.onnx = onnx_seeds(self.tmp)
        self.tflite = zoo.source("blazeface").read_bytes()
        self.storage = str(self.tmp / "storage")
        for case in (0, 1, 2):  # warm up (imports, the OpenCL platform, the seeds' programs): not any case's memory
            self._run(case, mutate=False)

    def _run(self, case: int, mutate: bool = True) -> fuzz_harness.Result:
        from pymace.errors import PymaceError
        from pymace.tools.convert import convert

        if case % 3 == 2:
            blob, path = mutated_tflite(self.tflite, case) if mutate else self.tflite, self.tmp / "case.tflite"
        else:
            seed = self.onnx[case % 2]
            blob, path = mutated_onnx(seed, case) if mutate else seed.SerializeToString(), self.tmp / "case.onnx"
        path.write_bytes(blob)
        out = self.tmp / "case.pmace"
        out.unlink(missing_ok=True)
        try:
            convert(path, out)
        except PymaceError as e:
            return fuzz_harness.Result("refused", str(e)[:200], len(blob))
        return fuzz_pmace.run_model(out, self.device, self.storage, len(blob))

    def __call__(self, case: int) -> fuzz_harness.Result:
        return self._run(case)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=5000)
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--timeout", type=float, default=180.0)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        fuzz_harness.serve(Runner(a.device))
        return
    step = max(1, a.cases // 20)
    summary = fuzz(a.cases, a.first, a.device, a.timeout,
                   progress=lambda n: n % step == 0 and print(f"  {n} cases", file=sys.stderr, flush=True))
    print(summary.table(f"ONNX/TFLite mutation fuzz: {a.cases} cases from {a.first}, device {a.device}"))
    sys.exit(1 if summary.defects else 0)


def fuzz(cases: int, first: int = 0, device: str = "cpu", timeout: float = 180.0, progress=None):
    return fuzz_harness.run("fuzz_import", ["--device", device], range(first, first + cases), timeout,
                            env={"PYTHONPATH": fuzz_pmace._pythonpath()}, progress=progress)


if __name__ == "__main__":
    main()
