"""Shared by every test: a private user config dir, so that pymace's per-user key (pymace/trust.py) made by a
test never lands in the real ~/.config (subprocesses inherit it)."""
import os
import tempfile

_CONFIG = tempfile.mkdtemp(prefix="pymace-test-config-")
os.environ["XDG_CONFIG_HOME"] = _CONFIG
