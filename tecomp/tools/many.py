"""Many inputs through one network, and many copies of one network, for the notebook
`notebooks/f_many_networks.ipynb` (issue 13's measurements).

`batches("E2", size=64)` times `tecomp.run_batch` over a batch of inputs against the same
inputs run one after the other (`reset(); input.r = x; simulate(steps)`) and against
PyTorch running the same layers on the same batch (NCHW and channels-last).
`copies(64)` runs E1 on 64 inputs sequentially, with `parallel_run` on local processes
and on a 2-worker Dask `LocalCluster`. Every system's last layer is checked against the
NumPy reference of `tools.examples` for every input before anything is timed
(`tools.harness`), and the timings run in a child process (`python -m tecomp.tools.many`)
with its own thread count, as `tools.scaling` does:

    from tecomp.tools import many
    row = many.batches("E1", size=4, threads=2, repeats=3)
    row["per_input_ms"]["run_batch"], row["per_input_ms"]["sequential"]
"""

import statistics
import time

import numpy as np

from tecomp import child
from tecomp.child import ChildFailed, ask_once, python_module
from tecomp.extensions.convolution import Convolution
from tecomp.network import Network

from . import bench, examples, harness
from .harness import Runner, Skip

CHILD_TIMEOUT = 3600.0
# Dask's scheduler spends 200 us to 1 ms per task (its best-practices page): the upper end
SCHEDULER_MS = 1.0
TORCH_LAYOUTS = {"torch-nchw": False, "torch-cl": True}


class E1Network(Network):
    """E1 (`examples.e1`) as a Network subclass, so that `parallel_run` can build copies.

    >>> net = E1Network(precision="float")
    >>> net.example.layers[-1].geometry
    (48, 64, 3)
    """

    def __init__(self):
        self.example = examples.e1(self)


def classify(net: Network, image: np.ndarray, steps: int) -> tuple[np.ndarray, float]:
    """One input through a copy: its last layer after `steps` steps, and the seconds the
    simulation itself took (the rest of a copy's time is overhead)."""
    start = time.perf_counter()
    net.example.input.r = image
    net.simulate(steps * net.dt)
    return np.array(net.example.layers[-1].r), time.perf_counter() - start


def inputs(ex: examples.Example, size: int, dtype: str, seed: int = harness.SEED) -> np.ndarray:
    """`size` random inputs shaped like the example's image, (size, *geometry)."""
    rng = np.random.default_rng(seed)
    return rng.random((size, *ex.input.geometry)).astype(dtype)


def expected(ex: examples.Example, batch: np.ndarray) -> np.ndarray:
    """The NumPy reference of the last layer for every input, (B, *geometry)."""
    return np.stack([ex.reference(x)[-1] for x in batch])


# -- requests, answered in a child process -------------------------------------------------------
def batches(name: str, size: int = 64, dtype: str = "float32", threads: int = 2,
            repeats: int = 10, budget: float = 20.0) -> dict:
    """`measure_batch` in a child with `threads` threads (TVM, OpenMP, PyTorch)."""
    return _child({"do": "batch", "name": name, "size": size, "dtype": dtype,
                   "repeats": repeats, "budget": budget}, threads)


def copies(number: int = 64, workers: int = 2, dtype: str = "float32", threads: int = 2,
           repeats: int = 3, budget: float = 120.0) -> dict:
    """`measure_copies` in a child with `threads` threads."""
    return _child({"do": "copies", "number": number, "workers": workers, "dtype": dtype,
                   "repeats": repeats, "budget": budget}, threads)


def _child(request: dict, threads: int) -> dict:
    try:
        answer = ask_once(python_module("tecomp.tools.many"), request, CHILD_TIMEOUT,
                          bench.thread_env(threads))
    except ChildFailed as failure:
        raise RuntimeError(f"measurement process failed: {failure}") from None
    if "traceback" in answer:
        raise RuntimeError(f"measurement process failed: {answer['error']}\n"
                           f"{answer['traceback']}")
    return answer


def _handle(request: dict) -> dict:
    request = dict(request)
    do = request.pop("do")
    if do == "batch":
        return measure_batch(**request)
    if do == "copies":
        return measure_copies(**request)
    raise ValueError(f"unknown request {do!r}")


# -- (a) one network, a batch of inputs ----------------------------------------------------------
def measure_batch(name: str, size: int, dtype: str, repeats: int, budget: float) -> dict:
    """Per-input ms of `run_batch` over `size` inputs, of the same inputs one after the
    other on a compiled network, and of PyTorch on the same batch (each layout), each
    checked on the last layer of every input first, then timed interleaved."""
    from tecomp import build

    build_example = getattr(examples, name.lower())
    ex = build_example(Network(precision=_precision(dtype)))
    batch = inputs(ex, size, dtype)
    makers = {"run_batch": lambda: _run_batch(ex, batch),
              "batched steps": lambda: _batched_steps(ex, batch),
              "sequential": lambda: _sequential(build_example, dtype, batch)}
    for peer, channels_last in TORCH_LAYOUTS.items():
        makers[peer] = _torch_maker(name, ex, batch, build.num_threads(), channels_last)
    out = harness.measure(makers, expected(ex, batch), ex.tolerance(dtype), repeats, budget,
                          required=("run_batch", "sequential"))
    if out.aborted:
        raise RuntimeError(f"{name}: {out.aborted}")
    per_input = {k: s["median_ms"] / size for k, s in out.stats.items()}
    row = {"name": name, "size": size, "dtype": dtype, "threads": build.num_threads(),
           "steps": ex.steps, "errors": out.errors, "skipped": out.skipped,
           "stats": out.stats, "per_input_ms": per_input,
           "layouts": {k: v.get("layout") for k, v in out.info.items() if "layout" in v}}
    row["speedup_over_sequential"] = per_input["sequential"] / per_input["run_batch"]
    if "batched steps" in per_input:
        row["steps_speedup"] = per_input["sequential"] / per_input["batched steps"]
    torch = [k for k in TORCH_LAYOUTS if k in per_input]
    if torch:
        row["best_torch"] = min(torch, key=per_input.get)
        row["run_batch_over_torch"] = per_input["run_batch"] / per_input[row["best_torch"]]
    return row


def _precision(dtype: str) -> str:
    return {"float32": "float", "float64": "double"}[dtype]


def _run_batch(ex: examples.Example, batch: np.ndarray) -> Runner:
    import tecomp

    last, duration = ex.layers[-1], ex.steps * ex.network.dt
    return Runner("run_batch", lambda: tecomp.run_batch(
        ex.network, {ex.input: batch}, duration, record=[last])[last][:, -1], lambda out: out)


def _batched_steps(ex: examples.Example, batch: np.ndarray) -> Runner:
    """What `run_batch` does per call less its set-up (checking the inputs, building the
    batched engine from the kernel cache): an engine built once, reset, the inputs written,
    the steps run. The difference from `run_batch` is that set-up."""
    from tecomp.engine import Engine

    engine = Engine(ex.network, batch=len(batch))
    last = ex.layers[-1]

    def run():
        engine.reset()
        for buffer in engine.state[ex.input]["r"]:
            buffer[...] = batch
        engine.run(ex.steps)
        return engine.array(last, "r")

    return Runner("batched steps", run, lambda out: out)


def _sequential(build_example, dtype: str, batch: np.ndarray) -> Runner:
    ex = build_example(Network(precision=_precision(dtype)))
    net, last = ex.network, ex.layers[-1]
    net.compile(silent=True)

    def run():
        outs = []
        for x in batch:
            net.reset()
            ex.input.r = x
            net.simulate(ex.steps * net.dt)
            outs.append(np.array(last.r))
        return np.stack(outs)

    return Runner("sequential", run, lambda out: out)


def _torch_maker(name: str, ex: examples.Example, batch: np.ndarray, threads: int,
                 channels_last: bool):
    def make() -> Runner:
        try:
            import torch
            import torch.nn.functional as F
        except ImportError:
            raise Skip("PyTorch is not installed (pip install '.[peers]')") from None
        torch.set_num_threads(threads)
        layout = torch.channels_last if channels_last else torch.contiguous_format

        def tensor(array):  # channels last (ANNarchy) -> NCHW, in the chosen memory format
            t = torch.from_numpy(np.ascontiguousarray(np.moveaxis(array, -1, 1)))
            return t.contiguous(memory_format=layout)

        image = tensor(batch)
        forward = _torch_forward(name, ex, tensor, F, batch.dtype)

        def call():
            with torch.inference_mode():
                return forward(image)
        return Runner("torch-cl" if channels_last else "torch-nchw", call,
                      lambda out: np.moveaxis(out.numpy(), 1, -1), threads=threads,
                      layout="channels-last" if channels_last else "NCHW")
    return make


def _torch_forward(name: str, ex: examples.Example, tensor, F, dtype):
    """The example's layers in PyTorch, weights from its projections: filters (F, kh, kw,
    C) become (F, C, kh, kw); the same cross-correlations, zero padding and poolings."""
    w = [np.asarray(p.weights, dtype=dtype) for p in ex.projections
         if isinstance(p, Convolution)]
    if name == "E1":
        box = tensor(np.broadcast_to(w[0][..., None], (3, 3, 3, 1)).copy())  # one 3x3 per channel
        bank = tensor(w[1])  # (3, 1, 1, 3) -> (3, 3, 1, 1)

        def forward(x):
            x = F.conv2d(F.avg_pool2d(x, 10), box, padding=1, groups=3)
            return F.conv2d(x, bank)
        return forward
    w1, w2, w3 = (tensor(v) for v in w)

    def forward(x):
        x = F.max_pool2d(F.conv2d(x, w1, padding=2), 2)
        x = F.max_pool2d(F.conv2d(x, w2, padding=1), 2)
        return F.conv2d(x, w3)  # each filter covers the whole map: the read-out
    return forward


# -- (b) many copies of one network ---------------------------------------------------------------
def measure_copies(number: int, workers: int, dtype: str, repeats: int, budget: float) -> dict:
    """E1 on `number` inputs: one network run sequentially in this process, `parallel_run`
    on `workers` local processes and on a Dask LocalCluster of `workers` one-thread
    workers (started before timing, its start-up reported apart). Each copy reports the
    seconds its simulation took; the rest of the wall time is overhead (`overheads`)."""
    from tecomp import build

    net = E1Network(precision=_precision(dtype))
    ex = net.example
    images = inputs(ex, number, dtype)
    seen: dict[str, list] = {}

    def kept(name, run):  # every call notes the mean seconds its copies simulated
        def call(**how):
            results = run(**how)
            seen.setdefault(name, []).append(statistics.fmean(s for _, s in results))
            return results
        return call

    def stack(results):
        return np.stack([out for out, _ in results])

    def sequential():
        net.compile(silent=True)
        runs = []
        for image in images:
            net.reset()
            runs.append(classify(net, image, ex.steps))
        return runs

    def parallel(**how):
        return net.parallel_run(classify, number, max_processes=workers, progress=False,
                                image=list(images), steps=ex.steps, **how)

    makers = {"sequential": lambda: Runner("sequential", kept("sequential", sequential), stack),
              "local": lambda: Runner("local", kept("local", parallel), stack)}
    cluster = {}
    makers["dask"] = lambda: _dask_runner(kept("dask", parallel), workers, stack, cluster)
    out = harness.measure(makers, expected(ex, images), ex.tolerance(dtype), repeats, budget,
                          required=("sequential", "local"))
    if out.aborted:
        raise RuntimeError(f"E1 copies: {out.aborted}")
    row = {"number": number, "workers": workers, "dtype": dtype, "steps": ex.steps,
           "threads": build.num_threads(), "errors": out.errors, "skipped": out.skipped,
           "stats": out.stats, "cluster_start_s": cluster.get("start_s"),
           "input_bytes": int(images[0].nbytes)}
    # the mean simulation seconds of a copy, median over the timed calls (the first call,
    # the check, runs on cold caches)
    row["compute_s"] = {k: statistics.median(v[1:] or v) for k, v in seen.items()}
    row.update(overheads(row))
    return row


def _dask_runner(parallel, workers: int, stack, cluster: dict) -> Runner:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise Skip("Dask's distributed is not installed (pip install '.[distributed]')") from None
    start = time.perf_counter()
    local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                         dashboard_address=":0")
    client = Client(local)
    cluster["start_s"] = time.perf_counter() - start
    runner = Runner("dask", lambda: parallel(client=client), stack)
    runner.close = lambda: (client.close(), local.close())
    return runner


def overheads(row: dict) -> dict:
    """Seconds per copy from a `measure_copies` row: wall time over copies, the mean
    compute (simulation) seconds of a copy, and the overhead per copy: (wall − copies ×
    compute / workers) / copies, what the wall time holds beyond the simulations, were they
    spread evenly over the workers (spawning, building and compiling each copy from the
    cache, shipping inputs, kernels and results, scheduling)."""
    per_copy, overhead, speedup = {}, {}, {}
    sequential = row["stats"]["sequential"]["median_ms"] / 1e3
    for name, stats in row["stats"].items():
        wall, workers = stats["median_ms"] / 1e3, 1 if name == "sequential" else row["workers"]
        per_copy[name] = wall / row["number"]
        overhead[name] = (wall - row["number"] * row["compute_s"][name] / workers) / row["number"]
        speedup[name] = sequential / wall
    return {"per_copy_s": per_copy, "overhead_per_copy_s": overhead, "speedup": speedup}


def at_scale(row: dict, copies: int = 10_000, machines: int = 100, cores: int | None = None,
             backend: str = "dask", scheduler_ms: float = SCHEDULER_MS) -> dict:
    """What `copies` copies on `machines` machines of `cores` one-thread workers each (this
    machine's count by default) would take, from the measured per-copy figures of `backend`:
    each copy occupies a worker for its compute seconds plus the overhead per copy times the
    workers it was measured with (the overhead is worker time: it does not shrink with more
    workers), copies spread evenly, no fixed start-up counted (cluster start, first kernel
    build on each machine), inputs made or read on the workers (`input_gb` says what
    shipping them from one client would mean). `steps_to_amortize`: the steps a copy would
    need for its simulation to take as long as its overhead. One scheduler hands out every
    task, `scheduler_ms` each, so the wall time is at least `copies × scheduler_ms`."""
    cores = cores or row["workers"]
    compute = row["compute_s"][backend]
    occupied = compute + row["workers"] * row["overhead_per_copy_s"][backend]
    workers = machines * cores
    step = compute / row["steps"]
    return {"copies": copies, "machines": machines, "workers": workers,
            "compute_s": compute, "step_s": step,
            "steps_to_amortize": (occupied - compute) / step, "worker_s_per_copy": occupied,
            "overhead_share": 1 - compute / occupied,
            "spread_s": copies * occupied / workers,
            "scheduler_s": copies * scheduler_ms / 1e3,
            "wall_s": max(copies * occupied / workers, copies * scheduler_ms / 1e3),
            "compute_only_wall_s": copies * compute / workers,
            "input_gb": copies * row["input_bytes"] / 1e9}


if __name__ == "__main__":
    child.serve(_handle)


def at_scale_text(row: dict, backend: str = "dask", **scale) -> str:
    """`at_scale` as a paragraph of markdown, every number from the measured `row`."""
    s = at_scale(row, backend=backend, **scale)
    return (
        f"**{s['copies']:,} copies on {s['machines']} machines** ({s['workers']} one-thread "
        f"workers, {s['workers'] // s['machines']} per machine as here), from the {backend} "
        f"figures measured above: a copy of E1 simulates its {row['steps']} steps in "
        f"{1e3 * s['compute_s']:.1f} ms ({1e3 * s['step_s']:.2f} ms per step) and occupies "
        f"its worker {1e3 * s['worker_s_per_copy']:.0f} ms in all, so "
        f"{100 * s['overhead_share']:.0f} % of a worker's time is overhead. Spread evenly, the "
        f"{s['copies']:,} copies keep every worker busy for about {s['spread_s']:.0f} s, "
        f"against {s['compute_only_wall_s']:.1f} s were there no overhead; the one scheduler "
        f"needs about {s['scheduler_s']:.0f} s to hand out {s['copies']:,} tasks at "
        f"{1e3 * s['scheduler_s'] / s['copies']:g} ms each, so the run takes about "
        f"**{s['wall_s']:.0f} s**. The "
        f"overhead equals the simulation once a copy runs about {s['steps_to_amortize']:.0f} "
        f"steps. Assumed: the per-copy overhead stays what it is here, no fixed start-up "
        f"counted (starting the cluster took {row['cluster_start_s'] or 0:.1f} s here; a "
        f"machine of another CPU builds its own kernels once), and the inputs are "
        f"made or read on the workers: shipping them from one client would move "
        f"{s['input_gb']:.0f} GB.")
