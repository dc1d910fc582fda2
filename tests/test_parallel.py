"""Network.parallel_run: ANNarchy 5's interface and rules, on local processes and on Dask;
copies load their kernels from the cache (shipped to Dask workers that lack them); failed
copies and killed workers."""

import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

import tecomp as ann
from tecomp import cache, kernels, parallel
from tecomp.errors import InvalidTypeError, InvalidValueError, ParallelRunError
from tecomp.extensions.convolution import Convolution


class Blur(ann.Network):
    """A tiny random input blurred by a convolution; `gain` is a constructor argument."""

    def __init__(self, size=6, gain=1.0):
        self.inp = self.create((size, size), ann.Neuron(parameters="r = 0.0"), name="inp")
        self.inp.r = ann.Uniform(0.0, 1.0)  # drawn with the network's generator
        self.out = self.create((size, size), ann.Neuron(equations="r = sum(exc)"), name="out")
        self.proj = self.connect(Convolution(self.inp, self.out, "exc"))
        self.proj.connect_filter(gain * np.ones((3, 3)))


def run(net, duration=2.0, scale=1.0):
    net.simulate(duration)
    return {"seed": net.seed, "time": net.time, "out": scale * np.array(net.out.r),
            "built": kernels.BUILT, "compile_s": net.engine.compile_seconds}


def fail_on_second(net, index):
    if index == 1:
        raise ValueError(f"copy {index} refuses")
    return index


def kill_once(net, marker):
    """Kills its own worker process the first time any copy runs (the marker file says)."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return run(net)
    os.kill(os.getpid(), signal.SIGKILL)


def sequential(seeds, **init):
    """What the copies should give: each built and run here, one after the other."""
    results = []
    for seed in seeds:
        net = Blur(**init, seed=seed)
        net.compile(silent=True)
        results.append(run(net))
    return results


def same_outputs(results, expected):
    assert [r["seed"] for r in results] == [e["seed"] for e in expected]
    for r, e in zip(results, expected, strict=True):
        np.testing.assert_array_equal(r["out"], e["out"])


def so_files():
    return set((cache.user_dir() / "kernels").glob("*.so"))


# -- rules -----------------------------------------------------------------------------------

def test_copies_follow_annarchys_rules_for_seeds_and_keywords():
    net = Blur(4, seed=10)
    copies = parallel.plan_copies(net, run, 3, "sequential",
                                  {"gain": [1.0, 2.0, 3.0], "duration": 5.0, "scale": [1, 2, 3]})
    assert [c.options["seed"] for c in copies] == [11, 12, 13]
    assert [c.init_args for c in copies] == [{"size": 4, "gain": g} for g in (1.0, 2.0, 3.0)]
    assert [c.method_args for c in copies] == [{"duration": 5.0, "scale": s} for s in (1, 2, 3)]
    assert {c.options["dt"] for c in copies} == {1.0}
    assert [c.options["seed"] for c in parallel.plan_copies(net, run, 2, "same", {})] == [10, 10]
    assert [c.options["seed"] for c in parallel.plan_copies(net, run, 2, None, {})] == [None] * 2
    assert [c.options["seed"] for c in parallel.plan_copies(net, run, 2, [5, 6], {})] == [5, 6]


def test_parallel_run_rejects_what_it_cannot_do():
    net = Blur(4)
    plain = ann.Network()
    with pytest.raises(InvalidTypeError, match=r"subclass of Network.*not Network itself"):
        plain.parallel_run(run, 2)
    with pytest.raises(InvalidValueError, match="number must be an int >= 1, got 0"):
        net.parallel_run(run, 0)
    with pytest.raises(InvalidValueError, match="list of values for gain must have one value "
                                                r"per copy \(3\), got 2"):
        net.parallel_run(run, 3, gain=[1.0, 2.0])
    with pytest.raises(InvalidValueError, match=r"list of seeds must have one seed per copy "
                                                r"\(2\), got 3"):
        net.parallel_run(run, 2, seeds=[1, 2, 3])
    with pytest.raises(InvalidValueError, match="seeds must be None, 'same', 'sequential'"):
        net.parallel_run(run, 2, seeds="random")
    with pytest.raises(InvalidValueError, match="backend must be one of"):
        net.parallel_run(run, 2, backend="mpi")
    with pytest.raises(InvalidValueError, match="max_processes must be -1"):
        net.parallel_run(run, 2, max_processes=0)
    with pytest.raises(InvalidValueError, match=r"method .*<lambda> cannot be sent to another "
                                                r"process.*define it at module level"):
        net.parallel_run(lambda n: 1, 2, progress=False)
    with pytest.raises(InvalidValueError, match="value of scale for copy 1 cannot be sent"):
        net.parallel_run(run, 2, scale=[1.0, lambda: 2.0], progress=False)


def test_importing_tecomp_imports_neither_dask_nor_process_pools():
    code = ("import sys, tecomp; print(sorted(m for m in ('distributed', 'dask', "
            "'concurrent.futures.process', 'tecomp.parallel') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_a_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    with pytest.raises(ann.TecompError, match=r"pip install 'tecomp\[distributed\]'"):
        Blur(4).parallel_run(run, 2, backend="dask", progress=False)


# -- local processes -------------------------------------------------------------------------

def test_local_copies_match_sequential_runs_and_compile_nothing(capsys, tmp_path,
                                                                monkeypatch):
    monkeypatch.setenv("TECOMP_CACHE", str(tmp_path))  # no other test writes kernels here
    net = Blur(5, seed=3)
    net.compile(silent=True)
    results = net.parallel_run(run, 3, max_processes=2, seeds="sequential", progress=False,
                               measure_time=True, duration=[1.0, 2.0, 2.0], scale=2.0)
    assert re.fullmatch(r"Simulating 3 networks in parallel took [0-9.e-]+ seconds\.\n",
                        capsys.readouterr().out)
    before = so_files()
    assert [r["time"] for r in results] == [1.0, 2.0, 2.0]
    assert [r["built"] for r in results] == [0, 0, 0]  # every kernel came from the cache
    expected = sequential([4, 5, 6], size=5)
    for r, e, in zip(results[1:], expected[1:], strict=True):
        np.testing.assert_array_equal(r["out"], 2.0 * e["out"])
    assert [r["seed"] for r in results] == [4, 5, 6]
    assert not np.array_equal(results[1]["out"], results[2]["out"])  # seeds differ
    results = net.parallel_run(run, 2, max_processes=2, seeds="same", gain=[1.0, 2.0],
                               progress=False)
    np.testing.assert_allclose(results[1]["out"], 2.0 * results[0]["out"])
    assert so_files() == before  # a new gain is a new weight, not a new kernel


def test_a_failing_copy_keeps_the_others_results():
    net = Blur(4)
    with pytest.raises(ParallelRunError, match=r"(?s)1 of 3 copies failed.*copy 1: ValueError: "
                                               "copy 1 refuses") as info:
        net.parallel_run(fail_on_second, 3, max_processes=2, progress=False,
                         index=[0, 1, 2])
    assert info.value.results == [0, None, 2]
    (failure,) = info.value.failures
    assert failure.index == 1 and isinstance(failure.error, ValueError)
    assert "fail_on_second" in failure.traceback  # where it ran


# -- Dask --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dask_client(tmp_path_factory):
    """Two fresh workers whose kernel cache is empty: they must get the kernels shipped."""
    distributed = pytest.importorskip("distributed")
    workers_cache = tmp_path_factory.mktemp("worker-cache")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0",
                                       env={"TECOMP_CACHE": str(workers_cache)})
    client = distributed.Client(cluster)
    yield client, workers_cache
    client.close()
    cluster.close()


def test_dask_copies_get_the_kernels_and_match_sequential_runs(dask_client):
    client, workers_cache = dask_client
    net = Blur(4, seed=20)
    results = net.parallel_run(run, 3, seeds=[7, 8, 9], client=client, progress=False)
    same_outputs(results, sequential([7, 8, 9], size=4))
    assert [r["built"] for r in results] == [0, 0, 0]
    shipped = {p.name for p in (workers_cache / "kernels").glob("*.so")}
    assert shipped and shipped <= {p.name for p in so_files()}


def test_dask_failures_come_back_with_index_and_traceback(dask_client):
    client, _ = dask_client
    with pytest.raises(ParallelRunError, match="copy 1: ValueError") as info:
        Blur(4).parallel_run(fail_on_second, 3, client=client, progress=False,
                             index=[0, 1, 2])
    assert info.value.results == [0, None, 2]
    assert "fail_on_second" in info.value.failures[0].traceback


def test_a_killed_dask_worker_is_retried_and_results_match(dask_client, tmp_path):
    client, _ = dask_client
    net = Blur(4, seed=30)
    results = net.parallel_run(kill_once, 3, seeds="sequential", client=client,
                               progress=False, marker=str(tmp_path / "killed"))
    assert (tmp_path / "killed").exists()
    same_outputs(results, sequential([31, 32, 33], size=4))


def test_dask_without_a_client_starts_a_local_cluster():
    pytest.importorskip("distributed")
    results = Blur(4, seed=1).parallel_run(run, 2, max_processes=2, backend="dask",
                                           seeds="sequential", progress=False)
    same_outputs(results, sequential([2, 3], size=4))


def test_run_batch_chunks_on_dask_equal_the_local_batch(dask_client):
    client, _ = dask_client
    net = Blur(5, seed=3)
    images = np.random.default_rng(2).random((5, 5, 5))
    local = ann.run_batch(net, {net.inp: images}, 3.0, record=[net.out])
    remote = ann.run_batch(net, {net.inp: images}, 3.0, record=[net.out], client=client,
                           chunks=2, progress=False)
    assert remote[net.out].shape == (5, 3, 5, 5)
    np.testing.assert_array_equal(remote[net.out], local[net.out])
    with pytest.raises(InvalidValueError, match="chunks must be an int from 1 to the batch"):
        ann.run_batch(net, {net.inp: images}, 3.0, client=client, chunks=9)
