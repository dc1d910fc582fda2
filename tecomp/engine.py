"""A compiled network: buffers, kernels and the order they run in each step.

One step: (1) every projection computes from the pre values as they were at the start of
the step (or `delays` earlier) into its own output buffer; (2) every population with
equations writes its new values into its second set of buffers, reading the projection
outputs of each target as `sum(target)`; (3) the two buffer sets swap. Double buffering
keeps inputs and outputs of an update apart (kernels assume their arguments never alias).

A population whose whole update is `r = sum(target)` with one projection on that target
has no update kernel: the projection writes straight into its next `r` buffer (the update
fused into the kernel that feeds it, one memory pass less per step).
"""

import functools
import math
import time

import numpy as np
import tvm

from . import odes
from .build import aligned_copy, aligned_empty
from .errors import InvalidValueError
from .expr import ZERO, add, names, substitute
from .kernels import compile_kernel
from .specs import NeuronSpec


def neuron_spec(pop, feeds: dict[str, int], dtype: str, dt: float) -> NeuronSpec | None:
    """The update of a population, or None when its neuron has no equations.

    `feeds` counts the projections per target of the population: `sum()` adds every target
    they feed, and `sum(target)` of a target none feeds reads 0 (as in ANNarchy).
    """
    neuron = pop.neuron
    if not neuron.equations:
        return None
    lets, values = odes.program(neuron.equations, dt)
    fed = [("sum", t) for t in sorted(feeds) if feeds[t]]
    every = {("sum", ""): fed[0] if len(fed) == 1 else
             (ZERO if not fed else functools.reduce(add, fed))}
    lets = tuple((name, substitute(e, every)) for name, e in lets)
    outputs = tuple(v for v in neuron.variables if v in values)
    exprs = tuple(substitute(values[v], every) for v in outputs)
    trees = [*exprs, *(e for _, e in lets)]
    read = set().union(*(names(e, "var") for e in trees))
    scalars = tuple(sorted(n for n in read if n in neuron.shared or n == "t"))
    inputs = tuple(sorted(read - set(scalars)))
    targets = tuple(sorted(set().union(*(names(e, "sum") for e in trees))))
    return NeuronSpec(pop.size, inputs, targets, tuple(feeds.get(t, 0) for t in targets),
                      outputs, exprs, dtype, scalars, lets)


def update_specs(net) -> dict:
    """The update spec (or None) of every population of a network description."""
    specs = {}
    for pop in net.populations:
        feeds: dict[str, int] = {}
        for proj in net.projections:
            if proj.post is pop:
                feeds[proj.target] = feeds.get(proj.target, 0) + 1
        specs[pop] = neuron_spec(pop, feeds, net.dtype, net.dt)
    return specs


def forwarded(net, updates: dict) -> dict:
    """{population: projection} for the updates that only copy one projection's result."""
    found = {}
    for pop, spec in updates.items():
        if spec is None or spec.lets or spec.scalars or len(spec.exprs) != 1:
            continue
        expr = spec.exprs[0]
        feeding = [p for p in net.projections if p.post is pop and p.target == expr[1]]
        if expr[0] == "sum" and len(feeding) == 1:
            found[pop] = feeding[0]
    return found


class Engine:
    def __init__(self, net, tuned: bool = True):
        start = time.perf_counter()
        for proj in net.projections:
            proj.spec()  # raises for a projection without a connection pattern
            _check_pre_variables(proj)
        self.net = net
        self.tuned = tuned
        self.dtype = net.dtype
        self.steps = 0
        self.delays = {proj: proj.delay_steps(net.dt) for proj in net.projections}
        self._allocate()
        self._plans = self._build_plans()
        self.compile_seconds = time.perf_counter() - start

    # -- buffers -----------------------------------------------------------------------------
    def _allocate(self) -> None:
        net, dtype = self.net, self.dtype
        self.updates = update_specs(net)
        self.forwards = forwarded(net, self.updates)
        # state[pop][name] = (buffer at even steps, buffer at odd steps)
        self.state = {}
        for pop in net.populations:
            spec = self.updates[pop]
            assigned = set(spec.outputs) if spec else set()
            self.state[pop] = {}
            for name, value in pop._initial.items():
                first = aligned_copy(value, dtype)
                second = aligned_copy(value, dtype) if name in assigned else first
                self.state[pop][name] = (first, second)
        self.outputs = {proj: aligned_empty(proj.post.geometry, dtype) for proj in net.projections}
        # t (ms at the start of the step), read by the kernels that use it
        self.clock = aligned_empty((1,), dtype)
        self.uses_clock = any(s is not None and "t" in s.scalars for s in self.updates.values())
        self.weight_buffers = {proj: aligned_copy(proj._weights, dtype)
                               for proj in net.projections if getattr(proj, "_weights", None)
                               is not None and getattr(proj, "source", None) is None}
        for proj in net.projections:  # a Copy reads the very weights of its source
            source = getattr(proj, "source", None)
            if source in self.weight_buffers:
                self.weight_buffers[proj] = self.weight_buffers[source]
        self.tables = {proj: aligned_copy(proj._centres, "int32") for proj in net.projections
                       if getattr(proj, "_centres", None) is not None}
        # rings[(pop, name)] = past values, slot n % len holds the value at the start of step n
        depth: dict = {}
        for proj, d in self.delays.items():
            if d:
                for var in proj.spec().pre_vars:
                    key = (proj.pre, var)
                    depth[key] = max(depth.get(key, 0), d + 1)
        self.rings = {key: [aligned_empty(key[0].geometry, dtype) for _ in range(n)]
                      for key, n in depth.items()}

    def array(self, pop, name: str) -> np.ndarray:
        """The live values of an attribute, shaped like the geometry."""
        return self.state[pop][name][self.steps % 2]

    def weights(self, proj) -> np.ndarray:
        return self.weight_buffers[proj]

    # -- plans -------------------------------------------------------------------------------
    def _build_plans(self) -> list[list]:
        """One list of calls per step phase; the phase is the step number modulo the period of
        the buffer rotation (2 for double buffering, times the ring lengths of delays)."""
        period = math.lcm(2, *(len(r) for r in self.rings.values()))
        tensor = _tensor_cache()
        projection_calls = []
        for proj in self.net.projections:
            spec = proj.spec(self.dtype)
            extra = [b for b in (self.weight_buffers.get(proj), self.tables.get(proj))
                     if b is not None]
            projection_calls.append((proj, compile_kernel(spec, tuned=self.tuned),
                                     spec.pre_vars, extra))
        update_calls = [(pop, compile_kernel(spec, tuned=self.tuned), spec)
                        for pop, spec in self.updates.items()
                        if spec is not None and pop not in self.forwards]
        # what each call of a step is, in order (profile() labels its timings with these)
        self.kernel_names = [*(f"ring {pop.name}.{var}" for pop, var in self.rings),
                        *(p.name for p in self.net.projections),
                        *(f"update {pop.name}" for pop, _, _ in update_calls)]
        plans = []
        for phase in range(period):
            parity = phase % 2
            calls = [(np.copyto, (ring[phase % len(ring)], self.state[pop][var][parity]))
                     for (pop, var), ring in self.rings.items()]
            for proj, fn, pre_vars, extra in projection_calls:
                d = self.delays[proj]
                sources = [self.state[proj.pre][v][parity] if d == 0 else
                           self.rings[(proj.pre, v)][(phase - d) % len(self.rings[(proj.pre, v)])]
                           for v in pre_vars]
                out = self._result(proj)[1 - parity].reshape(proj.post.geometry)
                calls.append((fn, tuple(tensor(b) for b in (*sources, *extra, out))))
            for pop, fn, spec in update_calls:
                state = self.state[pop]
                feeds = [self.outputs[p].reshape(-1) for t in spec.targets
                         for p in self.net.projections if p.post is pop and p.target == t]
                ones = [self.clock if a == "t" else state[a][parity] for a in spec.scalars]
                args = [state[a][parity].reshape(-1) for a in spec.inputs] + ones + feeds + \
                       [state[v][1 - parity].reshape(-1) for v in spec.outputs]
                calls.append((fn, tuple(tensor(b) for b in args)))
            plans.append(calls)
        return plans

    # -- running -----------------------------------------------------------------------------
    def run(self, n: int) -> None:
        """`n` steps; after each, every monitor of the network records what it is due to."""
        plans, period, monitors = self._plans, len(self._plans), self.net.monitors
        clock, dt = (self.clock, self.net.dt) if self.uses_clock else (None, 0.0)
        for _ in range(n):
            if clock is not None:
                clock[0] = self.steps * dt
            for fn, args in plans[self.steps % period]:
                fn(*args)
            self.steps += 1
            for monitor in monitors:
                monitor._record(self.steps - 1)

    def profile(self, repeat: int = 30) -> dict[str, float]:
        """Median seconds of each kernel call of a step, by projection or population name.

        Runs the calls of the current phase `repeat` times without advancing time (outputs
        and the second buffers are overwritten; state at the start of the step is kept)."""
        calls = self._plans[self.steps % len(self._plans)]
        times = {}
        for label, (fn, args) in zip(self.kernel_names, calls, strict=True):
            fn(*args)
            samples = []
            for _ in range(repeat):
                start = time.perf_counter()
                fn(*args)
                samples.append(time.perf_counter() - start)
            times[label] = float(np.median(samples))
        return times

    def reset(self) -> None:
        """Time 0, initial values, empty delay history; the kernels stay."""
        self.steps = 0
        for pop, arrays in self.state.items():
            for name, pair in arrays.items():
                for buf in pair:
                    buf[...] = pop._initial[name]
        for ring in self.rings.values():
            for buf in ring:
                buf[...] = 0
        for buf in self.outputs.values():
            buf[...] = 0

    def _result(self, proj) -> tuple[np.ndarray, np.ndarray]:
        """Where a projection's result is, indexed by the parity of the step count after the
        step that wrote it: its own buffer, or the post's variable when the update was fused
        into the projection."""
        pop = proj.post
        if self.forwards.get(pop) is proj:
            return self.state[pop][self.updates[pop].outputs[0]]
        return self.outputs[proj], self.outputs[proj]

    def summed_input(self, pop, target: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """The projection results whose sum is `sum(target)` of pop (all targets for ""),
        each as a pair indexed like `_result`."""
        return [self._result(p) for p in self.net.projections
                if p.post is pop and target in ("", p.target)]


def _check_pre_variables(proj) -> None:
    """A projection reads one value per pre neuron; a population-wide one would need a
    broadcast nobody asked for."""
    shared = set(proj.spec().pre_vars) & proj.pre.neuron.shared
    if shared:
        name = sorted(shared)[0]
        raise InvalidValueError(f"{type(proj).__name__} {proj.name}: its psp reads pre.{name}, "
                                f"a population-wide parameter of {proj.pre.name}; declare it "
                                f"per neuron ('{name} = 0.0' in a parameters string, or "
                                f"Parameter(0.0, locality='local') in a dict)")


def _tensor_cache():
    """TVM views of numpy buffers, made once per buffer (a call with Tensors costs less)."""
    made: dict[int, tuple] = {}

    def tensor(array: np.ndarray):
        key = (array.ctypes.data, array.shape)
        if key not in made:
            if array.ctypes.data % 64:
                raise InvalidValueError("internal: a kernel buffer is not 64-byte aligned")
            made[key] = (tvm.runtime.from_dlpack(array), array)  # keep the array alive
        return made[key][0]

    return tensor
