"""Autotuning: search a template's knobs by building and timing real candidates.

Candidates are built and timed in a worker process, so one that crashes or hangs scores
`inf` and is recorded, and the user's process never goes down with it. The search starts
from the defaults, samples the knob space at random, then mutates the best candidates,
within a budget of trials and seconds. Every trial's timing is kept in the record.

    tecomp-tune model.py              # run model.py up to compile(), tune its kernels
    tecomp-tune --suite bench         # tune the benchmark cases B1-B6
    tecomp-tune --list                # show the cached records
"""

import argparse
import json
import math
import os
import random
import runpy
import select
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import cache, schedules
from .specs import NeuronSpec, WindowSpec, from_dict, to_dict

CANDIDATE_TIMEOUT = 60.0  # seconds to build and time one candidate


@dataclass
class TuneResult:
    spec: WindowSpec | NeuronSpec
    default_ms: float
    best_ms: float
    knobs: dict
    trials: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def speedup(self) -> float:
        return self.default_ms / self.best_ms if self.best_ms > 0 else math.nan


class Worker:
    """A process that builds and times candidates; restarted when one kills it."""

    def __init__(self, threads: int | None = None, command: list[str] | None = None):
        self.command = command or [sys.executable, "-m", "tecomp.tuner", "--worker"]
        self.env = dict(os.environ)
        if threads is not None:
            self.env["TVM_NUM_THREADS"] = str(threads)
        self.process: subprocess.Popen | None = None

    def measure(self, spec, knobs: dict, timeout: float = CANDIDATE_TIMEOUT) -> dict:
        """{"ms": median ms or inf, "error": None or why it failed, "build_s": ...}."""
        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen(self.command, stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, env=self.env, text=True)
        request = json.dumps({"spec": to_dict(spec), "knobs": knobs})
        try:
            self.process.stdin.write(request + "\n")
            self.process.stdin.flush()
            ready, _, _ = select.select([self.process.stdout], [], [], timeout)
            line = self.process.stdout.readline() if ready else ""
        except (BrokenPipeError, OSError):
            line = ""
        if line:
            return json.loads(line)
        if ready:  # end of file: the worker is gone
            reason = f"worker died (exit code {self.process.wait()})"
        else:
            reason = f"timed out after {timeout:g} s"
        self.close()
        return {"ms": math.inf, "error": reason, "build_s": None}

    def close(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            self.process = None


def _neighbours(knobs: dict, space: list[dict]) -> list[dict]:
    """Valid settings that differ from `knobs` in exactly one knob."""
    return [k for k in space if sum(k[name] != knobs[name] for name in knobs) == 1]


def tune_spec(spec: WindowSpec | NeuronSpec, trials: int = 64, seconds: float = 120.0,
              threads: int | None = None, worker: Worker | None = None, seed: int = 0,
              progress: bool = True, save: bool = True, folder: Path | None = None,
              metaschedule: int = 0) -> TuneResult:
    """Search the knobs of one spec; the best is written to the cache when `save`.

    With `metaschedule` > 0, MetaSchedule also searches with that many trials, its best
    schedule is timed by the same worker, and the faster of the two is kept."""
    start = time.perf_counter()
    own_worker = worker is None
    worker = worker or Worker(threads)
    try:
        log = _search(spec, trials, seconds, worker, random.Random(seed), progress)
        if metaschedule and isinstance(spec, WindowSpec):
            log.append(_metaschedule_trial(spec, metaschedule, worker, threads))
    finally:
        if own_worker:
            worker.close()
    best = min(log, key=lambda t: t["ms"])
    default_ms = log[0]["ms"]
    result = TuneResult(spec, default_ms, best["ms"], best["knobs"], log,
                        time.perf_counter() - start)
    if save and math.isfinite(best["ms"]):
        cache.save(spec, best["knobs"], best["ms"], default_ms, log, threads, folder)
    return result


def _search(spec, trials: int, seconds: float, worker: Worker, rng: random.Random,
            progress: bool) -> list[dict]:
    """Template candidates, the defaults first: a random half, then mutations of the best."""
    from tqdm import tqdm

    start = time.perf_counter()
    space = schedules.candidates(spec)
    default = schedules.default_knobs(spec)
    budget = max(1, min(trials, len(space)))
    queue = [default] + rng.sample(space, min(len(space), trials // 2))
    tried: dict[str, dict] = {}
    with tqdm(total=budget, desc=_label(spec), disable=not progress, leave=False,
              unit="trial") as bar:
        while queue and len(tried) < budget and (not tried or
                                                 time.perf_counter() - start < seconds):
            knobs = queue.pop(0)
            if _id(knobs) not in tried:
                tried[_id(knobs)] = {"knobs": knobs, **worker.measure(spec, knobs),
                                     "source": "template"}
                bar.update(1)
                bar.set_postfix(best_ms=min(t["ms"] for t in tried.values()))
            if not queue:  # exploit: mutate the best settings so far
                best = sorted(tried.values(), key=lambda t: t["ms"])[:3]
                queue = [k for t in best for k in _neighbours(t["knobs"], space)
                         if _id(k) not in tried]
                rng.shuffle(queue)
                queue = queue or [k for k in space if _id(k) not in tried][:8]
    return list(tried.values())


def _metaschedule_trial(spec, trials: int, worker: Worker, threads: int | None) -> dict:
    from . import metaschedule

    env = dict(os.environ, **({"TVM_NUM_THREADS": str(threads)} if threads else {}))
    started = time.perf_counter()
    saved = os.environ.copy()
    os.environ.update(env)  # its runner processes inherit the thread count
    try:
        knobs = metaschedule.search(spec, trials)
    except Exception as err:  # a failed search only loses the second opinion
        return {"knobs": {}, "ms": math.inf, "error": f"MetaSchedule: {err}"[:500],
                "build_s": None, "source": "metaschedule"}
    finally:
        os.environ.clear()
        os.environ.update(saved)
    search_s = time.perf_counter() - started
    if knobs is None:
        return {"knobs": {}, "ms": math.inf, "error": "MetaSchedule found no schedule",
                "build_s": None, "source": "metaschedule", "search_s": search_s}
    return {"knobs": knobs, **worker.measure(spec, knobs), "source": "metaschedule",
            "search_s": search_s}


def _id(knobs: dict) -> str:
    return json.dumps(knobs, sort_keys=True)


def _label(spec) -> str:
    if isinstance(spec, WindowSpec):
        return f"{spec.kind} {spec.operation} {spec.pre}->{spec.post} {spec.dtype}"
    return f"update {spec.size} {spec.dtype}"


def network_specs(net) -> list:
    """The distinct kernel specs of a network description (projections, then updates)."""
    from .engine import forwarded, update_specs

    updates = update_specs(net)
    fused = forwarded(net, updates)  # these updates run inside their projection's kernel
    specs = [proj.spec(net.dtype) for proj in net.projections]
    specs += [spec for pop, spec in updates.items() if spec is not None and pop not in fused]
    return list(dict.fromkeys(specs))


def tune(net=None, trials: int = 64, seconds: float = 120.0, threads: int | None = None,
         progress: bool = True, folder: Path | None = None) -> list[TuneResult]:
    """Tune every kernel of a network (default: the default network), before or after
    compile(); a network compiled afterwards uses the tuned schedules."""
    from .network import default_network

    net = default_network() if net is None else net
    worker = Worker(threads)
    try:
        return [tune_spec(spec, trials, seconds, threads, worker, progress=progress,
                          folder=folder) for spec in network_specs(net)]
    finally:
        worker.close()


# -- the worker side ----------------------------------------------------------------------

def _serve() -> None:
    """Answer one JSON request per line: build, check against the defaults, time."""
    import numpy as np

    from . import build, kernels

    baselines: dict = {}
    for line in sys.stdin:
        request = json.loads(line)
        spec, knobs = from_dict(request["spec"]), request["knobs"]
        try:
            args = baselines.get(spec)
            if args is None:
                args = _arguments(spec, np.random.default_rng(0))
                kernels.compile_kernel(spec, schedules.default_knobs(spec))(*args)
                baselines[spec] = args
                expected = [a.copy() for a in args]
                baselines[(spec, "expected")] = expected
            expected = baselines[(spec, "expected")]
            started = time.perf_counter()
            executable = build.compile_module(kernels.scheduled(spec, knobs))
            build_s = time.perf_counter() - started
            outputs = [build.aligned_empty(a.shape, a.dtype) for a in args]
            n_in = len(args) - _outputs(spec)
            fresh = args[:n_in] + outputs[n_in:]
            executable["main"](*fresh)
            tolerance = 1e-9 if spec.dtype == "float64" else 1e-3
            for got, want in zip(fresh[n_in:], expected[n_in:], strict=True):
                if not np.allclose(got, want, rtol=tolerance, atol=tolerance, equal_nan=True):
                    raise ValueError("wrong result against the default schedule")
            timer = executable.mod.time_evaluator("main", build.tvm.cpu(), number=1, repeat=5,
                                                  min_repeat_ms=20)
            ms = 1e3 * float(np.median(timer(*fresh).results))
            answer = {"ms": ms, "error": None, "build_s": build_s}
        except Exception as err:  # a bad candidate scores inf; the worker goes on
            answer = {"ms": math.inf, "error": f"{type(err).__name__}: {err}"[:500],
                      "build_s": None}
        print(json.dumps(answer), flush=True)


def _outputs(spec) -> int:
    return len(spec.outputs) if isinstance(spec, NeuronSpec) else 1


def _arguments(spec, rng) -> list:
    """Random inputs (and zeroed outputs) in aligned buffers, in kernel argument order."""
    import numpy as np

    from . import build, kernels

    arrays = []
    for shape, dtype in kernels.signature(spec):
        if dtype == "int32":  # a subsampling table: centres inside pre
            values = np.stack([rng.integers(0, n, shape[0]) for n in spec.pre], -1)
        else:
            values = rng.uniform(0.1, 1.0, shape)
        arrays.append(build.aligned_copy(values, dtype))
    return arrays


# -- the command line ---------------------------------------------------------------------

class _StopAtCompile(Exception):
    """Raised by compile() while tecomp-tune runs a user's script: the network is built."""


def networks_of_script(path: str, argv: list[str]) -> list:
    """Run a user's script until its first compile() and return the network(s) it built."""
    from . import network

    captured = []

    def capture(net):
        captured.append(net)
        raise _StopAtCompile

    saved_argv = sys.argv
    network.clear()
    network.on_compile = capture
    sys.argv = [path, *argv]
    try:
        runpy.run_path(path, run_name="__main__")
    except _StopAtCompile:
        pass
    finally:
        network.on_compile = None
        sys.argv = saved_argv
    if not captured:  # a script that never calls compile(): tune what it described
        captured.append(network.default_network())
    return captured


def _suite_networks(precisions: list[str], names: list[str] | None) -> list:
    import numpy as np

    from . import suite
    from .network import Network

    nets = []
    for case in suite.cases(names):
        for precision in precisions:
            net = Network(precision=precision)
            case.build(net, np.random.default_rng(0))
            nets.append(net)
    return nets


def _print_results(results: list[TuneResult]) -> None:
    print(f"{'kernel':<58} {'default ms':>10} {'tuned ms':>9} {'speed-up':>8} {'trials':>6} "
          f"{'s':>5}")
    for r in results:
        source = next(t["source"] for t in r.trials if t["knobs"] == r.knobs)
        print(f"{_label(r.spec):<58} {r.default_ms:>10.4f} {r.best_ms:>9.4f} "
              f"{r.speedup:>7.2f}x {len(r.trials):>6} {r.seconds:>5.0f}"
              + ("  (MetaSchedule)" if source == "metaschedule" else ""))


def _list_records(folder: Path | None) -> None:
    rows = cache.records(folder)
    if not rows:
        print("no tuned records")
    for path, record in rows:
        spec = from_dict(record["key"]["spec"])
        print(f"{_label(spec):<58} threads={record['key']['threads']} "
              f"default={record['default_ms']:.4f} ms tuned={record['best_ms']:.4f} ms "
              f"({len(record.get('trials', []))} trials)  {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tecomp-tune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("script", nargs="?", help="a tecomp script; its arguments follow --")
    parser.add_argument("script_args", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--suite", choices=["bench"], help="tune the benchmark cases B1-B6")
    parser.add_argument("--precision", action="append", choices=["double", "float"],
                        help="with --suite (default: both)")
    parser.add_argument("--cases", help="with --suite: comma-separated case names (B1,B2)")
    parser.add_argument("--metaschedule", type=int, default=0, metavar="TRIALS",
                        help="also search with MetaSchedule (that many trials), keep the faster")
    parser.add_argument("--trials", type=int, default=64, help="candidates per kernel")
    parser.add_argument("--seconds", type=float, default=120.0, help="time budget per kernel")
    parser.add_argument("--threads", type=int, default=None,
                        help="TVM threads to tune for (default: TVM_NUM_THREADS or all cores)")
    parser.add_argument("--cache-dir", type=Path, help="user cache directory (TECOMP_CACHE)")
    parser.add_argument("--out", type=Path, help="write records here instead of the cache")
    parser.add_argument("--list", action="store_true", help="show the cached records")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _serve()
        return 0
    if args.cache_dir:
        os.environ["TECOMP_CACHE"] = str(args.cache_dir)
    if args.threads:
        os.environ["TVM_NUM_THREADS"] = str(args.threads)
    if args.list:
        _list_records(args.out)
        return 0
    if args.suite:
        nets = _suite_networks(args.precision or ["double", "float"],
                               args.cases.split(",") if args.cases else None)
        folder = args.out or cache.committed_dir()
    elif args.script:
        nets = networks_of_script(args.script, args.script_args)
        folder = args.out
    else:
        parser.error("give a script, --suite bench or --list")
    threads = int(os.environ.get("TVM_NUM_THREADS", os.cpu_count() or 1))
    results = []
    worker = Worker(threads)
    try:
        for net in nets:
            for spec in network_specs(net):
                results.append(tune_spec(spec, args.trials, args.seconds, threads, worker,
                                         folder=folder, metaschedule=args.metaschedule))
    finally:
        worker.close()
    _print_results(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
