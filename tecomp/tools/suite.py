"""The benchmark cases of docs/benchmark.md (B1-B8) as frozen descriptions, and the one
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

B7 and B8 are regular projections (`tecomp.Projection`): all-to-all with a dense
(post, pre) weight matrix, and a fixed_probability pattern that the case draws itself (each
(pre, post) pair a synapse with the probability, as `connect_fixed_probability` draws it)
and gives to `connect_from_sparse`, so that tecomp, every peer and both precisions use the
same synapses; their "weights" are that (post, pre) matrix, dense or scipy CSR.

E1 and E2 (the end-to-end networks) live in `tecomp.tools.examples`.
"""

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse

import tecomp as ann
from tecomp import reference
from tecomp.network import PRECISIONS

# The NumPy reference of a sparse case builds the dense (post, pre) matrix up to this many
# entries (the quick sizes); above (B8: 20000² = 3.2 GB), scipy's CSR product in float64 is
# the reference.
DENSE_REFERENCE_MAX = 4_000_000
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
    None for pooling; (post, pre) for a regular "Projection", all-to-all, or
    fixed_probability when `probability` is given. `options` are the other keyword
    arguments of the connect method, as (name, value) pairs. `small` is (pre, post,
    weights) of the scaled-down variant that `quick()` returns. Whether a case is compute-
    or memory-bound is not stated here: the benchmark decides it from `flops` and `bytes`
    against the machine balance it measures (`tools.limits.judge`).
    """

    name: str
    title: str
    kind: str  # "Convolution", "Pooling" or "Projection"
    pre: tuple[int, ...]
    post: tuple[int, ...]
    weights: tuple[int, ...] | None = None
    bank: bool = False
    psp: str | None = None
    operation: str = "sum"
    options: tuple[tuple[str, object], ...] = ()
    positive_weights: bool = False  # weights in [0.5, 1.5) instead of [-1, 1)
    small: tuple | None = None
    probability: float | None = None  # a Projection's fixed_probability; None: all-to-all

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
    def synapses(self) -> int:
        """A Projection's synapses (expected count for fixed_probability)."""
        return round(math.prod(self.pre) * math.prod(self.post) * (self.probability or 1.0))

    @property
    def window(self) -> tuple[int, ...]:
        """Terms per post neuron: the filter or pooling extent; a Projection's row length."""
        if self.kind == "Projection":
            return (round(self.synapses / math.prod(self.post)),)
        if self.kind == "Pooling":
            return tuple(dict(self.options)["extent"])
        return self.weights[1:] if self.bank else self.weights

    @property
    def taps(self) -> int:
        return math.prod(self.window)

    @property
    def flops(self) -> int:
        """2 per tap (multiply and add) for every post neuron; 1 per tap for pooling."""
        if self.kind == "Projection":
            return 2 * self.synapses
        return (1 if self.kind == "Pooling" else 2) * math.prod(self.post) * self.taps

    def tolerance(self, dtype: str) -> float:
        """The allowed relative error of a step against the NumPy reference (one reduction
        of `taps` terms per output; see `tecomp.reference.tolerance`)."""
        return reference.tolerance(dtype, terms=self.taps)

    def bytes(self, dtype: str) -> int:
        """Bytes a step must move at least: pre read once, post written once; for a
        Projection also every weight, and for a sparse one its int32 CSR indices (a column
        index per synapse, a row pointer per post neuron)."""
        item = np.dtype(dtype).itemsize
        moved = (math.prod(self.pre) + math.prod(self.post)) * item
        if self.kind == "Projection":
            moved += self.synapses * item
            if self.probability is not None:
                moved += 4 * (self.synapses + math.prod(self.post) + 1)
        return moved

    # -- data ---------------------------------------------------------------------------------
    def inputs(self, rng: np.random.Generator, dtype: str = "float64") -> np.ndarray:
        """Pre rates in [0, 1) (so log(1 + pre.r) is defined)."""
        return rng.random(self.pre).astype(dtype)

    def draw_weights(self, rng: np.random.Generator):
        if self.weights is None:
            return None
        if self.kind == "Projection" and self.probability is not None:
            return self.draw_pattern(rng)
        if self.positive_weights:
            return rng.uniform(0.5, 1.5, self.weights)
        return rng.uniform(-1.0, 1.0, self.weights)

    def draw_pattern(self, rng: np.random.Generator) -> scipy.sparse.csr_matrix:
        """A fixed_probability pattern as a (post, pre) CSR matrix, weights uniform in
        [-1, 1): each pair a synapse with `probability` (a binomial count per post neuron,
        then that many distinct pre neurons), float64 data and int32 indices."""
        n_post, n_pre = self.weights
        counts = rng.binomial(n_pre, self.probability, n_post)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        indices = np.concatenate([np.sort(rng.choice(n_pre, c, replace=False))
                                  for c in counts]).astype(np.int32)
        data = rng.uniform(-1.0, 1.0, len(indices))
        return scipy.sparse.csr_matrix((data, indices, indptr), shape=(n_post, n_pre))

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
        if self.kind == "Projection":
            if weights is None:
                weights = self.draw_weights(rng or np.random.default_rng(0))
            proj = ann.Projection(pre, post, "exc", name=self.name)
            if scipy.sparse.issparse(weights):
                proj.connect_from_sparse(weights)
            else:
                proj.connect_all_to_all(weights=weights)
        elif self.kind == "Pooling":
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
        if self.kind == "Projection":
            return self._matrix_reference(x, weights)
        options = dict(self.options)
        if self.kind == "Pooling":
            return reference.pooling(x, self.post, operation=self.operation, **options)
        kwargs = {} if self.psp is None else {"psp": self.psp}
        return reference.convolution(x, weights, self.post, bank=self.bank,
                                     operation=self.operation, **options, **kwargs)


    def _matrix_reference(self, x: np.ndarray, weights) -> np.ndarray:
        """`reference.projection` on the (post, pre) matrix (NaN: no synapse) at x's
        precision; for a sparse matrix too large to densify, scipy's CSR product in float64
        of the weights rounded to x's precision."""
        dtype = x.dtype
        if not scipy.sparse.issparse(weights):
            return reference.projection(np.asarray(weights).astype(dtype), {"r": x.ravel()})
        if math.prod(weights.shape) <= DENSE_REFERENCE_MAX:
            dense = np.full(weights.shape, np.nan, dtype)
            rows = np.repeat(np.arange(weights.shape[0]), np.diff(weights.indptr))
            dense[rows, weights.indices] = weights.data
            return reference.projection(dense, {"r": x.ravel()})
        exact = scipy.sparse.csr_matrix((weights.data.astype(dtype).astype(np.float64),
                                         weights.indices, weights.indptr), shape=weights.shape)
        return (exact @ x.ravel().astype(np.float64)).astype(dtype)


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
    Case("B7", "all_to_all 4096 → 4096", "Projection", (4096,), (4096,), (4096, 4096),
         small=((256,), (256,), (256, 256))),
    Case("B8", "fixed_probability(0.05) 20000 → 20000", "Projection", (20000,), (20000,),
         (20000, 20000), probability=0.05, small=((2000,), (2000,), (2000, 2000))),
)}


def cases(names=None, quick: bool = False) -> list[Case]:
    """The cases to run, in order (all of CASES by default), scaled down when `quick`."""
    names = list(CASES) if names is None else list(names)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise ValueError(f"unknown case(s) {unknown}; choose from {list(CASES)}")
    return [CASES[n].quick() if quick else CASES[n] for n in names]
