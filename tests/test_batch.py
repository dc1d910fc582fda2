"""run_batch: one compiled network over a batch of inputs equals one run per input, from
the network's initial state, recorded after every step (Monitor), for every kind of
kernel: windows (banks, pooling, subsampling tables), regular projections (dense, padded
rows, one-to-one, per-synapse delays), updates with ODEs and delays."""

import numpy as np
import pytest

import tecomp as ann
from tecomp import build, kernels, reference, schedules, specs
from tecomp.extensions.convolution import Convolution, Pooling


def _network(precision="double"):
    net = ann.Network(seed=1)
    net.setup(precision=precision)
    rng = np.random.default_rng(0)
    img = net.create((8, 8, 2), ann.Neuron(parameters="r = 0.0"), name="img")
    bank = net.create((8, 8, 3), ann.Neuron(parameters="tau = 2.0",
                                            equations="tau * dr/dt + r = sum(exc) : min = 0.0"),
                      name="bank")
    pool = net.create((4, 4, 3), ann.Neuron(equations="r = sum(exc)"), name="pool")
    coarse = net.create((3, 3), ann.Neuron(equations="r = sum(exc)"), name="coarse")
    out = net.create(5, ann.Neuron(parameters="v = 0.5", equations="r = sum(exc) + sum(inh)"),
                     name="out")
    relay = net.create(5, ann.Neuron(equations="r = sum(exc)"), name="relay")
    Convolution(img, bank, "exc").connect_filters(rng.standard_normal((3, 3, 3, 2)))
    Pooling(bank, pool, "exc", operation="max").connect_pooling(extent=(2, 2, 1))
    Convolution(img, coarse, "exc").connect_filter(rng.random((3, 3, 2)), subsampling=[
        (1, 1, 0), (1, 4, 0), (1, 6, 0), (4, 1, 0), (4, 4, 0), (4, 6, 0), (6, 1, 0),
        (6, 4, 0), (6, 6, 0)][:9] and [[r, c, 0] for r in (1, 4, 6) for c in (1, 4, 6)])
    net.connect(pool, out, "exc").all_to_all(ann.Uniform(-0.2, 0.2), delays=2.0)
    net.connect(coarse, out, "inh", ann.Synapse(psp="w * pre.r * post.v", operation="max")) \
        .fixed_probability(0.6, ann.Uniform(0.0, 1.0), delays=ann.DiscreteUniform(0, 3))
    net.connect(out, relay, "exc").one_to_one(2.0)
    return net, img, (bank, pool, coarse, out, relay)


@pytest.mark.parametrize("precision", ["double", "float"])
def test_a_batch_equals_one_run_per_input(precision):
    images = np.random.default_rng(5).random((3, 8, 8, 2))
    net, img, layers = _network(precision)
    batch = ann.run_batch(net, {img: images}, 5.0, record=list(layers))
    again, img2, layers2 = _network(precision)
    monitors = [ann.Monitor(pop, "r") for pop in layers2]
    again.compile(silent=True)
    for b, image in enumerate(images):
        again.reset()
        for m in monitors:
            m.get("r")  # forget what the last input recorded
        img2.r = image
        again.simulate(5.0)
        for pop, monitor in zip(layers, monitors, strict=True):
            assert batch[pop].shape == (3, 5, *pop.geometry)
            np.testing.assert_array_equal(batch[pop][b], monitor.get("r"))


def test_record_pairs_default_and_inputs_of_another_attribute():
    net = ann.Network()
    src = net.create(4, ann.Neuron(parameters="g = 1.0", equations="r = 2 * g"))
    dst = net.create(4, ann.Neuron(equations="r = sum(exc)"))
    net.connect(src, dst, "exc").one_to_one(1.5)
    gains = np.arange(8.0).reshape(2, 4)
    out = ann.run_batch(net, {(src, "g"): gains}, 2.0)
    assert set(out) == {src, dst}
    np.testing.assert_array_equal(out[dst][:, 1], 1.5 * 2 * gains)
    pairs = ann.run_batch(net, {(src, "g"): gains}, 1.0, record=[(src, "g")])
    np.testing.assert_array_equal(pairs[(src, "g")][:, 0], gains)


def test_bad_batches_are_refused_before_anything_runs():
    net = ann.Network()
    a = net.create((2, 2), ann.Neuron(parameters="r = 0.0\ng = 0.0\ntau = 1.0 : population"))
    net.create(3, ann.Neuron(equations="r = mean(r) + 1"))
    other = ann.Network().create(2, ann.Neuron(parameters="r = 0.0"))
    with pytest.raises(ann.InvalidValueError, match=r"shape \(B, \*\(2, 2\)\)"):
        ann.run_batch(net, {a: np.zeros((2, 2))}, 1.0)
    with pytest.raises(ann.InvalidValueError, match="same batch size"):
        ann.run_batch(net, {a: np.zeros((2, 2, 2)), (a, "g"): np.zeros((3, 2, 2))}, 1.0)
    with pytest.raises(ann.InvalidValueError, match="one value for the whole population"):
        ann.run_batch(net, {(a, "tau"): np.zeros((2, 2, 2))}, 1.0)
    with pytest.raises(ann.InvalidValueError, match="population of this network"):
        ann.run_batch(net, {other: np.zeros((1, 2))}, 1.0)
    with pytest.raises(ann.UnknownAttributeError):
        ann.run_batch(net, {(a, "nope"): np.zeros((1, 2, 2))}, 1.0)
    with pytest.raises(ann.InvalidTypeError, match="non-empty dict"):
        ann.run_batch(net, {}, 1.0)
    with pytest.raises(ann.InvalidValueError, match="population-wide operations"):
        ann.run_batch(net, {a: np.zeros((2, 2, 2))}, 1.0)
    with pytest.raises(ann.InvalidValueError, match="must be finite"):
        ann.run_batch(net, {a: np.full((1, 2, 2), np.nan)}, 1.0)
    assert not net.compiled


def _kernel_inputs(proj):
    return [build.aligned_copy(x, "int32" if x.dtype.kind in "iu" else "float64")
            for x in proj.kernel_inputs().values()]


def test_sampled_knobs_of_batched_kernels_equal_the_kernel_per_element():
    """Every batch element of a batched window or projection kernel, under a sample of its
    template's knobs, equals the unbatched kernel on that element's values."""
    rng = np.random.default_rng(3)
    net = ann.Network()
    a = net.create((6, 8, 2), ann.Neuron(parameters="r = 0.0"))
    b = net.create((6, 8, 4), ann.Neuron(equations="r = sum(exc)"))
    c = net.create((3, 4, 2), ann.Neuron(equations="r = sum(exc)"))
    d = net.create(7, ann.Neuron(parameters="v = 1.0", equations="r = sum(exc)"))
    projections = [
        Convolution(a, b, "exc", psp="w * log(1 + pre.r)").connect_filters(
            rng.random((4, 3, 3, 2)), padding="border"),
        Pooling(a, c, "exc", operation="max").connect_pooling(extent=(2, 2, 1)),
        ann.Projection(a, d, "exc", ann.Synapse(psp="w * pre.r + post.v", operation="mean"))
        .connect_fixed_probability(0.3, ann.Uniform(0, 1)),
        ann.Projection(c, d, "exc").connect_all_to_all(ann.Uniform(0, 1)),
    ]
    batch = 3
    for proj in projections:
        spec = proj.spec()
        wide = specs.batched(spec, batch)
        pre = rng.random((batch, *spec.pre_shape))
        post = [rng.random((batch, *spec.post_shape)) for _ in getattr(spec, "post_vars", ())]
        shared = _kernel_inputs(proj)
        single = kernels.compile_kernel(spec, schedules.default_knobs(spec))
        expected = []
        for k in range(batch):
            out = build.aligned_empty(spec.post_shape, "float64")
            single(build.aligned_copy(pre[k], "float64"),
                   *[build.aligned_copy(p[k], "float64") for p in post], *shared, out)
            expected.append(out)
        space = schedules.candidates(wide)
        for knobs in [schedules.default_knobs(wide), *space[::max(1, len(space) // 6)]]:
            out = build.aligned_empty(wide.post_shape, "float64")
            kernels.compile_kernel(wide, knobs)(
                build.aligned_copy(pre, "float64"),
                *[build.aligned_copy(p, "float64") for p in post], *shared, out)
            for k in range(batch):
                assert reference.relative_error(out[k], expected[k]) <= \
                    reference.tolerance("float64", spec.taps), (spec, knobs)


def test_a_compiled_network_keeps_its_batched_engine_and_its_new_weights_count():
    net = ann.Network()
    src = net.create(3, ann.Neuron(parameters="r = 0.0"))
    dst = net.create(3, ann.Neuron(equations="r = sum(exc)"))
    proj = net.connect(src, dst, "exc").one_to_one(1.0)
    net.compile(silent=True)
    x = np.arange(6.0).reshape(2, 3)
    first = ann.run_batch(net, {src: x}, 1.0, record=[dst])[dst]
    proj.w = 3.0  # written into the compiled network: the next batch uses it
    second = ann.run_batch(net, {src: x}, 1.0, record=[dst])[dst]
    np.testing.assert_array_equal(second, 3.0 * first)
    third = ann.run_batch(net, {src: x[:1]}, 1.0, record=[dst])[dst]  # another batch size
    np.testing.assert_array_equal(third, second[:1])


def test_a_batch_too_big_or_given_twice_is_refused_before_anything_is_allocated():
    net = ann.Network()
    src = net.create((6, 6), ann.Neuron(parameters="r = 0.0"))
    dst = net.create((6, 6), ann.Neuron(equations="r = sum(exc)"))
    net.connect(src, dst, "exc").one_to_one(1.0)
    huge = np.broadcast_to(np.zeros((1, 6, 6)), (10**9, 6, 6))  # no memory of its own
    with pytest.raises(ann.InvalidValueError, match="more than this machine's memory"):
        ann.run_batch(net, {src: huge}, 1.0, record=[dst])
    x = np.zeros((2, 6, 6))
    with pytest.raises(ann.InvalidValueError, match="twice"):
        ann.run_batch(net, {src: x, (src, "r"): x + 1}, 1.0)
    with pytest.raises(ann.UnknownAttributeError, match=r"population .* not sum\(target\)"):
        ann.run_batch(net, {src: x}, 1.0, record=[(dst, "sum(exc)")])
