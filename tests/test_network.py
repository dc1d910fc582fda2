"""Networks: step order, chains, several targets, delays, weights after compile, reset,
independent Network objects, precision and memory safety."""

import io

import numpy as np
import pytest

import tecomp as ann
from tecomp import reference
from tecomp.extensions.convolution import Convolution, Pooling
from tests.helpers import assert_close

BOX = np.full((3, 3), 1.0 / 9.0)
EDGE = np.array([[1.0, 0.0, -1.0]] * 3)


def layer(geometry, equations="r = sum(exc)", net=None):
    neuron = ann.Neuron(equations=equations)
    return ann.Population(geometry, neuron) if net is None else net.create(geometry, neuron)


def source(geometry, net=None):
    neuron = ann.Neuron(parameters="r = 0.0")
    return ann.Population(geometry, neuron) if net is None else net.create(geometry, neuron)


def test_chain_needs_one_step_per_layer(rng):
    """conv -> max pooling -> bank: the input reaches layer n after n steps."""
    inp, l1, l2, l3 = source((32, 32)), layer((32, 32)), layer((16, 16)), layer((16, 16, 2))
    Convolution(inp, l1, "exc").connect_filter(EDGE)
    Pooling(l1, l2, "exc", operation="max").connect_pooling()
    bank = np.stack([BOX, EDGE])
    Convolution(l2, l3, "exc").connect_filters(bank)
    ann.compile()
    x = rng.random((32, 32))
    inp.r = x
    y1 = reference.convolution(x, EDGE, (32, 32))
    y2 = reference.pooling(y1, (16, 16))
    y3 = reference.convolution(y2, bank, (16, 16, 2), bank=True)
    zero = reference.convolution(np.zeros((16, 16)), bank, (16, 16, 2), bank=True)
    ann.step()
    assert_close(l1.r, y1)
    assert_close(l3.r, zero)
    ann.step()
    assert_close(l2.r, y2)
    assert_close(l3.r, zero)
    ann.step()
    assert_close(l3.r, y3)


def test_only_values_read_during_a_step_are_double_buffered(rng):
    """A chain's middle layer is read by the next projection while the step writes it (two
    buffers); the read-out layer is read by nobody (written in place). profile() runs the
    step's kernels again but leaves every value as the step left it."""
    net = ann.Network()
    inp, mid, out = source((16, 16), net), layer((16, 16), net=net), layer((8, 8), net=net)
    Convolution(inp, mid, "exc").connect_filter(BOX)
    Pooling(mid, out, "exc", operation="max").connect_pooling()
    net.compile()
    pairs = net.engine.state
    assert pairs[mid]["r"][0] is not pairs[mid]["r"][1]
    assert pairs[out]["r"][0] is pairs[out]["r"][1]
    x = rng.random((16, 16))
    inp.r = x
    net.step()
    inp.r = 2 * x
    before = out.r.copy()
    net.engine.profile(repeat=2)
    assert_close(out.r, before)
    net.step()
    assert_close(mid.r, reference.convolution(2 * x, BOX, (16, 16)))
    assert_close(out.r, reference.pooling(reference.convolution(x, BOX, (16, 16)), (8, 8)))


def test_projections_read_the_start_of_the_step(rng):
    """A recurrent projection of a layer onto itself sees last step's values."""
    inp, pop = source((20,)), layer((20,), "r = sum(exc) + 0.5 * sum(rec)")
    Convolution(inp, pop, "exc").connect_filter(np.array([1.0]))
    Convolution(pop, pop, "rec").connect_filter(np.array([1.0, 1.0, 1.0]))
    ann.compile()
    x = rng.random(20)
    inp.r = x
    r = np.zeros(20)
    for _ in range(5):
        r = x + 0.5 * reference.convolution(r, np.ones(3), (20,))
        ann.step()
        assert_close(pop.r, r)


def test_targets_sum_and_missing_target(rng):
    """Several projections add into one target; a target nobody feeds reads 0."""
    a, b = source((24, 24)), source((24, 24))
    post = layer((12, 12), "r = sum(exc) - 0.5 * sum(inh) + sum(nothing) + 1.0")
    Convolution(a, post, "exc").connect_filter(EDGE)
    Pooling(b, post, "exc", operation="mean").connect_pooling()
    Convolution(b, post, "inh", operation="max").connect_filter(BOX, padding="border")
    ann.compile()
    xa, xb = rng.random((24, 24)), rng.random((24, 24))
    a.r, b.r = xa, xb
    ann.simulate(1.0)
    expected = (reference.convolution(xa, EDGE, (12, 12))
                + reference.pooling(xb, (12, 12), operation="mean")
                - 0.5 * reference.convolution(xb, BOX, (12, 12), operation="max",
                                              padding="border") + 1.0)
    assert_close(post.r, expected)


def test_equations_in_order_with_parameters(rng):
    inp = source((16, 16))
    neuron = ann.Neuron(parameters="gain = 2.0\nbias = -0.25",
                        equations="u = gain * sum(exc) + bias\nr = u * u\nv = r - u")
    post = ann.Population((16, 16), neuron)
    Convolution(inp, post, "exc").connect_filter(BOX)
    ann.compile()
    x = rng.random((16, 16))
    inp.r = x
    post.gain = np.full((16, 16), 3.0)
    ann.step()
    u = 3.0 * reference.convolution(x, BOX, (16, 16)) - 0.25
    assert_close(post.u, u)
    assert_close(post.r, u * u)
    assert_close(post.v, u * u - u)


def test_delays_read_older_values(rng):
    inp, now, late = source((10, 10)), layer((10, 10)), layer((10, 10))
    Convolution(inp, now, "exc").connect_filter(BOX)
    Convolution(inp, late, "exc").connect_filter(BOX, delays=2.0)
    ann.setup(dt=0.5)
    later = Convolution(inp, late, "exc")
    with pytest.raises(ann.InvalidValueError, match="multiple of dt"):
        later.connect_filter(BOX, delays=0.75)
    later.connect_filter(-BOX, delays=1.0)  # the failed call left nothing behind
    ann.compile()
    xs = [rng.random((10, 10)) for _ in range(10)]
    for n, x in enumerate(xs):
        inp.r = x
        ann.step()
        assert_close(now.r, reference.convolution(x, BOX, (10, 10)))
        older = [xs[n - d] if n >= d else np.zeros((10, 10)) for d in (4, 2)]
        expected = reference.convolution(older[0] - older[1], BOX, (10, 10))
        assert_close(late.r, expected)


def test_delays_follow_annarchys_rule():
    """docs/semantics.md, delays: the table measured on ANNarchy 5.0.4.1 (dt = 1, a delay of
    3 steps, a 1-neuron filter of 1). A delayed projection reads the values the pre
    variables had at the end of step k - 3, and the values at compile() before that."""
    a = ann.Population(1, ann.Neuron(parameters="r = 5.0"))
    b = ann.Population(1, ann.Neuron(parameters="b = 0.0", equations="r = b"))
    posts = {}
    for name, pre in (("A", a), ("B", b)):
        for delay in (0, 3):
            post = ann.Population(1, ann.Neuron(equations="r = sum(exc)"))
            Convolution(pre, post, "exc").connect_filter(np.ones(1), delays=float(delay))
            posts[name, delay] = post
    ann.compile()
    seen = {key: [] for key in posts}
    for k in range(1, 6):
        a.r = 10.0 * k
        b.b = 100.0 * k
        ann.step()
        for key, post in posts.items():
            seen[key].append(float(post.r[0]))
    assert seen["A", 0] == [10, 20, 30, 40, 50]
    assert seen["A", 3] == [5, 5, 5, 10, 20]
    assert seen["B", 0] == [0, 100, 200, 300, 400]
    assert seen["B", 3] == [0, 0, 0, 100, 200]
    ann.reset()  # the history is the initial values again
    a.r = 7.0
    ann.simulate(3.0)
    assert float(posts["A", 3].r[0]) == 5.0 and float(posts["A", 0].r[0]) == 7.0
    ann.step()
    assert float(posts["A", 3].r[0]) == 7.0


def test_weights_replaced_after_compile(rng):
    inp, post = source((30, 30)), layer((30, 30))
    proj = Convolution(inp, post, "exc")
    proj.connect_filter(EDGE)
    ann.compile()
    np.testing.assert_array_equal(proj.weights, EDGE)
    x = rng.random((30, 30))
    inp.r = x
    ann.step()
    assert_close(post.r, reference.convolution(x, EDGE, (30, 30)))
    proj.weights = BOX
    ann.step()
    assert_close(post.r, reference.convolution(x, BOX, (30, 30)))
    changed = proj.weights
    changed[0, 0] = 100.0  # a copy: the network keeps its own weights
    ann.step()
    assert_close(post.r, reference.convolution(x, BOX, (30, 30)))


def test_reset_and_time(rng):
    inp, post = source((8, 8)), layer((8, 8))
    Convolution(inp, post, "exc").connect_filter(BOX, delays=1.0)
    ann.compile()
    inp.r = rng.random((8, 8))
    ann.simulate(5.0)
    assert ann.get_time() == 5.0
    ann.reset()
    assert ann.get_time() == 0.0
    np.testing.assert_array_equal(inp.r, np.zeros((8, 8)))
    np.testing.assert_array_equal(post.r, np.zeros((8, 8)))
    inp.r = np.ones((8, 8))
    ann.step()  # the delayed projection sees the initial values (the history starts anew)
    np.testing.assert_array_equal(post.r, np.zeros((8, 8)))


def test_networks_are_independent(rng):
    nets = [ann.Network(), ann.Network(dt=0.1, precision="float")]
    pops = []
    for net in nets:
        inp, post = source((12, 12), net), layer((12, 12), net=net)
        net.connect(Convolution(inp, post, "exc")).connect_filter(EDGE)
        net.compile()
        pops.append((inp, post))
    x = rng.random((12, 12))
    pops[0][0].r = x
    nets[0].simulate(1.0)
    nets[1].simulate(1.0)
    assert_close(pops[0][1].r, reference.convolution(x, EDGE, (12, 12)))
    np.testing.assert_array_equal(pops[1][1].r, np.zeros((12, 12)))
    assert nets[1].time == pytest.approx(1.0) and nets[0].time == 1.0
    assert pops[1][1].r.dtype == np.float32
    assert not ann.network.default_network().populations


def test_float32_precision(rng):
    ann.setup(precision="float")
    inp, post = source((64, 64)), layer((32, 32, 2))
    bank = rng.uniform(-1, 1, (2, 5, 5))
    Convolution(inp, post, "exc").connect_filters(bank)
    ann.compile()
    x = rng.random((64, 64))
    inp.r = x
    ann.step()
    assert post.r.dtype == np.float32
    assert_close(post.r, reference.convolution(x, bank, (32, 32, 2), bank=True), "float32")


def test_user_arrays_are_copied_and_may_be_misaligned(rng):
    """Arrays straight from np.load (16-byte aligned), non-contiguous or read-only views,
    and lists are all accepted: tecomp copies them into its own aligned buffers."""
    inp, post = source((33, 17)), layer((33, 17))
    buffer = io.BytesIO()
    np.save(buffer, rng.random((33, 17)))
    buffer.seek(0)
    loaded = np.load(buffer)
    weights = np.asfortranarray(rng.random((3, 3)))[::1, ::1]
    Convolution(inp, post, "exc").connect_filter(weights)
    ann.compile()
    for x in (loaded, rng.random((17, 33)).T, np.frombuffer(rng.random(33 * 17).tobytes())
              .reshape(33, 17), loaded.tolist()):
        inp.r = x
        ann.step()
        assert_close(post.r, reference.convolution(np.asarray(x), weights, (33, 17)))
        x_copy = np.array(x)
        x_copy[...] = 0  # changing the user's array later does not touch the network
        assert_close(post.r, reference.convolution(np.asarray(x), weights, (33, 17)))


def test_copy_shares_the_pattern_and_the_weights(rng):
    from tecomp.extensions.convolution import Copy

    a, b = source((20, 20)), source((20, 20))
    c, d, e = layer((10, 10)), layer((10, 10)), layer((10, 10))
    proj = Convolution(a, c, "exc")
    proj.connect_filter(EDGE, padding="border")
    copy = Copy(b, d, "exc").connect_copy(proj)
    Copy(b, e, "exc", operation="max").connect_copy(proj)
    ann.compile()
    xa, xb = rng.random((20, 20)), rng.random((20, 20))
    a.r, b.r = xa, xb
    ann.step()
    assert_close(d.r, reference.convolution(xb, EDGE, (10, 10), padding="border"))
    assert_close(e.r, reference.convolution(xb, EDGE, (10, 10), padding="border",
                                            operation="max"))
    proj.weights = BOX
    ann.step()
    np.testing.assert_array_equal(copy.weights, BOX)
    assert_close(c.r, reference.convolution(xa, BOX, (10, 10), padding="border"))
    assert_close(d.r, reference.convolution(xb, BOX, (10, 10), padding="border"))
    assert_close(e.r, reference.convolution(xb, BOX, (10, 10), padding="border",
                                            operation="max"))


def test_copy_needs_the_same_geometries():
    from tecomp.extensions.convolution import Copy

    a, c = source((20, 20)), layer((10, 10))
    proj = Convolution(a, c, "exc").connect_filter(EDGE)
    wrong = Copy(c, layer((10, 10)), "exc")
    with pytest.raises(ann.InvalidValueError, match=r"pre geometry \(10, 10\) differs.*\(20, 20\)"):
        wrong.connect_copy(proj)
    with pytest.raises(ann.InvalidTypeError, match="connected Convolution or Pooling"):
        wrong.connect_copy("proj")


def test_an_update_that_copies_one_projection_runs_inside_it(rng):
    """`r = sum(exc)` fed by one projection has no kernel of its own; the values, the
    chain timing and monitors of r and sum(exc) stay as with a separate update."""
    inp, mid, out = source((16, 16)), layer((16, 16)), layer((16, 16), "r = 2 * sum(exc)")
    Convolution(inp, mid, "exc").connect_filter(EDGE)
    Convolution(mid, out, "exc").connect_filter(BOX)
    watch = ann.Monitor(mid, ["r", "sum(exc)"])
    ann.compile()
    labels = ann.network.default_network().engine.kernel_names
    assert "update pop1" not in labels and "update pop2" in labels
    xs = [rng.random((16, 16)) for _ in range(4)]
    previous = np.zeros((16, 16))
    for x in xs:
        inp.r = x
        ann.step()
        assert_close(out.r, 2 * reference.convolution(previous, BOX, (16, 16)))
        previous = reference.convolution(x, EDGE, (16, 16))
        assert_close(mid.r, previous)
    expected = np.stack([reference.convolution(x, EDGE, (16, 16)) for x in xs])
    assert_close(watch.get("r", keep=True), expected)
    assert_close(watch.get("sum(exc)"), expected)


def test_connect_makes_a_regular_projection_of_this_network():
    net, other = ann.Network(), ann.Network()
    a = net.create(4, ann.Neuron(parameters="r = 0.0"))
    b = net.create(4, ann.Neuron(equations="r = sum(exc)"))
    c = other.create(4, ann.Neuron(parameters="r = 0.0"))
    proj = net.connect(a, b, "exc")
    assert isinstance(proj, ann.Projection) and net.projections == [proj]
    assert net.connect(proj) is proj
    with pytest.raises(ann.InvalidValueError, match="not a population of this network"):
        net.connect(c, b, "exc")
    assert net.projections == [proj]
