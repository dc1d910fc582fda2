"""Populations: a geometry of 1 to 4 axes, ranked row-major, and one array per attribute.

Besides attribute access (`pop.r`), a population offers ANNarchy 5's everyday API: `get`,
`set` (several attributes at once, all checked before any is written), `len(pop)`,
`ranks`, `sum(target)`, `reset()`, `neuron(rank)` and indexing into views (`tecomp.views`).
A value is a number, an array shaped like the geometry, or a random distribution of
`tecomp.distributions`, drawn with the network's NumPy generator (`Network(seed=...)`).
"""

import math

import numpy as np

from .conditions import StopCondition
from .distributions import RandomDistribution
from .errors import InvalidTypeError, InvalidValueError, UnknownAttributeError
from .network import Network, default_network
from .neuron import Neuron
from .values import array, check_elements, fits, show, size_of
from .views import IndividualNeuron, PopulationView, select

MAX_DIMS = 4


def check_geometry(geometry, who: str) -> tuple[int, ...]:
    """An int or a tuple of 1-4 positive ints, as a tuple."""
    if isinstance(geometry, int | np.integer) and not isinstance(geometry, bool):
        geometry = (geometry,)
    if not isinstance(geometry, tuple | list) or not all(
            isinstance(g, int | np.integer) and not isinstance(g, bool | np.timedelta64)
            for g in geometry):
        raise InvalidTypeError(f"{who}: geometry must be an int or a tuple of ints, "
                               f"got {show(geometry)}")
    if not 1 <= len(geometry) <= MAX_DIMS:
        raise InvalidValueError(f"{who}: geometry must have 1 to {MAX_DIMS} dimensions, "
                                f"got {len(geometry)}: {show(tuple(geometry))}")
    geometry = tuple(int(g) for g in geometry)  # Python ints: the product cannot overflow
    if any(g < 1 for g in geometry):
        raise InvalidValueError(f"{who}: every size of the geometry must be at least 1, "
                                f"got {show(geometry)}")
    check_elements(math.prod(geometry), who, f"geometry {show(geometry)}")
    return geometry


class PopulationNeuron(Neuron):
    """A population's neuron type, `pop.neuron`: it reads (and is) like the `Neuron` the
    population was made with, and, called, gives one neuron as in ANNarchy:
    `pop.neuron(rank)`, `pop.neuron(x, y)` or `pop.neuron((x, y))` (an `IndividualNeuron`).
    `pop.neuron_type` is the Neuron itself.

    >>> import tecomp as ann
    >>> pop = ann.Network().create((2, 3), ann.Neuron(parameters="r = 0.0"))
    >>> pop.neuron.attributes, pop.neuron(1, 2).rank, pop.neuron_type is pop.neuron
    (('r',), 5, False)
    """

    def __init__(self, neuron: Neuron, population: "Population"):  # no Neuron.__init__
        object.__setattr__(self, "_type", neuron)
        object.__setattr__(self, "_population", population)

    def __getattr__(self, name: str):
        if name in ("_type", "_population"):
            raise AttributeError(name)
        return getattr(self._type, name)

    def __setattr__(self, name: str, value) -> None:
        setattr(self._type, name, value)

    def __call__(self, *coord) -> IndividualNeuron:
        return self._population._neuron_at(*coord)

    def __repr__(self) -> str:
        return repr(self._type)


class Population:
    """A group of neurons of one type laid out on a 1-4D grid.

    >>> import tecomp as ann
    >>> ann.clear()
    >>> pop = ann.Population((2, 3), ann.Neuron(parameters="r = 0.0"))
    >>> pop.rank_from_coordinates((1, 2)), pop.coordinates_from_rank(4)
    (5, (1, 1))
    >>> pop.r = np.ones((2, 3)); float(pop.r.sum())
    6.0
    >>> pop.set({"r": 2.0}); pop[0, :].get("r").tolist(), len(pop)
    ([2.0, 2.0, 2.0], 6)

    `stop_condition` (e.g. ``"r > 0.9 : any"``) is what `simulate_until` checks after each
    step (see `tecomp.conditions`).
    """

    def __init__(self, geometry, neuron: Neuron, name: str | None = None,
                 stop_condition: str | None = None, network: Network | None = None):
        geometry = check_geometry(geometry, "Population")
        if isinstance(neuron, PopulationNeuron):  # another population's pop.neuron
            neuron = neuron.__dict__["_type"]
        if not isinstance(neuron, Neuron):
            raise InvalidTypeError(f"Population: neuron must be a tecomp Neuron, "
                                   f"got {type(neuron).__name__}")
        network = default_network() if network is None else network
        if name is not None and not isinstance(name, str):
            raise InvalidTypeError(f"Population: name must be a string, got {show(name)}")
        name = name or f"pop{len(network.populations)}"
        stop = None if stop_condition is None else StopCondition(stop_condition, neuron,
                                                                  f"Population {name}")
        problem = neuron.precision_problem(network.dtype)
        if problem:
            raise InvalidValueError(f"Population {name}: {problem}; the network's precision "
                                    f"is {network.dtype}")
        local = [a for a in neuron.attributes if a not in neuron.shared]
        check_elements(math.prod(geometry), "Population",
                       f"geometry {geometry} with {len(local)} per-neuron attribute(s)",
                       arrays=len(local))
        try:  # a population-wide parameter is one value (shape (1,)), read back as a float
            initial = {a: np.full((1,) if a in neuron.shared else geometry, neuron.init[a])
                       for a in neuron.attributes}
        except MemoryError:
            need = math.prod(geometry) * 8 * len(local)
            raise InvalidValueError(f"Population: geometry {geometry} needs {size_of(need)} "
                                    "for its attributes, more than the memory free now") from None
        object.__setattr__(self, "geometry", geometry)
        object.__setattr__(self, "neuron", PopulationNeuron(neuron, self))
        object.__setattr__(self, "neuron_type", neuron)
        object.__setattr__(self, "network", network)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "_initial", initial)
        object.__setattr__(self, "_checked", (network.dtype, None))  # see initial_values()
        object.__setattr__(self, "stop_condition", stop_condition)
        object.__setattr__(self, "_stop", stop)
        network.add_population(self)

    def copy_into(self, network: Network) -> "Population":
        """A copy of this population (same class, neuron, name, stop condition and current
        values) added to another network (what `net.create(population)` does)."""
        copy = type(self).__new__(type(self))
        own = {"geometry", "neuron", "neuron_type", "network", "name", "_initial", "_checked",
               "stop_condition", "_stop"}
        for key, value in self.__dict__.items():  # what a subclass adds (ImagePopulation)
            if key not in own:
                object.__setattr__(copy, key, value)
        Population.__init__(copy, self.geometry, self.neuron_type, name=self.name,
                            stop_condition=self.stop_condition, network=network)
        for attribute in self.attributes:
            copy._initial[attribute][...] = self.live(attribute)
        return copy

    size = property(lambda self: math.prod(self.geometry), doc="Number of neurons.")
    dimension = property(lambda self: len(self.geometry), doc="Number of axes.")
    attributes = property(lambda self: self.neuron.attributes, doc="Parameters and variables.")
    parameters = property(lambda self: list(self.neuron.parameters), doc="Parameter names.")
    variables = property(lambda self: list(self.neuron.variables), doc="Variable names.")
    ranks = property(lambda self: np.arange(self.size), doc="Every rank, 0 .. size - 1.")

    def __len__(self) -> int:
        return self.size

    def rank_from_coordinates(self, coord) -> int:
        coord = tuple(coord) if isinstance(coord, tuple | list | np.ndarray) else (coord,)
        if len(coord) != self.dimension or any(
                not 0 <= c < g for c, g in zip(coord, self.geometry, strict=True)):
            raise InvalidValueError(f"Population {self.name}: coordinates {coord} are outside "
                                    f"the geometry {self.geometry}")
        return int(np.ravel_multi_index(coord, self.geometry))

    def coordinates_from_rank(self, rank: int) -> tuple[int, ...]:
        if not 0 <= rank < self.size:
            raise InvalidValueError(f"Population {self.name}: rank {rank} is outside "
                                    f"0..{self.size - 1}")
        return tuple(int(c) for c in np.unravel_index(rank, self.geometry))

    def initial_values(self) -> dict[str, np.ndarray]:
        """Each attribute's value at compile() and reset() (what the engine starts from).

        The engine asks for them at compile(), before it builds anything: a number that the
        network's precision (or dt, folded into the update) no longer fits since the call
        that gave it is an error here, naming the population and the number."""
        net = self.network
        if self._checked != (net.dtype, net.dt):
            problem = self.neuron.precision_problem(net.dtype, net.dt)
            for attribute, value in self._initial.items():
                problem = problem or (fits(value, net.dtype) and
                                      f"{attribute} holds {fits(value, net.dtype)}")
            if problem:
                raise InvalidValueError(f"Population {self.name}: {problem}; the network's "
                                        f"precision is {net.dtype} and dt = {net.dt} ms")
            object.__setattr__(self, "_checked", (net.dtype, net.dt))
        return self._initial

    def _store(self, name: str) -> np.ndarray:
        """The live array of an attribute: the compiled network's buffer, else the initial one."""
        engine = self.network.engine
        return self._initial[name] if engine is None else engine.array(self, name)

    def live(self, name: str) -> np.ndarray:
        """The array an attribute is read from and written to now (views write into it): the
        compiled network's buffer, or before compile() the initial values. Shaped like the
        geometry, or (1,) for a population-wide attribute."""
        return self._store(name)

    def check_attribute(self, name: str, who: str | None = None) -> None:
        """Raise UnknownAttributeError unless `name` is a parameter or variable."""
        if not isinstance(name, str) or name not in self.neuron.attributes:
            raise UnknownAttributeError(f"{who or f'Population {self.name}'} has no attribute "
                                        f"{show(name)}; its neuron has "
                                        f"{', '.join(self.neuron.attributes) or 'none'}")

    def read_value(self, name: str, value, shape: tuple[int, ...], who: str) -> np.ndarray:
        """A user's value for an attribute as a checked float64 array: a number or an array
        (tecomp.values' checker; NaN and inf may be set on purpose), or a random distribution
        drawn in `shape` with the network's generator (unless it has its own rng)."""
        if isinstance(value, RandomDistribution):
            rng = value.rng if value.rng is not None else self.network.default_rng
            value = value.get_values(shape, rng) if shape else value.get_value(rng)
        return array(value, who, name, "numbers", finite=False, dtype=self.network.dtype,
                     allow_bool=True)

    def _checked_value(self, name, value) -> np.ndarray:
        """The value `pop.<name> = value` would write, checked (nothing is written here)."""
        who = f"Population {self.name}"
        self.check_attribute(name, who)
        shared = name in self.neuron.shared
        values = self.read_value(name, value, () if shared else self.geometry, who)
        if shared and values.shape != ():
            raise InvalidValueError(f"Population {self.name}: {name} is population-wide, so it "
                                    f"takes one number, got an array of shape {values.shape}")
        if values.shape not in ((), self.geometry):
            raise InvalidValueError(f"Population {self.name}: {name} must be a number or an "
                                    f"array of shape {self.geometry}, got shape {values.shape}")
        return values

    def __getattr__(self, name: str):
        if name.startswith("_") or "neuron" not in self.__dict__:  # private, or mid-__init__
            raise AttributeError(name)
        return self.get(name)

    def __setattr__(self, name: str, value) -> None:
        values = self._checked_value(name, value)
        self._store(name)[...] = values

    def get(self, name: str):
        """The values of an attribute: a copy shaped like the geometry, or one number for a
        population-wide one; ints (int64) for `: int` and bools for `: bool`, as ANNarchy 5."""
        self.check_attribute(name)
        if name in self.neuron.shared:
            return self.neuron.typed(name, self._store(name))
        return self.neuron.typed(name, self._store(name).copy())

    def set(self, values: dict) -> None:
        """Set several attributes from a dict; every value is checked (and every distribution
        drawn) before any is written, so a failing call changes nothing.

        >>> import tecomp as ann
        >>> pop = ann.Network().create(3, ann.Neuron(parameters="a = 0.0; b = 0.0"))
        >>> pop.set({"a": 1.0, "b": [1.0, 2.0, 3.0]}); pop.b.tolist()
        [1.0, 2.0, 3.0]
        """
        if not isinstance(values, dict):
            raise InvalidTypeError(f"Population {self.name}.set: expected a dict "
                                   f"{{name: value}}, got {type(values).__name__}")
        for name in values:
            self.check_attribute(name)
        checked = {name: self._checked_value(name, value) for name, value in values.items()}
        for name, value in checked.items():
            self._store(name)[...] = value

    def sum(self, target: str) -> np.ndarray:
        """The summed input of `target` after the last step, one value per neuron in rank
        order (flat, like ANNarchy's `pop.sum('exc')`): the sum of the results of every
        projection into this population with that target. Zeros before the first step (or
        after reset()) and for a target no projection feeds."""
        if not isinstance(target, str) or not target.isidentifier():
            raise InvalidValueError(f"Population {self.name}.sum: target must be a name such "
                                    f"as 'exc', got {show(target)}")
        engine = self.network.engine
        if engine is None or engine.steps == 0:
            return np.zeros(self.size, self.network.dtype)
        parity = engine.steps % 2
        out = np.zeros(self.size, engine.dtype)
        for pair in engine.summed_input(self, target):
            out += pair[parity].reshape(-1)
        return out

    def reset(self, attributes: list | None = None) -> None:
        """Put attributes (default: all) back to their initial values: the values they had at
        compile() (or the last network reset()); before compile(), the neuron's own values.
        Time, delays and projections are left alone (that is `Network.reset()`)."""
        names = list(self.neuron.attributes) if attributes is None else \
            [attributes] if isinstance(attributes, str) else attributes
        if not isinstance(names, list | tuple):
            raise InvalidTypeError(f"Population {self.name}.reset: attributes must be a list "
                                   f"of names, got {show(attributes)}")
        for name in names:
            self.check_attribute(name, f"Population {self.name}.reset")
        compiled = self.network.engine is not None
        for name in names:
            self._store(name)[...] = self._initial[name] if compiled else self.neuron.init[name]

    # -- neurons and views -----------------------------------------------------------------
    def _neuron_at(self, *coord) -> IndividualNeuron:
        """`pop.neuron(...)`: one neuron, by rank (`pop.neuron(5)`) or coordinates
        (`pop.neuron(1, 2)` or `pop.neuron((1, 2))`)."""
        if len(coord) == 1 and isinstance(coord[0], tuple | list):
            coord = tuple(coord[0])
        for c in coord:
            if isinstance(c, bool | np.bool_) or not isinstance(c, int | np.integer):
                raise InvalidTypeError(f"Population {self.name}.neuron: ranks and coordinates "
                                       f"are ints, got {show(c)}")
        if len(coord) == 1:
            rank = int(coord[0])
            if not 0 <= rank < self.size:
                raise InvalidValueError(f"Population {self.name}: rank {rank} is outside "
                                        f"0..{self.size - 1} (geometry {self.geometry})")
            return IndividualNeuron(self, rank)
        return IndividualNeuron(self, self.rank_from_coordinates(coord))

    @property
    def neurons(self):
        """Each neuron in rank order (also `for neuron in pop`)."""
        return iter(self)

    def __iter__(self):
        for rank in range(self.size):
            yield IndividualNeuron(self, rank)

    def __getitem__(self, key) -> "PopulationView | IndividualNeuron":
        """A view (`pop[0:10]`, `pop[[0, 5]]`, `pop[:, 5]`) or a neuron (`pop[2, 3]`); see
        tecomp.views."""
        return select(self, key)

    def __repr__(self) -> str:
        return f"Population({self.geometry}, name={self.name!r})"
