"""Schedule templates, the tuner and the cache."""

import dataclasses
import json
import math
import os
import random
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

import tecomp as ann
from tecomp import build, cache, kernels, reference, schedules, tuning
from tecomp.extensions.convolution import Convolution, Pooling
from tecomp.knobs import TraceKnobs, WindowKnobs, knobs_to_dict
from tecomp.specs import NeuronSpec
from tecomp.tuning import search
from tests.helpers import assert_close

# (pre, post, weights shape or extent, method, options): one of each kernel family
FAMILIES = {
    "conv-2d-pad": ((24, 32), (24, 32), (3, 3), "connect_filter", {"padding": 0.5}),
    "conv-2d-border-even": ((24, 32), (24, 32), (4, 2), "connect_filter", {"padding": "border"}),
    "conv-stride-2": ((32, 32), (16, 16), (5, 5), "connect_filter", {}),
    "conv-1d": ((64,), (64,), (7,), "connect_filter", {"padding": -1.0}),
    "conv-3d": ((8, 8, 8), (8, 8, 8), (3, 3, 3), "connect_filter", {}),
    "bank": ((32, 32), (16, 16, 16), (16, 3, 3), "connect_filters", {}),
    "cnn-layer": ((16, 16, 8), (16, 16, 16), (16, 3, 3, 8), "connect_filters", {}),
    "cnn-layer-14": ((14, 14, 8), (14, 14, 16), (16, 3, 3, 8), "connect_filters", {}),
    "keep-last": ((16, 32, 3), (16, 32, 3), (3, 3), "connect_filter",
                  {"keep_last_dimension": True}),
    "table": ((20, 20), (8, 8), (3, 3), "connect_filter",
              {"subsampling": np.stack(np.meshgrid(np.arange(8) * 2 + 3, np.arange(8) * 2,
                                                   indexing="ij"), -1).reshape(-1, 2)}),
    "pool-max": ((32, 48, 16), (16, 24, 16), (2, 2, 1), "pooling", {}),
    "pool-mean-span": ((16, 16, 8), (8, 8), (2, 2, 8), "pooling", {}),
    # 2 MiB in float32: its default tests taps in range instead of padding a copy of pre
    "conv-large": ((512, 1024), (512, 1024), (3, 3), "connect_filter", {"padding": 0.5}),
}
PSPS = {"conv-2d-pad": "w * log(1 + pre.r)", "bank": "w * pre.r", "conv-1d": "pos(w - pre.r)"}
OPERATIONS = {"conv-2d-border-even": "max", "conv-3d": "mean", "pool-mean-span": "mean",
              "keep-last": "min"}


def family(name, precision="double"):
    """(spec, compute(knobs) -> tecomp result, expected) of a family, via the user API."""
    pre_g, post_g, shape, method, options = FAMILIES[name]
    net = ann.Network(precision=precision)
    pre = net.create(pre_g, ann.Neuron(parameters="r = 0.0"))
    post = net.create(post_g, ann.Neuron(equations="r = sum(exc)"))
    rng = np.random.default_rng(len(name))
    x = rng.uniform(0.1, 1.0, pre_g)
    psp, operation = PSPS.get(name), OPERATIONS.get(name)
    if method == "pooling":
        proj = Pooling(pre, post, "exc", operation=operation or "max")
        proj.connect_pooling(extent=shape)
        expected = reference.pooling(x, post_g, extent=shape, operation=operation or "max")
        extra = []
    else:
        proj = Convolution(pre, post, "exc", psp=psp or "w * pre.r",
                           operation=operation or "sum")
        w = rng.uniform(-1, 1, shape)
        getattr(proj, method)(w, **options)
        expected = reference.convolution(x, w, post_g, bank=method == "connect_filters",
                                         psp=psp or "w * pre.r", operation=operation or "sum",
                                         **options)
        extra = [w] + ([options["subsampling"]] if "subsampling" in options else [])
    spec = proj.spec(net.dtype)

    def compute(knobs):
        fn = kernels.compile_kernel(spec, knobs)
        dtypes = [d for _, d in kernels.signature(spec)]
        args = [build.aligned_copy(a, d) for a, d in zip([x, *extra], dtypes, strict=False)]
        out = build.aligned_empty(post_g, net.dtype)
        fn(*args, out)
        return out

    return spec, compute, expected


@pytest.mark.parametrize("precision", ["double", "float"])
@pytest.mark.parametrize("name", list(FAMILIES))
def test_sampled_knobs_never_change_results(name, precision):
    spec, compute, expected = family(name, precision)
    space = schedules.candidates(spec)
    assert schedules.default_knobs(spec) in space
    rng = np.random.default_rng(7)
    picks = [schedules.default_knobs(spec)] + [space[i] for i in rng.choice(
        len(space), size=min(3, len(space)), replace=False)]
    for knobs in picks:
        assert_close(compute(knobs), expected, spec.dtype)


@pytest.mark.parametrize("precision", ["double", "float"])
def test_a_small_sum_over_a_large_input_defaults_to_inline_padding(precision):
    spec, compute, expected = family("conv-large", precision)
    knobs = schedules.default_knobs(spec)
    assert knobs.inline_padding and knobs.vector_axis is None and knobs.block_axis is None
    assert_close(compute(knobs), expected, spec.dtype)
    # the same window over a small input, or as a max, keeps the padded copy
    small, _, _ = family("conv-2d-pad", precision)
    assert not schedules.default_knobs(small).inline_padding
    assert not schedules.default_knobs(dataclasses.replace(spec, operation="max")).inline_padding


@pytest.mark.parametrize("precision", ["double", "float"])
def test_a_window_over_rows_defaults_to_a_tile_of_two_rows(precision):
    """Rows whose windows overlap share their loads (checked against the reference, with
    every family's default, in test_sampled_knobs_never_change_results); a pooling window
    and a stride of 2 do not overlap."""
    spec, compute, expected = family("conv-2d-border-even", precision)
    knobs = schedules.default_knobs(spec)
    assert (knobs.block_axis, knobs.block) == (0, 2) and knobs.vector_axis == 1
    assert_close(compute(knobs), expected, spec.dtype)
    for other in ("pool-max", "conv-stride-2", "bank"):
        assert schedules.default_knobs(family(other, precision)[0]).block_axis != 0


@pytest.mark.parametrize("precision", ["double", "float"])
@pytest.mark.parametrize("registers", [28, 16, 8])
@pytest.mark.parametrize("name", ["cnn-layer", "cnn-layer-14"])
def test_a_bank_tile_fills_the_accumulator_registers(monkeypatch, name, precision, registers):
    """Positions x filter vectors up to the accumulators the CPU has (28 with 32 registers
    and two full-width FMA units, else 8), range-tested taps instead of a padded copy of
    pre; every tile gives the reference's result."""
    monkeypatch.setattr(schedules, "accumulators", lambda: registers)
    spec, compute, expected = family(name, precision)
    knobs = schedules.default_knobs(spec)
    vectors = knobs.vector_width // schedules.lanes(spec.dtype)
    assert knobs.vector_axis == 2 and knobs.inline_padding
    assert knobs.block == max(b for b in schedules.BANK_BLOCKS
                              if b * max(vectors, 1) <= registers and spec.post[1] % b == 0)
    assert knobs.block_axis == 1
    assert knobs in schedules.candidates(spec)
    assert_close(compute(knobs), expected, spec.dtype)
    # a border padding keeps the padded copy (clamped indices, not a range test)
    border = dataclasses.replace(spec, padding="border")
    assert not schedules.default_knobs(border).inline_padding


def test_fma_units_and_accumulators(monkeypatch):
    assert build.fma_units("znver4", 64) == 1  # 512-bit FMAs as two 256-bit halves
    assert build.fma_units("znver4", 32) == build.fma_units("sapphirerapids", 64) == 2
    for width, units, expected in ((64, 2, 28), (64, 1, 8), (32, 2, 8)):
        monkeypatch.setattr(build, "host", lambda w=width, u=units: {
            "vector_bytes": w, "fma_units": u})
        assert build.accumulators() == expected


def test_a_damaged_machine_description_is_described_again(tmp_path, monkeypatch):
    """machine.json is read back, never trusted: a value `_describe` cannot have written
    (an edit, a damaged file) gets the machine described anew instead of a crash or a
    nonsense register tile."""
    monkeypatch.setenv("TECOMP_CACHE", str(tmp_path))
    monkeypatch.setattr(build, "_fingerprint", lambda: "this-machine")
    good = build._describe()
    path = tmp_path / "machine.json"
    damaged = [json.dumps({"this-machine": good | {"fma_units": bad}})
               for bad in ("two", "2", None, [2], -1, 0, 10**6, 2.7, True)]
    damaged += [json.dumps({"this-machine": good | {"vector_bytes": 0}}), "[" * 200_000]
    try:
        for text in damaged:
            path.write_text(text)
            build.host.cache_clear()
            assert build.host() == good, text[:80]
            assert build.accumulators() in (8, 28)
            assert json.loads(path.read_text())["this-machine"] == good  # written again
    finally:
        build.host.cache_clear()


def test_neuron_template_knobs():
    spec = NeuronSpec(size=4096, inputs=("g",), targets=("exc",), target_counts=(2,),
                      outputs=("r", "u"), exprs=(
                          ("bin", "*", ("var", "g"), ("sum", "exc")),
                          ("call", "tanh", (("sum", "exc"),))), dtype="float64")
    rng = np.random.default_rng(0)
    g, a, b = (build.aligned_copy(rng.random(4096), "float64") for _ in range(3))
    for knobs in schedules.candidates(spec):
        r, u = build.aligned_empty(4096, "float64"), build.aligned_empty(4096, "float64")
        kernels.compile_kernel(spec, knobs)(g, a, b, r, u)
        assert_close(r, g * (a + b))
        assert_close(u, np.tanh(a + b))


@pytest.fixture
def spec():
    return family("conv-stride-2")[0]


def test_record_round_trip_and_compile_uses_it(spec, tmp_path, monkeypatch):
    monkeypatch.setenv("TECOMP_CACHE", str(tmp_path))
    knobs = dataclasses.replace(schedules.default_knobs(spec), unroll=False, parallel=False)
    path = cache.save(spec, knobs, 0.5, 1.0, [{"knobs": knobs_to_dict(knobs), "ms": 0.5,
                                               "error": None}])
    assert path.parent == tmp_path / "records"
    record = cache.lookup(spec)
    assert record.knobs == knobs and record.best_ms == 0.5
    assert kernels.choose_knobs(spec) == (knobs, True)
    assert kernels.choose_knobs(spec, tuned=False) == (schedules.default_knobs(spec), False)
    # a slower concurrent result merges its trials but keeps the faster schedule
    other = dataclasses.replace(knobs, unroll=True)
    cache.save(spec, other, 0.9, 1.0, [{"knobs": knobs_to_dict(other), "ms": 0.9,
                                        "error": None}])
    merged = cache.lookup(spec)
    assert merged.knobs == knobs and len(merged.trials) == 2


def test_key_changes_with_every_part(spec, monkeypatch):
    base = cache.digest(cache.key(spec))
    changed = [dataclasses.replace(spec, pre=(34, 32)), dataclasses.replace(spec, post=(8, 16)),
               dataclasses.replace(spec, window=(3, 5)), dataclasses.replace(spec, operation="max"),
               dataclasses.replace(spec, psp=("var", "w")), dataclasses.replace(spec, padding=1.0),
               dataclasses.replace(spec, dtype="float32"),
               dataclasses.replace(spec, axes=(spec.axes[0], dataclasses.replace(spec.axes[1],
                                                                                  stride=1)))]
    digests = {cache.digest(cache.key(s)) for s in changed}
    assert base not in digests and len(digests) == len(changed)
    assert cache.digest(cache.key(spec, threads=7)) != base
    for part, value in [("target", "llvm -mcpu=other"), ("tvm", "0.0"), ("tvm_ffi", "0.0"),
                        ("template", -1)]:
        static = dict(cache._environment_static(), **{part: value})
        monkeypatch.setattr(cache, "_environment_static", lambda static=static: static)
        assert cache.digest(cache.key(spec)) != base
        monkeypatch.undo()


def test_corrupt_and_foreign_records_are_skipped(spec, tmp_path, monkeypatch):
    monkeypatch.setenv("TECOMP_CACHE", str(tmp_path))
    knobs = schedules.default_knobs(spec)
    path = cache.save(spec, knobs, 0.5, 1.0, [])
    path.write_text("{ not json")
    with pytest.warns(UserWarning, match="unreadable"):
        assert cache.lookup(spec) is None
    foreign = json.loads(json.dumps({"format": cache.FORMAT, "key": {"spec": "other"},
                                     "knobs": knobs_to_dict(knobs), "best_ms": 0.1,
                                     "default_ms": 0.2}))
    path.write_text(json.dumps(foreign))
    with pytest.warns(UserWarning, match="another spec"):
        assert cache.lookup(spec) is None
    stale = dict(foreign, key=cache.key(spec),
                 knobs=knobs_to_dict(dataclasses.replace(knobs, vector_width=3)))
    path.write_text(json.dumps(stale))
    with pytest.warns(UserWarning, match="not valid"):
        assert cache.lookup(spec) is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert kernels.choose_knobs(spec) == (knobs, False)  # and compile falls back


def test_compiled_kernels_come_back_from_disk(spec, tmp_path, monkeypatch):
    monkeypatch.setenv("TECOMP_CACHE", str(tmp_path))
    knobs = schedules.default_knobs(spec)
    kernels.compile_kernel(spec, knobs)
    assert cache.library_path(spec, knobs).exists()

    def no_build(mod):
        raise AssertionError("the kernel was rebuilt")

    monkeypatch.setattr(build, "compile_module", no_build)
    assert kernels.compile_kernel(spec, knobs) is not None
    other = dataclasses.replace(knobs, unroll=not knobs.unroll)  # never loaded here
    cache.write_atomic(cache.library_path(spec, other), b"truncated")
    with pytest.warns(UserWarning, match="set aside"), pytest.raises(AssertionError):
        kernels.compile_kernel(spec, other)


WARM_START = """
import sys, time
start = time.perf_counter()
import numpy as np
import tecomp as ann
from tecomp.extensions.convolution import Convolution, Pooling
pre = ann.Population((32, 32, 3), ann.Neuron(parameters="r = 0.0"))
mid = ann.Population((32, 32, 4), ann.Neuron(equations="r = sum(exc)"))
out = ann.Population((16, 16, 4), ann.Neuron(equations="r = sum(exc)"))
Convolution(pre, mid, "exc").connect_filters(np.ones((4, 3, 3, 3)))
Pooling(mid, out, "exc", operation="max").connect_pooling(extent=(2, 2, 1))
ann.compile(silent=True)
pre.r = 1.0
ann.step()
ann.step()
print(float(out.r.max()), "tvm" in sys.modules, round(time.perf_counter() - start, 3))
"""


def test_a_warm_process_steps_without_tvms_compiler(tmp_path):
    """The second process finds every kernel in the cache: it loads them with TVM's
    runtime alone and never imports the compiler (`tvm`); the first builds them."""
    env = {**os.environ, "TECOMP_CACHE": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", WARM_START], env=env, text=True,
                           capture_output=True, timeout=300) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    (cold_max, cold_tvm, _), (warm_max, warm_tvm, _) = (r.stdout.split() for r in runs)
    assert cold_max == warm_max == "27.0"  # 3x3x3 ones over ones, two steps down the chain
    assert (cold_tvm, warm_tvm) == ("True", "False")


CORRUPT_THE_CACHE = """
import os, sys, warnings
import numpy as np
import tecomp as ann
from tecomp import cache, kernels, reference
from tecomp.extensions.convolution import Convolution

def run(seed):
    ann.clear()
    rng = np.random.default_rng(seed)
    pre = ann.Population((20, 24), ann.Neuron(parameters="r = 0.0"))
    post = ann.Population((20, 24), ann.Neuron(equations="r = sum(exc)"))
    posts = ann.Population((10, 12), ann.Neuron(equations="r = sum(exc)"))
    w = rng.uniform(-1, 1, (3, 3))
    Convolution(pre, post, "exc").connect_filter(w)
    Convolution(pre, posts, "exc", operation="max").connect_filter(w)
    x = rng.uniform(0, 1, (20, 24))
    pre.r = x
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        ann.compile()
    ann.simulate(1.0)
    assert reference.relative_error(post.r, reference.convolution(x, w, (20, 24))) < 1e-12
    assert reference.relative_error(
        posts.r, reference.convolution(x, w, (10, 12), operation="max")) < 1e-12
    return [str(m.message) for m in said]

def damage(path, data):
    # a new file in place of the old (a later process finds it so; this one still has the
    # old one mapped, and writing into a mapped library would crash it, not the cache)
    cache.write_atomic(path, data)

assert run(0) == []
libraries = sorted((cache.user_dir() / "kernels").glob("*.so"))
assert len(libraries) >= 2, libraries
first, second = libraries[:2]
size = first.stat().st_size
for mode in ("truncate 3%", "truncate 30%", "truncate 55%", "flip bytes", "swap", "no sidecar"):
    if mode.startswith("truncate"):
        keep = int(size * float(mode.split()[1][:-1]) / 100)
        damage(first, first.read_bytes()[:keep])
    elif mode == "flip bytes":
        data = bytearray(first.read_bytes())
        for at in range(len(data) // 4, len(data) // 2, 97):
            data[at] ^= 0xFF
        damage(first, bytes(data))
    elif mode == "swap":
        a, b = first.read_bytes(), second.read_bytes()
        damage(first, b)
        damage(second, a)
    else:
        first.with_suffix(".json").unlink()
    said = run(1)
    assert any("set aside" in m for m in said), (mode, said)
    print("ok", mode)
"""


def test_a_damaged_kernel_cache_is_set_aside_and_rebuilt(tmp_path):
    """Truncated, overwritten, swapped or unvouched libraries: never loaded (loading one can
    kill the process), set aside with a warning, rebuilt, and the results stay right."""
    env = {**os.environ, "TECOMP_CACHE": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", CORRUPT_THE_CACHE], capture_output=True,
                         text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("ok ") == 6
    assert list((tmp_path / "kernels" / "rejected").glob("*.so"))


FAKE_WORKERS = {
    "crash": "import os; os.abort()",
    "hang": "import time; time.sleep(60)",
    "garbage-exit": "import sys; sys.stdin.readline(); sys.exit(3)",
}


@pytest.mark.parametrize("behaviour", list(FAKE_WORKERS))
def test_a_candidate_that_kills_or_hangs_the_worker_scores_inf(spec, behaviour):
    worker = tuning.Worker(command=[sys.executable, "-c", FAKE_WORKERS[behaviour]])
    outcome = worker.measure(spec, schedules.default_knobs(spec), timeout=3)
    worker.close()
    assert math.isinf(outcome["ms"])
    assert ("timed out" if behaviour == "hang" else "worker died") in outcome["error"]


def test_a_failing_candidate_is_recorded_and_tuning_goes_on(spec, tmp_path, monkeypatch):
    monkeypatch.setenv("TECOMP_CACHE", str(tmp_path))
    worker = tuning.Worker(threads=1)
    bad = WindowKnobs(vector_axis=7, vector_width=4)  # a well-formed knob that cannot build
    failed = worker.measure(spec, bad)
    good = worker.measure(spec, schedules.default_knobs(spec))
    worker.close()
    assert math.isinf(failed["ms"]) and failed["error"]
    assert math.isfinite(good["ms"]) and good["error"] is None


def test_two_trial_smoke_tune(spec, tmp_path, monkeypatch):
    monkeypatch.setenv("TECOMP_CACHE", str(tmp_path))
    result = tuning.tune_spec(spec, trials=2, seconds=60, threads=1, progress=False)
    assert len(result.trials) == 2 and result.best_ms <= result.default_ms
    assert all(math.isfinite(t["ms"]) for t in result.trials)
    assert cache.lookup(spec, threads=1).knobs == result.knobs


class ScriptedWorker:
    """Times by knobs: the defaults always 1.0 ms, the first other candidate `first` then
    `again`, every other candidate 2.0 ms."""

    def __init__(self, default, first: float, again: float):
        self.default, self.first, self.again, self.lucky = default, first, again, None

    def measure(self, spec, knobs):
        if knobs == self.default:
            ms = 1.0
        elif self.lucky is None or knobs == self.lucky:
            ms = self.again if self.lucky is not None else self.first
            self.lucky = knobs
        else:
            ms = 2.0
        return {"ms": ms, "error": None, "build_s": 0.0}


@pytest.mark.parametrize("again, wins", [(1.2, False), (0.8, True)])
def test_a_lucky_trial_is_timed_again_before_it_is_kept(spec, again, wins):
    """A candidate that beat the defaults once by luck (0.5 ms, then 1.2) loses to them on
    the median of its timings; one that is really faster (0.5, then 0.8) keeps its lead."""
    default = schedules.default_knobs(spec)
    worker = ScriptedWorker(default, first=0.5, again=again)
    result = tuning.tune_spec(spec, trials=8, seconds=60, worker=worker, progress=False,
                              save=False)
    lucky = next(t for t in result.trials if t["knobs"] == knobs_to_dict(worker.lucky))
    assert lucky["confirm_ms"] == [again] * search.CONFIRM_ROUNDS
    assert result.default_ms == 1.0
    assert (result.knobs == worker.lucky) is wins
    assert result.best_ms == (again if wins else 1.0)


class FinalistWorker:
    """The defaults 2.0 ms; the first three other candidates 1.00-1.02 ms at first, then 1.3;
    the fourth 1.2 (never timed again: not among the three fastest); the rest 5.0. Every
    second timing of the defaults fails (inf)."""

    def __init__(self, default):
        self.default, self.seen, self.default_calls = default, [], 0

    def measure(self, spec, knobs):
        if knobs == self.default:
            self.default_calls += 1
            ms = math.inf if self.default_calls == 2 else 2.0
        else:
            if knobs not in self.seen:
                self.seen.append(knobs)
                rank = self.seen.index(knobs)
                ms = (1.00, 1.01, 1.02, 1.2)[rank] if rank < 4 else 5.0
            else:
                ms = 1.3
        return {"ms": ms, "error": None, "build_s": 0.0}


def test_only_the_trials_timed_again_compete_at_the_end(spec):
    """A trial timed once (1.2 ms) does not beat finalists whose medians rose on being timed
    again (1.3 ms); a failed re-timing (inf) of the defaults is not held against them."""
    worker = FinalistWorker(schedules.default_knobs(spec))
    result = tuning.tune_spec(spec, trials=8, seconds=60, worker=worker, progress=False,
                              save=False)
    assert result.knobs in worker.seen[:3] and result.best_ms == 1.3
    assert result.default_ms == 2.0


def test_a_tune_replaces_the_record_it_timed_again(spec, tmp_path, monkeypatch):
    """A record lucky in an earlier tune (0.9 ms) is a candidate of the next one, which
    times it again; the new best replaces it even with a higher time (its median)."""
    monkeypatch.setenv("TECOMP_CACHE", str(tmp_path))
    lucky = dataclasses.replace(schedules.default_knobs(spec), unroll=False, parallel=False)
    cache.save(spec, lucky, 0.9, 2.0, [{"knobs": knobs_to_dict(lucky), "ms": 0.9}])
    default = schedules.default_knobs(spec)

    class Worker:
        tried = []

        def measure(self, spec, knobs):
            self.tried.append(knobs)
            ms = 2.0 if knobs == default else 1.3 if knobs == lucky else 1.0
            return {"ms": ms, "error": None, "build_s": 0.0}

    worker = Worker()
    result = tuning.tune_spec(spec, trials=6, seconds=60, worker=worker, progress=False)
    assert worker.tried[1] == lucky  # timed right after the defaults
    assert result.best_ms == 1.0 and result.knobs != lucky
    assert cache.lookup(spec).knobs == result.knobs


def test_trace_records_schedule_like_their_source(spec):
    """A record may hold a schedule trace (what MetaSchedule produces) instead of knobs."""
    import tvm
    from tvm import s_tir

    sch = s_tir.Schedule(kernels.prim_func(spec))
    schedules.schedule(sch, spec, dataclasses.replace(schedules.default_knobs(spec),
                                                      block_axis=0, block=2))
    knobs = TraceKnobs(tvm.ir.save_json(sch.trace.as_json()))
    _, compute, expected = family("conv-stride-2")
    assert_close(compute(knobs), expected)


@pytest.mark.slow
def test_metaschedule_second_opinion(tmp_path, monkeypatch):
    pytest.importorskip("psutil")
    pytest.importorskip("cloudpickle")
    monkeypatch.setenv("TECOMP_CACHE", str(tmp_path))
    spec, compute, expected = family("conv-stride-2")
    result = tuning.tune_spec(spec, trials=4, seconds=60, threads=1, progress=False,
                             metaschedule=8)
    ms_trial = [t for t in result.trials if t["source"] == "metaschedule"]
    assert len(ms_trial) == 1 and math.isfinite(ms_trial[0]["ms"]), ms_trial
    assert_close(compute(TraceKnobs(**ms_trial[0]["knobs"])), expected)


def test_an_update_with_random_draws_tunes(tmp_path, monkeypatch):
    """Its draw counter is a scalar kernel argument; the worker passes a number for it."""
    monkeypatch.setenv("TECOMP_CACHE", str(tmp_path))
    ann.Population(4096, ann.Neuron(equations="r = Normal(0.0, 0.1) + 1"))
    (result,) = ann.tune(trials=2, seconds=60, threads=1, progress=False)
    assert all(t["error"] is None for t in result.trials), result.trials
    assert math.isfinite(result.best_ms) and result.record is not None


def test_compile_tunes_what_has_no_record_within_the_budget(tmp_path, monkeypatch):
    monkeypatch.setenv("TECOMP_CACHE", str(tmp_path))

    def build():
        net = ann.Network()
        pre = net.create((24, 24), ann.Neuron(parameters="r = 1.0"))
        post = net.create((24, 24), ann.Neuron(equations="r = sum(exc) + 0.5"))
        Convolution(pre, post, "exc").connect_filter(np.ones((3, 3)))
        return net, post

    net, post = build()
    net.compile(silent=True, tune=8)
    specs = tuning.network_specs(net)
    assert all(tuning.lookup(spec) is not None for spec in specs)
    net.simulate(1)
    np.testing.assert_allclose(post.r[1:-1, 1:-1], 9.5)
    # everything has a record now: no worker is started, nothing is printed
    monkeypatch.setattr(search, "Worker", None)
    again, _ = build()
    again.setup(autotune=4)
    again.compile(silent=True)
    with pytest.raises(ann.InvalidValueError, match="tune must be a number of seconds >= 0"):
        build()[0].compile(tune=-1)


def test_a_spent_budget_starts_no_trial(spec, tmp_path, monkeypatch):
    """With no time left, a kernel's search times its defaults only, and past the deadline
    the kernels not reached are left alone (no record: they keep their defaults)."""
    monkeypatch.setenv("TECOMP_CACHE", str(tmp_path))
    worker = search.Worker()
    try:
        log = search._search(spec, 64, 0.0, worker, random.Random(0), progress=False)
    finally:
        worker.close()
    assert [t["candidate"] for t in log] == [schedules.default_knobs(spec)]
    assert search.tune_specs([spec], seconds=60.0, progress=False,
                             deadline=time.perf_counter() - 1) == []
    assert tuning.lookup(spec) is None


def test_a_regular_projection_tunes(tmp_path, monkeypatch):
    monkeypatch.setenv("TECOMP_CACHE", str(tmp_path))
    pre = ann.Population(300, ann.Neuron(parameters="r = 1.0"))
    post = ann.Population(200, ann.Neuron(equations="r = sum(exc)"))
    ann.Projection(pre, post, "exc").connect_fixed_probability(0.1, ann.Uniform(0, 1))
    results = ann.tune(trials=3, seconds=60, threads=1, progress=False)
    matrix = [r for r in results if type(r.spec).__name__ == "MatrixSpec"]
    assert [r.spec.layout for r in matrix] == ["ell", "masked"]  # both layouts it may take
    for result in matrix:
        assert all(t["error"] is None for t in result.trials)
        assert math.isfinite(result.best_ms) and result.record is not None


def _record_for(spec, knobs, target: str, folder, best_ms=0.5):
    """A record of `spec` as tuned on a machine whose LLVM target reads `target`."""
    wanted = cache.key(spec) | {"target": target}
    path = folder / cache.record_name(spec, cache.digest(wanted))
    path.write_text(json.dumps({"format": cache.FORMAT, "key": wanted,
                                "knobs": knobs_to_dict(knobs), "best_ms": best_ms,
                                "default_ms": 1.0, "trials": [], "updated": ""}))
    return path


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """An empty user cache's records folder."""
    monkeypatch.setenv("TECOMP_CACHE", str(tmp_path))
    (tmp_path / "records").mkdir()
    return tmp_path / "records"


def test_a_record_from_another_cpu_of_the_same_class_is_a_start(spec, folder):
    here = build.host()["target"]
    knobs = dataclasses.replace(schedules.default_knobs(spec), unroll=False, parallel=False)
    assert cache.lookup(spec) is None and cache.lookup_travelled(spec) is None
    other_class = {"avx512": "+avx2", "avx2": "+neon"}.get(build.isa_class(here), "+avx512f")
    _record_for(spec, knobs, f'{{"kind":"llvm","mattr":["{other_class}"]}}', folder)
    assert cache.lookup_travelled(spec) is None  # another vector ISA: no guide
    _record_for(spec, knobs, here.replace('"mcpu":"', '"mcpu":"other-'), folder)
    assert cache.lookup(spec) is None  # not this CPU...
    assert cache.lookup_travelled(spec).knobs == knobs  # ...but the same class
    assert kernels.choose_knobs(spec) == (knobs, True)
    # the tuner tries it right after the defaults
    result = tuning.tune_spec(spec, trials=2, seconds=60, threads=None, progress=False)
    assert [t["knobs"] for t in result.trials] == [knobs_to_dict(schedules.default_knobs(spec)),
                                                   knobs_to_dict(knobs)]


def test_a_travelled_record_of_the_same_cpu_model_comes_first(spec, folder):
    here = build.host()["target"]
    fast = dataclasses.replace(schedules.default_knobs(spec), unroll=False, parallel=False)
    alike = dataclasses.replace(schedules.default_knobs(spec), unroll=False, parallel=True)
    _record_for(spec, fast, here.replace('"mcpu":"', '"mcpu":"other-'), folder, best_ms=0.1)
    assert cache.lookup_travelled(spec).knobs == fast  # the only one: the fastest
    # the same model with other features (another stepping, microcode, VM): slower, first
    _record_for(spec, alike, here.replace('"mattr":["', '"mattr":["+made-up","'), folder,
                best_ms=0.9)
    assert cache.lookup(spec) is None and cache.lookup_travelled(spec).knobs == alike


def test_isa_classes_of_llvm_targets():
    assert build.isa_class('"mattr":["+avx2","+avx512f"]') == "avx512"
    assert build.isa_class('"mattr":["+avx2","-avx512f"]') == "avx2"
    assert build.isa_class('{"kind":"llvm","mtriple":"aarch64-linux-gnu"}') == "neon"
    assert build.isa_class('"mattr":["+sse4.2"]') == "generic"


def test_an_avx2_target_is_simulated_on_request(tmp_path):
    code = ("from tecomp import build; h = build.host(); "
            "print(build.isa_class(h['target']), build.vector_bytes())")
    env = os.environ | {"TECOMP_CACHE": str(tmp_path), "TECOMP_TARGET_ISA": "avx2"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    if build.isa_class(build.host()["target"]) in ("avx512", "avx2"):
        assert out == ["avx2", "32"]


@pytest.mark.parametrize("given, isa", [("", ""), ("avx2", "avx2"), (" AVX2 ", "avx2")])
def test_the_target_isa_variable_is_read(given, isa, monkeypatch):
    monkeypatch.setenv("TECOMP_TARGET_ISA", given)
    assert build.target_isa() == isa


@pytest.mark.parametrize("given", ["avx512", "sse4", "garbage"])
def test_an_unknown_target_isa_is_refused(given, monkeypatch):
    """A misspelt ISA would otherwise build for this CPU and look like the one asked for."""
    monkeypatch.setenv("TECOMP_TARGET_ISA", given)
    with pytest.raises(ann.InvalidValueError, match="TECOMP_TARGET_ISA must be 'avx2'"):
        build.target_isa()
