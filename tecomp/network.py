"""Networks: the populations and projections of one model, its clock and its precision.

The global functions (`setup`, `compile`, `simulate`, ...) act on a default network, as in
ANNarchy; `Network` objects are independent of it and of each other.

Each network has a NumPy `Generator` (`net.default_rng`, seeded by `Network(seed=...)` or
`setup(seed=...)`; an unseeded network draws its seed, readable as `net.seed`): random
distributions given as values (`pop.r = Uniform(0, 1)`) are drawn with it, so the same seed
gives the same values. A subclass of `Network` may build its model in its own `__init__`,
with or without calling `super().__init__()` (ANNarchy 5's pattern).
"""

import difflib
import inspect
import os
import secrets
import time
import warnings
from typing import TYPE_CHECKING

import numpy as np

from . import constants
from .errors import InvalidTypeError, InvalidValueError, NetworkStateError, TecompWarning
from .values import number, show

if TYPE_CHECKING:
    from .monitor import Monitor
    from .population import Population

PRECISIONS = {"double": "float64", "float": "float32"}
MAX_STEPS = 2**63 - 1  # one simulate() call
# Network's own keyword arguments: the class takes them from a call to a subclass whose
# __init__ does not name them (see _NetworkType).
NETWORK_OPTIONS = ("dt", "seed", "precision")


def check_projection(who: str, pre, post, target, name) -> None:
    """What every projection checks at its creation: both ends in one network, a target
    that is a name, a name that is a string (or None)."""
    if pre.network is not post.network:
        raise InvalidValueError(f"{who}: pre {pre.name} and post {post.name} belong to "
                                "different networks")
    if not isinstance(target, str) or not target.isidentifier():
        raise InvalidValueError(f"{who}: target must be a name such as 'exc', "
                                f"got {show(target)}")
    if name is not None and not isinstance(name, str):
        raise InvalidTypeError(f"{who}: name must be a string, got {show(name)}")


def _tune_budget(value, who: str, what: str) -> float | None:
    """A tuning budget in seconds: a number >= 0 (0 or None: no tuning)."""
    if value is None:
        return None
    rule = "a number of seconds >= 0 (0: no tuning)"
    seconds = number(value, who, what, rule)
    if seconds < 0:
        raise InvalidValueError(f"{who}: {what} must be {rule}, got {value!r}")
    return seconds or None


def check_dt(dt) -> float:
    rule = "a positive number of ms"
    value = number(dt, "setup", "dt", rule, wrong_type=InvalidValueError)
    if value <= 0:
        raise InvalidValueError(f"setup: dt must be {rule}, got {show(dt)}")
    return value


class _NetworkType(type):
    """Lets a subclass's `__init__` build the model, as in ANNarchy 5: `Network.__init__`
    runs first, with the `dt`, `seed` and `precision` keywords of the call (those the
    subclass's `__init__` does not name itself), then the subclass's `__init__` with the
    rest; its `super().__init__()` is optional (with arguments, it applies them). The
    arguments given to the subclass's `__init__` are kept: `parallel_run` builds its copies
    with them."""

    def __call__(cls, *args, **kwargs):
        init = cls.__init__
        if init is Network.__init__:
            return super().__call__(*args, **kwargs)
        try:
            named = set(inspect.signature(init).parameters)
        except (TypeError, ValueError):
            named = set()
        options = {k: kwargs.pop(k) for k in NETWORK_OPTIONS if k in kwargs and k not in named}
        network = cls.__new__(cls)
        Network.__init__(network, **options)
        init(network, *args, **kwargs)
        network._init_args, network._init_kwargs = args, kwargs
        return network


class Network(metaclass=_NetworkType):
    """One model: populations, projections, a clock (`time`, ms), a precision and a NumPy
    random generator (`seed`).

    >>> import tecomp as ann
    >>> net = ann.Network(dt=0.5, seed=1)
    >>> pop = net.create((4,), ann.Neuron(parameters="r = 1.0"))
    >>> net.compile(); net.simulate(2.0); net.time, net.current_step
    (2.0, 4)

    A subclass builds its model in `__init__` (ANNarchy 5's pattern):

    >>> class Layer(ann.Network):
    ...     def __init__(self, size):
    ...         self.pop = self.create(size, ann.Neuron(parameters="r = 0.0"))
    >>> Layer(3, dt=0.1).pop.size
    3
    """

    def __init__(self, dt: float | None = None, seed: int | None = None,
                 precision: str | None = None):
        if getattr(self, "_initialized", False):  # a subclass's super().__init__(), again
            if dt is not None or precision is not None:
                self.setup(dt=dt, precision=precision)
            if seed is not None:
                self._seed_with(seed)
            return
        self.dt = check_dt(1.0 if dt is None else dt)
        self.dtype = _dtype("double" if precision is None else precision)
        self._seed_with(seed)
        self.populations: list = []
        self.projections: list = []
        self.monitors: list = []
        self.engine = None  # the compiled form, once compile() ran
        self.autotune = None  # seconds compile() may spend tuning kernels without a record
        self._initialized = True

    def _seed_with(self, seed) -> None:
        if seed is None:
            seed = secrets.randbits(32)  # as ANNarchy: a drawn seed, readable as net.seed
        elif isinstance(seed, bool | np.bool_) or not isinstance(seed, int | np.integer):
            raise InvalidTypeError(f"Network: seed must be an int >= 0 or None, "
                                   f"got {show(seed)}")
        elif not 0 <= seed < 2**64:
            raise InvalidValueError(f"Network: seed must be an int from 0 to 2**64 - 1, "
                                    f"got {show(seed)}")
        self._seed = int(seed)
        self._rng = np.random.default_rng(self._seed)
        self._rng_state = self._rng.bit_generator.state  # what reset(reseed_rng=True) restores

    @property
    def seed(self) -> int:
        """The seed of `default_rng`."""
        return self._seed

    @property
    def default_rng(self) -> np.random.Generator:
        """The network's NumPy generator: random distributions given as values draw from it."""
        return self._rng

    # -- description --------------------------------------------------------------------
    def create(self, geometry=None, neuron=None, stop_condition: str | None = None,
               name: str | None = None, population=None) -> "Population":
        """Add a population (ANNarchy 5 style, arguments in its order). A population made
        elsewhere (`net.create(ImagePopulation((32, 32)))`, or `population=`) is copied into
        this network, with its values and its name, as ANNarchy 5 does."""
        from .population import Population  # populations register themselves here

        given = population if population is not None else \
            geometry if isinstance(geometry, Population) else None
        if given is not None:
            if not isinstance(given, Population) or any(
                    v is not None for v in (neuron, stop_condition, name)) or \
                    (population is not None and geometry is not None):
                raise InvalidValueError("Network.create: give a Population alone (as the first "
                                        "argument or population=), or a geometry and a neuron")
            return given.copy_into(self)
        if geometry is None or neuron is None:
            raise InvalidValueError("Network.create: needs a geometry and a neuron, or a "
                                    "Population to copy into this network")
        return Population(geometry, neuron, name=name, stop_condition=stop_condition,
                          network=self)

    def connect(self, pre, post=None, target=None, synapse=None, name=None,
                disable_omp: bool = True):
        """ANNarchy 5's `net.connect(pre, post, target, synapse=None, name=None)`: a new
        regular `Projection` on this network's populations (connect it with a connector:
        `net.connect(pre, post, "exc").all_to_all(weights=1.0)`). Given one Convolution,
        Pooling, Copy or Projection already built on this network, returns it."""
        if post is None and target is None:
            if pre not in self.projections:
                raise InvalidValueError(f"Network.connect: {pre!r} is no projection of this "
                                        "network; give pre, post and target to make one")
            return pre
        from .projection import Projection

        for role, end in (("pre", pre), ("post", post)):
            if getattr(end, "network", None) is not self:
                raise InvalidValueError(f"Network.connect: {role} {end!r} is not a population "
                                        "of this network")
        return Projection(pre, post, target, synapse=synapse, name=name)

    def monitor(self, obj, variables=None, period: float | None = None,
                period_offset: float | None = None, start: bool = True, name: str | None = None,
                max_samples: int | None = None):
        """Record variables of one of this network's populations (ANNarchy 5 style)."""
        from .monitor import Monitor

        if getattr(obj, "network", self) is not self:
            raise InvalidValueError(f"Network.monitor: {obj!r} belongs to another network")
        return Monitor(obj, variables, period=period, period_offset=period_offset, start=start,
                       name=name, max_samples=max_samples)

    def constant(self, name: str, value: float):
        """A Constant of this network (ANNarchy 5's `net.constant`): every equation of its
        neurons may read `name`; `c.set(v)` changes it, also after compile().

        >>> import tecomp as ann
        >>> net = ann.Network()
        >>> net.constant("g", 2.0)
        Constant('g', 2.0)
        """
        from .constants import Constant

        return Constant(name, value, network=self)

    def add_monitor(self, monitor) -> None:
        self.monitors.append(monitor)

    def check_open(self, what: str) -> None:
        """Raise NetworkStateError when the network is compiled (it can no longer grow)."""
        if self.engine is not None:
            raise NetworkStateError(f"{what}: the network is already compiled; call clear() "
                                    "(or build a new Network) to describe another one")

    def add_population(self, population) -> None:
        self.check_open("Population")
        if any(p.name == population.name for p in self.populations):
            raise InvalidValueError(f"Population: the name {population.name!r} is already used")
        self.populations.append(population)

    def free_projection_name(self) -> str:
        """proj<k>: the first such name no projection of this network has yet."""
        taken = {p.name for p in self.projections}
        k = len(self.projections)
        while f"proj{k}" in taken:
            k += 1
        return f"proj{k}"

    def add_projection(self, projection) -> None:
        self.check_open(type(projection).__name__)
        if any(p.name == projection.name for p in self.projections):
            raise InvalidValueError(f"{type(projection).__name__}: the name "
                                    f"{projection.name!r} is already used by a projection of "
                                    "this network (save() and load() find them by name)")
        self.projections.append(projection)

    def setup(self, dt: float | None = None, precision: str | None = None,
              seed: int | None = None, autotune: float | None = None) -> None:
        """Change the step, the precision or the seed before compile(); `autotune=seconds`
        makes compile() tune the kernels that have no record yet (see compile's `tune`)."""
        self.check_open("setup")
        dt = self.dt if dt is None else check_dt(dt)
        dtype = self.dtype if precision is None else _dtype(precision)
        autotune = self.autotune if autotune is None else _tune_budget(autotune, "setup",
                                                                       "autotune")
        if seed is not None:
            self._seed_with(seed)
        self.dtype, self.dt, self.autotune = dtype, dt, autotune

    # -- running ----------------------------------------------------------------------------
    def compile(self, directory: str = "annarchy", clean: bool = False,
                compiler: str = "default", compiler_flags: str | list = "default",
                add_sources: str = "", extra_libs: str = "", cuda_config: dict | None = None,
                annarchy_json: str = "", silent: bool = False, debug_build: bool = False,
                trace_calls: str | None = None, profile_enabled: bool = False,
                tuned: bool = True, tune: float | None = None) -> None:
        """Build every kernel; afterwards the network can run but not grow.

        `tune=seconds` (or `setup(autotune=seconds)`) first tunes the kernels that have no
        tuned record for this machine, within that many seconds in all, in a worker process
        (a progress bar per kernel), and caches the records; nothing happens, silently, when
        every kernel has one. A later compile() of the same geometries uses them.

        Kernels use their tuned schedule when the cache has one (`tuned=False`: always the
        template defaults). `silent=True` silences tecomp's hints (the line saying that some
        kernels use default schedules); warnings stay. ANNarchy's other options (`directory`,
        `clean`, `compiler`, `compiler_flags`, `add_sources`, `extra_libs`, `cuda_config`,
        `annarchy_json`, `debug_build`, `trace_calls`, `profile_enabled`) are accepted and
        ignored: tecomp generates no C++ project (kernels are cached per geometry, see
        tecomp.cache).

        At the first compile(), a `sum(target)` that no projection feeds and a projection
        whose target no equation of its post reads are each named in a TecompWarning."""
        if on_compile is not None:
            on_compile(self)
        from . import kernels  # the engine needs TVM; describing a network does not
        from .engine import Engine

        budget = self.autotune if tune is None else _tune_budget(tune, "compile", "tune")
        if self.engine is None:
            _warn_unused_targets(self)
            if budget and tuned:
                from .tuning.search import specs_to_tune, tune_missing

                tune_missing(specs_to_tune(self), budget, progress=not silent)
            hints, kernels.HINTS = kernels.HINTS, kernels.HINTS and not silent
            try:
                self.engine = Engine(self, tuned=tuned)
            finally:
                kernels.HINTS = hints
            for monitor in self.monitors:
                monitor.attach()

    @property
    def compiled(self) -> bool:
        """Whether compile() ran."""
        return self.engine is not None

    def tune(self, trials: int = 64, seconds: float = 120.0, threads: int | None = None,
             progress: bool = True, metaschedule: int = 0) -> list:
        """Tune every kernel of this network and cache the best schedules (see tecomp.tuning).
        Each kernel gets `trials` candidates within `seconds`; `metaschedule` > 0 also asks
        TVM's MetaSchedule for that many trials."""
        from .tuning import tune

        return tune(self, trials=trials, seconds=seconds, threads=threads, progress=progress,
                    metaschedule=metaschedule)

    def _compiled(self, what: str):
        if self.engine is None:
            raise NetworkStateError(f"{what}: call compile() first")
        return self.engine

    def _steps(self, duration, who: str, what: str = "duration") -> int:
        """round(duration / dt), checked."""
        rule = "a finite number of ms >= 0"
        value = number(duration, who, what, rule, wrong_type=InvalidValueError)
        if value < 0:
            raise InvalidValueError(f"{who}: {what} must be {rule}, got {show(duration)}")
        steps = value / self.dt
        if not steps <= MAX_STEPS:
            raise InvalidValueError(f"{who}: {what} must be at most {MAX_STEPS} steps of "
                                    f"dt = {self.dt} ms, got {show(duration)} ms")
        return round(steps)

    def simulate(self, duration: float, measure_time: bool = False) -> None:
        """Run round(duration / dt) steps; `measure_time` prints how long they took."""
        steps = self._steps(duration, "simulate")
        engine = self._compiled("simulate")
        start = time.perf_counter()
        engine.run(steps)
        if measure_time:
            print(f"Simulating {float(duration) / 1000.0} seconds of the network took "
                  f"{time.perf_counter() - start} seconds.")

    def simulate_until(self, max_duration: float,
                       population: "Population | list[Population]", operator: str = "and",
                       measure_time: bool = False) -> float:
        """Run steps until the `stop_condition` of `population` (or of a list of them: all
        with operator 'and', any with 'or') holds after a step, or `max_duration` ms have
        passed; returns the time simulated (ms). Conditions are checked after every step."""
        pops = list(population) if isinstance(population, list | tuple) else [population]
        from .population import Population

        if not pops:
            raise InvalidValueError("simulate_until: population must be a population or a "
                                    "non-empty list of them")
        for pop in pops:
            if not isinstance(pop, Population) or pop.network is not self:
                raise InvalidValueError(f"simulate_until: {pop!r} is not a population of "
                                        "this network")
            if pop._stop is None:
                raise InvalidValueError(f"simulate_until: population {pop.name} has no "
                                        "stop_condition; give one when creating it, e.g. "
                                        "stop_condition='r > 1.0 : any'")
        if operator not in ("and", "or"):
            raise InvalidValueError(f"simulate_until: operator must be 'and' or 'or', "
                                    f"got {show(operator)}")
        steps = self._steps(max_duration, "simulate_until", "max_duration")
        engine = self._compiled("simulate_until")
        combine = all if operator == "and" else any
        start, done = time.perf_counter(), 0
        while done < steps:
            engine.run(1)
            done += 1
            if combine([pop._stop.holds(pop) for pop in pops]):
                break
        if measure_time:
            print(f"Simulating {done * self.dt / 1000.0} seconds of the network took "
                  f"{time.perf_counter() - start} seconds.")
        return done * self.dt

    def step(self) -> None:
        self._compiled("step").run(1)

    def reset(self, populations: bool = True, projections: bool = False,
              synapses: bool = False, monitors: bool = True, reseed_rng: bool = True) -> None:
        """Back to time 0 with every attribute at its initial value, kernels kept; with
        `monitors`, the monitors are emptied and record again from time 0; with
        `reseed_rng`, `default_rng` draws again what it drew since the network was made.
        (tecomp always resets populations, delays and time; projections keep their weights.)"""
        self._compiled("reset").reset()
        if monitors:
            for monitor in self.monitors:
                monitor.reset()
        if reseed_rng:
            self._rng.bit_generator.state = self._rng_state

    @property
    def time(self) -> float:
        """The current time in ms (steps done × dt)."""
        return 0.0 if self.engine is None else self.engine.steps * self.dt

    @property
    def current_step(self) -> int:
        """The number of steps done since compile() (or the last reset())."""
        return 0 if self.engine is None else self.engine.steps

    def get_time(self) -> float:
        return self.time

    def get_current_step(self) -> int:
        return self.current_step

    def parallel_run(self, method, number: int, max_processes: int = -1, seeds=None,
                     measure_time: bool = False, **kwargs) -> list:
        """Run `method(net, **kwargs)` on `number` copies of this network at once, on local
        processes or on Dask (`backend="dask"`, `client=` or `scheduler=`), ANNarchy 5's
        interface; returns the results in order. See tecomp.parallel."""
        from .parallel import parallel_run

        return parallel_run(self, method, number, max_processes, seeds, measure_time, **kwargs)

    # -- access by name --------------------------------------------------------------------
    def get_population(self, name: str) -> "Population":
        """The population of that name (an error listing the known names otherwise)."""
        return _named(self.populations, name, "population")

    def get_projection(self, name: str) -> object:
        """The projection of that name (an error listing the known names otherwise)."""
        return _named(self.projections, name, "projection")

    def get_monitor(self, name: str) -> "Monitor":
        """The monitor of that name (an error listing the known names otherwise)."""
        return _named(self.monitors, name, "monitor")

    def get_populations(self) -> list:
        return list(self.populations)

    def get_projections(self) -> list:
        return list(self.projections)

    def get_monitors(self) -> list:
        return list(self.monitors)

    # -- files -------------------------------------------------------------------------------
    def save(self, filename: str, populations: bool = True, projections: bool = True) -> None:
        """Write every population's attributes and every projection's weights to a `.npz`
        file (see tecomp.saving)."""
        from .saving import save

        save(self, filename, populations, projections)

    def load(self, filename: str, populations: bool = True, projections: bool = True,
             pickle_encoding: str | None = None) -> None:
        """Read a file written by `save()` of a network of the same structure; a file of
        another network is an error naming what differs, and nothing is loaded."""
        from .saving import load

        load(self, filename, populations, projections)


def _named(objects: list, name, kind: str):
    for obj in objects:
        if obj.name == name:
            return obj
    known = ", ".join(repr(o.name) for o in objects) or "none"
    close = difflib.get_close_matches(name, [o.name for o in objects], n=1) \
        if isinstance(name, str) else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise InvalidValueError(f"get_{kind}: no {kind} is named {show(name)}{hint}; "
                            f"known: {known}")


def _warn_unused_targets(net: "Network") -> None:
    """One TecompWarning for each sum(target) that no projection feeds and for each
    projection whose target no equation of its post reads (ANNarchy says nothing)."""
    for pop in net.populations:
        into = {}
        for proj in net.projections:
            if proj.post is pop:
                into.setdefault(proj.target, []).append(proj.name)
        for target in sorted(pop.neuron.targets() - {""} - set(into)):
            close = difflib.get_close_matches(target, list(into), n=1)
            hint = f" (did you mean {close[0]!r}, the target of {', '.join(into[close[0]])}?)" \
                if close else ""
            warnings.warn(f"population {pop.name} reads sum({target}), but no projection to "
                          f"{pop.name} has target {target!r}{hint}", TecompWarning, stacklevel=3)
    for proj in net.projections:
        read = proj.post.neuron.targets()
        if "" in read or proj.target in read:
            continue
        close = difflib.get_close_matches(proj.target, sorted(read), n=1)
        hint = f" (did you mean {close[0]!r}, read by {proj.post.name}?)" if close else ""
        warnings.warn(f"projection {proj.name} ({proj.pre.name} -> {proj.post.name}) has target "
                      f"{proj.target!r}, but no equation of {proj.post.name} reads "
                      f"sum({proj.target}){hint}", TecompWarning, stacklevel=3)


def _dtype(precision: str) -> str:
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise InvalidValueError(f"setup: precision must be one of {sorted(PRECISIONS)}, "
                                f"got {show(precision)}")
    return PRECISIONS[precision]


_default = Network()
# A hook called with the network at every compile() (None: no hook). tecomp-tune sets it to
# stop a user's script once its network is built, and tunes that network.
on_compile = None


def default_network() -> Network:
    return _default


# Global constants (ann.Constant without a network) belong to the default network.
constants.set_home(default_network)


def clear() -> None:
    """Forget the default network (and its setup) as if tecomp had just been imported."""
    global _default
    _default = Network()


def setup(dt: float | None = None, precision: str | None = None,
          num_threads: int | None = None, seed: int | None = None,
          denormals: str | None = None, autotune: float | None = None) -> None:
    """Set the step (ms) and precision ("double" or "float") of the default network.

    `num_threads` sets TVM_NUM_THREADS, which TVM reads when its thread pool starts (the
    first parallel kernel call of the process); more threads than cores only slow every
    step and the interpreter's exit, so it is capped at the cores this process may use.
    `denormals` is "flush" (the default: kernels flush denormal numbers to zero, see
    tecomp.denormals) or "keep" (IEEE gradual underflow, far slower on denormal values),
    for the whole process, before its first simulation. `seed` seeds the default network's
    NumPy generator (random distributions given as values draw from it). `autotune=seconds`
    makes compile() tune the kernels without a tuned record first (see Network.compile).
    """
    if num_threads is not None and (isinstance(num_threads, bool) or
                                    not isinstance(num_threads, int) or num_threads < 1):
        raise InvalidValueError(f"setup: num_threads must be an int >= 1, got {num_threads!r}")
    if denormals not in (None, "flush", "keep"):
        raise InvalidValueError(f"setup: denormals must be 'flush' or 'keep', got {denormals!r}")
    _default.setup(dt=dt, precision=precision, seed=seed, autotune=autotune)
    if num_threads is not None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
            (os.cpu_count() or 1)  # as tecomp.build.cores(), without importing TVM here
        if num_threads > cores:
            warnings.warn(f"setup: num_threads={num_threads} is more than the {cores} cores "
                          f"this process may use; using {cores}", stacklevel=2)
            num_threads = cores
        os.environ["TVM_NUM_THREADS"] = str(num_threads)
    if denormals is not None:
        from . import denormals as modes

        modes.FLUSH = denormals == "flush"


def compile(directory: str = "annarchy", clean: bool = False, compiler: str = "default",
            compiler_flags: str | list = "default", add_sources: str = "", extra_libs: str = "",
            cuda_config: dict | None = None, annarchy_json: str = "", silent: bool = False,
            debug_build: bool = False, trace_calls: str | None = None,
            profile_enabled: bool = False, net_id: int = 0, tuned: bool = True,
            tune: float | None = None) -> None:
    """Build every kernel of the default network; ANNarchy's options are accepted and, but
    for `silent`, ignored (see Network.compile, also for `tune`)."""
    _default.compile(silent=silent, tuned=tuned, tune=tune)


def tune(net: Network | None = None, **options) -> list:
    """Tune the kernels of a network (default: the default network); see Network.tune."""
    return (net or _default).tune(**options)


def simulate(duration: float, measure_time: bool = False, **kwargs) -> None:
    """Run the default network for `duration` ms (ANNarchy's other options are ignored)."""
    _default.simulate(duration, measure_time=measure_time)


def simulate_until(max_duration: float, population, operator: str = "and",
                   measure_time: bool = False, **kwargs) -> float:
    """Run the default network until stop conditions hold; see Network.simulate_until."""
    return _default.simulate_until(max_duration, population, operator, measure_time)


def step() -> None:
    _default.step()


def reset(populations: bool = True, projections: bool = False, synapses: bool = False,
          monitors: bool = True, reseed_rng: bool = True, **kwargs) -> None:
    """ANNarchy's reset(): tecomp always resets populations, projections' delays and time."""
    _default.reset(monitors=monitors, reseed_rng=reseed_rng)


def get_time() -> float:
    """The default network's time in ms."""
    return _default.time


def get_current_step() -> int:
    """The default network's number of steps done."""
    return _default.current_step


def get_population(name: str) -> "Population":
    """The default network's population of that name."""
    return _default.get_population(name)


def get_projection(name: str) -> object:
    """The default network's projection of that name."""
    return _default.get_projection(name)


def populations() -> list:
    """The default network's populations."""
    return _default.get_populations()


def projections() -> list:
    """The default network's projections."""
    return _default.get_projections()


def monitors() -> list:
    """The default network's monitors."""
    return _default.get_monitors()


def magic_network() -> Network:
    """The default network (ANNarchy's name for it)."""
    return _default


def set_seed(seed: int) -> None:
    """Seed the default network's NumPy generator (ANNarchy 4's function)."""
    _default._seed_with(seed)


def save(filename: str, populations: bool = True, projections: bool = True) -> None:
    """Save the default network (see Network.save)."""
    _default.save(filename, populations, projections)


def load(filename: str, populations: bool = True, projections: bool = True,
         pickle_encoding: str | None = None) -> None:
    """Load into the default network a file written by save() (see Network.load)."""
    _default.load(filename, populations, projections)
