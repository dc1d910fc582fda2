"""The tecomp-tune command line (`tecomp.tools.tune`): a script run up to compile() and
tuned, the records listed, and the benchmark suite's networks."""

import os
import subprocess
import sys
import textwrap

import pytest

from tecomp import tuning
from tecomp.tools import tune


def test_tecomp_tune_runs_a_script_up_to_compile(tmp_path):
    script = tmp_path / "model.py"
    script.write_text(textwrap.dedent("""
        import numpy as np
        import tecomp as ann
        from tecomp.extensions.convolution import *
        pre = ann.Population((32, 32), ann.Neuron(parameters="r = 0.0"))
        post = ann.Population((32, 32), ann.Neuron(equations="r = sum(exc)"))
        Convolution(pre, post, "exc").connect_filter(np.ones((3, 3)))
        ann.compile()
        raise SystemExit("the script went past compile()")
    """))
    env = {**os.environ, "TECOMP_CACHE": str(tmp_path / "cache"), "TVM_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "tecomp.tools.tune", str(script), "--trials",
                          "2"], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "speed-up" in run.stdout and "(32, 32)->(32, 32)" in run.stdout
    listed = subprocess.run([sys.executable, "-m", "tecomp.tools.tune", "--list"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert listed.stdout.count("threads=1") == 1  # `r = sum(exc)` runs inside the convolution


def test_networks_of_script_stops_at_compile_and_passes_arguments(tmp_path):
    script = tmp_path / "model.py"
    script.write_text(textwrap.dedent("""
        import sys
        import tecomp as ann
        size = int(sys.argv[1])
        ann.Population((size, size), ann.Neuron(parameters="r = 0.0"))
        ann.compile()
        raise SystemExit("the script went past compile()")
    """))
    saved = list(sys.argv)
    (net,) = tune.networks_of_script(str(script), ["12"])
    assert [p.geometry for p in net.populations] == [(12, 12)]
    assert net.engine is None and sys.argv == saved  # stopped before building anything


def test_suite_networks_one_per_case_and_precision():
    nets = tune.suite_networks(["double", "float"], ["B1", "B4"])
    assert [n.dtype for n in nets] == ["float64", "float32"] * 2
    assert [n.projections[0].name for n in nets] == ["B1", "B1", "B4", "B4"]


def test_list_with_an_empty_folder(tmp_path, capsys):
    assert tune.main(["--list", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "no tuned records"
    assert tuning.records(tmp_path) == []


def test_nothing_to_tune_is_an_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        tune.main([])
    assert exit_.value.code == 2
    assert "give a script, --suite bench or --list" in capsys.readouterr().err
