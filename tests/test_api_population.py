"""ANNarchy 5's everyday population API: get/set, len, ranks, sum(target), reset, neuron(),
PopulationView and IndividualNeuron from indexing, and monitors of views."""

import numpy as np
import pytest

import tecomp as ann
from tecomp import reference
from tecomp.errors import InvalidTypeError, InvalidValueError, UnknownAttributeError
from tecomp.extensions.convolution import Convolution
from tecomp.views import IndividualNeuron, PopulationView


def rate():
    return ann.Neuron(parameters="r = 0.0")


def two_attributes():
    return ann.Neuron(parameters="tau = 10.0 : population\nbaseline = 0.5\nr = 0.0")


# -- get, set, len, ranks ---------------------------------------------------------------------

def test_get_set_len_and_ranks():
    net = ann.Network()
    pop = net.create((3, 4), two_attributes())
    assert (len(pop), pop.size) == (12, 12)
    np.testing.assert_array_equal(pop.ranks, np.arange(12))
    assert pop.get("tau") == 10.0
    np.testing.assert_array_equal(pop.get("baseline"), np.full((3, 4), 0.5))
    values = np.arange(12.0).reshape(3, 4)
    pop.set({"tau": 20.0, "r": values, "baseline": 1.0})
    assert pop.tau == 20.0
    np.testing.assert_array_equal(pop.get("r"), values)
    np.testing.assert_array_equal(pop.baseline, np.ones((3, 4)))
    assert pop.parameters == ["tau", "baseline", "r"] and pop.variables == []
    net.compile()
    pop.set({"r": 2 * values, "tau": 5.0})  # after compile: the network's buffers
    np.testing.assert_array_equal(pop.get("r"), 2 * values)
    assert pop.get("tau") == 5.0


def test_set_with_an_unknown_name_or_a_bad_value_sets_nothing():
    pop = ann.Network().create(4, two_attributes())
    with pytest.raises(UnknownAttributeError, match=r"'rate'.*tau, baseline, r"):
        pop.set({"r": 1.0, "rate": 2.0})
    with pytest.raises(InvalidValueError, match=r"shape \(4,\)"):
        pop.set({"r": 1.0, "baseline": [1.0, 2.0]})
    with pytest.raises(InvalidTypeError, match=r"baseline.*'x'"):
        pop.set({"tau": 3.0, "baseline": "x"})
    with pytest.raises(InvalidValueError, match=r"population-wide"):
        pop.set({"r": 1.0, "tau": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(InvalidTypeError, match=r"dict"):
        pop.set([("r", 1.0)])
    np.testing.assert_array_equal(pop.r, np.zeros(4))
    assert pop.tau == 10.0
    np.testing.assert_array_equal(pop.baseline, np.full(4, 0.5))
    with pytest.raises(UnknownAttributeError, match=r"'rate'.*tau, baseline, r"):
        pop.get("rate")
    with pytest.raises(UnknownAttributeError):
        pop.rate  # noqa: B018


def test_distributions_draw_with_the_network_generator():
    geometry = (3, 4)
    values = []
    for seed in (7, 7, 8):
        net = ann.Network(seed=seed)
        pop = net.create(geometry, two_attributes())
        pop.set({"r": ann.Uniform(-1.0, 1.0), "tau": ann.Normal(10.0, 1.0)})
        values.append((pop.r, pop.tau))
    numpy = np.random.default_rng(7)
    np.testing.assert_array_equal(values[0][0], numpy.uniform(-1.0, 1.0, geometry))
    assert values[0][1] == numpy.normal(10.0, 1.0, 1)[0]  # one draw: population-wide
    np.testing.assert_array_equal(values[0][0], values[1][0])  # same seed, same values
    assert not np.array_equal(values[0][0], values[2][0])
    own = ann.Network(seed=7).create(geometry, rate())
    own.r = ann.Uniform(0.0, 1.0, rng=np.random.default_rng(99))  # its own rng is kept
    np.testing.assert_array_equal(own.r, np.random.default_rng(99).uniform(0.0, 1.0, geometry))
    with pytest.raises(InvalidValueError, match=r"sigma must be >= 0"):
        ann.Normal(0.0, -1.0)


def test_int_and_bool_attributes_read_as_annarchy_through_every_path():
    pop = ann.Network().create(3, ann.Neuron(parameters="a = 2.7 : int\nb = 1 : bool\n"
                                                        "c = 1.9 : int, population"))
    pop.a = [1.5, -2.5, 3.0]
    assert pop.a.dtype == np.int64 and pop.get("a").tolist() == [1, -2, 3]
    assert pop.b.dtype == np.bool_ and pop.c == 1 and type(pop.c) is int
    assert pop[1:3].a.tolist() == [-2, 3] and pop[[0]].b.tolist() == [True]
    n = pop.neuron(1)
    assert (n.a, type(n.a), n.b, type(n.b), n.c) == (-2, int, True, bool, 1)


# -- sum(target) --------------------------------------------------------------------------------

def test_sum_is_the_summed_input_of_a_target_after_the_last_step(rng):
    net = ann.Network()
    a, b = net.create((6, 8), rate()), net.create((6, 8), rate())
    fused = net.create((6, 8), ann.Neuron(equations="r = sum(exc)"))
    other = net.create((6, 8), ann.Neuron(equations="r = sum(exc) + 2 * sum(inh) + 1"))
    w1, w2, w3 = (rng.uniform(-1, 1, (3, 3)) for _ in range(3))
    Convolution(a, fused, "exc").connect_filter(w1)
    Convolution(a, other, "exc").connect_filter(w1)
    Convolution(b, other, "exc").connect_filter(w2)
    Convolution(b, other, "inh").connect_filter(w3)
    x, y = rng.random((6, 8)), rng.random((6, 8))
    a.r, b.r = x, y
    np.testing.assert_array_equal(other.sum("exc"), np.zeros(48))  # before compile
    net.compile()
    np.testing.assert_array_equal(other.sum("exc"), np.zeros(48))  # before the first step
    net.step()
    first = reference.convolution(x, w1, (6, 8))
    exc = first + reference.convolution(y, w2, (6, 8))
    inh = reference.convolution(y, w3, (6, 8))
    np.testing.assert_allclose(fused.sum("exc"), first.reshape(-1), atol=1e-12)
    np.testing.assert_allclose(other.sum("exc"), exc.reshape(-1), atol=1e-12)
    np.testing.assert_allclose(other.sum("inh"), inh.reshape(-1), atol=1e-12)
    np.testing.assert_allclose(other.r, exc + 2 * inh + 1, atol=1e-12)
    np.testing.assert_array_equal(fused.sum("nothing"), np.zeros(48))  # no projection
    a.r = 2 * x
    net.step()
    np.testing.assert_allclose(fused.sum("exc"), 2 * first.reshape(-1), atol=1e-12)
    view = other[1:3, 2:5]
    np.testing.assert_allclose(view.sum("inh"), inh[1:3, 2:5].reshape(-1), atol=1e-12)
    net.reset()
    np.testing.assert_array_equal(other.sum("exc"), np.zeros(48))
    with pytest.raises(InvalidValueError, match=r"target"):
        other.sum("not a name")


# -- reset ----------------------------------------------------------------------------------

def test_reset_puts_attributes_back_to_their_values_at_compile():
    net = ann.Network()
    pop = net.create(4, ann.Neuron(parameters="g = 1.0 : population\nb = 0.0",
                                   equations="r = r + g + b"))
    pop.b = [0.0, 1.0, 2.0, 3.0]  # before compile: the initial values
    pop.reset(["b"])  # before compile: the neuron's own values
    np.testing.assert_array_equal(pop.b, np.zeros(4))
    pop.b = [0.0, 1.0, 2.0, 3.0]
    net.compile()
    net.simulate(3.0)
    pop.g = 5.0
    np.testing.assert_array_equal(pop.r, [3.0, 6.0, 9.0, 12.0])
    with pytest.raises(UnknownAttributeError, match=r"'x'"):
        pop.reset(["r", "x"])
    np.testing.assert_array_equal(pop.r, [3.0, 6.0, 9.0, 12.0])  # nothing reset
    pop.reset(["r"])
    np.testing.assert_array_equal(pop.r, np.zeros(4))
    assert pop.g == 5.0 and net.current_step == 3  # other attributes and time untouched
    pop.b = 9.0
    pop.reset()
    assert pop.g == 1.0
    np.testing.assert_array_equal(pop.b, [0.0, 1.0, 2.0, 3.0])
    net.step()
    np.testing.assert_array_equal(pop.r, [1.0, 2.0, 3.0, 4.0])


# -- individual neurons ---------------------------------------------------------------------

def test_individual_neurons_read_and_write_one_value():
    net = ann.Network()
    pop = net.create((3, 4), two_attributes())
    n = pop.neuron(6)
    assert isinstance(n, IndividualNeuron)
    assert (n.rank, n.coordinates) == (6, (1, 2))
    assert pop.neuron(1, 2).rank == pop.neuron((1, 2)).rank == pop[1, 2].rank == 6
    n.r = 4.0
    assert n.r == 4.0 and n.get("r") == 4.0 and pop.r[1, 2] == 4.0
    assert float(pop.r.sum()) == 4.0
    n.set({"baseline": 2.0, "tau": 3.0})  # a population-wide one: the whole population
    assert pop.baseline[1, 2] == 2.0 and pop.tau == 3.0 and n.tau == 3.0
    net.compile()
    pop.neuron(11).r = 7.0
    assert pop.r[2, 3] == 7.0 and pop.neuron(2, 3).r == 7.0
    assert [m.rank for m in pop][:3] == [0, 1, 2] and len(list(pop.neurons)) == 12
    with pytest.raises(InvalidValueError, match=r"rank 12 is outside 0\.\.11"):
        pop.neuron(12)
    with pytest.raises(InvalidValueError, match=r"outside the geometry"):
        pop.neuron(3, 0)
    with pytest.raises(InvalidTypeError, match=r"ints"):
        pop.neuron(1.5)
    with pytest.raises(InvalidValueError, match=r"one number"):
        n.r = [1.0, 2.0]
    with pytest.raises(UnknownAttributeError, match=r"'v'"):
        n.v = 1.0
    assert pop.neuron.attributes == pop.neuron_type.attributes  # still the neuron type


# -- views ------------------------------------------------------------------------------------

def test_views_from_slices_and_indices_have_annarchys_ranks_and_geometry():
    net = ann.Network()
    line = net.create(20, rate())
    grid = net.create((4, 6), rate())
    view = line[0:10]
    assert isinstance(view, PopulationView)
    assert (view.size, len(view), view.geometry) == (10, 10, (10,))
    np.testing.assert_array_equal(view.ranks, np.arange(10))
    np.testing.assert_array_equal(line[-5:].ranks, np.arange(15, 20))
    np.testing.assert_array_equal(line[::7].ranks, [0, 7, 14])
    np.testing.assert_array_equal(line[[0, 5, 7]].ranks, [0, 5, 7])
    np.testing.assert_array_equal(line[np.array([3, 1])].ranks, [3, 1])
    assert (line[5].ranks.tolist(), line[5].geometry) == ([5], (1,))  # an int: a view
    column = grid[:, 5]
    assert column.geometry == (4, 1)  # as ANNarchy: the int axis stays, of size 1
    np.testing.assert_array_equal(column.ranks, [5, 11, 17, 23])
    block = grid[1:3, 2:4]
    assert (block.geometry, block.ranks.tolist()) == ((2, 2), [8, 9, 14, 15])
    assert block.rank_from_coordinates((1, 1), local=True) == 15
    assert block.coordinates_from_rank(14, local=True) == (1, 0)
    assert block.coordinates_from_rank(14) == (2, 2)
    np.testing.assert_array_equal(grid[0:4:2, -2:].ranks, [4, 5, 16, 17])
    np.testing.assert_array_equal(grid[2:7].ranks, np.arange(2, 7))  # ranks, any geometry
    assert isinstance(grid[2, 3], IndividualNeuron) and grid[2, 3].rank == 15
    union = block + grid[0, 0:2] + grid[3, 5]
    assert union.geometry is None
    np.testing.assert_array_equal(union.ranks, [0, 1, 8, 9, 14, 15, 23])
    np.testing.assert_array_equal((grid.neuron(5) + grid.neuron(2)).ranks, [2, 5])
    with pytest.raises(InvalidValueError, match=r"one population"):
        block + line[0:2]
    with pytest.raises(TypeError):
        grid + grid  # ANNarchy 5 has no Population + Population either


@pytest.mark.parametrize("key, error, pattern", [
    pytest.param(slice(0, 21), InvalidValueError, r"stop 21 is outside", id="slice-stop"),
    pytest.param(slice(-21, None), InvalidValueError, r"start -21 is outside", id="slice-start"),
    pytest.param(slice(3, 3), InvalidValueError, r"selects no neuron", id="empty"),
    pytest.param(slice(0, 5, 0), InvalidValueError, r"step cannot be zero", id="step-zero"),
    pytest.param(slice(0.5, 3), InvalidTypeError, r"start must be an int", id="float-bound"),
    pytest.param(20, InvalidValueError, r"index 20 is outside", id="int"),
    pytest.param(-21, InvalidValueError, r"index -21 is outside", id="negative"),
    pytest.param([0, 20], InvalidValueError, r"rank 20 is outside 0\.\.19", id="list"),
    pytest.param([1, 1], InvalidValueError, r"rank 1 is given twice", id="duplicate"),
    pytest.param([], InvalidValueError, r"no neuron", id="empty-list"),
    pytest.param([0.5], InvalidTypeError, r"ranks must be ints", id="float-list"),
    pytest.param(np.zeros((2, 2), int), InvalidValueError, r"one-dimensional", id="2d-array"),
    pytest.param(1.5, InvalidTypeError, r"index with an int", id="float"),
    pytest.param(True, InvalidTypeError, r"index with an int", id="bool"),
    pytest.param((1, 2), InvalidValueError, r"2 indices for a population of 1", id="tuple"),
])
def test_bad_indices_of_a_1d_population(key, error, pattern):
    pop = ann.Network().create(20, rate())
    with pytest.raises(error, match=pattern):
        pop[key]


@pytest.mark.parametrize("key, pattern", [
    pytest.param((4, 0), r"index 4 is outside the axis 0 of geometry \(4, 6\)", id="row"),
    pytest.param((slice(None), 6), r"index 6 is outside the axis 1", id="column"),
    pytest.param((slice(0, 5), 1), r"stop 5 is outside the axis 0", id="slice"),
    pytest.param((1, 2, 3), r"3 indices for a population of 2", id="too-many"),
    pytest.param((slice(1, 1), slice(None)), r"select no neuron", id="empty"),
])
def test_bad_indices_of_a_2d_population(key, pattern):
    pop = ann.Network().create((4, 6), rate())
    with pytest.raises(InvalidValueError, match=pattern):
        pop[key]
    with pytest.raises(InvalidTypeError, match=r"each index is an int or a slice"):
        pop[[0, 1], 2]


@pytest.mark.parametrize("compiled", [False, True], ids=["before-compile", "after-compile"])
def test_views_read_and_write_the_population(compiled, rng):
    net = ann.Network(seed=11)
    pop = net.create((4, 6), two_attributes())
    if compiled:
        net.compile()
    block = pop[1:3, 2:5]
    block.r = 1.0
    expected = np.zeros((4, 6))
    expected[1:3, 2:5] = 1.0
    np.testing.assert_array_equal(pop.r, expected)
    values = rng.random((2, 3))
    block.r = values  # the view's geometry
    expected[1:3, 2:5] = values
    np.testing.assert_array_equal(pop.r, expected)
    block.set({"r": values.reshape(-1)[::-1].copy(), "baseline": 2.0})  # the view's size
    expected[1:3, 2:5] = values.reshape(-1)[::-1].reshape(2, 3)
    np.testing.assert_array_equal(pop.r, expected)
    np.testing.assert_array_equal(block.r, expected[1:3, 2:5].reshape(-1))  # flat, as ANNarchy
    np.testing.assert_array_equal(block.get("baseline"), np.full(6, 2.0))
    assert float(pop.baseline.sum()) == 0.5 * 18 + 2.0 * 6
    assert block.tau == 10.0  # a population-wide value reads as the population's
    picked = pop[[23, 0]]
    picked.r = [5.0, 6.0]  # in the view's order
    assert (pop.r[3, 5], pop.r[0, 0]) == (5.0, 6.0)
    line = pop[0:4]
    line.r = ann.Normal(0.0, 1.0)  # one draw per neuron of the view, from the network's rng
    np.testing.assert_array_equal(pop.r[0, 0:4], np.random.default_rng(11).normal(0, 1, 4))
    with pytest.raises(InvalidValueError, match=r"shape \(6,\) or \(2, 3\)"):
        block.r = np.ones(5)
    with pytest.raises(InvalidValueError, match=r"population-wide"):
        block.tau = 3.0
    with pytest.raises(UnknownAttributeError, match=r"'v'"):
        block.set({"r": 0.0, "v": 1.0})
    with pytest.raises(UnknownAttributeError, match=r"'v'"):
        block.v  # noqa: B018
    np.testing.assert_array_equal(block.r, expected[1:3, 2:5].reshape(-1))  # nothing set


def test_values_set_through_a_view_drive_the_projection(rng):
    net = ann.Network()
    pre = net.create((8, 8), rate())
    post = net.create((8, 8), ann.Neuron(equations="r = sum(exc)"))
    w = rng.random((3, 3))
    Convolution(pre, post, "exc").connect_filter(w)
    net.compile()
    pre[2:5, 3:6].r = 1.0
    net.step()
    x = np.zeros((8, 8))
    x[2:5, 3:6] = 1.0
    np.testing.assert_allclose(post.r, reference.convolution(x, w, (8, 8)), atol=1e-12)


# -- monitors of views --------------------------------------------------------------------------

def test_a_monitor_of_a_view_records_only_its_neurons(rng):
    net = ann.Network()
    pre = net.create((6, 6), rate())
    post = net.create((6, 6), ann.Neuron(equations="r = sum(exc) + t"))
    w = rng.random((3, 3))
    Convolution(pre, post, "exc").connect_filter(w)
    view = post[1:3, 0:4]
    m = net.monitor(view, ["r", "sum(exc)"])
    single = ann.Monitor(post[[35, 0]], "r")
    assert m.name == "Monitor_pop1"
    net.compile()
    xs = [rng.random((6, 6)) for _ in range(3)]
    for x in xs:
        pre.r = x
        net.step()
    data = m.get()
    assert data["r"].shape == data["sum(exc)"].shape == (3, 8)  # (T, view size), as ANNarchy
    for k, x in enumerate(xs):
        expected = reference.convolution(x, w, (6, 6))[1:3, 0:4].reshape(-1)
        np.testing.assert_allclose(data["sum(exc)"][k], expected, atol=1e-12)
        np.testing.assert_allclose(data["r"][k], expected + k, atol=1e-12)
    last = reference.convolution(xs[-1], w, (6, 6)).reshape(-1) + 2
    np.testing.assert_allclose(single.get("r")[-1], last[[35, 0]], atol=1e-12)
    with pytest.raises(InvalidTypeError, match=r"pop\[\[7\]\]"):
        ann.Monitor(post.neuron(7), "r")
