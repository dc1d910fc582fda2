"""The benchmark cases of docs/benchmark.md (B1-B6) as frozen descriptions, and the one
mapping between a precision ("double", "float") and its dtype that the tools use.

A case builds its network on a `tecomp.Network` (an input population whose `r` is a
parameter, one projection, a post population with `r = sum(exc)`), draws its input and
weights, and gives the NumPy reference output of one step. The benchmark
(`python -m tecomp.tools.bench`) and `tecomp-tune --suite bench` use the same objects:

>>> import numpy as np, tecomp as ann
>>> case = CASES["B1"].quick()
>>> net = ann.Network(precision="float")
>>> rng = np.random.default_rng(0)
>>> pre, post, proj = case.build(net, rng)
>>> x = case.inputs(rng, net.dtype)
>>> net.compile(); pre.r = x; net.step()
>>> error = reference.relative_error(post.r, case.reference(x, proj.weights))
>>> bool(error <= case.tolerance(net.dtype))
True

E1 and E2 (the end-to-end networks) live in `tecomp.tools.examples`.
"""

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

import tecomp as ann
from tecomp import reference
from tecomp.network import PRECISIONS

_PRECISION_OF = {dtype: precision for precision, dtype in PRECISIONS.items()}


def precision_of(dtype) -> str:
    """The precision ("double", "float") of a dtype ("float64", "float32", np.float32...).

    >>> precision_of("float32"), precision_of(np.float64)
    ('float', 'double')
    """
    return _PRECISION_OF[str(np.dtype(dtype))]


def network(dtype) -> "ann.Network":
    """A new network at the precision of `dtype`."""
    return ann.Network(precision=precision_of(dtype))


@dataclass(frozen=True)
class Case:
    """One projection between an input population and a post population.

    `weights` is the shape passed to `connect_filter` (or `connect_filters` when `bank`);
    None for pooling. `options` are the other keyword arguments of the connect method, as
    (name, value) pairs. `small` is (pre, post, weights) of the scaled-down variant that
    `quick()` returns. Whether a case is compute- or memory-bound is not stated here: the
    benchmark decides it from `flops` and `bytes` against the machine balance it measures
    (`tools.limits.judge`).
    """

    name: str
    title: str
    kind: str  # "Convolution" or "Pooling"
    pre: tuple[int, ...]
    post: tuple[int, ...]
    weights: tuple[int, ...] | None = None
    bank: bool = False
    psp: str | None = None
    operation: str = "sum"
    options: tuple[tuple[str, object], ...] = ()
    positive_weights: bool = False  # weights in [0.5, 1.5) instead of [-1, 1)
    small: tuple | None = None

    def quick(self) -> "Case":
        """The same projection on small geometries (compiles and runs in well under a second)."""
        if self.small is None:
            return self
        pre, post, weights = self.small
        return dataclasses.replace(self, pre=pre, post=post,
                                   weights=weights if weights is not None else self.weights,
                                   small=None)

    # -- sizes --------------------------------------------------------------------------------
    @property
    def window(self) -> tuple[int, ...]:
        if self.kind == "Pooling":
            return tuple(dict(self.options)["extent"])
        return self.weights[1:] if self.bank else self.weights

    @property
    def taps(self) -> int:
        return math.prod(self.window)

    @property
    def flops(self) -> int:
        """2 per tap (multiply and add) for every post neuron; 1 per tap for pooling."""
        return (1 if self.kind == "Pooling" else 2) * math.prod(self.post) * self.taps

    def tolerance(self, dtype: str) -> float:
        """The allowed relative error of a step against the NumPy reference (one reduction
        of `taps` terms per output; see `tecomp.reference.tolerance`)."""
        return reference.tolerance(dtype, terms=self.taps)

    def bytes(self, dtype: str) -> int:
        """Bytes a step must move at least: pre read once, post written once."""
        return (math.prod(self.pre) + math.prod(self.post)) * np.dtype(dtype).itemsize

    # -- data ---------------------------------------------------------------------------------
    def inputs(self, rng: np.random.Generator, dtype: str = "float64") -> np.ndarray:
        """Pre rates in [0, 1) (so log(1 + pre.r) is defined)."""
        return rng.random(self.pre).astype(dtype)

    def draw_weights(self, rng: np.random.Generator) -> np.ndarray | None:
        if self.weights is None:
            return None
        if self.positive_weights:
            return rng.uniform(0.5, 1.5, self.weights)
        return rng.uniform(-1.0, 1.0, self.weights)

    # -- networks -----------------------------------------------------------------------------
    def build(self, net, rng: np.random.Generator | None = None,
              weights: np.ndarray | None = None):
        """Add pre, post and the projection to `net`; returns (pre, post, proj).

        The weights are `weights` if given, else drawn from `rng` (seed 0 if None)."""
        from tecomp.extensions.convolution import Convolution, Pooling

        pre = net.create(self.pre, ann.Neuron(parameters="r = 0.0"), name=f"{self.name}_pre")
        post = net.create(self.post, ann.Neuron(equations="r = sum(exc)"),
                          name=f"{self.name}_post")
        options = dict(self.options)
        if self.kind == "Pooling":
            proj = Pooling(pre, post, "exc", operation=self.operation, name=self.name)
            proj.connect_pooling(**options)
        else:
            kwargs = {} if self.psp is None else {"psp": self.psp}
            proj = Convolution(pre, post, "exc", operation=self.operation, name=self.name,
                               **kwargs)
            if weights is None:
                weights = self.draw_weights(rng or np.random.default_rng(0))
            connect = proj.connect_filters if self.bank else proj.connect_filter
            connect(weights, **options)
        return pre, post, proj

    def spec(self, dtype: str):
        """The kernel spec of this case's projection at `dtype` (what tuning keys on)."""
        from tecomp import plan

        net = network(dtype)
        self.build(net)
        return plan.network_plan(net).projections[0].spec

    def reference(self, x: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """The post rates after one step with pre.r = x (NumPy, at the precision of x)."""
        options = dict(self.options)
        if self.kind == "Pooling":
            return reference.pooling(x, self.post, operation=self.operation, **options)
        kwargs = {} if self.psp is None else {"psp": self.psp}
        return reference.convolution(x, weights, self.post, bank=self.bank,
                                     operation=self.operation, **options, **kwargs)


CASES: dict[str, Case] = {c.name: c for c in (
    Case("B1", "3×3 filter, 1024²", "Convolution", (1024, 1024), (1024, 1024), (3, 3),
         small=((64, 64), (64, 64), None)),
    Case("B2", "bank 32×7×7, stride 2", "Convolution", (512, 512), (256, 256, 32),
         (32, 7, 7), bank=True, small=((64, 64), (32, 32, 8), (8, 7, 7))),
    Case("B3", "CNN layer 64×(3,3,64)", "Convolution", (112, 112, 64), (112, 112, 64),
         (64, 3, 3, 64), bank=True, small=((16, 16, 8), (16, 16, 8), (8, 3, 3, 8))),
    Case("B4", "max pooling (2,2,1)", "Pooling", (224, 224, 64), (112, 112, 64),
         operation="max", options=(("extent", (2, 2, 1)),),
         small=((32, 32, 16), (16, 16, 16), None)),
    # Weights > 0: every term is >= 0, so ANNarchy (whose max starts at 0) agrees.
    Case("B5", "5×5 max of w*pre.r", "Convolution", (512, 512), (512, 512), (5, 5),
         operation="max", positive_weights=True, small=((64, 64), (64, 64), None)),
    Case("B6", "5×5 psp w*log(1+pre.r)", "Convolution", (512, 512), (512, 512), (5, 5),
         psp="w*log(1+pre.r)", small=((64, 64), (64, 64), None)),
)}


def cases(names=None, quick: bool = False) -> list[Case]:
    """The cases to run, in order (all of CASES by default), scaled down when `quick`."""
    names = list(CASES) if names is None else list(names)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise ValueError(f"unknown case(s) {unknown}; choose from {list(CASES)}")
    return [CASES[n].quick() if quick else CASES[n] for n in names]
