"""Comparison helpers shared by the tests."""

import numpy as np


def tolerance(dtype: str) -> float:
    return 1e-12 if dtype == "float64" else 1e-5


def assert_close(actual, expected, dtype: str = "float64"):
    """Max abs error relative to the scale of the expected values (at least 1)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(np.isfinite(actual), finite)
    np.testing.assert_array_equal(actual[~finite], expected[~finite])
    scale = max(1.0, float(np.abs(expected[finite]).max(initial=0.0)))
    err = float(np.abs(actual[finite] - expected[finite]).max(initial=0.0))
    assert err <= tolerance(dtype) * scale, f"max abs error {err:.3g} (scale {scale:.3g})"
