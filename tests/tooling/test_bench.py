"""The benchmark command: a --quick run on two cases, its JSON and markdown, and its helpers."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tecomp import reference
from tecomp.tools import harness, peers, suite


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run([sys.executable, "-m", "tecomp.tools.bench", "--quick", "--cases", "B1",
                           "B4", "--threads", "1", "--repeats", "3", "--out", str(out)],
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
    assert set(worker["limits"]["sgemm_gflops"]) == {"float32", "float64"}
    assert worker["limits"]["copy_gbs"] > 0


def test_quick_run_checks_then_times_every_case(quick_run):
    results, _ = quick_run
    records = results["workers"][0]["records"]
    assert [(r["case"], r["precision"]) for r in records] == [
        ("B1", "float32"), ("B4", "float32"), ("B1", "float64"), ("B4", "float64")]
    for r in records:
        assert not r.get("error")
        assert r["threads"] == 1
        # tecomp (default and tuned) agreed with the NumPy reference before timing
        for name in ("tecomp", "tecomp-tuned"):
            assert r["max_error"][name] <= suite.CASES[r["case"]].tolerance(r["precision"])
            assert r["stats"][name]["n"] == 3
        assert r["stats"]["numpy"]["median_ms"] > 0
        assert set(r["ratios"]) >= {"tecomp-tuned", "numpy"}
        assert r["limit"]["name"] == "copy" and r["limit"]["fraction"] > 0
        key = "gflops" if r["case"] == "B1" else "gbs"
        assert r["stats"]["tecomp"][key] > 0
        assert r["info"]["tecomp"]["kernel_ms"] > 0
        # a peer is either timed or skipped with its reason
        for peer in ("scipy", "torch", "annarchy"):
            assert (peer in r["stats"]) != (peer in r["skipped"]), (peer, r["skipped"])
    probe = records[0]["compile"]
    assert probe["cold"]["compile_s"] > 0 and probe["cached"]["compile_s"] > 0
    assert probe["cold"]["peak_rss_mb"] >= probe["cold"]["rss_before_mb"] > 0


def test_quick_run_markdown_table(quick_run):
    _, table = quick_run
    assert "| case | precision | threads | tecomp ms [IQR] |" in table
    rows = [line for line in table.splitlines() if line.startswith("| B")]
    assert len(rows) == 4 + 1  # four timings, one compile-time row
    assert any("GFLOP/s" in row for row in rows) and any("GB/s" in row for row in rows)
    assert "sgemm 512² float32" in table and "Total run time" in table


@pytest.mark.parametrize("name", list(suite.CASES))
def test_quick_cases_match_their_reference(name):
    import tecomp as ann

    case = suite.CASES[name].quick()
    assert case.small is None and all(a <= b for a, b in zip(case.pre, suite.CASES[name].pre,
                                                             strict=False))
    net = ann.Network(precision="double")
    rng = np.random.default_rng(0)
    pre, post, proj = case.build(net, rng)
    x = case.inputs(rng)
    net.compile(tuned=False)
    pre.r = x
    net.step()
    weights = proj.weights if case.kind == "Convolution" else None
    assert reference.relative_error(post.r, case.reference(x, weights)) < 1e-12
    assert case.flops > 0 and case.bytes("float32") * 2 == case.bytes("float64")


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
    assert samples["fast"] == [1.0] * 10 and fast.calls == 20  # an untimed call before each
    assert samples["slow"] == [1000.0] * 3 and slow.calls == 4  # only the first is warmed


def test_unknown_case_is_refused():
    with pytest.raises(ValueError, match="unknown case"):
        suite.cases(["B9"])
