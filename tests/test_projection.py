"""Regular projections (tecomp.Projection) against the NumPy reference: every connector,
every operation, psps of pre and post variables and of synapse parameters, layouts,
precisions, delays and the schedule knobs of their kernels.

Sizes are small and mostly the same (12 pre, 7 post) so that networks share kernels."""

import numpy as np
import pytest
import scipy.sparse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tecomp as ann
from tecomp import build, kernels, reference, schedules
from tecomp.specs import MatrixSpec

PRE, POST = 12, 7
OPERATIONS = ["sum", "max", "min", "mean"]
DTYPE = {"double": "float64", "float": "float32"}
PROPERTY = settings(max_examples=12, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def rate():
    return ann.Neuron(parameters="r = 0.0")


def summing():
    return ann.Neuron(parameters="x = 0.0", equations="r = sum(exc)")


def layers(pre_geometry=PRE, post_geometry=POST, precision="double", seed=None):
    net = ann.Network(seed=seed, precision=precision)
    return net, net.create(pre_geometry, rate()), net.create(post_geometry, summing())


def one_step(net, pre, post, rng):
    """Compile, give pre.r and post.x random values, step once; the values given."""
    net.compile(silent=True)
    x = rng.uniform(0, 1, pre.size).reshape(pre.geometry)
    y = rng.uniform(-0.5, 0.5, post.size).reshape(post.geometry)
    pre.r = x
    if "x" in post.attributes:
        post.x = y
    net.step()
    return {"r": x}, {"x": y}


def check(proj, pre_values, post_values, psp="w * pre.r", operation="sum", parameters=None,
          precision="double", weights=None):
    """post.r after the step equals the reference over `weights` (default: the projection's
    own connectivity matrix, NaN where there is no synapse)."""
    weights = proj.connectivity_matrix(fill=np.nan) if weights is None else weights
    expected = reference.projection(weights, pre_values, post_values, psp, operation,
                                    parameters)
    terms = int(np.max((~np.isnan(weights)).sum(axis=1), initial=1))
    actual = np.asarray(proj.post.r).reshape(-1)
    err = reference.relative_error(actual, expected)
    assert err <= reference.tolerance(DTYPE[precision], terms), \
        f"relative error {err:.3g}\nactual   {actual}\nexpected {expected}"


# -- every connector ----------------------------------------------------------------------

@pytest.mark.parametrize("operation", OPERATIONS)
def test_all_to_all_with_a_weight_matrix_is_dense_and_matches(operation, rng):
    net, pre, post = layers()
    w = rng.uniform(-1, 1, (POST, PRE))
    proj = net.connect(pre, post, "exc", ann.Synapse(operation=operation)).all_to_all(w)
    mask = reference.all_to_all_mask(PRE, POST)
    np.testing.assert_array_equal(proj.connectivity_matrix(fill=np.nan), np.where(mask, w, np.nan))
    assert proj._layout == "dense"
    x, y = one_step(net, pre, post, rng)
    check(proj, x, y, operation=operation, weights=np.where(mask, w, np.nan))


@pytest.mark.parametrize("allow", [False, True])
def test_all_to_all_onto_itself_leaves_out_the_diagonal_unless_allowed(allow, rng):
    net = ann.Network()
    pop = net.create(9, ann.Neuron(equations="r = sum(exc)"))
    w = rng.uniform(-1, 1, (9, 9))
    proj = net.connect(pop, pop, "exc").all_to_all(w, allow_self_connections=allow)
    expected_w = np.where(reference.all_to_all_mask(9, 9, exclude_self=not allow), w, np.nan)
    np.testing.assert_array_equal(proj.connectivity_matrix(fill=np.nan), expected_w)
    assert proj.nb_synapses == (81 if allow else 72)
    net.compile(silent=True)
    x = rng.uniform(0, 1, 9)
    pop.r = x
    net.step()
    check(proj, {"r": x}, {}, weights=expected_w)


@pytest.mark.parametrize("allow", [False, True])
def test_all_to_all_between_two_populations_ignores_allow_self(allow, rng):
    net, pre, post = layers()
    proj = net.connect(pre, post, "exc").all_to_all(0.25, allow_self_connections=allow)
    assert proj.nb_synapses == PRE * POST


@pytest.mark.parametrize("operation", OPERATIONS)
def test_one_to_one(operation, rng):
    net, pre, post = layers(POST, POST)
    proj = net.connect(pre, post, "exc", ann.Synapse(operation=operation)).one_to_one(
        ann.Uniform(-1, 1))
    assert proj._layout == "one_to_one"
    mask = reference.one_to_one_mask(POST, POST)
    np.testing.assert_array_equal(~np.isnan(proj.connectivity_matrix(fill=np.nan)), mask)
    x, y = one_step(net, pre, post, rng)
    check(proj, x, y, operation=operation)


def test_one_to_one_between_views_is_a_padded_pattern(rng):
    net, pre, post = layers(PRE, PRE)
    proj = net.connect(pre[2:8], post[5:11], "exc").one_to_one(0.5)
    assert proj._layout == "ell"
    mask = reference.one_to_one_mask(PRE, PRE, range(2, 8), range(5, 11))
    np.testing.assert_array_equal(proj.connectivity_matrix(fill=np.nan),
                                  np.where(mask, 0.5, np.nan))
    x, y = one_step(net, pre, post, rng)
    check(proj, x, y)
    assert (post.r[:5] == 0).all() and (post.r[11:] == 0).all()


@pytest.mark.parametrize("operation", OPERATIONS)
def test_all_to_all_between_views_is_padded(operation, rng):
    net, pre, post = layers(PRE, PRE)
    proj = net.connect(pre[2:10], post[[0, 3, 4, 11]], "exc",
                       ann.Synapse(operation=operation)).all_to_all(ann.Uniform(-1, 1))
    assert proj._layout == "ell"
    np.testing.assert_array_equal(~np.isnan(proj.connectivity_matrix(fill=np.nan)),
                                  reference.all_to_all_mask(PRE, PRE, range(2, 10),
                                                            [0, 3, 4, 11]))
    assert proj.post_ranks == [0, 3, 4, 11] and proj.size == 4
    x, y = one_step(net, pre, post, rng)
    check(proj, x, y, operation=operation)


def test_all_to_all_between_views_of_one_population_excludes_self(rng):
    net = ann.Network()
    pop = net.create(PRE, ann.Neuron(equations="r = sum(exc)"))
    proj = net.connect(pop[0:8], pop[4:12], "exc").all_to_all(1.0)
    mask = reference.all_to_all_mask(PRE, PRE, range(0, 8), range(4, 12), exclude_self=True)
    np.testing.assert_array_equal(~np.isnan(proj.connectivity_matrix(fill=np.nan)), mask)


@pytest.mark.parametrize("operation", ["sum", "max"])
def test_fixed_probability(operation, rng):
    net, pre, post = layers(seed=3)
    proj = net.connect(pre, post, "exc", ann.Synapse(operation=operation)).fixed_probability(
        0.4, ann.Uniform(-1, 1))
    x, y = one_step(net, pre, post, rng)
    check(proj, x, y, operation=operation)


@pytest.mark.parametrize("operation", ["min", "mean"])
def test_fixed_number_pre(operation, rng):
    net, pre, post = layers(seed=4)
    proj = net.connect(pre, post, "exc", ann.Synapse(operation=operation)).fixed_number_pre(
        5, ann.Uniform(-1, 1))
    present = ~np.isnan(proj.connectivity_matrix(fill=np.nan))
    assert (present.sum(axis=1) == 5).all()
    x, y = one_step(net, pre, post, rng)
    check(proj, x, y, operation=operation)


@pytest.mark.parametrize("operation", ["sum", "mean"])
def test_fixed_number_post(operation, rng):
    net, pre, post = layers(seed=5)
    proj = net.connect(pre, post, "exc", ann.Synapse(operation=operation)).fixed_number_post(
        3, ann.Uniform(-1, 1))
    present = ~np.isnan(proj.connectivity_matrix(fill=np.nan))
    assert (present.sum(axis=0) == 3).all()
    x, y = one_step(net, pre, post, rng)
    check(proj, x, y, operation=operation)


@pytest.mark.parametrize("pre_g, post_g, same", [
    pytest.param((6, 5), (6, 5), True, id="2d-self"),
    pytest.param((6, 5), (3, 4), False, id="2d"),
    pytest.param(12, 7, False, id="1d"),
    pytest.param((4, 1, 3), (2, 1, 3), False, id="3d-axis-of-one"),
])
def test_gaussian_matches_the_reference_weights(pre_g, post_g, same, rng):
    net = ann.Network()
    pre = net.create(pre_g, ann.Neuron(parameters="x = 0.0", equations="r = sum(exc)"))
    post = pre if same else net.create(post_g, summing())
    proj = net.connect(pre, post, "exc").gaussian(amp=0.8, sigma=0.3, limit=0.05)
    expected = reference.gaussian_weights(pre_g, post_g, 0.8, 0.3, 0.05, exclude_self=same)
    actual = proj.connectivity_matrix(fill=np.nan)
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual, expected, rtol=1e-12)
    net.compile(silent=True)
    x = rng.uniform(0, 1, pre.geometry)
    pre.r = x
    net.step()
    check(proj, {"r": x}, {}, weights=expected)


@pytest.mark.parametrize("same", [False, True])
def test_gaussian_allows_self_connections_when_asked(same):
    net = ann.Network()
    pre = net.create((5, 5), summing())
    proj = net.connect(pre, pre, "exc").gaussian(1.0, 0.2, allow_self_connections=same)
    expected = reference.gaussian_weights((5, 5), (5, 5), 1.0, 0.2, exclude_self=not same)
    np.testing.assert_array_equal(np.isnan(proj.connectivity_matrix(fill=np.nan)),
                                  np.isnan(expected))


@pytest.mark.parametrize("pre_g, post_g, same", [
    pytest.param((6, 6), (6, 6), True, id="2d-self"),
    pytest.param((8, 6), (4, 3), False, id="2d"),
    pytest.param(15, 10, False, id="1d"),
])
def test_dog_matches_the_reference_weights(pre_g, post_g, same, rng):
    net = ann.Network()
    pre = net.create(pre_g, ann.Neuron(parameters="x = 0.0", equations="r = sum(exc)"))
    post = pre if same else net.create(post_g, summing())
    proj = net.connect(pre, post, "exc").dog(1.0, 0.15, 0.6, 0.4, limit=0.02)
    expected = reference.dog_weights(pre_g, post_g, 1.0, 0.15, 0.6, 0.4, 0.02,
                                     exclude_self=same)
    actual = proj.connectivity_matrix(fill=np.nan)
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual, expected, rtol=1e-12)
    assert (expected[~np.isnan(expected)] < 0).any()  # both signs are kept
    net.compile(silent=True)
    x = rng.uniform(0, 1, pre.geometry)
    pre.r = x
    net.step()
    check(proj, {"r": x}, {}, weights=expected)


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("missing", ["nan", "none"])
def test_from_matrix_with_missing_synapses(operation, missing, rng):
    net, pre, post = layers()
    w = rng.uniform(-1, 1, (POST, PRE))
    present = rng.random((POST, PRE)) < 0.5
    present[2] = False  # a post neuron without synapses: 0 whatever the operation
    matrix = np.where(present, w, np.nan) if missing == "nan" else \
        np.where(present, w, None).astype(object).tolist()
    proj = net.connect(pre, post, "exc", ann.Synapse(operation=operation)).from_matrix(matrix)
    expected_w = np.where(present, w, np.nan)
    np.testing.assert_array_equal(proj.connectivity_matrix(fill=np.nan), expected_w)
    assert 2 not in proj.post_ranks
    x, y = one_step(net, pre, post, rng)
    check(proj, x, y, operation=operation, weights=expected_w)
    assert post.r[2] == 0.0


def test_from_matrix_pre_post_is_the_transpose(rng):
    net, pre, post = layers()
    w = np.where(rng.random((PRE, POST)) < 0.5, rng.uniform(-1, 1, (PRE, POST)), np.nan)
    proj = net.connect(pre, post, "exc").from_matrix(w, pre_post=True)
    np.testing.assert_array_equal(proj.connectivity_matrix(fill=np.nan), w.T)


@pytest.mark.parametrize("fmt", ["csr", "coo", "csc"])
def test_from_sparse_every_stored_entry_is_a_synapse(fmt, rng):
    net, pre, post = layers()
    present = rng.random((POST, PRE)) < 0.4
    present[1, 3], present[4] = True, False
    rows, cols = np.nonzero(present)
    data = rng.uniform(-1, 1, len(rows))
    data[(rows == 1) & (cols == 3)] = 0.0  # a stored zero is a synapse of weight 0
    matrix = scipy.sparse.coo_matrix((data, (rows, cols)), shape=(POST, PRE)).asformat(fmt)
    proj = net.connect(pre, post, "exc").from_sparse(matrix)
    expected_w = np.full((POST, PRE), np.nan)
    expected_w[rows, cols] = data
    np.testing.assert_array_equal(proj.connectivity_matrix(fill=np.nan), expected_w)
    x, y = one_step(net, pre, post, rng)
    check(proj, x, y, weights=expected_w)


def test_from_file_after_save_connectivity(rng, tmp_path):
    net, pre, post = layers(seed=9)
    syn = ann.Synapse(psp="w * pre.r + post.x", operation="mean")
    proj = net.connect(pre, post, "exc", syn).fixed_probability(0.5, ann.Uniform(-1, 1),
                                                                delays=2.0)
    proj.save_connectivity(tmp_path / "proj.npz")
    net2, pre2, post2 = layers()
    copy = net2.connect(pre2, post2, "exc", syn).from_file(str(tmp_path / "proj.npz"))
    np.testing.assert_array_equal(copy.connectivity_matrix(fill=np.nan),
                                  proj.connectivity_matrix(fill=np.nan))
    assert (copy.post_ranks, copy.nb_synapses, copy.delays) == \
        (proj.post_ranks, proj.nb_synapses, 2.0)
    net2.compile(silent=True)
    x = rng.uniform(0, 1, PRE)
    pre2.r = x
    post2.x = rng.uniform(-1, 1, POST)
    for _ in range(3):  # delay 2: the third step reads the values of the end of step 1
        net2.step()
    check(copy, {"r": x}, {"x": post2.x}, syn.psp, "mean")


# -- psps and synapse parameters ----------------------------------------------------------

PSPS = ["w * pre.r", "w * log(1 + pre.r)", "w * (pre.r - post.x)", "pos(w - pre.r) * post.x",
        "tanh(w) * pre.r ** 2 + 0.5", "clip(w * pre.r, -0.3, 0.3) + exp(-post.x)"]


@pytest.mark.parametrize("psp", PSPS)
def test_psps_of_pre_and_post(psp, rng):
    net, pre, post = layers(seed=11)
    proj = net.connect(pre, post, "exc", ann.Synapse(psp=psp, operation="max")).fixed_number_pre(
        6, ann.Uniform(-1, 1))
    x, y = one_step(net, pre, post, rng)
    check(proj, x, y, psp, "max")


def synapse_with_parameters(form, operation="sum"):
    psp = "g * w * pre.r + h * post.x + k"
    if form == "string":
        return ann.Synapse(parameters="g = 0.5\nh = 2.0 : postsynaptic\nk = -0.25 : projection",
                           psp=psp, operation=operation)
    return ann.Synapse(parameters={"g": ann.Parameter(0.5, locality="local"),
                                   "h": ann.Parameter(2.0, locality="semiglobal"),
                                   "k": -0.25}, psp=psp, operation=operation)


@pytest.mark.parametrize("form", ["string", "dict"])
@pytest.mark.parametrize("operation", ["sum", "min"])
def test_synapse_parameters_of_each_locality(form, operation, rng):
    net, pre, post = layers(seed=12)
    syn = synapse_with_parameters(form, operation)
    assert syn.locality == {"g": "local", "h": "postsynaptic", "k": "projection"}
    proj = net.connect(pre, post, "exc", syn).fixed_probability(0.6, ann.Uniform(-1, 1))
    w = proj.connectivity_matrix(fill=np.nan)
    g = np.where(np.isnan(w), np.nan, rng.uniform(0, 1, w.shape))
    proj.set({"g": [row[~np.isnan(row)].tolist() for row in g[proj.post_ranks]]})
    h = rng.uniform(-1, 1, POST)
    proj.set({"h": h[proj.post_ranks].tolist()})
    x, y = one_step(net, pre, post, rng)
    params = {"g": g, "h": h, "k": -0.25}
    check(proj, x, y, syn.psp, operation, params)
    # set after compile: the next step uses them, nothing recompiled
    kernels_before = list(net.engine.kernel_names)
    proj.k = 1.5
    proj.g = 2.0
    net.step()
    check(proj, x, y, syn.psp, operation, {"g": 2.0, "h": h, "k": 1.5})
    assert net.engine.kernel_names == kernels_before


# -- precisions and delays ----------------------------------------------------------------

@pytest.mark.parametrize("precision", ["float", "double"])
@pytest.mark.parametrize("connector", ["all_to_all", "one_to_one", "from_matrix"])
def test_precisions(precision, connector, rng):
    net, pre, post = layers(POST, POST, precision=precision)
    proj = net.connect(pre, post, "exc", ann.Synapse(psp="w * log(1 + pre.r) + post.x"))
    if connector == "from_matrix":
        proj.from_matrix(np.where(rng.random((POST, POST)) < 0.5,
                                  rng.uniform(-1, 1, (POST, POST)), np.nan))
    else:
        getattr(proj, connector)(ann.Uniform(-1, 1))
    x, y = one_step(net, pre, post, rng)
    assert post.r.dtype == np.dtype(DTYPE[precision])
    check(proj, x, y, proj.psp, precision=precision)


@pytest.mark.parametrize("delay", [1.0, 3.0])
@pytest.mark.parametrize("connector", ["all_to_all", "one_to_one", "fixed_probability"])
def test_uniform_delays_read_pre_as_at_the_end_of_step_k_minus_n(delay, connector, rng):
    net, pre, post = layers(POST, POST, seed=2)
    proj = net.connect(pre, post, "exc", ann.Synapse(operation="mean"))
    if connector == "fixed_probability":
        proj.fixed_probability(0.5, ann.Uniform(-1, 1), delays=delay)
    else:
        getattr(proj, connector)(ann.Uniform(-1, 1), delays=delay)
    assert proj.delays == delay
    initial = rng.uniform(0, 1, POST)
    pre.r = initial
    net.compile(silent=True)
    n = int(delay)
    inputs = []
    for step in range(n + 3):
        inputs.append(rng.uniform(0, 1, POST))
        pre.r = inputs[-1]
        net.step()
        source = inputs[step - n] if step >= n else initial
        check(proj, {"r": source}, {}, operation="mean")


def test_a_delay_in_steps_of_a_dt_other_than_1(rng):
    net = ann.Network(dt=0.5)
    pre, post = net.create(POST, rate()), net.create(POST, summing())
    proj = net.connect(pre, post, "exc").one_to_one(2.0, delays=1.0)
    assert proj.delay_steps(0.5) == 2
    net.compile(silent=True)
    inputs = [rng.uniform(0, 1, POST) for _ in range(4)]
    for step, x in enumerate(inputs):
        pre.r = x
        net.step()
        np.testing.assert_allclose(post.r, 2 * inputs[step - 2] if step >= 2 else 0.0)


# -- schedule knobs -----------------------------------------------------------------------

def spec_and_inputs(layout, operation, psp, dtype, rng):
    """A MatrixSpec built by hand (no Projection), its kernel arguments and the reference."""
    pre, post = 24, 8
    synapse = ann.Synapse(psp=psp, parameters="g = 0.5\nh = 1.0 : postsynaptic\n"
                          "k = 0.0 : projection", operation=operation)
    tree = synapse.psp_tree
    from tecomp.expr import Kind, names

    read = names(tree, Kind.VAR)
    local = tuple(n for n in ("g",) if n in read)
    dendrite = tuple(n for n in ("h",) if n in read)
    one = tuple(n for n in ("k",) if n in read)
    weights = np.full((post, pre), np.nan)
    if layout == "dense":
        weights[:] = rng.uniform(-1, 1, (post, pre))
        row = pre
    elif layout == "one_to_one":
        pre = post
        weights = np.full((post, pre), np.nan)
        weights[np.arange(post), np.arange(post)] = rng.uniform(-1, 1, post)
        row = 1
    else:
        counts = rng.integers(0, 13, post)
        counts[3] = 0
        for i, c in enumerate(counts):
            weights[i, rng.choice(pre, c, replace=False)] = rng.uniform(-1, 1, c)
        row = 16
    spec = MatrixSpec(layout, pre, post, row, operation, tree, ("w", *local), dendrite, one,
                      dtype=dtype)
    x, y = rng.uniform(0, 1, pre), rng.uniform(-1, 1, post)
    g = np.where(np.isnan(weights), np.nan, rng.uniform(0, 1, weights.shape))
    h, k = rng.uniform(-1, 1, post), np.array([0.3])
    per_synapse = {}
    for name, full in (("w", weights), ("g", g)):
        if layout == "dense":
            per_synapse[name] = full
        elif layout == "one_to_one":
            per_synapse[name] = full[np.arange(post), np.arange(post)]
        else:
            table = np.zeros((post, row))
            for i in range(post):
                js = np.flatnonzero(~np.isnan(weights[i]))
                table[i, :len(js)] = full[i, js]
            per_synapse[name] = table
    args = [x] if spec.pre_vars else []
    args += [y] if spec.post_vars else []
    args += [per_synapse[n] for n in spec.synapse_vars]
    if layout == "ell":
        ranks = np.zeros((post, row), np.int32)
        for i in range(post):
            js = np.flatnonzero(~np.isnan(weights[i]))
            ranks[i, :len(js)] = js
        args += [ranks, (~np.isnan(weights)).sum(axis=1).astype(np.int32)]
    args += [h for _ in dendrite] + [k for _ in one]
    expected = reference.projection(weights, {"r": x}, {"x": y}, psp, operation,
                                    {"g": g, "h": h, "k": k[0]})
    return spec, args, expected


@pytest.mark.parametrize("layout, operation, psp, dtype", [
    ("dense", "mean", "w * pre.r - post.x", "float64"),
    ("dense", "max", "g * w * log(1 + pre.r) + h", "float32"),
    ("ell", "mean", "g * w * pre.r + k", "float32"),
    ("ell", "min", "w * exp(-pre.r) * post.x", "float64"),
    ("one_to_one", "sum", "w * pre.r + post.x", "float32"),
    ("one_to_one", "max", "g * w * sqrt(pre.r)", "float64"),
])
def test_every_schedule_candidate_gives_the_reference(layout, operation, psp, dtype):
    rng = np.random.default_rng(hash((layout, operation)) % 2**32)
    spec, args, expected = spec_and_inputs(layout, operation, psp, dtype, rng)
    space = schedules.candidates(spec)
    assert schedules.default_knobs(spec) in space
    dtypes = [d for _, d in kernels.signature(spec)]
    picks = [schedules.default_knobs(spec)] + [space[i] for i in rng.choice(
        len(space), size=min(2, len(space)), replace=False)]
    for knobs in picks:
        out = build.aligned_empty((spec.post,), dtype)
        kernels.compile_kernel(spec, knobs)(
            *(build.aligned_copy(a, d) for a, d in zip(args, dtypes, strict=False)), out)
        err = reference.relative_error(out, expected.astype(dtype))
        assert err <= reference.tolerance(dtype, spec.row), f"{knobs}: {err:.3g}"


# -- properties over random patterns ------------------------------------------------------

@st.composite
def matrices(draw):
    pre = draw(st.sampled_from([5, 12]))
    post = draw(st.sampled_from([4, 7]))
    seed = draw(st.integers(0, 2**32 - 1))
    density = draw(st.sampled_from([0.0, 0.2, 0.6, 1.0]))
    rng = np.random.default_rng(seed)
    present = rng.random((post, pre)) < density
    return dict(weights=np.where(present, rng.uniform(-1, 1, (post, pre)), np.nan),
                psp=draw(st.sampled_from(PSPS[:4])), operation=draw(st.sampled_from(OPERATIONS)),
                delay=draw(st.integers(0, 2)), precision=draw(st.sampled_from(["double", "float"])),
                seed=seed)


@PROPERTY
@given(matrices())
def test_from_matrix_matches_the_reference(case):
    net, pre, post = layers(case["weights"].shape[1], case["weights"].shape[0],
                            precision=case["precision"])
    proj = net.connect(pre, post, "exc", ann.Synapse(psp=case["psp"],
                                                    operation=case["operation"]))
    proj.from_matrix(case["weights"], delays=float(case["delay"]))
    rng = np.random.default_rng(case["seed"])
    initial = rng.uniform(0, 1, pre.size)
    pre.r = initial
    net.compile(silent=True)
    y = rng.uniform(-0.5, 0.5, post.size)
    post.x = y
    inputs = []
    for step in range(case["delay"] + 2):
        inputs.append(rng.uniform(0, 1, pre.size))
        pre.r = inputs[-1]
        net.step()
        source = inputs[step - case["delay"]] if step >= case["delay"] else initial
        check(proj, {"r": source}, {"x": y}, case["psp"], case["operation"],
              precision=case["precision"], weights=proj.connectivity_matrix(fill=np.nan))
    np.testing.assert_array_equal(np.isnan(proj.connectivity_matrix(fill=np.nan)),
                                  np.isnan(case["weights"]))


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.integers(0, 2**32 - 1), st.booleans())
def test_fixed_number_pre_rows_have_n_distinct_ranks_never_self(pre_size, extra, seed, same):
    net = ann.Network(seed=seed)
    pre = net.create(pre_size + (1 if same else 0), summing())
    post = pre if same else net.create(extra, summing())
    n = np.random.default_rng(seed).integers(0, pre_size + 1)
    proj = net.connect(pre, post, "exc").fixed_number_pre(int(n), 1.0)
    present = ~np.isnan(proj.connectivity_matrix(fill=np.nan))
    assert (present.sum(axis=1) == n).all()
    if same:
        assert not present.diagonal().any()
    for d in proj.dendrites:
        assert len(set(d.pre_ranks)) == d.size == n
        assert d.pre_ranks == sorted(d.pre_ranks)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.integers(0, 2**32 - 1), st.booleans())
def test_fixed_number_post_columns_have_n_never_self(post_size, extra, seed, same):
    net = ann.Network(seed=seed)
    post = net.create(post_size + (1 if same else 0), summing())
    pre = post if same else net.create(extra, rate())
    n = np.random.default_rng(seed).integers(0, post_size + 1)
    proj = net.connect(pre, post, "exc").fixed_number_post(int(n), 1.0)
    present = ~np.isnan(proj.connectivity_matrix(fill=np.nan))
    assert (present.sum(axis=0) == n).all()
    if same:
        assert not present.diagonal().any()


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 1.0])
def test_fixed_probability_density_is_near_p(p):
    net = ann.Network(seed=21)
    pre, post = net.create(200, rate()), net.create(150, summing())
    proj = net.connect(pre, post, "exc").fixed_probability(p, 1.0)
    n = 200 * 150
    # 5 standard deviations of a binomial
    assert abs(proj.nb_synapses - p * n) <= 5 * np.sqrt(n * p * (1 - p)) + 1e-9


def test_fixed_probability_onto_itself_never_has_self_and_p_1_is_all_but_self():
    net = ann.Network(seed=22)
    pop = net.create(20, summing())
    proj = net.connect(pop, pop, "exc").fixed_probability(1.0, 1.0)
    np.testing.assert_array_equal(~np.isnan(proj.connectivity_matrix(fill=np.nan)),
                                  reference.all_to_all_mask(20, 20, exclude_self=True))


@pytest.mark.parametrize("connector", [
    ("fixed_probability", 0.3), ("fixed_number_pre", 4), ("fixed_number_post", 3)])
def test_same_seed_same_pattern_other_seed_other_pattern(connector):
    def pattern(seed):
        net = ann.Network(seed=seed)
        pre, post = net.create(30, rate()), net.create(20, summing())
        proj = getattr(net.connect(pre, post, "exc"), connector[0])(connector[1],
                                                                     ann.Uniform(0, 1))
        return proj.connectivity_matrix(fill=np.nan)

    np.testing.assert_array_equal(pattern(5), pattern(5))
    assert not np.array_equal(pattern(5), pattern(6), equal_nan=True)


# -- the reference itself, by hand --------------------------------------------------------

def test_the_reference_by_hand():
    w = np.array([[1.0, np.nan, 2.0], [np.nan, np.nan, np.nan], [-1.0, 0.5, np.nan]])
    pre, post = {"r": np.array([1.0, 2.0, 3.0])}, {"x": np.array([10.0, 20.0, 30.0])}
    project = reference.projection
    np.testing.assert_array_equal(project(w, pre, post, "w * pre.r", "sum"), [7.0, 0.0, 0.0])
    np.testing.assert_array_equal(project(w, pre, post, "w * pre.r", "max"), [6.0, 0.0, 1.0])
    np.testing.assert_array_equal(project(w, pre, post, "w * pre.r", "min"), [1.0, 0.0, -1.0])
    np.testing.assert_array_equal(project(w, pre, post, "w * pre.r", "mean"), [3.5, 0.0, 0.0])
    np.testing.assert_array_equal(project(w, pre, post, "w + post.x + g", "sum",
                                          {"g": np.array([0.0, 0.0, 1.0])}),
                                  [23.0, 0.0, 61.5])
    with np.errstate(invalid="ignore"):  # the NaN term of w = -1 is skipped
        np.testing.assert_array_equal(project(w, pre, post, "log(w) * 0 + pre.r", "max"),
                                      [3.0, 0.0, 2.0])
    np.testing.assert_array_equal(reference.all_to_all_mask(3, 2, [0, 2], [1], True),
                                  [[False, False, False], [True, False, True]])
    np.testing.assert_array_equal(reference.one_to_one_mask(3, 2, [2, 0], [0, 1]),
                                  [[False, False, True], [True, False, False]])
    np.testing.assert_array_equal(reference.normalized_coordinates((3, 1)),
                                  [[0.0, 0.0], [0.5, 0.0], [1.0, 0.0]])
    # 1-D, 3 neurons at 0, 0.5, 1: d2 = 0, 0.25, 1 from the first
    g = reference.gaussian_weights(3, 3, 2.0, 0.5, limit=0.1)
    np.testing.assert_allclose(g[0], [2.0, 2.0 * np.exp(-0.5), 2.0 * np.exp(-2.0)])
    g = reference.gaussian_weights(3, 3, 2.0, 0.5, limit=0.2, exclude_self=True)  # 0.27 < 0.4
    np.testing.assert_allclose(g[0], [np.nan, 2.0 * np.exp(-0.5), np.nan])
    d = reference.dog_weights(3, 3, 1.0, 0.5, 0.5, 1.0, limit=0.1)
    np.testing.assert_allclose(d[0, :2], [0.5, np.exp(-0.5) - 0.5 * np.exp(-0.125)])


@pytest.mark.parametrize("operation", ["max", "min"])
def test_max_and_min_skip_nan_terms(operation, rng):
    net, pre, post = layers()
    w = rng.uniform(-1, 1, (POST, PRE))
    w[0] = -np.abs(w[0])  # every term NaN: the start value stays
    proj = net.connect(pre, post, "exc", ann.Synapse(psp="sqrt(w) * pre.r",
                                                    operation=operation)).all_to_all(w)
    with np.errstate(invalid="ignore"):
        x, y = one_step(net, pre, post, rng)
        check(proj, x, y, "sqrt(w) * pre.r", operation)
