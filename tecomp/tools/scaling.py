"""Measurements for the notebooks: build a workload, check it against the NumPy reference,
then time it (median of interleaved repeats: `tools.harness`), in a child process with its
own thread count.

TVM reads TVM_NUM_THREADS once, when its thread pool starts (OpenMP and OpenBLAS likewise),
so every measurement at a given thread count runs in a fresh `python -m tecomp.tools.scaling`
process, a `tecomp.child` server: one JSON request, one JSON answer.

    from tecomp.tools import scaling
    rows = scaling.measure([scaling.conv_case(n) for n in (64, 128)], threads=1, repeats=5)
    [(r["case"], r["ok"], r["median_ms"]) for r in rows]

`TECOMP_NOTEBOOK_QUICK=1` in the environment makes the notebooks choose small sizes
(`quick()`); the sizes themselves are chosen in each notebook.
"""

import contextlib
import dataclasses
import datetime
import io
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from tecomp import child, plan, reference
from tecomp.child import ChildFailed, ask_once, python_module

from . import bench, examples, harness, peers, report, suite
from .harness import Runner

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
                      "Convolution", (size, size), (size, size), (kernel, kernel))


def suite_cases(names=SUITE_CASES, small: bool = False) -> list[suite.Case]:
    return suite.cases(names, quick=small)


def failures(rows: list[dict]) -> list[str]:
    """What disagreed with the reference (or failed to build): empty when all is well."""
    return [f"{r.get('case')} {r.get('variant', '')}: {r.get('error')}" for r in rows
            if not r.get("ok")]


def run_bench(argv: list[str]) -> dict:
    """The results of `python -m tecomp.tools.bench *argv`, run now (its workers in their own
    processes; what it prints is dropped), or those of an earlier run when TECOMP_BENCH_JSON
    names its bench.json."""
    given = os.environ.get(BENCH_JSON_VARIABLE)
    if given:
        return json.loads(Path(given).read_text())
    with tempfile.TemporaryDirectory(prefix="tecomp-bench-") as out:
        argv = [*argv, "--out", out]
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            code = bench.run(bench.parse_args(argv), argv)
        path = Path(out) / "bench.json"
        if not path.exists():  # a case that fails its check still writes the JSON
            tail = "\n".join(printed.getvalue().strip().splitlines()[-15:])
            raise RuntimeError(f"python -m tecomp.tools.bench failed (exit {code}):\n{tail}")
        results = json.loads(path.read_text())
    results["command"] = results["command"].replace(f" --out {out}", "")
    return results


# -- in a child process with its own thread count -----------------------------------------------
def measure(cases: list[suite.Case], variants: dict | None = None, threads: int = 1,
            repeats: int = 30, budget: float = 15.0, env: dict | None = None) -> list[dict]:
    """Every case under every variant ({name: (dtype, tuned)}; default float64 with default
    schedules), measured by `measure_case` in a child with `threads` threads."""
    return _child({"do": "cases", "cases": [dataclasses.asdict(c) for c in cases],
                   "variants": variants, "repeats": repeats, "budget": budget},
                  threads, env)["rows"]


def end_to_end(name: str, dtype: str = "float64", threads: int = 1, repeats: int = 30,
               steps: int = 100, annarchy: bool = True, budget: float = 15.0) -> dict:
    """E1 or E2 (`tools.examples`): compile time with an empty kernel cache and then from
    the cache, each in a fresh process, then seconds per simulated second of tecomp (runs of
    `steps` steps), the NumPy reference (one step per call) and ANNarchy, interleaved, each
    checked on the last layer first. ANNarchy's compile time is that of a fresh folder."""
    with tempfile.TemporaryDirectory(prefix="tecomp-e2e-") as scratch:
        env = {"TECOMP_CACHE": str(Path(scratch) / "cache")}
        request = {"do": "example", "name": name, "dtype": dtype, "steps": steps,
                   "budget": budget, "scratch": scratch}
        cold = _child({**request, "repeats": 0, "annarchy": False}, threads, env)
        result = _child({**request, "repeats": repeats, "annarchy": annarchy}, threads, env)
    result["compile_cold_s"], result["compile_cached_s"] = cold["compile_s"], result["compile_s"]
    if not cold["ok"]:
        result.update(ok=False, error=cold["error"])
    return result


def _child(request: dict, threads: int, env: dict | None) -> dict:
    try:
        answer = ask_once(python_module("tecomp.tools.scaling"), request, CHILD_TIMEOUT,
                          {**bench.thread_env(threads), **(env or {})})
    except ChildFailed as failure:
        raise RuntimeError(f"measurement process failed: {failure}") from None
    if "traceback" in answer:  # what `serve` answers when the request raised
        raise RuntimeError(f"measurement process failed: {answer['error']}\n"
                           f"{answer['traceback']}")
    return answer


def _handle(request: dict) -> dict:
    """The child side: {"do": "cases", ...} or {"do": "example", ...}."""
    request = dict(request)
    do = request.pop("do")
    if do == "cases":
        cases = [suite.Case(**{k: _tuples(v) for k, v in c.items()})
                 for c in request.pop("cases")]
        variants = {k: tuple(v) for k, v in (request.pop("variants") or {}).items()} or None
        return {"rows": [row for case in cases
                         for row in measure_case(case, variants, **request)]}
    if do == "example":
        return measure_example(**request)
    raise ValueError(f"unknown request {do!r}")


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


# -- in this process ------------------------------------------------------------------------------
def measure_case(case: suite.Case, variants: dict | None = None, repeats: int = 30,
                 budget: float = 15.0) -> list[dict]:
    """One row per variant ({name: (dtype, tuned)}): build the case's network, check a step
    against the NumPy reference at its precision (and against the float64 one), then time
    the steps of all variants that agree, interleaved (`harness.measure`)."""
    from tecomp import build

    variants = variants or {"float64": ("float64", False)}
    rng = np.random.default_rng(harness.SEED)
    weights, x64 = case.draw_weights(rng), case.inputs(rng, "float64")
    references = {"float64": case.reference(x64, weights)}  # B3's takes seconds: once

    def expected(dtype: str):
        def get():
            if dtype not in references:
                references[dtype] = case.reference(x64.astype(dtype), weights)
            return references[dtype]
        return get

    rows = {name: {"case": case.name, "title": case.title, "variant": name, "dtype": dtype,
                   "tuned": tuned, "threads": build.num_threads(), "pre": case.pre,
                   "post": case.post, "window": case.window, "taps": case.taps,
                   "pixels": int(np.prod(case.post)), "flops": case.flops,
                   "bytes": case.bytes(dtype), "tolerance": case.tolerance(dtype)}
            for name, (dtype, tuned) in variants.items()}
    makers = {name: _variant_maker(case, x64.astype(dtype), weights, tuned, rows[name])
              for name, (dtype, tuned) in variants.items()}
    out = harness.measure(makers, {n: expected(d) for n, (d, _) in variants.items()},
                          {n: row["tolerance"] for n, row in rows.items()}, repeats, budget,
                          required=(), kernel=case.name, keep_outputs=True)
    for name, row in rows.items():
        if name in out.errors:
            row["max_error"] = out.errors[name]
            row["error_vs_float64"] = reference.relative_error(out.outputs[name],
                                                               references["float64"])
        row["ok"] = out.ok(name)
        if not row["ok"]:
            row["error"] = out.skipped.get(name)
        samples = out.samples_ms.get(name)
        if samples:
            row.update(report.stats(samples))
            seconds = row["median_ms"] / 1e3
            row.update(gflops=case.flops / seconds / 1e9, gbs=row["bytes"] / seconds / 1e9)
            row["kernel_ms"] = out.info[name]["kernel_ms"]
    return list(rows.values())


def _variant_maker(case: suite.Case, x: np.ndarray, weights, tuned: bool, row: dict):
    """The maker of one variant's runner; it notes the compile time and whether a tuned
    record was used in the variant's row."""
    def make() -> Runner:
        from tecomp import tuning

        runner = peers.tecomp(case, x, weights, tuned=tuned)
        runner.name = row["variant"]
        row["compile_s"] = runner.info["compile_s"]
        spec = plan.network_plan(runner.net).projections[0].spec
        row["record"] = tuned and tuning.uses_tuned_record(spec)
        return runner
    return make


def measure_example(name: str, dtype: str, repeats: int, steps: int, annarchy: bool,
                    scratch: str, budget: float) -> dict:
    """See `end_to_end`: one process's compile, check and (if `repeats`) timings."""
    import tvm  # noqa: F401  (imported first: compile time excludes `import tvm`)

    from tecomp import build, tuning

    ex = getattr(examples, name.lower())(net=suite.network(dtype))
    net, x = ex.network, ex.image.astype(dtype)
    start = time.perf_counter()
    net.compile(tuned=True)
    specs = tuning.network_specs(net)
    result = {"name": name, "dtype": dtype, "threads": build.num_threads(), "dt": net.dt,
              "compile_s": time.perf_counter() - start, "layers": len(ex.layers),
              "kernels": len(specs), "tolerance": ex.tolerance(dtype), "max_error": {},
              "skipped": {}, "steps": {}, "stats": {}, "s_per_sim_s": {},
              "tuned_kernels": sum(tuning.uses_tuned_record(s) for s in specs)}
    steps = max(steps, ex.steps)  # a constant input reaches the last layer after ex.steps
    ex.input.r = x
    steady = ex.reference(x)
    makers = {"tecomp": lambda: Runner("tecomp", lambda: net.simulate(steps * net.dt),
                                       lambda _: ex.layers[-1].r),
              "numpy": lambda: Runner("numpy", lambda: ex.step(x, steady),
                                      lambda out: out[-1])}
    result["steps"] = {"tecomp": steps, "numpy": 1, "annarchy": steps}
    if annarchy and repeats:
        makers["annarchy"] = lambda: peers.annarchy(
            net, {ex.input.name: x}, ex.layers[-1].name, steps, result["threads"],
            Path(scratch) / "annarchy", f"{name}-{dtype}")
    else:
        result["skipped"]["annarchy"] = "left out (quick sizes: its C++ build takes 10-30 s)"
    out = harness.measure(makers, steady[-1], result["tolerance"], repeats, budget)
    result["max_error"] = out.errors
    result["skipped"].update(out.skipped)
    result["ok"] = out.ok("tecomp")
    result["error"] = None if result["ok"] else out.skipped.get("tecomp")
    for peer, stats in out.stats.items():
        result["stats"][peer] = stats
        per_step = stats["median_ms"] / 1e3 / result["steps"][peer]
        result["s_per_sim_s"][peer] = per_step * 1000.0 / net.dt
    for peer, info in out.info.items():
        if "compile_s" in info:
            result[f"{peer}_compile_s"] = info["compile_s"]
    return result


# -- tuning records -------------------------------------------------------------------------------
def tuning_records() -> list[dict]:
    """The readable records of the user cache and of the committed `schedules/`, as plain
    dicts (`record_dict`) for the tables and figures of `tools.plots`."""
    from tecomp import tuning

    return [record_dict(r) for r in tuning.records()]


def record_dict(record) -> dict:
    """A `tecomp.tuning.Record` as a dict: its fields (knobs in their JSON form, "path" a
    string) and "current", whether it was tuned for this machine and these versions."""
    from tecomp import tuning
    from tecomp.knobs import knobs_to_dict

    return {"path": str(record.path), "key": record.key, "knobs": knobs_to_dict(record.knobs),
            "best_ms": record.best_ms, "default_ms": record.default_ms,
            "trials": record.trials, "updated": record.updated,
            "current": tuning.is_current(record)}


def tune_now(case: suite.Case, dtype: str = "float32", trials: int = 8,
             seconds: float = 30.0, threads: int | None = None) -> dict:
    """Tune the projection of `case` now; the record goes to a new temporary folder (never
    the user's cache or `schedules/`) and is returned as read back (`record_dict`)."""
    from tecomp import build, tuning

    folder = Path(tempfile.mkdtemp(prefix="tecomp-tune-now-"))
    tuning.tune_spec(case.spec(dtype), trials, seconds, threads=threads or build.num_threads(),
                     progress=False, folder=folder)
    (record,) = tuning.records(folder)
    return record_dict(record)


def default_vs_tuned(records: list[dict], repeats: int = 30, budget: float = 15.0,
                     small_only: bool = False) -> list[dict]:
    """Steps of the suite cases (full or quick sizes; only quick ones with `small_only`)
    that have a record made on this machine and environment, with default and with tuned
    schedules, measured as `measure` does at the record's thread count (records for more
    threads than this machine has cores are left out)."""
    from tecomp import tuning

    specs = _suite_specs(small_only)
    groups: dict = {}
    for record in records:
        spec, threads = record["key"]["spec"], record["key"]["threads"]
        found = specs.get(json.dumps(spec, sort_keys=True))
        if found is None or threads > (os.cpu_count() or 1) or not record["current"]:
            continue
        folder = Path(record["path"]).parent
        env = {} if folder == tuning.records_dir() else {"TECOMP_SCHEDULES": str(folder)}
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
    from tecomp.specs import to_dict

    found = {}
    for case in [*([] if small_only else suite.cases()), *suite.cases(quick=True)]:
        for dtype in ("float32", "float64"):
            spec = json.loads(json.dumps(to_dict(case.spec(dtype))))
            found[json.dumps(spec, sort_keys=True)] = (case, dtype)
    return found


if __name__ == "__main__":
    child.serve(_handle)
