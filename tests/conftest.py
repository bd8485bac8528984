"""Shared by every test: a private user config dir, so that pymace's per-user key (pymace/trust.py) made by a
test never lands in the real ~/.config (subprocesses inherit it).

A test that kills the process (a driver's abort) leaves pytest no chance to report it, and pytest's own fault
handler can be replaced by one the OpenCL driver's compiler installs. So when PYMACE_TEST_TRAIL names a file
(`make test` does), each test's id is written there as it starts, and the fault handler is installed again before
each test: `make test` prints the id and the Python stacks of a run that died by a signal."""
import faulthandler
import os
import tempfile

_CONFIG = tempfile.mkdtemp(prefix="pymace-test-config-")
os.environ["XDG_CONFIG_HOME"] = _CONFIG
_TRAIL = os.environ.get("PYMACE_TEST_TRAIL")
_STDERR = os.fdopen(os.dup(2), "w") if _TRAIL else None  # fd 2 as it is now: the terminal under --capture=sys


def pytest_runtest_logstart(nodeid, location):
    if _TRAIL:
        with open(_TRAIL, "w") as f:
            f.write(nodeid + "\n")
        faulthandler.disable()  # enable() alone keeps the handler it set once, even after PoCL's LLVM replaced it
        faulthandler.enable(file=_STDERR, all_threads=True)
