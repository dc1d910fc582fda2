"""Monitors: what is recorded at which step, period and offset, start/pause/resume, get()
emptying, times(), reset, several targets, and bad input."""

import numpy as np
import pytest

import tecomp as ann
from tecomp.extensions.convolution import Convolution
from tests.helpers import assert_close

W = np.array([0.5, 1.0, -0.25])


def leaky(net=None, dt=1.0, geometry=(3, 4)):
    """inp -> pop, `tau * dr/dt + r = sum(exc)`, with the NumPy trajectory of pop.r."""
    net = ann.Network(dt=dt) if net is None else net
    inp = net.create(geometry, ann.Neuron(parameters="r = 0.0"))
    pop = net.create(geometry, ann.Neuron(parameters="tau = 4.0 : population",
                                          equations="tau * dr/dt + r = sum(exc)\nu = 2 * r"))
    weights = np.ones((1, 3)) / 3
    net.connect(Convolution(inp, pop, "exc")).connect_filter(weights)
    x = np.random.default_rng(3).random(geometry)
    inp.r = x
    drive = (x + np.pad(x, ((0, 0), (1, 1)))[:, :-2] + np.pad(x, ((0, 0), (1, 1)))[:, 2:]) / 3

    def trajectory(steps):
        r, out = np.zeros(geometry), []
        for _ in range(steps):
            r = r + dt * (drive - r) / 4.0
            out.append(r)
        return np.array(out)

    trajectory.restore_input = lambda: setattr(inp, "r", x)  # reset() zeroes it too
    return net, pop, drive, trajectory


def test_records_after_each_step_variables_and_inputs():
    net, pop, drive, trajectory = leaky(dt=0.5)
    m = ann.Monitor(pop, ["r", "u", "sum(exc)"])  # registers in pop's network
    net.compile()
    net.simulate(5.0)
    expected = trajectory(10)
    data = m.get()
    assert set(data) == {"r", "u", "sum(exc)"}
    assert data["r"].shape == (10, 3, 4)
    assert_close(data["r"], expected)
    assert_close(data["u"], 2 * expected)
    assert_close(data["sum(exc)"], np.broadcast_to(drive, (10, 3, 4)))
    assert m.times()["r"] == {"start": [0.0], "stop": [5.0]}


def test_period_offset_and_flat_shape():
    net, pop, _, trajectory = leaky(dt=0.5)
    m = net.monitor(pop, "r", period=1.5, period_offset=0.5)
    net.compile()
    net.simulate(6.0)
    expected = trajectory(12)[1::3]  # steps 1, 4, 7, 10 (offset 1 step, period 3 steps)
    flat = m.get("r", keep=True, reshape=False)
    assert flat.shape == (4, 12)
    assert_close(flat, expected.reshape(4, 12))
    assert_close(m.get("r"), expected)


def test_start_pause_resume_and_times():
    net, pop, _, trajectory = leaky()
    m = net.monitor(pop, ["r"], start=False)
    net.compile()
    net.simulate(2.0)
    assert m.get("r", keep=True).shape == (0, 3, 4)
    m.start()
    net.simulate(3.0)  # steps 2, 3, 4
    m.pause()
    net.simulate(2.0)
    m.resume()
    net.simulate(1.0)  # step 7
    expected = trajectory(8)[[2, 3, 4, 7]]
    assert m.times() == {"r": {"start": [2.0, 7.0], "stop": [5.0, 8.0]}}
    assert_close(m.get("r"), expected)
    assert m.times() == {"r": {"start": [2.0, 7.0], "stop": [5.0, 8.0]}}  # of that get()
    net.simulate(2.0)
    assert_close(m.get("r"), trajectory(10)[8:])  # get() emptied the earlier records


def test_monitor_after_compile_and_reset():
    net, pop, _, trajectory = leaky()
    net.compile()
    net.simulate(3.0)
    late = net.monitor(pop, "r")  # starts at once on a compiled network
    net.simulate(2.0)
    assert_close(late.get("r"), trajectory(5)[3:])
    net.simulate(1.0)
    net.reset()  # monitors are emptied and record again from time 0
    trajectory.restore_input()
    net.simulate(2.0)
    assert_close(late.get("r"), trajectory(2))
    assert late.times()["r"] == {"start": [0.0], "stop": [2.0]}
    net.simulate(1.0)
    net.reset(monitors=False)
    trajectory.restore_input()
    net.simulate(1.0)
    assert_close(late.get("r"), [trajectory(3)[2], trajectory(1)[0]])  # kept across reset


def test_sum_of_several_projections_and_of_none():
    net = ann.Network()
    a, b = (net.create(6, ann.Neuron(parameters="r = 0.0")) for _ in range(2))
    pop = net.create(6, ann.Neuron(equations="r = sum(exc) + sum(inh)"))
    net.connect(Convolution(a, pop, "exc")).connect_filter(np.array([2.0]))
    net.connect(Convolution(b, pop, "exc")).connect_filter(np.array([1.0]))
    net.connect(Convolution(b, pop, "inh")).connect_filter(np.array([-3.0]))
    m = net.monitor(pop, ["sum(exc)", "sum(inh)", "sum(none)", "sum()"])
    net.compile()
    xa, xb = np.arange(6.0), np.linspace(0, 1, 6)
    a.r, b.r = xa, xb
    net.step()
    data = m.get()
    assert_close(data["sum(exc)"], [2 * xa + xb])
    assert_close(data["sum(inh)"], [-3 * xb])
    assert_close(data["sum(none)"], [np.zeros(6)])
    assert_close(data["sum()"], [2 * xa - 2 * xb])


def test_recording_writes_into_preallocated_blocks():
    """One copy per record: rows come from blocks that double in size, not one array per
    step, and the live buffers are never handed out."""
    net, pop, _, trajectory = leaky()
    m = net.monitor(pop, "r")
    net.compile()
    net.simulate(1000.0)
    track = m._tracks["r"]
    assert len(track.blocks) <= 5
    values = m.get("r")
    assert_close(values, trajectory(1000))
    values[-1] = 0.0  # a copy: the population is untouched
    assert_close(pop.r, trajectory(1000)[-1])


def test_networks_keep_their_own_monitors():
    first, pop1, _, trajectory = leaky()
    second, pop2, _, _ = leaky()
    m1, m2 = first.monitor(pop1, "r"), second.monitor(pop2, "r")
    first.compile()
    second.compile()
    first.simulate(3.0)
    second.simulate(1.0)
    assert m1.get("r").shape[0] == 3 and m2.get("r").shape[0] == 1
    assert first.monitors == [m1] and second.monitors == [m2]
    with pytest.raises(ann.InvalidValueError, match="another network"):
        first.monitor(pop2, "r")
    assert_close(pop1.r, trajectory(3)[-1])


@pytest.mark.parametrize("args, kwargs, kind, pattern", [
    (("r",), {}, ann.InvalidTypeError, r"can record a Population"),
    ((None, "tau"), {}, ann.InvalidValueError, r"'tau' is a parameter.*not recordable"),
    ((None, "v"), {}, ann.InvalidValueError, r"no variable 'v'; recordable: r, u"),
    ((None, "r"), {"period": 0.75}, ann.InvalidValueError, r"period=0.75 ms is not a multiple"),
    ((None, "r"), {"period": 1.0, "period_offset": 1.0}, ann.InvalidValueError,
     r"period_offset smaller than period"),
    ((None, 3), {}, ann.InvalidTypeError, r"names must be strings"),
])
def test_bad_monitors(args, kwargs, kind, pattern):
    net, pop, _, _ = leaky(dt=0.5)
    args = tuple(pop if a is None else a for a in args)
    with pytest.raises(kind, match=pattern):
        ann.Monitor(*args, **kwargs)
    assert net.monitors == []


def test_control_before_compile_and_unknown_get():
    net, pop, _, _ = leaky()
    m = net.monitor(pop, "r")
    with pytest.raises(ann.NetworkStateError, match="compile"):
        m.start()
    net.compile()
    with pytest.raises(ann.InvalidValueError, match="'u' is not recorded"):
        m.get("u")


def test_global_functions_and_the_default_network():
    inp = ann.Population(5, ann.Neuron(parameters="r = 0.0"))
    pop = ann.Population(5, ann.Neuron(equations="dr/dt = sum(exc)"))
    Convolution(inp, pop, "exc").connect_filter(np.array([1.0]))
    m = ann.Monitor(pop, "r", period=2.0)
    ann.compile()
    inp.r = np.arange(5.0)
    ann.simulate(6.0)  # records after steps 0, 2, 4
    assert_close(m.get("r"), [k * np.arange(5.0) for k in (1, 3, 5)])
    ann.reset()
    inp.r = np.ones(5)
    ann.simulate(2.0)
    assert_close(m.get("r"), [np.ones(5)])


def test_get_empties_only_the_variables_it_returns():
    """As ANNarchy: get("r") clears r's records; s keeps all of its own, and times() says
    when each was recorded."""
    net = ann.Network()
    pop = net.create(4, ann.Neuron(parameters="tau = 10.0",
                                   equations="tau*dr/dt + r = 1.0\ns = 2*r"))
    m = ann.Monitor(pop, ["r", "s"])
    kept = ann.Monitor(pop, ["r", "s"], max_samples=3)
    net.compile()
    net.simulate(5.0)
    r = m.get("r")
    net.simulate(2.0)
    s = m.get("s")
    assert r.shape == (5, 4) and s.shape == (7, 4)
    np.testing.assert_allclose(s[:5], 2 * r)
    assert m.times("s")["s"] == {"start": [0.0], "stop": [7.0]}
    r_later = m.get("r")
    assert r_later.shape == (2, 4) and m.times("r")["r"] == {"start": [5.0], "stop": [7.0]}
    np.testing.assert_allclose(s[5:], 2 * r_later)
    assert kept.get("r").shape == (3, 4) and kept.times("r")["r"]["start"] == [4.0]
    assert kept.get("s").shape == (3, 4)
