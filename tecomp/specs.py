"""Frozen descriptions of kernels: what lowering compiles and what the schedule cache keys on.

A convolution and a pooling are the same kind of kernel: a window slid over the pre
population, one output per post neuron. Each pre axis is read in one of three ways:

- "conv": paired with post axis `post_axis` and window axis `window_axis`; the window
  centre for post index i is `offset + stride * i` (or a row of the subsampling table), and
  tap t reads `centre + t - (size - 1) // 2`;
- "span": the window covers the axis whole, tap t reads index t (RGB channels, pooling
  over an axis that post lacks);
- "keep": the pre index is the post index on `post_axis` (keep_last_dimension).
"""

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .expr import Expr, Kind, draws, names

OPERATIONS = (Kind.SUM, "max", "min", "mean")


@dataclass(frozen=True)
class AxisMap:
    mode: str  # "conv", "span" or "keep"
    post_axis: int | None = None
    window_axis: int | None = None
    stride: int = 1
    offset: int = 0


@dataclass(frozen=True)
class WindowSpec:
    """One Convolution or Pooling kernel. `weights` is None for pooling; for a bank of
    filters it is (F, *window) and post's last axis enumerates the filters.

    `footprints` (a bank of filters of different sizes, `connect_filters([...])`): each
    filter's own size. `window` is then the largest size on each axis, and filter f sits in
    it at the offset that keeps its own centre, `(K - 1) // 2 - (k - 1) // 2` per axis, so
    that tap T of the window reads `centre + T - (K - 1) // 2` for every filter. Taps outside
    a filter's footprint contribute the operation's neutral element (a tap mask, see
    `masked`), and `mean` divides by each filter's own tap count (see `scaled`)."""

    kind: str  # "Convolution" or "Pooling"
    pre: tuple[int, ...]
    post: tuple[int, ...]
    window: tuple[int, ...]
    axes: tuple[AxisMap, ...]
    operation: str
    psp: Expr
    padding: float | str  # a rate, or "border"
    weights: tuple[int, ...] | None = None
    table: bool = False  # explicit subsampling: centres are a kernel input
    dtype: str = "float64"
    footprints: tuple[tuple[int, ...], ...] | None = None
    batch: int = 1  # axis 0 of pre and post is a batch (run_batch; see `batched`)

    @property
    def bank(self) -> bool:
        return self.weights is not None and len(self.weights) == len(self.window) + 1

    @property
    def taps(self) -> int:
        return math.prod(self.window)

    @property
    def constants(self) -> tuple[str, ...]:
        """The Constants the psp reads (one-value kernel inputs, after the others)."""
        return tuple(sorted(names(self.psp, Kind.VAR) - {"w"}))

    @property
    def pre_shape(self) -> tuple[int, ...]:
        """The shape in which the kernel reads a pre variable (the geometry)."""
        return self.pre

    @property
    def post_shape(self) -> tuple[int, ...]:
        return self.post

    @property
    def positions(self) -> tuple[int, ...]:
        """The post shape the centres run over: post without the filter axis of a bank."""
        return self.post[:-1] if self.bank else self.post

    @property
    def pre_vars(self) -> tuple[str, ...]:
        return tuple(sorted(names(self.psp, Kind.PRE)))

    def reach(self, axis: int) -> tuple[int, int]:
        """How far the taps on a pre axis go below 0 and beyond the last index."""
        m = self.axes[axis]
        if m.mode != "conv":
            return 0, 0
        size = self.window[m.window_axis]
        if self.table:
            first, last = 0, self.pre[axis] - 1
        else:
            first, last = m.offset, m.offset + m.stride * (self.post[m.post_axis] - 1)
        low = first - (size - 1) // 2
        high = last + size - 1 - (size - 1) // 2
        return max(0, -low), max(0, high - (self.pre[axis] - 1))

    @property
    def filter_taps(self) -> tuple[int, ...]:
        """Taps of each filter of a bank (its own footprint's), else (taps,)."""
        if self.footprints is not None:
            return tuple(math.prod(f) for f in self.footprints)
        return (self.taps,) * (self.weights[0] if self.bank else 1)

    # Measured (pre 64x64; 4 filters each of 3x3, 5x5, 7x7 into post (64, 64, 12); default
    # schedules, TVM_NUM_THREADS=2, the lowest of 9 interleaved medians of 400 calls, on a
    # shared 2-core machine, so ±30 %): with operation sum, the padded kernel with the mask
    # took 0.068-0.074 ms in float32 and 0.069-0.137 ms in float64, the same kernel with
    # zero weights and no mask 0.071-0.076 and 0.072-0.144 ms. The mask costs nothing
    # measurable, so the zero-weight shortcut for sum with `w * g(pre)` (exact only while
    # g(pre) is finite: 0 * inf is NaN) is not kept: every bank of several sizes is masked.
    # Three equal-size banks (one kernel per size) took 0.045-0.064 ms (f32) and
    # 0.046-0.099 ms (f64) together: 1.4-1.75x less than the padded kernel over sum, max
    # and mean, about the ratio of the taps computed (12 x 49 against 4 x (9 + 25 + 49)).
    # So the default algorithm is one bank per size inside the same kernel (knob
    # filter_groups, see lowering.window): 0.11-0.15 ms against 0.26-0.42 ms for the padded
    # kernel in the same run (sum, max, mean; float32 and float64; a loaded machine).
    @property
    def masked(self) -> bool:
        """Whether the kernel reads a tap mask (see `tap_inputs`): every bank of several
        sizes, whatever the psp and the operation."""
        return self.footprints is not None

    @property
    def scaled(self) -> bool:
        """Whether the kernel reads one scale per filter (mean over filters of several
        sizes: each divides by its own tap count)."""
        return self.footprints is not None and self.operation == "mean"

    @property
    def flops(self) -> int:
        """2 per tap (multiply and add), the usual count for convolutions; a bank of several
        sizes counts each filter's own taps."""
        return 2 * math.prod(self.positions) * sum(self.filter_taps)

    def offsets(self, f: int) -> tuple[int, ...]:
        """Where filter f of a bank of several sizes starts in the window, per axis."""
        return tuple((big - 1) // 2 - (own - 1) // 2
                     for big, own in zip(self.window, self.footprints[f], strict=True))


def filter_groups(spec: WindowSpec) -> list[tuple[WindowSpec, tuple[int, ...]]]:
    """A bank of filters of several sizes as banks of one size each: (the bank's own spec,
    the indices of its filters in the whole bank), by size in order of first appearance."""
    members: dict[tuple[int, ...], list[int]] = {}
    for f, own in enumerate(spec.footprints):
        members.setdefault(own, []).append(f)
    return [(dataclasses.replace(spec, window=own, weights=(len(found), *own), footprints=None,
                                 post=spec.positions + (len(found),)), tuple(found))
            for own, found in members.items()]


def tap_inputs(spec: WindowSpec) -> list[np.ndarray]:
    """The kernel inputs that follow the subsampling table, in order: for a bank of several
    sizes, the tap mask (window + (F,), 1 where a tap is in filter f's footprint, the
    filters innermost like the kernel's weights), then with `mean` each filter's scale
    1 / its own taps (F,)."""
    out = []
    if spec.masked:
        mask = np.zeros(spec.window + (len(spec.footprints),))
        for f, own in enumerate(spec.footprints):
            mask[tuple(slice(o, o + k) for o, k in zip(spec.offsets(f), own, strict=True))
                 + (f,)] = 1.0
        out.append(mask)
    if spec.scaled:
        out.append(1.0 / np.array(spec.filter_taps, dtype=np.float64))
    return out


# How a regular projection stores its synapses (see `MatrixSpec`).
LAYOUTS = ("dense", "masked", "ell", "one_to_one")


@dataclass(frozen=True)
class MatrixSpec:
    """One regular projection (`tecomp.projection.Projection`): per post neuron i,
    y[i] = operation over its synapses s of psp(w[s], pre[j(s)], post[i], ...).

    The synapses are stored in `layout`:

    - "dense": every post neuron has every pre neuron (all-to-all between whole
      populations): per-synapse arrays are (post, pre), pre index j = k; with `diagonal`,
      pre neuron i is left out of post neuron i's synapses (no self-connections);
    - "masked": whole rows as "dense", for any pattern: a (post, pre) uint8 mask of the
      synapses that exist and a (post,) int32 count of each row's synapses;
    - "ell": padded rows (ELLPACK): per-synapse arrays are (post, row), a (post, row) int32
      table of pre ranks and a (post,) int32 count of each row's synapses; entries past the
      count are padding, which takes no part (views, sparse and irregular patterns);
    - "one_to_one": post neuron i has pre neuron i only: per-synapse arrays are (post,).

    With `ring`, synapses have delays of their own (in steps, an int32 table beside the
    weights): a synapse of delay d >= 1 reads its pre value from the ring slot
    (step + 1 - d) mod ring, which holds the values at the end of step k - d; a synapse of
    delay 0 reads the current values.

    Names in `psp`: ("var", name) for the per-synapse values `synapse_vars` (w first),
    the per-post-neuron parameters `dendrite_vars` and the one-value ones
    `projection_vars`; ("pre", x) and ("post", x) for the populations' variables. A post
    neuron without synapses gets 0, whatever the operation (as in ANNarchy, where it has no
    dendrite to compute).
    """

    layout: str
    pre: int  # pre population size (flat)
    post: int  # post population size (flat)
    row: int  # synapses per row as stored: pre (dense, masked), padded length (ell), 1
    operation: str
    psp: Expr
    synapse_vars: tuple[str, ...] = ("w",)
    dendrite_vars: tuple[str, ...] = ()
    projection_vars: tuple[str, ...] = ()
    diagonal: bool = False
    dtype: str = "float64"
    # Per-synapse delays: each pre variable is also read from its ring of past values,
    # (ring, ring_row) = (slots, padded row length), slot = (step + 1 - delay) mod ring.
    ring: int = 0
    ring_row: int = 0
    batch: int = 1  # independent copies of the populations, side by side (run_batch)

    @property
    def pre_vars(self) -> tuple[str, ...]:
        return tuple(sorted(names(self.psp, Kind.PRE)))

    @property
    def post_vars(self) -> tuple[str, ...]:
        return tuple(sorted(names(self.psp, Kind.POST)))

    @property
    def pre_shape(self) -> tuple[int, ...]:
        """The shape in which the kernel reads a pre variable (flat, after the batch)."""
        return (self.batch, self.pre) if self.batch > 1 else (self.pre,)

    @property
    def post_shape(self) -> tuple[int, ...]:
        return (self.batch, self.post) if self.batch > 1 else (self.post,)

    @property
    def synapse_shape(self) -> tuple[int, ...]:
        return (self.post,) if self.layout == "one_to_one" else (self.post, self.row)

    @property
    def taps(self) -> int:
        """Terms per output as stored (the reduction's length)."""
        return self.row

    @property
    def flops(self) -> int:
        return 2 * self.batch * self.post * self.row


@dataclass(frozen=True)
class NeuronSpec:
    """The update of one population: `outputs[k] = exprs[k]`, elementwise over `size`.

    `exprs` read ("var", name) for the per-neuron attributes in `inputs` and the one-value
    ones in `scalars` (population-wide parameters, `t`, Constants, and the values of
    population-wide operations, read as ("global", "mean(r)") leaves), ("sum", target) for
    each target in `targets`, whose value is the sum of `target_counts[k]` projection
    outputs, and ("let", name) for the values of `lets`, computed in order (each may read
    earlier ones).

    Random draws, ("rand", kind, index, parameters) nodes, make the kernel read two more
    arguments after the one-value ones: the population's seed words (2,) uint32 and the
    step counter (1,) int64 (see `tecomp.philox`).

    With `reduction`, the kernel computes population-wide operations instead: each output
    is one value, exprs[k] = ("global", "mean(r)") over the per-neuron input `r`.
    """

    size: int
    inputs: tuple[str, ...]
    targets: tuple[str, ...]
    target_counts: tuple[int, ...]
    outputs: tuple[str, ...]
    exprs: tuple[Expr, ...]
    dtype: str = "float64"
    scalars: tuple[str, ...] = ()
    lets: tuple[tuple[str, Expr], ...] = ()
    reduction: bool = False

    @property
    def draws(self) -> tuple[Expr, ...]:
        """The random draws of the update, by index (empty without any)."""
        found = {node for tree in (*self.exprs, *(e for _, e in self.lets))
                 for node in draws(tree)}
        return tuple(sorted(found, key=lambda node: node[2]))


def batched(spec: "WindowSpec | NeuronSpec | MatrixSpec", batch: int):
    """The same kernel over `batch` independent copies of the network's populations (see
    `tecomp.batch`): a leading batch axis on every per-neuron tensor, weights and tables
    shared. A window gets a "keep" axis in front (post index b reads pre index b); a
    population update runs over batch × size neurons; a regular projection has `batch`."""
    if batch == 1:
        return spec
    if isinstance(spec, WindowSpec):
        shifted = tuple(dataclasses.replace(m, post_axis=None if m.post_axis is None
                                            else m.post_axis + 1) for m in spec.axes)
        return dataclasses.replace(spec, pre=(batch, *spec.pre), post=(batch, *spec.post),
                                   axes=(AxisMap("keep", 0), *shifted), batch=batch)
    if isinstance(spec, MatrixSpec):
        return dataclasses.replace(spec, batch=batch)
    if spec.reduction:
        raise ValueError("population-wide operations have no batched form")
    return dataclasses.replace(spec, size=spec.size * batch)


# Fields added after records were first written: left out of the JSON form while they hold
# their default, so a spec that does not use them keeps its record key.
_OPTIONAL = {"reduction": False, "footprints": None, "batch": 1}


def to_dict(spec: "WindowSpec | NeuronSpec | MatrixSpec") -> dict:
    """A JSON-ready form of a spec (the inverse of `from_dict`)."""
    fields = {k: v for k, v in dataclasses.asdict(spec).items()
              if k not in _OPTIONAL or v != _OPTIONAL[k]}
    return {"type": type(spec).__name__, **fields}


def from_dict(data: dict) -> "WindowSpec | NeuronSpec | MatrixSpec":
    fields = {k: _tuples(v) for k, v in data.items() if k != "type"}
    if data["type"] == "WindowSpec":
        fields["axes"] = tuple(AxisMap(**a) for a in data["axes"])
        return WindowSpec(**fields)
    if data["type"] == "MatrixSpec":
        return MatrixSpec(**fields)
    return NeuronSpec(**fields)


def _tuples(value):
    """JSON lists back to the tuples that specs hold (expression trees included)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value
