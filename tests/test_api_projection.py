"""ANNarchy's everyday projection API on Convolution, Pooling and Copy: get/set of the
weights, size, post_ranks, nb_synapses, pre/post/target/name and connectivity_matrix()."""

import numpy as np
import pytest

import tecomp as ann
from tecomp import reference
from tecomp.errors import InvalidTypeError, InvalidValueError, UnknownAttributeError
from tecomp.extensions import convolution
from tecomp.extensions.convolution import Convolution, Copy, Pooling


def rate():
    return ann.Neuron(parameters="r = 0.0")


def summing():
    return ann.Neuron(equations="r = sum(exc)")


def layers(pre_geometry, post_geometry, net=None):
    net = net or ann.Network()
    return net, net.create(pre_geometry, rate()), net.create(post_geometry, summing())


def test_get_and_set_the_weights_before_and_after_compile(rng):
    net, pre, post = layers((10, 12), (10, 12))
    w = rng.uniform(-1, 1, (3, 3))
    proj = net.connect(Convolution(pre, post, "exc", name="edges")).connect_filter(w)
    np.testing.assert_array_equal(proj.get("weights"), w)
    np.testing.assert_array_equal(proj.get("w"), w)
    np.testing.assert_array_equal(proj.w, w)
    w2 = rng.uniform(-1, 1, (3, 3))
    proj.set({"weights": w2})  # before compile
    np.testing.assert_array_equal(proj.weights, w2)
    x = rng.random((10, 12))
    pre.r = x
    net.compile()
    net.step()
    np.testing.assert_allclose(post.r, reference.convolution(x, w2, (10, 12)), atol=1e-12)
    w3 = rng.uniform(-1, 1, (3, 3))
    proj.set({"w": w3})  # after compile: the next step uses them
    np.testing.assert_array_equal(proj.get("weights"), w3)
    net.step()
    np.testing.assert_allclose(post.r, reference.convolution(x, w3, (10, 12)), atol=1e-12)
    proj.w = w  # the attribute, ANNarchy's name
    np.testing.assert_array_equal(proj.get("w"), w)


def test_get_and_set_refuse_what_a_projection_does_not_have(rng):
    net, pre, post = layers((8, 8), (8, 8))
    w = rng.random((3, 3))
    proj = Convolution(pre, post, "exc").connect_filter(w)
    with pytest.raises(UnknownAttributeError, match=r"no attribute 'delay'.*weights, w"):
        proj.get("delay")
    with pytest.raises(UnknownAttributeError, match=r"'tau'"):
        proj.set({"weights": np.ones((3, 3)), "tau": 2.0})
    np.testing.assert_array_equal(proj.weights, w)  # nothing set
    with pytest.raises(InvalidValueError, match=r"one attribute"):
        proj.set({"weights": np.ones((3, 3)), "w": np.ones((3, 3))})
    with pytest.raises(InvalidValueError, match=r"shape \(3, 3\)"):
        proj.set({"weights": np.ones((5, 5))})
    with pytest.raises(InvalidTypeError, match=r"dict"):
        proj.set([("weights", w)])
    np.testing.assert_array_equal(proj.weights, w)
    small = net.create((4, 4), summing())
    pool = Pooling(pre, small, "exc", operation="max").connect_pooling()
    with pytest.raises(UnknownAttributeError, match=r"no weights"):
        pool.get("weights")
    with pytest.raises(UnknownAttributeError, match=r"no weights"):
        pool.w  # noqa: B018
    with pytest.raises(UnknownAttributeError):
        pool.set({"weights": np.ones((2, 2))})


def test_a_copy_gets_its_source_weights_and_cannot_set_them(rng):
    net = ann.Network()
    a, b = (net.create((6, 6), rate()) for _ in "ab")
    c, d = (net.create((6, 6), summing()) for _ in "cd")
    w = rng.random((3, 3))
    source = Convolution(a, c, "exc").connect_filter(w)
    copy = Copy(b, d, "exc").connect_copy(source)
    np.testing.assert_array_equal(copy.get("weights"), w)
    with pytest.raises(InvalidValueError, match=r"shares the weights"):
        copy.set({"w": np.zeros((3, 3))})
    np.testing.assert_array_equal(source.weights, w)
    assert copy.nb_synapses == source.nb_synapses == 9 * 36
    np.testing.assert_array_equal(copy.connectivity_matrix(), source.connectivity_matrix())


def test_size_post_ranks_endpoints_and_names(rng):
    net, pre, post = layers((8, 8), (4, 4))
    proj = net.connect(Convolution(pre, post, "exc", name="edges"))
    with pytest.raises(InvalidValueError, match=r"no connection pattern yet"):
        proj.size  # noqa: B018
    proj.connect_filter(rng.random((3, 3)))
    assert (proj.size, len(proj), proj.post_ranks) == (16, 16, list(range(16)))
    assert (proj.pre, proj.post, proj.target, proj.name) == (pre, post, "exc", "edges")
    assert net.get_projection("edges") is proj
    other = Convolution(pre, post, "exc")
    assert other.name == "proj1"


@pytest.mark.parametrize("pre_g, post_g, shape, kwargs, taps", [
    pytest.param((8, 8), (8, 8), (3, 3), {}, 9, id="filter"),
    pytest.param((8, 8), (4, 4), (4, 4), {}, 16, id="stride-even"),
    pytest.param((8, 8, 3), (8, 8), (3, 3, 3), {}, 27, id="rgb"),
    pytest.param((8, 8, 3), (8, 8, 3), (3, 3), {"keep_last_dimension": True}, 9, id="keep"),
    pytest.param((8, 8), (4, 4, 5), (5, 3, 3), {"bank": True}, 9, id="bank"),
])
def test_nb_synapses_is_taps_times_post_size(pre_g, post_g, shape, kwargs, taps, rng):
    _, pre, post = layers(pre_g, post_g)
    proj = Convolution(pre, post, "exc")
    bank = kwargs.pop("bank", False)
    (proj.connect_filters if bank else proj.connect_filter)(rng.random(shape), **kwargs)
    assert proj.nb_synapses == taps * post.size


def test_nb_synapses_of_a_pooling_is_the_extent_times_post_size():
    _, pre, post = layers((8, 8, 4), (4, 4))
    proj = Pooling(pre, post, "exc").connect_pooling(extent=(2, 2, 4))
    assert (proj.nb_synapses, proj.size) == (16 * 16, 16)


CASES = {
    "same": ((9, 11), (9, 11), (3, 3), {}),
    "stride": ((12, 12), (4, 4), (3, 3), {}),
    "even": ((8, 8), (4, 4), (4, 4), {}),
    "border": ((7, 9), (7, 9), (3, 5), {"padding": "border"}),
    "rgb": ((8, 8, 3), (8, 8), (3, 3, 3), {}),
    "keep": ((8, 8, 3), (8, 8, 3), (3, 3), {"keep_last_dimension": True}),
    "bank": ((8, 8), (4, 4, 5), (5, 3, 3), {"bank": True}),
    "cnn": ((6, 6, 2), (6, 6, 4), (4, 3, 3, 2), {"bank": True}),
    "subsampling": ((8, 8), (3, 3), (3, 3),
                    {"subsampling": [[i, j] for i in (0, 3, 7) for j in (1, 4, 6)]}),
    "1d": ((13,), (13,), (5,), {}),
}


@pytest.mark.parametrize("case", CASES)
def test_the_connectivity_matrix_gives_the_projection_result(case, rng):
    """post.r = M @ pre.r for the linear psp, against the NumPy reference and the kernel."""
    pre_g, post_g, shape, kwargs = CASES[case]
    net, pre, post = layers(pre_g, post_g)
    kwargs = dict(kwargs)
    bank = kwargs.pop("bank", False)
    w = rng.uniform(-1, 1, shape)
    proj = Convolution(pre, post, "exc")
    (proj.connect_filters if bank else proj.connect_filter)(w, **kwargs)
    matrix = proj.connectivity_matrix()
    assert matrix.shape == (post.size, pre.size) and matrix.dtype == np.float64
    x = rng.random(pre_g)
    expected = reference.convolution(x, w, post_g, bank=bank, **kwargs)
    np.testing.assert_allclose((matrix @ x.reshape(-1)).reshape(post_g), expected, atol=1e-12)
    pre.r = x
    net.compile()
    net.step()
    np.testing.assert_allclose(post.r.reshape(-1), matrix @ x.reshape(-1), atol=1e-12)


def test_the_connectivity_matrix_of_a_small_filter_exactly():
    _, pre, post = layers((4,), (4,))
    proj = Convolution(pre, post, "exc").connect_filter(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(proj.connectivity_matrix(), [
        [2, 3, 0, 0],
        [1, 2, 3, 0],
        [0, 1, 2, 3],
        [0, 0, 1, 2]])
    with_nan = proj.connectivity_matrix(fill=np.nan)
    np.testing.assert_array_equal(np.isnan(with_nan), [
        [0, 0, 1, 1],
        [0, 0, 0, 1],
        [1, 0, 0, 0],
        [1, 1, 0, 0]])
    # a zero weight is a synapse: 0, not the fill value
    proj.weights = np.array([0.0, 2.0, 3.0])
    assert proj.connectivity_matrix(fill=-1.0)[1, 0] == 0.0
    # border padding: the clamped taps add their weights on the border neuron
    _, pre, post = layers((4,), (4,))
    proj = Convolution(pre, post, "exc").connect_filter(np.array([1.0, 2.0, 3.0]),
                                                        padding="border")
    np.testing.assert_array_equal(proj.connectivity_matrix()[0], [3, 3, 0, 0])
    np.testing.assert_array_equal(proj.connectivity_matrix()[3], [0, 0, 1, 5])


def test_the_connectivity_matrix_of_a_pooling_has_ones_in_each_window(rng):
    _, pre, post = layers((8, 6, 3), (4, 3))
    proj = Pooling(pre, post, "exc", operation="sum").connect_pooling(extent=(2, 2, 3))
    matrix = proj.connectivity_matrix()
    assert set(np.unique(matrix)) == {0.0, 1.0}
    np.testing.assert_array_equal(matrix.sum(axis=1), np.full(12, 12.0))
    np.testing.assert_array_equal(matrix.sum(axis=0), np.ones(8 * 6 * 3))
    x = rng.random((8, 6, 3))
    np.testing.assert_allclose((matrix @ x.reshape(-1)).reshape(4, 3),
                               reference.pooling(x, (4, 3), extent=(2, 2, 3), operation="sum"),
                               atol=1e-12)


def test_a_too_large_connectivity_matrix_is_refused(monkeypatch):
    _, pre, post = layers((12_000,), (12_000,))
    proj = Convolution(pre, post, "exc").connect_filter(np.ones(3))
    with pytest.raises(InvalidValueError, match=r"12000 post × 12000 pre.*1152000000 bytes"):
        proj.connectivity_matrix()
    monkeypatch.setattr(convolution, "MAX_MATRIX_BYTES", 1000)
    _, pre, post = layers((12,), (12,))
    proj = Convolution(pre, post, "exc").connect_filter(np.ones(3))
    with pytest.raises(InvalidValueError, match=r"1152 bytes"):
        proj.connectivity_matrix()
    with pytest.raises(InvalidTypeError, match=r"fill"):
        Convolution(pre, post, "exc").connect_filter(np.ones(3)).connectivity_matrix("0")
