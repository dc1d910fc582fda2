"""The benchmark of BENCH.md: tecomp against its peers, on this machine, in one run.

    python -m tecomp.bench              # B1-B6 (E1, E2), float32 and float64, 1 and 2 threads
    python -m tecomp.bench --quick      # B1-B6 small, under a minute (CI); ANNarchy if asked
    python -m tecomp.bench --cases B1 B4 --threads 2 --precision float32 --repeats 50

Each thread count runs in its own worker process (TVM reads TVM_NUM_THREADS once, when its
pool starts; OpenBLAS and OpenMP likewise), which measures the machine limits (sgemm, copy),
then for every case and precision: compile time (cold and from the kernel cache, each in a
fresh process, with its peak RSS; measured by the first worker only, and in --quick for the
first case and precision only), every output against the NumPy reference, and finally
the steps of tecomp and of every peer, interleaved round by round. Results go to
`bench.json` and `bench.md` in `--out`.
"""

import argparse
import contextlib
import datetime
import gc
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from . import bench_report as report
from . import peers, suite

SEED = 20240501
EXAMPLES = ("E1", "E2")
PEERS = ("numpy", "scipy", "torch", "annarchy")
ENV_RECORDED = ("TVM_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "OMP_WAIT_POLICY", "TVM_THREAD_POOL_SPIN_COUNT", "TECOMP_CACHE",
                "TECOMP_SCHEDULES")
TOLERANCE = {"float32": 1e-4, "float64": 1e-9}  # max error / max(1, max |reference|)
# Thread pools spin a few ms after a call (TVM, OpenMP): on 2 cores the next system's
# threads would wait for those spinning ones, so every call waits this long first.
SETTLE_S = 0.02
SLOW_S = 0.05  # a call this long needs no untimed call before it


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m tecomp.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", choices=[*suite.CASES, *EXAMPLES],
                        metavar="CASE", help="B1..B6 E1 E2 (default: all; --quick: B1..B6, "
                        "since E1 and E2 have no small sizes)")
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--precision", nargs="+", default=["float32", "float64"],
                        choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, help="timed rounds (default 30, --quick 5)")
    parser.add_argument("--budget", type=float,
                        help="seconds of timing per slow peer and case, after 3 samples "
                             "(default 15, --quick 1)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI")
    parser.add_argument("--peers", nargs="+", choices=PEERS,
                        help="peers to time (default: all; --quick: all but annarchy, whose "
                             "C++ build takes 10-20 s per case); NumPy always checks outputs")
    parser.add_argument("--no-tuned", action="store_true", help="skip the tuned schedules")
    parser.add_argument("--omp-passive", action="store_true",
                        help="OMP_WAIT_POLICY=PASSIVE for the peers (PyTorch, ANNarchy): "
                             "their spinning threads stall for ms on a loaded machine")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # result file
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--compile-probe", help=argparse.SUPPRESS)  # a case name
    parser.add_argument("--probes", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (5 if args.quick else 30)
    args.cases = args.cases or [*suite.CASES, *([] if args.quick else EXAMPLES)]
    args.left_out, args.peers_given = "not selected (--peers)", args.peers is not None
    if args.peers is None:
        args.peers = [p for p in PEERS if not (args.quick and p == "annarchy")]
        args.left_out = "left out of --quick (add --peers ... annarchy)"
    args.budget = args.budget if args.budget is not None else (1.0 if args.quick else 15.0)
    if any(t < 1 for t in args.threads) or args.repeats < 1:
        parser.error("--threads and --repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.compile_probe:
        return compile_probe(args)
    if args.worker:
        return worker(args)
    return run(args)


# -- orchestration (no TVM in this process) ----------------------------------------------------
def run(args) -> int:
    start = time.perf_counter()
    results = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
               "command": " ".join(["python -m tecomp.bench", *sys.argv[1:]]),
               "quick": args.quick, "repeats": args.repeats, "machine": machine(),
               "versions": versions(), "memory_note": report.MEMORY_NOTE, "workers": []}
    with tempfile.TemporaryDirectory(prefix="tecomp-bench-") as scratch:
        for threads in args.threads:
            print(f"== {threads} thread(s)", flush=True)
            result = Path(scratch) / f"worker-{threads}.json"
            command = [sys.executable, "-m", "tecomp.bench", *_forwarded(args),
                       "--threads", str(threads), "--worker", str(result),
                       "--scratch", scratch] + ["--probes"] * (threads == args.threads[0])
            env = thread_env(threads)
            if args.omp_passive:
                env["OMP_WAIT_POLICY"] = "PASSIVE"
            code = subprocess.run(command, env=env).returncode
            if code != 0 or not result.exists():
                print(f"worker for {threads} thread(s) failed (exit {code})", file=sys.stderr)
                return 1
            results["workers"].append(json.loads(result.read_text()))
    results["seconds"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(results, indent=1))
    table = report.markdown(results)
    (args.out / "bench.md").write_text(table)
    print(table)
    print(f"wrote {args.out / 'bench.json'} and {args.out / 'bench.md'} "
          f"({results['seconds']:.0f} s)")
    failed = [r for w in results["workers"] for r in w["records"] if r.get("error")]
    return 1 if failed else 0


def _forwarded(args) -> list[str]:
    out = ["--cases", *args.cases, "--precision", *args.precision, "--repeats",
           str(args.repeats), "--budget", str(args.budget)]
    out += ["--peers", *args.peers] if args.peers_given else []
    return out + ["--quick"] * args.quick + ["--no-tuned"] * args.no_tuned + \
        ["--omp-passive"] * args.omp_passive


def thread_env(threads: int) -> dict:
    n = str(threads)
    return dict(os.environ, TVM_NUM_THREADS=n, OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n,
                MKL_NUM_THREADS=n)


def machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = ""
    with contextlib.suppress(OSError, StopIteration):
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("flags"))
    simd = [f for f in ("avx2", "fma", "avx512f") if f" {f}" in flags]
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": model, "cores": os.cpu_count(), "simd": simd, "memory_gib": round(memory, 1),
            "os": platform.platform(), "python": platform.python_version()}


def versions() -> dict:
    out = {}
    for name in ("tecomp", "numpy", "apache-tvm", "apache-tvm-ffi", "scipy", "torch",
                 "annarchy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


# -- one thread count ----------------------------------------------------------------------------
def worker(args) -> int:
    threads = args.threads[0]
    start = time.perf_counter()
    limits = machine_limits(args.quick)
    limits["seconds"] = time.perf_counter() - start
    print(f"   limits: sgemm {limits['sgemm_gflops']} GFLOP/s, copy {limits['copy_gbs']} GB/s",
          flush=True)
    records = []
    for dtype in args.precision:
        for name in args.cases:
            print(f"-- {name} {dtype} {threads} thread(s)", flush=True)
            start = time.perf_counter()
            record = run_example(name, dtype, threads, args) if name in EXAMPLES else \
                run_case(suite.CASES[name].quick() if args.quick else suite.CASES[name],
                         dtype, threads, args)
            record["seconds"] = time.perf_counter() - start
            report.derive(record, limits)
            print("   " + report.summary(record), flush=True)
            records.append(record)
    # Other work on the machine lowers a limit while it runs: measure again, keep the best.
    start = time.perf_counter()
    again = machine_limits(args.quick)
    limits["seconds"] += time.perf_counter() - start
    limits["copy_gbs"] = max(limits["copy_gbs"], again["copy_gbs"])
    for dtype, value in again["sgemm_gflops"].items():
        limits["sgemm_gflops"][dtype] = max(limits["sgemm_gflops"][dtype], value)
    for record in records:
        report.derive(record, limits)
    env = {k: os.environ.get(k) for k in ENV_RECORDED}
    args.worker.write_text(json.dumps({"threads": threads, "limits": limits, "env": env,
                                       "records": records}))
    return 0


def machine_limits(quick: bool) -> dict:
    """sgemm GFLOP/s (NumPy a @ b) per precision, and copy GB/s (read + write, np.copyto):
    the best of 7 calls, since a limit is what the machine can reach (the worker measures
    them before and after its cases and keeps the better)."""
    n, megabytes = (512, 32) if quick else (2048, 512)
    rng = np.random.default_rng(0)
    out = {"sgemm_n": n, "copy_mb": megabytes, "sgemm_gflops": {}}
    for dtype in ("float32", "float64"):
        a, b = rng.random((n, n)).astype(dtype), rng.random((n, n)).astype(dtype)
        seconds = _best_call(lambda a=a, b=b: a @ b)
        out["sgemm_gflops"][dtype] = round(2 * n**3 / seconds / 1e9, 1)
    source = np.ones(megabytes * 2**20 // 8)
    target = np.empty_like(source)
    seconds = _best_call(lambda: np.copyto(target, source))
    out["copy_gbs"] = round(2 * source.nbytes / seconds / 1e9, 1)
    return out


def _best_call(fn, repeats: int = 7) -> float:
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return min(samples)


def run_case(case: suite.Case, dtype: str, threads: int, args) -> dict:
    rng = np.random.default_rng(SEED)
    w, x = case.draw_weights(rng), case.inputs(rng, dtype)
    record = {"case": case.name, "title": case.title, "precision": dtype, "threads": threads,
              "pre": case.pre, "post": case.post, "flops": case.flops,
              "bytes": case.bytes(dtype), "bound": case.bound, "skipped": {}}
    first = dtype == args.precision[0] and case.name == args.cases[0]
    if args.probes and (first or not args.quick):
        record["compile"] = compile_times(case.name, dtype, threads, args)
    folder = args.scratch / "annarchy"
    tag = f"{case.name}-{dtype}{'-quick' if args.quick else ''}"

    first = peers.tecomp(case, x, w, tuned=False)
    makers = {"tecomp": lambda: first,
              "tecomp-tuned": lambda: peers.tecomp(case, x, w, tuned=True),
              "scipy": lambda: peers.scipy_ndimage(case, x, w),
              "torch": lambda: peers.pytorch(case, x, w, threads),
              "annarchy": lambda: peers.annarchy(first.net, {first.pre.name: x}, first.post.name,
                                                 1, threads, folder, tag)}
    if args.no_tuned:
        del makers["tecomp-tuned"]
    for name in ("scipy", "torch", "annarchy"):
        if name not in args.peers:
            record["skipped"][name] = args.left_out
            makers.pop(name)
    reference = peers.numpy_reference(case, x, w)
    record["reference_s"] = reference.check_s = reference.timed()
    return _time_all(record, [reference], makers, reference.output(), dtype, args,
                     kernel=case.name)


def _time_all(record: dict, runners: list, makers: dict, expected, dtype: str, args,
              kernel: str | None = None) -> dict:
    """Check every maker's runner against `expected`, then time them all, interleaved."""
    if "numpy" not in args.peers:
        record["skipped"]["numpy"] = "not selected (--peers)"
    try:
        for name, make in makers.items():
            runner = _checked(name, make, expected, dtype, record)
            if runner is None and name == "tecomp":
                return record  # tecomp disagrees with the reference: no timing
            if runner is not None:
                runners.append(runner)
        timed = [r for r in runners if r.name != "numpy" or "numpy" in args.peers]
        record["samples_ms"] = interleave(timed, args.repeats, args.budget)
        for runner in runners:
            if runner.net is not None and kernel is not None:
                profile = runner.net.engine.profile(repeat=min(args.repeats, 30))
                runner.info["kernel_ms"] = 1e3 * profile[kernel]
        record["info"] = {r.name: r.info for r in runners}
    finally:
        for runner in runners:
            runner.close()
    return record


def _checked(name: str, make, expected: np.ndarray, dtype: str, record: dict):
    """The runner after one call whose output agrees with the reference, else None."""
    try:
        runner = make()
        runner.check_s = runner.timed()
        error = relative_error(runner.output(), expected)
    except peers.Skip as why:
        record["skipped"][name] = str(why)
        return None
    record.setdefault("max_error", {})[name] = error
    if error <= TOLERANCE[dtype]:
        return runner
    message = (f"{name} output differs from the NumPy reference: relative error {error:.3g} "
               f"> {TOLERANCE[dtype]:g}")
    runner.close()
    if name == "tecomp":
        record["error"] = message + "; case aborted"
        print(f"   ERROR: {record['error']}", file=sys.stderr, flush=True)
    else:
        record["skipped"][name] = message
    return None


def relative_error(actual, expected) -> float:
    """max |actual - expected| / max(1, max |expected|); inf for a shape or inf/NaN mismatch."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    finite = np.isfinite(expected)
    if actual.shape != expected.shape or not np.array_equal(np.isfinite(actual), finite) or \
            not np.array_equal(actual[~finite], expected[~finite]):
        return float("inf")
    scale = max(1.0, float(np.abs(expected[finite]).max(initial=0.0)))
    return float(np.abs(actual[finite] - expected[finite]).max(initial=0.0)) / scale


def interleave(runners: list, repeats: int, budget: float) -> dict[str, list[float]]:
    """Rounds in which every runner, in a new random order, makes one untimed call then one
    timed call: a step as in a running simulation (warm caches, its own threads awake),
    without the others' threads, which get SETTLE_S to stop spinning before each call.
    A runner that has spent `budget` seconds (after at least 3 samples) sits out."""
    order = random.Random(SEED)
    samples = {r.name: [] for r in runners}
    spent = dict.fromkeys(samples, 0.0)
    gc.disable()
    try:
        for _ in range(repeats):
            for runner in order.sample(runners, len(runners)):
                done = samples[runner.name]
                if len(done) >= 3 and spent[runner.name] > budget:
                    continue
                time.sleep(SETTLE_S)
                if (done[-1] / 1e3 if done else runner.check_s) < SLOW_S:
                    runner.timed()
                seconds = runner.timed()
                done.append(1e3 * seconds)
                spent[runner.name] += seconds
    finally:
        gc.enable()
    return samples


# -- compile time and memory, each in a fresh process --------------------------------------------
def compile_times(name: str, dtype: str, threads: int, args) -> dict:
    """Cold (empty kernel cache) then cached compile of the case, in two fresh processes."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="tecomp-cache-", dir=args.scratch) as cache:
        env = dict(thread_env(threads), TECOMP_CACHE=cache)
        for label in ("cold", "cached"):
            command = [sys.executable, "-m", "tecomp.bench", "--compile-probe", name,
                       "--precision", dtype] + ["--quick"] * args.quick
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                out[label] = {"error": done.stderr.strip().splitlines()[-1:]}
                continue
            out[label] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def compile_probe(args) -> int:
    """Build, compile (default schedules) and step one case (or example); print times and
    peak RSS."""
    start = time.perf_counter()
    from .network import Network

    precision = "float" if args.precision[0] == "float32" else "double"
    net = Network(precision=precision)
    if args.compile_probe in EXAMPLES:
        from . import examples

        ex = getattr(examples, args.compile_probe.lower())(net=net, precision=precision)
        pre, x = ex.input, ex.image
    else:
        case = suite.CASES[args.compile_probe]
        case = case.quick() if args.quick else case
        pre, _, _ = case.build(net, np.random.default_rng(SEED))
        x = case.inputs(np.random.default_rng(SEED), net.dtype)
    import tvm  # noqa: F401  (imported before timing: compile time excludes `import tvm`)

    imported = time.perf_counter() - start
    rss_before = peers.peak_rss_mb()
    start = time.perf_counter()
    peers.compile_network(net, tuned=False)
    seconds = time.perf_counter() - start
    pre.r = x
    net.step()
    print(json.dumps({"compile_s": seconds, "import_s": imported, "rss_before_mb": rss_before,
                      "peak_rss_mb": peers.peak_rss_mb()}))
    return 0


# -- E1, E2 (built by tecomp.examples) -----------------------------------------------------------
def run_example(name: str, dtype: str, threads: int, args) -> dict:
    """E1/E2 from `tecomp.examples`: one run = `steps` steps with a constant input (the time
    for the input to reach the last layer); the last layer is checked."""
    record = {"case": name, "precision": dtype, "threads": threads, "skipped": {}}
    try:
        from . import examples
    except ImportError as err:
        record["error_skip"] = f"{name} skipped: tecomp.examples is not available ({err})"
        return record
    from .network import Network

    precision = "float" if dtype == "float32" else "double"
    if args.probes and not args.quick:
        record["compile"] = compile_times(name, dtype, threads, args)

    def build(tuned: bool) -> peers.Runner:
        ex = getattr(examples, name.lower())(net=Network(precision=precision),
                                             precision=precision)
        start = time.perf_counter()
        peers.compile_network(ex.network, tuned=tuned)
        ex.input.r = ex.image.astype(dtype)
        runner = peers.Runner("tecomp-tuned" if tuned else "tecomp",
                              lambda: ex.network.simulate(ex.steps * ex.network.dt),
                              lambda _: ex.layers[-1].r,
                              compile_s=time.perf_counter() - start)
        runner.net, runner.example = ex.network, ex
        return runner

    first = build(False)
    ex = first.example
    x = ex.image.astype(dtype)
    record.update(title=f"{len(ex.layers)} layers, {ex.steps} steps", pre=ex.input.geometry,
                  post=ex.layers[-1].geometry)
    reference = peers.Runner("numpy", lambda: ex.reference(x)[-1], lambda out: out)
    record["reference_s"] = reference.check_s = reference.timed()
    folder, tag = args.scratch / "annarchy", f"{name}-{dtype}"
    makers = {"tecomp": lambda: first, "tecomp-tuned": lambda: build(True),
              "annarchy": lambda: peers.annarchy(first.net, {ex.input.name: x},
                                                 ex.layers[-1].name, ex.steps, threads,
                                                 folder, tag)}
    if args.no_tuned:
        del makers["tecomp-tuned"]
    if "annarchy" not in args.peers:
        record["skipped"]["annarchy"] = args.left_out
        del makers["annarchy"]
    record["skipped"].update(scipy="no end-to-end network",
                             torch="no PyTorch version of the end-to-end networks yet")
    return _time_all(record, [reference], makers, reference.output(), dtype, args)


if __name__ == "__main__":
    sys.exit(main())
