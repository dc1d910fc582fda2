"""Faults a hostile but fair user can cause at run time: denormals, threads, long delays,
damaged records, thread counts, released kernels. (Bad values at the call:
test_faults_input.py; a damaged kernel cache: test_tuning.py.)"""

import json
import math
import os
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import numpy as np
import pytest

import tecomp as ann
from tecomp import cache, denormals, schedules
from tecomp.extensions.convolution import Convolution
from tecomp.plan import MAX_DELAY_STEPS

TINY32 = np.finfo(np.float32).tiny


def decaying(geometry=(256, 256)):
    ann.setup(precision="float")
    pop = ann.Population(geometry, ann.Neuron(parameters="tau = 10.0 : population",
                                              equations="tau * dr/dt + r = 0 : init = 1.0"))
    ann.compile()
    return pop


@pytest.mark.skipif(not denormals.SUPPORTED, reason="no control of the FPU mode here")
def test_a_decaying_float32_rate_flushes_to_zero_and_keeps_its_step_time():
    pop = decaying()
    first = []
    for _ in range(30):
        start = time.perf_counter()
        ann.step()
        first.append(time.perf_counter() - start)
    ann.simulate(2000.0)  # r = 0.9 ** steps: below float32's smallest normal after ~830
    r = pop.r
    assert np.all((r == 0) | (np.abs(r) >= TINY32)), "denormal rates were stored"
    assert np.all(r == 0)  # 0.9 ** 2000 is 0 in float32: nothing stays stuck above it
    later = []
    for _ in range(30):
        start = time.perf_counter()
        ann.step()
        later.append(time.perf_counter() - start)
    # denormal arithmetic is 35x slower; a loaded machine is not
    assert np.median(later) <= 3 * np.median(first) + 1e-4


@pytest.mark.skipif(not denormals.SUPPORTED, reason="no control of the FPU mode here")
def test_flushing_is_scoped_to_the_run_and_can_be_turned_off():
    assert np.float32(TINY32) / np.float32(4) != 0  # the caller's arithmetic stays IEEE
    with denormals.flushed():
        assert np.float32(TINY32) / np.float32(4) == 0
    assert np.float32(TINY32) / np.float32(4) != 0
    script = textwrap.dedent("""
        import numpy as np, tecomp as ann
        ann.setup(precision="float", denormals="keep")
        pop = ann.Population(64, ann.Neuron(equations="10 * dr/dt + r = 0 : init = 1.0"))
        ann.compile(); ann.simulate(2000.0)
        r = pop.r
        print(int(np.sum((r != 0) & (np.abs(r) < np.finfo(np.float32).tiny))))
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert int(run.stdout.split()[-1]) == 64  # gradual underflow: stuck on denormals
    with pytest.raises(ann.InvalidValueError, match="denormals must be 'flush' or 'keep'"):
        ann.setup(denormals="fast")


def test_one_network_refuses_a_second_thread_while_others_run_in_parallel(rng):
    pre = ann.Population((64, 64), ann.Neuron(parameters="r = 0.0"))
    post = ann.Population((64, 64), ann.Neuron(equations="r = sum(exc)"))
    Convolution(pre, post, "exc").connect_filter(np.ones((3, 3)))
    ann.compile()
    failures = []

    def long_run():  # retries while the main thread holds the network
        while True:
            try:
                return ann.simulate(20000.0)
            except ann.NetworkStateError:
                continue

    runner = threading.Thread(target=long_run, name="runner")
    runner.start()
    deadline = time.time() + 60
    while runner.is_alive() and time.time() < deadline and not failures:
        try:
            ann.step()
        except ann.NetworkStateError as err:
            failures.append(str(err))
    runner.join()
    assert failures and "'runner'" in failures[0] and "MainThread" in failures[0]
    ann.step()  # the network works again once the other thread is done

    def own_network(results, k):
        net = ann.Network()
        a = net.create((32, 32), ann.Neuron(parameters="r = 0.0"))
        b = net.create((32, 32), ann.Neuron(equations="r = sum(exc)"))
        Convolution(a, b, "exc").connect_filter(np.full((3, 3), float(k)))
        net.compile()
        a.r = np.ones((32, 32))
        net.simulate(50.0)
        results[k] = float(b.r[10, 10])

    results = {}
    threads = [threading.Thread(target=own_network, args=(results, k)) for k in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {1: 9.0, 2: 18.0}


def test_long_delays_compile_in_bounded_time_and_refuse_past_the_maximum():
    pre = ann.Population((8, 8), ann.Neuron(parameters="r = 1.0"))
    posts = [ann.Population((8, 8), ann.Neuron(equations="r = sum(exc)")) for _ in range(3)]
    for post, delay in zip(posts, (1000.0, 1001.0, 1002.0), strict=True):
        Convolution(pre, post, "exc").connect_filter(np.ones((1, 1)), delays=delay)
    start = time.perf_counter()
    ann.compile()
    assert time.perf_counter() - start < 60  # once: one plan per lcm of ring lengths
    ann.simulate(1001.0)
    assert [float(p.r[0, 0]) for p in posts] == [1.0, 1.0, 1.0]
    ann.clear()
    pre = ann.Population((8, 8), ann.Neuron(parameters="r = 1.0"))
    post = ann.Population((8, 8), ann.Neuron(equations="r = sum(exc)"))
    Convolution(pre, post, "exc").connect_filter(np.ones((1, 1)),
                                                 delays=float(MAX_DELAY_STEPS + 1))
    with pytest.raises(ann.InvalidValueError, match=f"at most {MAX_DELAY_STEPS} steps"):
        ann.compile()


def test_too_many_threads_are_capped_with_a_warning(monkeypatch):
    monkeypatch.setenv("TVM_NUM_THREADS", os.environ.get("TVM_NUM_THREADS", "1"))
    cores = len(os.sched_getaffinity(0))
    with pytest.warns(UserWarning, match=f"using {cores}"):
        ann.setup(num_threads=cores + 254)
    assert os.environ["TVM_NUM_THREADS"] == str(cores)


HOSTILE_RECORDS = {
    "best_ms NaN": lambda r: dict(r, best_ms=float("nan")),
    "best_ms -1": lambda r: dict(r, best_ms=-1),
    "garbage trace": lambda r: dict(r, knobs={"trace": "garbage"}),
    "unknown knob": lambda r: dict(r, knobs=dict(r["knobs"], warp=4)),
    "knob of the wrong type": lambda r: dict(r, knobs=dict(r["knobs"], parallel="yes")),
    "a list": lambda r: [r],
}


@pytest.mark.parametrize("damage", list(HOSTILE_RECORDS))
def test_a_hostile_record_never_breaks_compile(damage, tmp_path, monkeypatch, rng):
    monkeypatch.setenv("TECOMP_CACHE", str(tmp_path))
    pre = ann.Population((16, 16), ann.Neuron(parameters="r = 0.0"))
    post = ann.Population((16, 16), ann.Neuron(equations="r = sum(exc) + 0.5"))
    proj = Convolution(pre, post, "exc").connect_filter(np.ones((3, 3)))
    spec = proj.spec()
    path = cache.save(spec, schedules.default_knobs(spec), 0.5, 1.0, [])
    path.write_text(json.dumps(HOSTILE_RECORDS[damage](json.loads(path.read_text())),
                               allow_nan=True))
    x = rng.random((16, 16))
    pre.r = x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ann.compile()
    ann.step()
    assert math.isclose(float(post.r[5, 5]), float(x[4:7, 4:7].sum()) + 0.5)


def test_a_deeply_nested_record_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setenv("TECOMP_CACHE", str(tmp_path))
    pre = ann.Population((16, 16), ann.Neuron(parameters="r = 0.0"))
    post = ann.Population((16, 16), ann.Neuron(equations="r = sum(exc)"))
    spec = Convolution(pre, post, "exc").connect_filter(np.ones((3, 3))).spec()
    path = cache.save(spec, schedules.default_knobs(spec), 0.5, 1.0, [])
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.warns(UserWarning, match="unreadable"):
        assert cache.lookup(spec) is None
    ann.compile()


def test_clear_releases_the_kernels():
    script = textwrap.dedent("""
        import gc, os, numpy as np, tecomp as ann
        from tecomp.extensions.convolution import Convolution
        def rss():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        def one(n):
            ann.clear()
            pre = ann.Population((20 + n, 24), ann.Neuron(parameters="r = 0.0"))
            post = ann.Population((20 + n, 24), ann.Neuron(equations="r = sum(exc) + 1"))
            Convolution(pre, post, "exc").connect_filter(np.ones((3, 3)))
            ann.compile(); ann.simulate(2.0)
        for n in range(25):
            one(n)  # build and cache every kernel once
        for n in range(5):
            one(n)
        ann.clear(); gc.collect(); base = rss()
        for n in range(5, 25):
            one(n)
        ann.clear(); gc.collect()
        print(rss() - base)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert float(run.stdout.split()[-1]) < 8.0  # MB, for 20 networks loaded and cleared


def test_a_thread_count_above_the_cores_is_capped_at_import():
    script = "import os, tecomp.build; print(os.environ['TVM_NUM_THREADS'])"
    for given in ("256", "0", "many"):
        run = subprocess.run([sys.executable, "-W", "always", "-c", script],
                             capture_output=True, text=True, timeout=120,
                             env={**os.environ, "TVM_NUM_THREADS": given})
        assert run.stdout.split()[-1] == str(len(os.sched_getaffinity(0)))
        assert f"TVM_NUM_THREADS={given!r}" in run.stderr


@pytest.mark.parametrize("budget", [dict(trials=-5), dict(trials=2.5), dict(seconds=0),
                                    dict(seconds=float("nan")), dict(threads=0),
                                    dict(metaschedule=-1)])
def test_a_tuning_budget_that_makes_no_sense_is_refused_before_any_work(budget):
    pre = ann.Population((16, 16), ann.Neuron(parameters="r = 0.0"))
    post = ann.Population((16, 16), ann.Neuron(equations="r = sum(exc)"))
    Convolution(pre, post, "exc").connect_filter(np.ones((3, 3)))
    name = next(iter(budget))
    with pytest.raises(ann.InvalidValueError, match=f"tune: {name} must be"):
        ann.tune(**budget)


def test_an_unwritable_cache_costs_records_and_libraries_never_results(tmp_path, monkeypatch,
                                                                        rng):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache should be")
    monkeypatch.setenv("TECOMP_CACHE", str(blocked))
    pre = ann.Population((16, 16), ann.Neuron(parameters="r = 0.0"))
    post = ann.Population((16, 16), ann.Neuron(equations="r = sum(exc)"))
    Convolution(pre, post, "exc").connect_filter(np.ones((3, 3)))
    with pytest.warns(UserWarning, match="cannot write its record"):
        (result,) = ann.tune(trials=2, seconds=60, threads=1, progress=False)
    assert math.isfinite(result.best_ms) and result.record is None
    with pytest.warns(UserWarning, match="cannot cache the kernel"):
        ann.compile()
    x = rng.random((16, 16))
    pre.r = x
    ann.step()
    assert math.isclose(float(post.r[5, 5]), float(x[4:7, 4:7].sum()))
