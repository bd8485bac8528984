"""Fixtures of the tuner tests: each usable OpenCL device, the warnings the tuning file logged."""
import logging

import pytest

from tests.tuner.common import DEVICES


@pytest.fixture(params=DEVICES, ids=lambda d: d.selector)
def device(request):
    return request.param


@pytest.fixture
def warnings_logged(caplog):
    """The warnings pymace's tuning file logged during the test."""
    caplog.set_level(logging.WARNING, logger="pymace.runtime.tuning_file")
    return lambda: [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
