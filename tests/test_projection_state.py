"""Regular projections over time: per-synapse delays, Constants in psps, save and load.

Expected values are computed here from the connectivity and the history of pre values
with NumPy (ANNarchy's delay rule, docs/semantics.md): at step k a synapse of delay d >= 1
reads pre as at the end of step k - d (the initial values before), one of delay 0 the
values at the start of step k.
"""

import numpy as np
import pytest

import tecomp as ann
from tecomp.reference import relative_error, tolerance


def _delayed_sum(weights, delays, history, k):
    """sum_j w[i, j] * pre(at the time synapse (i, j) reads at step k); NaN weight: none."""
    out = np.zeros(weights.shape[0])
    for i, j in zip(*np.nonzero(~np.isnan(weights)), strict=True):
        d = int(delays[i, j])
        index = k if d == 0 else max(k - d + 1, 0)  # history[m + 1]: end of step m
        out[i] += weights[i, j] * history[index][j]
    return out


@pytest.mark.parametrize("precision", ["double", "float"])
@pytest.mark.parametrize("connector", ["all_to_all", "from_matrix", "fixed_number_pre"])
def test_per_synapse_delays_read_each_synapse_its_own_past(connector, precision):
    rng = np.random.default_rng(7)
    net = ann.Network(seed=3)
    net.setup(precision=precision)
    pre = net.create(9, ann.Neuron(parameters="b = 0.0", equations="r = b"))
    post = net.create(6, ann.Neuron(equations="r = sum(exc)"))
    proj = ann.Projection(pre, post, "exc")
    if connector == "from_matrix":
        weights = rng.random((6, 9))
        weights[rng.random((6, 9)) < 0.3] = np.nan
        proj.connect_from_matrix(weights, delays=rng.integers(0, 5, (6, 9)).astype(float))
    elif connector == "all_to_all":
        proj.connect_all_to_all(ann.Uniform(0, 1), delays=ann.DiscreteUniform(0, 4))
    else:
        proj.connect_fixed_number_pre(4, ann.Uniform(0, 1), delays=ann.DiscreteUniform(1, 4))
    assert proj.per_synapse_delays
    net.compile(silent=True)
    weights = proj.connectivity_matrix(fill=np.nan)
    delays = np.zeros(weights.shape)
    for dendrite in proj.dendrites:
        delays[dendrite.post_rank, dendrite.pre_ranks] = dendrite.delay
    assert isinstance(proj.delay, list) and len(proj.delay) == proj.size
    history = [np.zeros(9)]
    for k in range(9):
        b = rng.random(9)
        pre.b = b
        net.step()
        history.append(b.astype(np.float32 if precision == "float" else np.float64))
        expected = _delayed_sum(weights, delays, history, k)
        dtype = "float32" if precision == "float" else "float64"
        assert relative_error(post.r, expected) <= tolerance(dtype, 9), k


def test_per_synapse_delays_start_again_from_the_initial_values_after_reset():
    net = ann.Network(seed=1)
    pre = net.create(3, ann.Neuron(parameters="b = 0.0", equations="r = b : init = 2.0"))
    post = net.create(1, ann.Neuron(equations="r = sum(exc)"))
    proj = net.connect(pre, post, "exc").connect_from_matrix(np.ones((1, 3)),
                                                             delays=np.array([[0, 1, 2]]))
    net.compile(silent=True)
    seen = []
    for _ in range(2):
        for value in (10.0, 20.0, 30.0):
            pre.b = value
            net.step()
            seen.append(float(post.r[0]))
        net.reset()
    # step 0: 2 (current) + 2 + 2; step 1: 10 + 10 + 2; step 2: 20 + 20 + 10
    assert seen == [6.0, 22.0, 50.0] * 2
    assert proj.nb_synapses == 3


def test_a_psp_reads_a_constant_set_after_compile():
    net = ann.Network()
    gain = net.constant("gain", 2.0)
    pre = net.create(3, ann.Neuron(parameters="r = 1.0"))
    post = net.create(2, ann.Neuron(equations="r = sum(exc)"))
    synapse = ann.Synapse(parameters="g = 0.5 : projection", psp="gain * g * w * pre.r")
    net.connect(pre, post, "exc", synapse).all_to_all(1.0)
    net.compile(silent=True)
    net.simulate(1)
    np.testing.assert_allclose(post.r, [3.0, 3.0])
    gain.set(4.0)
    net.simulate(1)
    np.testing.assert_allclose(post.r, [6.0, 6.0])


def test_a_psp_reading_an_unknown_name_is_an_error_at_the_synapse():
    with pytest.raises(ann.EquationError, match="unknown name 'nothing_like_it'"):
        ann.Synapse(psp="nothing_like_it * w * pre.r")


def _network(seed):
    net = ann.Network(seed=seed)
    pre = net.create(6, ann.Neuron(parameters="r = 1.0"))
    post = net.create(4, ann.Neuron(equations="r = sum(exc)"))
    synapse = ann.Synapse(parameters="g = 2.0 : postsynaptic\nh = 1.0", psp="g * h * w * pre.r")
    proj = net.connect(pre, post, "exc", synapse).fixed_probability(0.6, ann.Uniform(0, 1))
    net.compile(silent=True)
    return net, proj, post


def test_save_and_load_restore_weights_and_parameters(tmp_path):
    net, proj, post = _network(1)
    proj.w = 0.25
    proj.set({"g": [1.0 + k for k in range(proj.size)]})
    proj.dendrite(proj.post_ranks[0]).h = 3.0
    net.save(tmp_path / "state.npz")
    again, copy, copy_post = _network(1)
    again.load(tmp_path / "state.npz")
    assert copy.w == proj.w and copy.g == proj.g and copy.get("h") == proj.get("h")
    net.simulate(1)
    again.simulate(1)
    np.testing.assert_array_equal(copy_post.r, post.r)


def test_load_refuses_another_pattern_and_changes_nothing(tmp_path):
    net, _, _ = _network(1)
    net.save(tmp_path / "state.npz")
    other, other_proj, _ = _network(2)
    before = other_proj.w
    with pytest.raises(ann.InvalidValueError, match="connection pattern differs"):
        other.load(tmp_path / "state.npz")
    assert other_proj.w == before


def test_save_connectivity_and_from_file_give_the_same_projection(tmp_path):
    _, proj, _ = _network(5)
    proj.save_connectivity(tmp_path / "pattern.npz")
    net2 = ann.Network()
    a = net2.create(6, ann.Neuron(parameters="r = 1.0"))
    b = net2.create(4, ann.Neuron(equations="r = sum(exc)"))
    copy = net2.connect(a, b, "exc").connect_from_file(tmp_path / "pattern.npz")
    assert copy.post_ranks == proj.post_ranks and copy.w == proj.w
    assert [d.pre_ranks for d in copy.dendrites] == [d.pre_ranks for d in proj.dendrites]
    small = net2.create(5, ann.Neuron(equations="r = sum(exc)"))
    with pytest.raises(ann.InvalidValueError, match="connects 6 pre to 4 post"):
        net2.connect(a, small, "exc").connect_from_file(tmp_path / "pattern.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ann.InvalidValueError, match="not a connectivity file"):
        net2.connect(a, small, "exc").connect_from_file(tmp_path / "bad.npz")


def test_delays_are_reported_as_used_and_set_before_compile_only():
    net = ann.Network()
    a = net.create(3, ann.Neuron(parameters="b = 0.0", equations="r = b"))
    b = net.create(3, ann.Neuron(equations="r = sum(exc)"))
    weights = np.full((3, 3), np.nan)
    np.fill_diagonal(weights, 1.0)
    proj = net.connect(a, b, "exc").connect_from_matrix(weights, delays=np.diag([0.4, 1.6, 2.5]))
    assert proj.delay == [[0.0], [2.0], [2.0]]  # rounded to steps, as ANNarchy
    assert [d.delay for d in proj.dendrites] == [[0.0], [2.0], [2.0]]
    proj.delay = 3.0
    assert proj.delay == proj.delays == 3.0 and not proj.per_synapse_delays
    with pytest.raises(ann.InvalidValueError, match="not a multiple of dt"):
        proj.delay = 1.5
    with pytest.raises(ann.InvalidValueError, match="more than 100000 steps"):
        proj.delays = 1e8
    assert proj.delay == 3.0
    net.compile(silent=True)
    seen = []
    for _ in range(5):
        a.b = 1.0
        net.step()
        seen.append(float(b.r[0]))
    assert seen == [0.0, 0.0, 0.0, 1.0, 1.0]
    with pytest.raises(ann.NetworkStateError, match="set them before compile"):
        proj.delay = 1.0


def test_projection_names_are_unique_in_a_network():
    net = ann.Network()
    a = net.create(2, ann.Neuron(parameters="r = 0.0"))
    b = net.create(2, ann.Neuron(equations="r = sum(exc)"))
    net.connect(a, b, "exc", name="proj1").all_to_all(1.0)
    unnamed = net.connect(a, b, "exc")  # proj1 is taken: the next free name
    assert unnamed.name == "proj2"
    with pytest.raises(ann.InvalidValueError, match="already used"):
        net.connect(a, b, "exc", name="proj1")
    assert len(net.projections) == 2


def test_a_damaged_or_foreign_connectivity_file_is_refused(tmp_path):
    _, proj, _ = _network(5)
    path = tmp_path / "pattern.npz"
    proj.save_connectivity(path)
    net = ann.Network()
    a = net.create(6, ann.Neuron(parameters="r = 1.0"))
    b = net.create(4, ann.Neuron(equations="r = sum(exc)"))
    data = path.read_bytes()
    (tmp_path / "half.npz").write_bytes(data[:len(data) // 2])
    with np.load(path) as stored:
        fields = dict(stored)
    broken = {"ranks.npz": fields | {"pre_ranks": fields["pre_ranks"] + 0.5},
              "sizes.npz": fields | {"pre_size": np.array([6, 6])},
              "twice.npz": fields | {"pre_ranks": np.zeros_like(fields["pre_ranks"])}}
    for name, content in broken.items():
        np.savez(tmp_path / name, **content)
    for name, match in (("half.npz", "not a connectivity file"),
                        ("ranks.npz", "not a connectivity file"),
                        ("sizes.npz", "not a connectivity file"),
                        ("twice.npz", "a synapse twice")):
        with pytest.raises(ann.InvalidValueError, match=match):
            net.connect(a, b, "exc").connect_from_file(tmp_path / name)
    with pytest.raises(ann.InvalidValueError, match="outside this projection's"):
        net.connect(a[0:2], b, "exc").connect_from_file(path)
    assert all(not p.connected for p in net.projections)


def test_sparse_look_alikes_and_float32_psp_constants_get_tecomp_errors():
    class Fake:
        nnz = 1

        def tocsr(self):
            return "no matrix"

    net = ann.Network()
    net.setup(precision="float")
    a = net.create(2, ann.Neuron(parameters="r = 0.0"))
    b = net.create(2, ann.Neuron(equations="r = sum(exc)"))
    with pytest.raises(ann.InvalidTypeError, match=r"scipy\.sparse matrix"):
        ann.Projection(a, b, "exc", name="sparse").connect_from_sparse(Fake())
    assert not net.get_projection("sparse").connected
    net.get_projection("sparse").all_to_all(1.0)  # the projection stays usable
    net.connect(a, b, "exc", ann.Synapse(psp="w * pre.r * 1e39")).all_to_all(1.0)
    with pytest.raises(ann.InvalidValueError, match="does not fit float32"):
        net.compile(silent=True)


def test_convolution_and_pooling_psps_read_constants():
    from tecomp.extensions.convolution import Convolution, Copy, Pooling

    net = ann.Network()
    gain = net.constant("gain", 2.0)
    pre = net.create((5, 5), ann.Neuron(parameters="r = 1.0"))
    conv, pooled, copied = (net.create((5, 5), ann.Neuron(equations="r = sum(exc)"))
                            for _ in range(3))
    source = Convolution(pre, conv, "exc", psp="gain * w * pre.r").connect_filter(np.ones((3, 3)))
    Pooling(pre, pooled, "exc", psp="pre.r + gain", operation="max").connect_pooling(
        extent=(1, 1))
    Copy(pre, copied, "exc", psp="w * pre.r - gain").connect_copy(source)
    net.compile(silent=True)
    for value in (2.0, 3.0):
        gain.set(value)
        net.simulate(1)
        assert conv.r[2, 2] == 9 * value and pooled.r[2, 2] == 1 + value
        assert copied.r[2, 2] == 9 * (1 - value)
    with pytest.raises(ann.EquationError, match="unknown name 'nowhere'"):
        Convolution(pre, conv, "exc", psp="nowhere * w * pre.r")


@pytest.mark.parametrize("operation", ["sum", "max", "min", "mean"])
def test_dense_storage_of_a_sparse_pattern_equals_padded_rows(operation):
    """storage_format="dense": whole rows and a mask of the synapses that exist."""
    rng = np.random.default_rng(4)
    weights = rng.random((12, 20))
    weights[rng.random((12, 20)) < 0.6] = np.nan
    weights[3] = np.nan  # a post neuron without synapses
    results = []
    for storage in (None, "dense"):
        net = ann.Network(seed=2)
        pre = net.create(20, ann.Neuron(parameters="r = 0.0"))
        post = net.create(12, ann.Neuron(parameters="v = 1.0", equations="r = sum(exc)"))
        pre.r = rng.random(20) if storage is None else results[0][1]
        proj = net.connect(pre, post, "exc", ann.Synapse(psp="w * pre.r + post.v",
                                                         operation=operation))
        proj.connect_from_matrix(weights, delays=np.where(np.isnan(weights), 0, 1.0) *
                                 rng.integers(0, 3, weights.shape), storage_format=storage)
        assert proj.spec().layout == ("masked" if storage else "ell")
        net.compile(silent=True)
        net.simulate(3)
        results.append((np.array(post.r), np.array(pre.r)))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-12)
    assert results[0][0][3] == 0.0
    fresh = ann.Network()
    a, b = (fresh.create(4, ann.Neuron(parameters="r = 0.0")) for _ in range(2))
    with pytest.raises(ann.InvalidValueError, match="storage_format must be None or one of"):
        ann.Projection(a, b, "exc").fixed_probability(0.5, 1.0, storage_format="xyz")


def test_the_layout_of_padded_rows_is_a_tuning_choice(tmp_path, monkeypatch):
    """A pattern in padded rows may also be held as whole rows with a mask; with records of
    both, compile() takes the faster, and results, get() and set() do not change."""
    from tecomp import cache, schedules

    monkeypatch.setenv("TECOMP_CACHE", str(tmp_path))
    outputs = []
    for faster in (None, "masked", "ell"):
        net = ann.Network(seed=4)
        pre = net.create(30, ann.Neuron(parameters="r = 0.0"))
        post = net.create(20, ann.Neuron(equations="r = sum(exc)"))
        pre.r = np.linspace(0.0, 1.0, 30)
        proj = net.connect(pre, post, "exc").fixed_probability(0.4, ann.Uniform(0, 1))
        assert proj.layouts() == ("ell", "masked")
        ell, masked = proj.layout_specs()
        if faster is not None:  # records that make `faster` the faster layout
            for spec in (ell, masked):
                ms = 1.0 if spec.layout == faster else 2.0
                cache.save(spec, schedules.default_knobs(spec), ms, ms, [])
        assert proj.spec().layout == (faster or "ell")
        net.compile(silent=True)
        net.simulate(1)
        weights = proj.w
        proj.set({"w": [[2 * w for w in row] for row in weights]})
        net.simulate(1)
        outputs.append((np.array(post.r), proj.w))
    for result in outputs[1:]:
        np.testing.assert_allclose(result[0], outputs[0][0], rtol=1e-12)
        assert result[1] == outputs[0][1]
    forced = ann.Network(seed=4)
    a, b = forced.create(30, ann.Neuron(parameters="r = 0.0")), forced.create(20, ann.Neuron(
        parameters="r = 0.0"))
    assert forced.connect(a, b, "exc").fixed_probability(
        0.4, 1.0, storage_format="csr").layouts() == ("ell",)
