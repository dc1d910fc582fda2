"""A compiled network: buffers, kernels and the order they run in each step.

One step: (1) every projection computes from the pre values as they were at the start of
the step into its own output buffer (a delayed one, from a ring of snapshots); (2) every
population with equations writes its new values into its second set of buffers, reading
the projection outputs of each target as `sum(target)`; (3) the two buffer sets swap and
the rings take a snapshot of the values the step ended with. Double buffering keeps inputs
and outputs of an update apart (kernels assume their arguments never alias); a variable
that no kernel reads during the step (a read-out layer's `r`) has one buffer, written in place.

Delays follow ANNarchy's rule (docs/semantics.md): at step k a projection with a delay of
n steps reads the values the pre variables had at the end of step k - n, or, while k <= n,
the values they had at compile() or reset(). A ring of n snapshots per delayed variable is
enough: the slot a step reads is the one its own snapshot replaces afterwards.

A population whose whole update is `r = sum(target)` with one projection on that target
has no update kernel (see `plan`): the projection writes straight into its next `r` buffer.

Population-wide operations (`mean(r)`, ...) are one-value buffers: a reduction kernel fills
them at the end of each step from the values the step ended with, and the next step's
update reads them (0 before the first step, and again after reset()). Constants are
one-value buffers too, shared with their `Constant`, which writes a new value into them.

Random draws inside equations are computed by the update kernels (`tecomp.philox`) from the
population's seed words, derived from the network's seed (`Network(seed=...)`, else
DEFAULT_SEED) and the population's rank, and from a draw counter: the number of steps this
network has run since compile(). The counter goes on through reset(), so a reset network
draws new numbers (as ANNarchy's generator goes on); a network compiled again with the same
seed draws the same ones.
"""

import contextlib
import threading
import time

import numpy as np

from . import constants, denormals, philox, runtime
from .build import aligned_copy, aligned_empty
from .errors import InvalidValueError, NetworkStateError
from .kernels import compile_kernel
from .plan import network_plan, ring_row

# The seed of a network that has none (a network normally has one: Network(seed=...) or a
# drawn one).
DEFAULT_SEED = 0x7EC0_5EED

class Engine:
    """The compiled step of a network. With `batch` > 1 (tecomp.batch.run_batch), every
    population is `batch` independent copies side by side (a leading axis on every
    per-neuron buffer), run by the same kernels with a batch axis; monitors are not fed."""

    def __init__(self, net, tuned: bool = True, batch: int = 1):
        start = time.perf_counter()
        plan = network_plan(net)  # raises for a projection without a pattern
        self.plan = plan if batch == 1 else plan.batched(batch, net.dtype)
        self.batch = batch
        self.monitors = net.monitors if batch == 1 else []
        self.net = net
        self.tuned = tuned
        self.dtype = net.dtype
        self.steps = 0
        self._runner: threading.Thread | None = None  # the thread stepping, if any
        self._guard = threading.Lock()
        self._allocate()
        self._plans = self._build_plans()
        self.compile_seconds = time.perf_counter() - start

    # -- buffers -----------------------------------------------------------------------------
    def _allocate(self) -> None:
        net, dtype, plan = self.net, self.dtype, self.plan
        # state[pop][name] = (buffer at even steps, buffer at odd steps)
        self.state = {}
        read = self._read_in_step()
        for pop in net.populations:
            # A variable a step assigns gets a second buffer when a kernel of the same step
            # also reads it; one nobody reads during the step (a read-out `r = sum(exc)`) is
            # written in place: half the cache footprint of a memory-bound step.
            doubled = {name for name in plan.outputs[pop] if (pop, name) in read}
            self.state[pop] = {}
            for name, value in pop.initial_values().items():
                value = self._batched(value, pop)
                first = aligned_copy(value, dtype)
                second = aligned_copy(value, dtype) if name in doubled else first
                self.state[pop][name] = (first, second)
        self.outputs = {proj: aligned_empty(self._shape(proj.post), dtype)
                        for proj in net.projections}
        # t (ms at the start of the step), read by the kernels that use it
        self.clock = aligned_empty((1,), dtype)
        self.uses_clock = any("t" in k.spec.scalars for k in plan.updates)
        # population-wide operations: globals[pop]["mean(r)"], 0 until a step has ended
        self.globals = {k.population: {name: aligned_copy(np.zeros(1), dtype)
                                       for name in k.spec.outputs} for k in plan.reductions}
        # random draws: the seed words of each population that draws, and the draw counter
        seed = getattr(net, "seed", None)
        seed = DEFAULT_SEED if seed is None else int(seed)
        self.draw_counter = 0  # steps run since compile(); kernels with draws read it
        self.seed_words = {k.population: aligned_copy(np.array(philox.split_seed(
            philox.derive_seed(seed, net.populations.index(k.population)))), "uint32")
            for k in plan.updates if k.spec.draws}
        # constants the updates read, one buffer each, kept in step by the Constant
        table = constants.visible(net)
        self.constants = {}
        for k in plan.updates:
            for name in k.spec.scalars:
                if name in table and name not in k.population.neuron.attributes and \
                        name not in self.constants:
                    self.constants[name] = aligned_empty((1,), dtype)
                    table[name].attach(self.constants[name])
        # inputs[proj]: the constant arguments of a projection's kernel by name (weights,
        # subsampling centres, synapse tables), which set() writes into after compile()
        self.inputs = {}
        for proj in net.projections:
            # a Copy reads the very buffers of its source (weights, centres, masks); what it
            # has of its own (the scales of its own mean) it gets alone
            shared = self.inputs.get(proj.weight_source(), {})
            own = proj.kernel_inputs()
            if self.batch > 1 and "centres" in own:  # a row per batch element and centre
                own["centres"] = _batched_centres(own["centres"], self.batch)
            self.inputs[proj] = {
                name: shared[name] if name in shared and shared[name].shape == value.shape
                else aligned_copy(value, value.dtype.name if value.dtype.kind in "iu" else dtype)
                for name, value in own.items()}
            for name in getattr(proj, "constant_names", tuple)():  # a psp reading Constants
                table[name].attach(self.inputs[proj][name])
        # rings[(pop, name)]: slot j % len holds the values at the end of step j (1-based),
        # every slot the values at compile() until a step has ended
        # (one block of padded rows per ring: a projection whose synapses have delays of their
        # own reads the whole block, the others one slot)
        self.ring_blocks, self.rings = {}, {}
        for (pop, var), n in plan.rings.items():
            size = self.batch * pop.size
            block = aligned_empty((n, ring_row(size, dtype)), dtype)
            self.ring_blocks[(pop, var)] = block
            self.rings[(pop, var)] = [block[s, :size].reshape(self._shape(pop))
                                      for s in range(n)]
            for slot in self.rings[(pop, var)]:
                slot[...] = self.state[pop][var][0]

    def _read_in_step(self) -> set[tuple]:
        """(population, variable) pairs some kernel reads while a step runs: pre and post
        variables of projections, inputs and one-value inputs of updates. (Reductions,
        rings and monitors read after the step, the values it ended with.)"""
        read = set()
        for k in self.plan.projections:
            read |= {(k.projection.pre, v) for v in k.spec.pre_vars}
            read |= {(k.projection.post, v) for v in getattr(k.spec, "post_vars", ())}
        for k in self.plan.updates:
            read |= {(k.population, v) for v in (*k.spec.inputs, *k.spec.scalars)}
        return read

    def _shape(self, pop) -> tuple[int, ...]:
        """A per-neuron buffer's shape: the geometry, after the batch axis if any."""
        return pop.geometry if self.batch == 1 else (self.batch, *pop.geometry)

    def _batched(self, value: np.ndarray, pop) -> np.ndarray:
        """Initial values for every batch element (a one-value attribute stays one value)."""
        if self.batch == 1 or value.shape != pop.geometry:
            return value
        return np.broadcast_to(value, self._shape(pop))

    def array(self, pop, name: str) -> np.ndarray:
        """The live values of an attribute, shaped like the geometry."""
        return self.state[pop][name][self.steps % 2]

    def weights(self, proj) -> np.ndarray:
        return self.inputs[proj]["weights"]

    # -- plans -------------------------------------------------------------------------------
    def _build_plans(self) -> list[list]:
        """The calls of a step, one list per parity of the step count. A call is
        `(function, arguments, slots)`: a delayed projection's arguments depend on the step
        (`slots` = (ring length, delay, the arguments for each ring slot)), the others not."""
        tensor = _tensor_cache()
        functions = {spec: compile_kernel(spec, tuned=self.tuned) for spec in self.plan.specs}
        # what each call of a step is, in order (profile() labels its timings with these)
        self.kernel_names = [k.label for k in self.plan.kernels]
        plans = []
        for parity in (0, 1):
            calls = []
            for k in self.plan.projections:
                proj = k.projection
                spec = k.spec
                post_vars = [self.state[proj.post][v][parity].reshape(spec.post_shape)
                             for v in getattr(spec, "post_vars", ())]
                extra = [*post_vars, *self.inputs[proj].values(),
                         self._result(proj)[1 - parity].reshape(spec.post_shape)]

                def arguments(sources, extra=extra):
                    return tuple(tensor(b) for b in (*sources, *extra))

                def pre(buffers, shape=spec.pre_shape):
                    """Pre values (or ring slots) in the kernel's shape."""
                    return [b.reshape(shape) for b in buffers]

                pre_vars = k.spec.pre_vars
                if getattr(k.spec, "ring", 0):  # delays per synapse: the step goes in last
                    sources = [b for v in pre_vars for b in (
                        *pre([self.state[proj.pre][v][parity]]), self.ring_blocks[(proj.pre, v)])]
                    calls.append((self._counted(functions[k.spec], len(sources) + len(extra) - 1,
                                                lambda: self.steps + 1),
                                  arguments(sources), None))
                    continue
                if k.delay == 0:
                    sources = pre([self.state[proj.pre][v][parity] for v in pre_vars])
                    calls.append((functions[k.spec], arguments(sources), None))
                    continue
                length = len(self.rings[(proj.pre, pre_vars[0])])
                by_slot = [arguments(pre([self.rings[(proj.pre, v)][slot] for v in pre_vars]))
                           for slot in range(length)]
                calls.append((functions[k.spec], None, (length, k.delay, by_slot)))
            for k in self.plan.updates:
                pop, spec = k.population, k.spec
                state = self.state[pop]
                feeds = [self.outputs[p].reshape(-1) for t in spec.targets
                         for p in self.net.projections if p.post is pop and p.target == t]
                ones = [self._one_value(pop, a, parity) for a in spec.scalars]
                random = [self.seed_words[pop]] if spec.draws else []
                args = [state[a][parity].reshape(-1) for a in spec.inputs] + ones + random + \
                       feeds + [state[v][1 - parity].reshape(-1) for v in spec.outputs]
                function = functions[spec]
                if spec.draws:  # the draw counter goes in after the seed words
                    function = self._counted(function, len(spec.inputs) + len(ones) + 1,
                                             lambda: self.draw_counter)
                calls.append((function, tuple(tensor(b) for b in args), None))
            for k in self.plan.reductions:  # from the values the step ends with
                pop, spec = k.population, k.spec
                args = [self.state[pop][a][1 - parity].reshape(-1) for a in spec.inputs] + \
                       [self.globals[pop][name] for name in spec.outputs]
                calls.append((functions[spec], tuple(tensor(b) for b in args), None))
            plans.append(calls)
        # what the rings copy at the end of a step, by the parity after it
        self._snapshots = [[(ring, self.state[pop][var][parity])
                            for (pop, var), ring in self.rings.items()] for parity in (0, 1)]
        return plans

    @staticmethod
    def _counted(function, at: int, counter):
        """`function` with a counter (a scalar argument: the draw counter, the step) put in
        at position `at`, its value read at each call."""
        def call(*args):
            return function(*args[:at], counter(), *args[at:])

        return call

    def _one_value(self, pop, name: str, parity: int) -> np.ndarray:
        """The buffer of a one-value input of an update: t, a population-wide parameter, a
        population-wide operation or a Constant."""
        if name == "t":
            return self.clock
        if name in self.state[pop]:
            return self.state[pop][name][parity]
        if name in self.globals.get(pop, {}):
            return self.globals[pop][name]
        return self.constants[name]

    # -- running -----------------------------------------------------------------------------
    def run(self, n: int) -> None:
        """`n` steps; after each, every monitor of the network records what it is due to."""
        with self._stepping(), denormals.flushed():
            plans, monitors = self._plans, self.monitors
            clock, dt = (self.clock, self.net.dt) if self.uses_clock else (None, 0.0)
            for _ in range(n):
                step = self.steps
                if clock is not None:
                    clock[0] = step * dt
                for fn, args, slots in plans[step % 2]:
                    if slots is not None:
                        length, delay, by_slot = slots
                        args = by_slot[(step + 1 - delay) % length]
                    fn(*args)
                self.draw_counter += 1
                self.steps = step + 1
                for ring, live in self._snapshots[self.steps % 2]:
                    np.copyto(ring[self.steps % len(ring)], live)
                for monitor in monitors:
                    monitor.record(step)

    @contextlib.contextmanager
    def _stepping(self):
        """Refuse a second thread while one steps: the buffers would be read and written by
        both and the results would be wrong without a word."""
        if not self._guard.acquire(blocking=False):
            other = getattr(self._runner, "name", "another thread")
            raise NetworkStateError(
                f"thread {threading.current_thread().name!r} cannot step this "
                f"network while thread {other!r} steps it; use one network per thread "
                "(separate networks run in parallel)")
        self._runner = threading.current_thread()
        try:
            yield
        finally:
            self._runner = None
            self._guard.release()

    def profile(self, repeat: int = 30) -> dict[str, float]:
        """Median seconds of each kernel call of a step, by projection or population name.

        Runs the calls of the current step `repeat` times without advancing time (outputs
        and the second buffers are overwritten; state at the start of the step is kept,
        variables written in place are put back)."""
        times = {}
        step = self.steps
        # variables written in place (one buffer) get their values back afterwards
        kept = [(pair[0], pair[0].copy()) for pop, arrays in self.state.items()
                for pair in (arrays[name] for name in self.plan.outputs[pop])
                if pair[0] is pair[1]]
        with self._stepping(), denormals.flushed():
            for label, (fn, args, slots) in zip(self.kernel_names, self._plans[step % 2],
                                                strict=True):
                if slots is not None:
                    args = slots[2][(step + 1 - slots[1]) % slots[0]]
                fn(*args)
                samples = []
                for _ in range(repeat):
                    start = time.perf_counter()
                    fn(*args)
                    samples.append(time.perf_counter() - start)
                times[label] = float(np.median(samples))
            for buf, values in kept:
                np.copyto(buf, values)
        return times

    def reset(self) -> None:
        """Time 0, initial values, a delay history of initial values; the kernels stay."""
        with self._stepping():
            self.steps = 0
            for pop, arrays in self.state.items():
                initial = pop.initial_values()
                for name, pair in arrays.items():
                    for buf in pair:
                        buf[...] = initial[name]
            for (pop, var), ring in self.rings.items():
                for buf in ring:
                    buf[...] = pop.initial_values()[var]
            for buf in self.outputs.values():
                buf[...] = 0
            for values in self.globals.values():
                for buf in values.values():
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


def _batched_centres(centres: np.ndarray, batch: int) -> np.ndarray:
    """The subsampling table of a batched window: each batch element's rows, the batch
    index in front (the batch axis is a "keep" axis, see specs.batched)."""
    rows = len(centres)
    index = np.repeat(np.arange(batch, dtype=centres.dtype), rows)[:, None]
    return np.hstack([index, np.tile(centres, (batch, 1))])


def _tensor_cache():
    """TVM views of numpy buffers, made once per buffer (a call with Tensors costs less)."""
    made: dict[int, tuple] = {}

    def tensor(array: np.ndarray):
        key = (array.ctypes.data, array.shape)
        if key not in made:
            if array.ctypes.data % 64:
                raise InvalidValueError("internal: a kernel buffer is not 64-byte aligned")
            made[key] = (runtime.from_dlpack(array), array)  # keep the array alive
        return made[key][0]

    return tensor
