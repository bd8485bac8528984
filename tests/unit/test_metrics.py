"""pymace.metrics.rel_err, the error metric every comparison of results uses."""
import numpy as np
import pytest

from pymace.metrics import rel_err


def test_relative_to_the_largest_reference_value():
    want = np.float32([1.0, -4.0, 2.0])
    assert rel_err(want + np.float32([0, 0, 0.02]), want) == pytest.approx(0.005)
    assert rel_err(want, want) == 0.0
    assert rel_err(np.zeros((0, 3)), np.zeros((0, 3))) == 0.0


def test_nan_and_infinity_must_match():
    want = np.float32([np.nan, np.inf, -np.inf, 8.0])
    assert rel_err(want.copy(), want) == 0.0
    assert rel_err(np.float32([0, np.inf, -np.inf, 8]), want) == float("inf")  # a number where NaN is wanted
    assert rel_err(np.float32([np.nan, np.inf, np.inf, 8]), want) == float("inf")
    assert rel_err(np.float32([np.nan, np.inf, -np.inf, np.nan]), want) == float("inf")


def test_integers_compare_absolutely():
    assert rel_err(np.int64([5, 1000]), np.int64([5, 1001])) == 1.0
    assert rel_err(np.array([True, False]), np.array([True, False])) == 0.0


def test_shapes_must_agree():
    with pytest.raises(ValueError, match="shape"):
        rel_err(np.zeros(3), np.zeros((3, 1)))
