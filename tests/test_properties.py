"""Property tests: random small networks of every shape case against the NumPy reference."""

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tecomp as ann
from tecomp import reference
from tecomp.extensions.convolution import Convolution, Pooling
from tests.helpers import assert_close

PSPS = ["w * pre.r", "w * log(1 + pre.r)", "pre.r * w + 0.5", "w * sqrt(pre.r) * exp(-pre.r)",
        "clip(w * pre.r, -0.5, 0.5)", "pos(w - pre.r)", "tanh(w) * pre.r ** 2"]
PROPERTY = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def convolutions(draw):
    """A pre geometry, a filter (or bank), a post geometry and the options of the page."""
    case = draw(st.sampled_from(["plain", "span", "keep", "bank", "bank_span"]))
    dims = draw(st.integers(2 if case in ("span", "keep", "bank_span") else 1,
                            3 if case == "bank" else 4))
    conv_dims = dims - 1 if case in ("span", "keep", "bank_span") else dims
    budget = 4 if dims == 4 else 6
    post_sp = [draw(st.integers(1, budget)) for _ in range(conv_dims)]
    explicit = draw(st.booleans()) and draw(st.booleans())
    strides = [draw(st.integers(1, 3)) for _ in range(conv_dims)]
    pre = [p * s for p, s in zip(post_sp, strides, strict=True)]
    if explicit:
        pre = [n + draw(st.integers(0, 2)) for n in pre]
    window = [draw(st.integers(1, 4)) for _ in range(conv_dims)]
    last = draw(st.integers(1, 3))
    if case in ("span", "bank_span"):
        pre, window = [*pre, last], [*window, last]
    elif case == "keep":
        pre, post_sp = [*pre, last], [*post_sp, last]
    filters = draw(st.integers(1, 5)) if case.startswith("bank") else None
    post = post_sp + ([filters] if filters else [])
    shape = ([filters] if filters else []) + window
    weights = draw(st.integers(0, 2**32 - 1))
    weights = np.random.default_rng(weights).uniform(-1, 1, shape)
    positions = math.prod(post_sp)
    subsampling = None
    if explicit:
        seed = draw(st.integers(0, 2**32 - 1))
        subsampling = np.random.default_rng(seed).integers(0, pre, size=(positions, len(pre)))
    return dict(pre=tuple(pre), post=tuple(post), weights=weights, bank=filters is not None,
                keep=case == "keep", subsampling=subsampling,
                padding=draw(st.sampled_from([0.0, -0.3, 1.5, "border"])),
                psp=draw(st.sampled_from(PSPS)),
                operation=draw(st.sampled_from(["sum", "max", "min", "mean"])),
                delay=draw(st.integers(0, 2)),
                precision=draw(st.sampled_from(["double", "float"])))


def layers(case):
    """A fresh default network in the case's precision: an input layer and a summing layer."""
    ann.clear()
    ann.setup(precision=case["precision"])
    pre = ann.Population(case["pre"], ann.Neuron(parameters="r = 0.0"))
    post = ann.Population(case["post"], ann.Neuron(equations="r = sum(exc)"))
    return pre, post


def check_steps(case, pre, post, seed, expected):
    """Compile, feed a new input each step for delay + 2 steps, and compare post.r after each
    with `expected` of the input `delay` steps back (before the first: the values at
    compile(), here zeros)."""
    dtype = "float64" if case["precision"] == "double" else "float32"
    ann.compile()
    rng = np.random.default_rng(seed)
    inputs = []
    for step in range(case["delay"] + 2):
        inputs.append(rng.random(pre.geometry))
        pre.r = inputs[-1]
        ann.step()
        source = step - case["delay"]
        x = inputs[source] if source >= 0 else np.zeros(case["pre"])
        assert_close(post.r, expected(x), dtype)


@PROPERTY
@given(convolutions(), st.integers(0, 2**32 - 1))
def test_convolution_matches_reference(case, seed):
    pre, post = layers(case)
    proj = Convolution(pre, post, "exc", psp=case["psp"], operation=case["operation"])
    connect = proj.connect_filters if case["bank"] else proj.connect_filter
    options = dict(padding=case["padding"], subsampling=case["subsampling"],
                   delays=float(case["delay"]))
    if case["keep"]:
        options["keep_last_dimension"] = True
    connect(case["weights"], **options)
    check_steps(case, pre, post, seed, lambda x: reference.convolution(
        x, case["weights"], case["post"], bank=case["bank"],
        keep_last_dimension=case["keep"], padding=case["padding"],
        subsampling=case["subsampling"], psp=case["psp"], operation=case["operation"]))


@st.composite
def poolings(draw):
    dims = draw(st.integers(1, 4))
    post_dims = draw(st.integers(1, dims))
    budget = 4 if dims == 4 else 6
    post = [draw(st.integers(1, budget)) for _ in range(post_dims)]
    extent = [draw(st.integers(1, 3)) for _ in range(post_dims)]
    explicit = post_dims < dims or draw(st.booleans())
    pre = [p * e + (draw(st.integers(0, 2)) if explicit else 0)
           for p, e in zip(post, extent, strict=True)]
    extra = [draw(st.integers(1, 3)) for _ in range(dims - post_dims)]
    return dict(pre=tuple(pre + extra), post=tuple(post),
                extent=tuple(extent + extra) if explicit else None,
                operation=draw(st.sampled_from(["max", "min", "mean", "sum"])),
                psp=draw(st.sampled_from(["pre.r", "log(1 + pre.r)", "pre.r ** 2 - 0.5"])),
                delay=draw(st.integers(0, 2)),
                precision=draw(st.sampled_from(["double", "float"])))


@PROPERTY
@given(poolings(), st.integers(0, 2**32 - 1))
def test_pooling_matches_reference(case, seed):
    pre, post = layers(case)
    proj = Pooling(pre, post, "exc", psp=case["psp"], operation=case["operation"])
    proj.connect_pooling(extent=case["extent"], delays=float(case["delay"]))
    check_steps(case, pre, post, seed, lambda x: reference.pooling(
        x, case["post"], extent=case["extent"], psp=case["psp"], operation=case["operation"]))
