"""Parts of a population: `PopulationView` (a subset of its neurons) and `IndividualNeuron`.

Both are made by indexing a population, as in ANNarchy 5.0.4.1:

- `pop[5]`, `pop[0:10]`, `pop[[0, 5, 7]]` (ranks, whatever the geometry): a view whose
  geometry is `(number of neurons,)`;
- `pop[1:3, 2:4]`, `pop[:, 5]` (one index or slice per axis, at least one slice): a view of
  that block, ranks in row-major order, geometry one size per axis (`pop[:, 5]` on (10, 10)
  has geometry (10, 1), as in ANNarchy);
- `pop[2, 3]` (one int per axis) and `pop.neuron(rank)`: an `IndividualNeuron`;
- `view + view`, `view + neuron`, `neuron + neuron` of one population: a view of the union of
  their ranks, sorted, without a geometry (None, as in ANNarchy).

A view reads and writes the population's live values (before compile(): its initial values);
an index or slice outside the geometry is an error, never clamped. ANNarchy's `view.get(name)`
is flat (one value per neuron of the view, in the order of `view.ranks`); tecomp's too, and
`set` also takes an array shaped like the view's geometry.
"""

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from .errors import InvalidTypeError, InvalidValueError, UnknownAttributeError
from .values import show

if TYPE_CHECKING:
    from .population import Population


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def check_ranks(population: "Population", ranks, who: str) -> np.ndarray:
    """A 1D int64 array of distinct ranks of `population`, in the order given."""
    if isinstance(ranks, range):
        ranks = list(ranks)
    if isinstance(ranks, np.ndarray):
        raw = ranks
    elif isinstance(ranks, list | tuple):
        if not all(_is_int(r) for r in ranks):
            bad = next(r for r in ranks if not _is_int(r))
            raise InvalidTypeError(f"{who}: ranks must be ints, got {show(bad)}")
        raw = np.array(ranks, dtype=np.int64).reshape(-1)
    else:
        raise InvalidTypeError(f"{who}: ranks must be a list or a 1D array of ints, "
                               f"got {show(ranks)}")
    if raw.dtype.kind not in "iu":
        raise InvalidTypeError(f"{who}: ranks must be ints, got an array of {raw.dtype}")
    if raw.ndim != 1:
        raise InvalidValueError(f"{who}: ranks must be one-dimensional, got shape {raw.shape}")
    if raw.size == 0:
        raise InvalidValueError(f"{who}: the selection holds no neuron")
    outside = (raw < 0) | (raw >= population.size)
    if outside.any():
        raise InvalidValueError(f"{who}: rank {int(raw[outside][0])} is outside "
                                f"0..{population.size - 1} (population {population.name}, "
                                f"geometry {population.geometry})")
    out = raw.astype(np.int64)
    if len(np.unique(out)) != len(out):
        values, counts = np.unique(out, return_counts=True)
        raise InvalidValueError(f"{who}: rank {int(values[counts > 1][0])} is given twice; a "
                                "view holds each neuron once")
    return out


def _slice(part: slice, size: int, what: str, who: str) -> list[int]:
    """The indices of a slice on an axis of `size`; bounds outside -size..size are errors."""
    for label, bound in (("start", part.start), ("stop", part.stop), ("step", part.step)):
        if bound is not None and not _is_int(bound):
            raise InvalidTypeError(f"{who}: slice {label} must be an int or None, got "
                                   f"{show(bound)}")
        if label != "step" and bound is not None and not -size <= bound <= size:
            raise InvalidValueError(f"{who}: slice {label} {bound} is outside the {what} "
                                    f"(0..{size}, or -{size}..-1 from the end)")
    if part.step == 0:
        raise InvalidValueError(f"{who}: slice step cannot be zero")
    return list(range(*part.indices(size)))


def _index(value, size: int, what: str, who: str) -> int:
    if not -size <= value < size:
        raise InvalidValueError(f"{who}: index {value} is outside the {what} "
                                f"(0..{size - 1})")
    return int(value) % size


def select(population: "Population", key) -> "PopulationView | IndividualNeuron":
    """What `population[key]` gives (see the module docstring)."""
    who = f"Population {population.name}[{_key_text(key)}]"
    if _is_int(key):
        return PopulationView(population, [_index(key, population.size, "ranks", who)], (1,))
    if isinstance(key, slice):
        ranks = _slice(key, population.size, "ranks", who)
        if not ranks:
            raise InvalidValueError(f"{who}: the slice selects no neuron")
        return PopulationView(population, ranks, (len(ranks),))
    if isinstance(key, list | np.ndarray | range):
        ranks = check_ranks(population, key, who)
        return PopulationView(population, ranks, (len(ranks),))
    if not isinstance(key, tuple):
        raise InvalidTypeError(f"{who}: index with an int, a slice, a list of ranks, or one "
                               f"int or slice per axis; got {type(key).__name__}")
    if len(key) != population.dimension:
        raise InvalidValueError(f"{who}: {len(key)} indices for a population of "
                                f"{population.dimension} dimension(s) {population.geometry}")
    axes = []
    for axis, (part, size) in enumerate(zip(key, population.geometry, strict=True)):
        what = f"axis {axis} of geometry {population.geometry}"
        if _is_int(part):
            axes.append([_index(part, size, what, who)])
        elif isinstance(part, slice):
            axes.append(_slice(part, size, what, who))
        else:
            raise InvalidTypeError(f"{who}: each index is an int or a slice, got "
                                   f"{show(part)} on axis {axis}")
    if not any(isinstance(part, slice) for part in key):
        return population.neuron(*(a[0] for a in axes))
    geometry = tuple(len(a) for a in axes)
    if 0 in geometry:
        raise InvalidValueError(f"{who}: the slices select no neuron")
    grid = np.meshgrid(*(np.array(a, dtype=np.int64) for a in axes), indexing="ij")
    ranks = np.ravel_multi_index(tuple(g.reshape(-1) for g in grid), population.geometry)
    return PopulationView(population, ranks, geometry)


def _key_text(key) -> str:
    parts = key if isinstance(key, tuple) else (key,)
    text = []
    for p in parts:
        if isinstance(p, slice):
            text.append(":".join("" if b is None else str(b)
                                 for b in (p.start, p.stop, p.step)).rstrip(":") or ":")
        else:
            text.append(show(p, 40))
    return ", ".join(text)


class PopulationView:
    """A subset of a population's neurons, read and written like the population.

    >>> import numpy as np, tecomp as ann
    >>> net = ann.Network()
    >>> pop = net.create((3, 4), ann.Neuron(parameters="r = 0.0"))
    >>> block = pop[0:2, 1:3]
    >>> block.size, block.geometry, block.ranks.tolist()
    (4, (2, 2), [1, 2, 5, 6])
    >>> block.r = 1.0
    >>> pop[1, :].r.tolist(), float(pop.r.sum())
    ([0.0, 1.0, 1.0, 0.0], 4.0)
    """

    def __init__(self, population: "Population", ranks,
                 geometry: tuple[int, ...] | None = None):
        from .population import Population  # views.py is imported by population.py

        if not isinstance(population, Population):
            raise InvalidTypeError(f"PopulationView: expected a Population, got "
                                   f"{type(population).__name__}")
        ranks = check_ranks(population, ranks, f"PopulationView of {population.name}")
        if geometry is not None:
            if isinstance(geometry, int | np.integer):
                geometry = (geometry,)
            if not isinstance(geometry, tuple) or not all(_is_int(g) for g in geometry) or \
                    math.prod(geometry) != len(ranks):
                raise InvalidValueError(f"PopulationView: geometry {show(geometry)} does not "
                                        f"hold its {len(ranks)} neuron(s)")
            geometry = tuple(int(g) for g in geometry)
        object.__setattr__(self, "population", population)
        object.__setattr__(self, "_ranks", ranks)
        object.__setattr__(self, "geometry", geometry)

    size = property(lambda self: len(self._ranks), doc="Number of neurons in the view.")
    ranks = property(lambda self: self._ranks.copy(),
                     doc="Ranks of the view's neurons in the population, in the view's order.")
    name = property(lambda self: self.population.name, doc="The population's name.")
    network = property(lambda self: self.population.network)
    neuron_type = property(lambda self: self.population.neuron_type)
    attributes = property(lambda self: list(self.population.attributes))
    parameters = property(lambda self: list(self.population.neuron.parameters))
    variables = property(lambda self: list(self.population.neuron.variables))

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator["IndividualNeuron"]:
        for rank in self._ranks:
            yield IndividualNeuron(self.population, int(rank))

    # -- values ------------------------------------------------------------------------------
    def get(self, name: str) -> np.ndarray | float:
        """The values of an attribute for the view's neurons: a flat array in the order of
        `ranks` (as ANNarchy), or the population's one value for a population-wide one."""
        pop = self.population
        pop.check_attribute(name, f"PopulationView of {pop.name}")
        if name in pop.neuron.shared:
            return pop.get(name)
        return pop.neuron.typed(name, np.take(pop.live(name), self._ranks))

    def set(self, values: dict) -> None:
        """Set attributes from a dict: each value is a number, an array of the view's size
        (or shaped like its geometry), or a random distribution (one draw per neuron). All
        are checked before any is written."""
        who = f"PopulationView of {self.population.name}"
        if not isinstance(values, dict):
            raise InvalidTypeError(f"{who}.set: expected a dict {{name: value}}, got "
                                   f"{type(values).__name__}")
        checked = {name: self._checked(name, value) for name, value in values.items()}
        for name, value in checked.items():
            np.put(self.population.live(name), self._ranks, value)

    def _checked(self, name, value) -> np.ndarray:
        pop = self.population
        who = f"PopulationView of {pop.name}"
        pop.check_attribute(name, who)
        if name in pop.neuron.shared:
            raise InvalidValueError(f"{who}: {name} is population-wide (one value for the "
                                    f"whole population); set it on the population: "
                                    f"{pop.name}.{name} = value")
        array = pop.read_value(name, value, (self.size,), who)
        shapes = {(), (self.size,)} | ({self.geometry} if self.geometry else set())
        if array.shape not in shapes:
            wanted = " or ".join(str(s) for s in sorted(shapes - {()}, key=len))
            raise InvalidValueError(f"{who}: {name} takes a number or an array of shape "
                                    f"{wanted}, got shape {array.shape}")
        return np.broadcast_to(array.reshape(-1) if array.ndim else array, (self.size,))

    def __getattr__(self, name: str):
        pop = self.__dict__.get("population")
        if name.startswith("_") or pop is None:  # private, or not built yet (e.g. a copy)
            raise AttributeError(name)
        if name in pop.attributes:
            return self.get(name)
        raise UnknownAttributeError(f"PopulationView of {pop.name} has no attribute {name!r}; "
                                    f"its neuron has {', '.join(pop.attributes)}")

    def __setattr__(self, name: str, value) -> None:
        self.set({name: value})

    def sum(self, target: str) -> np.ndarray:
        """The population's `sum(target)` for the view's neurons (flat, in `ranks` order)."""
        return self.population.sum(target)[self._ranks]

    # -- coordinates -------------------------------------------------------------------------
    def rank_from_coordinates(self, coord, local: bool = False) -> int:
        """The population rank of a neuron of the view, given by population coordinates, or
        by coordinates in the view's geometry with `local=True`."""
        who = f"PopulationView of {self.population.name}"
        if not local:
            rank = self.population.rank_from_coordinates(coord)
            if rank not in self._ranks:
                raise InvalidValueError(f"{who}: the neuron at {tuple(coord)} is not in the view")
            return rank
        if self.geometry is None:
            raise InvalidValueError(f"{who} has no geometry (it was made by adding views); "
                                    "use population coordinates (local=False)")
        coord = tuple(coord) if isinstance(coord, tuple | list) else (coord,)
        if len(coord) != len(self.geometry) or not all(
                _is_int(c) and 0 <= c < g for c, g in zip(coord, self.geometry, strict=True)):
            raise InvalidValueError(f"{who}: coordinates {coord} are outside its geometry "
                                    f"{self.geometry}")
        return int(self._ranks[np.ravel_multi_index(coord, self.geometry)])

    def coordinates_from_rank(self, rank: int, local: bool = False) -> tuple[int, ...]:
        """The population coordinates of a rank of the view (its coordinates in the view's
        geometry with `local=True`)."""
        who = f"PopulationView of {self.population.name}"
        if not _is_int(rank) or rank not in self._ranks:
            raise InvalidValueError(f"{who}: rank {show(rank)} is not in the view")
        if not local:
            return self.population.coordinates_from_rank(int(rank))
        if self.geometry is None:
            raise InvalidValueError(f"{who} has no geometry (it was made by adding views); "
                                    "use population coordinates (local=False)")
        where = int(np.flatnonzero(self._ranks == rank)[0])
        return tuple(int(c) for c in np.unravel_index(where, self.geometry))

    # -- composition -------------------------------------------------------------------------
    def __add__(self, other: "PopulationView | IndividualNeuron") -> "PopulationView":
        return union(self, other)

    def __repr__(self) -> str:
        ranks = self._ranks.tolist()
        text = ranks if len(ranks) <= 10 else f"{ranks[:10]}... ({len(ranks)} neurons)"
        return f"PopulationView of {self.population.name}, ranks {text}, " \
               f"geometry {self.geometry}"


class IndividualNeuron:
    """One neuron of a population: `pop.neuron(rank)`, `pop.neuron(x, y)` or `pop[x, y]`.

    >>> import tecomp as ann
    >>> net = ann.Network()
    >>> pop = net.create((3, 4), ann.Neuron(parameters="r = 0.0"))
    >>> n = pop.neuron(1, 2)
    >>> n.r = 5.0
    >>> n.rank, n.coordinates, n.r, float(pop.r[1, 2])
    (6, (1, 2), 5.0, 5.0)
    """

    def __init__(self, population: "Population", rank: int):
        if not _is_int(rank) or not 0 <= rank < population.size:
            raise InvalidValueError(f"Population {population.name}: rank {show(rank)} is "
                                    f"outside 0..{population.size - 1}")
        object.__setattr__(self, "population", population)
        object.__setattr__(self, "rank", int(rank))

    @property
    def coordinates(self) -> tuple[int, ...]:
        """The neuron's coordinates in the population's geometry."""
        return self.population.coordinates_from_rank(self.rank)

    def get(self, name: str) -> float | int | bool:
        pop = self.population
        pop.check_attribute(name, f"Neuron {self.rank} of {pop.name}")
        if name in pop.neuron.shared:
            return pop.get(name)
        return pop.neuron.typed(name, pop.live(name).flat[self.rank:self.rank + 1])[0].item()

    def set(self, values: dict) -> None:
        """Set attributes from a dict of numbers (a population-wide attribute is set for the
        whole population, as in ANNarchy)."""
        pop = self.population
        who = f"Neuron {self.rank} of {pop.name}"
        if not isinstance(values, dict):
            raise InvalidTypeError(f"{who}.set: expected a dict {{name: value}}, got "
                                   f"{type(values).__name__}")
        checked = {}
        for name, value in values.items():
            pop.check_attribute(name, who)
            array = pop.read_value(name, value, (), who)
            if array.shape != ():
                raise InvalidValueError(f"{who}: {name} takes one number, got an array of "
                                        f"shape {array.shape}")
            checked[name] = array
        for name, value in checked.items():
            if name in pop.neuron.shared:
                pop.live(name)[...] = value
            else:
                pop.live(name).flat[self.rank] = value

    def __getattr__(self, name: str):
        pop = self.__dict__.get("population")
        if name.startswith("_") or pop is None or "rank" not in self.__dict__:
            raise AttributeError(name)
        if name in pop.attributes:
            return self.get(name)
        raise UnknownAttributeError(f"Neuron {self.__dict__['rank']} of {pop.name} has no "
                                    f"attribute {name!r}; its neuron has "
                                    f"{', '.join(pop.attributes)}")

    def __setattr__(self, name: str, value) -> None:
        self.set({name: value})

    def __add__(self, other: "PopulationView | IndividualNeuron") -> "PopulationView":
        return union(self, other)

    def __repr__(self) -> str:
        return f"Neuron {self.rank} of {self.population.name} at {self.coordinates}"


def union(a: "PopulationView | IndividualNeuron",
          b: "PopulationView | IndividualNeuron") -> PopulationView:
    """A view of the neurons of `a` and `b` (views or neurons of one population), sorted."""
    parts = []
    for part in (a, b):
        if isinstance(part, IndividualNeuron):
            parts.append(np.array([part.rank]))
        elif isinstance(part, PopulationView):
            parts.append(part.ranks)
        else:
            raise InvalidTypeError(f"can only add views and neurons of one population, got "
                                   f"{type(part).__name__}")
    if a.population is not b.population:
        raise InvalidValueError(f"can only add views and neurons of one population, got "
                                f"{a.population.name} and {b.population.name}")
    return PopulationView(a.population, np.union1d(*parts).astype(np.int64))
