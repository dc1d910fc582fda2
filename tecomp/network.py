"""Networks: the populations and projections of one model, its clock and its precision.

The global functions (`setup`, `compile`, `simulate`, ...) act on a default network, as in
ANNarchy; `Network` objects are independent of it and of each other.
"""

import os
import warnings

from . import constants
from .errors import InvalidValueError, NetworkStateError
from .values import number, show

PRECISIONS = {"double": "float64", "float": "float32"}
MAX_STEPS = 2**63 - 1  # one simulate() call


def check_dt(dt) -> float:
    rule = "a positive number of ms"
    value = number(dt, "setup", "dt", rule, wrong_type=InvalidValueError)
    if value <= 0:
        raise InvalidValueError(f"setup: dt must be {rule}, got {show(dt)}")
    return value


class Network:
    """One model: populations, projections, a clock (`time`, ms) and a precision.

    >>> import tecomp as ann
    >>> net = ann.Network(dt=0.5)
    >>> pop = net.create((4,), ann.Neuron(parameters="r = 1.0"))
    >>> net.compile(); net.simulate(2.0); net.time
    2.0
    """

    def __init__(self, dt: float = 1.0, precision: str = "double"):
        self.dt = check_dt(dt)
        self.dtype = _dtype(precision)
        self.populations: list = []
        self.projections: list = []
        self.monitors: list = []
        self.engine = None  # the compiled form, once compile() ran

    # -- description --------------------------------------------------------------------
    def create(self, geometry, neuron, name: str | None = None):
        """Add a population (ANNarchy 5 style)."""
        from .population import Population  # populations register themselves here

        return Population(geometry, neuron, name=name, network=self)

    def connect(self, projection):
        """Accept a projection built on this network's populations; returns it."""
        if projection not in self.projections:
            raise InvalidValueError(f"Network.connect: {projection!r} was built on populations "
                                    "of another network")
        return projection

    def monitor(self, obj, variables=None, period: float | None = None,
                period_offset: float | None = None, start: bool = True, name: str | None = None):
        """Record variables of one of this network's populations (ANNarchy 5 style)."""
        from .monitor import Monitor

        if getattr(obj, "network", self) is not self:
            raise InvalidValueError(f"Network.monitor: {obj!r} belongs to another network")
        return Monitor(obj, variables, period=period, period_offset=period_offset, start=start,
                       name=name)

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

    def add_projection(self, projection) -> None:
        self.check_open(type(projection).__name__)
        self.projections.append(projection)

    def setup(self, dt: float | None = None, precision: str | None = None) -> None:
        self.check_open("setup")
        dt = self.dt if dt is None else check_dt(dt)
        self.dtype = self.dtype if precision is None else _dtype(precision)
        self.dt = dt

    # -- running ----------------------------------------------------------------------------
    def compile(self, tuned: bool = True) -> None:
        """Build every kernel; afterwards the network can run but not grow.

        Kernels use their tuned schedule when the cache has one (`tuned=False`: always the
        template defaults)."""
        if on_compile is not None:
            on_compile(self)
        from .engine import Engine  # the engine needs TVM; describing a network does not

        if self.engine is None:
            self.engine = Engine(self, tuned=tuned)
            for monitor in self.monitors:
                monitor.attach()

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

    def simulate(self, duration: float) -> None:
        """Run round(duration / dt) steps."""
        rule = "a finite number of ms >= 0"
        value = number(duration, "simulate", "duration", rule, wrong_type=InvalidValueError)
        if value < 0:
            raise InvalidValueError(f"simulate: duration must be {rule}, got {show(duration)}")
        steps = value / self.dt
        if not steps <= MAX_STEPS:
            raise InvalidValueError(f"simulate: duration must be at most {MAX_STEPS} steps of "
                                    f"dt = {self.dt} ms, got {show(duration)} ms")
        self._compiled("simulate").run(round(steps))

    def step(self) -> None:
        self._compiled("step").run(1)

    def reset(self, monitors: bool = True) -> None:
        """Back to time 0 with every attribute at its initial value, kernels kept; with
        `monitors`, the monitors are emptied and record again from time 0."""
        self._compiled("reset").reset()
        if monitors:
            for monitor in self.monitors:
                monitor.reset()

    @property
    def time(self) -> float:
        return 0.0 if self.engine is None else self.engine.steps * self.dt


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
          denormals: str | None = None) -> None:
    """Set the step (ms) and precision ("double" or "float") of the default network.

    `num_threads` sets TVM_NUM_THREADS, which TVM reads when its thread pool starts (the
    first parallel kernel call of the process); more threads than cores only slow every
    step and the interpreter's exit, so it is capped at the cores this process may use.
    `denormals` is "flush" (the default: kernels flush denormal numbers to zero, see
    tecomp.denormals) or "keep" (IEEE gradual underflow, far slower on denormal values),
    for the whole process, before its first simulation. `seed` is accepted for ANNarchy
    scripts; tecomp draws no random numbers.
    """
    if num_threads is not None and (isinstance(num_threads, bool) or
                                    not isinstance(num_threads, int) or num_threads < 1):
        raise InvalidValueError(f"setup: num_threads must be an int >= 1, got {num_threads!r}")
    if denormals not in (None, "flush", "keep"):
        raise InvalidValueError(f"setup: denormals must be 'flush' or 'keep', got {denormals!r}")
    _default.setup(dt=dt, precision=precision)
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


def compile(*args, tuned: bool = True, **kwargs) -> None:
    """Build every kernel of the default network (ANNarchy's options are accepted)."""
    _default.compile(tuned=tuned)


def tune(net: Network | None = None, **options) -> list:
    """Tune the kernels of a network (default: the default network); see Network.tune."""
    return (net or _default).tune(**options)


def simulate(duration: float, **kwargs) -> None:
    _default.simulate(duration)


def step() -> None:
    _default.step()


def reset(populations: bool = True, projections: bool = False, monitors: bool = True,
          **kwargs) -> None:
    """ANNarchy's reset(): tecomp always resets populations, projections' delays and time."""
    _default.reset(monitors=monitors)


def get_time() -> float:
    return _default.time
