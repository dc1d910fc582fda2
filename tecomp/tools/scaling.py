"""Measurements for the notebooks: build a workload, check it against the NumPy reference,
then time it (median of interleaved repeats), in a child process with its own thread count.

TVM reads TVM_NUM_THREADS once, when its thread pool starts (OpenMP and OpenBLAS likewise),
so every measurement at a given thread count runs in a fresh `python -m tecomp.scaling`
process: a JSON request on its stdin, the answer as one JSON line on its stdout.

    from tecomp import scaling
    rows = scaling.measure([scaling.conv_case(n) for n in (64, 128)], threads=1, repeats=5)
    [(r["case"], r["ok"], r["median_ms"]) for r in rows]

`TECOMP_NOTEBOOK_QUICK=1` in the environment makes the notebooks choose small sizes
(`quick()`); the sizes themselves are chosen in each notebook.
"""

import dataclasses
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import bench, bench_report, peers, suite

QUICK_VARIABLE = "TECOMP_NOTEBOOK_QUICK"
BENCH_JSON_VARIABLE = "TECOMP_BENCH_JSON"
CHILD_TIMEOUT = 3600.0  # seconds for one child's whole request
SUITE_CASES = tuple(suite.CASES)


def quick() -> bool:
    """True when TECOMP_NOTEBOOK_QUICK asks for small sizes (CI)."""
    return os.environ.get(QUICK_VARIABLE, "").strip().lower() not in ("", "0", "false", "no")


def banner(threads=None) -> str:
    """Date, machine, versions, thread count(s) and size mode, for a notebook's first cell.
    `threads`: those of this process by default; a tuple: those of the child processes."""
    m, v = bench.machine(), bench.versions()
    if isinstance(threads, tuple | list):
        threads = " and ".join(map(str, threads)) + " (each in a process of its own)"
    threads = threads or os.environ.get("TVM_NUM_THREADS") or m["cores"]
    return "\n".join([
        f"date:     {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"machine:  {m['cpu']}, {m['cores']} cores ({' '.join(m['simd']) or 'no AVX'}), "
        f"{m['memory_gib']} GiB; {m['os']}",
        f"python:   {m['python']}; " + ", ".join(f"{k} {val}" for k, val in v.items() if val),
        f"threads:  {threads}",
        f"sizes:    {'quick (TECOMP_NOTEBOOK_QUICK=1)' if quick() else 'full'}"])


def conv_case(size: int, kernel: int = 3) -> suite.Case:
    """B1's projection (one kernel×kernel filter, sum, zero padding) on a size² map."""
    return suite.Case(f"conv{size}k{kernel}", f"{kernel}×{kernel} filter, {size}²",
                      "Convolution", (size, size), (size, size), (kernel, kernel),
                      bound="memory" if kernel <= 3 else "compute")


def suite_cases(names=SUITE_CASES, small: bool = False) -> list[suite.Case]:
    return suite.cases(names, quick=small)


def failures(rows: list[dict]) -> list[str]:
    """What disagreed with the reference (or failed to build): empty when all is well."""
    return [f"{r.get('case')} {r.get('variant', '')}: {r.get('error')}" for r in rows
            if not r.get("ok")]


def run_bench(argv: list[str]) -> dict:
    """The results of `python -m tecomp.bench *argv`, run now in its own processes, or those
    of an earlier run when TECOMP_BENCH_JSON names its bench.json."""
    given = os.environ.get(BENCH_JSON_VARIABLE)
    if given:
        return json.loads(Path(given).read_text())
    with tempfile.TemporaryDirectory(prefix="tecomp-bench-") as out:
        done = subprocess.run([sys.executable, "-m", "tecomp.bench", *argv, "--out", out],
                              capture_output=True, text=True)
        path = Path(out) / "bench.json"
        if not path.exists():  # a case that fails its check still writes the JSON
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise RuntimeError(f"python -m tecomp.bench failed (exit {done.returncode}):\n{tail}")
        results = json.loads(path.read_text())
    results["command"] = results["command"].replace(f" --out {out}", "")
    return results


# -- in a child process with its own thread count -----------------------------------------------
def measure(cases: list[suite.Case], variants: dict | None = None, threads: int = 1,
            repeats: int = 30, budget: float = 15.0, env: dict | None = None) -> list[dict]:
    """Every case under every variant ({name: (dtype, tuned)}; default float64 with default
    schedules), measured by `measure_case` in a child with `threads` threads."""
    return _child({"function": "cases", "cases": [dataclasses.asdict(c) for c in cases],
                   "variants": variants, "repeats": repeats, "budget": budget}, threads, env)


def end_to_end(name: str, dtype: str = "float64", threads: int = 1, repeats: int = 30,
               steps: int = 100, annarchy: bool = True, budget: float = 15.0) -> dict:
    """E1 or E2 (`tecomp.examples`): compile time with an empty kernel cache and then from
    the cache, each in a fresh process, then seconds per simulated second of tecomp (runs of
    `steps` steps), the NumPy reference (one step per call) and ANNarchy, interleaved, each
    checked on the last layer first. ANNarchy's compile time is that of a fresh folder."""
    with tempfile.TemporaryDirectory(prefix="tecomp-e2e-") as scratch:
        env = {"TECOMP_CACHE": str(Path(scratch) / "cache")}
        request = {"function": "example", "name": name, "dtype": dtype, "steps": steps,
                   "budget": budget, "scratch": scratch}
        cold = _child({**request, "repeats": 0, "annarchy": False}, threads, env)
        result = _child({**request, "repeats": repeats, "annarchy": annarchy}, threads, env)
    result["compile_cold_s"], result["compile_cached_s"] = cold["compile_s"], result["compile_s"]
    if not cold["ok"]:
        result.update(ok=False, error=cold["error"])
    return result


def _child(request: dict, threads: int, env: dict | None) -> dict | list:
    done = subprocess.run([sys.executable, "-m", "tecomp.scaling"], input=json.dumps(request),
                          capture_output=True, text=True, timeout=CHILD_TIMEOUT,
                          env={**bench.thread_env(threads), **(env or {})})
    answers = [line[1:] for line in done.stdout.splitlines() if line.startswith("@")]
    if done.returncode != 0 or not answers:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"measurement process failed (exit {done.returncode}):\n{tail}")
    return json.loads(answers[-1])


def _serve() -> None:
    channel = os.fdopen(os.dup(1), "w")  # the answer only; anything printed goes to stderr
    os.dup2(2, 1)
    request = json.loads(sys.stdin.read())
    function = request.pop("function")
    if function == "cases":
        cases = [suite.Case(**{k: _tuples(v) for k, v in c.items()})
                 for c in request.pop("cases")]
        variants = {k: tuple(v) for k, v in (request.pop("variants") or {}).items()} or None
        answer = [row for case in cases for row in measure_case(case, variants, **request)]
    else:
        answer = measure_example(**request)
    channel.write("@" + json.dumps(answer) + "\n")
    channel.flush()


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


# -- in this process ------------------------------------------------------------------------------
def measure_case(case: suite.Case, variants: dict | None = None, repeats: int = 30,
                 budget: float = 15.0) -> list[dict]:
    """One row per variant ({name: (dtype, tuned)}): build the case's network, check a step
    against the NumPy reference at its precision (and against the float64 one), then time
    the steps of all variants that agree, interleaved (`tecomp.bench.interleave`)."""
    from . import build, kernels

    variants = variants or {"float64": ("float64", False)}
    rng = np.random.default_rng(bench.SEED)
    weights, x64 = case.draw_weights(rng), case.inputs(rng, "float64")
    references = {"float64": case.reference(x64, weights)}  # B3's takes seconds: once
    rows, runners = [], []
    try:
        for name, (dtype, tuned) in variants.items():
            x = x64.astype(dtype)
            row = {"case": case.name, "title": case.title, "variant": name, "dtype": dtype,
                   "tuned": tuned, "threads": build.num_threads(), "pre": case.pre,
                   "post": case.post, "window": case.window, "taps": case.taps,
                   "pixels": int(np.prod(case.post)), "flops": case.flops,
                   "bytes": case.bytes(dtype), "tolerance": bench.TOLERANCE[dtype]}
            rows.append(row)
            try:
                runner = peers.tecomp(case, x, weights, tuned=tuned)
            except Exception as err:  # a build failure is reported, not fatal
                row.update(ok=False, error=f"{type(err).__name__}: {err}")
                continue
            runner.name, proj = name, runner.net.projections[0]
            row["compile_s"] = runner.info["compile_s"]
            row["record"] = kernels.choose_knobs(proj.spec(dtype), tuned)[1]
            runner.timed()
            output = runner.output()
            if dtype not in references:
                references[dtype] = case.reference(x, weights)
            row["max_error"] = bench.relative_error(output, references[dtype])
            row["error_vs_float64"] = bench.relative_error(output, references["float64"])
            row["ok"] = row["max_error"] <= row["tolerance"]
            if row["ok"]:
                runners.append(runner)
            else:
                row["error"] = (f"relative error {row['max_error']:.3g} against the NumPy "
                                f"reference > {row['tolerance']:g}")
        samples = bench.interleave(runners, repeats, budget) if repeats else {}
        for runner in runners:
            row = next(r for r in rows if r["variant"] == runner.name)
            if samples.get(runner.name):
                row.update(bench_report.stats(samples[runner.name]))
                seconds = row["median_ms"] / 1e3
                row.update(gflops=case.flops / seconds / 1e9, gbs=row["bytes"] / seconds / 1e9)
                row["kernel_ms"] = 1e3 * runner.net.engine.profile(min(repeats, 30))[case.name]
    finally:
        for runner in runners:
            runner.close()
    return rows


def measure_example(name: str, dtype: str, repeats: int, steps: int, annarchy: bool,
                    scratch: str, budget: float) -> dict:
    """See `end_to_end`: one process's compile, check and (if `repeats`) timings."""
    import tvm  # noqa: F401  (imported first: compile time excludes `import tvm`)

    from . import build, examples, kernels, tuner
    from .network import Network

    precision = "float" if dtype == "float32" else "double"
    ex = getattr(examples, name.lower())(Network(precision=precision), precision=precision)
    net, x = ex.network, ex.image.astype(dtype)
    start = time.perf_counter()
    net.compile(tuned=True)
    result = {"name": name, "dtype": dtype, "threads": build.num_threads(), "dt": net.dt,
              "compile_s": time.perf_counter() - start, "layers": len(ex.layers),
              "kernels": len(tuner.network_specs(net)), "max_error": {}, "skipped": {},
              "steps": {}, "stats": {}, "s_per_sim_s": {},
              "tuned_kernels": sum(kernels.choose_knobs(s)[1] for s in tuner.network_specs(net))}
    steps = max(steps, ex.steps)  # a constant input reaches the last layer after ex.steps
    ex.input.r = x
    steady = ex.reference(x)
    makers = {"tecomp": lambda: peers.Runner("tecomp", lambda: net.simulate(steps * net.dt),
                                             lambda _: ex.layers[-1].r),
              "numpy": lambda: peers.Runner("numpy", lambda: ex.step(x, steady),
                                            lambda out: out[-1])}
    result["steps"] = {"tecomp": steps, "numpy": 1, "annarchy": steps}
    if annarchy and repeats:
        makers["annarchy"] = lambda: peers.annarchy(
            net, {ex.input.name: x}, ex.layers[-1].name, steps, result["threads"],
            Path(scratch) / "annarchy", f"{name}-{dtype}")
    else:
        result["skipped"]["annarchy"] = "left out (quick sizes: its C++ build takes 10-30 s)"
    runners = []
    try:
        for peer, make in makers.items():
            try:
                runner = make()
                runner.timed()
                error = bench.relative_error(runner.output(), steady[-1])
            except peers.Skip as why:
                result["skipped"][peer] = str(why)
                continue
            runners.append(runner)
            result["max_error"][peer] = error
            if error > bench.TOLERANCE[dtype]:
                result["skipped"][peer] = f"output differs from the reference ({error:.3g})"
                runners.pop().close()
        result["ok"] = "tecomp" in result["max_error"] and "tecomp" not in result["skipped"]
        result["error"] = None if result["ok"] else result["skipped"].get("tecomp")
        if runners and repeats and result["ok"]:
            samples = bench.interleave(runners, repeats, budget)
            for peer, s in samples.items():
                result["stats"][peer] = bench_report.stats(s)
                per_step = result["stats"][peer]["median_ms"] / 1e3 / result["steps"][peer]
                result["s_per_sim_s"][peer] = per_step * 1000.0 / net.dt
        for runner in runners:
            if "compile_s" in runner.info:
                result[f"{runner.name}_compile_s"] = runner.info["compile_s"]
    finally:
        for runner in runners:
            runner.close()
    return result


# -- tuning records -------------------------------------------------------------------------------
def tuning_records() -> list[dict]:
    """The readable records of the user cache and of the committed `schedules/`, each with
    its "path" added."""
    from . import cache

    return [{**record, "path": str(path)} for path, record in cache.records()]


def tune_now(case: suite.Case, dtype: str = "float32", trials: int = 8,
             seconds: float = 30.0, threads: int | None = None) -> dict:
    """Tune the projection of `case` now; the record goes to a new temporary folder (never
    the user's cache or `schedules/`) and is returned as read back, with its "path"."""
    from . import build, cache, tuner
    from .network import Network

    net = Network(precision="float" if dtype == "float32" else "double")
    case.build(net)
    folder = Path(tempfile.mkdtemp(prefix="tecomp-tune-now-"))
    tuner.tune_spec(net.projections[0].spec(net.dtype), trials, seconds,
                    threads=threads or build.num_threads(), progress=False, folder=folder)
    ((path, record),) = cache.records(folder)
    return {**record, "path": str(path)}


def default_vs_tuned(records: list[dict], repeats: int = 30, budget: float = 15.0,
                     small_only: bool = False) -> list[dict]:
    """Steps of the suite cases (full or quick sizes; only quick ones with `small_only`)
    that have a record made on this machine and environment, with default and with tuned
    schedules, measured as `measure` does at the record's thread count (records for more
    threads than this machine has cores are left out)."""
    from . import cache
    from .specs import from_dict

    specs = _suite_specs(small_only)
    groups: dict = {}
    for record in records:
        spec, threads = record["key"]["spec"], record["key"]["threads"]
        found = specs.get(json.dumps(spec, sort_keys=True))
        if found is None or threads > (os.cpu_count() or 1) or \
                cache.key(from_dict(spec), threads) != record["key"]:
            continue
        folder = Path(record["path"]).parent
        env = {} if folder == cache.user_dir() / "records" else {"TECOMP_SCHEDULES": str(folder)}
        case, dtype = found
        groups.setdefault((threads, dtype, json.dumps(env)), []).append(case)
    rows = []
    for (threads, dtype, env), cases in groups.items():
        variants = {"default": (dtype, False), "tuned": (dtype, True)}
        rows += measure(list(dict.fromkeys(cases)), variants, threads, repeats, budget,
                        json.loads(env))
    return rows


def _suite_specs(small_only: bool = False) -> dict:
    """{spec as sorted JSON: (case, dtype)} for every suite case (full and quick sizes, or
    quick only) and dtype."""
    from .network import Network
    from .specs import to_dict

    found = {}
    for case in [*([] if small_only else suite.cases()), *suite.cases(quick=True)]:
        for dtype, precision in (("float32", "float"), ("float64", "double")):
            net = Network(precision=precision)
            case.build(net)
            spec = to_dict(net.projections[0].spec(net.dtype))
            found[json.dumps(json.loads(json.dumps(spec)), sort_keys=True)] = (case, dtype)
    return found


if __name__ == "__main__":
    _serve()
