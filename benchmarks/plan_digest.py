"""A digest of the launch plans pymace makes for a device it only knows by traits (no device needed), so that two
trees can be compared: run it with each tree on PYTHONPATH and diff the outputs. Default traits: the H200 of
the GPU machine (/work/shared/device/README.md); --cpu plans for a 2-core PoCL CPU instead.

    PYTHONPATH=. python benchmarks/plan_digest.py --cache /work/sweep-cache --models tv_resnet18,... > a.txt

One line per model and data type: the model, the number of launches, and a SHA-256 over every launch's program,
kernel, global and local size, build options, tuning key and arguments (tensors by name and shape, scalars by
value, constants by the hash of their bytes); --verbose prints the launches themselves."""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

H200 = dict(is_gpu=True, compute_units=132, max_work_group_size=1024, max_work_item_sizes=(1024, 1024, 64),
            local_mem_size=49152, fp16=False, name="NVIDIA H200", vendor="NVIDIA Corporation")
POCL_CPU = dict(is_gpu=False, compute_units=2, max_work_group_size=4096, max_work_item_sizes=(4096, 4096, 4096),
                local_mem_size=262144, fp16=True, name="cpu", vendor="AuthenticAMD")


def describe_arg(arg) -> str:
    if isinstance(arg, np.ndarray):
        return f"const{arg.shape}:{hashlib.sha256(np.ascontiguousarray(arg).tobytes()).hexdigest()[:12]}"
    if isinstance(arg, np.generic):
        return repr(arg.item())
    for attr in ("name", "shape", "size", "value"):
        if hasattr(arg, attr):
            return f"{type(arg).__name__}:{getattr(arg, attr)!r}:{getattr(arg, 'shape', '')}"
    return repr(arg)


def launch_lines(plan) -> list[str]:
    return [f"{la.spec.program}.{la.spec.name} gws={la.spec.gws} lws={la.lws} opts={sorted(la.options)} "
            f"key={la.tuning_key} args=[{', '.join(describe_arg(a) for a in la.spec.args)}]"
            for la in plan.launches]


def main() -> None:
    from benchmarks import sweep_fetch
    from benchmarks.sweep_models import catalogue
    from pymace.ops.base import DeviceTraits
    from pymace.runtime.plan import make_plan
    from pymace.tools.convert import convert

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", required=True)
    ap.add_argument("--cache", default=os.environ.get("PYMACE_SWEEP_CACHE", "/work/sweep-cache"))
    ap.add_argument("--data-types", default="fp32,fp16")
    ap.add_argument("--cpu", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    traits = DeviceTraits(**(POCL_CPU if args.cpu else H200))
    models = {m.name: m for m in catalogue()}
    for name in args.models.split(","):
        model = models[name]
        path = sweep_fetch.model_file(model, Path(args.cache), sweep_fetch.find_torch_python(None))
        graph = convert(str(path), input_shapes=model.shapes or None)
        for dt in args.data_types.split(","):
            lines = launch_lines(make_plan(graph, traits, dt))
            digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
            print(f"{name} {dt} launches={len(lines)} sha256={digest}")
            if args.verbose:
                print("\n".join("  " + ln for ln in lines))


if __name__ == "__main__":
    main()
