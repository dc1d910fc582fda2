"""Regular projections against the real ANNarchy 5.0.4.1: the networks of
tests/data/make_projection_golden.py (connect_from_matrix, so the connectivity is the same),
replayed in tecomp, give ANNarchy's recorded post.r after every step."""

from pathlib import Path

import numpy as np
import pytest

import tecomp as ann
from tecomp import reference

DATA = Path(__file__).parent / "data" / "projection" / "projection_golden.npz"
# name: (operation, psp, delay in ms), as in the generator
CASES = {
    "sum": ("sum", "w * pre.r", 0.0),
    "max": ("max", "w * pre.r", 0.0),
    "min": ("min", "w * pre.r", 0.0),
    "mean": ("mean", "w * pre.r", 0.0),
    "post_x": ("sum", "w * (pre.r - post.x)", 0.0),
    "nonlinear_max": ("max", "w * log(1 + pre.r) + post.x", 0.0),
    "delay2": ("sum", "w * pre.r", 2.0),
    "delay3_mean": ("mean", "w * pre.r", 3.0),
}


@pytest.fixture(scope="module")
def golden():
    with np.load(DATA) as data:
        return {k: data[k] for k in data.files}


def test_the_golden_file_holds_these_cases(golden):
    assert list(golden["cases"]) == list(CASES)


@pytest.mark.parametrize("name", list(CASES))
def test_annarchy_projection_golden(name, golden):
    operation, psp, delay = CASES[name]
    weights = golden[f"{name}_weights"]
    net = ann.Network(dt=1.0)
    pre = net.create(weights.shape[1], ann.Neuron(parameters="r = 0.0"))
    post = net.create(weights.shape[0], ann.Neuron(parameters="x = 0.0",
                                                   equations="r = sum(exc)"))
    pre.r = golden["pre_initial"]
    post.x = golden[f"{name}_x"]
    proj = net.connect(pre, post, "exc", ann.Synapse(psp=psp, operation=operation))
    proj.from_matrix(weights, delays=delay)
    net.compile(silent=True)
    for step, (x, want) in enumerate(zip(golden["inputs"], golden[f"{name}_output"],
                                         strict=True)):
        pre.r = x
        net.step()
        err = reference.relative_error(post.r, want)
        assert err <= reference.tolerance("float64", weights.shape[1]), \
            f"step {step}: {post.r} != ANNarchy's {want}"
        # and the reference agrees with ANNarchy (delay n: the input of step k-n)
        n = int(delay)
        source = golden["inputs"][step - n] if step >= n else golden["pre_initial"]
        expected = reference.projection(weights, {"r": source}, {"x": golden[f"{name}_x"]},
                                        psp, operation)
        assert reference.relative_error(expected, want) <= 1e-12
