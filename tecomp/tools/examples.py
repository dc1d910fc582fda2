"""The end-to-end networks E1 and E2 of docs/benchmark.md, with their NumPy reference.

Each builder adds an input population (`r` a parameter), the layers (`r = sum(exc)`) and
their projections to a network (the default one if none is given) and returns an `Example`:

    >>> import tecomp as ann
    >>> ex = e1(ann.Network(), precision="float")
    >>> [layer.geometry for layer in ex.layers], ex.steps, ex.taps
    ([(48, 64, 3), (48, 64, 3), (48, 64, 3)], 3, 100)

A constant input reaches layer k after k + 1 steps; `reference(x)` gives every layer's
values from then on, and `step(x, values)` the values after one step from `values`.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import tecomp as ann
from tecomp import plan, reference
from tecomp.extensions.convolution import Convolution, Pooling
from tecomp.network import Network, default_network

INPUT = ann.Neuron(parameters="r = 0.0")
LAYER = ann.Neuron(equations="r = sum(exc)")
# Colour filters of E1, one per output channel: red-green, blue-yellow, luminance.
COLOURS = np.array([[1.0, -1.0, 0.0], [-0.5, -0.5, 1.0], [1 / 3, 1 / 3, 1 / 3]])


@dataclass
class Example:
    """A built network: its input, layers and projections, a default input `image`, and
    `functions[k]`, the NumPy value of layer k from the values of layer k - 1 (or the input)."""

    name: str
    network: Network
    input: object
    layers: tuple
    projections: tuple
    image: np.ndarray
    functions: tuple[Callable[[np.ndarray], np.ndarray], ...]

    @property
    def steps(self) -> int:
        """Steps until a constant input has reached the last layer."""
        return len(self.layers)

    @property
    def taps(self) -> int:
        """Taps of the largest window of its projections (the longest reduction)."""
        return max(k.spec.taps for k in plan.network_plan(self.network).projections)

    @property
    def flops(self) -> int:
        """Flops of one run (`steps` steps, every projection in each): 2 per tap of a
        convolution, 1 per tap of a pooling, for every post neuron (as `suite.Case.flops`)."""
        kernels = plan.network_plan(self.network).projections
        return self.steps * sum((1 if k.spec.kind == "Pooling" else 2) *
                                math.prod(k.spec.post) * k.spec.taps for k in kernels)

    def bytes(self, dtype: str) -> int:
        """Bytes one run must move at least: each projection's pre read and post written once
        per step (as `suite.Case.bytes`)."""
        kernels = plan.network_plan(self.network).projections
        return self.steps * np.dtype(dtype).itemsize * sum(
            math.prod(k.spec.pre) + math.prod(k.spec.post) for k in kernels)

    def tolerance(self, dtype: str) -> float:
        """The allowed relative error of the last layer against `reference` (see
        `tecomp.reference.tolerance`, with the taps of the largest window)."""
        return reference.tolerance(dtype, terms=self.taps)

    def reference(self, x: np.ndarray) -> list[np.ndarray]:
        """Every layer's values once a constant input `x` has gone through the network."""
        values = []
        for f in self.functions:
            x = f(x)
            values.append(x)
        return values

    def step(self, x: np.ndarray, values: list[np.ndarray]) -> list[np.ndarray]:
        """The layers after one step from `values`: each reads its source's old values."""
        sources = [x, *values[:-1]]
        return [f(s) for f, s in zip(self.functions, sources, strict=True)]


def e1(net: Network | None = None, precision: str | None = None, seed: int = 0) -> Example:
    """E1: a (480, 640, 3) image; mean pooling (10, 10, 1) -> (48, 64, 3); a 3x3 box filter
    per channel (keep_last_dimension); a bank of 3 colour filters (1, 1, 3)."""
    net = _network(net, precision)
    image = np.random.default_rng(seed).random((480, 640, 3))
    inp = net.create((480, 640, 3), INPUT, name="e1_image")
    pooled, smooth, colours = (net.create((48, 64, 3), LAYER, name=f"e1_{n}")
                               for n in ("pool", "smooth", "colours"))
    box = np.full((3, 3), 1.0 / 9.0)
    bank = COLOURS[:, None, None, :]  # (3 filters, 1, 1, 3 channels)
    projections = (
        Pooling(inp, pooled, "exc", operation="mean").connect_pooling(extent=(10, 10, 1)),
        Convolution(pooled, smooth, "exc").connect_filter(box, keep_last_dimension=True),
        Convolution(smooth, colours, "exc").connect_filters(bank),
    )
    functions = (
        lambda x: reference.pooling(x, (48, 64, 3), extent=(10, 10, 1), operation="mean"),
        lambda x: reference.convolution(x, box, (48, 64, 3), keep_last_dimension=True),
        lambda x: reference.convolution(x, bank, (48, 64, 3), bank=True),
    )
    return Example("E1", net, inp, (pooled, smooth, colours), projections, image, functions)


def e2(net: Network | None = None, precision: str | None = None, seed: int = 0) -> Example:
    """E2: a (128, 128, 3) image; bank 16x(5, 5, 3); max pooling 2x2; bank 32x(3, 3, 16);
    max pooling 2x2; a read-out bank 10x(32, 32, 32) -> (1, 1, 10) (a dense layer)."""
    net = _network(net, precision)
    rng = np.random.default_rng(seed)
    image = rng.random((128, 128, 3))
    # Weights scaled by 1/sqrt(fan-in) keep every layer's values of order one.
    w1, w2, w3 = (rng.normal(0.0, 1.0 / np.sqrt(np.prod(s[1:])), s)
                  for s in ((16, 5, 5, 3), (32, 3, 3, 16), (10, 32, 32, 32)))
    inp = net.create((128, 128, 3), INPUT, name="e2_image")
    geometries = [(128, 128, 16), (64, 64, 16), (64, 64, 32), (32, 32, 32), (1, 1, 10)]
    names = ["conv1", "pool1", "conv2", "pool2", "dense"]
    layers = tuple(net.create(g, LAYER, name=f"e2_{n}") for g, n in zip(geometries, names,
                                                                           strict=True))
    projections = (
        Convolution(inp, layers[0], "exc").connect_filters(w1),
        Pooling(layers[0], layers[1], "exc", operation="max").connect_pooling(),
        Convolution(layers[1], layers[2], "exc").connect_filters(w2),
        Pooling(layers[2], layers[3], "exc", operation="max").connect_pooling(),
        Convolution(layers[3], layers[4], "exc").connect_filters(w3),
    )
    functions = (
        lambda x: reference.convolution(x, w1, geometries[0], bank=True),
        lambda x: reference.pooling(x, geometries[1], operation="max"),
        lambda x: reference.convolution(x, w2, geometries[2], bank=True),
        lambda x: reference.pooling(x, geometries[3], operation="max"),
        lambda x: dense(x, w3),
    )
    return Example("E2", net, inp, layers, projections, image, functions)


def dense(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The read-out of E2 as a dot product. Each filter of the bank is as large as its pre
    map, so its one window is centred on the map and covers it exactly: the cross-correlation
    is `sum(w[f] * x)` (equal to `reference.convolution(x, weights, (1, 1, F), bank=True)`,
    which loops over the 32768 taps in Python and takes seconds)."""
    return np.tensordot(weights, x, axes=x.ndim).astype(x.dtype).reshape(1, 1, -1)


def _network(net: Network | None, precision: str | None) -> Network:
    net = default_network() if net is None else net
    if precision is not None:
        net.setup(precision=precision)
    return net
