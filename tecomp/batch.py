"""One network, many inputs at once: `run_batch`.

    rates = tecomp.run_batch(net, inputs={retina: images}, duration=3.0, record=[out])
    rates[out].shape  # (len(images), steps, *out.geometry)

Each input runs from the network's initial state (the values at compile() or as described),
as `reset(); pop.r = inputs[b]; simulate(duration)` would, recording the variables after
every step. Locally it is one compiled network with a batch axis in every kernel (see
`specs.batched`): a filter bank loads each weight once for the whole batch. Random draws in
equations differ between batch elements (each is its own set of neurons). With
`backend="dask"` (or `client=`, `scheduler=`), chunks of the batch run as Dask tasks
through `parallel_run` (the network must then be a Network subclass, as there).
"""

import itertools
import weakref

import numpy as np

from .engine import Engine
from .errors import InvalidTypeError, InvalidValueError, UnknownAttributeError
from .network import Network
from .population import Population
from .runtime import cores
from .values import LARGEST, array, physical_memory, show, size_of


def run_batch(net: Network, inputs: dict, duration: float, record=None,
              backend: str | None = None, client=None, scheduler=None,
              chunks: int | None = None, progress: bool = True) -> dict:
    """Run `net` once per input; returns {key: array (B, steps, *geometry)} for each entry
    of `record` (a population, for its `r`, or a (population, variable) pair; default: every
    population's `r`).

    `inputs` maps a population (its `r`) or a (population, attribute) pair to an array of
    shape (B, *geometry): the values each batch element starts from. Every entry must have
    the same B. Nothing is run until every argument has been checked."""
    who = "run_batch"
    if not isinstance(net, Network):
        raise InvalidTypeError(f"{who}: expected a Network, got {type(net).__name__}")
    values, batch = _inputs(net, inputs, who)
    recorded = _record(net, record, who)
    steps = net._steps(duration, who)
    _check_memory(net, batch, steps, recorded, who)
    for (pop, name), value in values.items():
        _check_values(value, who, f"inputs[{pop.name}.{name}]", net.dtype)
    if backend is not None or client is not None or scheduler is not None:
        return _on_dask(net, values, duration, recorded, batch, backend, client, scheduler,
                        chunks, progress)
    engine = _engine(net, batch)
    for (pop, name), value in values.items():
        for buffer in engine.state[pop][name]:
            buffer[...] = value
    out = {key: np.empty((batch, steps, *key[0].geometry)) for key in recorded.values()}
    for step in range(steps):
        engine.run(1)
        for (pop, name), result in out.items():
            result[:, step] = engine.array(pop, name)
    return {given: out[key] for given, key in recorded.items()}


# The batched engine of each compiled network, for one batch size: its buffers (hundreds of
# MB for image batches) are made once and reset between calls.
_ENGINES: "weakref.WeakKeyDictionary[Network, Engine]" = weakref.WeakKeyDictionary()


def _engine(net: Network, batch: int) -> Engine:
    """A batched engine at the network's initial state. A compiled network keeps its last
    one (reset, its weights and parameters refreshed from the network's own compiled
    buffers, where set() writes); a network still being described gets a new one."""
    if net.engine is None:
        return Engine(net, batch=batch)
    engine = _ENGINES.get(net)
    if engine is None or engine.batch != batch:
        _ENGINES.pop(net, None)  # free the old buffers before making the new ones
        engine = _ENGINES[net] = Engine(net, batch=batch)
        return engine
    engine.reset()
    for proj, inputs in engine.inputs.items():
        for name, buffer in inputs.items():
            live = net.engine.inputs[proj].get(name)
            if live is not None and live.shape == buffer.shape:
                np.copyto(buffer, live)
    return engine


def _inputs(net: Network, inputs, who: str) -> tuple[dict, int]:
    if not isinstance(inputs, dict) or not inputs:
        raise InvalidTypeError(f"{who}: inputs must be a non-empty dict {{population: array "
                               f"(B, *geometry)}}, got {show(inputs)}")
    values, batch = {}, None
    for key, value in inputs.items():
        pop, name = _key(net, key, who, "inputs")
        if (pop, name) in values:
            raise InvalidValueError(f"{who}: inputs give {pop.name}.{name} twice (a population "
                                    "stands for its r)")
        if name in pop.neuron.shared:
            raise InvalidValueError(f"{who}: {pop.name}.{name} is one value for the whole "
                                    "population; a batch gives each neuron its own value")
        data = value if isinstance(value, np.ndarray) and value.dtype.kind in "fiu" else \
            array(value, who, f"inputs[{pop.name}.{name}]", dtype=net.dtype)
        if data.ndim != len(pop.geometry) + 1 or data.shape[1:] != pop.geometry or \
                not data.shape[0]:
            raise InvalidValueError(f"{who}: inputs[{pop.name}.{name}] must have the shape "
                                    f"(B, *{pop.geometry}) with B >= 1, got {data.shape}")
        if batch is not None and data.shape[0] != batch:
            raise InvalidValueError(f"{who}: every input needs the same batch size; got "
                                    f"{batch} and {data.shape[0]}")
        batch = data.shape[0]
        values[(pop, name)] = data
    return values, batch


def _check_values(value: np.ndarray, who: str, what: str, dtype: str) -> None:
    """Real numbers that fit the network's precision, checked in one pass over slices of a
    few MB (no copy of the whole batch); the general checker, `values.array`, gives the
    message when something is wrong."""
    if value.dtype.kind != "f" or not value.size:
        return
    step = max(1, (1 << 22) // max(1, value[0].size))
    for start in range(0, len(value), step):
        part = value[start:start + step]
        if not np.abs(part).max() <= LARGEST[dtype]:  # NaN or inf make it false
            array(part, who, what, dtype=dtype)  # raises, naming the first bad value


def _check_memory(net: Network, batch: int, steps: int, recorded: dict, who: str) -> None:
    """A batch that cannot fit is refused before anything is allocated: the batched
    network's buffers (every attribute twice, of every population) and the recordings."""
    itemsize = 4 if net.dtype == "float32" else 8
    state = sum(2 * pop.size * len(pop.attributes) for pop in net.populations) * itemsize
    records = sum(pop.size for pop, _ in recorded.values()) * steps * 8
    need = batch * (state + records)
    memory = physical_memory()
    if memory is not None and need > memory:
        raise InvalidValueError(f"{who}: {batch} inputs over {steps} steps need about "
                                f"{size_of(need)} (the batched network and the recordings), "
                                f"more than this machine's memory ({size_of(memory)}); run "
                                "smaller batches, or record fewer populations")


def _record(net: Network, record, who: str) -> dict:
    """{as given: (population, variable)}."""
    if record is None:
        record = list(net.populations)
    if isinstance(record, Population | tuple):
        record = [record]
    if not isinstance(record, list | tuple):
        raise InvalidTypeError(f"{who}: record must be a list of populations or (population, "
                               f"variable) pairs, got {show(record)}")
    return {key: _key(net, key, who, "record") for key in record}


def _key(net: Network, key, who: str, what: str) -> tuple[Population, str]:
    pop, name = (key, "r") if isinstance(key, Population) else \
        key if isinstance(key, tuple) and len(key) == 2 else (None, None)
    if not isinstance(pop, Population) or pop.network is not net:
        raise InvalidValueError(f"{who}: each key of {what} must be a population of this "
                                f"network or a (population, attribute) pair, got {show(key)}")
    if not isinstance(name, str) or name not in pop.attributes:
        raise UnknownAttributeError(f"{who}: population {pop.name} has no attribute "
                                    f"{show(name)}; it has {', '.join(pop.attributes)}"
                                    + (" (run_batch records attributes, not sum(target))"
                                       if isinstance(name, str) and name.startswith("sum(")
                                       else ""))
    return pop, name


def _on_dask(net, values, duration, recorded, batch, backend, client, scheduler, chunks,
             progress) -> dict:
    """Chunks of the batch as copies of `parallel_run`, concatenated in order."""
    count = chunks if chunks is not None else max(1, min(batch, 4 * _workers(client)))
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= batch:
        raise InvalidValueError(f"run_batch: chunks must be an int from 1 to the batch size "
                                f"{batch}, got {show(chunks)}")
    bounds = np.linspace(0, batch, count + 1).astype(int)
    parts = [{(pop.name, name): value[a:b] for (pop, name), value in values.items()}
             for a, b in itertools.pairwise(bounds)]
    names = tuple((pop.name, name) for pop, name in recorded.values())
    results = net.parallel_run(run_chunk, count, seeds="same", backend=backend or "dask",
                               client=client, scheduler=scheduler, progress=progress,
                               chunk=parts, duration=duration, record_names=names)
    merged = {key: np.concatenate([part[key] for part in results]) for key in names}
    return {given: merged[(pop.name, name)] for given, (pop, name) in recorded.items()}


def run_chunk(net: Network, chunk: dict, duration: float, record_names: tuple) -> dict:
    """One chunk of a batch in a copy of the network (populations found by name)."""
    pops = {pop.name: pop for pop in net.populations}
    out = run_batch(net, {(pops[p], n): v for (p, n), v in chunk.items()}, duration,
                    record=[(pops[p], n) for p, n in record_names])
    return {(pop.name, name): value for (pop, name), value in out.items()}


def _workers(client) -> int:
    """Workers of a Dask client (the cores here when none is given)."""
    if client is None:
        return cores()
    try:
        return max(1, len(client.scheduler_info()["workers"]))
    except (AttributeError, KeyError, TypeError):
        return 1
