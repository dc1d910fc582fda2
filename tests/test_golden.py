"""The outputs of the real ANNarchy 5.0.4.1 (tests/data), reproduced by tecomp."""

import json
from pathlib import Path

import numpy as np
import pytest

import tecomp as ann
from tecomp.extensions.convolution import Convolution, Pooling

CASES = sorted(Path(__file__).parent.joinpath("data").glob("*.npz"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_annarchy_golden(path):
    data = np.load(path)
    args = json.loads(str(data["args_json"]))
    pre = ann.Population(tuple(args["pre_geometry"]), ann.Neuron(parameters="r = 0.0"))
    post = ann.Population(tuple(args["post_geometry"]), ann.Neuron(equations="r = sum(exc)"))
    kind = {"Convolution": Convolution, "Pooling": Pooling}[args["kind"]]
    proj = kind(pre, post, target=args["target"], **args["ctor"])
    method = getattr(proj, args["method"])
    extra = {k: tuple(v) if isinstance(v, list) else v for k, v in args["method_args"].items()}
    if args["kind"] == "Convolution":
        method(data["weights"], **extra)
    else:
        method(**extra)
    ann.compile()
    pre.r = data["pre_r"]
    ann.simulate(args["steps"] * args["dt"])
    assert np.abs(post.r - data["post_r"]).max() <= 1e-12
    extra_info = json.loads(str(data["extra_json"]))
    if "pre_coordinates_of_post_10_10" in extra_info:
        assert proj.center(10, 10) == tuple(extra_info["pre_coordinates_of_post_10_10"])
    if extra_info.get("second_step_identical"):
        ann.step()
        assert np.abs(post.r - data["post_r"]).max() <= 1e-12
