"""End to end: the docs/benchmark.md networks E1 and E2 step by step against the NumPy
reference, and a leaky rate network driven by a convolution against a NumPy Euler loop."""

import dataclasses
import hashlib

import numpy as np
import pytest

import tecomp as ann
from tecomp import reference
from tecomp.extensions.convolution import Convolution
from tecomp.tools import examples
from tests.helpers import assert_close

_RESULTS: dict = {}


def memoized(name, functions):
    """The layer functions, computed once per distinct input (E2's reference takes seconds,
    and step by step the same inputs come back: zeros, then the settled layers; both
    precisions share the float64 oracle and the seeded weights)."""
    def wrap(k, f):
        def g(x):
            key = (name, k, x.dtype.str, hashlib.sha1(np.ascontiguousarray(x)).hexdigest())
            if key not in _RESULTS:
                _RESULTS[key] = f(x)
            return _RESULTS[key]
        return g

    return tuple(wrap(k, f) for k, f in enumerate(functions))


@pytest.mark.parametrize("build, precision", [
    (examples.e1, "double"), (examples.e1, "float"), (examples.e2, "double"),
    (examples.e2, "float"),
], ids=["E1-double", "E1-float", "E2-double", "E2-float"])
def test_example_step_by_step(build, precision):
    net = ann.Network(precision=precision)
    ex = build(net)
    ex = dataclasses.replace(ex, functions=memoized(ex.name, ex.functions))
    net.compile()
    ex.input.r = ex.image
    dtype = net.dtype
    values = [np.zeros(layer.geometry) for layer in ex.layers]
    for _ in range(ex.steps + 1):
        values = ex.step(ex.image, values)  # in float64: the oracle, whatever the precision
        net.step()
        for layer, expected in zip(ex.layers, values, strict=True):
            assert layer.r.dtype == dtype
            assert_close(layer.r, expected, dtype)
    for layer, expected in zip(ex.layers, ex.reference(ex.image), strict=True):
        assert_close(layer.r, expected, dtype)


def test_examples_build_on_the_default_network():
    ex = examples.e1(precision="float")
    assert ex.network is ann.network.default_network()
    assert ex.network.dtype == "float32"
    assert [p.name for p in ex.network.populations] == [
        "e1_image", "e1_pool", "e1_smooth", "e1_colours"]
    assert len(ex.projections) == 3


def test_dense_read_out_is_the_whole_map_cross_correlation():
    """E2's reference computes its read-out as a dot product; on a smaller map the NumPy
    reference of the cross-correlation agrees."""
    rng = np.random.default_rng(5)
    x, w = rng.random((32, 32, 2)), rng.normal(size=(3, 32, 32, 2))
    assert_close(examples.dense(x, w),
                 reference.convolution(x, w, (1, 1, 3), bank=True))


def test_leaky_rate_network_driven_by_a_convolution():
    """tau * dr/dt + r = sum(exc), min = 0.0, under a filter with negative weights: 100
    Euler steps, the input changing at step 50."""
    net = ann.Network(dt=0.5)
    inp = net.create((20, 30), ann.Neuron(parameters="r = 0.0"))
    pop = net.create((20, 30), ann.Neuron(parameters="tau = 8.0 : population",
                                          equations="tau * dr/dt + r = sum(exc) : min = 0.0"))
    weights = np.array([[0.0, -1.0, 0.0], [-1.0, 4.5, -1.0], [0.0, -1.0, 0.0]])
    net.connect(Convolution(inp, pop, "exc")).connect_filter(weights)
    monitor = net.monitor(pop, "r")
    net.compile()
    rng = np.random.default_rng(11)
    inputs = [rng.random((20, 30)), rng.random((20, 30)) - 0.3]
    r, expected = np.zeros((20, 30)), []
    for n in range(100):
        x = inputs[n >= 50]
        if n in (0, 50):
            inp.r = x
        drive = reference.convolution(x, weights, (20, 30))
        r = np.maximum(r + 0.5 * (drive - r) / 8.0, 0.0)
        expected.append(r)
        net.step()
        assert_close(pop.r, r)
    assert (np.array(expected) == 0).any() and (np.array(expected) > 0).any()
    assert_close(monitor.get("r"), np.array(expected))
