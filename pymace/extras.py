"""The optional parts of pymace and the packages they need (pyproject.toml's extras).

A core install (numpy, pyopencl, filelock, platformdirs, PyYAML, rich) runs .pmace models, builds and inspects
caches, tunes and benchmarks. Converting, checking against the source framework, plotting and reading image
files need extras; a command that needs one calls `require` before any long work, which names what is missing
and the pip command that installs it, in one line."""
from __future__ import annotations

import importlib.util

from .errors import PymaceError

# extra → {import name: distribution name}
EXTRAS = {
    "convert": {"onnx": "onnx", "tflite": "tflite", "flatbuffers": "flatbuffers"},
    "reference": {"onnxruntime": "onnxruntime", "ai_edge_litert": "ai-edge-litert", "onnx": "onnx", "PIL": "Pillow"},
    "report": {"matplotlib": "matplotlib"},
    "image": {"PIL": "Pillow"},
    "cluster": {"ray": "ray"},
}


class MissingExtraError(PymaceError):
    """A package of an optional extra is not installed."""

    def __init__(self, what: str, missing: list[str], extras: list[str]):
        self.what, self.missing, self.extras = what, missing, extras
        super().__init__(f"{what} needs {', '.join(missing)} — pip install 'pymace[{','.join(extras)}]'")


def installed(module: str) -> bool:
    """Whether `module` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing(modules: list[str]) -> list[str]:
    """The distributions of `modules` that are not installed."""
    names = {m: d for extra in EXTRAS.values() for m, d in extra.items()}
    return [names.get(m, m) for m in dict.fromkeys(modules) if not installed(m)]


def require(what: str, extra: str, *modules: str) -> None:
    """Raise MissingExtraError naming each of `modules` that is missing and `extra`, which brings them."""
    gone = missing(list(modules))
    if gone:
        raise MissingExtraError(what, gone, [extra])
