"""Comparison helpers shared by the tests."""

import numpy as np

from tecomp.reference import relative_error, tolerance


def assert_close(actual, expected, dtype: str = "float64"):
    """Max abs error relative to the scale of the expected values (at least 1)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(np.isfinite(actual), finite)
    np.testing.assert_array_equal(actual[~finite], expected[~finite])
    err = relative_error(actual, expected)
    assert err <= tolerance(dtype), f"max relative error {err:.3g}"
