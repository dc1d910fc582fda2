"""ANNarchy's access to a regular projection (get/set, dendrites, connectivity_matrix,
receptive_fields, size, post_ranks, nb_synapses) and its refusals of bad input: each a clear
tecomp error at the call, with nothing half-built."""

import numpy as np
import pytest
import scipy.sparse

import tecomp as ann
from tecomp import reference
from tecomp.errors import (
    EquationError,
    InvalidTypeError,
    InvalidValueError,
    TecompError,
    UnknownAttributeError,
)

PRE, POST = 12, 7


def rate():
    return ann.Neuron(parameters="r = 0.0")


def summing():
    return ann.Neuron(parameters="x = 0.0", equations="r = sum(exc)")


def layers(pre_geometry=PRE, post_geometry=POST, seed=None):
    net = ann.Network(seed=seed)
    return net, net.create(pre_geometry, rate()), net.create(post_geometry, summing())


def masked(rng, shape=(POST, PRE), density=0.5, empty_row=2):
    w = np.where(rng.random(shape) < density, rng.uniform(-1, 1, shape), np.nan)
    if empty_row is not None:
        w[empty_row] = np.nan
    return w


def rows_of(matrix, ranks):
    return [row[~np.isnan(row)].tolist() for row in matrix[ranks]]


def expected_r(weights, x, psp="w * pre.r", operation="sum", parameters=None):
    return reference.projection(weights, {"r": x}, {}, psp, operation, parameters)


def close(actual, expected):
    assert reference.relative_error(actual, expected) <= reference.tolerance("float64", PRE)


# -- get and set --------------------------------------------------------------------------

def test_get_w_is_one_list_per_dendrite_of_its_synapses(rng):
    net, pre, post = layers()
    w = masked(rng)
    proj = net.connect(pre, post, "exc").from_matrix(w)
    ranks = [i for i in range(POST) if not np.isnan(w[i]).all()]
    assert proj.post_ranks == ranks and proj.size == len(proj) == len(ranks)
    assert proj.nb_synapses == int((~np.isnan(w)).sum())
    assert proj.get("w") == rows_of(w, ranks) == proj.w


def test_one_weight_reads_back_as_one_number():
    net, pre, post = layers()
    proj = net.connect(pre, post, "exc").all_to_all(0.5)
    assert proj.w == 0.5
    proj.w = 0.25
    assert proj.w == 0.25
    proj.w = ann.Uniform(0, 1)  # one value per synapse from now on
    assert isinstance(proj.w, list) and len(proj.w) == POST


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("form", ["per-synapse", "per-dendrite", "one"])
def test_set_w_before_and_after_compile(when, form, rng):
    net, pre, post = layers()
    w = masked(rng)
    proj = net.connect(pre, post, "exc").from_matrix(w)
    ranks = proj.post_ranks
    if form == "per-synapse":
        new = masked(rng, density=1.0, empty_row=None)
        new[np.isnan(w)] = np.nan
        value = rows_of(new, ranks)
    elif form == "per-dendrite":
        per = rng.uniform(-1, 1, len(ranks))
        new = np.full_like(w, np.nan)
        new[ranks] = np.where(np.isnan(w[ranks]), np.nan, per[:, None])
        value = per.tolist()
    else:
        new, value = np.where(np.isnan(w), np.nan, -0.75), -0.75
    if when == "before":
        proj.set({"w": value})
    net.compile(silent=True)
    x = rng.uniform(0, 1, PRE)
    pre.r = x
    net.step()
    close(post.r, expected_r(new if when == "before" else w, x))
    if when == "after":
        proj.set({"w": value})
        net.step()  # the next step uses them, without compiling again
        close(post.r, expected_r(new, x))
    np.testing.assert_array_equal(proj.connectivity_matrix(fill=np.nan), new)
    # a matrix gave one weight per synapse: w stays per synapse after setting one number
    assert proj.get("w") == rows_of(new, ranks)


def test_parameters_get_and_set_by_locality(rng):
    net, pre, post = layers(seed=1)
    syn = ann.Synapse(parameters="g = 0.5\nh = 2.0 : postsynaptic\nk = -1.0 : projection",
                      psp="g * w * pre.r + h + k")
    w = masked(rng)
    proj = net.connect(pre, post, "exc", syn).from_matrix(w)
    ranks = proj.post_ranks
    assert proj.get("g") == [[0.5] * len(r) for r in rows_of(w, ranks)]
    assert proj.get("h") == [2.0] * len(ranks)
    assert proj.get("k") == -1.0
    assert proj.parameters == ["g", "h", "k"] and proj.attributes == ["w", "g", "h", "k"]
    net.compile(silent=True)
    g = np.where(np.isnan(w), np.nan, rng.uniform(0, 1, w.shape))
    h = np.zeros(POST)
    h[ranks] = rng.uniform(-1, 1, len(ranks))
    proj.set({"g": rows_of(g, ranks), "h": h[ranks].tolist(), "k": 0.5})
    x = rng.uniform(0, 1, PRE)
    pre.r = x
    net.step()
    close(post.r, expected_r(w, x, syn.psp, parameters={"g": g, "h": h, "k": 0.5}))
    assert proj.get("h") == h[ranks].tolist()
    with pytest.raises(InvalidValueError, match=r"one value for the projection"):
        proj.set({"k": [1.0, 2.0]})


def test_dendrite_reads_and_sets_one_post_neuron(rng):
    net, pre, post = layers((3, 4), (POST,))
    w = masked(rng)
    proj = net.connect(pre, post, "exc").from_matrix(w)
    rank = proj.post_ranks[1]
    d = proj.dendrite(rank)
    js = np.flatnonzero(~np.isnan(w[rank]))
    assert d.pre_ranks == js.tolist() and d.size == len(d) == len(js)
    assert d.w == w[rank, js].tolist() == d.get("w")
    net.compile(silent=True)
    d.w = 1.0
    d.set({"w": list(range(len(js)))})
    w[rank, js] = np.arange(len(js))
    x = rng.uniform(0, 1, PRE)
    pre.r = x.reshape(3, 4)
    net.step()
    close(post.r, expected_r(w, x))
    field = d.receptive_field(fill=np.nan)
    np.testing.assert_array_equal(field, w[rank].reshape(3, 4))
    with pytest.raises(InvalidValueError, match=r"receives no synapse"):
        proj.dendrite(2)
    with pytest.raises(InvalidValueError, match=r"synapses, got 1 values"):
        d.set({"w": [1.0]})
    assert [den.post_rank for den in proj.dendrites] == proj.post_ranks == \
        [den.post_rank for den in proj]


def test_connectivity_matrix_fill_and_receptive_fields(rng):
    net, pre, post = layers((3, 4), (2, 3))
    w = masked(rng, (6, 12), empty_row=4)
    proj = net.connect(pre, post, "exc").from_matrix(w)
    np.testing.assert_array_equal(proj.connectivity_matrix(), np.nan_to_num(w, nan=0.0))
    np.testing.assert_array_equal(proj.connectivity_matrix(fill=-9.0),
                                  np.nan_to_num(w, nan=-9.0))
    fields = proj.receptive_fields()
    assert fields.shape == (2 * 3, 3 * 4)
    for rank in range(6):
        row, column = divmod(rank, 3)
        np.testing.assert_array_equal(fields[row * 3:(row + 1) * 3, column * 4:(column + 1) * 4],
                                      np.nan_to_num(w[rank], nan=0.0).reshape(3, 4))


# -- bad input: an error at the call, nothing half-built ----------------------------------

def unconnected(proj):
    assert not proj.connected
    with pytest.raises(InvalidValueError, match=r"no connection pattern yet"):
        proj.nb_synapses  # noqa: B018


@pytest.mark.parametrize("connect, match", [
    (lambda p: p.all_to_all(np.ones((PRE, POST))), r"shape \(post, pre\) = \(7, 12\)"),
    (lambda p: p.fixed_probability(1.5, 1.0), r"probability must be from 0 to 1, got 1.5"),
    (lambda p: p.fixed_probability(-0.1, 1.0), r"probability must be from 0 to 1"),
    (lambda p: p.fixed_number_pre(13, 1.0), r"number must be from 0 to 12"),
    (lambda p: p.fixed_number_post(8, 1.0), r"number must be from 0 to 7"),
    (lambda p: p.one_to_one(1.0), r"same size, got 12 and 7"),
    (lambda p: p.from_matrix(np.ones((PRE, POST))), r"shape \(post, pre\) = \(7, 12\)"),
    (lambda p: p.from_matrix(np.full((POST, PRE), np.inf)), r"finite"),
    (lambda p: p.from_sparse(scipy.sparse.csr_matrix(
        ([np.nan], ([0], [0])), shape=(POST, PRE))), r"weights"),
    (lambda p: p.from_sparse(np.ones((POST, PRE))), r"scipy.sparse"),
    (lambda p: p.all_to_all(1.0, delays=-1.0), r"delays must be >= 0"),
    (lambda p: p.all_to_all(1.0, delays=0.5), r"not a multiple of dt"),
    (lambda p: p.fixed_probability(0.5, np.ones((POST, PRE))), r"number or a random"),
    (lambda p: p.from_matrix(np.ones((POST, PRE)), delays=np.ones((2, 2))), r"delays"),
    (lambda p: p.gaussian(1.0, 0.0), r"sigma must be > 0"),
])
def test_bad_connector_arguments(connect, match):
    net, pre, post = layers()
    proj = net.connect(pre, post, "exc")
    with pytest.raises(TecompError, match=match):
        connect(proj)
    unconnected(proj)
    proj.all_to_all(1.0)  # still usable
    assert proj.nb_synapses == PRE * POST


def test_fixed_number_pre_onto_itself_cannot_take_every_neuron():
    net = ann.Network()
    pop = net.create(6, summing())
    proj = net.connect(pop, pop, "exc")
    with pytest.raises(InvalidValueError, match=r"from 0 to 5 .*not its own pre"):
        proj.fixed_number_pre(6, 1.0)
    unconnected(proj)


def test_connecting_twice_is_refused_and_keeps_the_first_pattern():
    net, pre, post = layers()
    proj = net.connect(pre, post, "exc").all_to_all(0.5)
    with pytest.raises(InvalidValueError, match=r"already connected \(All-to-All\)"):
        proj.fixed_probability(0.5, 1.0)
    assert proj.nb_synapses == PRE * POST and proj.w == 0.5


def test_from_file_refuses_other_sizes_and_other_files(tmp_path):
    net, pre, post = layers()
    proj = net.connect(pre, post, "exc").all_to_all(0.5)
    proj.save_connectivity(tmp_path / "a.npz")
    other = net.create(POST + 1, summing())
    copy = net.connect(pre, other, "exc")
    with pytest.raises(InvalidValueError, match=r"connects 12 pre to 7 post"):
        copy.from_file(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", x=np.ones(3))
    with pytest.raises(InvalidValueError, match=r"not a connectivity file"):
        copy.from_file(tmp_path / "b.npz")
    with pytest.raises(InvalidValueError, match=r"\.npz"):
        copy.from_file(tmp_path / "a.txt")
    unconnected(copy)


def test_unknown_attributes_in_get_and_set_change_nothing(rng):
    net, pre, post = layers()
    proj = net.connect(pre, post, "exc").all_to_all(ann.Uniform(0, 1))
    before = proj.connectivity_matrix()
    with pytest.raises(UnknownAttributeError, match=r"no attribute 'tau'; it has w"):
        proj.get("tau")
    with pytest.raises(UnknownAttributeError, match=r"'tau'"):
        proj.set({"w": 0.0, "tau": 1.0})
    with pytest.raises(UnknownAttributeError):
        proj.dendrite(0).get("tau")
    with pytest.raises(InvalidTypeError, match=r"dict"):
        proj.set([("w", 0.0)])
    np.testing.assert_array_equal(proj.connectivity_matrix(), before)


@pytest.mark.parametrize("compiled", [False, True])
def test_set_lists_of_the_wrong_length_change_nothing(compiled, rng):
    net, pre, post = layers()
    w = masked(rng)
    proj = net.connect(pre, post, "exc").from_matrix(w)
    if compiled:
        net.compile(silent=True)
    dendrites = proj.size
    with pytest.raises(InvalidValueError, match=rf"one entry per dendrite \({dendrites}"):
        proj.set({"w": [0.0] * (dendrites + 1)})
    rows = rows_of(w, proj.post_ranks)
    rows[1] = rows[1] + [0.0]
    with pytest.raises(InvalidValueError, match=rf"receives {len(rows[1]) - 1} synapses, got"):
        proj.set({"w": rows})
    np.testing.assert_array_equal(proj.connectivity_matrix(fill=np.nan), w)


def test_a_synapse_with_equations_or_spikes_is_refused():
    with pytest.raises(InvalidValueError, match=r"equations \(learning rules\) are not "
                                                r"supported"):
        ann.Synapse(equations="dw/dt = pre.r * post.r")
    with pytest.raises(InvalidValueError, match=r"spiking"):
        ann.Synapse(pre_spike="g_target += w")
    with pytest.raises(InvalidValueError, match=r"operation must be one of"):
        ann.Synapse(operation="prod")


@pytest.mark.parametrize("psp, match", [
    ("w * pre.v", r"reads pre.v, but pre pop0 has only r"),
    ("w * post.y", r"reads post.y, but post pop1 has only x, r"),
])
def test_a_psp_reading_an_unknown_variable_is_refused_and_nothing_added(psp, match):
    net, pre, post = layers()
    with pytest.raises(EquationError, match=match):
        net.connect(pre, post, "exc", ann.Synapse(psp=psp))
    assert len(net.projections) == 0
    with pytest.raises(EquationError):
        ann.Synapse(psp="w * q")  # neither a parameter nor pre./post.
