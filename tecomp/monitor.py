"""Monitors: the values of population variables (or their summed inputs) over time.

After each step, an active monitor whose period is due copies each recorded array into the
next row of a preallocated block: one copy per recorded step, no allocation, no Python loop
over neurons. As in ANNarchy, a record at step n holds the values after that step's update,
`get()` empties the recording unless `keep=True`, and `times()` gives start and stop times.

A monitor of a `PopulationView` (`Monitor(pop[0:10], "r")`) records only the view's
neurons; its `get()` gives (T, view size), in the order of the view's ranks, as ANNarchy's
does for views.

`max_samples=n` bounds a monitor: it keeps only the latest n records of each variable (older
ones are overwritten, and `times()` starts at the oldest record kept). `nbytes` is the memory
its recordings hold; a monitor without `max_samples` warns once when that passes 1 GiB.
"""

import re
import warnings

import numpy as np

from .errors import InvalidTypeError, InvalidValueError, NetworkStateError, TecompWarning
from .values import number, show, size_of

_SUM = re.compile(r"sum\(\s*(\w*)\s*\)")
# Rows of a block grow by doubling up to this many bytes, so long runs allocate rarely.
BLOCK_BYTES = 1 << 24
# A monitor without max_samples warns once when its recordings hold more than this.
WARN_BYTES = 1 << 30


class Monitor:
    """Record variables of a population: `Monitor(pop, ["r", "sum(exc)"], period=1.0)`.

    >>> import tecomp as ann
    >>> net = ann.Network(dt=0.5)
    >>> pop = net.create((2, 3), ann.Neuron(equations="dr/dt = 1.0"))
    >>> m = net.monitor(pop, "r", period=1.0)
    >>> net.compile(); net.simulate(4.0)
    >>> m.get("r").shape, m.get("r").shape  # get() empties the recording
    ((4, 2, 3), (0, 2, 3))
    """

    def __init__(self, obj, variables=None, period: float | None = None,
                 period_offset: float | None = None, start: bool = True,
                 name: str | None = None, max_samples: int | None = None):
        from .population import Population  # monitor.py stays importable on its own
        from .views import IndividualNeuron, PopulationView

        if isinstance(obj, IndividualNeuron):
            raise InvalidTypeError(f"Monitor: can record a Population or a PopulationView, got "
                                   f"one neuron; record the view pop[[{obj.rank}]] instead")
        if not isinstance(obj, Population | PopulationView):
            raise InvalidTypeError(f"Monitor: can record a Population or a PopulationView, got "
                                   f"{type(obj).__name__}")
        population = obj if isinstance(obj, Population) else obj.population
        # the ranks recorded (None: the whole population, shaped like its geometry)
        self._ranks = None if obj is population else obj.ranks
        if name is not None and not isinstance(name, str):
            raise InvalidTypeError(f"Monitor: name must be a string, got {show(name)}")
        if max_samples is not None and (isinstance(max_samples, bool | np.timedelta64) or
                                        not isinstance(max_samples, int | np.integer) or
                                        max_samples < 1):
            raise InvalidValueError(f"Monitor: max_samples must be None or an int >= 1 (the "
                                    f"number of latest records kept), got {show(max_samples)}")
        self.object, self.network, self.population = obj, obj.network, population
        self.name = name or f"Monitor_{population.name}"
        self.max_samples = None if max_samples is None else int(max_samples)
        self.period = obj.network.dt if period is None else period
        self.period_offset = 0.0 if period_offset is None else period_offset
        self._steps(obj.network.dt)  # checks the period now, at the call that sets it
        self._tracks: dict[str, _Track] = {}
        self._warned = False
        # per variable (get() empties only the variables it returns): the recording periods,
        # [start step, stop step or None], and with max_samples the step of each record kept,
        # to tell times() where they start
        self._periods: dict[str, list[list]] = {}
        self._kept: dict[str, _Track] = {}
        for var in self._checked(variables):
            self._add(var)
        self._start_on_compile = bool(start)
        self._recording = False
        self._sources: dict[str, list] = {}
        self._offset = 0
        self.network.add_monitor(self)
        if self.network.engine is not None:
            self.attach()

    @property
    def variables(self) -> list[str]:
        return list(self._tracks)

    @property
    def nbytes(self) -> int:
        """Bytes of memory held by the recordings (the buffers their records are written to)."""
        return sum(track.nbytes for track in self._tracks.values())

    # -- control ------------------------------------------------------------------------------
    def start(self, variables=None, period: float | None = None) -> None:
        """Start recording (again, from now); may add variables or change the period."""
        engine = self._engine("start")
        new = [var for var in self._checked(variables) if var not in self._tracks]
        if period is not None:  # checked before anything changes
            previous, self.period = self.period, period
            try:
                self._steps(self.network.dt)
            except Exception:
                self.period = previous
                raise
        for var in dict.fromkeys(new):
            self._add(var)
        self._connect(engine)
        self._offset = engine.steps
        self._recording = True
        for periods in self._periods.values():
            periods.append([engine.steps, None])

    def pause(self) -> None:
        engine = self._engine("pause")
        if self._recording:
            self._recording = False
            for periods in self._periods.values():
                if periods and periods[-1][1] is None:
                    periods[-1][1] = engine.steps

    def resume(self) -> None:
        engine = self._engine("resume")
        if not self._recording:
            self._recording = True
            for periods in self._periods.values():
                periods.append([engine.steps, None])

    def stop(self) -> None:
        """Stop recording and drop what was recorded."""
        self._recording = False
        self._clear(list(self._tracks))

    def _clear(self, names: list[str]) -> None:
        """Empty the recordings of `names`; they start again now if recording."""
        now = self.network.engine.steps if self.network.engine else 0
        for var in names:
            self._tracks[var].clear()
            if var in self._kept:
                self._kept[var].clear()
            self._periods[var] = [[now, None]] if self._recording else []

    def reset(self) -> None:
        """Empty the recording; recording restarts at the current step if it was on."""
        was_on = self._recording
        self.stop()
        if was_on and self.network.engine is not None:
            self.start()

    # -- results ------------------------------------------------------------------------------
    def get(self, variables=None, keep: bool = False, reshape: bool = True):
        """Recorded values, time first: (T, *geometry), or (T, size) with reshape=False (a
        view: always (T, view size)).

        One name gives an array; a list (or nothing: every variable) gives a dict. Unless
        `keep`, the recording is emptied afterwards (ANNarchy's behaviour)."""
        names = list(self._tracks) if variables is None else _as_list(variables)
        for var in names:
            if var not in self._tracks:
                raise InvalidValueError(f"Monitor {self.name}: {var!r} is not recorded; "
                                        f"recorded: {', '.join(self._tracks) or 'nothing'}")
        data = {}
        for var in names:
            values = self._tracks[var].values()
            data[var] = values if reshape else values.reshape(len(values), -1)
        self._last_periods = {var: self._closed_periods(var) for var in names}
        if not keep:
            self._clear(names)  # only these, as ANNarchy: the others keep their records
        return data[names[0]] if variables is not None and len(names) == 1 else data

    def times(self, variables=None) -> dict:
        """{variable: {"start": [ms, ...], "stop": [ms, ...]}}: when the data returned by the
        last `get()` (or, before any, the current recording) was being recorded."""
        dt = self.network.dt
        names = list(self._tracks) if variables is None else _as_list(variables)
        last = getattr(self, "_last_periods", {})
        out = {}
        for var in names:
            periods = last.get(var) or self._closed_periods(var)
            out[var] = {"start": [s * dt for s, _ in periods],
                        "stop": [e * dt for _, e in periods]}
        return out

    # -- engine side --------------------------------------------------------------------------
    def attach(self) -> None:
        """Connect to the compiled network; called by compile() (or at creation on a
        compiled network)."""
        self._steps(self.network.dt)
        self._connect(self.network.engine)
        if self._start_on_compile and not self._recording and \
                not any(self._periods.values()):
            self.start()

    def _connect(self, engine) -> None:
        for var, track in self._tracks.items():
            if var in self._sources:
                continue
            match = _SUM.fullmatch(var)
            if match:
                self._sources[var] = ("sum", engine.summed_input(self.population,
                                                                 match.group(1)), track)
            else:
                self._sources[var] = ("var", engine.state[self.population][var], track)
            track.dtype = engine.dtype

    def record(self, step: int) -> None:
        """Called by the engine after step `step`: copy every variable if the period is due
        (one copy each)."""
        if not self._recording:
            return
        period, offset = self._period_steps
        if (step - self._offset) % period != offset:
            return
        parity = (step + 1) % 2
        for kept in self._kept.values():
            kept.row()[...] = step
        grown = False
        ranks = self._ranks
        for kind, source, track in self._sources.values():
            grown |= track.full()
            row = track.row()
            if kind == "var":
                _copy(row, source[parity], ranks)
            elif not source:
                row[...] = 0.0
            else:
                _copy(row, source[0][parity], ranks)
                for more in source[1:]:
                    row += more[parity] if ranks is None else \
                        np.take(more[parity].reshape(-1), ranks)
        if grown and not self._warned and self.max_samples is None and \
                self.nbytes > WARN_BYTES:
            self._warned = True
            warnings.warn(f"Monitor {self.name}: its recordings hold {size_of(self.nbytes)}, "
                          f"more than {size_of(WARN_BYTES)}; pass max_samples= to keep only "
                          "the latest records, or get() them more often", TecompWarning,
                          stacklevel=2)

    # -- checks -------------------------------------------------------------------------------
    def _steps(self, dt: float) -> tuple[int, int]:
        """(period, offset) in steps; both must be whole numbers of steps."""
        result = []
        for label, value in (("period", self.period), ("period_offset", self.period_offset)):
            rule = "a number of ms >= 0"
            value = number(value, "Monitor", label, rule, wrong_type=InvalidValueError)
            if value < 0:
                raise InvalidValueError(f"Monitor: {label} must be {rule}, got {value!r}")
            if not value / dt <= 2**63 - 1:
                raise InvalidValueError(f"Monitor: {label}={value} ms is more than 2**63 - 1 "
                                        f"steps of dt={dt} ms")
            steps = round(value / dt)
            if abs(steps * dt - value) > 1e-9 * max(1.0, value):
                raise InvalidValueError(f"Monitor: {label}={value} ms is not a multiple of "
                                        f"dt={dt} ms")
            result.append(steps)
        if result[0] < 1 or result[1] >= result[0]:
            raise InvalidValueError(f"Monitor: period must be at least dt and period_offset "
                                    f"smaller than period, got period={self.period}, "
                                    f"period_offset={self.period_offset}")
        self._period_steps = tuple(result)
        return self._period_steps

    def _add(self, var: str) -> None:
        """A track for a name that `_checked` accepted."""
        shape = self.population.geometry if self._ranks is None else (len(self._ranks),)
        self._tracks[var] = _Track(shape, self.network.dtype, self.max_samples)
        self._periods[var] = []  # start() opens its first period
        if self.max_samples is not None:
            self._kept[var] = _Track((), "int64", self.max_samples)

    def _checked(self, variables) -> list[str]:
        """The names, each checked, before any is added (a failing call adds none)."""
        names = _as_list(variables)
        pop = self.population
        for var in names:
            if not isinstance(var, str):
                raise InvalidTypeError(f"Monitor: variable names must be strings, "
                                       f"got {show(var)}")
            if var in pop.neuron.parameters:
                raise InvalidValueError(f"Monitor: {var!r} is a parameter of {pop.name}; "
                                        "parameters are not recordable (they only change when "
                                        "you set them)")
            if var not in pop.neuron.variables and not _SUM.fullmatch(var):
                raise InvalidValueError(f"Monitor: population {pop.name} has no variable "
                                        f"{var!r}; recordable: "
                                        f"{', '.join(pop.neuron.variables) or 'none'} "
                                        "and sum(target)")
        return names

    def _engine(self, what: str):
        if self.network.engine is None:
            raise NetworkStateError(f"Monitor.{what}: call compile() first (monitors start "
                                    "recording at compile unless start=False)")
        return self.network.engine

    def _closed_periods(self, var: str) -> list:
        now = self.network.engine.steps if self.network.engine else 0
        periods = [(s, now if e is None else e) for s, e in self._periods[var]]
        kept = self._kept.get(var)
        if kept is not None and kept.dropped:  # older records were overwritten
            first = int(kept.first())
            periods = [(max(s, first), e) for s, e in periods if e > first]
        return periods

    def __repr__(self) -> str:
        return f"Monitor({self.object.name}, {self.variables}, period={self.period})"


def _copy(row: np.ndarray, values: np.ndarray, ranks: np.ndarray | None) -> None:
    """One record: every value, or those of the view's ranks (without a temporary)."""
    if ranks is None:
        np.copyto(row, values)
    else:
        np.take(values.reshape(-1), ranks, out=row)


class _Track:
    """The records of one name: blocks of rows, each record written into the next row.

    With `limit`, one block that grows (by doubling) to `limit` rows, then a ring: each new
    record overwrites the oldest."""

    def __init__(self, shape: tuple[int, ...], dtype: str, limit: int | None = None):
        self.shape, self.dtype, self.limit = shape, dtype, limit
        self.blocks: list[np.ndarray] = []
        self.used = 0  # rows written in the last block
        self.head = 0  # with a limit, once full: the row of the oldest record
        self.dropped = False  # with a limit: whether a record was overwritten

    @property
    def nbytes(self) -> int:
        return sum(block.nbytes for block in self.blocks)

    def full(self) -> bool:
        """Whether the next record needs a new block."""
        return not self.blocks or self.used == len(self.blocks[-1])

    def row(self) -> np.ndarray:
        if self.limit is not None:
            return self._ring_row()
        if self.full():
            row_bytes = max(1, int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize)
            rows = 2 * len(self.blocks[-1]) if self.blocks else 64
            rows = max(1, min(rows, BLOCK_BYTES // row_bytes))
            self.blocks.append(np.empty((rows, *self.shape), self.dtype))
            self.used = 0
        self.used += 1
        return self.blocks[-1][self.used - 1, ...]

    def _ring_row(self) -> np.ndarray:
        if not self.blocks:
            self.blocks = [np.empty((min(64, self.limit), *self.shape), self.dtype)]
        block = self.blocks[0]
        if self.used < len(block):
            self.used += 1
            return block[self.used - 1, ...]
        if len(block) < self.limit:  # grow, keeping the records in order
            bigger = np.empty((min(2 * len(block), self.limit), *self.shape), self.dtype)
            bigger[:len(block)] = block
            self.blocks = [bigger]
            self.used += 1
            return bigger[self.used - 1, ...]
        self.dropped = True
        row = block[self.head, ...]
        self.head = (self.head + 1) % len(block)
        return row

    def values(self) -> np.ndarray:
        if not self.blocks:
            return np.empty((0, *self.shape), self.dtype)
        if self.limit is not None:
            block = self.blocks[0][:self.used]
            return np.concatenate([block[self.head:], block[:self.head]])
        return np.concatenate([*self.blocks[:-1], self.blocks[-1][:self.used]])

    def first(self):
        """The oldest record kept."""
        return self.blocks[0][self.head] if self.limit is not None else self.blocks[0][0]

    def clear(self) -> None:
        self.blocks, self.used, self.head, self.dropped = [], 0, 0, False


def _as_list(variables) -> list:
    if variables is None:
        return []
    if isinstance(variables, str):
        return [variables]
    if not isinstance(variables, list | tuple):
        raise InvalidTypeError(f"Monitor: variable names must be strings, "
                               f"got {show(variables)}")
    return list(variables)
