"""pymace: an inference engine for OpenCL devices with a robust compiled-program cache, and the toolchain to
convert, tune, validate, benchmark and report on a model deployment."""
__version__ = "0.1.0"


def __getattr__(name):  # keep `import pymace` cheap: pyopencl loads only when an Engine is made
    if name == "Engine":
        from .engine import Engine

        return Engine
    raise AttributeError(name)


__all__ = ["Engine", "__version__"]
