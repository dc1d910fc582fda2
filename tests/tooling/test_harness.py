"""The one measurement harness of the tools: build, check against the reference, then time,
interleaved; and the helpers the tools share (precision names, tolerances)."""

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from tecomp import reference
from tecomp.child import Child
from tecomp.tools import bench, harness, peers, suite


class Fake(harness.Runner):
    def __init__(self, name, output, seconds=0.001):
        super().__init__(name, None, lambda _: output)
        self.seconds, self.calls, self.closed = seconds, 0, False

    def timed(self):
        self.calls += 1
        return self.seconds

    def close(self):
        self.closed = True


EXPECTED = np.arange(4.0)


def test_agreeing_runners_are_timed_and_the_others_left_out_with_the_reason():
    made = {"good": Fake("good", EXPECTED + 1e-9), "bad": Fake("bad", EXPECTED + 1.0)}

    def broken():
        raise ValueError("no such kernel")

    def missing():
        raise harness.Skip("not installed")

    makers = {"good": lambda: made["good"], "bad": lambda: made["bad"], "broken": broken,
              "missing": missing}
    out = harness.measure(makers, EXPECTED, 1e-6, repeats=4, budget=10.0, required=())
    assert out.ok("good") and not out.ok("bad") and out.aborted is None
    assert set(out.samples_ms) == {"good"} and len(out.samples_ms["good"]) == 4
    assert out.stats["good"]["n"] == 4 and out.stats["good"]["median_ms"] == pytest.approx(1.0)
    assert out.errors["bad"] == pytest.approx(1.0 / 3.0)
    assert "relative error" in out.skipped["bad"]
    assert out.skipped["broken"] == "failed to build: ValueError: no such kernel"
    assert out.skipped["missing"] == "not installed"
    assert made["good"].closed and made["bad"].closed


def test_a_required_runner_that_disagrees_stops_everything():
    later = []
    makers = {"tecomp": lambda: Fake("tecomp", EXPECTED * 2),
              "peer": lambda: later.append(1) or Fake("peer", EXPECTED)}
    out = harness.measure(makers, EXPECTED, 1e-6, repeats=3, budget=1.0)
    assert out.aborted and "relative error" in out.aborted
    assert not out.samples_ms and not later  # nothing more built, nothing timed


def test_a_reference_runner_gives_the_expected_output_and_is_timed_too():
    ref = Fake("numpy", EXPECTED)
    makers = {"tecomp": lambda: Fake("tecomp", EXPECTED)}
    out = harness.measure(makers, ref, 0.0, repeats=2, budget=1.0)
    assert ref.calls >= 3 and set(out.samples_ms) == {"numpy", "tecomp"}
    assert out.errors == {"tecomp": 0.0} and ref.closed
    untimed = harness.measure(makers, Fake("numpy", EXPECTED), 0.0, repeats=2, budget=1.0,
                              untimed=("numpy",))
    assert set(untimed.samples_ms) == {"tecomp"} and "numpy" in untimed.info


def test_expected_and_tolerance_by_name_computed_once_built():
    asked = []

    def lazy():
        asked.append(1)
        return EXPECTED * 3

    makers = {"a": lambda: Fake("a", EXPECTED), "b": lambda: Fake("b", EXPECTED * 3 + 0.1)}
    out = harness.measure(makers, {"a": EXPECTED, "b": lazy}, {"a": 0.0, "b": 0.1}, repeats=0,
                          budget=1.0, required=(), keep_outputs=True)
    assert out.ok("a") and out.ok("b") and asked == [1] and not out.samples_ms
    assert np.array_equal(out.outputs["b"], EXPECTED * 3 + 0.1)


def test_precision_names_and_case_tolerances():
    assert suite.precision_of("float32") == "float" and suite.precision_of(np.float64) == \
        "double"
    assert suite.network("float32").dtype == "float32"
    b3 = suite.CASES["B3"]
    assert b3.tolerance("float32") == reference.tolerance("float32", terms=b3.taps)
    assert b3.tolerance("float32") > suite.CASES["B1"].tolerance("float32")


def test_quick_run_writes_to_a_new_temporary_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = bench.main(["--quick", "--cases", "B4", "--threads", "1", "--precision", "float32",
                       "--repeats", "1", "--peers", "numpy"])
    assert code == 0
    assert not (tmp_path / "bench-results").exists()
    written = capsys.readouterr().out.splitlines()[-1]
    assert written.startswith("wrote ") and "tecomp-bench-quick-" in written
    folder = Path(written.split()[1]).parent
    assert (folder / "bench.md").exists()
    shutil.rmtree(folder)


def test_a_peer_child_that_dies_or_fails_is_skipped_with_its_log(tmp_path):
    script = "import sys; print('compiler said no', file=sys.stderr); sys.exit(3)"
    with open(tmp_path / "peer.log", "w") as log:
        child = Child([sys.executable, "-c", script], stderr=log, name="ANNarchy")
        with pytest.raises(harness.Skip, match=r"exit code 3.*compiler said no"):
            peers._ask(child, {"do": "build"}, 30.0, log)
        child.close()
    with open(tmp_path / "server.log", "w") as log:
        child = Child([sys.executable, "-m", "tecomp.tools.peers"], stderr=log)
        with pytest.raises(harness.Skip, match="unknown request 'dance'"):
            peers._ask(child, {"do": "dance"}, 60.0, log)
        child.close()
