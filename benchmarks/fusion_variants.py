"""The GPU plan variants the benchmarks compare, each a set of environment variables read when a plan is made
(pymace/config.py): every device fusion (passes.DEVICE_FUSIONS), none, one of them off, the in-kernel split-K
sums on (ops/conv_gemm.py SPLIT_LAST), or Concat views on."""
from __future__ import annotations

import contextlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pymace import passes  # noqa: E402

FUSIONS = [name for name, _ in passes.DEVICE_FUSIONS]


def _off(*names: str) -> dict[str, str]:
    return {f"PYMACE_NO_{n.upper()}_FUSION": "1" for n in names}


VARIANTS: dict[str, dict[str, str]] = {
    "none": {"PYMACE_NO_DEVICE_FUSION": "1"},  # the model's nodes as converted
    "before": _off(*(n for n in FUSIONS if n != "separable")),  # the GPU plan before this round: SeparableConv only
    "default": {},
    "split-last": {"PYMACE_SPLIT_LAST": "1"},  # every fusion, and split K summed by each tile's last work-group
    "views": {"PYMACE_CONCAT_VIEWS": "1"},  # every fusion, and Concat inputs made in place (runtime/concat_views.py)
    "fewest": {"PYMACE_SPLIT_LAST": "1", "PYMACE_PROLOGUE_FUSION": "1"},  # the fewest launches: split-last, prologue
    **{f"no-{n}": _off(n) for n in FUSIONS},
    **{f"with-{n}": {f"PYMACE_{n.upper()}_FUSION": "1"} for n in passes.OFF_BY_DEFAULT},
}


def check(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    return names


@contextlib.contextmanager
def variant_env(name: str):
    """The environment of variant `name` (every other fusion variable cleared) for the duration of the block."""
    keys = {k for v in VARIANTS.values() for k in v}
    saved = {k: os.environ.get(k) for k in keys}
    try:
        for k in keys:
            os.environ.pop(k, None)
        os.environ.update(VARIANTS[name])
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
