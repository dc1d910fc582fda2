"""The examples of ANNarchy's "Convolution and pooling" page on a synthetic image.

    python -m tecomp demo [--size 100] [--precision double|float]

For each projection: the post shape, a checksum (sum of |r|), its relative error against the
NumPy reference (ok when within `tecomp.reference.tolerance` for its taps), and the median
time of its kernel per step. `tecomp-demo` is the same command.
"""

import argparse
import time

import numpy as np

import tecomp as ann
from tecomp import plan, reference
from tecomp.extensions.convolution import Convolution, Pooling
from tecomp.network import PRECISIONS, default_network

VERTICAL = np.array([[1.0, 0.0, -1.0]] * 3)
RED = np.array([[[2.0, -1.0, -1.0]]])
BANK = np.stack([VERTICAL, -VERTICAL, VERTICAL.T[::-1], VERTICAL.T])


def synthetic_image(height: int, width: int, channels: int = 0) -> np.ndarray:
    """Smooth gratings plus a bright square: edges in every direction, values in [0, 1]."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    image = 0.5 + 0.25 * np.sin(12 * x) * np.cos(7 * y)
    image[height // 4: height // 2, width // 3: 2 * width // 3] = 1.0
    if channels:
        phases = np.linspace(0, np.pi, channels)
        image = np.clip(image[..., None] * (0.6 + 0.4 * np.cos(phases + 9 * x[..., None])), 0, 1)
    return image


def page_examples(n: int) -> list[tuple]:
    """(projection, reference function of the pre rates) for every example of the page."""
    def population(geometry, equations=None):
        if equations is None:
            return ann.Population(geometry, ann.Neuron(parameters="r = 0.0"))
        return ann.Population(geometry, ann.Neuron(equations=equations))

    gray, rgb, deep = population((n, n)), population((n, n, 3)), population((n, n, 10))
    half = n // 2

    def conv(pre, post_geometry, weights, name, method="connect_filter", psp="w * pre.r",
             operation="sum", **options):
        proj = Convolution(pre, population(post_geometry, "r = sum(exc)"), "exc", psp=psp,
                           operation=operation, name=name)
        getattr(proj, method)(weights, **options)
        bank = method == "connect_filters"

        def expected(x):
            return reference.convolution(x, weights, post_geometry, bank=bank, psp=psp,
                                         operation=operation, **options)
        return proj, expected

    def pool(pre, post_geometry, name, extent=None):
        proj = Pooling(pre, population(post_geometry, "r = sum(exc)"), "exc", operation="max",
                       name=name)
        proj.connect_pooling(extent=extent)
        return proj, lambda x: reference.pooling(x, post_geometry, extent=extent)

    return [
        conv(gray, (n, n), VERTICAL, "vertical edges"),
        conv(gray, (n, n), VERTICAL, "border padding", padding="border"),
        conv(gray, (half, half), VERTICAL, "subsampled"),
        conv(rgb, (n, n), RED, "red filter (RGB)"),
        conv(gray, (n, n), VERTICAL, "psp w*log(1+pre.r)", psp="w*log(1+pre.r)"),
        conv(gray, (n, n), VERTICAL, "operation max", operation="max"),
        conv(rgb, (half, half, 3), VERTICAL, "layer-wise", keep_last_dimension=True),
        conv(gray, (half, half, 4), BANK, "bank of 4 filters", method="connect_filters"),
        pool(gray, (half, half), "max pooling"),
        pool(deep, (half, half), "pooling (2, 2, 10)", extent=(2, 2, 10)),
    ]


def run(size: int = 100, precision: str = "double") -> list[dict]:
    ann.clear()
    ann.setup(precision=precision)
    examples = page_examples(size)
    start = time.perf_counter()
    ann.compile()
    compile_seconds = time.perf_counter() - start
    inputs = {}
    for proj, _ in examples:
        pre = proj.pre
        if pre.name not in inputs:
            inputs[pre.name] = synthetic_image(*pre.geometry[:2], *pre.geometry[2:])
            pre.r = inputs[pre.name]
    ann.simulate(1.0)
    net = default_network()
    taps = {k.label: k.spec.taps for k in plan.network_plan(net).projections}
    timings = net.engine.profile(repeat=50)
    rows = []
    for proj, expected in examples:
        result = proj.post.r
        rows.append({"projection": proj.name, "post": proj.post.geometry,
                     "checksum": float(np.abs(result).sum()),
                     "max_error": reference.relative_error(result,
                                                           expected(inputs[proj.pre.name])),
                     "tolerance": reference.tolerance(net.dtype, terms=taps[proj.name]),
                     "ms": 1e3 * timings[proj.name]})
    updates = sum(name.startswith("update") for name in net.engine.kernel_names)
    print(f"compile(): {compile_seconds:.2f} s for {len(examples)} projections and {updates} "
          f"separate population updates ({precision}; an update `r = sum(exc)` runs inside "
          "the projection that feeds it)")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tecomp demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100, help="side of the image (even)")
    parser.add_argument("--precision", choices=list(PRECISIONS), default="double")
    args = parser.parse_args(argv)
    rows = run(args.size, args.precision)
    print(f"{'projection':<22} {'post shape':<15} {'checksum':>14} {'vs NumPy':>10} "
          f"{'ms/step':>9}")
    for row in rows:
        verdict = "ok" if row["max_error"] <= row["tolerance"] else "MISMATCH"
        print(f"{row['projection']:<22} {row['post']!s:<15} {row['checksum']:>14.6f} "
              f"{verdict:>4} {row['max_error']:.0e} {row['ms']:>9.4f}")
    return 0 if all(r["max_error"] <= r["tolerance"] for r in rows) else 1
