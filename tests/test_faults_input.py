"""Hostile input (docs/semantics.md, "Bad input"): one error type, at the call, and nothing
silent. Each test replays one probe of a hostile tester that used to end in a raw Python,
NumPy or TVM exception, a hang, or a silent conversion. Now each is a tecomp error
(`InvalidValueError`, `InvalidTypeError`, or `EquationError` for expression strings) raised
by the call that gave the value, naming the rule and the value; the network stays as it was
and still compiles and runs. The last tests fuzz every public entry point that takes values.
"""

import contextlib
import datetime
import time
import warnings
from decimal import Decimal
from fractions import Fraction
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tecomp as ann
from tecomp import monitor as monitor_module
from tecomp import reference, values
from tecomp.errors import TecompWarning
from tecomp.expr import MAX_DEPTH, MAX_NODES, Kind, measure, parse
from tecomp.extensions import convolution as convolution_module
from tecomp.extensions.convolution import Convolution, Copy, Pooling
from tecomp.network import default_network

VALUE, TYPE, EQUATION = ann.InvalidValueError, ann.InvalidTypeError, ann.EquationError
ANY = ann.TecompError
BIG = 10**400  # a Python int no float can hold
BIG_TEXT = "1" * 400  # a 400-digit literal in an expression
NAN, INF = float("nan"), float("inf")


# -- helpers ----------------------------------------------------------------------------------

@contextlib.contextmanager
def rejected(kind, *patterns):
    """The block raises `kind`, a TecompError and a ValueError or TypeError, whose message
    matches every regex of `patterns`."""
    with pytest.raises(kind) as info:
        yield info
    assert isinstance(info.value, ann.TecompError), type(info.value).__name__
    assert isinstance(info.value, ValueError | TypeError), type(info.value).__name__
    for pattern in patterns:
        info.match(pattern)


def rate(**options):
    return ann.Neuron(parameters="r = 0.0", **options)


def summing():
    return ann.Neuron(equations="r = sum(exc)")


def layers(pre=(6, 6), post=(6, 6), net=None):
    create = ann.Population if net is None else net.create
    return create(pre, rate()), create(post, summing())


def run_convolution(proj, weights=None, **options):
    """Connect `proj` (a 3x3 filter unless it is connected), compile its network, run one
    step and compare with the NumPy reference."""
    if not proj.connected:
        weights = np.random.default_rng(0).uniform(-1, 1, (3, 3)) if weights is None \
            else weights
        proj.connect_filter(weights, **options)
    net = proj.pre.network
    net.compile()
    x = np.random.default_rng(1).random(proj.pre.geometry)
    proj.pre.r = x
    net.simulate(net.dt)
    want = reference.convolution(x, proj.weights, proj.post.geometry, psp=proj.psp,
                                 operation=proj.operation, **options)
    np.testing.assert_allclose(proj.post.r, want, rtol=1e-6, atol=1e-6)


def still_works(net=None):
    """The network the failed call was made on still takes a projection, compiles and runs."""
    net = default_network() if net is None else net
    pre, post = layers(net=net)
    proj = Convolution(pre, post, "exc")
    if net is not default_network():
        net.connect(proj)
    run_convolution(proj)


def deep_stack(frames, call):
    """`call()` from `frames` Python frames deeper than here (a caller with a deep stack)."""
    return call() if frames == 0 else deep_stack(frames - 1, call)


# -- 1. ints too large for a float ------------------------------------------------------------

def _monitor(**kwargs):
    _pre, post = layers()
    return ann.Monitor(post, "r", **kwargs)


HUGE_INT_CALLS = {
    "weights-scalar": lambda proj: proj.connect_filter(BIG),
    "weights-in-list": lambda proj: proj.connect_filter([[1.0, BIG, 1.0]] * 3),
    "weights-in-array": lambda proj: proj.connect_filter(np.array([[1, BIG]], dtype=object)),
    "padding": lambda proj: proj.connect_filter(np.ones((3, 3)), padding=BIG),
    "delays": lambda proj: proj.connect_filter(np.ones((3, 3)), delays=BIG),
    "pooling-delays": lambda proj: proj.pool.connect_pooling(delays=BIG),
    "setup-dt": lambda proj: ann.setup(dt=BIG),
    "network-dt": lambda proj: ann.Network(dt=BIG),
    "population-r": lambda proj: setattr(proj.pre, "r", BIG),
    "population-r-in-list": lambda proj: setattr(proj.pre, "r", [BIG] * 6),
    "monitor-period": lambda proj: ann.Monitor(proj.post, "r", period=BIG),
    "monitor-period-offset": lambda proj: ann.Monitor(proj.post, "r", period_offset=BIG),
    "parameter-dict": lambda proj: ann.Neuron(parameters={"a": ann.Parameter(BIG)}),
}


@pytest.mark.parametrize("call", list(HUGE_INT_CALLS))
def test_ints_too_large_for_a_float_are_refused(call):
    pre, post = layers()
    proj = Convolution(pre, post, "exc")
    proj.pool = Pooling(pre, post, "inh")
    x = np.arange(36.0).reshape(6, 6)
    pre.r = x
    with rejected(VALUE, r"401 digits", r"~1e400", r"too large for a float", r"must be"):
        HUGE_INT_CALLS[call](proj)
    assert default_network().dt == 1.0
    assert not proj.connected and proj.delays == 0.0 and not proj.pool.connected
    np.testing.assert_array_equal(pre.r, x)
    assert default_network().monitors == []
    assert default_network().projections == [proj, proj.pool]
    proj.pool.connect_pooling(extent=(1, 1))
    run_convolution(proj)


@pytest.mark.parametrize("where, make", [
    pytest.param("psp", lambda: Convolution(*layers(), "exc", psp=f"w * pre.r * {BIG_TEXT}"),
                 id="psp"),
    pytest.param("parameters", lambda: ann.Neuron(parameters=f"a = {BIG_TEXT}"),
                 id="parameter-string"),
    pytest.param("equations", lambda: ann.Neuron(equations=f"r = {BIG_TEXT} * sum(exc)"),
                 id="equation"),
    pytest.param("functions", lambda: ann.Neuron(functions=f"f(x) = x * {BIG_TEXT}"),
                 id="function"),
    pytest.param("init", lambda: ann.Neuron(equations=f"r = sum(exc) : init = {BIG_TEXT}"),
                 id="init-flag"),
])
def test_huge_literals_in_expressions(where, make):
    with rejected(EQUATION, r"an int of 400 digits \(~1e399\)", r"too large for a float",
                  r"largest float64"):
        make()
    assert default_network().projections == []
    still_works()


def test_simulate_a_huge_duration():
    pre, post = layers()
    proj = Convolution(pre, post, "exc")
    run_convolution(proj)
    for duration, patterns in ((BIG, [r"duration", r"401 digits", r"too large for a float"]),
                               (1e300, [r"duration", r"at most 9223372036854775807 steps",
                                        r"1e\+300"])):
        with rejected(VALUE, *patterns):
            ann.simulate(duration)
    assert ann.get_time() == 1.0
    ann.simulate(2.0)
    assert ann.get_time() == 3.0


# -- 2. expressions too long or too deep -------------------------------------------------------

@pytest.mark.parametrize("make, patterns", [
    pytest.param(lambda: Convolution(*layers(), "exc", psp=" + ".join(["w * pre.r"] * 500)),
                 [r"too large", r"nested 502 deep", r"at most 2000 nodes",
                  r"nested at most 200 deep"], id="psp-of-500-terms"),
    pytest.param(lambda: ann.Neuron(equations="r = " + "-" * 3000 + "sum(exc)"),
                 [r"nested too deeply to parse", r"at most 200 deep"], id="3000-unary-minus"),
    pytest.param(lambda: ann.Neuron(equations="r = " + "-" * 200 + "sum(exc)"),
                 [r"too large \(201 nodes, nested 201 deep\)", r"at most 200 deep"],
                 id="201-deep"),
    pytest.param(lambda: ann.Neuron(equations="r = " + "(" * 300 + "sum(exc)" + ")" * 300),
                 [r"too many nested parentheses"], id="300-parentheses"),
    pytest.param(lambda: ann.Neuron(equations="r = " + " + ".join(
                     ["(" + " + ".join(["sum(exc)"] * 50) + ")"] * 30)),
                 [r"too large \(2999 nodes, nested 79 deep\)", r"at most 2000 nodes"],
                 id="3000-terms"),
    pytest.param(lambda: ann.Neuron(equations="r = " + " + ".join(["sum(exc)"] * 4000)),
                 [r"too large|too deeply", r"at most 2000 nodes"], id="4000-terms-in-a-row"),
    pytest.param(lambda: ann.Neuron(equations="r = ite(" + " and ".join(["r > 0"] * 300)
                                    + ", 1, 0)"),
                 [r"too large \(\d+ nodes, nested \d+ deep\)"], id="long-condition"),
    pytest.param(lambda: ann.Neuron(equations="r = ite(" + " < ".join(["r"] * 300) + ", 1, 0)"),
                 [r"too large \(\d+ nodes, nested \d+ deep\)"], id="comparison-chain"),
    pytest.param(lambda: ann.Neuron(equations="r = " + "tanh(" * 5 + "sum(exc)" + ")" * 5),
                 [r"too large \(3906 nodes", r"tanh 5 times"], id="nested-tanh"),
    pytest.param(lambda: ann.Neuron(equations="r = " + "if r > 0: " * 500 + "1"
                                    + " else: 0" * 500),
                 [r"nested too deeply to parse|nested 502 deep", r"at most 200 deep"],
                 id="500-nested-ifs"),
    pytest.param(lambda: ann.Neuron(equations="r = sum(exc) + " + "x" * 100_001),
                 [r"\d+ characters; at most 100000"], id="too-many-characters"),
])
def test_oversized_expressions_are_refused_with_the_limit(make, patterns):
    started = time.perf_counter()
    with rejected(EQUATION, *patterns):
        make()
    assert time.perf_counter() - started < 20.0  # refused, not hung (even on a busy machine)
    assert default_network().projections == []
    still_works()


def test_expressions_at_the_limit_compile_and_run_even_from_a_deep_stack():
    """Depth 200 is accepted, and parsing, ODE solving, folding, lowering and building it
    stay far below Python's recursion limit (here with 250 frames already used)."""
    psp = "-" * 198 + "w * pre.r"  # 198 minus signs: + w * pre.r, 200 deep
    equation = "tau * dr/dt + r = " + "-" * 197 + "sum(exc) : exponential"  # odd: -sum(exc)

    def build():
        pre = ann.Population((6, 6), rate())
        post = ann.Population((6, 6), ann.Neuron(parameters="tau = 1.0",
                                                 equations=[equation]))
        proj = Convolution(pre, post, "exc", psp=psp).connect_filter(np.ones((3, 3)))
        ann.compile()
        pre.r = np.ones((6, 6))
        ann.simulate(1.0)
        return proj, post

    _proj, post = deep_stack(250, build)
    want = -reference.convolution(np.ones((6, 6)), np.ones((3, 3)), (6, 6))
    np.testing.assert_allclose(post.r, (1 - np.exp(-1.0)) * want, rtol=1e-12)
    assert measure(parse(psp, known={"w"})) == (201, MAX_DEPTH) and MAX_NODES == 2000


# -- 3. user functions that inline exponentially -------------------------------------------------

def test_exponential_function_inlining_is_refused_at_once():
    functions = "f0(x) = x + x\n" + "\n".join(f"f{k}(x) = f{k - 1}(f{k - 1}(x))"
                                             for k in range(1, 6))
    started = time.perf_counter()
    with rejected(EQUATION, r"f3\(\) would expand to 131071 nodes", r"at most 2000 nodes",
                  r"f4\(x\) = f3\(f3\(x\)\)"):
        ann.Neuron(functions=functions, equations="r = f5(sum(exc))")
    assert time.perf_counter() - started < 1.0
    still_works()


def test_functions_within_the_limit_are_inlined():
    neuron = ann.Neuron(functions="f0(x) = x + 1\nf1(x) = f0(f0(x))\nf2(x) = f1(f1(x))",
                        equations="r = f2(sum(exc))")
    pre = ann.Population((6, 6), rate())
    post = ann.Population((6, 6), neuron)
    proj = Convolution(pre, post, "exc").connect_filter(np.ones((3, 3)))
    ann.compile()
    pre.r = np.ones((6, 6))
    ann.simulate(1.0)
    np.testing.assert_allclose(post.r, reference.convolution(np.ones((6, 6)), proj.weights,
                                                              (6, 6)) + 4)


# -- 4. geometries and arrays too large ----------------------------------------------------------

@pytest.mark.parametrize("geometry, patterns", [
    pytest.param((100000, 100000, 100000), [r"\(100000, 100000, 100000\)",
                                             r"1000000000000000 elements", r"2147483647",
                                             r"8000000000000000 bytes \(7\.1 PiB\)"],
                 id="1e15-neurons"),
    pytest.param((np.int64(2**40),) * 3, [r"1329227995784915872903807060280344576 elements",
                                          r"int32"], id="int64-product-overflows"),
    pytest.param((2**31,), [r"2147483648 elements", r"more than 2147483647"], id="2**31"),
    pytest.param((BIG, 2), [r"geometry \(an int of 401 digits \(~1e400\), 2\)",
                            r"an int of 401 digits \(~1e400\) elements"], id="huge-int"),
])
def test_huge_geometries_are_refused(geometry, patterns):
    with rejected(VALUE, r"Population", *patterns):
        ann.Population(geometry, rate())
    assert default_network().populations == []
    still_works()


def test_geometries_beyond_the_memory_are_refused_with_the_bytes():
    with mock.patch.object(values, "physical_memory", return_value=2**30):
        with rejected(VALUE, r"geometry \(10000, 10000\) with 2 per-neuron attribute",
                      r"1600000000 bytes \(1\.5 GiB\)", r"machine's memory",
                      r"1073741824 bytes \(1\.0 GiB\)"):
            ann.Population((10000, 10000), ann.Neuron(parameters="r = 0.0\ng = 1.0"))
        assert default_network().populations == []
        still_works()


def test_huge_weight_arrays_are_refused_before_any_copy():
    pre, post = layers()
    proj = Convolution(pre, post, "exc")
    view = np.broadcast_to(1.0, (10**5,) * 3)  # no memory of its own
    with rejected(VALUE, r"weights has 1000000000000000 elements", r"2147483647",
                  r"8000000000000000 bytes"):
        proj.connect_filter(view)
    assert not proj.connected
    run_convolution(proj)


def test_delays_whose_history_exceeds_the_memory():
    pre, post = layers()
    proj = Convolution(pre, post, "exc")
    memory = mock.patch.object(convolution_module, "physical_memory", return_value=10**5)
    with memory, rejected(VALUE, r"delays=1000\.0 ms is 1000 steps", r"288288 bytes",
                          r"pre pop0", r"machine's memory \(100000 bytes \(97\.7 KiB\)\)"):
        proj.connect_filter(np.ones((3, 3)), delays=1000)
    assert not proj.connected and proj.delays == 0.0
    run_convolution(proj)


# -- 5. monitors: periods, failed starts, max_samples, nbytes -----------------------------------

@pytest.mark.parametrize("kwargs, patterns", [
    pytest.param({"period": NAN}, [r"period must be a number of ms >= 0", r"got nan"], id="nan"),
    pytest.param({"period": INF}, [r"period must be", r"got inf"], id="inf"),
    pytest.param({"period_offset": NAN}, [r"period_offset must be", r"got nan"],
                 id="offset-nan"),
    pytest.param({"period": 1e300}, [r"period=1e\+300 ms is more than 2\*\*63 - 1 steps"],
                 id="too-many-steps"),
    pytest.param({"period": "1"}, [r"period must be", r"got '1' \(str\)"], id="string"),
    pytest.param({"period": 1 + 1j}, [r"period must be", r"\(1\+1j\)"], id="complex"),
    pytest.param({"max_samples": 0}, [r"max_samples must be None or an int >= 1", r"got 0"],
                 id="max-samples-zero"),
    pytest.param({"max_samples": 2.5}, [r"max_samples", r"got 2\.5"], id="max-samples-float"),
    pytest.param({"max_samples": True}, [r"max_samples", r"got True"], id="max-samples-bool"),
])
def test_bad_monitor_arguments(kwargs, patterns):
    with rejected(VALUE, *patterns):
        _monitor(**kwargs)
    assert default_network().monitors == []
    still_works()


def test_a_failed_start_leaves_the_monitor_as_it_was():
    net = ann.Network()
    pop = net.create((2, 3), ann.Neuron(equations="dr/dt = 1.0"))
    m = net.monitor(pop, "r")
    net.compile()
    net.simulate(2.0)
    for bad, patterns in ((NAN, [r"period", r"nan"]), (INF, [r"period", r"inf"]),
                          (BIG, [r"period", r"401 digits"]), (0.5, [r"not a multiple"])):
        with rejected(VALUE, *patterns):
            m.start(period=bad)
        assert m.period == 1.0
    with rejected(VALUE, r"no variable 'nope'"):
        m.start(variables=["sum(exc)", "nope"])
    assert m.variables == ["r"]
    net.simulate(2.0)
    np.testing.assert_array_equal(m.get("r")[:, 0, 0], [1.0, 2.0, 3.0, 4.0])


def test_max_samples_keeps_the_latest_records_and_nbytes_counts_them():
    net = ann.Network()
    pop = net.create((2, 3), ann.Neuron(equations="dr/dt = 1.0"))
    bounded = ann.Monitor(pop, "r", max_samples=3)
    grown = ann.Monitor(pop, "r", max_samples=100)
    full = ann.Monitor(pop, "r")
    assert (bounded.nbytes, grown.nbytes, full.nbytes) == (0, 0, 0)
    net.compile()
    net.simulate(10.0)  # r after step k is k
    assert (bounded.nbytes, grown.nbytes, full.nbytes) == (3 * 48, 64 * 48, 64 * 48)
    np.testing.assert_array_equal(bounded.get("r", keep=True)[:, 1, 2], [8.0, 9.0, 10.0])
    assert bounded.times() == {"r": {"start": [7.0], "stop": [10.0]}}
    assert full.times() == {"r": {"start": [0.0], "stop": [10.0]}}
    net.simulate(140.0)
    assert (bounded.nbytes, grown.nbytes) == (3 * 48, 100 * 48)
    np.testing.assert_array_equal(grown.get("r")[:, 0, 0], np.arange(51.0, 151.0))
    assert grown.times() == {"r": {"start": [50.0], "stop": [150.0]}}
    assert full.get("r").shape == (150, 2, 3)
    assert bounded.get("r").shape == (3, 2, 3) and bounded.nbytes == 0
    net.simulate(2.0)
    np.testing.assert_array_equal(bounded.get("r")[:, 0, 0], [151.0, 152.0])


def test_a_monitor_warns_once_past_its_memory_threshold(monkeypatch):
    monkeypatch.setattr(monitor_module, "WARN_BYTES", 1000)
    net = ann.Network()
    pop = net.create((2, 3), ann.Neuron(equations="dr/dt = 1.0"))
    loud = ann.Monitor(pop, "r", name="loud")
    ann.Monitor(pop, "r", max_samples=1000)  # bounded: never warns
    net.compile()
    with pytest.warns(TecompWarning) as caught:
        net.simulate(300.0)  # three blocks: 64, 128 and 256 rows
    assert [str(w.message) for w in caught if w.category is TecompWarning] == [
        "Monitor loud: its recordings hold 3072 bytes (3.0 KiB), more than 1000 bytes; pass "
        "max_samples= to keep only the latest records, or get() them more often"]
    assert issubclass(TecompWarning, UserWarning) and loud.nbytes == (64 + 128 + 256) * 48


# -- 6. constant sub-expressions --------------------------------------------------------------

@pytest.mark.parametrize("make, patterns", [
    pytest.param(lambda: Convolution(*layers(), "exc", psp="w*pre.r/(1-1)"),
                 [r"division by zero", r"\n    w\*pre\.r/\(1-1\)\n             \^$"],
                 id="psp-divided-by-1-1"),
    pytest.param(lambda: ann.Neuron(equations="r = sum(exc) / (2 - 2 * 1)"),
                 [r"division by zero", r"\n {20}\^$"], id="equation"),
    pytest.param(lambda: Convolution(*layers(), "exc", psp="w * pre.r * exp(1000)"),
                 [r"'exp\(1000\)' has no finite value", r"overflows float64"], id="exp-1000"),
    pytest.param(lambda: Convolution(*layers(), "exc", psp="w * log(-1) * pre.r"),
                 [r"'log\(-1\)' has no finite value", r"math domain error"], id="log-of-minus-1"),
    pytest.param(lambda: Convolution(*layers(), "exc", psp="w * pre.r * 0**-1"),
                 [r"'0\*\*-1'", r"division by zero"], id="0-to-minus-1"),
    pytest.param(lambda: ann.Neuron(functions="f(x) = 1 / x", equations="r = f(0) + sum(exc)"),
                 [r"1\.0 / 0\.0", r"division by zero"], id="function-of-zero"),
    pytest.param(lambda: ann.Neuron(parameters="a = 1 / (pi - pi)"),
                 [r"division by zero"], id="parameter-with-pi"),
])
def test_constant_sub_expressions_are_checked_at_parse(make, patterns):
    with rejected(EQUATION, *patterns):
        make()
    default_network().projections.clear()
    still_works()


def test_constant_sub_expressions_are_folded():
    assert parse("w * (1 / 4)", known={"w"}) == (Kind.BIN, "*", (Kind.VAR, "w"),
                                                  (Kind.CONST, 0.25))
    assert parse("-1 / 3 + 2 ** 3") == (Kind.CONST, -1 / 3 + 8.0)


# -- 7. constants and values beyond the precision -----------------------------------------------

def test_float32_overflow_at_the_call():
    ann.setup(precision="float")
    pre, post = layers()
    with rejected(EQUATION, r"the constant 1e\+39 does not fit float32",
                  r"largest 3\.4028235e\+38", r"\n    w \* pre\.r \* 1e39$"):
        Convolution(pre, post, "exc", psp="w * pre.r * 1e39")
    with rejected(VALUE, r"Population pop2: a = 1e\+39 does not fit float32"):
        ann.Population(4, ann.Neuron(parameters="a = 1e39"))
    with rejected(VALUE, r"Population pop2: equation 'r = 1e39 \* sum\(exc\)'",
                  r"1e\+39 does not fit float32"):
        ann.Population(4, ann.Neuron(equations="r = 1e39 * sum(exc)"))
    proj = Convolution(pre, post, "exc")
    with rejected(VALUE, r"weights must be numbers that fit the network's precision",
                  r"got 1e\+39 at index \(1, 1\)", r"largest float32 value"):
        proj.connect_filter(np.where(np.arange(9).reshape(3, 3) == 4, 1e39, 1.0))
    with rejected(VALUE, r"padding must be", r"fits the network's precision", r"1e\+39"):
        proj.connect_filter(np.ones((3, 3)), padding=-1e39)
    with rejected(VALUE, r"r must be numbers that fit", r"3e\+38|1e\+39"):
        pre.r = np.full((6, 6), 1e39)
    pre.r = INF  # an explicit inf is the user's choice, not an overflow
    pre.r = 0.0
    assert default_network().populations == [pre, post]
    assert default_network().projections == [proj] and not proj.connected
    run_convolution(proj)


@pytest.mark.parametrize("build, patterns", [
    pytest.param(lambda pre, post: Convolution(pre, post, "exc", psp="w * pre.r * 1e39")
                 .connect_filter(np.ones((3, 3))),
                 [r"Convolution proj0: psp 'w \* pre\.r \* 1e39'", r"1e\+39 does not fit float32"],
                 id="psp-constant"),
    pytest.param(lambda pre, post: Convolution(pre, post, "exc")
                 .connect_filter(np.full((3, 3), 1e39)),
                 [r"Convolution proj0: weight 1e\+39 at index \(0, 0\)", r"float32"],
                 id="weights"),
    pytest.param(lambda pre, post: Convolution(pre, post, "exc")
                 .connect_filter(np.ones((3, 3)), padding=5e38),
                 [r"Convolution proj0: padding 5e\+38", r"float32"], id="padding"),
    pytest.param(lambda pre, post: ann.Population(4, ann.Neuron(parameters="a = 1e39")),
                 [r"Population pop2: a = 1e\+39 does not fit float32"], id="parameter"),
    pytest.param(lambda pre, post: setattr(pre, "r", 1e39),
                 [r"Population pop0: r holds 1e\+39", r"float32"], id="population-value"),
    pytest.param(lambda pre, post: ann.Population(4, ann.Neuron(equations="dr/dt = 1e38")),
                 [r"Population pop2: its update with dt = 10\.0 ms folded in",
                  r"1e\+39 does not fit float32"], id="dt-folded-in"),
])
def test_float32_overflow_after_a_precision_change_is_refused_at_compile(build, patterns):
    pre, post = layers()
    build(pre, post)
    ann.setup(precision="float", dt=10.0)
    with rejected(VALUE, *patterns):
        ann.compile()
    assert default_network().engine is None
    ann.setup(precision="double", dt=1.0)  # nothing was built: the network can go on
    ann.compile()
    ann.simulate(1.0)
    assert ann.get_time() == 1.0


# -- 8. a population-wide pre variable, at the constructor ----------------------------------------

@pytest.mark.parametrize("make", [
    pytest.param(lambda pre, post: Convolution(pre, post, "exc"), id="convolution"),
    pytest.param(lambda pre, post: Pooling(pre, post, "exc"), id="pooling"),
    pytest.param(lambda pre, post: Copy(pre, post, "exc", psp="w * pre.r"), id="copy"),
])
def test_a_population_wide_pre_rate_is_refused_at_the_constructor(make):
    pre = ann.Population((6, 6), ann.Neuron(parameters="r = 0.0 : population"))
    post = ann.Population((6, 6), summing())
    with rejected(VALUE, r"psp reads pre\.r, a population-wide parameter of pop0",
                  r"locality='local'"):
        make(pre, post)
    assert default_network().projections == []
    still_works()


def test_a_copy_of_a_psp_reading_a_population_wide_variable():
    pre, post = layers()
    proj = Convolution(pre, post, "exc").connect_filter(np.ones((3, 3)))
    other = ann.Population((6, 6), ann.Neuron(parameters="r = 0.0 : population"))
    copy = Copy(other, ann.Population((6, 6), summing()), "exc")
    with rejected(VALUE, r"Copy\.connect_copy: its psp reads pre\.r", r"population-wide"):
        copy.connect_copy(proj)
    assert copy.source is None
    default_network().projections.remove(copy)
    run_convolution(proj)


# -- 9. silent conversions ----------------------------------------------------------------------

MASKED = np.ma.masked_array(np.ones((6, 6)), mask=np.eye(6))
DATES = np.array(["2020-01-01"] * 36, dtype="datetime64[D]").reshape(6, 6)


@pytest.mark.parametrize("value, patterns", [
    pytest.param(None, [r"r must be numbers, got None"], id="none"),
    pytest.param(1 + 2j, [r"complex numbers", r"\(1\+2j\)"], id="complex"),
    pytest.param(np.ones((6, 6)) * 1j, [r"complex numbers", r"1j"], id="complex-array"),
    pytest.param(MASKED, [r"masked array", r"mask would be ignored"], id="masked"),
    pytest.param(DATES, [r"datetimes", r"datetime64\('2020-01-01'\)"], id="datetime64"),
    pytest.param(np.timedelta64(3, "s"), [r"timedeltas"], id="timedelta64"),
    pytest.param(["1"] * 6, [r"strings", r"'1'"], id="strings"),
    pytest.param(b"1", [r"b'1'", r"bytes"], id="bytes"),
    pytest.param([object()] * 6, [r"object"], id="objects"),
    pytest.param([[1.0] * 6] * 5 + [[1.0]], [r"rectangular", r"ragged"], id="ragged"),
])
def test_population_values_are_never_converted_silently(value, patterns):
    pre, post = layers()
    x = np.arange(36.0).reshape(6, 6)
    pre.r = x
    with rejected(ANY, r"Population pop0: r", *patterns):
        pre.r = value
    np.testing.assert_array_equal(pre.r, x)
    pre.r = np.ones((6, 6), dtype=bool)  # a mask is a set of rates 0 and 1
    np.testing.assert_array_equal(pre.r, 1.0)
    run_convolution(Convolution(pre, post, "exc"))


@pytest.mark.parametrize("kwargs, patterns", [
    pytest.param({"weights": np.ones((3, 3)) * (1 + 1j)}, [r"weights", r"complex"],
                 id="complex-weights"),
    pytest.param({"weights": ["1", "2", "3"]}, [r"weights must be numbers", r"'1'"],
                 id="string-weights"),
    pytest.param({"weights": DATES[:3, :3]}, [r"weights", r"datetimes"], id="datetime-weights"),
    pytest.param({"weights": np.ones((3, 3), dtype="timedelta64[ms]")},
                 [r"weights", r"timedeltas"], id="timedelta-weights"),
    pytest.param({"weights": MASKED[:3, :3]}, [r"weights", r"masked array"],
                 id="masked-weights"),
    pytest.param({"weights": np.ones((3, 3), dtype=bool)}, [r"weights", r"booleans"],
                 id="bool-weights"),
    pytest.param({"weights": [[1.0, None, 1.0]] * 3}, [r"weights", r"None"],
                 id="none-in-weights"),
    pytest.param({"padding": 1 + 1j}, [r"padding", r"\(1\+1j\) \(complex\)"],
                 id="complex-padding"),
    pytest.param({"padding": np.datetime64("2020-01-01")}, [r"padding", r"datetime"],
                 id="datetime-padding"),
    pytest.param({"padding": b"0"}, [r"padding", r"b'0'"], id="bytes-padding"),
    pytest.param({"delays": 1 + 0j}, [r"delays", r"\(1\+0j\)"], id="complex-delays"),
    pytest.param({"delays": np.timedelta64(1, "ms")}, [r"delays", r"timedelta"],
                 id="timedelta-delays"),
    pytest.param({"subsampling": np.ones((36, 2)) * 1j}, [r"subsampling", r"complex"],
                 id="complex-subsampling"),
])
def test_projection_values_are_never_converted_silently(kwargs, patterns):
    pre, post = layers()
    proj = Convolution(pre, post, "exc")
    weights = kwargs.pop("weights", np.ones((3, 3)))
    with rejected(ANY, *patterns):
        proj.connect_filter(weights, **kwargs)
    assert not proj.connected and proj.delays == 0.0
    run_convolution(proj)


def test_numpy_scalars_are_numbers():
    net = ann.Network(dt=np.float32(0.5), precision="double")
    assert net.dt == 0.5 and isinstance(net.dt, float)
    pre, post = layers(net=net)
    proj = net.connect(Convolution(pre, post, "exc")).connect_filter(
        np.ones((3, 3), dtype=np.float32), delays=np.int64(1), padding=np.float16(0.5))
    m = net.monitor(post, "r", period=np.float32(1.0), period_offset=np.int8(0))
    net.compile()
    net.simulate(np.float32(1))
    net.simulate(np.int64(2))
    net.simulate(np.array(0.5))
    assert net.time == 3.5 and m.get("r").shape == (4, 6, 6)  # after steps 0, 2, 4, 6
    assert proj.delays == 1.0 and proj.delay_steps(net.dt) == 2


def test_copy_and_pooling_weights_give_clear_errors():
    pre, post = layers()
    proj = Convolution(pre, post, "exc").connect_filter(np.ones((3, 3)))
    pool = Pooling(pre, ann.Population((3, 3), summing()), "exc").connect_pooling()
    copy = Copy(*layers(), "exc").connect_copy(proj)
    with rejected(VALUE, r"Copy\.weights", r"shares the weights of its source proj0"):
        copy.weights = np.zeros((3, 3))
    with rejected(VALUE, r"Pooling\(pop0 -> pop2", r"has no weights to set"):
        pool.weights = np.zeros((2, 2))
    with rejected(VALUE, r"has no weights"):
        pool.weights  # noqa: B018
    assert not hasattr(pool, "weights")  # an AttributeError too
    np.testing.assert_array_equal(copy.weights, np.ones((3, 3)))
    run_convolution(proj)


@pytest.mark.parametrize("parameters, kind, patterns", [
    pytest.param({"a": 1j}, TYPE, [r"parameter a must be a number", r"1j \(complex\)"],
                 id="complex"),
    pytest.param({"a": ann.Parameter(None)}, TYPE, [r"parameter a", r"None"], id="none"),
    pytest.param({"a": np.datetime64("2020-01-01")}, TYPE, [r"parameter a", r"datetime"],
                 id="datetime"),
    pytest.param({"a": NAN}, VALUE, [r"parameter a", r"nan \(not finite\)"], id="nan"),
    pytest.param({"a": np.ma.masked}, TYPE, [r"parameter a"], id="masked-constant"),
])
def test_neuron_parameters_are_never_converted_silently(parameters, kind, patterns):
    with rejected(kind, *patterns):
        ann.Neuron(parameters=parameters)
    still_works()


@pytest.mark.parametrize("kwargs, patterns", [
    pytest.param({"precision": ["float"]}, [r"precision", r"\['float'\]"], id="list-precision"),
    pytest.param({"dt": np.timedelta64(1, "ms")}, [r"dt", r"timedelta"], id="timedelta-dt"),
    pytest.param({"dt": 1 + 0j}, [r"dt", r"\(1\+0j\)"], id="complex-dt"),
    pytest.param({"dt": Decimal("0.5")}, [r"dt", r"Decimal"], id="decimal-dt"),
])
def test_setup_values_are_never_converted_silently(kwargs, patterns):
    with rejected(VALUE, *patterns):
        ann.setup(**kwargs)
    with rejected(VALUE, *patterns):
        ann.Network(**kwargs)
    assert (default_network().dt, default_network().dtype) == (1.0, "float64")
    still_works()


# -- 10. fuzzing every entry point that takes values --------------------------------------------

SPECIALS = [
    None, True, False, 0, -1, 2**63, 2**64, BIG, -BIG, 0.0, -0.0, NAN, INF, -INF,
    1e308, 5e-324, 3.5e38, 1j, 1 + 0j, "", "1", "border", "r", "sum(exc)", b"1", bytearray(b"x"),
    Fraction(1, 3), Decimal("1.5"), datetime.date(2020, 1, 1), datetime.timedelta(1), object(),
    np.float32(1.5), np.float16(2), np.int8(-3), np.uint64(2**64 - 1), np.bool_(True),
    np.complex64(1j), np.datetime64("2020-01-01"), np.timedelta64(3, "ms"),
    np.longdouble("1e4000"), np.str_("1"), np.bytes_(b"1"), np.ma.masked, np.array(2.0),
    np.array([1.0, 2.0]), np.ma.masked_array([1.0, 2.0], mask=[0, 1]), (), [], {}, set(),
    [[1, 2], [3]], [[[1.0]]], (1, 2, 3), range(3), iter([1, 2]), slice(1), Ellipsis, print,
]
SCALARS = st.one_of(
    st.sampled_from(SPECIALS), st.builds(pow, st.just(10), st.just(5000)),  # unprintable
    st.none(), st.booleans(), st.integers(),
    st.integers(min_value=-(10**420), max_value=10**420), st.floats(), st.complex_numbers(),
    st.text(max_size=12), st.binary(max_size=6),
)
ARRAYS = hnp.arrays(
    dtype=st.one_of(hnp.scalar_dtypes(), hnp.datetime64_dtypes(), hnp.timedelta64_dtypes(),
                    hnp.unicode_string_dtypes(max_len=3), hnp.byte_string_dtypes(max_len=3)),
    shape=hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=4))
VALUES = st.one_of(SCALARS, ARRAYS, st.recursive(SCALARS, lambda inner: st.lists(
    inner, max_size=4) | st.tuples(inner, inner), max_leaves=10))
CHARS = "w pre.r+-*/()0123456789e.,:=_<>! abcdfghilmnopqstuxyz\n;#\t'\"[]{}@$%^&|~`\\\0é"
EXPRESSIONS = st.one_of(st.text(alphabet=CHARS, max_size=40), st.text(max_size=20),
                        st.sampled_from(["w * pre.r", "pre.r", "r = sum(exc)",
                                         "dr/dt = -r", "tau * dr/dt + r = 1 : exponential",
                                         f"r = {BIG_TEXT}", "r = 1 / (1 - 1)", "f(x) = x * x",
                                         "a = 1e39", "r = exp(1000)", "w * pre.r ** 2"]))
FUZZ = settings(max_examples=100, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def survives(call, *args, **kwargs):
    """Call an entry point: it succeeds or raises a tecomp error, nothing else."""
    with contextlib.suppress(ann.TecompError):
        call(*args, **kwargs)


@contextlib.contextmanager
def fresh():
    """An empty default network, on a machine of 64 MiB (so that a valid but large value
    is refused rather than allocated)."""
    ann.clear()
    with mock.patch.object(values, "physical_memory", return_value=2**26), \
            mock.patch.object(convolution_module, "physical_memory", return_value=2**26), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    ann.clear()


@FUZZ
@given(geometry=VALUES, value=VALUES, shared=VALUES)
def test_fuzz_populations(geometry, value, shared):
    with fresh():
        survives(ann.Population, geometry, rate())
        pop = ann.Population((2, 3), ann.Neuron(parameters="r = 0.0\ntau = 1.0 : population"))
        survives(setattr, pop, "r", value)
        survives(setattr, pop, "tau", shared)
        survives(setattr, pop, "nope", value)


@FUZZ
@given(parameters=st.one_of(EXPRESSIONS, VALUES, st.dictionaries(
           st.one_of(st.text(max_size=5), st.sampled_from(["a", "r", "t", "tau"])), VALUES,
           max_size=3)),
       equations=st.one_of(EXPRESSIONS, VALUES), functions=st.one_of(EXPRESSIONS, VALUES),
       value=VALUES)
def test_fuzz_neurons(parameters, equations, functions, value):
    with fresh():
        survives(ann.Neuron, parameters=parameters)
        survives(ann.Neuron, equations=equations)
        survives(ann.Neuron, functions=functions, equations="r = sum(exc)")
        survives(ann.Neuron, parameters={"a": ann.Parameter(value, locality="local")})


@FUZZ
@given(psp=st.one_of(EXPRESSIONS, VALUES), operation=st.one_of(
           st.sampled_from(["sum", "max", "min", "mean", "avg"]), VALUES),
       target=st.one_of(st.sampled_from(["exc", "inh", "e x", ""]), VALUES), name=VALUES)
def test_fuzz_projection_constructors(psp, operation, target, name):
    with fresh():
        pre, post = layers()
        for cls in (Convolution, Pooling, Copy):
            survives(cls, pre, post, "exc", psp=psp)
            survives(cls, pre, post, "exc", operation=operation)
            survives(cls, pre, post, target)
            survives(cls, pre, post, "exc", name=name)


@FUZZ
@given(weights=VALUES, padding=VALUES, delays=VALUES, subsampling=VALUES,
       extent=VALUES)
def test_fuzz_connect(weights, padding, delays, subsampling, extent):
    with fresh():
        pre, post = layers((6, 6), (3, 3))
        proj = Convolution(pre, post, "exc")
        survives(proj.connect_filter, weights)
        survives(proj.connect_filters, weights)
        survives(proj.connect_filter, np.ones((3, 3)), padding=padding)
        survives(proj.connect_filter, np.ones((3, 3)), delays=delays)
        survives(proj.connect_filter, np.ones((3, 3)), subsampling=subsampling)
        survives(setattr, proj, "weights", weights)
        pool = Pooling(pre, post, "exc")
        survives(pool.connect_pooling, extent=extent)
        survives(pool.connect_pooling, delays=delays)


@FUZZ
@given(dt=VALUES, precision=st.one_of(st.sampled_from(["double", "float", "half"]), VALUES),
       duration=VALUES, period=VALUES, offset=VALUES, variables=VALUES, samples=VALUES)
def test_fuzz_network_and_monitors(dt, precision, duration, period, offset, variables,
                                   samples):
    with fresh():
        survives(ann.setup, dt=dt)
        survives(ann.setup, precision=precision)
        survives(ann.Network, dt=dt, precision=precision)
        survives(ann.simulate, duration)  # not compiled: a valid duration is a state error
        _pre, post = layers()
        survives(ann.Monitor, post, "r", period=period)
        survives(ann.Monitor, post, "r", period_offset=offset)
        survives(ann.Monitor, post, variables)
        survives(ann.Monitor, post, "r", max_samples=samples)
