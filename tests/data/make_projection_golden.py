"""Record ANNarchy's output for regular projections built with connect_from_matrix.

Run with the Python that has ANNarchy 5.0.4.1 (needs g++ and cmake):

    PATH=/tmp/ann-venv/bin:$PATH python tests/data/make_projection_golden.py

(ANNarchy's CMake step runs `python3 -m nanobind`, so the venv must come first on PATH.)

Writes tests/data/projection/projection_golden.npz (not in tests/data itself, whose *.npz
files test_golden.py reads as Convolution cases); tests/test_projection_golden.py replays
the same networks in tecomp. Every network: one input population `pre` (r a parameter, set to new
random values before each step), one summing population per case (`r = sum(exc)`, with a
per-neuron parameter x that some psps read), and a projection from a weight matrix whose
missing synapses are None (ANNarchy keeps a NaN as a synapse: only None marks none).
"""

import os
import sys
import tempfile

import ANNarchy as ann
import numpy as np

PRE, POST, STEPS = 12, 7, 5
# name: (operation, psp, delay in ms)
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


def main(path):
    rng = np.random.default_rng(2024)
    data = {"cases": np.array(list(CASES)), "steps": STEPS}
    net = ann.Network(dt=1.0)
    pre = net.create(PRE, ann.Neuron(parameters="r = 0.0"))
    initial = rng.uniform(0, 1, PRE)
    pre.r = initial
    data["pre_initial"] = initial
    posts = {}
    for name, (operation, psp, delay) in CASES.items():
        post = net.create(POST, ann.Neuron(parameters="x = 0.0", equations="r = sum(exc)"))
        x = rng.uniform(-0.5, 0.5, POST)
        post.x = x
        w = rng.uniform(-1, 1, (POST, PRE))
        present = rng.random((POST, PRE)) < 0.5
        present[3] = False  # a post neuron without synapses
        present[5, 7] = True
        matrix = np.where(present, w, None).astype(object)
        synapse = ann.Synapse(psp=psp, operation=operation)
        proj = net.connect(pre, post, "exc", synapse)
        proj.from_matrix(matrix, delays=delay)
        posts[name] = post
        data[f"{name}_weights"] = np.where(present, w, np.nan)
        data[f"{name}_x"] = x
    net.compile(directory=tempfile.mkdtemp(prefix="ann-golden-"), silent=True)
    inputs = []
    outputs = {name: [] for name in CASES}
    for _ in range(STEPS):
        inputs.append(rng.uniform(0, 1, PRE))
        pre.r = inputs[-1]
        net.step()
        for name, post in posts.items():
            outputs[name].append(np.array(post.r, dtype=np.float64))
    data["inputs"] = np.array(inputs)
    for name in CASES:
        data[f"{name}_output"] = np.array(outputs[name])
    np.savez_compressed(path, **data)
    print("wrote", path)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else
         os.path.join(os.path.dirname(os.path.abspath(__file__)), "projection",
                      "projection_golden.npz"))
