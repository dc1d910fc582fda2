"""Bad input (docs/semantics.md, "Bad input"): every invalid call raises, at the call that made the
mistake, a `TecompError` that is also a `ValueError`/`TypeError` (state errors: a
`RuntimeError`), whose message names the rule and the offending values; and it leaves nothing
half-built: afterwards the same network still compiles and simulates to the NumPy reference.
"""

import contextlib
import os
import re

import numpy as np
import pytest

import tecomp as ann
from tecomp import reference
from tecomp.extensions.convolution import Convolution, Pooling
from tecomp.network import default_network

VALUE, TYPE, EQUATION, STATE = (ann.InvalidValueError, ann.InvalidTypeError, ann.EquationError,
                                ann.NetworkStateError)
ANY = ann.TecompError  # either InvalidValueError or InvalidTypeError is fine
NAN, INF = float("nan"), float("inf")


# -- helpers ----------------------------------------------------------------------------------

@contextlib.contextmanager
def rejected(kind, *patterns):
    """The block must raise `kind`, a TecompError that is a ValueError or TypeError (a
    RuntimeError for state errors), with a message matching every regex of `patterns`."""
    with pytest.raises(kind) as info:
        yield info
    error = info.value
    assert isinstance(error, ann.TecompError), f"{type(error).__name__} is not a TecompError"
    allowed = RuntimeError if isinstance(error, STATE) else (ValueError, TypeError)
    assert isinstance(error, allowed), f"{type(error).__name__} is not a {allowed}"
    for pattern in patterns:
        info.match(pattern)


def caret(line, column):
    """Regex for the end of an EquationError message: the line, then `^` under `column`."""
    return rf"\n    {re.escape(line)}\n    {' ' * column}\^$"


def rate():
    return ann.Neuron(parameters="r = 0.0")


def summing():
    return ann.Neuron(equations="r = sum(exc)")


def layers(pre=(10, 10), post=(5, 5), net=None):
    create = ann.Population if net is None else net.create
    return create(pre, rate()), create(post, summing())


def weights_of(shape, seed=0):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, shape)


def with_value(shape, index, value):
    weights = weights_of(shape)
    weights[index] = value
    return weights


def centres_table(pre_size, post_size, dims=2):
    """A valid subsampling table: one row of pre coordinates per post position, C order."""
    step = pre_size // post_size
    axis = [1 + step * i for i in range(post_size)]
    return np.stack(np.meshgrid(*[axis] * dims, indexing="ij"), -1).reshape(-1, dims).tolist()


def filt(shape, **options):
    """connect_filter(weights of `shape`, **options)."""
    return {"bank": False, "shape": shape, "options": options}


def bank(shape, **options):
    """connect_filters(weights of `shape`, **options)."""
    return {"bank": True, "shape": shape, "options": options}


def connect(proj, how):
    weights = weights_of(how["shape"])
    (proj.connect_filters if how["bank"] else proj.connect_filter)(weights, **how["options"])
    return weights


def one_step(pre, post, x=None):
    """Compile pre's network (if not yet), set pre.r (random by default), run one step."""
    net = pre.network
    net.compile()
    x = np.random.default_rng(1).random(pre.geometry) if x is None else x
    pre.r = x
    net.simulate(net.dt)
    return x, post.r


def expect_convolution(proj, weights, bank=False, x=None, **options):
    """One step of proj's network gives the reference result of `weights` and `options`."""
    x, got = one_step(proj.pre, proj.post, x)
    want = reference.convolution(x, weights, proj.post.geometry, bank=bank, psp=proj.psp,
                                 operation=proj.operation, **options)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def connect_and_run(proj, how=None):
    """A correct connect (a 3x3 filter by default) on proj, then compile and one step."""
    how = filt((3, 3)) if how is None else how
    weights = connect(proj, how)
    expect_convolution(proj, weights, bank=how["bank"], **how["options"])


def pool_and_run(proj, extent=None):
    proj.connect_pooling(extent=extent)
    x, got = one_step(proj.pre, proj.post)
    want = reference.pooling(x, proj.post.geometry, extent=extent, psp=proj.psp,
                             operation=proj.operation)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def assert_only(pre):
    """The failed call registered nothing: `pre` is the only population, and the network is
    still usable (a post and a convolution added, compiled and run)."""
    assert default_network().populations == [pre]
    assert default_network().projections == []
    post = ann.Population((3, 3), summing())
    connect_and_run(Convolution(pre, post, "exc"))


def compiled_network():
    """pre (10, 10) -> post (5, 5) through a 3x3 filter, compiled and run one step."""
    pre, post = layers()
    proj = Convolution(pre, post, "exc")
    weights = weights_of((3, 3))
    proj.connect_filter(weights)
    expect_convolution(proj, weights)
    return pre, post, proj, weights


# -- populations and neurons --------------------------------------------------------------------

@pytest.mark.parametrize("geometry, kind, patterns", [
    pytest.param((), VALUE, [r"1 to 4 dimensions", r"got 0"], id="0-dims"),
    pytest.param((2, 2, 2, 2, 2), VALUE, [r"1 to 4 dimensions", r"got 5", r"\(2, 2, 2, 2, 2\)"],
                 id="5-dims"),
    pytest.param((10, 0), VALUE, [r"at least 1", r"\(10, 0\)"], id="zero-size"),
    pytest.param(0, VALUE, [r"at least 1", r"\(0,\)"], id="zero-int"),
    pytest.param((10, -3), VALUE, [r"at least 1", r"\(10, -3\)"], id="negative-size"),
    pytest.param((10.0, 5), TYPE, [r"int", r"\(10\.0, 5\)"], id="float-size"),
    pytest.param("10", TYPE, [r"int", r"'10'"], id="string"),
    pytest.param((True, 3), TYPE, [r"int", r"\(True, 3\)"], id="bool-size"),
])
def test_bad_geometry(geometry, kind, patterns):
    pre = ann.Population((6, 6), rate())
    with rejected(kind, *patterns):
        ann.Population(geometry, summing())
    assert_only(pre)


def test_bad_geometry_in_network_create():
    net = ann.Network()
    with rejected(VALUE, r"1 to 4 dimensions", r"got 5"):
        net.create((2, 2, 2, 2, 2), rate())
    assert net.populations == []
    pre, post = layers(net=net)
    connect_and_run(Convolution(pre, post, "exc"))


@pytest.mark.parametrize("kwargs, kind, patterns", [
    pytest.param({"neuron": "r = 0.0"}, TYPE, [r"Neuron", r"str"], id="neuron-is-a-string"),
    pytest.param({"name": "pop0"}, VALUE, [r"name", r"'pop0'", r"already used"],
                 id="duplicate-name"),
])
def test_bad_population_arguments(kwargs, kind, patterns):
    pre = ann.Population((6, 6), rate())
    with rejected(kind, *patterns):
        ann.Population(**{"geometry": (4, 4), "neuron": rate(), **kwargs})
    assert_only(pre)


@pytest.mark.parametrize("kwargs, kind, patterns", [
    pytest.param({"equations": "r = 2 * * sum(exc)"}, EQUATION,
                 [r"cannot parse", caret("r = 2 * * sum(exc)", 8)], id="syntax-error"),
    pytest.param({"equations": "r = 2 * (sum(exc)"}, EQUATION,
                 [r"never closed", caret("r = 2 * (sum(exc)", 8)], id="unclosed-parenthesis"),
    pytest.param({"parameters": "g = 0.5", "equations": "r = tau * sum(exc)"}, EQUATION,
                 [r"unknown name 'tau'", caret("r = tau * sum(exc)", 4)], id="unknown-name"),
    pytest.param({"equations": "r = foo(sum(exc))"}, EQUATION,
                 [r"unknown function foo\(\)", caret("r = foo(sum(exc))", 4)],
                 id="unknown-function"),
    pytest.param({"equations": "r = log(sum(exc), 2)"}, EQUATION,
                 [r"log\(\) takes 1 argument", r"got 2", caret("r = log(sum(exc), 2)", 4)],
                 id="wrong-argument-count"),
    pytest.param({"parameters": "r = 0.0", "equations": "r = sum(exc)"}, EQUATION,
                 [r"'r' is a parameter", r"cannot be assigned", caret("r = sum(exc)", 0)],
                 id="assign-to-parameter"),
    pytest.param({"parameters": "r = tau"}, EQUATION, [r"unknown name 'tau'"],
                 id="parameter-not-a-number"),
    pytest.param({"parameters": 5}, TYPE, [r"parameters", r"int"], id="parameters-not-a-string"),
    pytest.param({"parameters": {"r": "zero"}}, TYPE, [r"parameter r", r"'zero'"],
                 id="parameter-value-not-a-number"),
    pytest.param({"parameters": {"not a name": 1.0}}, VALUE, [r"'not a name'"],
                 id="parameter-dict-key-not-a-name"),
    pytest.param({"equations": "r = pre.r"}, EQUATION, [r"pre\.r"], id="pre-variable-in-neuron"),
])
def test_bad_neuron(kwargs, kind, patterns):
    pre = ann.Population((6, 6), rate())
    with rejected(kind, *patterns):
        ann.Neuron(**kwargs)
    assert_only(pre)


@pytest.mark.parametrize("compiled", [False, True], ids=["before-compile", "after-compile"])
@pytest.mark.parametrize("name, value, kind, patterns", [
    pytest.param("r", np.ones((3, 3)), VALUE, [r"\br\b", r"\(10, 10\)", r"\(3, 3\)"],
                 id="wrong-shape"),
    pytest.param("r", "abc", TYPE, [r"\br\b", r"numbers", r"str"], id="not-numbers"),
    pytest.param(
           "foo", 1.0, ANY, [r"'foo'", r"\br\b"], id="unknown-attribute"),
])
def test_bad_attribute_assignment(name, value, kind, patterns, compiled):
    pre, post = layers()
    proj = Convolution(pre, post, "exc")
    weights = weights_of((3, 3))
    proj.connect_filter(weights)
    x = np.random.default_rng(2).random((10, 10))
    pre.r = x
    if compiled:
        ann.compile()
    with rejected(kind, *patterns):
        setattr(pre, name, value)
    np.testing.assert_array_equal(pre.r, x)
    expect_convolution(proj, weights, x=x)


# -- Convolution: constructor, weights, padding, delays ----------------------------------------

@pytest.mark.parametrize("cls, kwargs, kind, patterns", [
    pytest.param(Convolution, {"operation": "avg"}, VALUE,
                 [r"operation", r"'avg'", r"sum, max, min, mean"], id="conv-unknown-operation"),
    pytest.param(Pooling, {"operation": "avg"}, VALUE,
                 [r"operation", r"'avg'", r"sum, max, min, mean"], id="pool-unknown-operation"),
    pytest.param(Convolution, {"psp": "w * pre.r * k"}, EQUATION,
                 [r"unknown name 'k'", caret("w * pre.r * k", 12)], id="psp-unknown-name"),
    pytest.param(Convolution, {"psp": "foo(w) * pre.r"}, EQUATION,
                 [r"unknown function foo\(\)", caret("foo(w) * pre.r", 0)],
                 id="psp-unknown-function"),
    pytest.param(Convolution, {"psp": "w * pre.v"}, EQUATION, [r"pre\.v", r"only r\b"],
                 id="psp-unknown-pre-variable"),
    pytest.param(Convolution, {"psp": "w * * pre.r"}, EQUATION,
                 [r"cannot parse", caret("w * * pre.r", 4)], id="psp-syntax-error"),
    pytest.param(Convolution, {"psp": "w * post.r"}, EQUATION,
                 [r"pre\.<variable>", caret("w * post.r", 4)], id="psp-post-variable"),
    pytest.param(Convolution, {"psp": 3}, TYPE, [r"psp", r"int"], id="psp-not-a-string"),
    pytest.param(
           Convolution, {"psp": "w * sum(exc)"}, EQUATION, [r"sum\(exc\)"], id="psp-with-sum"),
    pytest.param(Pooling, {"psp": "w * pre.r"}, EQUATION,
                 [r"unknown name 'w'", caret("w * pre.r", 0)], id="pool-psp-with-w"),
    pytest.param(Pooling, {"psp": "pre.v"}, EQUATION, [r"pre\.v", r"only r\b"],
                 id="pool-psp-unknown-pre-variable"),
    pytest.param(Convolution, {"target": 3}, VALUE, [r"target", r"got 3"], id="target-not-str"),
    pytest.param(Convolution, {"target": "e x"}, VALUE, [r"target", r"'e x'"],
                 id="target-not-a-name"),
    pytest.param(Convolution, {"pre": "pre"}, TYPE, [r"pre must be a Population", r"str"],
                 id="pre-not-a-population"),
    pytest.param(Pooling, {"post": np.zeros((5, 5))}, TYPE,
                 [r"post must be a Population", r"ndarray"], id="post-not-a-population"),
])
def test_bad_projection_arguments(cls, kwargs, kind, patterns):
    pre, post = layers()
    with rejected(kind, *patterns):
        cls(**{"pre": pre, "post": post, "target": "exc", **kwargs})
    assert default_network().projections == []
    proj = cls(pre, post, "exc")
    if cls is Pooling:
        pool_and_run(proj)
    else:
        connect_and_run(proj)


@pytest.mark.parametrize("is_bank, weights, kind, patterns", [
    pytest.param(False, with_value((3, 3), (1, 2), NAN), VALUE, [r"finite", r"NaN"], id="nan"),
    pytest.param(False, with_value((3, 3), (0, 0), INF), VALUE, [r"finite", r"inf"], id="inf"),
    pytest.param(False, with_value((3, 3), (2, 2), -INF), VALUE, [r"finite", r"inf"],
                 id="minus-inf"),
    pytest.param(False, [[1.0, 2.0], [3.0]], VALUE, [r"rectangular", r"ragged"], id="ragged"),
    pytest.param(False, np.zeros((0, 3)), VALUE, [r"non-empty", r"\(0, 3\)"], id="empty"),
    pytest.param(False, [], VALUE, [r"non-empty", r"\(0,\)"], id="empty-list"),
    pytest.param(False, 2.0, VALUE, [r"at least 1 dimension", r"shape \(\)"], id="scalar"),
    pytest.param(False, np.ones((3,) * 5), VALUE,
                 [r"at most 4 dimensions", r"\(3, 3, 3, 3, 3\)"], id="too-many-dims"),
    pytest.param(
           False, [["a", "b"], ["c", "d"]], ANY, [r"numbers|numeric", r"'a'"],
           id="non-numeric"),
    pytest.param(True, with_value((2, 3, 3), (1, 0, 2), NAN), VALUE, [r"finite", r"NaN"],
                 id="bank-nan"),
    pytest.param(True, np.ones(3), VALUE, [r"at least 2 dimension", r"\(3,\)"],
                 id="bank-one-dim"),
    pytest.param(True, np.ones((2,) + (3,) * 5), VALUE,
                 [r"at most 4 dimensions", r"\(2, 3, 3, 3, 3, 3\)"], id="bank-too-many-dims"),
])
def test_bad_weights(is_bank, weights, kind, patterns):
    pre, post = layers(post=(5, 5, 2) if is_bank else (5, 5))
    proj = Convolution(pre, post, "exc")
    with rejected(kind, *patterns):
        (proj.connect_filters if is_bank else proj.connect_filter)(weights)
    assert not proj.connected
    connect_and_run(proj, bank((2, 3, 3)) if is_bank else filt((3, 3)))


@pytest.mark.parametrize("padding, patterns", [
    pytest.param(NAN, [r"padding", r"finite", r"nan"], id="nan"),
    pytest.param(INF, [r"padding", r"finite", r"inf"], id="inf"),
    pytest.param("zero", [r"padding", r"'border'", r"'zero'"], id="unknown-string"),
    pytest.param(None, [r"padding", r"None"], id="none"),
    pytest.param(True, [r"padding", r"True"], id="bool"),
])
def test_bad_padding(padding, patterns):
    pre, post = layers()
    proj = Convolution(pre, post, "exc")
    with rejected(ANY, *patterns):
        proj.connect_filter(np.ones((3, 3)), padding=padding)
    assert not proj.connected
    connect_and_run(proj, filt((3, 3), padding="border"))


@pytest.mark.parametrize("cls", [Convolution, Pooling])
@pytest.mark.parametrize("delays, patterns", [
    pytest.param(-1.0, [r"delays", r">= 0", r"-1\.0"], id="negative"),
    pytest.param(NAN, [r"delays", r"nan"], id="nan"),
    pytest.param(INF, [r"delays", r"inf"], id="inf"),
    pytest.param("1", [r"delays", r"'1'"], id="string"),
    pytest.param(1.5, [r"delays=1\.5 ms", r"multiple", r"dt=1\.0 ms"], id="not-multiple-of-dt"),
])
def test_bad_delays(cls, delays, patterns):
    pre, post = layers()
    proj = cls(pre, post, "exc")
    with rejected(ANY, *patterns):
        if cls is Pooling:
            proj.connect_pooling(delays=delays)
        else:
            proj.connect_filter(np.ones((3, 3)), delays=delays)
    assert not proj.connected and proj.delays == 0.0
    if cls is Pooling:
        pool_and_run(proj)
    else:
        connect_and_run(proj)


def test_delay_no_longer_multiple_of_dt_after_setup():
    """Only compile() can see this one: the delay was fine for the dt of its connect."""
    pre, post = layers()
    proj = Convolution(pre, post, "exc")
    weights = weights_of((3, 3))
    proj.connect_filter(weights, delays=1.0)
    ann.setup(dt=0.3)
    with rejected(VALUE, r"delays=1\.0 ms", r"multiple", r"dt=0\.3 ms"):
        ann.compile()
    assert default_network().engine is None
    ann.setup(dt=0.5)
    ann.compile()
    x = np.random.default_rng(3).random((10, 10))
    pre.r = x
    ann.simulate(1.0)  # two steps: the input delayed by 1 ms has not arrived yet
    np.testing.assert_array_equal(post.r, 0.0)
    ann.simulate(0.5)
    np.testing.assert_allclose(post.r, reference.convolution(x, weights, (5, 5)), rtol=1e-12,
                               atol=1e-12)


# -- Convolution: shape rules and subsampling -------------------------------------------------

TABLE_10_3 = centres_table(10, 3)  # 9 rows of 2 coordinates


@pytest.mark.parametrize("pre_geometry, post_geometry, bad, patterns, fix", [
    pytest.param((100, 100), (30, 30), filt((3, 3)),
                 [r"pre size 100 on axis 0", r"not a multiple", r"post size 30", r"subsampling="],
                 filt((3, 3), subsampling=centres_table(100, 30)),
                 id="non-multiple-without-subsampling"),
    pytest.param((10, 10), (5, 5), filt((3, 3, 3)),
                 [r"as many dimensions as pre", r"pre \(10, 10\)", r"filter \(3, 3, 3\)"],
                 filt((3, 3)), id="filter-dims-differ-from-pre"),
    pytest.param((10, 10), (5, 5, 2), filt((3, 3)),
                 [r"post \(5, 5, 2\)", r"pre \(10, 10\)", r"filter \(3, 3\)"],
                 bank((2, 3, 3)), id="post-has-more-dims"),
    pytest.param((10, 10, 3), (5,), filt((3, 3, 3)),
                 [r"post \(5,\)", r"pre \(10, 10, 3\)", r"one less"], None,
                 id="post-has-two-dims-less"),
    pytest.param((10, 10, 3), (5, 5), filt((3, 3, 2)),
                 [r"last size", r"\(3\)", r"got 2"], filt((3, 3, 3)),
                 id="spanned-last-dim-mismatch"),
    pytest.param((10, 10, 3), (5, 5, 3), filt((3, 3, 3), keep_last_dimension=True),
                 [r"keep_last_dimension=True", r"one dimension less", r"filter \(3, 3, 3\)"],
                 filt((3, 3), keep_last_dimension=True), id="keep-last-filter-dims"),
    pytest.param((10, 10, 3), (5, 5, 2), filt((3, 3), keep_last_dimension=True),
                 [r"keep_last_dimension=True", r"pre \(10, 10, 3\)", r"post \(5, 5, 2\)"],
                 bank((2, 3, 3, 3)), id="keep-last-post-last-dim-mismatch"),
    pytest.param((10, 10), (5, 5, 3), bank((4, 3, 3)),
                 [r"one neuron per filter", r"post \(5, 5, 3\) has 3", r"4 filters"],
                 bank((3, 3, 3)), id="bank-post-last-dim-not-filter-count"),
    pytest.param((10, 10, 3), (5, 5, 3), bank((3, 3, 3), keep_last_dimension=True),
                 [r"bank", r"keep_last_dimension=True"], bank((3, 3, 3, 3)),
                 id="bank-with-keep-last-dimension"),
    pytest.param((10, 10), (3, 3), filt((3, 3), subsampling=TABLE_10_3[:8]),
                 [r"subsampling", r"\(9, 2\)", r"got \(8, 2\)"],
                 filt((3, 3), subsampling=TABLE_10_3), id="subsampling-too-short"),
    pytest.param((10, 10), (3, 3), filt((3, 3), subsampling=[[*row, 0] for row in TABLE_10_3]),
                 [r"subsampling", r"\(9, 2\)", r"got \(9, 3\)"],
                 filt((3, 3), subsampling=TABLE_10_3), id="subsampling-three-coordinates"),
    pytest.param((10, 10), (3, 3), filt((3, 3), subsampling=np.array(TABLE_10_3).T),
                 [r"subsampling", r"\(9, 2\)", r"got \(2, 9\)"],
                 filt((3, 3), subsampling=np.array(TABLE_10_3)), id="subsampling-transposed-array"),
    pytest.param((10, 10), (3, 3), filt((3, 3), subsampling=[c for row in TABLE_10_3 for c in row]),
                 [r"subsampling", r"\(9, 2\)", r"got \(18,\)"],
                 filt((3, 3), subsampling=TABLE_10_3), id="subsampling-flat"),
    pytest.param((10, 10), (3, 3), filt((3, 3), subsampling=[[1, 2], [3]] + TABLE_10_3[2:]),
                 [r"subsampling", r"rectangular"],
                 filt((3, 3), subsampling=TABLE_10_3), id="subsampling-ragged"),
    pytest.param( (10, 10), (3, 3),
           filt((3, 3), subsampling=[[1.5, 1.0]] + TABLE_10_3[1:]),
           [r"subsampling", r"integer", r"1\.5"],
           filt((3, 3), subsampling=TABLE_10_3), id="subsampling-not-integer"),
    pytest.param((10, 10), (3, 3), filt((3, 3), subsampling=TABLE_10_3[:4] + [[10, 4]]
                                        + TABLE_10_3[5:]),
                 [r"subsampling", r"row 4", r"\[10, 4\]", r"outside pre \(10, 10\)"],
                 filt((3, 3), subsampling=TABLE_10_3), id="subsampling-out-of-range"),
    pytest.param((10, 10), (3, 3), filt((3, 3), subsampling=[[-1, 4]] + TABLE_10_3[1:]),
                 [r"subsampling", r"row 0", r"\[-1, 4\]", r"outside pre \(10, 10\)"],
                 filt((3, 3), subsampling=TABLE_10_3), id="subsampling-negative"),
    pytest.param((10, 10), (3, 3, 2), bank((2, 3, 3), subsampling=TABLE_10_3 * 2),
                 [r"spatial post position", r"\(9, 2\)", r"got \(18, 2\)"],
                 bank((2, 3, 3), subsampling=TABLE_10_3), id="bank-subsampling-per-neuron"),
])
def test_bad_convolution_shape(pre_geometry, post_geometry, bad, patterns, fix):
    pre, post = layers(pre_geometry, post_geometry)
    proj = Convolution(pre, post, "exc")
    with rejected(VALUE, *patterns):
        connect(proj, bad)
    assert not proj.connected
    if fix is None:  # no convolution fits these layers: the projection stays unconnected
        with rejected(VALUE, r"connect_filter\(\)"):
            ann.compile()
    else:
        connect_and_run(proj, fix)


@pytest.mark.parametrize("value, patterns", [
    pytest.param(np.ones((5, 5)), [r"shape \(3, 3\)", r"got \(5, 5\)"], id="wrong-shape"),
    pytest.param(np.ones((3, 3, 1)), [r"shape \(3, 3\)", r"got \(3, 3, 1\)"], id="extra-axis"),
    pytest.param(np.ones(9), [r"shape \(3, 3\)", r"got \(9,\)"], id="flat"),
    pytest.param(with_value((3, 3), (0, 0), NAN), [r"finite", r"NaN"], id="nan"),
    pytest.param(with_value((3, 3), (1, 1), INF), [r"finite", r"inf"], id="inf"),
    pytest.param([[1.0, 2.0], [3.0]], [r"ragged"], id="ragged"),
])
def test_bad_weights_after_compile(value, patterns):
    """A failed `proj.weights = ...` leaves the old weights in effect."""
    _, _, proj, weights = compiled_network()
    with rejected(VALUE, *patterns):
        proj.weights = value
    np.testing.assert_array_equal(proj.weights, weights)
    expect_convolution(proj, weights, x=np.random.default_rng(4).random((10, 10)))


def test_weights_before_connect():
    pre, post = layers()
    proj = Convolution(pre, post, "exc")
    with rejected(VALUE, r"connect_filter\(\)"):
        proj.weights = np.ones((3, 3))
    assert not proj.connected
    connect_and_run(proj)


@pytest.mark.parametrize("bad, patterns", [
    pytest.param(filt((3, 3, 3)), [r"filter \(3, 3, 3\)"], id="filter-dims"),
    pytest.param(bank((2, 3, 3)), [r"one neuron per filter"], id="bank"),
    pytest.param(filt((3, 3), padding="zero"), [r"'zero'"], id="padding"),
    pytest.param(filt((3, 3), delays=-1.0), [r"-1\.0"], id="delays"),
    pytest.param(filt((3, 3), subsampling=[[0, 0]]), [r"got \(1, 2\)"], id="subsampling"),
])
def test_failed_reconnect_keeps_previous_connection(bad, patterns):
    pre, post = layers()
    proj = Convolution(pre, post, "exc")
    weights = weights_of((3, 3), seed=5)
    proj.connect_filter(weights, padding="border")
    with rejected(VALUE, *patterns):
        connect(proj, bad)
    assert proj.delays == 0.0
    np.testing.assert_array_equal(proj.weights, weights)
    expect_convolution(proj, weights, padding="border")


def test_failed_pooling_reconnect_keeps_previous_extent():
    pre, post = layers((10, 10), (3, 3))
    proj = Pooling(pre, post, "exc", operation="mean")
    proj.connect_pooling(extent=(3, 3))
    with rejected(VALUE, r"extent 4", r"post size 3", r"pre size 10"):
        proj.connect_pooling(extent=(4, 4))
    x, got = one_step(pre, post)
    want = reference.pooling(x, (3, 3), extent=(3, 3), operation="mean")
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


# -- Pooling: shape rules -------------------------------------------------------------------

@pytest.mark.parametrize("pre_geometry, post_geometry, extent, patterns, fix", [
    pytest.param((10, 10), (3, 3), None,
                 [r"pre size 10 on axis 0", r"not a multiple", r"post size 3", r"extent="],
                 (3, 3), id="non-multiple-without-extent"),
    pytest.param((10, 10, 4), (5, 5), None,
                 [r"post \(5, 5\)", r"fewer dimensions", r"pre \(10, 10, 4\)", r"extent="],
                 (2, 2, 4), id="fewer-post-dims-without-extent"),
    pytest.param((10, 10), (5, 5), (3, 2),
                 [r"extent 3", r"post size 5", r"axis 0", r"past pre size 10"], (2, 2),
                 id="extent-reaches-past-pre"),
    pytest.param((10, 10), (5, 5), (2,), [r"extent", r"2 positive ints", r"\(2,\)"], (2, 2),
                 id="extent-too-short"),
    pytest.param((10, 10), (5, 5), 2, [r"extent", r"2 positive ints", r"\(2,\)"], (2, 2),
                 id="extent-int-for-2d"),
    pytest.param((10, 10), (5, 5), (2, 2, 2), [r"extent", r"2 positive ints", r"\(2, 2, 2\)"],
                 (2, 2), id="extent-too-long"),
    pytest.param((10, 10), (5, 5), (0, 2), [r"extent", r"positive", r"\(0, 2\)"], (2, 2),
                 id="extent-zero"),
    pytest.param((10, 10), (5, 5), (2.0, 2.0), [r"extent", r"ints", r"\(2\.0, 2\.0\)"], (2, 2),
                 id="extent-float"),
    pytest.param((10, 10, 4), (5, 5), (2, 2, 2),
                 [r"no axis 2", r"whole \(4\)", r"got 2"], (2, 2, 4),
                 id="extent-not-covering-extra-axis"),
    pytest.param((10, 10), (5, 5, 2), None,
                 [r"post \(5, 5, 2\)", r"more dimensions", r"pre \(10, 10\)"], None,
                 id="post-has-more-dims"),
    pytest.param((10, 10), (5, 5, 2), (2, 2),
                 [r"post \(5, 5, 2\)", r"more dimensions", r"pre \(10, 10\)"], None,
                 id="post-has-more-dims-with-extent"),
])
def test_bad_pooling_shape(pre_geometry, post_geometry, extent, patterns, fix):
    pre, post = layers(pre_geometry, post_geometry)
    proj = Pooling(pre, post, "exc")
    with rejected(VALUE, *patterns):
        proj.connect_pooling(extent=extent)
    assert not proj.connected
    if fix is None:  # no pooling fits these layers: the projection stays unconnected
        with rejected(VALUE, r"connect_pooling\(\)"):
            ann.compile()
    else:
        pool_and_run(proj, fix)


# -- networks, state, setup, simulate, center -------------------------------------------------

@pytest.mark.parametrize("cls", [Convolution, Pooling])
def test_pre_and_post_from_different_networks(cls):
    net = ann.Network()
    pre = ann.Population((10, 10), rate())
    post = net.create((5, 5), summing())
    with rejected(VALUE, r"pre pop0", r"post pop0", r"different networks"):
        cls(pre, post, "exc")
    assert default_network().projections == [] and net.projections == []
    proj = cls(net.create((10, 10), rate()), post, "exc")
    if cls is Pooling:
        pool_and_run(proj)
    else:
        connect_and_run(proj)


LATE_CALLS = {
    "population": (lambda pre, post, proj: ann.Population((4, 4), rate()), r"Population"),
    "convolution": (lambda pre, post, proj: Convolution(pre, post, "exc"), r"Convolution"),
    "pooling": (lambda pre, post, proj: Pooling(pre, post, "exc"), r"Pooling"),
    "reconnect": (lambda pre, post, proj: proj.connect_filter(np.ones((3, 3))),
                  r"Convolution\.connect"),
    "setup": (lambda pre, post, proj: ann.setup(dt=0.5), r"setup"),
}


@pytest.mark.parametrize("what", list(LATE_CALLS))
def test_changing_the_network_after_compile(what):
    call, who = LATE_CALLS[what]
    pre, post, proj, weights = compiled_network()
    with rejected(STATE, who, r"already compiled", r"clear\(\)"):
        call(pre, post, proj)
    net = default_network()
    assert net.populations == [pre, post] and net.projections == [proj] and net.dt == 1.0
    expect_convolution(proj, weights)


@pytest.mark.parametrize("call", ["simulate", "step", "reset"])
def test_running_before_compile(call):
    pre, post = layers()
    proj = Convolution(pre, post, "exc")
    weights = weights_of((3, 3))
    proj.connect_filter(weights)
    with rejected(STATE, rf"{call}: call compile\(\) first"):
        {"simulate": lambda: ann.simulate(1.0), "step": ann.step, "reset": ann.reset}[call]()
    assert default_network().engine is None and ann.get_time() == 0.0
    expect_convolution(proj, weights)


@pytest.mark.parametrize("cls, hint", [
    pytest.param(Convolution, r"connect_filter\(\) or connect_filters\(\)", id="convolution"),
    pytest.param(Pooling, r"connect_pooling\(\)", id="pooling"),
])
def test_compile_with_unconnected_projection(cls, hint):
    pre, post = layers()
    proj = cls(pre, post, "exc")
    with rejected(VALUE, rf"{cls.__name__}\(pop0 -> pop1", r"no connection pattern", hint):
        ann.compile()
    assert default_network().engine is None
    if cls is Pooling:
        pool_and_run(proj)
    else:
        connect_and_run(proj)


@pytest.mark.parametrize("kwargs, patterns", [
    pytest.param({"dt": 0}, [r"dt", r"positive", r"got 0"], id="dt-zero"),
    pytest.param({"dt": -1.0}, [r"dt", r"positive", r"got -1\.0"], id="dt-negative"),
    pytest.param({"dt": NAN}, [r"dt", r"got nan"], id="dt-nan"),
    pytest.param({"dt": INF}, [r"dt", r"got inf"], id="dt-inf"),
    pytest.param({"dt": "1"}, [r"dt", r"got '1'"], id="dt-string"),
    pytest.param({"precision": "half"}, [r"precision", r"'double', 'float'", r"got 'half'"],
                 id="precision-unknown"),
    pytest.param({"precision": "float64"}, [r"precision", r"got 'float64'"],
                 id="precision-numpy-name"),
    pytest.param({"num_threads": 0}, [r"num_threads", r"got 0"], id="num-threads-zero"),
    pytest.param(
           {"dt": 0.5, "precision": "half"}, [r"precision", r"got 'half'"],
           id="good-dt-bad-precision"),
    pytest.param(
           {"num_threads": 7, "dt": 0}, [r"dt", r"got 0"], id="good-threads-bad-dt"),
])
def test_bad_setup(kwargs, patterns, monkeypatch):
    threads = os.environ.get("TVM_NUM_THREADS")
    if threads is None:  # make monkeypatch restore the variable whatever setup() does
        monkeypatch.delenv("TVM_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("TVM_NUM_THREADS", threads)
    with rejected(VALUE, *patterns):
        ann.setup(**kwargs)
    net = default_network()
    assert (net.dt, net.dtype) == (1.0, "float64")
    assert os.environ.get("TVM_NUM_THREADS") == threads
    compiled_network()


@pytest.mark.parametrize("kwargs, patterns", [
    pytest.param({"dt": 0}, [r"dt", r"positive", r"got 0"], id="dt-zero"),
    pytest.param({"precision": "half"}, [r"precision", r"got 'half'"], id="precision-unknown"),
])
def test_bad_network_arguments(kwargs, patterns):
    with rejected(VALUE, *patterns):
        ann.Network(**kwargs)
    net = ann.Network()
    pre, post = layers(net=net)
    connect_and_run(Convolution(pre, post, "exc"))


@pytest.mark.parametrize("duration, patterns", [
    pytest.param(-1.0, [r"duration", r">= 0", r"got -1\.0"], id="negative"),
    pytest.param("1", [r"duration", r"got '1'"], id="string"),
    pytest.param(NAN, [r"duration", r"nan"], id="nan"),
    pytest.param(INF, [r"duration", r"inf"], id="inf"),
])
def test_bad_simulate_duration(duration, patterns):
    _, _, proj, weights = compiled_network()
    with rejected(VALUE, *patterns):
        ann.simulate(duration)
    assert ann.get_time() == 1.0
    expect_convolution(proj, weights)
    assert ann.get_time() == 2.0


@pytest.mark.parametrize("coords, kind, patterns", [
    pytest.param((5, 0), VALUE, [r"\(5, 0\)", r"outside", r"\(5, 5\)"], id="row-too-large"),
    pytest.param((0, -1), VALUE, [r"\(0, -1\)", r"outside", r"\(5, 5\)"], id="negative"),
    pytest.param((25,), VALUE, [r"rank 25", r"0\.\.24"], id="rank-too-large"),
    pytest.param((-1,), VALUE, [r"rank -1", r"0\.\.24"], id="rank-negative"),
    pytest.param((1, 2, 3), VALUE, [r"\(1, 2, 3\)", r"post \(5, 5\)"], id="too-many-coords"),
    pytest.param( (1.5, 2), ANY,
           [r"1\.5"], id="float-coordinate"),
    pytest.param( ("a",), ANY, [r"'a'"], id="string-rank"),
])
def test_bad_center(coords, kind, patterns):
    pre, post = layers()
    proj = Convolution(pre, post, "exc")
    weights = weights_of((3, 3))
    proj.connect_filter(weights)
    with rejected(kind, *patterns):
        proj.center(*coords)
    assert proj.center(1, 1) == (2, 2) and proj.center(24) == (8, 8)
    expect_convolution(proj, weights)


def test_center_before_connect():
    pre, post = layers()
    proj = Convolution(pre, post, "exc")
    with rejected(VALUE, r"no connection pattern", r"connect_filter\(\)"):
        proj.center(1, 1)
    connect_and_run(proj)
    assert proj.center(1, 1) == (2, 2)
