"""Fixtures for the cache tests; the shared records and helpers are in common.py."""
import logging

import pytest

from tests.cache.common import PROGRAMS


@pytest.fixture
def warnings_logged(caplog):
    """The warnings the cache module logged during the test."""
    caplog.set_level(logging.WARNING, logger="pymace.runtime.program_cache")
    return lambda: [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.fixture(scope="session")
def pocl():
    """A real OpenCL device (PoCL on CI) and binaries it built: {program: (options, source hash, binary)}."""
    cl = pytest.importorskip("pyopencl")
    try:
        context = cl.Context(dev_type=cl.device_type.ALL)
    except cl.Error as error:
        pytest.skip(f"no OpenCL device: {error}")
    from pymace.runtime.program_cache import source_hash

    device = context.devices[0]
    built = {}
    for name, (source, options) in PROGRAMS.items():
        program = cl.Program(context, source).build(options=options.split())
        built[name] = (options, source_hash(source), program.binaries[0])
    return cl, context, device, built
