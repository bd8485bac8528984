"""Every environment variable pymace reads, parsed in one place. `load()` reads them when called (the CLI once
per command), so tests and tools may set them first."""
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    storage_dir: str | None  # PYMACE_STORAGE_DIR: where caches live (default: the user cache dir)
    device: str | None  # PYMACE_DEVICE: default --device (unset: the model's runtime, else auto)
    debug: bool  # PYMACE_DEBUG=1: keep tracebacks in the CLI
    pyopencl_enqueue: bool  # PYMACE_PYOPENCL_ENQUEUE=1: enqueue through pyopencl, not the ctypes fast path
    no_device_fusion: bool  # PYMACE_NO_DEVICE_FUSION=1: plans run the model's nodes as converted (benchmarks)
    # PYMACE_NO_<NAME>_FUSION=1 (NAME one of passes.DEVICE_FUSIONS, e.g. SE): a GPU plan skips that one fusion
    no_fusions: frozenset[str]
    # PYMACE_<NAME>_FUSION=1: a GPU plan also applies a fusion that is off by default (passes.OFF_BY_DEFAULT)
    fusions_on: frozenset[str]
    split_last: bool  # PYMACE_SPLIT_LAST=1: conv_gemm's split K summed in-kernel by default (experiments)
    # PYMACE_CONCAT_VIEWS=0|1: Concat inputs made in place in the Concat's output (runtime/concat_views.py);
    # unset (None): on for a CPU device, off for a GPU (not yet measured there)
    concat_views: bool | None
    # how concurrent runs of one engine reach the device (docs/threads.md): PYMACE_SUBMIT_LOCK=0|1 — one run at a
    # time enqueues its work (the waits overlap); PYMACE_SHARED_QUEUE=0|1 — every executor enqueues on one queue.
    # Unset (None): both on for a GPU, off for a CPU device.
    submit_lock: bool | None = None
    shared_queue: bool | None = None
    submit_thread: bool = False  # PYMACE_SUBMIT_THREAD=1: the turns through one submitting thread (experiments)
    # PYMACE_RUN_TURNS=0|1: every run of the process takes its turn at the device, launch to finish
    # (runtime/driver_quirks.py); unset (None): on for PoCL before 7.0, whose CPU drivers abort otherwise
    run_turns: bool | None = None
    # PYMACE_FOLD_MAX_BYTES: constant folding makes no constant larger than this (default 256 MiB); a node whose
    # output would be larger stays in the graph and runs on the device (docs/ir.md, "constant folding")
    fold_max_bytes: int = 256 << 20


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def _switch(name: str) -> bool | None:
    """A flag whose default is decided elsewhere: unset (or empty) → None, "0" → off, anything else → on."""
    value = os.environ.get(name, "")
    return None if value == "" else value != "0"


def _bytes(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        from .errors import ConfigError

        raise ConfigError(f"{name}={value[:40]!r}: expected a number of bytes")
    return n


def load() -> Config:
    return Config(
        storage_dir=os.environ.get("PYMACE_STORAGE_DIR") or None,
        device=os.environ.get("PYMACE_DEVICE") or None,
        debug=_flag("PYMACE_DEBUG"),
        pyopencl_enqueue=_flag("PYMACE_PYOPENCL_ENQUEUE"),
        no_device_fusion=_flag("PYMACE_NO_DEVICE_FUSION"),
        fold_max_bytes=_bytes("PYMACE_FOLD_MAX_BYTES", 256 << 20),
        no_fusions=frozenset(name[len("PYMACE_NO_"):-len("_FUSION")].lower() for name in os.environ
                             if name.startswith("PYMACE_NO_") and name.endswith("_FUSION") and _flag(name)
                             and name != "PYMACE_NO_DEVICE_FUSION"),
        fusions_on=frozenset(name[len("PYMACE_"):-len("_FUSION")].lower() for name in os.environ
                             if name.startswith("PYMACE_") and name.endswith("_FUSION") and _flag(name)
                             and not name.startswith("PYMACE_NO_")),
        split_last=_flag("PYMACE_SPLIT_LAST"),
        concat_views=_switch("PYMACE_CONCAT_VIEWS"),
        submit_lock=_switch("PYMACE_SUBMIT_LOCK"),
        shared_queue=_switch("PYMACE_SHARED_QUEUE"),
        submit_thread=_flag("PYMACE_SUBMIT_THREAD"),
        run_turns=_switch("PYMACE_RUN_TURNS"),
    )


def default_storage_dir(model_choice: str | None = None) -> str:
    """Where caches live when no --storage-dir is given: PYMACE_STORAGE_DIR (read now), else `model_choice` (a
    deployment YAML's storage_dir, recorded in the model), else the user cache directory."""
    storage_dir = load().storage_dir or model_choice
    if storage_dir:
        return storage_dir
    import platformdirs

    return platformdirs.user_cache_dir("pymace")
