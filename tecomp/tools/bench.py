"""The benchmark of docs/benchmark.md: tecomp against its peers, on this machine, in one run.

    python -m tecomp.tools.bench            # B1-B8, E1, E2; float32 and float64; 1 and 2 threads
    python -m tecomp.tools.bench --quick    # B1-B8 small, under a minute (CI); ANNarchy if asked
    python -m tecomp.tools.bench --cases B1 B4 --threads 2 --precision float32 --repeats 50

(`tecomp-bench` is the same command.) Each thread count runs in its own worker process (TVM
reads TVM_NUM_THREADS once, when its pool starts; OpenBLAS and OpenMP likewise), which
measures the machine limits (`tools.limits`: peak FMA GFLOP/s per precision, copy GB/s;
again after the cases, keeping the better), then for every case and precision: compile time
(cold and from the kernel cache, each in a fresh process, with its peak RSS; measured by the
first worker only, and in --quick for the first case and precision only), then every
output against the NumPy reference and the steps of tecomp and of every peer (PyTorch in
NCHW and in channels-last), interleaved round by round (`tools.harness`). Results go to
`bench.json` and `bench.md` in `--out` (default: `bench-results/`, or a new temporary
folder for --quick).
"""

import argparse
import contextlib
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from tecomp import child
from tecomp.child import Child, ChildFailed, ask_once, python_module

from . import examples, harness, limits, matrices, peers, report, suite
from .harness import SEED, Runner

EXAMPLES = ("E1", "E2")
PEERS = ("numpy", "scipy", "torch", "annarchy")
ENV_RECORDED = ("TVM_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "OMP_WAIT_POLICY", "TVM_THREAD_POOL_SPIN_COUNT", "TECOMP_CACHE",
                "TECOMP_SCHEDULES")
PROBE_TIMEOUT = 1800.0  # seconds for one compile-time probe (E2 cold: a minute or two)
SERVER = python_module("tecomp.tools.bench", "--serve")  # a worker or a compile probe


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m tecomp.tools.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", choices=[*suite.CASES, *EXAMPLES],
                        metavar="CASE", help="B1..B8 E1 E2 (default: all; --quick: B1..B8, "
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
                        help="OMP_WAIT_POLICY=PASSIVE for the peers (PyTorch, ANNarchy), for a "
                             "loaded machine where their spinning threads stall others; not "
                             "their best: PyTorch's B2/B3 steps take about 2x as long")
    parser.add_argument("--out", type=Path,
                        help="folder for bench.json and bench.md (default: bench-results; "
                             "--quick: a new temporary folder)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # a child
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
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.serve:
        child.serve(_handle)
        return 0
    return run(args, argv)


def _handle(request: dict) -> dict:
    """The child side: one thread count's worker, or one compile-time probe."""
    if request["do"] == "worker":
        args = parse_args(request["argv"])
        args.threads, args.scratch = [request["threads"]], Path(request["scratch"])
        args.probes = request["probes"]
        return worker(args)
    if request["do"] == "compile-probe":
        return compile_probe(request["case"], request["dtype"], request["quick"])
    raise ValueError(f"unknown request {request['do']!r}")


# -- orchestration (no TVM in this process) ----------------------------------------------------
def run(args, argv: list[str]) -> int:
    start = time.perf_counter()
    if args.out is None:
        args.out = Path(tempfile.mkdtemp(prefix="tecomp-bench-quick-")) if args.quick \
            else Path("bench-results")
    results = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
               "command": " ".join(["python -m tecomp.tools.bench", *argv]),
               "quick": args.quick, "repeats": args.repeats, "machine": machine(),
               "versions": versions(), "memory_note": report.MEMORY_NOTE, "workers": []}
    with tempfile.TemporaryDirectory(prefix="tecomp-bench-") as scratch:
        for threads in args.threads:
            print(f"== {threads} thread(s)", flush=True)
            request = {"do": "worker", "argv": _forwarded(args), "threads": threads,
                       "scratch": scratch, "probes": threads == args.threads[0]}
            env = thread_env(threads)
            if args.omp_passive:
                env["OMP_WAIT_POLICY"] = "PASSIVE"
            try:
                with Child(SERVER, env, name=f"worker for {threads} thread(s)") as child:
                    answer = child.ask(request)
            except ChildFailed as failure:
                answer = {"error": str(failure)}
            if "error" in answer:
                print(f"worker for {threads} thread(s) failed: {answer['error']}\n"
                      f"{answer.get('traceback', '')}", file=sys.stderr)
                return 1
            results["workers"].append(answer)
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
    """The variables that set every thread pool (TVM, OpenMP, OpenBLAS, MKL) to `threads`."""
    n = str(threads)
    return {"TVM_NUM_THREADS": n, "OMP_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n,
            "MKL_NUM_THREADS": n}


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


# -- one thread count (a worker process) ----------------------------------------------------------
def worker(args) -> dict:
    threads = args.threads[0]
    machine_limits = limits.measure(threads, args.quick)
    print("   limits: " + report.limits_line(machine_limits), flush=True)
    records = []
    for dtype in args.precision:
        for name in args.cases:
            print(f"-- {name} {dtype} {threads} thread(s)", flush=True)
            start = time.perf_counter()
            record = run_example(name, dtype, threads, args) if name in EXAMPLES else \
                run_case(suite.CASES[name].quick() if args.quick else suite.CASES[name],
                         dtype, threads, args)
            record["seconds"] = time.perf_counter() - start
            if record.get("bytes"):  # the copy limit of this case's size (tools.limits)
                record["copy"] = limits.case_copy(record["bytes"], threads)
            report.derive(record, machine_limits)
            print("   " + report.summary(record), flush=True)
            records.append(record)
    # Other work on the machine lowers a limit while it runs: measure again, keep the best.
    machine_limits = limits.best(machine_limits, limits.measure(threads, args.quick))
    for record in records:
        report.derive(record, machine_limits)
    machine_limits["denormal_ratio"] = {dtype: denormal_ratio(dtype, args.quick)
                                        for dtype in args.precision}
    env = {k: os.environ.get(k) for k in ENV_RECORDED}
    return {"threads": threads, "limits": machine_limits, "env": env, "records": records}


def denormal_ratio(dtype: str, quick: bool) -> float:
    """Median step time of a 3x3 filter on denormal inputs over the same on normal ones,
    interleaved (tecomp flushes denormals to zero while kernels run; IEEE arithmetic on
    them is 40-50x slower on some CPUs)."""
    import tecomp as ann
    from tecomp.extensions.convolution import Convolution

    size = 128 if quick else 512
    net = suite.network(dtype)
    pre = net.create((size, size), ann.Neuron(parameters="r = 0.0"))
    post = net.create((size, size), ann.Neuron(equations="r = sum(exc)"))
    Convolution(pre, post, "exc").connect_filter(np.full((3, 3), 0.5))
    net.compile()
    tiny = float(np.finfo(dtype).tiny) / 64  # a denormal of this precision
    samples: dict[float, list[float]] = {0.5: [], tiny: []}
    for _ in range(10 if quick else 50):
        for value, times in samples.items():
            pre.r = np.full((size, size), value)
            start = time.perf_counter()
            net.step()
            times.append(time.perf_counter() - start)
    return round(float(np.median(samples[tiny]) / np.median(samples[0.5])), 2)


def run_case(case: suite.Case, dtype: str, threads: int, args) -> dict:
    rng = np.random.default_rng(SEED)
    w, x = case.draw_weights(rng), case.inputs(rng, dtype)
    record = {"case": case.name, "title": case.title, "precision": dtype, "threads": threads,
              "pre": case.pre, "post": case.post, "flops": case.flops,
              "bytes": case.bytes(dtype),
              "tolerance": case.tolerance(dtype), "skipped": {}}
    first = dtype == args.precision[0] and case.name == args.cases[0]
    if args.probes and (first or not args.quick):
        record["compile"] = compile_times(case.name, dtype, threads, args)
    folder = args.scratch / "annarchy"
    tag = f"{case.name}-{dtype}{'-quick' if args.quick else ''}"
    built = {}

    def tecomp() -> Runner:
        built["tecomp"] = peers.tecomp(case, x, w, tuned=False)
        return built["tecomp"]

    def annarchy() -> Runner:
        first = built["tecomp"]
        return peers.annarchy(first.net, {first.pre.name: x}, first.post.name, 1, threads,
                              folder, tag)

    makers = {"tecomp": tecomp,
              "tecomp-tuned": lambda: peers.tecomp(case, x, w, tuned=True),
              "scipy": lambda: peers.scipy_ndimage(case, x, w),
              "torch-nchw": lambda: peers.pytorch(case, x, w, threads, channels_last=False),
              "torch-cl": lambda: peers.pytorch(case, x, w, threads, channels_last=True),
              "annarchy": annarchy}
    if case.kind == "Projection":  # B7, B8: a matrix-vector product (tools.matrices)
        record["unit"] = "GB/s"
        makers.update(numpy=lambda: matrices.numpy_matvec(case, x, w),
                      scipy=lambda: matrices.scipy_sparse(case, x, w),
                      torch=lambda: matrices.pytorch(case, x, w, threads))
        for name in ("torch-nchw", "torch-cl"):
            del makers[name]
        start = time.perf_counter()
        expected = case.reference(x, w)  # the oracle; NumPy's W @ x is a peer checked on it
        record["reference_s"] = time.perf_counter() - start
        return _measured(record, makers, expected, args, kernel=case.name)
    return _measured(record, makers, peers.numpy_reference(case, x, w), args, kernel=case.name)


def _measured(record: dict, makers: dict, reference, args,
              kernel: str | None = None) -> dict:
    """Check every maker's runner against the NumPy reference (a `Runner`, timed as the
    "numpy" peer, or its output), then time them all, interleaved (`harness.measure`);
    tecomp failing its check aborts the case."""
    if args.no_tuned:
        del makers["tecomp-tuned"]
    for name in [n for n in makers if report.peer_of(n) in PEERS and
                 report.peer_of(n) not in args.peers]:
        record["skipped"][report.peer_of(name)] = args.left_out
        del makers[name]
    untimed = ()
    if "numpy" not in args.peers:
        record["skipped"]["numpy"] = "not selected (--peers)"
        untimed = ("numpy",)
    out = harness.measure(makers, reference, record["tolerance"], args.repeats, args.budget,
                          untimed=untimed, kernel=kernel)
    if isinstance(reference, Runner):
        record["reference_s"] = reference.check_s
    record["max_error"] = out.errors
    record["skipped"].update((k, v) for k, v in out.skipped.items() if k != "tecomp")
    report.merge_skipped(record)
    if out.aborted:
        record["error"] = f"tecomp: {out.aborted}; case aborted"
        print(f"   ERROR: {record['error']}", file=sys.stderr, flush=True)
        return record
    record["samples_ms"] = out.samples_ms
    record["info"] = out.info
    return record


# -- compile time and memory, each in a fresh process --------------------------------------------
def compile_times(name: str, dtype: str, threads: int, args) -> dict:
    """Cold (empty kernel cache) then cached compile of the case, in two fresh processes."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="tecomp-cache-", dir=args.scratch) as cache:
        env = {**thread_env(threads), "TECOMP_CACHE": cache}
        request = {"do": "compile-probe", "case": name, "dtype": dtype, "quick": args.quick}
        for label in ("cold", "cached"):
            try:
                answer = ask_once(SERVER, request, PROBE_TIMEOUT, env)
            except ChildFailed as failure:
                answer = {"error": str(failure)}
            out[label] = {"error": answer["error"]} if "error" in answer else answer
    return out


def compile_probe(name: str, dtype: str, quick: bool) -> dict:
    """Build, compile (default schedules) and step one case (or example): times and peak
    RSS of this process."""
    start = time.perf_counter()
    net = suite.network(dtype)
    if name in EXAMPLES:
        ex = getattr(examples, name.lower())(net=net)
        pre, x = ex.input, ex.image.astype(dtype)
    else:
        case = suite.CASES[name].quick() if quick else suite.CASES[name]
        pre, _, _ = case.build(net, np.random.default_rng(SEED))
        x = case.inputs(np.random.default_rng(SEED), dtype)
    import tvm  # noqa: F401  (imported before timing: compile time excludes `import tvm`)

    imported = time.perf_counter() - start
    rss_before = peers.peak_rss_mb()
    start = time.perf_counter()
    net.compile(tuned=False)
    seconds = time.perf_counter() - start
    pre.r = x
    net.step()
    return {"compile_s": seconds, "import_s": imported, "rss_before_mb": rss_before,
            "peak_rss_mb": peers.peak_rss_mb()}


# -- E1, E2 (built by tools.examples) ------------------------------------------------------------
def run_example(name: str, dtype: str, threads: int, args) -> dict:
    """E1/E2 from `tools.examples`: one run = `steps` steps with a constant input (the time
    for the input to reach the last layer); the last layer is checked."""
    build_example = getattr(examples, name.lower())
    ex = build_example(net=suite.network(dtype))
    x = ex.image.astype(dtype)
    record = {"case": name, "title": f"{len(ex.layers)} layers, {ex.steps} steps",
              "precision": dtype, "threads": threads, "pre": ex.input.geometry,
              "post": ex.layers[-1].geometry, "tolerance": ex.tolerance(dtype),
              "flops": ex.flops, "bytes": ex.bytes(dtype),
              "skipped": {"scipy": "no end-to-end network",
                          "torch": "no PyTorch version of the end-to-end networks yet"}}
    if args.probes and not args.quick:
        record["compile"] = compile_times(name, dtype, threads, args)

    def tecomp(example, tuned: bool) -> Runner:
        start = time.perf_counter()
        example.network.compile(tuned=tuned)
        example.input.r = x
        runner = Runner("tecomp-tuned" if tuned else "tecomp",
                        lambda: example.network.simulate(example.steps * example.network.dt),
                        lambda _: example.layers[-1].r, compile_s=time.perf_counter() - start)
        runner.net = example.network
        return runner

    folder, tag = args.scratch / "annarchy", f"{name}-{dtype}"
    makers = {"tecomp": lambda: tecomp(ex, False),
              "tecomp-tuned": lambda: tecomp(build_example(net=suite.network(dtype)), True),
              "annarchy": lambda: peers.annarchy(ex.network, {ex.input.name: x},
                                                 ex.layers[-1].name, ex.steps, threads,
                                                 folder, tag)}
    reference = Runner("numpy", lambda: ex.reference(x)[-1], lambda out: out)
    return _measured(record, makers, reference, args)


if __name__ == "__main__":
    sys.exit(main())
