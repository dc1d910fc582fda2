"""Monitors: the values of population variables (or their summed inputs) over time.

After each step, an active monitor whose period is due copies each recorded array into the
next row of a preallocated block: one copy per recorded step, no allocation, no Python loop
over neurons. As in ANNarchy, a record at step n holds the values after that step's update,
`get()` empties the recording unless `keep=True`, and `times()` gives start and stop times.
"""

import re

import numpy as np

from .errors import InvalidTypeError, InvalidValueError, NetworkStateError

_SUM = re.compile(r"sum\(\s*(\w*)\s*\)")
# Rows of a block grow by doubling up to this many bytes, so long runs allocate rarely.
BLOCK_BYTES = 1 << 24


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
                 name: str | None = None):
        from .population import Population  # monitor.py stays importable on its own

        if not isinstance(obj, Population):
            raise InvalidTypeError(f"Monitor: can record a Population, got {type(obj).__name__}")
        self.object, self.network = obj, obj.network
        self.name = name or f"Monitor_{obj.name}"
        self.period = obj.network.dt if period is None else period
        self.period_offset = 0.0 if period_offset is None else period_offset
        self._steps(obj.network.dt)  # checks the period now, at the call that sets it
        self._tracks: dict[str, _Track] = {}
        for var in _as_list(variables):
            self._add(var)
        self._start_on_compile = bool(start)
        self._recording = False
        self._sources: dict[str, list] = {}
        self._offset = 0
        self._periods: list[list] = []  # [start step, stop step or None]
        self.network.add_monitor(self)
        if self.network.engine is not None:
            self.attach()

    @property
    def variables(self) -> list[str]:
        return list(self._tracks)

    # -- control ------------------------------------------------------------------------------
    def start(self, variables=None, period: float | None = None) -> None:
        """Start recording (again, from now); may add variables or change the period."""
        engine = self._engine("start")
        for var in _as_list(variables):
            if var not in self._tracks:
                self._add(var)
        if period is not None:
            previous, self.period = self.period, period
            try:
                self._steps(self.network.dt)
            except InvalidValueError:
                self.period = previous
                raise
        self._connect(engine)
        self._offset = engine.steps
        self._recording = True
        self._periods.append([engine.steps, None])

    def pause(self) -> None:
        engine = self._engine("pause")
        if self._recording:
            self._recording = False
            self._periods[-1][1] = engine.steps

    def resume(self) -> None:
        engine = self._engine("resume")
        if not self._recording:
            self._recording = True
            self._periods.append([engine.steps, None])

    def stop(self) -> None:
        """Stop recording and drop what was recorded."""
        self._recording = False
        self._periods = []
        for track in self._tracks.values():
            track.clear()

    def reset(self) -> None:
        """Empty the recording; recording restarts at the current step if it was on."""
        was_on = self._recording
        self.stop()
        if was_on and self.network.engine is not None:
            self.start()

    # -- results ------------------------------------------------------------------------------
    def get(self, variables=None, keep: bool = False, reshape: bool = True):
        """Recorded values, time first: (T, *geometry), or (T, size) with reshape=False.

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
        self._last_periods = self._closed_periods()
        if not keep:
            for track in self._tracks.values():
                track.clear()
            now = self.network.engine.steps if self.network.engine else 0
            self._periods = [[now, None]] if self._recording else []
        return data[names[0]] if variables is not None and len(names) == 1 else data

    def times(self, variables=None) -> dict:
        """{variable: {"start": [ms, ...], "stop": [ms, ...]}}: when the data returned by the
        last `get()` (or, before any, the current recording) was being recorded."""
        periods = getattr(self, "_last_periods", None) or self._closed_periods()
        dt = self.network.dt
        spans = {"start": [s * dt for s, _ in periods], "stop": [e * dt for _, e in periods]}
        names = list(self._tracks) if variables is None else _as_list(variables)
        return {var: {k: list(v) for k, v in spans.items()} for var in names}

    # -- engine side --------------------------------------------------------------------------
    def attach(self) -> None:
        """Connect to the compiled network; called by compile() (or at creation on a
        compiled network)."""
        self._steps(self.network.dt)
        self._connect(self.network.engine)
        if self._start_on_compile and not self._recording and not self._periods:
            self.start()

    def _connect(self, engine) -> None:
        for var, track in self._tracks.items():
            if var in self._sources:
                continue
            match = _SUM.fullmatch(var)
            if match:
                self._sources[var] = ("sum", engine.summed_input(self.object, match.group(1)),
                                      track)
            else:
                self._sources[var] = ("var", engine.state[self.object][var], track)
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
        for kind, source, track in self._sources.values():
            row = track.row()
            if kind == "var":
                np.copyto(row, source[parity])
            elif not source:
                row[...] = 0.0
            else:
                np.copyto(row, source[0][parity])
                for more in source[1:]:
                    row += more[parity]

    # -- checks -------------------------------------------------------------------------------
    def _steps(self, dt: float) -> tuple[int, int]:
        """(period, offset) in steps; both must be whole numbers of steps."""
        result = []
        for label, value in (("period", self.period), ("period_offset", self.period_offset)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise InvalidValueError(f"Monitor: {label} must be a number of ms >= 0, "
                                        f"got {value!r}")
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

    def _add(self, var) -> None:
        pop = self.object
        if not isinstance(var, str):
            raise InvalidTypeError(f"Monitor: variable names must be strings, got {var!r}")
        if var in pop.neuron.parameters:
            raise InvalidValueError(f"Monitor: {var!r} is a parameter of {pop.name}; parameters "
                                    "are not recordable (they only change when you set them)")
        if var not in pop.neuron.variables and not _SUM.fullmatch(var):
            raise InvalidValueError(f"Monitor: population {pop.name} has no variable {var!r}; "
                                    f"recordable: {', '.join(pop.neuron.variables) or 'none'} "
                                    "and sum(target)")
        self._tracks[var] = _Track(pop.geometry, self.network.dtype)

    def _engine(self, what: str):
        if self.network.engine is None:
            raise NetworkStateError(f"Monitor.{what}: call compile() first (monitors start "
                                    "recording at compile unless start=False)")
        return self.network.engine

    def _closed_periods(self) -> list:
        now = self.network.engine.steps if self.network.engine else 0
        return [(s, now if e is None else e) for s, e in self._periods]

    def __repr__(self) -> str:
        return f"Monitor({self.object.name}, {self.variables}, period={self.period})"


class _Track:
    """The records of one name: blocks of rows, each record written into the next row."""

    def __init__(self, shape: tuple[int, ...], dtype: str):
        self.shape, self.dtype = shape, dtype
        self.blocks: list[np.ndarray] = []
        self.used = 0  # rows written in the last block

    def row(self) -> np.ndarray:
        if not self.blocks or self.used == len(self.blocks[-1]):
            row_bytes = max(1, int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize)
            rows = 2 * len(self.blocks[-1]) if self.blocks else 64
            rows = max(1, min(rows, BLOCK_BYTES // row_bytes))
            self.blocks.append(np.empty((rows, *self.shape), self.dtype))
            self.used = 0
        self.used += 1
        return self.blocks[-1][self.used - 1]

    def values(self) -> np.ndarray:
        if not self.blocks:
            return np.empty((0, *self.shape), self.dtype)
        return np.concatenate([*self.blocks[:-1], self.blocks[-1][:self.used]])

    def clear(self) -> None:
        self.blocks, self.used = [], 0


def _as_list(variables) -> list:
    if variables is None:
        return []
    if isinstance(variables, str):
        return [variables]
    if not isinstance(variables, list | tuple):
        raise InvalidTypeError(f"Monitor: variable names must be strings, got {variables!r}")
    return list(variables)
