"""Which kernels a network has: the one answer the engine, the tuner and the tools share.

`network_plan(net)` turns a network description into its kernels, in the order a step runs
them: one per projection (a Convolution or Pooling spec, the pre variables it reads and
its delay), then one per population update, then one per population whose equations use
population-wide operations (`mean(r)`, ...): a reduction over the values the step ended
with, which the next step's update reads (ANNarchy computes them after the updates, so an
update sees the values of the previous step, and 0 before the first). An update that only
copies one projection's result (`r = sum(exc)` fed by one projection) has no kernel of its
own: it is fused into the projection, which writes straight into the population's next
`r`. Delayed projections need a ring of past pre values; the plan says how deep each ring
is.
"""

import dataclasses
import functools
from dataclasses import dataclass

from . import constants, odes
from .errors import InvalidValueError
from .expr import CASTS, ZERO, Kind, add, global_parts, is_global, names, substitute
from .specs import MatrixSpec, NeuronSpec, WindowSpec, batched

# A delayed projection keeps one snapshot of its pre variables per step of delay.
MAX_DELAY_STEPS = 100_000
MAX_RING_BYTES = 8 << 30


@dataclass(frozen=True, eq=False)
class ProjectionKernel:
    projection: object
    spec: WindowSpec | MatrixSpec
    delay: int  # steps (the longest, when synapses have delays of their own)
    fused: object | None = None  # the post population whose update runs in this kernel

    @property
    def label(self) -> str:
        return self.projection.name


@dataclass(frozen=True, eq=False)
class UpdateKernel:
    population: object
    spec: NeuronSpec

    @property
    def label(self) -> str:
        return f"update {self.population.name}"


@dataclass(frozen=True, eq=False)
class ReductionKernel:
    population: object
    spec: NeuronSpec  # with `reduction`: outputs are the names of the operations, mean(r)

    @property
    def label(self) -> str:
        return f"global operations {self.population.name}"


@dataclass(frozen=True, eq=False)
class Plan:
    projections: tuple[ProjectionKernel, ...]
    updates: tuple[UpdateKernel, ...]  # the updates that run a kernel of their own
    outputs: dict  # population -> names of the variables its update assigns (may be empty)
    rings: dict  # (population, variable) -> ring length (the longest delay, in steps)
    reductions: tuple[ReductionKernel, ...] = ()  # run at the end of the step, after updates

    @property
    def kernels(self) -> tuple:
        return self.projections + self.updates + self.reductions

    @property
    def specs(self) -> list:
        """The distinct specs to build, projections first."""
        return list(dict.fromkeys(k.spec for k in self.kernels))

    def update_of(self, population) -> NeuronSpec | None:
        """The update spec of a population that runs its own kernel, else None."""
        return next((k.spec for k in self.updates if k.population is population), None)

    def fused_projection(self, population) -> "ProjectionKernel | None":
        return next((k for k in self.projections if k.fused is population), None)

    def batched(self, batch: int, dtype: str) -> "Plan":
        """The same kernels over `batch` independent copies of every population (see
        `specs.batched`); population-wide operations have no batched form yet."""
        if self.reductions:
            pop = self.reductions[0].population
            raise InvalidValueError(f"run_batch: population {pop.name} uses population-wide "
                                    f"operations ({', '.join(self.reductions[0].spec.outputs)}),"
                                    " which run_batch does not support yet; simulate the "
                                    "inputs one after the other")

        def projection(k: ProjectionKernel) -> ProjectionKernel:
            spec = batched(k.spec, batch)
            if getattr(spec, "ring", 0):
                spec = dataclasses.replace(spec, ring_row=ring_row(
                    batch * k.projection.pre.size, dtype))
            return dataclasses.replace(k, spec=spec)

        return dataclasses.replace(
            self, projections=tuple(projection(k) for k in self.projections),
            updates=tuple(dataclasses.replace(k, spec=batched(k.spec, batch))
                          for k in self.updates))


def network_plan(net) -> Plan:
    """The kernels of a network description (raises for a projection left unconnected, and
    for equations that read a Constant the network does not have)."""
    constants.check_network(net)
    updates = {pop: neuron_spec(pop, _feeds(net, pop), net.dtype, net.dt)
               for pop in net.populations}
    _check_constants(net, updates)
    projections = []
    for proj in net.projections:
        spec = proj.spec(net.dtype)  # raises for a projection without a connection pattern
        _check_pre_variables(proj, spec)
        post_spec = updates[proj.post]
        fused = proj.post if _copies(post_spec, proj, net) else None
        projections.append(ProjectionKernel(proj, spec, proj.delay_steps(net.dt), fused))
    rings: dict = {}
    for k in projections:
        for var in k.spec.pre_vars if k.delay else ():
            key = (k.projection.pre, var)
            rings[key] = max(rings.get(key, 0), k.delay)
    _check_ring_memory(rings, net.dtype)
    # a projection whose synapses have delays of their own reads whole rings
    projections = [dataclasses.replace(k, spec=dataclasses.replace(
        k.spec, ring=rings[(k.projection.pre, k.spec.pre_vars[0])],
        ring_row=ring_row(k.projection.pre.size, net.dtype)))
        if getattr(k.projection, "per_synapse_delays", False) and k.delay and k.spec.pre_vars
        else k for k in projections]
    fused_pops = {k.fused for k in projections if k.fused is not None}
    own = tuple(UpdateKernel(pop, spec) for pop, spec in updates.items()
                if spec is not None and pop not in fused_pops)
    outputs = {pop: spec.outputs if spec else () for pop, spec in updates.items()}
    reductions = tuple(ReductionKernel(pop, spec) for pop, spec in
                       ((pop, reduction_spec(update)) for pop, update in updates.items())
                       if spec is not None)
    return Plan(tuple(projections), own, outputs, rings, reductions)


def ring_row(size: int, dtype: str) -> int:
    """Elements per slot of a ring as stored: the population's size rounded up to 64 bytes,
    so that every slot starts aligned (kernels take a slot as a buffer of its own)."""
    per_line = 64 // (4 if dtype == "float32" else 8)
    return -(-size // per_line) * per_line


def _check_constants(net, updates: dict) -> None:
    visible = constants.visible(net)
    for pop, spec in updates.items():
        for name in spec.scalars if spec else ():
            if name in pop.neuron.attributes or name == "t" or is_global(name) or \
                    name in visible:
                continue
            raise InvalidValueError(f"Population {pop.name}: its equations read {name!r}, "
                                    "which is no Constant of this network; create it with "
                                    f"net.constant({name!r}, value) (or ann.Constant for every "
                                    "network)")


def _check_ring_memory(rings: dict, dtype: str) -> None:
    """Delays cost one snapshot of the pre variable per step of delay: refuse what could not
    be allocated, before anything is (compile time and memory stay bounded)."""
    itemsize = 4 if dtype == "float32" else 8
    for (pop, _), length in rings.items():
        if length > MAX_DELAY_STEPS:
            raise InvalidValueError(f"a projection from {pop.name} is delayed by {length} "
                                    f"steps; tecomp keeps at most {MAX_DELAY_STEPS} steps of "
                                    f"history (a longer delay, or a larger dt)")
    total = sum(length * ring_row(pop.size, dtype) * itemsize
                for (pop, _), length in rings.items())
    if total > MAX_RING_BYTES:
        raise InvalidValueError(f"the delays of this network need {total / 2**30:.1f} GiB of "
                                f"history; at most {MAX_RING_BYTES / 2**30:.0f} GiB is allowed")


def _feeds(net, pop) -> dict[str, int]:
    feeds: dict[str, int] = {}
    for proj in net.projections:
        if proj.post is pop:
            feeds[proj.target] = feeds.get(proj.target, 0) + 1
    return feeds


def _copies(spec: NeuronSpec | None, proj, net) -> bool:
    """Whether a population's whole update is `x = sum(target)` of this one projection."""
    if spec is None or spec.lets or spec.scalars or len(spec.exprs) != 1:
        return False
    expr = spec.exprs[0]
    feeding = [p for p in net.projections if p.post is proj.post and p.target == expr[1]]
    return expr[0] == Kind.SUM and feeding == [proj]


def neuron_spec(pop, feeds: dict[str, int], dtype: str, dt: float) -> NeuronSpec | None:
    """The update of a population, or None when its neuron has no equations.

    `feeds` counts the projections per target of the population: `sum()` adds every target
    they feed, and `sum(target)` of a target none feeds reads 0 (as in ANNarchy).
    """
    neuron = pop.neuron
    if not neuron.equations:
        return None
    lets, values = odes.program(neuron.equations, dt)
    fed = [(Kind.SUM, t) for t in sorted(feeds) if feeds[t]]
    every = {(Kind.SUM, ""): fed[0] if len(fed) == 1 else
             (ZERO if not fed else functools.reduce(add, fed))}
    # an int or bool attribute is read as such, whatever a user wrote into it
    every |= {(Kind.VAR, a): (Kind.CALL, CASTS[f"_{kind}"].name, ((Kind.VAR, a),))
              for a, kind in getattr(neuron, "types", {}).items()}
    lets = tuple((name, substitute(e, every)) for name, e in lets)
    outputs = tuple(v for v in neuron.variables if v in values)
    exprs = tuple(substitute(values[v], every) for v in outputs)
    trees = [*exprs, *(e for _, e in lets)]
    read = set().union(*(names(e, Kind.VAR) for e in trees))
    # one value each: population-wide parameters, t, and Constants (no attribute's name)
    scalars = tuple(sorted(n for n in read if n in neuron.shared or n == "t" or
                           n not in neuron.attributes))
    inputs = tuple(sorted(read - set(scalars)))
    targets = tuple(sorted(set().union(*(names(e, Kind.SUM) for e in trees))))
    scalars += tuple(sorted(set().union(*(names(e, Kind.GLOBAL) for e in trees))))
    return NeuronSpec(pop.size, inputs, targets, tuple(feeds.get(t, 0) for t in targets),
                      outputs, exprs, dtype, scalars, lets)


def reduction_spec(update: NeuronSpec | None) -> NeuronSpec | None:
    """The population-wide operations an update reads, as one reduction kernel (None when
    it reads none)."""
    if update is None:
        return None
    operations = tuple(n for n in update.scalars if is_global(n))
    if not operations:
        return None
    inputs = tuple(sorted({global_parts(n)[1] for n in operations}))
    return NeuronSpec(update.size, inputs, (), (), operations,
                      tuple((Kind.GLOBAL, n) for n in operations), update.dtype,
                      reduction=True)


def _check_pre_variables(proj, spec: WindowSpec) -> None:
    """A projection reads one value per pre neuron; a population-wide one would need a
    broadcast nobody asked for."""
    shared = set(spec.pre_vars) & proj.pre.neuron.shared
    if shared:
        name = sorted(shared)[0]
        raise InvalidValueError(f"{type(proj).__name__} {proj.name}: its psp reads pre.{name}, "
                                f"a population-wide parameter of {proj.pre.name}; declare it "
                                f"per neuron ('{name} = 0.0' in a parameters string, or "
                                f"Parameter(0.0, locality='local') in a dict)")
