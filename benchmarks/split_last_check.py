"""Is conv_gemm's -DSPLIT_LAST (each tile's last work-group sums the K splits) safe on this device?

    python benchmarks/split_last_check.py [--device gpu] [--runs 2000]

OpenCL 1.2 orders only a work-item's own memory accesses, so the pattern is correct only if the writers' fence
(write_mem_fence(CLK_GLOBAL_MEM_FENCE) before the barrier and the count) and the reader's (read_mem_fence after
it) are device-wide and the partials are read past the caches. On NVIDIA the program binary is PTX: this prints
the fence, atomic and load instructions (look for `membar.gl` or `fence.sc.gpu`/`fence.acq_rel.gpu` before and
after the `atom`, and `ld.volatile` for the partials) and a verdict on them. Then it runs split-K convs (plain,
SeparableConv, and one with a Concat prefix and channel shuffle fused; fp32 and fp16; several tile and split
shapes) `--runs` times with the in-kernel sums and compares every run bit for bit with the reduction launch. Only
when both hold should ops/conv_gemm.py SPLIT_LAST become True (the last line says whether they did)."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import print_table  # noqa: E402
from pymace.engine import Engine  # noqa: E402
from pymace.ir.graph import Graph, Node, Tensor  # noqa: E402
from pymace.runtime import device as devices  # noqa: E402

CASES = [  # (name, x shape, M, kernel size, tiling [TM, TN, TK, SPLIT]), shapes of MobileNetV2/ResNet-50 layers
    ("1x1 960->160 7x7", (1, 960, 7, 7), 160, 1, [64, 32, 32, 8]),
    ("1x1 1024->256 14x14", (1, 1024, 14, 14), 256, 1, [64, 64, 32, 4]),
    ("3x3 256->256 7x7", (1, 256, 7, 7), 256, 3, [64, 32, 32, 16]),
    ("separable 576->96 14x14", (1, 576, 14, 14), 96, 3, [64, 32, 32, 8]),
    ("prefix+shuffle 3x3 128->32 14x14", (1, 128, 14, 14), 32, 3, [32, 64, 32, 4]),
]
DEVICE_FENCE = re.compile(r"membar\.gl|fence\.(sc|acq_rel)\.gpu|fence\.(sc|acq_rel)\.sys|membar\.sys")


def graph_for(name, x_shape, m, k, tiling, last, rng):
    c = x_shape[1]
    tensors = {"x": Tensor("x", x_shape), "y": Tensor("y")}
    attrs = {"kernel_variant": "conv_gemm", "tiling": [*tiling, last]}
    if name.startswith("separable"):
        tensors["dw"] = Tensor("dw", (c, 1, 3, 3), data=rng.standard_normal((c, 1, 3, 3)).astype(np.float32))
        tensors["pw"] = Tensor("pw", (m, c, 1, 1), data=rng.standard_normal((m, c, 1, 1)).astype(np.float32) * 0.1)
        attrs |= {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [1] * 4, "dilations": [1, 1]}
        node = Node("n", "SeparableConv", ["x", "dw", "", "pw"], ["y"], attrs)
    else:
        w = rng.standard_normal((m, c, k, k)).astype(np.float32) * 0.05
        tensors["w"] = Tensor("w", w.shape, data=w)
        attrs |= {"kernel_shape": [k, k], "pads": [k // 2] * 4, "strides": [1, 1], "dilations": [1, 1]}
        inputs = ["x", "w"]
        if name.startswith("prefix"):  # DenseNet's layer: the Concat before it copied in, shuffled as ShuffleNet
            tensors["pre"] = Tensor("pre", (x_shape[0], 64, *x_shape[2:]))
            attrs |= {"fused_inputs": ["prefix"], "shuffle_groups": 2}
            inputs += ["", "pre"]
        node = Node("n", "Conv", inputs, ["y"], attrs)
    graph = Graph(name, [node], tensors, ["x", *(["pre"] if "pre" in tensors else [])], ["y"])
    from pymace.ir.shapes import infer_shapes

    infer_shapes(graph)
    return graph


def ptx_lines(engine) -> list[str]:
    """The PTX lines of the SPLIT_LAST program that fence, count or load partials (empty if not PTX)."""
    for step in engine.plan.steps:
        if "-DSPLIT_LAST" in step.options:
            binary = step.kernel.cl.program.get_info(devices.cl.program_info.BINARIES)[0]
            text = bytes(binary).decode("latin-1")
            if ".version" not in text:
                return []
            keep = re.compile(r"membar|fence|atom|ld\.volatile|ld\.global\.cg|ld\.global\.cv")
            return [line.strip() for line in text.splitlines() if keep.search(line)]
    return []


def verdict(lines: list[str]) -> tuple[bool, bool]:
    """(a device-scope fence before and after the first atomic, the partial loads volatile) in the PTX lines."""
    atom = next((i for i, line in enumerate(lines) if "atom" in line), None)
    if atom is None:
        return False, False
    fenced = any(DEVICE_FENCE.search(line) for line in lines[:atom]) and \
        any(DEVICE_FENCE.search(line) for line in lines[atom + 1:])
    return fenced, any("ld.volatile" in line for line in lines[atom + 1:])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="gpu")
    ap.add_argument("--runs", type=int, default=2000)
    args = ap.parse_args()
    device = devices.select(args.device)
    rows, fences = [], None
    for data_type in ("fp32", "fp16"):
        for name, x_shape, m, k, tiling in CASES:
            rng = np.random.default_rng(1)
            graphs = [graph_for(name, x_shape, m, k, tiling, last, np.random.default_rng(2)) for last in (0, 1)]
            try:
                plain, fused = (Engine(g, device=args.device, data_type=data_type, use_cache=False,
                                       use_tuning=False) for g in graphs)
            except Exception as e:  # e.g. a driver that refuses the inline PTX fence
                reason = " ".join(str(e).split())[:300]
                print(f"verdict: {name} {data_type} does not build ({type(e).__name__}: {reason}) -> "
                      "ops/conv_gemm.py SPLIT_LAST = True is NOT supported")
                raise SystemExit(1) from e
            if fences is None:
                lines = ptx_lines(fused)
                print(f"{device.name}: SPLIT_LAST program " + ("is not PTX" if not lines else "PTX (fences, atomics,"
                      " partial loads):\n  " + "\n  ".join(lines)))
                fences = verdict(lines)
                print(f"device-scope fence before and after the count: {'yes' if fences[0] else 'NO'}; partial "
                      f"loads volatile: {'yes' if fences[1] else 'NO'}", flush=True)
            feeds = {n: rng.standard_normal(fused.graph.tensors[n].shape).astype(np.float32)
                     for n in fused.graph.inputs}
            want = plain.run(feeds)["y"]
            wrong = sum(not np.array_equal(fused.run(feeds)["y"], want) for _ in range(args.runs))
            rows.append([name, data_type, "x".join(map(str, tiling)), len(fused.plan.steps), args.runs, wrong])
    print_table(f"SPLIT_LAST vs the reduction launch on {device.name}: runs that differ in any bit",
                ["case", "dtype", "tiling", "launches", "runs", "differing runs"], rows)
    exact = all(r[-1] == 0 for r in rows)
    safe = bool(fences and all(fences)) and exact
    print(f"verdict: PTX fences {'device-scope' if fences and fences[0] else 'NOT device-scope (or not PTX)'}, "
          f"partials {'volatile' if fences and fences[1] else 'NOT volatile'}, sums "
          f"{'bit-exact in every run' if exact else 'DIFFERED'} -> ops/conv_gemm.py SPLIT_LAST = True is "
          f"{'supported by this run' if safe else 'NOT supported'}")


if __name__ == "__main__":
    main()
