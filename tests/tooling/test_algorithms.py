"""The algorithm comparison: direct, im2col + GEMM and Winograd F(2, 3), each checked
against the NumPy reference before it is timed."""

import numpy as np
import pytest

from tecomp.tools import algorithms


def test_every_algorithm_matches_the_reference_and_is_timed():
    results = algorithms.compare("small", "float64", repeats=2)
    assert set(results) == {"direct", "im2col + GEMM", "Winograd F(2,3)"}
    for entry in results.values():
        assert entry["ms"] > 0 and entry["gflops_direct_equivalent"] > 0
    assert list(results["Winograd F(2,3)"]["tile"]) in [list(t) for t in algorithms.TILES]


def test_a_wrong_transform_is_caught(monkeypatch):
    """The check is real: Winograd with a wrong output transform fails it."""
    monkeypatch.setattr(algorithms, "WINOGRAD_AT", ((1, 1, 1, 0), (0, 1, -1, 1)))
    with pytest.raises(AssertionError, match="Winograd"):
        algorithms.compare("small", "float64", repeats=1)


def test_reference_is_a_same_size_convolution():
    rng = np.random.default_rng(0)
    x, w = rng.random((5, 6, 3)), rng.random((2, 3, 3, 3))
    out = algorithms.reference(x, w)
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    assert np.isclose(out[2, 3, 1], np.sum(padded[2:5, 3:6, :] * w[1]))
