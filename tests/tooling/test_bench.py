"""The benchmark command: a --quick run on two cases, its JSON and markdown, and its helpers."""

import importlib.util
import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tecomp import denormals, reference, runtime
from tecomp.tools import harness, limits, peers, report, suite


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run([sys.executable, "-m", "tecomp.tools.bench", "--quick", "--cases", "B1",
                           "B4", "B8", "--threads", "1", "--repeats", "3", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads((out / "bench.json").read_text()), (out / "bench.md").read_text()


def test_quick_run_records_machine_and_versions(quick_run):
    results, _ = quick_run
    assert results["quick"] and results["machine"]["cores"] >= 1
    assert results["machine"]["cpu"] and results["date"] and results["seconds"] > 0
    assert results["versions"]["apache-tvm"] and results["versions"]["numpy"]
    (worker,) = results["workers"]
    assert worker["threads"] == 1
    limits = worker["limits"]
    assert set(limits["fma_gflops"]) == {"float32", "float64"}
    for dtype, fma in limits["fma"].items():
        # the FMA chains did their work: outputs at the fixed point, time linear in iterations
        assert fma["ok"] and fma["gflops"] == limits["fma_gflops"][dtype] > 0, fma
    assert limits["fma_gflops"]["float32"] > limits["fma_gflops"]["float64"]
    assert limits["copy_gbs"] == max(limits["copy"]["numpy_gbs"], limits["copy"]["tvm_gbs"]) > 0
    assert "sgemm_gflops" not in limits


def test_quick_run_checks_then_times_every_case(quick_run):
    results, _ = quick_run
    records = results["workers"][0]["records"]
    assert [(r["case"], r["precision"]) for r in records] == [
        ("B1", "float32"), ("B4", "float32"), ("B8", "float32"), ("B1", "float64"),
        ("B4", "float64"), ("B8", "float64")]
    for r in records:
        assert not r.get("error")
        assert r["threads"] == 1
        # tecomp (default and tuned) agreed with the NumPy reference before timing
        for name in ("tecomp", "tecomp-tuned"):
            assert r["max_error"][name] <= suite.CASES[r["case"]].tolerance(r["precision"])
            assert r["stats"][name]["n"] == 3
        assert r["case"] == "B8" or r["stats"]["numpy"]["median_ms"] > 0
        assert set(r["ratios"]) >= {"tecomp-tuned", "scipy" if r["case"] == "B8" else "numpy"}
        # compute- or memory-bound from the case's flop per byte against the machine balance
        # (the copy of as many bytes as the case moves, measured after its timings)
        limit, lim = r["limit"], results["workers"][0]["limits"]
        assert r["copy"]["megabytes"] == max(1, math.ceil(r["bytes"] / 2**21))
        balance = lim["fma_gflops"][r["precision"]] / r["copy"]["gbs"]
        assert limit["intensity"] == pytest.approx(r["flops"] / r["bytes"], abs=0.01)
        assert limit["bound"] == ("compute" if r["flops"] / r["bytes"] >= balance else "memory")
        assert limit["name"] == {"compute": "peak FMA", "memory": "copy"}[limit["bound"]]
        assert limit["fraction"] > 0
        if r["case"] in ("B4", "B8"):  # a comparison per tap / a sparse product
            assert limit["bound"] == "memory"
        if r["case"] == "B8":  # weights, int32 indices, pre and post; scipy's CSR timed
            assert r["bytes"] == suite.CASES["B8"].quick().bytes(r["precision"])
            assert r["unit"] == "GB/s" and "numpy" in r["skipped"]
            assert r["stats"]["scipy"]["median_ms"] > 0 and r["info"]["scipy"]["kind"] == "CSR @"
        key = "gflops" if r["case"] == "B1" else "gbs"
        assert r["stats"]["tecomp"][key] > 0
        assert r["info"]["tecomp"]["kernel_ms"] > 0
        # a peer is either timed or skipped with its reason
        for peer in ("scipy", "torch", "annarchy"):
            assert (peer in r["stats"]) != (peer in r["skipped"]), (peer, r["skipped"])
        if "torch" in r["stats"] and r["case"] != "B8":  # both layouts, the faster compared
            layouts = {"NCHW": "torch-nchw", "channels-last": "torch-cl"}
            fastest = layouts[r["best"]["torch"]]
            assert r["stats"]["torch"]["median_ms"] == min(
                r["stats"][n]["median_ms"] for n in layouts.values() if n in r["stats"])
            assert r["stats"]["torch"]["median_ms"] == r["stats"][fastest]["median_ms"]
            assert r["info"]["torch-cl"]["layout"] == "channels-last"
            assert r["info"][fastest]["threads"] == 1 and r["info"][fastest]["mkldnn"]
    probe = records[0]["compile"]
    assert probe["cold"]["compile_s"] > 0 and probe["cached"]["compile_s"] > 0
    assert probe["cold"]["peak_rss_mb"] >= probe["cold"]["rss_before_mb"] > 0


def test_quick_run_markdown_table(quick_run):
    _, table = quick_run
    assert "| case | precision | threads | tecomp ms [IQR] |" in table
    rows = [line for line in table.splitlines() if line.startswith("| B")]
    assert len(rows) == 6 + 1  # six timings, one compile-time row
    assert any(row.startswith("| B8 ") and "% copy" in row and "GB/s" in row for row in rows)
    assert any("GFLOP/s" in row for row in rows) and any("GB/s" in row for row in rows)
    assert "| bound (flop/B vs balance) | of limit |" in table
    assert "PyTorch NCHW / CL ms |" in table and "sgemm" not in table
    assert "thread(s): peak FMA float32 " in table and "Total run time" in table
    assert any("% copy" in row for row in rows)  # B4
    # the small variants say their own sizes, not the full cases' titles
    assert sum("(small: " in row for row in rows) == 6 and "1024²" not in table


@pytest.mark.parametrize("name", list(suite.CASES))
def test_quick_cases_match_their_reference(name):
    import tecomp as ann

    case = suite.CASES[name].quick()
    assert case.small is None and all(a <= b for a, b in zip(case.pre, suite.CASES[name].pre,
                                                             strict=False))
    net = ann.Network(precision="double")
    rng = np.random.default_rng(0)
    w = case.draw_weights(rng)
    pre, post, proj = case.build(net, weights=w)
    x = case.inputs(rng)
    net.compile(tuned=False)
    pre.r = x
    net.step()
    weights = {"Convolution": proj.weights if case.kind == "Convolution" else None,
               "Projection": w}.get(case.kind)
    assert reference.relative_error(post.r, case.reference(x, weights)) < 1e-12
    indices = 4 * (case.synapses + case.post[0] + 1) if case.probability else 0  # int32
    assert case.flops > 0 and (case.bytes("float32") - indices) * 2 == \
        case.bytes("float64") - indices


def test_relative_error_flags_shape_and_nonfinite_mismatches():
    a = np.array([1.0, -np.inf, 3.0])
    assert reference.relative_error(a, a) == 0.0
    assert reference.relative_error(a + [0, 0, 0.03], a) == pytest.approx(0.01)
    assert reference.relative_error(a[:2], a) == np.inf
    assert reference.relative_error(np.array([1.0, np.inf, 3.0]), a) == np.inf


def test_interleave_stops_slow_runners_after_their_budget():
    class Fake(peers.Runner):
        def __init__(self, name, seconds):
            super().__init__(name, None, None)
            self.seconds, self.calls = seconds, 0

        def timed(self):
            self.calls += 1
            return self.seconds

    fast, slow = Fake("fast", 0.001), Fake("slow", 1.0)
    samples = harness.interleave([fast, slow], repeats=10, budget=2.0)
    # untimed calls for WARM_S (20 of 1 ms) before each timed one
    assert samples["fast"] == [1.0] * 10 and fast.calls == 10 * (20 + 1)
    assert samples["slow"] == [1000.0] * 3 and slow.calls == 4  # only the first is warmed


def test_interleave_warming_ends_for_a_runner_whose_clock_reads_zero():
    class Instant(peers.Runner):
        calls = 0

        def timed(self):
            self.calls += 1
            return 0.0

    runner = Instant("instant", None, None)
    assert harness.interleave([runner], repeats=2, budget=1.0)["instant"] == [0.0, 0.0]
    assert runner.calls == 2 * (harness.WARM_CALLS_MAX + 1)


def test_a_runner_that_breaks_while_timed_is_left_out_and_the_others_go_on():
    class Breaking(peers.Runner):
        calls = 0

        def timed(self):
            self.calls += 1
            if self.name == "broken" and self.calls == 5:
                raise RuntimeError("boom")
            return 0.03

    def maker(name):
        return lambda: Breaking(name, None, lambda _: np.zeros(2))

    out = harness.measure({"tecomp": maker("tecomp"), "broken": maker("broken")},
                          np.zeros(2), 0.0, repeats=4, budget=10.0)
    assert out.samples_ms["tecomp"] == [30.0] * 4 and "broken" not in out.samples_ms
    assert "failed while timed" in out.skipped["broken"] and "boom" in out.skipped["broken"]
    assert out.aborted is None
    stopped = harness.measure({"broken": maker("broken")}, np.zeros(2), 0.0, repeats=4,
                              budget=10.0, required=("broken",))
    assert "boom" in stopped.aborted and not stopped.samples_ms


def test_unknown_case_is_refused():
    with pytest.raises(ValueError, match="unknown case"):
        suite.cases(["B9"])


def test_limits_judge_a_case_against_the_machine_balance():
    machine = {"fma_gflops": {"float32": 100.0, "float64": 50.0}, "copy_gbs": 20.0}
    assert limits.balance(machine, "float32") == 5.0
    compute = limits.judge(600, 100, "float32", machine, gflops=80.0, gbs=1.0)
    assert compute["bound"] == "compute" and compute["fraction"] == pytest.approx(0.8)
    memory = limits.judge(400, 100, "float32", machine, gflops=40.0, gbs=10.0)
    assert memory["bound"] == "memory" and memory["fraction"] == pytest.approx(0.5)
    assert limits.judge(400, 100, "float64", machine, 40.0, 10.0)["bound"] == "compute"
    again = {**machine, "fma_gflops": {"float32": 120.0, "float64": 40.0}, "copy_gbs": 10.0,
             "fma": {"float32": "second", "float64": "second"}, "seconds": 1.0}
    kept = limits.best({**machine, "fma": {"float32": "first", "float64": "first"},
                        "seconds": 1.0}, again)
    assert kept["fma_gflops"] == {"float32": 120.0, "float64": 50.0}
    assert kept["fma"] == {"float32": "second", "float64": "first"}
    assert kept["copy_gbs"] == 20.0 and kept["seconds"] == 2.0


def test_a_case_is_judged_against_the_copy_of_its_own_size():
    machine = {"fma_gflops": {"float32": 100.0}, "copy_gbs": 20.0}
    cached = limits.judge(100, 1e6, "float32", machine, gflops=0.1, gbs=40.0, copy_gbs=50.0)
    assert cached["name"] == "copy" and cached["limit"] == 50.0
    assert cached["fraction"] == pytest.approx(0.8) and cached["balance"] == 2.0
    memory = limits.judge(100, 1e6, "float32", machine, gflops=0.1, gbs=10.0)
    assert memory["limit"] == 20.0 and memory["fraction"] == pytest.approx(0.5)


def test_derive_compares_tecomp_with_the_faster_pytorch_layout():
    record = {"case": "B3", "precision": "float32", "flops": 4e9, "bytes": 4e6,
              "samples_ms": {"tecomp": [2.0, 2.0, 2.0], "torch-nchw": [8.0] * 3,
                             "torch-cl": [4.0] * 3},
              "max_error": {"torch-nchw": 1e-7, "torch-cl": 2e-7}, "skipped": {}}
    machine = {"fma_gflops": {"float32": 4000.0}, "copy_gbs": 10.0}
    report.derive(record, machine)
    assert record["best"] == {"torch": "channels-last"}
    assert record["ratios"]["torch"] == 2.0 and record["ratios"]["torch-nchw"] == 4.0
    assert record["max_error"]["torch"] == 2e-7
    assert record["limit"]["bound"] == "compute" and record["limit"]["name"] == "peak FMA"
    assert record["limit"]["fraction"] == pytest.approx(0.5)  # 2000 of 4000 GFLOP/s
    skipped = {"skipped": {"torch-nchw": "not installed", "torch-cl": "not installed"}}
    report.merge_skipped(skipped)
    assert skipped["skipped"] == {"torch": "not installed"}
    assert report.peer_of("torch-cl") == "torch" and report.peer_of("scipy") == "scipy"


def test_the_fma_kernel_is_vector_fmas_that_run():
    import re

    from tecomp import build

    lanes = build.vector_bytes() // 4
    asm = limits.fma_kernel("float32", 1, lanes).mod.inspect_source("asm")
    register = {64: "zmm", 32: "ymm", 16: "xmm"}[build.vector_bytes()]
    assert len(re.findall(rf"vfmadd\w*ps\s+[^\n]*%{register}", asm)) >= limits.CHAINS
    fma = limits.peak_fma("float32", 1, seconds=0.005, repeats=3)
    assert fma["ok"] and fma["gflops"] > 0 and fma["lanes"] == lanes


def test_pytorch_runs_in_both_layouts_at_its_best():
    torch = pytest.importorskip("torch")
    case = suite.CASES["B3"].quick()
    rng = np.random.default_rng(0)
    w, x = case.draw_weights(rng), case.inputs(rng, "float32")
    expected = case.reference(x, w)
    for channels_last, name in ((False, "torch-nchw"), (True, "torch-cl")):
        runner = peers.pytorch(case, x, w, threads=1, channels_last=channels_last)
        runner.timed()
        assert runner.name == name and runner.info["threads"] == torch.get_num_threads() == 1
        assert runner.info["layout"] == ("channels-last" if channels_last else "NCHW")
        assert reference.relative_error(runner.output(), expected) <= case.tolerance("float32")


@pytest.mark.parametrize("name", ["B7", "B8"])
def test_matrix_peers_agree_with_the_reference(name):
    import tecomp as ann
    from tecomp.tools import matrices

    case = suite.CASES[name].quick()
    rng = np.random.default_rng(0)
    w, x = case.draw_weights(rng), case.inputs(rng, "float32")
    net = suite.network("float32")
    _, _, proj = case.build(net, weights=w)
    pattern = matrices.connectivity(proj)  # the synapses back from the public API
    dense = w.toarray() if name == "B8" else w
    assert np.array_equal(pattern.toarray(), dense)
    assert pattern.nnz == (case.synapses if name == "B7" else w.nnz)
    expected = case.reference(x, w)
    makers = [matrices.numpy_matvec, matrices.scipy_sparse]
    if importlib.util.find_spec("torch"):
        makers.append(lambda c, x, w: matrices.pytorch(c, x, w, threads=1))
    for make in makers:
        try:
            runner = make(case, x, w)
        except peers.Skip as why:  # each case has one of NumPy and scipy
            assert (make is matrices.numpy_matvec) == (name == "B8"), why
            continue
        runner.timed()
        assert reference.relative_error(runner.output(), expected) <= case.tolerance("float32")
    network, weights = peers.describe(net)  # what ANNarchy's child builds
    (item,) = network["projections"]
    assert item["kind"] == "Projection" and item["method"] == "connect_from_sparse"
    assert item["options"]["storage_format"] == ("dense" if name == "B7" else "csr")
    assert len(weights["w0_data"]) == pattern.nnz and isinstance(ann.Projection, type)


@pytest.mark.skipif(not denormals.SUPPORTED or runtime.cores() < 2,
                    reason="no control of the FPU mode here, or no worker thread")
def test_measuring_the_limits_first_leaves_the_workers_flushing(tmp_path):
    """TVM's worker threads keep the floating-point mode of their creation: the limits'
    kernels, run first in a benchmark process, must not create them on IEEE denormals."""
    script = textwrap.dedent("""
        import numpy as np, tecomp as ann
        from tecomp.tools import limits
        limits.measure(quick=True, precisions=("float32",))
        ann.setup(precision="float")
        pop = ann.Population((512, 512), ann.Neuron(equations="10 * dr/dt + r = 0 : init = 1.0"))
        ann.compile(); ann.simulate(2000.0)
        r = pop.r
        print(int(np.sum((r != 0) & (np.abs(r) < np.finfo(np.float32).tiny))))
    """)
    env = os.environ | {"TECOMP_CACHE": str(tmp_path), "TVM_NUM_THREADS": "2"}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=600, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert int(run.stdout.split()[-1]) == 0  # every rate flushed, on both threads

