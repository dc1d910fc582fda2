"""connect_filters with a list of filters of different sizes (multiple scales): one padded
bank kernel with a tap mask, against one connect_filter per filter and the NumPy reference."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tecomp as ann
from tecomp import build, kernels, reference, schedules
from tecomp.extensions.convolution import Convolution, Copy
from tecomp.specs import from_dict, tap_inputs, to_dict
from tests.helpers import assert_close

PRECISIONS = {"double": "float64", "float": "float32"}

# (pre, post, filter shapes, options, psp, operation)
CASES = {
    "2d-odd-even-pad": ((12, 10), (12, 10, 3), [(3, 3), (4, 2), (1, 5)], {"padding": 0.5},
                        "w * pre.r", "sum"),
    "2d-border-max": ((10, 8), (5, 4, 3), [(5, 5), (2, 2), (3, 1)], {"padding": "border"},
                      "w * pre.r", "max"),
    "1d-stride-min": ((12,), (6, 3), [(1,), (4,), (7,)], {"padding": -0.3},
                      "w * log(1 + pre.r)", "min"),
    "3d-mean-border": ((6, 5, 4), (6, 5, 4, 3), [(3, 3, 3), (1, 2, 3), (2, 1, 1)],
                       {"padding": "border"}, "w * pre.r", "mean"),
    "2d-mean-affine": ((9, 9), (3, 3, 2), [(3, 3), (6, 4)], {"padding": 1.5},
                       "w * pre.r + 0.5", "mean"),
    "span": ((8, 6, 3), (4, 3, 2), [(3, 3, 3), (5, 2, 3)], {}, "pos(w - pre.r)", "sum"),
    "table": ((9, 7), (4, 2, 2), [(3, 3), (2, 4)],
              {"subsampling": [[0, 0], [1, 6], [4, 3], [8, 1], [2, 2], [5, 5], [7, 0],
                               [3, 6]]}, "w * pre.r", "max"),
}


def filters_of(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, s) for s in shapes]


def connect(pre, post, filters, options, psp="w * pre.r", operation="sum"):
    proj = Convolution(pre, post, "exc", psp=psp, operation=operation)
    return proj.connect_filters(filters, **options)


def single(pre, spatial, filters, options, psp, operation):
    """One connect_filter per filter, each into its own population of the spatial shape."""
    out = []
    for f in filters:
        post = ann.Population(spatial, ann.Neuron(equations="r = sum(exc)"))
        Convolution(pre, post, "exc", psp=psp, operation=operation).connect_filter(f, **options)
        out.append(post)
    return out


@pytest.mark.parametrize("precision", list(PRECISIONS))
@pytest.mark.parametrize("name", list(CASES))
def test_a_list_equals_one_connect_filter_per_filter_and_the_reference(name, precision, rng):
    pre_g, post_g, shapes, options, psp, operation = CASES[name]
    ann.setup(precision=precision)
    pre = ann.Population(pre_g, ann.Neuron(parameters="r = 0.0"))
    post = ann.Population(post_g, ann.Neuron(equations="r = sum(exc)"))
    filters = filters_of(shapes)
    connect(pre, post, filters, options, psp, operation)
    singles = single(pre, post_g[:-1], filters, options, psp, operation)
    ann.compile()
    x = rng.uniform(0.1, 1.0, pre_g)
    pre.r = x
    ann.step()
    dtype = PRECISIONS[precision]
    for f, one in enumerate(singles):
        assert_close(post.r[..., f], one.r, dtype)
    expected = reference.convolution_filters(x, filters, post_g, psp=psp, operation=operation,
                                             **options)
    assert_close(post.r, expected, dtype)
    for f, w in enumerate(filters):  # the reference for filter f is filter f alone
        alone = reference.convolution(x, w, post_g[:-1], psp=psp, operation=operation,
                                      **options)
        assert_close(expected[..., f], alone, "float64")


def test_a_list_of_one_shape_is_the_array_bank():
    pre = ann.Population((8, 8), ann.Neuron(parameters="r = 0.0"))
    post = ann.Population((4, 4, 2), ann.Neuron(equations="r = sum(exc)"))
    filters = filters_of([(3, 3), (3, 3)])
    as_list = connect(pre, post, filters, {})
    as_array = connect(pre, post, np.stack(filters), {})
    assert as_list.spec() == as_array.spec() and as_list.spec().footprints is None
    assert isinstance(as_list.weights, np.ndarray)
    np.testing.assert_array_equal(as_list.weights, np.stack(filters))


def test_spec_keys_of_old_records_are_kept_and_footprints_round_trip():
    pre = ann.Population((8, 8), ann.Neuron(parameters="r = 0.0"))
    post = ann.Population((8, 8, 2), ann.Neuron(equations="r = sum(exc)"))
    bank = connect(pre, post, np.ones((2, 3, 3)), {}).spec()
    assert "footprints" not in to_dict(bank)
    spec = connect(pre, post, [np.ones((3, 3)), np.ones((5, 4))], {}).spec()
    assert spec.window == (5, 4) and spec.weights == (2, 5, 4)
    assert spec.footprints == ((3, 3), (5, 4)) and from_dict(to_dict(spec)) == spec
    mask = tap_inputs(spec)[0]
    assert mask.shape == (5, 4, 2) and mask[..., 0].sum() == 9 and mask[..., 1].all()
    assert mask[1:4, 0:3, 0].all()  # offset (5-1)//2 - (3-1)//2 = 1, (4-1)//2 - 1 = 0
    assert spec.flops == 2 * 64 * (9 + 20)


def test_delays_shift_a_list_projection(rng):
    pre = ann.Population((8, 6), ann.Neuron(parameters="r = 0.0"))
    now, late = (ann.Population((8, 6, 2), ann.Neuron(equations="r = sum(exc)"))
                 for _ in range(2))
    filters = filters_of([(3, 1), (2, 4)])
    connect(pre, now, filters, {"padding": 0.2}, operation="max")
    connect(pre, late, filters, {"padding": 0.2, "delays": 2.0}, operation="max")
    ann.compile()
    history = []
    for step in range(5):
        pre.r = rng.random((8, 6))
        ann.step()
        history.append(now.r.copy())
        if step >= 2:
            np.testing.assert_array_equal(late.r, history[step - 2])


@pytest.mark.parametrize("operation", [None, "min", "mean"])
def test_a_copy_of_a_list_projection(operation, rng):
    a, b = (ann.Population((9, 8), ann.Neuron(parameters="r = 0.0")) for _ in "ab")
    c, d = (ann.Population((9, 8, 3), ann.Neuron(equations="r = sum(exc)")) for _ in "cd")
    filters = filters_of([(3, 3), (5, 2), (1, 1)])
    source = connect(a, c, filters, {"padding": "border"})
    copy = Copy(b, d, "exc", operation=operation).connect_copy(source)
    assert [w.shape for w in copy.weights] == [(3, 3), (5, 2), (1, 1)]
    ann.compile()
    x = rng.random((9, 8))
    b.r = x
    ann.step()
    expected = reference.convolution_filters(x, filters, (9, 8, 3), padding="border",
                                             operation=operation or "sum")
    assert_close(d.r, expected)
    source.weights = [2 * w for w in filters]  # shared: the copy follows
    ann.step()
    expected = reference.convolution_filters(x, [2 * w for w in filters], (9, 8, 3),
                                             padding="border", operation=operation or "sum")
    assert_close(d.r, expected)


def test_weights_get_and_set_as_a_list(rng):
    pre = ann.Population((8, 8), ann.Neuron(parameters="r = 0.0"))
    post = ann.Population((8, 8, 2), ann.Neuron(equations="r = sum(exc)"))
    filters = filters_of([(3, 3), (2, 5)])
    proj = connect(pre, post, filters, {})
    got = proj.get("weights")
    assert isinstance(got, list) and [w.shape for w in got] == [(3, 3), (2, 5)]
    for mine, given_ in zip(got, filters, strict=True):
        np.testing.assert_array_equal(mine, given_)
    got[0][...] = 9.0  # copies
    np.testing.assert_array_equal(proj.w[0], filters[0])
    new = filters_of([(3, 3), (2, 5)], seed=5)
    proj.set({"w": new})
    np.testing.assert_array_equal(proj.weights[1], new[1])
    ann.compile()
    x = rng.random((8, 8))
    pre.r = x
    proj.weights = (filters[0], new[1])  # after compile, a tuple
    ann.step()
    mixed = [filters[0], new[1]]
    assert_close(post.r, reference.convolution_filters(x, mixed, (8, 8, 2)))
    np.testing.assert_array_equal(proj.weights[0], filters[0])
    for bad in ([np.ones((3, 3))], [np.ones((3, 3)), np.ones((5, 2))],
                np.ones((2, 3, 3)), [np.ones((3, 3)), np.full((2, 5), np.nan)]):
        with pytest.raises(ann.InvalidValueError):
            proj.weights = bad
    np.testing.assert_array_equal(proj.weights[1], new[1])


@pytest.mark.parametrize("padding", [0.0, "border"])
def test_connectivity_matrix_and_synapses_count_each_filters_own_taps(padding):
    pre = ann.Population((7, 6), ann.Neuron(parameters="r = 0.0"))
    post = ann.Population((7, 3, 3), ann.Neuron(equations="r = sum(exc)"))
    filters = filters_of([(3, 3), (1, 4), (5, 1)])
    proj = connect(pre, post, filters, {"padding": padding})
    matrix = proj.connectivity_matrix(fill=np.nan)
    for f, w in enumerate(filters):
        other = ann.Population((7, 3), ann.Neuron(equations="r = sum(exc)"))
        one = Convolution(pre, other, "exc").connect_filter(w, padding=padding)
        np.testing.assert_array_equal(matrix[f::3], one.connectivity_matrix(fill=np.nan))
    assert proj.nb_synapses == 21 * (9 + 4 + 5)


BAD = {
    "empty": ([], {}, "at least one filter"),
    "dims": ([np.ones((3, 3)), np.ones((3,))], {}, "same number of dimensions"),
    "non-finite": ([np.ones((3, 3)), np.array([[1.0, np.inf]])], {}, "filter 1"),
    "count": ([np.ones((3, 3)), np.ones((5, 5))], {}, "one neuron per filter"),
    "keep-last": ([np.ones((3, 3)), np.ones((1, 1)), np.ones((5, 5))],
                  {"keep_last_dimension": True}, "keep_last_dimension"),
    "too many dims": ([np.ones((1,) * 5), np.ones((2,) * 5), np.ones((3,) * 5)], {},
                      "at most 4 dimensions"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_lists_are_refused_at_the_call_and_build_nothing(name):
    filters, options, words = BAD[name]
    pre = ann.Population((8, 8), ann.Neuron(parameters="r = 0.0"))
    post = ann.Population((8, 8, 3), ann.Neuron(equations="r = sum(exc)"))
    proj = Convolution(pre, post, "exc")
    with pytest.raises(ann.InvalidValueError, match=words):
        proj.connect_filters(filters, **options)
    assert not proj.connected


def test_a_spanned_axis_needs_every_filter_to_cover_it():
    pre = ann.Population((8, 8, 3), ann.Neuron(parameters="r = 0.0"))
    post = ann.Population((8, 8, 2), ann.Neuron(equations="r = sum(exc)"))
    proj = Convolution(pre, post, "exc")
    with pytest.raises(ann.InvalidValueError, match=r"the filters have \[3, 2\]"):
        proj.connect_filters([np.ones((3, 3, 3)), np.ones((5, 5, 2))])
    assert not proj.connected


SPECS = {  # kernels with sampled schedules: (pre, post, shapes, options, operation)
    "2d": ((16, 12), (8, 12, 4), [(3, 3), (5, 5), (1, 2), (4, 3)], {"padding": 0.25}, "max"),
    "3d-border": ((6, 8, 4), (6, 8, 4, 2), [(3, 3, 3), (1, 4, 2)], {"padding": "border"},
                  "mean"),
}


@pytest.mark.parametrize("precision", list(PRECISIONS))
@pytest.mark.parametrize("name", list(SPECS))
def test_sampled_knobs_give_the_reference(name, precision):
    pre_g, post_g, shapes, options, operation = SPECS[name]
    net = ann.Network(precision=precision)
    pre = net.create(pre_g, ann.Neuron(parameters="r = 0.0"))
    post = net.create(post_g, ann.Neuron(equations="r = sum(exc)"))
    filters = filters_of(shapes)
    proj = Convolution(pre, post, "exc", operation=operation)
    proj.connect_filters(filters, **options)
    spec = proj.spec(net.dtype)
    x = np.random.default_rng(3).uniform(0.1, 1.0, pre_g)
    expected = reference.convolution_filters(x, filters, post_g, operation=operation,
                                             **options)
    inputs = [x, proj.kernel_weights(), *proj.tap_inputs()]
    assert [s for s, _ in kernels.signature(spec)] == [a.shape for a in inputs] + [post_g]
    space = schedules.candidates(spec)
    assert schedules.default_knobs(spec) in space
    picks = [schedules.default_knobs(spec)] + [space[i] for i in np.random.default_rng(
        7).choice(len(space), size=min(2, len(space)), replace=False)]
    picks += [k for k in space if k.inline_padding][-1:]  # taps that test their own range
    for knobs in picks:
        out = build.aligned_empty(post_g, net.dtype)
        kernels.compile_kernel(spec, knobs)(*(build.aligned_copy(a, net.dtype)
                                              for a in inputs), out)
        assert_close(out, expected, net.dtype)


PROPERTY = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def filter_lists(draw):
    dims = draw(st.integers(1, 3))
    spatial = [draw(st.integers(1, 4)) for _ in range(dims)]
    strides = [draw(st.integers(1, 2)) for _ in range(dims)]
    pre = [p * s for p, s in zip(spatial, strides, strict=True)]
    explicit = draw(st.booleans()) and draw(st.booleans())
    if explicit:
        pre = [n + draw(st.integers(0, 2)) for n in pre]
    count = draw(st.integers(2, 4))
    shapes = [tuple(draw(st.integers(1, 4)) for _ in range(dims)) for _ in range(count)]
    subsampling = None
    if explicit:
        subsampling = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(
            0, pre, size=(math.prod(spatial), dims))
    return dict(pre=tuple(pre), post=(*spatial, count), shapes=shapes,
                options=dict(padding=draw(st.sampled_from([0.0, -0.4, "border"])),
                             subsampling=subsampling),
                psp=draw(st.sampled_from(["w * pre.r", "w * pre.r - 0.25",
                                          "w * sqrt(pre.r)", "pos(w - pre.r)"])),
                operation=draw(st.sampled_from(["sum", "max", "min", "mean"])),
                precision=draw(st.sampled_from(list(PRECISIONS))))


@PROPERTY
@given(filter_lists(), st.integers(0, 2**32 - 1))
def test_random_lists_match_the_reference(case, seed):
    ann.clear()
    ann.setup(precision=case["precision"])
    pre = ann.Population(case["pre"], ann.Neuron(parameters="r = 0.0"))
    post = ann.Population(case["post"], ann.Neuron(equations="r = sum(exc)"))
    filters = filters_of(case["shapes"], seed)
    connect(pre, post, filters, case["options"], case["psp"], case["operation"])
    ann.compile()
    x = np.random.default_rng(seed).random(case["pre"])
    pre.r = x
    ann.step()
    expected = reference.convolution_filters(x, filters, case["post"], psp=case["psp"],
                                             operation=case["operation"], **case["options"])
    assert_close(post.r, expected, PRECISIONS[case["precision"]])


def test_save_and_load_a_list_projection(tmp_path, rng):
    pre = ann.Population((8, 8), ann.Neuron(parameters="r = 0.0"))
    post = ann.Population((8, 8, 2), ann.Neuron(equations="r = sum(exc)"))
    filters = filters_of([(3, 3), (2, 5)])
    proj = connect(pre, post, filters, {})
    ann.compile()
    ann.save(tmp_path / "state.npz")
    proj.weights = [np.zeros((3, 3)), np.zeros((2, 5))]
    ann.load(tmp_path / "state.npz")
    for mine, saved in zip(proj.weights, filters, strict=True):
        np.testing.assert_array_equal(mine, saved)


@pytest.mark.parametrize("operation", ["sum", "max", "min", "mean"])
def test_one_bank_per_size_equals_the_padded_bank(operation):
    """The two algorithms of a bank of several sizes (knob filter_groups) agree."""
    rng = np.random.default_rng(11)
    net = ann.Network()
    pre = net.create((9, 10), ann.Neuron(parameters="r = 0.0"))
    post = net.create((9, 10, 5), ann.Neuron(equations="r = sum(exc)"))
    filters = [rng.standard_normal((k, j)) for k, j in ((3, 3), (1, 5), (3, 3), (2, 2),
                                                         (1, 5))]
    proj = Convolution(pre, post, "exc", operation=operation, psp="w * pre.r + 0.5")
    proj.connect_filters(filters, padding=0.25)
    spec = proj.spec()
    assert schedules.default_knobs(spec).filter_groups
    inputs = [build.aligned_copy(v, "float64") for v in proj.kernel_inputs().values()]
    x = build.aligned_copy(rng.random((9, 10)), "float64")
    results = []
    for knobs in schedules.candidates(spec):
        if knobs.parallel and knobs.vector_axis is None and knobs.block_axis is None and \
                not knobs.inline_padding and knobs.tap_vector == 1:
            out = build.aligned_empty(spec.post, "float64")
            kernels.compile_kernel(spec, knobs)(x, *inputs, out)
            results.append((knobs.filter_groups, out))
    assert {groups for groups, _ in results} == {False, True}
    for _, out in results[1:]:
        np.testing.assert_allclose(out, results[0][1], rtol=1e-12, atol=1e-12)
