"""Many copies of one network at once: `Network.parallel_run`, ANNarchy 5's interface.

Each copy is the network's class built again with the original's constructor arguments,
its `dt`, its precision and the copy's seed, compiled silently and handed to
`method(net, **kwargs)`; the results come back in order. A keyword the class's `__init__`
names goes to the constructor, any other to `method`; a list gives one value per copy.

Copies run on local processes (spawned, never forked: TVM's thread pool does not survive a
fork) or as Dask tasks (`backend="dask"`, `client=` or `scheduler=`). The parent builds
every kernel first, once, for the thread count a copy runs with, so a copy only loads
kernels from the cache; a Dask task carries the cache files (keyed by their path in the
cache) and a worker writes those it lacks before compiling. A worker on another CPU has
another cache key and builds its own.

    >>> import tecomp as ann
    >>> def settle(net, duration):  # at module level: it travels to other processes
    ...     net.simulate(duration)
    ...     return net.time
    >>> class Layer(ann.Network):
    ...     def __init__(self, size):
    ...         self.pop = self.create(size, ann.Neuron(parameters="r = 0.0"))
    >>> net = Layer(3)
    >>> net.parallel_run(settle, 2, duration=[1.0, 2.0], progress=False)  # doctest: +SKIP
    [1.0, 2.0]
"""

import inspect
import os
import pickle
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

from . import build, cache, kernels, schedules
from .errors import InvalidTypeError, InvalidValueError, ParallelRunError, TecompError
from .network import NETWORK_OPTIONS, PRECISIONS, Network
from .values import show

BACKENDS = ("local", "dask")
SEED_MODES = ("same", "sequential")


@dataclass(frozen=True)
class Copy:
    """What a worker needs to build and run one copy."""

    index: int
    cls: type
    init_args: dict
    method: Callable
    method_args: dict
    options: dict  # dt, precision and seed of the copy
    tuned: bool
    threads: int  # TVM threads of the copy (part of the kernel cache key)


@dataclass(frozen=True)
class Kernels:
    """Kernel cache files for a worker: path relative to the cache -> bytes, for `target`."""

    target: str
    files: dict


@dataclass(frozen=True)
class Failure:
    """One failed copy: its index, its exception and the traceback where it ran."""

    index: int
    error: BaseException
    traceback: str

    def __str__(self) -> str:
        return f"copy {self.index}: {type(self.error).__name__}: {self.error}"


def parallel_run(net: Network, method: Callable, number: int, max_processes: int = -1,
                 seeds=None, measure_time: bool = False, *, backend: str | None = None,
                 client=None, scheduler: str | None = None, progress: bool = True,
                 **kwargs) -> list:
    """`method(copy, **kwargs)` for `number` copies of `net`, in order (see the module).

    `seeds`: None (each copy draws its own), 'same' (`net.seed`), 'sequential'
    (`net.seed + 1`, `+ 2`, ...) or a list of `number` seeds. `max_processes`: -1 for one
    per core. `progress`: a bar over finished copies. A failed copy does not stop the
    others: the call raises one ParallelRunError listing every failure, with the results.
    """
    start = time.perf_counter()
    backend = _backend(backend, client, scheduler)
    copies = plan_copies(net, method, number, seeds, kwargs)
    processes = min(number, _processes(max_processes))
    if backend == "local":
        _check_picklable(copies)
    else:
        _dask()  # before compiling: a missing extra is said at once
    if not net.compiled:
        net.compile(silent=True)
    # local copies share the cores; a Dask task runs on one worker thread
    threads = max(1, build.cores() // processes) if backend == "local" else 1
    copies = [_with(c, tuned=net.engine.tuned, threads=threads) for c in copies]
    shipped = prepare_kernels(net, threads, read=backend == "dask")
    if backend == "local":
        outcomes = _run_local(copies, processes, progress)
    else:
        outcomes = _run_dask(copies, shipped, client, scheduler, processes, progress)
    if measure_time:
        print(f"Simulating {number} networks in parallel took "
              f"{time.perf_counter() - start} seconds.")
    return _results(outcomes, number)


# -- the copies ------------------------------------------------------------------------------
def plan_copies(net: Network, method, number, seeds, kwargs: dict) -> list[Copy]:
    """One Copy per run, with ANNarchy's rules for seeds and keywords (checked here)."""
    if type(net) is Network:
        raise InvalidTypeError("parallel_run: the network must be an instance of a subclass "
                               "of Network whose __init__ builds the model (class "
                               "MyNetwork(ann.Network): def __init__(self): self.create(...)), "
                               "not Network itself: a copy is built by calling the class")
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise InvalidValueError(f"parallel_run: number must be an int >= 1, got {show(number)}")
    if not callable(method):
        raise InvalidTypeError(f"parallel_run: method must be a function called as "
                               f"method(net, **kwargs), got {show(method)}")
    seeds = _seeds(net, seeds, number)
    init = _constructor_args(net)
    per_copy = {}
    for name, value in kwargs.items():
        if isinstance(value, list) and len(value) != number:
            raise InvalidValueError(f"parallel_run: the list of values for {name} must have "
                                    f"one value per copy ({number}), got {len(value)}")
        per_copy[name] = value if isinstance(value, list) else [value] * number
    precision = {v: k for k, v in PRECISIONS.items()}[net.dtype]
    return [Copy(i, type(net), {**init, **{k: v[i] for k, v in per_copy.items() if k in init}},
                 method, {k: v[i] for k, v in per_copy.items() if k not in init},
                 {"dt": net.dt, "precision": precision, "seed": seeds[i]}, True, 1)
            for i in range(number)]


def _seeds(net: Network, seeds, number: int) -> list:
    if seeds is None:
        return [None] * number
    if isinstance(seeds, str):
        if seeds not in SEED_MODES:
            raise InvalidValueError(f"parallel_run: seeds must be None, 'same', 'sequential' "
                                    f"or a list of {number} seeds, got {show(seeds)}")
        return [net.seed + (i + 1 if seeds == "sequential" else 0) for i in range(number)]
    try:
        seeds = list(seeds)
    except TypeError:
        raise InvalidTypeError(f"parallel_run: seeds must be None, 'same', 'sequential' or a "
                               f"list of {number} seeds, got {show(seeds)}") from None
    if len(seeds) != number:
        raise InvalidValueError(f"parallel_run: the list of seeds must have one seed per copy "
                                f"({number}), got {len(seeds)}")
    return seeds


def _constructor_args(net: Network) -> dict:
    """The arguments the network's class was called with, by name, defaults included."""
    cls = type(net)
    if cls.__init__ is Network.__init__:
        return {}
    signature = inspect.signature(cls.__init__)
    bound = signature.bind(net, *getattr(net, "_init_args", ()),
                           **getattr(net, "_init_kwargs", {}))
    bound.apply_defaults()
    args = {}
    for i, (name, value) in enumerate(bound.arguments.items()):
        kind = signature.parameters[name].kind
        if i == 0:
            continue  # self
        if kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                raise InvalidValueError(f"parallel_run: {cls.__name__} was built with extra "
                                        f"positional arguments {show(value)}; give every "
                                        "argument a name in its __init__ so a copy gets it")
        elif kind is inspect.Parameter.VAR_KEYWORD:
            args.update(value)
        elif name not in NETWORK_OPTIONS:
            args[name] = value
    return args


def _with(copy: Copy, **changes) -> Copy:
    return Copy(**{**copy.__dict__, **changes})


def _backend(backend, client, scheduler) -> str:
    if backend is None:
        return "dask" if client is not None or scheduler is not None else "local"
    if backend not in BACKENDS:
        raise InvalidValueError(f"parallel_run: backend must be one of {list(BACKENDS)}, "
                                f"got {show(backend)}")
    if backend == "local" and (client is not None or scheduler is not None):
        raise InvalidValueError("parallel_run: client= and scheduler= need backend='dask' "
                                "(or no backend)")
    return backend


def _processes(max_processes) -> int:
    if isinstance(max_processes, bool) or not isinstance(max_processes, int) or \
            not (max_processes == -1 or max_processes >= 1):
        raise InvalidValueError(f"parallel_run: max_processes must be -1 (one per core) or an "
                                f"int >= 1, got {show(max_processes)}")
    return build.cores() if max_processes == -1 else max_processes


def _check_picklable(copies: list[Copy]) -> None:
    """A spawned process gets everything pickled: say so here, not in a worker."""
    first = copies[0]
    for what, value in (("method", first.method), ("network class", first.cls)):
        try:
            pickle.dumps(value)
        except Exception as err:
            raise InvalidValueError(
                f"parallel_run: the {what} {getattr(value, '__qualname__', value)} cannot be "
                f"sent to another process ({type(err).__name__}); define it at module level "
                "(not a lambda, nor inside a function), or use backend='dask'") from None
    for copy in copies:
        for name, value in {**copy.init_args, **copy.method_args}.items():
            try:
                pickle.dumps(value)
            except Exception as err:
                raise InvalidValueError(
                    f"parallel_run: the value of {name} for copy {copy.index} cannot be sent "
                    f"to another process ({type(err).__name__}: {err}); pass plain data, or "
                    "use backend='dask'") from None


# -- kernels ---------------------------------------------------------------------------------
def prepare_kernels(net: Network, threads: int, read: bool = False) -> Kernels:
    """Build here, once, every kernel of `net` for copies running `threads` TVM threads
    (the thread count is part of the cache key); with `read`, also return the cache files
    they need (compiled kernels, their checksums and the tuned records they use)."""
    tuned, files, root = net.engine.tuned, {}, cache.user_dir()
    saved = os.environ.get("TVM_NUM_THREADS")
    os.environ["TVM_NUM_THREADS"] = str(threads)
    hints, kernels.HINTS = kernels.HINTS, False
    try:
        for spec in net.engine.plan.specs:
            kernels.compile_kernel(spec, tuned=tuned)
            record = cache.lookup(spec) if tuned else None
            paths = [] if record is None else [record.path]
            # the tuned kernel, and the default one it falls back to if it does not build
            for knobs in [schedules.default_knobs(spec)] + ([record.knobs] if record else []):
                library = cache.library_path(spec, knobs)
                paths += [library.with_suffix(".json"), library]  # checksum first
            for path in paths if read else ():
                if path.exists() and path.is_relative_to(root):
                    files[str(path.relative_to(root))] = path.read_bytes()
    finally:
        kernels.HINTS = hints
        os.environ.pop("TVM_NUM_THREADS")
        if saved is not None:
            os.environ["TVM_NUM_THREADS"] = saved
    return Kernels(str(build.host_target()), files)


def install_kernels(shipped: Kernels) -> int:
    """Write the shipped files this worker's cache lacks (none on another CPU: they would
    never be read); returns how many were written."""
    if not shipped.files or str(build.host_target()) != shipped.target:
        return 0
    root, written = cache.user_dir().resolve(), 0
    for relative, data in shipped.files.items():
        path = (root / relative).resolve()
        if not path.is_relative_to(root):
            raise InvalidValueError(f"parallel_run: refusing to write {relative} outside the "
                                    f"kernel cache {root}")
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            cache.write_atomic(path, data)
            written += 1
    return written


# -- running ---------------------------------------------------------------------------------
def run_copy(copy: Copy, shipped: Kernels | None = None) -> tuple:
    """In the worker: (index, True, result, "") or (index, False, exception, traceback)."""
    try:
        os.environ["TVM_NUM_THREADS"] = str(copy.threads)  # read when TVM's pool starts
        if shipped is not None:
            install_kernels(shipped)
        net = copy.cls(**{**copy.options, **copy.init_args, "seed": copy.options["seed"]})
        net.compile(silent=True, tuned=copy.tuned)
        return copy.index, True, copy.method(net, **copy.method_args), ""
    except Exception as err:
        return copy.index, False, _portable(err), traceback.format_exc()


def _portable(err: BaseException) -> BaseException:
    """The exception itself when it pickles, else a RuntimeError that says what it was."""
    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:
        return RuntimeError(f"{type(err).__name__}: {err}")


def _bar(total: int, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not progress, desc="parallel_run", unit="copy")


def _run_local(copies: list[Copy], processes: int, progress: bool) -> list[tuple]:
    import multiprocessing

    outcomes = []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool, \
            _bar(len(copies), progress) as bar:
        futures = {pool.submit(run_copy, c): c.index for c in copies}
        for future in as_completed(futures):
            outcomes.append(_outcome(future.result, futures[future]))
            bar.update()
    return outcomes


def _outcome(result: Callable, index: int) -> tuple:
    """A future's outcome, or a failure of the copy when the future itself failed (a dead
    worker, a result that does not pickle)."""
    try:
        return result()
    except Exception as err:
        return index, False, err, "".join(traceback.format_exception(err))


def _dask():
    try:
        import distributed
    except ImportError:
        raise TecompError("parallel_run: backend='dask' needs Dask's distributed scheduler; "
                          "install it with pip install 'tecomp[distributed]'") from None
    return distributed


def _run_dask(copies: list[Copy], shipped: Kernels, client, scheduler, processes: int,
              progress: bool) -> list[tuple]:
    distributed = _dask()
    own = []
    if client is None:
        if scheduler is None:  # a cluster sized to the machine, for this call only
            own.append(distributed.LocalCluster(n_workers=processes, threads_per_worker=1,
                                                processes=True, dashboard_address=":0"))
        client = distributed.Client(scheduler if scheduler is not None else own[0])
        own.insert(0, client)
    outcomes = []
    try:
        # one task holds the files, the copies depend on it: unlike scattered data, Dask
        # computes it again when the worker that held it dies
        token = os.urandom(6).hex()
        data = client.submit(_same, shipped, key=f"tecomp-kernels-{token}", pure=False)
        futures = {client.submit(run_copy, c, data, key=f"tecomp-copy-{token}-{c.index}",
                                 pure=False): c.index for c in copies}
        with _bar(len(copies), progress) as bar:
            for future in distributed.as_completed(futures):
                outcomes.append(_outcome(future.result, futures[future]))
                bar.update()
    finally:
        for thing in own:
            thing.close()
    return outcomes


def _same(value):
    return value


def _results(outcomes: list[tuple], number: int) -> list:
    results, failures = [None] * number, []
    for index, ok, value, trace in outcomes:
        if ok:
            results[index] = value
        else:
            failures.append(Failure(index, value, trace))
    if failures:
        failures.sort(key=lambda f: f.index)
        listed = "\n".join(f"  {f}" for f in failures)
        last = failures[0].traceback.rstrip().splitlines()[-6:]
        raise ParallelRunError(
            f"parallel_run: {len(failures)} of {number} copies failed "
            f"(the others' results are in .results, the tracebacks in .failures):\n{listed}\n"
            f"traceback of copy {failures[0].index} (end):\n" + "\n".join(last),
            results, failures)
    return results

