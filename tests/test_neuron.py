"""The neuron language: ODE arrangements and methods, the order of updates, flags, functions,
population-wide parameters and bad input. Every expected value is an independent NumPy loop."""

import re

import numpy as np
import pytest

import tecomp as ann
from tecomp.extensions.convolution import Convolution
from tests.helpers import assert_close

RNG = np.random.default_rng(7)
X = RNG.uniform(0.2, 1.8, 24)  # the summed input of the driven populations


def driven(neuron, x=X, net=None, dt=1.0, target="exc"):
    """A population of `neuron` whose sum(target) is `x` (a 1-tap identity convolution)."""
    net = ann.Network(dt=dt) if net is None else net
    inp = net.create(len(x), ann.Neuron(parameters="r = 0.0"))
    pop = net.create(len(x), neuron)
    net.connect(Convolution(inp, pop, target)).connect_filter(np.array([1.0]))
    inp.r = x
    return net, pop


def caret(line, column):
    return rf"\n    {re.escape(line)}\n    {' ' * column}\^$"


# -- ODEs ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("equation", [
    "tau * dr/dt + r = sum(exc) + b",
    "dr/dt = (sum(exc) + b - r) / tau",
    "tau * dr/dt = sum(exc) + b - r",
    "dr/dt + r / tau = (sum(exc) + b) / tau",
    "r + tau * dr/dt - sum(exc) = b",
    "2 * tau * dr / dt = 2 * (sum(exc) + b - r)",
    "-tau * dr/dt = r - sum(exc) - b",
])
def test_linear_arrangements_are_one_euler_step(equation):
    neuron = ann.Neuron(parameters="tau = 10.0 : population\nb = -0.3", equations=equation)
    net, pop = driven(neuron, dt=0.5)
    net.compile()
    r = np.zeros_like(X)
    for _ in range(40):
        r = r + 0.5 * (X - 0.3 - r) / 10.0
        net.step()
        assert_close(pop.r, r)


def test_exponential_method():
    neuron = ann.Neuron(parameters="tau = 4.0 : population",
                        equations="tau * dr/dt + r = sum(exc) : exponential\n"
                                  "dv/dt = (2 * sum(exc) - v) / tau : exponential")
    net, pop = driven(neuron, dt=1.5)
    net.compile()
    r, v = np.zeros_like(X), np.zeros_like(X)
    step = 1.0 - np.exp(-1.5 / 4.0)
    for _ in range(20):
        r, v = r + step * (X - r), v + step * (2 * X - v)
        net.step()
        assert_close(pop.r, r)
        assert_close(pop.v, v)


def test_midpoint_method_nonlinear_and_coupled():
    """A nonlinear ODE, and an oscillator whose two midpoint ODEs are solved together."""
    neuron = ann.Neuron(equations="dr/dt = sum(exc) - r * r : midpoint\n"
                                  "du/dt = v : midpoint, init = 1.0\n"
                                  "dv/dt = -u : midpoint")
    net, pop = driven(neuron, dt=0.2)
    net.compile()
    r, u, v = np.zeros_like(X), np.ones_like(X), np.zeros_like(X)
    for _ in range(30):
        half_r = r + 0.1 * (X - r * r)
        half_u, half_v = u + 0.1 * v, v - 0.1 * u
        r = r + 0.2 * (X - half_r * half_r)
        u, v = u + 0.2 * half_v, v - 0.2 * half_u
        net.step()
        assert_close(pop.r, r)
        assert_close(pop.u, u)
        assert_close(pop.v, v)


def test_order_assignments_in_turn_odes_together():
    """ANNarchy's order: `c` reads v's previous value (declared later), `a` runs before the
    ODE block, u and v both step from the values at the block's start, `b` sees new r."""
    neuron = ann.Neuron(parameters="tau = 5.0",
                        equations="c = v * 1.0\n"
                                  "a = 2 * sum(exc)\n"
                                  "tau * du/dt + u = a - v\n"
                                  "dv/dt = u\n"
                                  "b = u + a + c")
    net, pop = driven(neuron, dt=0.5)
    net.compile()
    u, v = np.zeros_like(X), np.zeros_like(X)
    for _ in range(25):
        c = v.copy()
        a = 2 * X
        u, v = u + 0.5 * (a - v - u) / 5.0, v + 0.5 * u
        b = u + a + c
        net.step()
        for name, value in (("a", a), ("b", b), ("c", c), ("u", u), ("v", v)):
            assert_close(getattr(pop, name), value)


# -- flags --------------------------------------------------------------------------------------

def test_init_min_max_clamp_after_each_update():
    neuron = ann.Neuron(parameters="umax = 1.5 : population\nlo = 0.25",
                        equations="du/dt = 0.25 : max = umax, init = 0.5\n"
                                  "dv/dt = u - 1.0 : min = -lo\n"
                                  "w = sum(exc) - 1.0 : min = -lo, max = u")
    net, pop = driven(neuron)
    np.testing.assert_array_equal(pop.u, np.full(X.shape, 0.5))  # init before compile
    net.compile()
    u, v = np.full(X.shape, 0.5), np.zeros_like(X)
    for _ in range(8):
        u, v = np.minimum(u + 0.25, 1.5), np.maximum(v + u - 1.0, -0.25)  # v reads old u
        w = np.minimum(np.maximum(X - 1.0, -0.25), u)
        net.step()
        assert_close(pop.u, u)
        assert_close(pop.v, v)
        assert_close(pop.w, w)
    net.reset()
    np.testing.assert_array_equal(pop.u, np.full(X.shape, 0.5))


# -- functions and constants --------------------------------------------------------------------

FUNCTION_CASES = {
    "e": ("exp(s)", np.exp),
    "l": ("log(s)", np.log),
    "q": ("sqrt(s)", np.sqrt),
    "f": ("fabs(s - 1)", lambda s: np.abs(s - 1)),
    "h": ("tanh(s)", np.tanh),
    "si": ("sin(s)", np.sin),
    "co": ("cos(s)", np.cos),
    "p1": ("pos(s - 1)", lambda s: np.maximum(s - 1, 0)),
    "p2": ("positive(s - 1)", lambda s: np.maximum(s - 1, 0)),
    "n1": ("neg(s - 1)", lambda s: np.minimum(s - 1, 0)),
    "n2": ("negative(s - 1)", lambda s: np.minimum(s - 1, 0)),
    "c": ("clip(s, 0.5, 1.5)", lambda s: np.clip(s, 0.5, 1.5)),
    "w1": ("power(s, 2.5)", lambda s: s ** 2.5),
    "w2": ("s ** 3", lambda s: s ** 3),
    "i1": ("ite(s > 1 and s < 1.5, 1, ite(not (s > 0.5) or s == 2, 2, 3))",
           lambda s: np.where((s > 1) & (s < 1.5), 1.0, np.where((s <= 0.5) | (s == 2), 2.0, 3.0))),
    "i2": ("4 if s >= 1 else 5", lambda s: np.where(s >= 1, 4.0, 5.0)),
    "i3": ("ite(0.5 < s <= 1, s, 0)", lambda s: np.where((s > 0.5) & (s <= 1), s, 0.0)),
    "u1": ("sigmoid(2 * s)", lambda s: 1 / (1 + np.exp(-2 * s))),
    "u2": ("scaled(s, 3)", lambda s: 3 / (1 + np.exp(-s)) + 3),
}


def test_functions_constants_and_time():
    lines = [f"{name} = {source}" for name, (source, _) in FUNCTION_CASES.items()]
    neuron = ann.Neuron(
        equations="s = sum(exc)\n" + "\n".join(lines) + "\nclock = t\nstep = dt * pi",
        functions="sigmoid(x) = 1 / (1 + exp(-x))\nscaled(x, k) = k * sigmoid(x) + k")
    net, pop = driven(neuron, dt=0.25)
    net.compile()
    for n in range(3):
        net.step()
        for name, (_, function) in FUNCTION_CASES.items():
            assert_close(getattr(pop, name), function(X))
        assert_close(pop.clock, np.full(X.shape, n * 0.25))  # t at the start of the step
        assert_close(pop.step, np.full(X.shape, 0.25 * np.pi))


def test_sum_of_all_targets_and_of_an_unfed_one():
    net = ann.Network()
    a, b = (net.create(24, ann.Neuron(parameters="r = 0.0")) for _ in range(2))
    pop = net.create(24, ann.Neuron(equations="r = sum() - 0.5 * sum(inh) + sum(nothing)\n"
                                              "q = sum(inh)"))
    net.connect(Convolution(a, pop, "exc")).connect_filter(np.array([1.0]))
    net.connect(Convolution(b, pop, "inh")).connect_filter(np.array([2.0]))
    net.connect(Convolution(b, pop, "exc")).connect_filter(np.array([1.0, 0.0, -1.0]))
    net.compile()
    xa, xb = RNG.random(24), RNG.random(24)
    a.r, b.r = xa, xb
    net.step()
    shifted = np.concatenate([[0.0], xb[:-1]]) - np.concatenate([xb[1:], [0.0]])  # x[i-1] - x[i+1]
    assert_close(pop.q, 2 * xb)
    assert_close(pop.r, xa + shifted + 2 * xb - 0.5 * 2 * xb)


# -- population-wide parameters -----------------------------------------------------------------

def test_population_wide_parameters_read_as_one_float():
    neuron = ann.Neuron(parameters={"tau": 10.0, "g": ann.Parameter(2.0, locality="local")},
                        equations="tau * dr/dt + r = g * sum(exc)")
    assert neuron.shared == {"tau"}
    net, pop = driven(neuron)
    assert pop.tau == 10.0 and isinstance(pop.tau, float)
    assert pop.g.shape == X.shape
    pop.tau = 4.0  # before compile
    with pytest.raises(ann.InvalidValueError, match="population-wide"):
        pop.tau = np.ones(X.shape)
    net.compile()
    gain = np.linspace(0.5, 1.5, len(X))
    pop.g = gain
    r = np.zeros_like(X)
    for n in range(10):
        if n == 5:
            pop.tau = 2.0  # after compile: the next steps use it
        tau = 4.0 if n < 5 else 2.0
        r = r + (gain * X - r) / tau
        net.step()
        assert_close(pop.r, r)
    assert pop.tau == 2.0
    spec = net.engine.plan.update_of(pop)
    assert spec.scalars == ("tau",) and spec.inputs == ("g", "r")


def test_projection_cannot_read_a_population_wide_rate():
    net = ann.Network()
    inp = net.create(8, ann.Neuron(parameters={"r": 0.0}))  # ANNarchy 5: a dict is global
    post = net.create(8, ann.Neuron(equations="r = sum(exc)"))
    with pytest.raises(ann.InvalidValueError, match=r"pre\.r.*population-wide.*locality='local'"):
        Convolution(inp, post, "exc")  # refused at the call, not at compile()
    assert net.projections == []
    net.compile()  # nothing half-built


def test_float32_and_networks_with_their_own_dt():
    """One neuron type in two networks: each folds its own dt and precision in."""
    neuron = ann.Neuron(parameters="tau = 3.0 : population",
                        equations="tau * dr/dt + r = sum(exc) : min = 0.0")
    runs = []
    for dt, precision in ((0.5, "double"), (0.1, "float")):
        net, pop = driven(neuron, x=X - 0.5, net=ann.Network(dt=dt, precision=precision))
        net.compile()
        runs.append((net, pop, dt))
    for net, pop, dt in runs:
        net.simulate(20 * dt)
        r = np.zeros_like(X)
        for _ in range(20):
            r = np.maximum(r + dt * (X - 0.5 - r) / 3.0, 0.0)
        assert_close(pop.r, r, str(pop.r.dtype))
    assert runs[1][1].r.dtype == np.float32


def test_one_fused_kernel_per_population():
    neuron = ann.Neuron(equations="a = sum(exc)\ndr/dt = a - r\nb = r * a")
    net, pop = driven(neuron)
    net.compile()
    calls = net.engine._plans[0]
    assert len(calls) == 2  # the projection, then one update writing a, r and b
    assert net.engine.plan.update_of(pop).outputs == ("a", "r", "b")


# -- bad input ----------------------------------------------------------------------------------

BAD = [
    ({"equations": "r = tau * sum(exc)"}, [r"unknown name 'tau'", caret("r = tau * sum(exc)", 4)]),
    ({"equations": "r = dv/dt + 1"},
     [r"dv/dt is the derivative of a variable this equation does not declare",
      caret("r = dv/dt + 1", 4)]),
    ({"parameters": "tau = 1.0", "equations": "tau * dr/dt = dv/dt"},
     [r"two derivatives in one equation \(dr/dt and dv/dt\)", caret("tau * dr/dt = dv/dt", 14)]),
    ({"equations": "r = sum(exc) / 0.0"}, [r"division by zero", caret("r = sum(exc) / 0.0", 15)]),
    ({"equations": "r = sum(exc) : mni = 0.0"},
     [r"unknown flag 'mni'; expected one of init", caret("r = sum(exc) : mni = 0.0", 15)]),
    ({"equations": "dr/dt = 1 : rk4"},
     [r"ANNarchy flag 'rk4' is not supported", caret("dr/dt = 1 : rk4", 12)]),
    ({"equations": "dr/dt * dr/dt = 1"}, [r"linear in dr/dt", caret("dr/dt * dr/dt = 1", 0)]),
    ({"equations": "dr/dt - dr/dt + r = 1"}, [r"cancel out"]),
    ({"equations": "dr/dt + r * r = 1 : exponential"},
     [r"exponential method needs the form 'tau \* dr/dt \+ r = A'"]),
    ({"equations": "r = sum(exc) : midpoint"}, [r"'midpoint' is a method for ODEs"]),
    ({"equations": "r = sum(exc) : population"}, [r"only parameters may be ': population'"]),
    ({"equations": "r = 1.0\nr = 2.0"}, [r"'r' is already defined", caret("r = 2.0", 0)]),
    ({"equations": "dt = 1.0"}, [r"'dt' is reserved"]),
    ({"equations": "r = pre.r"},
     [r"pre\.<variable> belongs in a projection", caret("r = pre.r", 4)]),
    ({"equations": "r sum(exc)"}, [r"expected 'name = expression'"]),
    ({"equations": "r = a = 1"}, [r"only one '='", caret("r = a = 1", 6)]),
    ({"equations": "r = 1 : min"}, [r"flag 'min' needs a value"]),
    ({"equations": "r = sum(exc) > 1"}, [r"condition is only allowed as the first argument"]),
    ({"equations": "r = ite(1, 2)"}, [r"ite\(\) takes 3 argument"]),
    ({"equations": "r = 2 * * 1"}, [r"cannot parse", caret("r = 2 * * 1", 8)]),
    ({"parameters": "tau = 1.0 : min = 0"}, [r"unknown flag 'min'; expected one of population"]),
    ({"parameters": "tau = sum(exc)"}, [r"the value must be a number"]),
    ({"functions": "f(x) = y"}, [r"unknown name 'y'; known here: pi, x", caret("f(x) = y", 7)]),
    ({"functions": "f(x) = x", "equations": "r = f(1, 2)"}, [r"f\(\) takes 1 argument"]),
    ({"functions": "exp(x) = x"}, [r"'exp' is reserved"]),
]


@pytest.mark.parametrize("kwargs, patterns", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_neuron_definitions(kwargs, patterns):
    with pytest.raises(ann.EquationError) as info:
        ann.Neuron(**kwargs)
    for pattern in patterns:
        assert re.search(pattern, str(info.value)), str(info.value)


@pytest.mark.parametrize("parameters, kind, pattern", [
    ({"not a name": 1.0}, ann.InvalidValueError, r"'not a name' is not a valid name"),
    ({"t": 1.0}, ann.InvalidValueError, r"'t' is not a valid name"),
    ({"tau": ann.Parameter(1.0, locality="everywhere")}, ann.InvalidValueError, r"locality"),
    ({"tau": "ten"}, ann.InvalidTypeError, r"parameter tau must be a number"),
])
def test_bad_parameter_dicts(parameters, kind, pattern):
    with pytest.raises(kind, match=pattern):
        ann.Neuron(parameters=parameters)
