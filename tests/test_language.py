"""The neuron language of ANNarchy 5.0.4.1: `if c: a else: b`, population-wide operations,
`: int` and `: bool` attributes, Constants and random draws inside equations. ANNarchy's own
test cases (tests/Common/test_ITE.py, tests/Neuron/test_GlobalOperations.py) appear with
their expected numbers; everything else is checked against an independent NumPy loop."""

import re

import numpy as np
import pytest

import tecomp as ann
from tecomp import kernels, philox, schedules
from tecomp.build import aligned_copy, aligned_empty
from tecomp.expr import FUNCTIONS, ITE, REDUCTIONS, Kind, parse
from tecomp.extensions.convolution import Convolution
from tecomp.specs import NeuronSpec
from tests.helpers import assert_close

RNG = np.random.default_rng(11)
X = RNG.uniform(-1.5, 2.5, 40)  # the summed input of the driven populations


def driven(neuron, x=X, net=None, dt=1.0):
    """A population of `neuron` whose sum(exc) is `x` (a 1-tap identity convolution)."""
    net = ann.Network(dt=dt) if net is None else net
    inp = net.create(len(x), ann.Neuron(parameters="r = 0.0"))
    pop = net.create(len(x), neuron)
    net.connect(Convolution(inp, pop, "exc")).connect_filter(np.array([1.0]))
    inp.r = x
    return net, pop


def caret(line, column):
    return rf"\n    {re.escape(line)}\n    {' ' * column}\^$"


def bad(pattern, line=None, column=None, **kwargs):
    with pytest.raises(ann.EquationError) as info:
        ann.Neuron(**kwargs)
    assert re.search(pattern, str(info.value)), str(info.value)
    if line is not None:
        assert re.search(caret(line, column), str(info.value)), str(info.value)


# -- if condition: a else: b ---------------------------------------------------------------------

def test_annarchy_test_ite():
    """ANNarchy's tests/Common/test_ITE.py: after simulate(10), r = 0, 2, 4, 0, 2, 4."""
    neurons = [
        ann.Neuron(equations="r = if (t is 1): 1.0 else: 0.0"),
        ann.Neuron(parameters="state = 1.0", equations="""
            r = if (t <= 5):
                    0
                else:
                    if (t >= 7):
                        2
                    else:
                        1
        """),
        ann.Neuron(equations="dr/dt = if t > 5: 1 else: 0"),
        ann.Neuron(equations="r = ite(t is 1, 1.0, 0.0)"),
        ann.Neuron(parameters="state = 2.0",
                   equations="r = ite(state >= 2, 2, ite(state == 1, 1, 0))"),
        ann.Neuron(equations="dr/dt = ite((t > 5) and (t <20), 1, 0)"),
    ]
    net = ann.Network()
    pops = [net.create(1, n) for n in neurons]
    net.compile()
    net.reset()
    net.simulate(10)
    assert [float(p.r[0]) for p in pops] == [0.0, 2.0, 4.0, 0.0, 2.0, 4.0]


ITE_CASES = {
    "a": ("if sum(exc) > 1.0: 1.0 else: 0.0", lambda s: np.where(s > 1, 1.0, 0.0)),
    "b": ("if s > 0: (if s > 1: 1 else: 2) else: 3",
          lambda s: np.where(s > 0, np.where(s > 1, 1.0, 2.0), 3.0)),
    "c": ("if s > 0: if s > 1: 1 else: 2 else: 3",
          lambda s: np.where(s > 0, np.where(s > 1, 1.0, 2.0), 3.0)),
    "d": ("if s < 0: -s else: if s < 1: 0 else: if s < 2: s else: 2 * s",
          lambda s: np.where(s < 0, -s, np.where(s < 1, 0.0, np.where(s < 2, s, 2 * s)))),
    "e": ("2 * (if s > 0.5 and not s > 2 or s < -1: s else: -s) + 1",
          lambda s: 2 * np.where(((s > 0.5) & ~(s > 2)) | (s < -1), s, -s) + 1),
    "f": ("exp((if s is 0: 1 else: 0)) + (if s is not 0: s else: 5)",
          lambda s: np.exp(np.where(s == 0, 1.0, 0.0)) + np.where(s != 0, s, 5.0)),
    "g": ("if (s > 0): pos(s) else: (if s > -1: s * s else: 4 if s < -1.2 else 5)",
          lambda s: np.where(s > 0, s, np.where(s > -1, s * s, np.where(s < -1.2, 4.0, 5.0)))),
    "h": ("if s > 0: 10 else: -10 : max = 5, min = -7",
          lambda s: np.where(s > 0, 5.0, -7.0)),
    "i": ("relu(s) + if_fn(s)", lambda s: np.maximum(s, 0) + np.where(s > 1, 1.0, -1.0)),
}


def test_if_else_forms_against_numpy():
    lines = [f"{name} = {source}" for name, (source, _) in ITE_CASES.items()]
    neuron = ann.Neuron(
        equations="s = sum(exc)\n" + "\n".join(lines) + "\ndo/dt = if s > 0: s else: -1",
        functions="relu(x) = if x > 0: x else: 0\nif_fn(x) = ite(x > 1, 1, -1)")
    net, pop = driven(neuron)
    net.compile()
    o = np.zeros_like(X)
    for _ in range(3):
        net.step()
        o = o + np.where(X > 0, X, -1.0)
        for name, (_, function) in ITE_CASES.items():
            assert_close(getattr(pop, name), function(X))
        assert_close(pop.o, o)


def test_if_else_is_an_ite_and_takes_flags_after_it():
    neuron = ann.Neuron(equations="r = if sum(exc) > 1: 1 else: 0 : min = 0.5, init = 3")
    (eq,) = neuron.equations
    assert eq.expr[:2] == (Kind.CALL, "ite") and eq.min == (Kind.CONST, 0.5)
    assert neuron.init["r"] == 3.0
    same = ann.Neuron(equations="r = ite(sum(exc) > 1, 1, 0) : min = 0.5, init = 3")
    assert same.equations[0].expr == eq.expr


@pytest.mark.parametrize("equation, pattern, column", [
    ("r = if sum(exc) > 1: 1", r"this if has no 'else:'", 4),
    ("r = if sum(exc) > 1 1 else: 0", r"this if needs ':' after its condition", 4),
    ("r = if sum(exc) > 1: else: 0", r"expected an expression here", 20),
    ("r = if sum(exc) > 1: 1 else:", r"expected an expression here", 28),
    ("r = 2 * if sum(exc) > 1: 1 else: 0", r"must start an expression.*parentheses", 8),
    ("r = sum(exc) > 1", r"condition is only allowed as the first argument of ite.*or between "
                         r"if and ':'", 4),
    ("r = if sum(exc) in 1: 1 else: 0", r"unsupported comparison In", 7),
])
def test_if_else_errors_point_at_the_line(equation, pattern, column):
    bad(pattern, equation, column, equations=equation)


def test_multi_line_equations_continue_and_errors_quote_the_joined_line():
    neuron = ann.Neuron(equations="r = if t < 2:\n   1\n  else:\n   2\nq = r : min = 1.5")
    assert [eq.target for eq in neuron.equations] == ["r", "q"]
    bad(r"this if has no 'else:'", "r = if t < 2: 1 else 2", 4,
        equations="r = if t < 2:\n 1\n else 2")
    bad(r"expected 'name = expression'", equations="r sum(exc)")


# -- population-wide operations ------------------------------------------------------------------

GLOBAL_NEURON = dict(parameters="r = 0", equations="""
    mean_r = mean(r)
    max_r = max(r)
    min_r = min(r)
    l1 = norm1(r)
    l2 = norm2(r)
""")


@pytest.mark.parametrize("geometry", [6, (2, 3)])
def test_annarchy_test_global_operations(geometry):
    """ANNarchy's tests/Neuron/test_GlobalOperations.py (1D and 2D): after r is set, the
    first step computes the values and the second makes them visible."""
    net = ann.Network()
    pop = net.create(geometry, ann.Neuron(**GLOBAL_NEURON))
    net.compile()
    for _ in range(2):  # the ANNarchy test resets between its test methods
        pop.r = np.reshape([2.0, 1.0, 0.0, -5.0, -3.0, -1.0], pop.geometry)
        net.simulate(2)
        np.testing.assert_allclose(pop.mean_r, -1.0)
        np.testing.assert_allclose(pop.max_r, 2.0)
        np.testing.assert_allclose(pop.min_r, -5.0)
        np.testing.assert_allclose(pop.l1, 12.0)
        np.testing.assert_allclose(pop.l2, np.linalg.norm(pop.r.ravel(), ord=2))
        net.reset()
        np.testing.assert_array_equal(net.engine.globals[pop]["mean(r)"], [0.0])


@pytest.mark.parametrize("precision", ["double", "float"])
def test_large_population_against_numpy(precision):
    """ANNarchy's 500-neuron case, and a size that is no multiple of the vector width."""
    for size in (500, 100_003):
        net = ann.Network(precision=precision)
        pop = net.create(size, ann.Neuron(**GLOBAL_NEURON))
        net.compile()
        values = RNG.normal(0.3, 2.0, size)
        pop.r = values
        net.simulate(2)
        stored = pop.r  # in the network's precision
        dtype = "float32" if precision == "float" else "float64"
        for name, op in (("mean_r", "mean"), ("max_r", "max"), ("min_r", "min"),
                         ("l1", "norm1"), ("l2", "norm2")):
            want = REDUCTIONS[op].numpy(stored.astype(np.float64))
            assert_close(getattr(pop, name), np.full(size, want), dtype)


def test_one_step_lag_as_annarchy():
    """An update reads the operations of the values the previous step ended with (0 at the
    first step); a value set between steps counts once a step has ended with it."""
    neuron = ann.Neuron(parameters="g = 0.5 : population", equations="""
        r = sum(exc) + g * mean(r)
        spread = max(r) - min(r)
        u = norm2(r) / norm1(r)
    """)
    net, pop = driven(neuron)
    net.compile()
    previous = {"mean": 0.0, "max": 0.0, "min": 0.0, "norm1": 0.0, "norm2": 0.0}
    for step in range(6):
        if step == 3:
            pop.r = np.full(X.shape, 100.0)  # overwritten by the step before any reduction
        r = X + 0.5 * previous["mean"]
        spread = previous["max"] - previous["min"]
        u = previous["norm2"] / previous["norm1"] if previous["norm1"] else np.nan
        with np.errstate(invalid="ignore"):
            net.step()
        assert_close(pop.r, r)
        assert_close(pop.spread, np.full(X.shape, spread))
        if step:
            assert_close(pop.u, np.full(X.shape, u))
        previous = {op: REDUCTIONS[op].numpy(r) for op in previous}


def test_multi_use_and_one_reduction_kernel_per_population():
    """ANNarchy's test_GlobalOps_MultiUse, plus the kernel the plan shows the tuner."""
    neuron = ann.Neuron(parameters="r = 0", equations="tmp = max(r)\ntmp2 = max(r)\n"
                                                      "tmp3 = mean(r) + mean(r)")
    net = ann.Network()
    pop = net.create(6, neuron)
    net.compile()
    pop.r = [2.0, 1.0, 0.0, -5.0, -3.0, -1.0]
    net.simulate(2)
    np.testing.assert_allclose(pop.r, [2.0, 1.0, 0.0, -5.0, -3.0, -1.0])
    np.testing.assert_allclose(pop.tmp3, -2.0)
    the_plan = net.engine.plan
    (reduction,) = the_plan.reductions
    assert reduction.spec.outputs == ("max(r)", "mean(r)") and reduction.spec.reduction
    assert reduction.spec in the_plan.specs
    assert the_plan.update_of(pop).scalars == ("max(r)", "mean(r)")
    assert net.engine.kernel_names[-1] == f"global operations {pop.name}"
    assert set(net.engine.profile(repeat=2)) == set(net.engine.kernel_names)


def test_every_reduction_schedule_matches_numpy():
    """Each candidate a tuner may try, on a size with a tail after the vector blocks."""
    ops = ("max(r)", "mean(r)", "min(r)", "norm1(r)", "norm2(r)")
    for dtype in ("float64", "float32"):
        spec = NeuronSpec(1037, ("r",), (), (), ops, tuple((Kind.GLOBAL, o) for o in ops),
                          dtype, reduction=True)
        values = aligned_copy(RNG.normal(size=spec.size), dtype)
        want = [REDUCTIONS[o.split("(")[0]].numpy(values.astype(np.float64)) for o in ops]
        assert schedules.default_knobs(spec) in schedules.candidates(spec)
        for knobs in schedules.candidates(spec)[::3]:
            outputs = [aligned_empty((1,), dtype) for _ in ops]
            kernels.compile_kernel(spec, knobs)(values, *outputs)
            for got, expected in zip(outputs, want, strict=True):
                assert_close(got, np.array([expected]), dtype)


def test_reduction_of_a_neuron_without_projection_and_float32_int_values():
    neuron = ann.Neuron(parameters="k = 0 : int", equations="m = mean(k) + max(k)")
    net = ann.Network(precision="float")
    pop = net.create(10, neuron)
    net.compile()
    pop.k = np.arange(10)
    net.simulate(2)
    assert_close(pop.m, np.full(10, 4.5 + 9.0), "float32")


@pytest.mark.parametrize("equations, pattern, column", [
    ("m = mean(tau)", r"mean\(\) takes a per-neuron parameter or variable of this neuron; "
                      r"'tau' is not one", 4),
    ("m = max(r, 2)", r"max\(\) takes one per-neuron variable of this neuron", 4),
    ("m = norm2(t)", r"norm2\(\) takes a per-neuron", 4),
    ("m = 2 * min(nothing)", r"'nothing' is not one", 8),
])
def test_bad_population_wide_operations(equations, pattern, column):
    bad(pattern, equations, column, parameters="tau = 1.0 : population\nr = 0", equations=equations)


def test_function_bodies_have_no_population_wide_operations():
    bad(r"unknown function mean\(\)", functions="f(x) = mean(x)")


# -- int and bool --------------------------------------------------------------------------------

def test_typed_parameters_convert_as_annarchy():
    neuron = ann.Neuron(parameters="""
        a = 2.7 : int
        b = -2.7 : int, population
        c = True
        d = 0.5 : bool
        e = false
        f = 1 : bool, population
        g = 3.5
    """)
    assert neuron.parameters == {"a": 2.0, "b": -2.0, "c": 1.0, "d": 1.0, "e": 0.0, "f": 1.0,
                                 "g": 3.5}
    assert neuron.types == {"a": "int", "b": "int", "c": "bool", "d": "bool", "e": "bool",
                            "f": "bool"}
    typed = ann.Neuron(parameters={"a": ann.Parameter(-3.9, "local", int),
                                   "b": ann.Parameter(True, type="bool"),
                                   "c": ann.Parameter(2.5, type="float")})
    assert typed.parameters == {"a": -3.0, "b": 1.0, "c": 2.5}
    assert typed.types == {"a": "int", "b": "bool"} and typed.shared == {"b", "c"}


def test_typed_values_read_back_as_annarchy():
    """What `pop.x` should give (ANNarchy 5: int64 and bool arrays, Python int and bool
    for population-wide ones)."""
    neuron = ann.Neuron(parameters="a = 2 : int\nb = 1 : int, population\nc = True\n"
                                   "d = 0 : bool, population\ne = 1.5")
    ints = neuron.typed("a", np.array([2.0, -3.0]))
    assert ints.dtype == np.int64 and ints.tolist() == [2, -3]
    bools = neuron.typed("c", np.array([1.0, 0.0]))
    assert bools.dtype == np.bool_ and bools.tolist() == [True, False]
    assert neuron.typed("b", np.array([4.0])) == 4 and type(neuron.typed("b", [4.0])) is int
    assert neuron.typed("d", np.array([0.0])) is False
    assert neuron.typed("e", np.array([1.5])).tolist() == [1.5]


def test_int_and_bool_assignments_convert_each_step():
    neuron = ann.Neuron(parameters="k = 2.7 : int\nflag = True : population", equations="""
        n = 3 * sum(exc) : int
        m = 3 * sum(exc) : int, max = 2.5, min = -1.5
        dc/dt = 1.5 : int
        dz/dt = 0.7 : int
        tau * dv/dt + v = 10 * sum(exc) : int, exponential
        above = sum(exc) > 1 : bool
        nz = sum(exc) - 1 : bool
        both = above and not nz or flag == 0 : bool
        r = if above: k * sum(exc) else: if nz: -1 else: 0
    """.replace("tau", "4.0"))
    net, pop = driven(neuron)
    net.compile()
    c, z, v = np.zeros_like(X), np.zeros_like(X), np.zeros_like(X)
    decay = 1 - np.exp(-1 / 4.0)
    for step in range(4):
        if step == 2:
            pop.k = 3.9  # an int attribute is read as an int
            pop.flag = 0.0
        k, flag = (2.0, 1.0) if step < 2 else (3.0, 0.0)
        n = np.trunc(3 * X)
        m = np.trunc(np.maximum(np.minimum(np.trunc(3 * X), 2.0), -1.0))  # trunc(2.5), trunc(-1.5)
        c, z = np.trunc(c + 1.5), np.trunc(z + 0.7)
        v = np.trunc(v + decay * (10 * X - v))
        positive = (X > 1).astype(float)
        nonzero = (X - 1 != 0).astype(float)
        both = ((positive != 0) & ~(nonzero != 0) | (flag == 0)).astype(float)
        r = np.where(positive != 0, k * X, np.where(nonzero != 0, -1.0, 0.0))
        net.step()
        for name, want in (("n", n), ("m", m), ("c", c), ("z", z), ("v", v), ("above", positive),
                           ("nz", nonzero), ("both", both), ("r", r)):
            assert_close(getattr(pop, name), want)
    assert neuron.types["v"] == "int" and neuron.types["above"] == "bool"


@pytest.mark.parametrize("kwargs, pattern", [
    ({"parameters": "a = 1 : int, bool"}, r"one type per parameter, got int and bool"),
    ({"equations": "r = 1 : bool, int"}, r"one type per variable, got bool and int"),
    ({"equations": "r = 1 : int = 2"}, r"unknown flag 'int'"),
    ({"parameters": "a = 1 : double"}, r"unknown flag 'double'; expected one of population, "
                                       r"float, int, bool"),
])
def test_bad_types(kwargs, pattern):
    bad(pattern, **kwargs)


def test_bad_parameter_type_in_a_dict():
    with pytest.raises(ann.InvalidValueError, match=r"type must be 'float', 'int' or 'bool'"):
        ann.Neuron(parameters={"a": ann.Parameter(1.0, type=str)})
    with pytest.raises(ann.InvalidTypeError, match=r"parameter a must be a number"):
        ann.Neuron(parameters={"a": ann.Parameter(True, type=int)})


# -- constants -----------------------------------------------------------------------------------

def test_annarchy_constant_example_and_set_after_compile():
    tau = ann.Constant("tau", 20)
    factor = ann.Constant("factor", 0.1)
    real_tau = ann.Constant("real_tau", tau * factor)
    assert isinstance(real_tau, float) and real_tau == pytest.approx(2.0)
    neuron = ann.Neuron(equations="real_tau * dr/dt + r = 1.0\nq = factor * sum(exc) : max = tau")
    net, pop = driven(neuron, net=ann.Network())
    net.compile()
    r = np.zeros_like(X)
    for step in range(6):
        if step == 3:
            real_tau.set(4.0)
            factor.value = 50.0
        rt, f = (2.0, 0.1) if step < 3 else (4.0, 50.0)
        r = r + (1.0 - r) / rt
        net.step()
        assert_close(pop.r, r)
        assert_close(pop.q, np.minimum(f * X, 20.0))
    assert float(real_tau) == pytest.approx(2.0) and real_tau.value == 4.0  # as ANNarchy
    assert str(real_tau) == "4.0" and repr(real_tau) == "Constant('real_tau', 4.0)"
    net.reset()
    assert real_tau.value == 4.0  # reset() keeps constants


def test_network_constants_and_global_ones():
    g = ann.Constant("g", 1.0)
    networks = [ann.Network(), ann.Network()]
    for net, h in zip(networks, (2.0, 3.0), strict=True):
        assert net.constant("h", h).network is net  # created before the Neuron that reads it
    neuron = ann.Neuron(equations="r = g * h * sum(exc)")
    nets = [driven(neuron, net=net) for net in networks]
    for net, _ in nets:
        net.compile()
    g.set(5.0)  # a global constant changes every network
    for (net, pop), h in zip(nets, (2.0, 3.0), strict=True):
        net.step()
        assert_close(pop.r, 5.0 * h * X)
    assert net.engine.plan.update_of(pop).scalars == ("g", "h")


def test_constant_errors():
    with pytest.raises(ann.InvalidValueError, match=r"value of c must be a finite real number"):
        ann.Constant("c", float("nan"))
    with pytest.raises(ann.InvalidTypeError, match=r"value of c must be a finite real number"):
        ann.Constant("c", "1.0")
    with pytest.raises(ann.InvalidTypeError, match=r"value of c must be"):
        ann.Constant("c", True)
    with pytest.raises(ann.InvalidValueError, match=r"too large for a float"):
        ann.Constant("c", 10**400)
    for name in ("t", "exp", "mean", "pi", "true", "sum"):
        with pytest.raises(ann.InvalidValueError, match=rf"{name!r} is reserved"):
            ann.Constant(name, 1.0)
    with pytest.raises(ann.InvalidValueError, match=r"is not a valid name"):
        ann.Constant("not a name", 1.0)
    with pytest.raises(ann.InvalidTypeError, match=r"name must be a string"):
        ann.Constant(3, 1.0)
    c = ann.Constant("c", 1.0)
    with pytest.raises(ann.InvalidValueError, match=r"'c' already exists"):
        ann.Constant("c", 2.0)
    with pytest.raises(ann.InvalidValueError, match=r"already a global constant"):
        ann.Network().constant("c", 2.0)
    with pytest.raises(ann.InvalidTypeError, match=r"value of c must be"):
        c.set(None)
    assert c.value == 1.0
    ann.Population(3, ann.Neuron(parameters="tau = 1.0"))
    with pytest.raises(ann.InvalidValueError, match=r"'tau' is the name of a parameter of "
                                                    r"population pop0"):
        ann.Constant("tau", 2.0)


def test_constant_clashes_and_missing_constants_at_compile():
    ann.Constant("g", 2.0)
    net = ann.Network()
    net.create(3, ann.Neuron(parameters="g = 1.0", equations="r = g"))
    with pytest.raises(ann.InvalidValueError, match=r"has a parameter named 'g', the name of a "
                                                    r"Constant of this network"):
        net.compile()
    ann.clear()
    other = ann.Network()
    other.constant("k", 2.0)
    neuron = ann.Neuron(equations="r = k")  # known: some network has a constant k
    net = ann.Network()
    net.create(3, neuron)
    with pytest.raises(ann.InvalidValueError, match=r"read 'k', which is no Constant of this "
                                                    r"network; create it with net.constant"):
        net.compile()
    bad(r"unknown name 'nope'", "r = nope", 4, equations="r = nope")


def test_constant_precision_in_float32():
    c = ann.Constant("big", 1e39)
    net = ann.Network(precision="float")
    net.create(3, ann.Neuron(equations="r = big * 0"))
    with pytest.raises(ann.InvalidValueError, match=r"big = 1e\+39 does not fit float32"):
        net.compile()
    c.set(2.0)
    net.compile()
    with pytest.raises(ann.InvalidValueError, match=r"fit the precision of the networks"):
        c.set(1e39)
    assert c.value == 2.0


def test_expressions_of_the_language_stay_within_the_limits():
    deep = "if t > 0: " * 210 + "1" + " else: 0" * 210  # refused before it is parsed
    with pytest.raises(ann.EquationError, match=r"nested too deeply to parse \(more than 200 "
                                                r"ifs.*at most 200 deep"):
        parse(deep, functions=FUNCTIONS | {ITE.name: ITE})
    deep = "if t > 0: " * 150 + "1" + " else: 0" * 150 + " + " + "(" * 60 + "1" + ")" * 60
    assert parse(deep, functions=FUNCTIONS | {ITE.name: ITE})[:2] == (Kind.CALL, "ite")
    wide = " + ".join(["(if t > 0: t else: 1)"] * 400)
    with pytest.raises(ann.EquationError, match=r"too large"):
        ann.Neuron(equations=f"r = {wide}")


# -- random draws inside equations ---------------------------------------------------------------

DRAW_CASES = {  # name: (source, kind, parameters as tecomp.distributions gives them)
    "a": ("Normal(0.5, 2.0)", "Normal", (0.5, 2.0, None, None)),
    "b": ("Uniform(-1, 3)", "Uniform", (-1.0, 3.0)),
    "c": ("DiscreteUniform(-2, 5)", "DiscreteUniform", (-2, 5)),
    "d": ("LogNormal(0.0, 0.5)", "LogNormal", (0.0, 0.5, None, None)),
    "e": ("Exponential(2.0)", "Exponential", (2.0, None, None)),
    "f": ("Gamma(2.5, 0.5)", "Gamma", (2.5, 0.5, None, None)),
    "g": ("Gamma(0.5, 2.0)", "Gamma", (0.5, 2.0, None, None)),
}
EXACT = ("Uniform", "DiscreteUniform")  # no transcendental function: bit-identical


def stream(net, pop) -> int:
    """The seed of a population's draws (tecomp.engine: one stream per population)."""
    return philox.derive_seed(net.seed, net.populations.index(pop))


def assert_draws(got, want, kind, dtype):
    """As tecomp.philox promises: equal bits without transcendental functions, else 16 eps
    of the value plus the distribution's scale (at most 4 here; LLVM fuses a*b + c into one
    FMA); Gamma's acceptance test may flip at a rounding boundary (at most 0.1 % of draws)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if kind in EXACT:
        np.testing.assert_array_equal(got, want)
        return
    eps = float(np.finfo(dtype).eps)
    off = np.abs(got - want) > 16 * eps * (np.abs(want) + 4.0)
    allowed = int(0.001 * got.size) if kind == "Gamma" else 0
    assert off.sum() <= allowed, (kind, got[off][:5], want[off][:5])


def test_annarchy_test_random_variables_local():
    """ANNarchy's tests/Common/test_RandomVariables.py, the per-neuron case (tecomp has no
    population-wide variables, so not `r = Uniform(0,1) : population`)."""
    net = ann.Network(seed=1)
    pop = net.create(3, ann.Neuron(equations="r = Uniform(0,1)"))
    net.compile()
    net.reset()
    net.simulate(1)
    np.testing.assert_allclose(pop.r, 0.5, atol=0.5)
    assert not np.allclose(pop.r, 0.0) and np.max(pop.r) != np.min(pop.r)
    with pytest.raises(ann.EquationError, match=r"population-wide variables are not supported"):
        ann.Neuron(equations="r = Uniform(0,1) : population")


@pytest.mark.parametrize("precision", ["double", "float"])
def test_kernel_draws_equal_philox_numpy(precision):
    dtype = "float32" if precision == "float" else "float64"
    net = ann.Network(seed=2024, precision=precision)
    neuron = ann.Neuron(equations="\n".join(f"{n} = {src}" for n, (src, _, _) in
                                            DRAW_CASES.items()))
    pops = [net.create(4000, neuron), net.create(7, neuron)]  # vector loop, scalar loop
    net.compile()
    spec = net.engine.plan.update_of(pops[0])
    assert [node[2] for node in spec.draws] == list(range(len(DRAW_CASES)))
    assert kernels.signature(spec)[:2] == [((2,), "uint32"), ((), "int64")]  # seed, counter
    for step in range(3):
        net.step()
        for pop in pops:
            for index, (name, (_, kind, parameters)) in enumerate(DRAW_CASES.items()):
                want = philox.draw_numpy(kind, parameters, stream(net, pop),
                                         np.arange(pop.size), step, index, dtype)
                assert_draws(getattr(pop, name), want, kind, dtype)


def test_draws_with_population_wide_parameters_and_constants():
    net = ann.Network(seed=5)
    low = net.constant("low", -1.0)
    neuron = ann.Neuron(parameters="mu = 1.0 : population\ns = 0.5 : population",
                        equations="r = sum(exc) + Normal(mu, s)\nu = Uniform(low, 3.0)")
    net, pop = driven(neuron, net=net)
    net.compile()
    seed, neurons = stream(net, pop), np.arange(len(X))
    for step in range(3):
        if step == 2:
            pop.s = 2.0
            low.set(0.0)
        s, lo = (0.5, -1.0) if step < 2 else (2.0, 0.0)
        net.step()
        noise = philox.draw_numpy("Normal", (1.0, s, None, None), seed, neurons, step, 0)
        assert_close(pop.r, X + noise)
        want = philox.draw_numpy("Uniform", (lo, 3.0), seed, neurons, step, 1)
        assert_close(pop.u, want)


def test_moments_of_each_distribution():
    net = ann.Network(seed=99)
    pop = net.create(200_000, ann.Neuron(equations="\n".join(
        f"{n} = {src}" for n, (src, _, _) in DRAW_CASES.items())))
    net.compile()
    net.step()
    n = pop.size
    moments = {  # (mean, variance)
        "a": (0.5, 4.0), "b": (1.0, 16 / 12), "c": (1.5, (8**2 - 1) / 12),
        "d": (np.exp(0.125), (np.exp(0.25) - 1) * np.exp(0.25)), "e": (0.5, 0.25),
        "f": (1.25, 2.5 * 0.25), "g": (1.0, 0.5 * 4.0),
    }
    for name, (mean, variance) in moments.items():
        values = getattr(pop, name)
        assert abs(values.mean() - mean) < 5 * np.sqrt(variance / n), name
        assert abs(values.var() / variance - 1) < 0.05, name
    assert set(np.unique(pop.c)) == set(range(-2, 6))
    assert pop.b.min() >= -1 and pop.b.max() <= 3 and pop.e.min() > 0 and pop.g.min() > 0


def test_same_seed_same_trajectory_other_seed_other_one():
    neuron = ann.Neuron(equations="tau * dv/dt + v = sum(exc) + Normal(0, 0.3)\n"
                                  "w = Normal(0, 1) - Normal(0, 1)".replace("tau", "5.0"))
    runs = []
    for seed in (7, 7, 8):
        net, pop = driven(neuron, net=ann.Network(seed=seed))
        _, twin = driven(neuron, net=net)
        net.compile()
        trajectory = []
        for _ in range(5):
            net.step()
            trajectory.append(pop.v)
        runs.append((np.array(trajectory), pop, twin))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert not np.allclose(runs[0][0], runs[2][0])
    _, pop, twin = runs[0]
    assert not np.allclose(pop.w, twin.w)  # each population has its own stream
    assert np.all(pop.w != 0)  # two draws in one equation differ


def test_one_draw_per_step_in_both_midpoint_evaluations_and_reset_goes_on():
    net = ann.Network(seed=3, dt=0.5)
    pop = net.create(50, ann.Neuron(equations="dv/dt = Normal(0, 1) : midpoint"))
    net.compile()
    seed, v = stream(net, pop), np.zeros(50)
    first = []
    for step in range(4):
        net.step()
        v = v + 0.5 * philox.draw_numpy("Normal", (0.0, 1.0, None, None), seed,
                                        np.arange(50), step, 0)
        assert_close(pop.v, v)
        first.append(pop.v)
    net.reset()  # the draw counter goes on: a reset network draws new numbers
    net.step()
    assert not np.allclose(pop.v, first[0])
    assert_close(pop.v, 0.5 * philox.draw_numpy("Normal", (0.0, 1.0, None, None), seed,
                                                np.arange(50), 4, 0))


@pytest.mark.parametrize("equations, pattern, column", [
    ("r = Normal(0, -1)", r"Normal: sigma must be >= 0", 4),
    ("r = Gamma(0, 1)", r"Gamma: alpha \(the shape\) must be > 0", 4),
    ("r = Normal(0, 1, 2)", r"Normal\(\) in an equation takes 2 argument\(s\)", 4),
    ("r = Exponential(rate=2)", r"Exponential\(\) in an equation takes 1 argument", 4),
    ("r = 1 + Normal(0, r)", r"an argument of Normal\(\) must be a number, a population-wide "
                             r"parameter or a Constant", 8),
    ("r = Uniform(0, sum(exc))", r"must be a number or a population-wide parameter, got "
                                 r"sum\(exc\)", 15),
    ("r = DiscreteUniform(0.5, 3)", r"DiscreteUniform: min must be a whole number", 4),
    ("r = 1 : max = Uniform(0, 1)", r"unknown function Uniform\(\)", 14),
])
def test_bad_draws(equations, pattern, column):
    bad(pattern, equations, column, equations=equations)
