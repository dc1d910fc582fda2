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

import math
import time

import numpy as np
import tvm

from .build import aligned_copy, aligned_empty
from .errors import InvalidValueError
from .kernels import compile_kernel
from .plan import network_plan


class Engine:
    def __init__(self, net, tuned: bool = True):
        start = time.perf_counter()
        self.plan = network_plan(net)  # raises for a projection without a pattern
        self.net = net
        self.tuned = tuned
        self.dtype = net.dtype
        self.steps = 0
        self._allocate()
        self._plans = self._build_plans()
        self.compile_seconds = time.perf_counter() - start

    # -- buffers -----------------------------------------------------------------------------
    def _allocate(self) -> None:
        net, dtype, plan = self.net, self.dtype, self.plan
        # state[pop][name] = (buffer at even steps, buffer at odd steps)
        self.state = {}
        for pop in net.populations:
            assigned = set(plan.outputs[pop])
            self.state[pop] = {}
            for name, value in pop.initial_values().items():
                first = aligned_copy(value, dtype)
                second = aligned_copy(value, dtype) if name in assigned else first
                self.state[pop][name] = (first, second)
        self.outputs = {proj: aligned_empty(proj.post.geometry, dtype) for proj in net.projections}
        # t (ms at the start of the step), read by the kernels that use it
        self.clock = aligned_empty((1,), dtype)
        self.uses_clock = any("t" in k.spec.scalars for k in plan.updates)
        self.weight_buffers, self.tables = {}, {}
        for proj in net.projections:
            source = proj.weight_source()  # a Copy reads the very weights of its source
            if source is not proj and source in self.weight_buffers:
                self.weight_buffers[proj] = self.weight_buffers[source]
            elif source.kernel_weights() is not None:
                self.weight_buffers[proj] = aligned_copy(source.kernel_weights(), dtype)
            if proj.centre_table() is not None:
                self.tables[proj] = aligned_copy(proj.centre_table(), "int32")
        # rings[(pop, name)] = past values, slot n % len holds the value at the start of step n
        self.rings = {key: [aligned_empty(key[0].geometry, dtype) for _ in range(n)]
                      for key, n in plan.rings.items()}

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
        functions = {spec: compile_kernel(spec, tuned=self.tuned) for spec in self.plan.specs}
        # what each call of a step is, in order (profile() labels its timings with these)
        self.kernel_names = [*(f"ring {pop.name}.{var}" for pop, var in self.rings),
                             *(k.label for k in self.plan.kernels)]
        plans = []
        for phase in range(period):
            parity = phase % 2
            calls = [(np.copyto, (ring[phase % len(ring)], self.state[pop][var][parity]))
                     for (pop, var), ring in self.rings.items()]
            for k in self.plan.projections:
                proj = k.projection
                sources = [self.state[proj.pre][v][parity] if k.delay == 0 else
                           self.rings[(proj.pre, v)][(phase - k.delay) %
                                                     len(self.rings[(proj.pre, v)])]
                           for v in k.spec.pre_vars]
                extra = [b for b in (self.weight_buffers.get(proj), self.tables.get(proj))
                         if b is not None]
                out = self._result(proj)[1 - parity].reshape(proj.post.geometry)
                calls.append((functions[k.spec],
                              tuple(tensor(b) for b in (*sources, *extra, out))))
            for k in self.plan.updates:
                pop, spec = k.population, k.spec
                state = self.state[pop]
                feeds = [self.outputs[p].reshape(-1) for t in spec.targets
                         for p in self.net.projections if p.post is pop and p.target == t]
                ones = [self.clock if a == "t" else state[a][parity] for a in spec.scalars]
                args = [state[a][parity].reshape(-1) for a in spec.inputs] + ones + feeds + \
                       [state[v][1 - parity].reshape(-1) for v in spec.outputs]
                calls.append((functions[spec], tuple(tensor(b) for b in args)))
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
                monitor.record(self.steps - 1)

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
            initial = pop.initial_values()
            for name, pair in arrays.items():
                for buf in pair:
                    buf[...] = initial[name]
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
        fused = self.plan.fused_projection(pop)
        if fused is not None and fused.projection is proj:
            return self.state[pop][self.plan.outputs[pop][0]]
        return self.outputs[proj], self.outputs[proj]

    def summed_input(self, pop, target: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """The projection results whose sum is `sum(target)` of pop (all targets for ""),
        each as a pair indexed like `_result`."""
        return [self._result(p) for p in self.net.projections
                if p.post is pop and target in ("", p.target)]


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
