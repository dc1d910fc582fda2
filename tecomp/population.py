"""Populations: a geometry of 1 to 4 axes, ranked row-major, and one array per attribute."""

import math

import numpy as np

from .errors import InvalidTypeError, InvalidValueError, UnknownAttributeError
from .network import Network, default_network
from .neuron import Neuron
from .values import array, check_elements, fits, show, size_of

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


class Population:
    """A group of neurons of one type laid out on a 1-4D grid.

    >>> import tecomp as ann
    >>> ann.clear()
    >>> pop = ann.Population((2, 3), ann.Neuron(parameters="r = 0.0"))
    >>> pop.rank_from_coordinates((1, 2)), pop.coordinates_from_rank(4)
    (5, (1, 1))
    >>> pop.r = np.ones((2, 3)); float(pop.r.sum())
    6.0
    """

    def __init__(self, geometry, neuron: Neuron, name: str | None = None,
                 network: Network | None = None):
        geometry = check_geometry(geometry, "Population")
        if not isinstance(neuron, Neuron):
            raise InvalidTypeError(f"Population: neuron must be a tecomp Neuron, "
                                   f"got {type(neuron).__name__}")
        network = default_network() if network is None else network
        name = name or f"pop{len(network.populations)}"
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
        object.__setattr__(self, "neuron", neuron)
        object.__setattr__(self, "network", network)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "_initial", initial)
        object.__setattr__(self, "_checked", (network.dtype, None))  # see initial_values()
        network.add_population(self)

    size = property(lambda self: math.prod(self.geometry), doc="Number of neurons.")
    dimension = property(lambda self: len(self.geometry), doc="Number of axes.")
    attributes = property(lambda self: self.neuron.attributes, doc="Parameters and variables.")

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

    def __getattr__(self, name: str):
        if name.startswith("_") or name not in self.neuron.attributes:
            if name.startswith("_"):
                raise AttributeError(name)
            raise UnknownAttributeError(f"Population {self.name} has no attribute {name!r}; "
                                 f"its neuron has {', '.join(self.neuron.attributes)}")
        if name in self.neuron.shared:
            return float(self._store(name)[0])
        return self._store(name).copy()

    def __setattr__(self, name: str, value) -> None:
        if name not in self.neuron.attributes:
            raise UnknownAttributeError(f"Population {self.name}: cannot set {name!r}; its neuron "
                                 f"has {', '.join(self.neuron.attributes)}")
        store = self._store(name)
        # NaN and inf may be set on purpose; a finite value the precision turns into inf not
        values = array(value, f"Population {self.name}", name, "numbers", finite=False,
                       dtype=self.network.dtype, allow_bool=True)
        if name in self.neuron.shared and values.shape != ():
            raise InvalidValueError(f"Population {self.name}: {name} is population-wide, so it "
                                    f"takes one number, got an array of shape {values.shape}")
        if values.shape not in ((), self.geometry):
            raise InvalidValueError(f"Population {self.name}: {name} must be a number or an "
                                    f"array of shape {self.geometry}, got shape {values.shape}")
        store[...] = values

    def __repr__(self) -> str:
        return f"Population({self.geometry}, name={self.name!r})"
