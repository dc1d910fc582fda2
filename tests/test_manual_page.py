"""Every example of the manual page "Convolution and pooling", completed with an input
and a simulation, against the NumPy reference."""

import numpy as np
import pytest

import tecomp as ann
from tecomp import reference
from tecomp.extensions.convolution import *
from tests.helpers import assert_close

VERTICAL = np.array([[1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, -1.0]])
RED = np.array([[[2.0, -1.0, -1.0]]])
BANK = np.array([
    [[1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, -1.0]],
    [[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]],
    [[-1.0, -1.0, -1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]],
    [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -1.0, -1.0]],
])
PRECISIONS = {"double": "float64", "float": "float32"}


def populations(pre_geometry, post_geometry):
    pre = ann.Population(geometry=pre_geometry, neuron=ann.Neuron(parameters="r = 0.0"))
    post = ann.Population(geometry=post_geometry, neuron=ann.Neuron(equations="r = sum(exc)"))
    return pre, post


def run(pre, rng):
    image = rng.random(pre.geometry)
    ann.compile()
    pre.r = image
    ann.simulate(1.0)
    return image


@pytest.fixture(params=list(PRECISIONS))
def dtype(request):
    ann.setup(precision=request.param)
    return PRECISIONS[request.param]


def test_simple_convolution(rng, dtype):
    pre, post = populations((100, 100), (100, 100))
    proj = Convolution(pre=pre, post=post, target="exc")
    proj.connect_filter(weights=VERTICAL)
    image = run(pre, rng)
    assert_close(post.r, reference.convolution(image, VERTICAL, (100, 100)), dtype)


@pytest.mark.parametrize("padding", [0.0, 0.7, "border"])
def test_padding_options(rng, dtype, padding):
    pre, post = populations((100, 100), (100, 100))
    Convolution(pre=pre, post=post, target="exc").connect_filter(VERTICAL, padding=padding)
    image = run(pre, rng)
    expected = reference.convolution(image, VERTICAL, (100, 100), padding=padding)
    assert_close(post.r, expected, dtype)


def test_subsampling_and_center(rng, dtype):
    pre, post = populations((100, 100), (50, 50))
    proj = Convolution(pre=pre, post=post, target="exc")
    proj.connect_filter(weights=VERTICAL)
    assert proj.center(10, 10) == (20, 20)
    assert proj.center(post.rank_from_coordinates((10, 10))) == (20, 20)
    image = run(pre, rng)
    assert_close(post.r, reference.convolution(image, VERTICAL, (50, 50)), dtype)


@pytest.mark.parametrize("as_array", [False, True])
def test_explicit_subsampling_list(rng, dtype, as_array):
    pre, post = populations((100, 100), (30, 30))
    centres = [[min(99, round(i * 3.3)), min(99, round(j * 3.3))]
               for i in range(30) for j in range(30)]
    if as_array:
        centres = np.array(centres)
    proj = Convolution(pre=pre, post=post, target="exc")
    proj.connect_filter(weights=VERTICAL, subsampling=centres)
    assert proj.center(29, 29) == (96, 96)
    image = run(pre, rng)
    expected = reference.convolution(image, VERTICAL, (30, 30), subsampling=np.array(centres))
    assert_close(post.r, expected, dtype)


def test_rgb_filter_spans_last_axis(rng, dtype):
    pre, post = populations((100, 100, 3), (100, 100))
    Convolution(pre=pre, post=post, target="exc").connect_filter(weights=RED)
    image = run(pre, rng)
    assert_close(post.r, reference.convolution(image, RED, (100, 100)), dtype)


@pytest.mark.parametrize("psp", ["w*log(1+pre.r)", "w * pre.r", "power(w * pre.r, 2) + 1"])
def test_non_linear_psp(rng, dtype, psp):
    pre, post = populations((100, 100), (100, 100))
    Convolution(pre=pre, post=post, target="exc", psp=psp).connect_filter(weights=VERTICAL)
    image = run(pre, rng)
    assert_close(post.r, reference.convolution(image, VERTICAL, (100, 100), psp=psp), dtype)


@pytest.mark.parametrize("operation", ["max", "min", "mean", "sum"])
def test_operations(rng, dtype, operation):
    pre, post = populations((100, 100), (100, 100))
    proj = Convolution(pre=pre, post=post, target="exc", operation=operation)
    proj.connect_filter(weights=VERTICAL)
    image = run(pre, rng)
    expected = reference.convolution(image, VERTICAL, (100, 100), operation=operation)
    assert_close(post.r, expected, dtype)


def test_layer_wise_keep_last_dimension(rng, dtype):
    pre, post = populations((100, 100, 3), (50, 50, 3))
    proj = Convolution(pre=pre, post=post, target="exc")
    proj.connect_filter(weights=VERTICAL, keep_last_dimension=True)
    image = run(pre, rng)
    expected = reference.convolution(image, VERTICAL, (50, 50, 3), keep_last_dimension=True)
    assert_close(post.r, expected, dtype)


def test_bank_of_filters(rng, dtype):
    pre, post = populations((100, 100), (50, 50, 4))
    Convolution(pre=pre, post=post, target="exc").connect_filters(weights=BANK)
    image = run(pre, rng)
    assert_close(post.r, reference.convolution(image, BANK, (50, 50, 4), bank=True), dtype)


def test_max_pooling(rng, dtype):
    pre, post = populations((100, 100), (50, 50))
    Pooling(pre=pre, post=post, target="exc", operation="max").connect_pooling()
    image = run(pre, rng)
    assert_close(post.r, reference.pooling(image, (50, 50), operation="max"), dtype)


def test_pooling_over_a_whole_axis(rng, dtype):
    pre, post = populations((100, 100, 10), (50, 50))
    Pooling(pre=pre, post=post, target="exc", operation="max").connect_pooling(extent=(2, 2, 10))
    image = run(pre, rng)
    expected = reference.pooling(image, (50, 50), extent=(2, 2, 10), operation="max")
    assert_close(post.r, expected, dtype)
