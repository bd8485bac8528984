"""The exceptions a user of pymace can meet. The CLI turns `PymaceError` into one line on stderr and exit 1;
anything else is a bug and keeps its traceback."""
from contextlib import contextmanager


class PymaceError(Exception):
    """Base class: a user-facing problem with a one-line explanation."""


class ModelError(PymaceError):
    """A model file that cannot be read or is malformed."""


class ConvertError(PymaceError):
    """A model that cannot be converted."""


class UnsupportedOpError(ConvertError):
    def __init__(self, unsupported: dict[str, list[str]], supported: list[str]):
        self.unsupported = unsupported
        parts = [f"{op} (nodes: {', '.join(names[:5])}{', …' if len(names) > 5 else ''})"
                 for op, names in sorted(unsupported.items())]
        super().__init__(f"unsupported op(s): {'; '.join(parts)}. pymace supports: {', '.join(sorted(supported))}")


class ConfigError(PymaceError):
    """A bad deployment YAML or command-line argument."""


class InputError(PymaceError):
    """Inputs that do not match the model (name, shape, dtype)."""


class DeviceError(PymaceError):
    """No usable OpenCL device, or a device selector that matches nothing."""


class KernelBuildError(PymaceError):
    """An OpenCL program failed to build; the message carries the build log and a path to the source."""


class KernelLaunchError(PymaceError):
    """An OpenCL call failed while running a node; the message names node, op, kernel and sizes."""


class ClusterError(PymaceError):
    """A Ray cluster that cannot be joined, a node that matches no selection, a worker that was lost."""


class OutputError(PymaceError):
    """An output the user named (model file, report, .npy outputs, extracted binaries) cannot be written."""


@contextmanager
def writing(path):
    """Turn an OSError while creating `path` (and its folders) into one line that names it."""
    try:
        yield
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e}") from None
