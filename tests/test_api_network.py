"""ANNarchy 5's everyday network API: compile options, simulate(measure_time), time and steps,
access by name, seeds, Network subclasses, save/load, simulate_until with stop conditions,
the warnings about unused targets, and the star import."""

import re
import warnings

import numpy as np
import pytest

import tecomp as ann
from tecomp import kernels, reference
from tecomp.errors import (
    EquationError,
    InvalidTypeError,
    InvalidValueError,
    NetworkStateError,
    TecompWarning,
)
from tecomp.extensions.convolution import Convolution, Copy, Pooling


def rate():
    return ann.Neuron(parameters="r = 0.0")


def summing():
    return ann.Neuron(equations="r = sum(exc)")


def small_network(net=None, w=None):
    net = net or ann.Network()
    pre = net.create((6, 6), rate(), name="input")
    post = net.create((6, 6), summing(), name="output")
    proj = net.connect(Convolution(pre, post, "exc", name="conv"))
    proj.connect_filter(np.ones((3, 3)) if w is None else w)
    return net, pre, post, proj


# -- compile and simulate ---------------------------------------------------------------------

def test_compile_takes_annarchys_options_and_silent_silences_the_hint(capsys, monkeypatch):
    monkeypatch.setattr(kernels, "_untuned_said", False)
    net, *_ = small_network()
    net.compile(directory="annarchy", clean=True, compiler="g++", compiler_flags="-O3",
                add_sources="", extra_libs="", cuda_config={"device": 0}, annarchy_json="",
                silent=True, debug_build=False, trace_calls=None, profile_enabled=False)
    assert "default schedules" not in capsys.readouterr().err
    assert kernels.HINTS is True and net.compiled  # the switch is back
    net2, *_ = small_network(ann.Network())
    net2.compile()
    assert "some kernels use default schedules" in capsys.readouterr().err
    monkeypatch.setattr(kernels, "_untuned_said", False)
    monkeypatch.setattr(kernels, "HINTS", False)  # the public switch, for the whole process
    small_network(ann.Network())[0].compile()
    assert "default schedules" not in capsys.readouterr().err
    small_network()
    ann.compile(directory="elsewhere", clean=False, silent=True)
    with pytest.raises(TypeError):
        ann.Network().compile(optimise=True)


def test_simulate_measure_time_prints_annarchys_line(capsys):
    net, *_ = small_network(ann.Network(dt=0.5))
    net.compile(silent=True)
    net.simulate(5.0, measure_time=True)
    out = capsys.readouterr().out
    assert re.fullmatch(r"Simulating 0\.005 seconds of the network took [0-9.e-]+ seconds\.\n",
                        out), out
    net.simulate(5.0)
    assert capsys.readouterr().out == ""
    small_network()
    ann.compile(silent=True)
    ann.simulate(3.0, measure_time=True)
    assert capsys.readouterr().out.startswith("Simulating 0.003 seconds of the network took ")


def test_time_and_steps_per_network_and_global():
    net, *_ = small_network(ann.Network(dt=0.25))
    assert (net.time, net.current_step, net.get_time(), net.get_current_step()) == (0.0, 0, 0.0,
                                                                                    0)
    net.compile(silent=True)
    net.simulate(2.0)
    net.step()
    assert (net.time, net.current_step, net.get_time(), net.get_current_step()) == (2.25, 9,
                                                                                    2.25, 9)
    ann.setup(dt=0.5)
    small_network()
    ann.compile(silent=True)
    ann.simulate(3.0)
    assert (ann.get_time(), ann.get_current_step()) == (3.0, 6)
    assert ann.magic_network().current_step == 6 and net.current_step == 9
    ann.reset()
    assert (ann.get_time(), ann.get_current_step()) == (0.0, 0)


def test_populations_and_projections_by_name():
    net, pre, post, proj = small_network()
    assert net.get_population("input") is pre and net.get_population("output") is post
    assert net.get_projection("conv") is proj
    assert net.get_populations() == [pre, post] and net.get_projections() == [proj]
    with pytest.raises(InvalidValueError, match=r"no population is named 'inptu' \(did you "
                                                r"mean 'input'\?\); known: 'input', 'output'"):
        net.get_population("inptu")
    with pytest.raises(InvalidValueError, match=r"no projection is named 'x'; known: 'conv'"):
        net.get_projection("x")
    m = net.monitor(post, "r", name="watch")
    assert net.get_monitor("watch") is m and net.get_monitors() == [m]
    _, gpre, _, gproj = small_network(ann.magic_network())
    assert ann.get_population("input") is gpre and ann.get_projection("conv") is gproj
    assert ann.populations()[0] is gpre and ann.projections() == [gproj] and ann.monitors() == []
    with pytest.raises(InvalidValueError, match=r"known: 'input', 'output'"):
        ann.get_population("hidden")


# -- seeds -------------------------------------------------------------------------------------

def test_a_seed_gives_the_same_values_and_reset_reseeds():
    def draw(net):
        pop = net.create((5, 4), ann.Neuron(parameters="r = 0.0"))
        pop.r = ann.Normal(1.0, 2.0)
        return net, pop

    (a, pa), (_, pb), (c, pc) = draw(ann.Network(seed=42)), draw(ann.Network(seed=42)), \
        draw(ann.Network(seed=43))
    np.testing.assert_array_equal(pa.r, np.random.default_rng(42).normal(1.0, 2.0, (5, 4)))
    np.testing.assert_array_equal(pa.r, pb.r)
    assert not np.array_equal(pa.r, pc.r)
    assert (a.seed, c.seed) == (42, 43) and isinstance(a.default_rng, np.random.Generator)
    assert isinstance(ann.Network().seed, int)  # unseeded: a drawn seed, as ANNarchy
    a.compile(silent=True)
    first = pa.r
    pa.r = ann.Uniform(0.0, 1.0)
    a.reset()  # reseed_rng=True: the generator draws again from the start
    pa.r = ann.Normal(1.0, 2.0)
    np.testing.assert_array_equal(pa.r, first)
    ann.setup(seed=5)
    pop = ann.Population(3, rate())
    pop.r = ann.Uniform(0.0, 1.0)
    np.testing.assert_array_equal(pop.r, np.random.default_rng(5).uniform(0.0, 1.0, 3))
    ann.set_seed(6)
    pop.r = ann.Uniform(0.0, 1.0)
    np.testing.assert_array_equal(pop.r, np.random.default_rng(6).uniform(0.0, 1.0, 3))


@pytest.mark.parametrize("seed, error", [
    (-1, InvalidValueError), (2**64, InvalidValueError), (1.5, InvalidTypeError),
    ("1", InvalidTypeError), (True, InvalidTypeError),
])
def test_bad_seeds(seed, error):
    with pytest.raises(error, match=r"seed"):
        ann.Network(seed=seed)
    with pytest.raises(error, match=r"seed"):
        ann.setup(seed=seed)


# -- subclasses ----------------------------------------------------------------------------------

class Pipeline(ann.Network):
    """ANNarchy 5's pattern: the model is built in __init__ (no super().__init__())."""

    def __init__(self, size: int, weight: float):
        self.pre = self.create((size, size), rate())
        self.post = self.create((size, size), summing())
        self.proj = self.connect(Convolution(self.pre, self.post, "exc"))
        self.proj.connect_filter(np.full((3, 3), weight))


class WithSuper(ann.Network):
    def __init__(self, size: int):
        super().__init__()
        self.pop = self.create(size, rate())


class OwnDt(ann.Network):
    def __init__(self, dt: float = 0.1):
        super().__init__(dt=dt)  # a subclass that names dt itself gets it
        self.pop = self.create(2, rate())


def test_network_subclasses_build_their_model(rng):
    a, b = Pipeline(6, 1.0, dt=0.5, seed=3), Pipeline(4, 2.0)
    assert (a.dt, a.seed, b.dt) == (0.5, 3, 1.0)
    assert a.pre.network is a and a.populations == [a.pre, a.post]
    assert b.projections == [b.proj]
    x = rng.random((6, 6))
    a.pre.r = x
    a.compile(silent=True)
    a.simulate(1.0)
    np.testing.assert_allclose(a.post.r, reference.convolution(x, np.ones((3, 3)), (6, 6)),
                               atol=1e-12)
    assert b.time == 0.0 and len(ann.magic_network().populations) == 0
    assert WithSuper(3).pop.size == 3 and WithSuper(3, dt=0.2).dt == 0.2
    assert OwnDt().dt == 0.1 and OwnDt(dt=0.4).dt == 0.4
    with pytest.raises(InvalidValueError, match=r"dt"):
        Pipeline(4, 1.0, dt=-1.0)
    with pytest.raises(TypeError):
        Pipeline(4)  # the subclass's own arguments are checked by Python as usual


# -- save and load ---------------------------------------------------------------------------

def annotated(net=None, geometry=(6, 6), post_name="output", w_shape=(3, 3)):
    net = net or ann.Network()
    pre = net.create(geometry, ann.Neuron(parameters="r = 0.0\ng = 1.0 : population"),
                     name="input")
    post = net.create(geometry, summing(), name=post_name)
    proj = net.connect(Convolution(pre, post, "exc", name="conv"))
    proj.connect_filter(np.ones(w_shape))
    return net, pre, post, proj


def test_save_and_load_round_trip(tmp_path, rng):
    net, pre, post, proj = annotated()
    net.compile(silent=True)
    x, w = rng.random((6, 6)), rng.random((3, 3))
    pre.set({"r": x, "g": 3.0})
    proj.weights = w
    net.simulate(2.0)
    path = tmp_path / "sub" / "state.npz"
    net.save(path)
    saved_r = post.r
    pre.set({"r": np.zeros((6, 6)), "g": 0.0})
    proj.weights = np.zeros((3, 3))
    post.r = np.ones((6, 6))
    net.load(path)
    np.testing.assert_array_equal(pre.r, x)
    assert pre.g == 3.0
    np.testing.assert_array_equal(proj.weights, w)
    np.testing.assert_array_equal(post.r, saved_r)
    assert net.current_step == 2  # time is saved, not restored
    archive = np.load(path)
    assert {"time_step", "obj_names/populations", "obj_names/projections", "input/r", "input/g",
            "output/r", "conv/w", "input/geometry"} <= set(archive.files)
    assert int(archive["time_step"]) == 2
    fresh, fpre, fpost, fproj = annotated()  # another network of the same structure
    fresh.load(path)  # before compile: the initial values
    np.testing.assert_array_equal(fpre.r, x)
    np.testing.assert_array_equal(fproj.weights, w)
    fresh.compile(silent=True)
    fresh.step()
    np.testing.assert_allclose(fpost.r, reference.convolution(x, w, (6, 6)), atol=1e-12)
    annotated(ann.magic_network())
    ann.load(path)
    ann.save(tmp_path / "again.npz")
    assert np.array_equal(np.load(tmp_path / "again.npz")["conv/w"], w)


def test_save_and_load_keep_pooling_and_copy_out_of_the_weights(tmp_path, rng):
    net = ann.Network()
    a, b = net.create((4, 4), rate()), net.create((4, 4), rate())
    c, d = net.create((4, 4), summing()), net.create((4, 4), summing())
    e = net.create((2, 2), summing())
    source = Convolution(a, c, "exc").connect_filter(rng.random((3, 3)))
    Copy(b, d, "exc").connect_copy(source)
    Pooling(a, e, "exc").connect_pooling()
    net.save(tmp_path / "x.npz")
    files = set(np.load(tmp_path / "x.npz").files)
    assert "proj0/w" in files and "proj1/w" not in files and "proj2/w" not in files
    net.load(tmp_path / "x.npz")


@pytest.mark.parametrize("other, pattern", [
    pytest.param({"geometry": (6, 5)}, r"population input: geometry \(6, 5\) in the file, "
                                       r"\(6, 6\) in the network", id="geometry"),
    pytest.param({"post_name": "out"}, r"populations in the file but not in the network: out"
                                       r".*populations in the network but not in the file: "
                                       r"output", id="names"),
    pytest.param({"w_shape": (5, 5)}, r"projection conv: weights of shape \(5, 5\) in the "
                                      r"file, \(3, 3\) in the network", id="weights"),
])
def test_loading_a_file_of_another_network_is_refused(other, pattern, tmp_path, rng):
    source, *_ = annotated(**other)
    path = tmp_path / "other.npz"
    source.save(path)
    net, pre, _, proj = annotated()
    x = rng.random((6, 6))
    pre.r = x
    with pytest.raises(InvalidValueError, match=r"(?s)saved from another network; nothing "
                                                r"was loaded.*" + pattern):
        net.load(path)
    np.testing.assert_array_equal(pre.r, x)
    np.testing.assert_array_equal(proj.weights, np.ones((3, 3)))


def test_bad_files_are_refused(tmp_path):
    net, *_ = annotated()
    with pytest.raises(InvalidValueError, match=r"\.npz files only"):
        net.save(tmp_path / "state.data")
    with pytest.raises(InvalidValueError, match=r"cannot read"):
        net.load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InvalidValueError, match=r"cannot read"):
        net.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "pickled.npz", input=np.array({"r": 1}, dtype=object))
    with pytest.raises(InvalidValueError, match=r"pickled Python objects"):
        net.load(tmp_path / "pickled.npz")
    np.savez(tmp_path / "foreign.npz", r=np.zeros(3))
    with pytest.raises(InvalidValueError, match=r"not written by tecomp"):
        net.load(tmp_path / "foreign.npz")
    with pytest.raises(InvalidTypeError, match=r"path"):
        net.save(3)
    big = ann.Network(precision="float")
    annotated(big)
    net.get_population("input").r = np.full((6, 6), 1e300)
    net.save(tmp_path / "big.npz")
    with pytest.raises(InvalidValueError, match=r"fit the network's precision"):
        big.load(tmp_path / "big.npz")
    np.testing.assert_array_equal(big.get_population("input").r, np.zeros((6, 6)))


# -- simulate_until -------------------------------------------------------------------------

def counting(net, increments, condition, name=None):
    pop = net.create(len(increments), ann.Neuron(parameters="g = 0.0", equations="r = r + g"),
                     stop_condition=condition, name=name)
    pop.g = increments
    return pop


def test_simulate_until_stops_after_the_step_that_makes_the_condition_true():
    net = ann.Network(dt=0.5)
    anyone = counting(net, [1.0, 2.0, 3.0], "r >= 6 : any")
    everyone = counting(net, [1.0, 2.0, 3.0], "r >= 6 : all")
    default = counting(net, [1.0, 2.0, 3.0], "r >= 6")  # ANNarchy's default: any
    m = net.monitor(anyone, "r")
    net.compile(silent=True)
    assert net.simulate_until(100.0, anyone) == 1.0  # 2 steps of 0.5 ms: 3 + 3 = 6
    np.testing.assert_array_equal(anyone.r, [2.0, 4.0, 6.0])
    assert m.get("r").shape == (2, 3)
    net.reset()
    assert net.simulate_until(100.0, everyone) == 3.0  # 6 steps
    net.reset()
    assert net.simulate_until(100.0, default) == 1.0
    net.reset()
    assert net.simulate_until(100.0, [anyone, everyone], operator="and") == 3.0
    net.reset()
    assert net.simulate_until(100.0, [anyone, everyone], operator="or") == 1.0
    net.reset()
    assert net.simulate_until(1.5, everyone) == 1.5  # max_duration reached first
    assert net.current_step == 3


def test_stop_conditions_read_sums_time_and_functions(capsys):
    net = ann.Network()
    pre = net.create(4, rate())
    post = net.create(4, summing(), stop_condition="sum(exc) > 2.5 and t >= 3 : any")
    clock = net.create(1, ann.Neuron(parameters="tau = 2.0 : population",
                                     functions="twice(x) = 2 * x", equations="r = 0.0"),
                       stop_condition="not (twice(t) < 5 * tau * pi / pi) or r > 1")
    Convolution(pre, post, "exc").connect_filter(np.ones(3))
    pre.r = [0.0, 1.0, 1.0, 1.0]
    net.compile(silent=True)
    assert net.simulate_until(10.0, post) == 3.0  # sum(exc) is 3 from the first step
    net.reset()
    assert net.simulate_until(10.0, clock, measure_time=True) == 5.0  # 2 t >= 10
    assert capsys.readouterr().out.startswith("Simulating 0.005 seconds of the network took")
    ann.clear()
    pop = ann.Population(2, ann.Neuron(equations="r = r + 1"), stop_condition="r > 2 : all")
    ann.compile(silent=True)
    assert ann.simulate_until(10.0, pop) == 3.0


@pytest.mark.parametrize("condition, pattern", [
    pytest.param("r > ", r"cannot parse", id="syntax"),
    pytest.param("v > 1", r"unknown name 'v'", id="unknown-name"),
    pytest.param("r > 1 : some", r"flag 'some' is unknown", id="unknown-flag"),
    pytest.param("r > 1 : any all", r"'any' or 'all', not both", id="both"),
    pytest.param(" : any", r"no condition", id="empty"),
    pytest.param("pre.r > 1", r"cannot use 'pre'", id="pre"),
])
def test_bad_stop_conditions_are_refused_at_the_population(condition, pattern):
    net = ann.Network()
    with pytest.raises(EquationError, match=pattern):
        net.create(3, ann.Neuron(parameters="r = 0.0"), stop_condition=condition)
    assert net.populations == []


def test_simulate_until_refuses_bad_calls():
    net = ann.Network()
    with_condition = counting(net, [1.0], "r > 5")
    without = net.create(2, rate())
    with pytest.raises(InvalidTypeError, match=r"stop_condition must be a string"):
        net.create(2, rate(), stop_condition=3)
    with pytest.raises(NetworkStateError, match=r"compile"):
        net.simulate_until(5.0, with_condition)
    net.compile(silent=True)
    with pytest.raises(InvalidValueError, match=r"has no stop_condition"):
        net.simulate_until(5.0, [with_condition, without])
    with pytest.raises(InvalidValueError, match=r"'and' or 'or', got 'xor'"):
        net.simulate_until(5.0, with_condition, operator="xor")
    with pytest.raises(InvalidValueError, match=r"max_duration"):
        net.simulate_until(-1.0, with_condition)
    other = ann.Network()
    with pytest.raises(InvalidValueError, match=r"not a population of this network"):
        net.simulate_until(5.0, counting(other, [1.0], "r > 1"))
    assert net.current_step == 0


# -- warnings about targets ---------------------------------------------------------------------

def compile_and_collect(net, silent=True):
    """The messages of the warnings compile() gives, each a TecompWarning (a UserWarning)."""
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        net.compile(silent=silent)
    assert all(issubclass(w.category, TecompWarning) for w in said), said
    assert issubclass(TecompWarning, UserWarning)
    return [str(w.message) for w in said]


def test_unfed_sums_and_unread_targets_are_named_at_compile():
    net = ann.Network()
    pre = net.create((4, 4), rate(), name="pre")
    post = net.create((4, 4), summing(), name="pop1")
    Convolution(pre, post, "ecx", name="proj0").connect_filter(np.ones((3, 3)))
    said = compile_and_collect(net)  # silent=True keeps the warnings
    assert said == [
        "population pop1 reads sum(exc), but no projection to pop1 has target 'exc' (did you "
        "mean 'ecx', the target of proj0?)",
        "projection proj0 (pre -> pop1) has target 'ecx', but no equation of pop1 reads "
        "sum(ecx) (did you mean 'exc', read by pop1?)"]
    other = ann.Network()
    a = other.create(3, rate(), name="a")
    b = other.create(3, ann.Neuron(equations="r = sum(inhibition)"), name="b")
    Convolution(a, b, "exc", name="p").connect_filter(np.ones(3))
    Convolution(a, a, "exc", name="q").connect_filter(np.ones(3))  # a has no equation
    messages = compile_and_collect(other, silent=False)
    assert messages == [
        "population b reads sum(inhibition), but no projection to b has target 'inhibition'",
        "projection p (a -> b) has target 'exc', but no equation of b reads sum(exc)",
        "projection q (a -> a) has target 'exc', but no equation of a reads sum(exc)"]


def test_a_well_formed_network_compiles_without_warnings():
    net = ann.Network()
    pre = net.create((4, 4), rate())
    post = net.create((4, 4), ann.Neuron(equations="r = sum()"))  # sum() reads every target
    both = net.create((4, 4), ann.Neuron(equations="r = sum(exc) - sum(inh)"))
    Convolution(pre, post, "anything").connect_filter(np.ones((3, 3)))
    Convolution(pre, both, "exc").connect_filter(np.ones((3, 3)))
    Convolution(pre, both, "inh").connect_filter(np.ones((3, 3)))
    assert compile_and_collect(net) == []


# -- the star import -----------------------------------------------------------------------------

# Names `from ANNarchy import *` gives in ANNarchy 5.0.4.1 (ANNarchy/__init__.py and the
# __all__ of core/Global.py and core/Simulate.py) that tecomp provides.
ANNARCHY_NAMES = {
    "Network", "Population", "Neuron", "Parameter", "Monitor", "Uniform", "DiscreteUniform",
    "Normal", "LogNormal", "Gamma", "Exponential", "setup", "compile", "simulate",
    "simulate_until", "step", "reset", "clear", "get_time", "get_current_step",
    "get_population", "get_projection", "populations", "projections", "monitors",
    "magic_network", "set_seed", "save", "load",
}


def test_every_name_of_the_star_import_exists():
    namespace: dict = {}
    exec("from tecomp import *", namespace)
    for name in ann.__all__:
        assert hasattr(ann, name), name
        assert name in namespace, name
    assert set(ann.__all__) >= ANNARCHY_NAMES
    assert len(set(ann.__all__)) == len(ann.__all__)


def test_create_copies_a_population_made_elsewhere_into_the_network():
    from tecomp.extensions.image import ImagePopulation

    net = ann.Network()
    made = ImagePopulation((4, 4), name="img")  # on the default network
    made.r = np.full((4, 4), 0.25)
    img = net.create(made)
    assert type(img) is ImagePopulation and img.network is net and img is not made
    assert img.name == "img" and net.populations == [img]
    np.testing.assert_array_equal(img.r, np.full((4, 4), 0.25))
    other = net.create(population=ann.Population(3, ann.Neuron(equations="r = sum(exc)"),
                                                 name="out"))
    net.connect(img, other, "exc").all_to_all(2.0)
    net.compile(silent=True)
    net.simulate(1)
    np.testing.assert_allclose(other.r, np.full(3, 16 * 0.25 * 2.0))
    with pytest.raises(ann.InvalidValueError, match="give a Population alone"):
        net.create(made, ann.Neuron(parameters="r = 0.0"))
    with pytest.raises(ann.InvalidValueError, match="needs a geometry and a neuron"):
        net.create(4)
