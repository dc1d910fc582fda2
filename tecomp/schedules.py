"""CPU schedule templates: `schedule_x(sch, spec, knobs)`, knobs typed (see `knobs`).

`default_knobs(spec)` is valid for every geometry and is chosen from the kernel's shape
and the CPU's vector width and register count (`build.vector_bytes`, `build.accumulators`):
the output's outer loops are fused and run in parallel when the work pays for the threads;
the output axis with the closest pre reads is vectorised over two registers, accumulated in
registers; a bank gets a tile of as many positions x its filter vectors as the accumulator
registers hold (14 x 2 registers on a Xeon with AVX-512, 4 x 2 with AVX2 or on Zen 4) and
tests its taps' range instead of copying pre padded; a convolution whose rows overlap gets
a tile of 2 rows; a small sum over an input beyond the caches tests its taps' range too;
small windows are unrolled. A tuner replaces the defaults with measured ones; every knob
value drawn from `candidates(spec)` is valid.
"""

import dataclasses
import itertools
import math
from typing import TYPE_CHECKING

from .build import accumulators, num_threads, vector_bytes
from .errors import KnobError
from .expr import split_psp
from .knobs import Knobs, MatrixKnobs, UpdateKnobs, WindowKnobs
from .stages import REDUCE_BLOCK, Stage

if TYPE_CHECKING:  # choosing knobs needs no TVM; applying them gets a schedule
    from tvm import s_tir
from .specs import MatrixSpec, NeuronSpec, WindowSpec, filter_groups

TEMPLATE_VERSION = 1
# Below this many multiply-adds a kernel runs faster on one thread than it takes to wake two.
PARALLEL_MIN_WORK = 1 << 17
MAX_UNROLL_TAPS = 64
MAX_UNROLL_STEPS = 512
# Vector loads of every 3rd element or sparser turn into slow gathers.
MAX_VECTOR_STRIDE = 2
BLOCKS = (2, 4, 8)
# Positions of a bank's register tile, largest first (each times the filter vectors); more
# than 14 positions of one filter vector load an input per FMA and measured slower.
BANK_BLOCKS = (14, 12, 8, 7, 6, 4, 2)
# The inline padding default (`_inline_by_default`): windows up to 3x3-sized, inputs
# beyond a core's L2 cache.
INLINE_MAX_TAPS = 9
INLINE_MIN_PRE_BYTES = 2 << 20
# Vector widths of a reduction (each divides stages.REDUCE_BLOCK).
REDUCTION_WIDTHS = (64, 32, 16, 8, 4, 2, 1)


def lanes(dtype: str) -> int:
    return vector_bytes() // (4 if dtype == "float32" else 8)


def _widths(extent: int, dtype: str) -> list[int]:
    """Vector widths that divide an axis, widest first: 4, 2 or 1 registers, or a half or
    quarter register (a narrower vector beats none when an axis holds few elements)."""
    n = lanes(dtype)
    return [w for w in (n * 4, n * 2, n, n // 2, n // 4) if w >= 2 and extent % w == 0]


def _default_width(widths: list[int], dtype: str) -> int:
    """Two registers where the axis allows (loads of one overlap the FMAs of the other)."""
    fitting = [w for w in widths if w <= 2 * lanes(dtype)]
    return fitting[0] if fitting else 1


def template(spec) -> str:
    """The name of a spec's template (what its knobs are for)."""
    if isinstance(spec, MatrixSpec):
        return "matrix"
    return "update" if isinstance(spec, NeuronSpec) else "window"


def default_knobs(spec) -> Knobs:
    if isinstance(spec, MatrixSpec):
        return _default_matrix(spec)
    if isinstance(spec, NeuronSpec) and spec.reduction:
        # sums accumulate in float64; 4 registers of partial sums hide the adds' latency
        return UpdateKnobs(vector_width=min(REDUCE_BLOCK, 4 * lanes("float64")),
                           parallel=spec.size >= PARALLEL_MIN_WORK)
    if isinstance(spec, NeuronSpec):
        widths = [w for w in _widths(spec.size, spec.dtype) if w <= lanes(spec.dtype)]
        return UpdateKnobs(vector_width=widths[0] if widths else 1,
                           parallel=spec.size * len(spec.outputs) >= PARALLEL_MIN_WORK)
    if spec.footprints is not None:  # one bank per size: measured faster, see specs
        return WindowKnobs(filter_groups=True,
                           parallel=math.prod(spec.post) * spec.taps >= PARALLEL_MIN_WORK)
    taps = _tap_vector(spec)
    if taps:  # a read-out layer: vectors over the taps (B7-like, see schedule_taps)
        block = 4 if spec.batch % 4 == 0 else 1  # 4 batch elements per filter load
        return WindowKnobs(tap_vector=taps, block_axis=0 if block > 1 else None, block=block,
                           parallel=math.prod(spec.post) * spec.taps >= PARALLEL_MIN_WORK,
                           unroll=False)
    if _inline_by_default(spec):
        return WindowKnobs(parallel=True, unroll=True, inline_padding=True)
    axis = _vector_axis(spec)
    widths = _widths(spec.post[axis], spec.dtype) if axis is not None else []
    width = _default_width(widths, spec.dtype)
    block_axis, block, inline = None, 1, False
    if spec.bank and widths and axis == len(spec.post) - 1 and len(spec.post) > 1 and \
            spec.taps > 1:
        # With the filters in the vector, a tile of neighbouring positions reuses each
        # weight vector from registers (the classic direct-convolution micro-kernel), as
        # many as the accumulator registers allow.
        vectors, room = max(1, width // lanes(spec.dtype)), accumulators()
        fitting = [b for b in BANK_BLOCKS if b * vectors <= room and spec.post[-2] % b == 0]
        if fitting:
            block_axis, block = len(spec.post) - 2, fitting[0]
        # Range tests on the positions cost the vector loop nothing and save writing and
        # reading a padded copy of pre (B3, 8 x 2 tile: 2.79 -> 2.68 ms float32, 5.75 ->
        # 5.55 ms float64 on AVX-512; 5.08 -> 4.87, 11.1 -> 10.7 ms on an AVX2 target).
        inline = spec.padding != "border" and \
            any(spec.reach(a) != (0, 0) for a in range(len(spec.pre)))
    elif _rows_overlap(spec) and axis not in (None, 0):
        # Two neighbouring rows of outputs read the same pre rows but one: a tile of two
        # rows loads each of them once for both (B5, 5x5 max over 512², 2 threads: 0.14 ->
        # 0.10 ms float32, 0.25 -> 0.21 ms float64 on AVX-512, 0.13-0.31 -> 0.12-0.21 ms on
        # an AVX2 target; B6 3-6 % faster).
        block_axis, block = 0, 2
    return WindowKnobs(
        vector_axis=axis if width > 1 else None,
        vector_width=width,
        block_axis=block_axis,
        block=block,
        parallel=math.prod(spec.post) * spec.taps >= PARALLEL_MIN_WORK,
        unroll=spec.taps <= MAX_UNROLL_TAPS,
        inline_padding=inline and width > 1,
    )


def candidates(spec) -> list[Knobs]:
    """Every valid knob setting of a spec's template (what a tuner may try)."""
    if isinstance(spec, MatrixSpec):
        return _matrix_candidates(spec)
    if isinstance(spec, NeuronSpec) and spec.reduction:
        return [UpdateKnobs(vector_width=w, parallel=p) for w in REDUCTION_WIDTHS
                for p in (False, True)]
    if isinstance(spec, NeuronSpec):
        return [UpdateKnobs(vector_width=w, parallel=p)
                for w in _widths(spec.size, spec.dtype) + [1] for p in (False, True)]
    strides = pre_strides(spec)
    vectors = [(a, w) for a, stride in enumerate(strides)
               if stride is not None and stride <= MAX_VECTOR_STRIDE
               for w in _widths(spec.post[a], spec.dtype)] + [(None, 1)]
    padded = any(spec.reach(a) != (0, 0) for a in range(len(spec.pre)))
    out = []
    for (axis, width), parallel, unroll, inline in itertools.product(
            vectors, (False, True), (False, True), (False, True) if padded else (False,)):
        if inline and axis is not None and strides[axis] != 0:
            continue  # partitioning at the range tests would cut the vector loop
        blocks = [(None, 1)] + [(b, f) for b in range(len(spec.post)) if b != axis
                                for f in _block_sizes(spec, b) if spec.post[b] % f == 0]
        for block_axis, block in blocks:
            out.append(WindowKnobs(vector_axis=axis, vector_width=width,
                                   block_axis=block_axis, block=block, parallel=parallel,
                                   unroll=unroll, inline_padding=inline))
    if spec.footprints is not None:
        out += [WindowKnobs(filter_groups=True, parallel=p) for p in (False, True)]
    batch_blocks = [1, *(b for b in BLOCKS if spec.batch > 1 and spec.batch % b == 0)]
    out += [WindowKnobs(tap_vector=w, parallel=p, unroll=False, block=b,
                        block_axis=0 if b > 1 else None)
            for w in _tap_widths(spec) for p in (False, True) for b in batch_blocks]
    return out


def _block_sizes(spec: WindowSpec, axis: int) -> tuple[int, ...]:
    """Tile sizes a tuner may try on an output axis: a bank's positions take the sizes of
    its default tiles too."""
    if spec.bank and axis == len(spec.post) - 2:
        return tuple(sorted(set(BLOCKS) | set(BANK_BLOCKS)))
    return BLOCKS


def _tap_widths(spec: WindowSpec) -> list[int]:
    """Partial sums over the taps (sums and means only: TVM splits no other reducer)."""
    if spec.operation not in ("sum", "mean") or spec.taps < 64:
        return []
    return _widths(spec.taps, spec.dtype)


def _tap_vector(spec: WindowSpec) -> int:
    """One register of partial sums over the taps where a window is far larger than the
    output it makes (E2's read-out: 10 filters of 32x32x32 over one position, 0.49 ms with
    output tiles against 0.028 ms so): 0 where output tiles suit better."""
    positions = math.prod(spec.positions) // spec.batch
    widths = [w for w in _tap_widths(spec) if w <= lanes(spec.dtype)]
    return widths[0] if widths and spec.taps >= 256 and spec.taps >= 8 * positions else 0


def _rows_overlap(spec: WindowSpec) -> bool:
    """Whether neighbouring outputs along axis 0 read overlapping pre rows: a convolution
    window more than one row tall, moving by one row (not a bank: its filters fill the
    tile), over an even number of rows."""
    first = spec.axes[0]
    return (not spec.bank and spec.kind == "Convolution" and len(spec.post) > 1
            and first.mode == "conv" and first.post_axis == 0 and first.stride == 1
            and spec.window[first.window_axis] > 1 and not spec.table
            and spec.post[0] % 2 == 0)


def _inline_by_default(spec: WindowSpec) -> bool:
    """Taps that test their range instead of a padded copy of pre, for a small sum over a
    large input: the copy is a whole extra pass over memory (read pre, write it padded,
    read it again) next to a kernel that is memory-bound already. No tile: LLVM vectorises
    the innermost loop of the partitioned interior itself (B1, 1024² 3×3, 2 threads: 0.14 /
    0.33 ms float32 / float64 against 0.21 / 0.41 ms for the best with the padded copy, on
    AVX-512 and on an AVX2 target alike; tiles of 2-4 outputs 0.36-0.62 ms). Not for max/min
    (their range tests vectorise badly: B5 5×5 max 0.29 against 0.12 ms), a psp with
    pre-only parts (computed once per pre neuron in the copy, else once per tap), banks,
    strides, tables, or an input that fits a core's caches."""
    _, hoisted = split_psp(spec.psp)
    padded = any(spec.reach(a) != (0, 0) for a in range(len(spec.pre)))
    return (padded and spec.padding != "border" and spec.operation in ("sum", "mean")
            and not hoisted and not spec.bank
            and not spec.table and spec.footprints is None and spec.batch == 1
            and spec.taps <= INLINE_MAX_TAPS
            and all(m.mode != "conv" or m.stride == 1 for m in spec.axes)
            and math.prod(spec.pre) * (4 if spec.dtype == "float32" else 8)
            >= INLINE_MIN_PRE_BYTES)


def pre_strides(spec: WindowSpec) -> list[int | None]:
    """Per output axis: how many pre elements apart neighbouring outputs read (0 for the
    filter axis of a bank, None where a subsampling table decides)."""
    strides: list[int | None] = [None] * len(spec.post)
    if spec.bank:
        strides[-1] = 0
    for a, m in enumerate(spec.axes):
        if m.mode != "span" and not spec.table:
            step = m.stride if m.mode == "conv" else 1
            strides[m.post_axis] = step * math.prod(spec.pre[a + 1:])
    return strides


def _vector_axis(spec: WindowSpec) -> int | None:
    """The output axis whose neighbours read the closest pre values (contiguous or
    broadcast loads), innermost first; None when every candidate would gather."""
    candidates = [(stride, -axis) for axis, stride in enumerate(pre_strides(spec))
                  if stride is not None and stride <= MAX_VECTOR_STRIDE
                  and _widths(spec.post[axis], spec.dtype)]
    return -min(candidates)[1] if candidates else None


def _default_matrix(spec: MatrixSpec) -> MatrixKnobs:
    """Rows: one register of partial results per row over contiguous weights (dense: B7
    4096², 1.56 ms float32 and 2.46 ms float64 against 2.0-2.5 ms with two registers or
    none), four lanes where the pre values are gathered (padded rows: B8 20000² at 5 %,
    8.0 / 10.2 ms against 11.3 / 17.0 ms for a plain loop per row); 4 rows sharing each
    pre load. One-to-one: a vector over post neurons. (2 threads, this AVX-512 machine.)"""
    parallel = spec.batch * spec.post * spec.row >= PARALLEL_MIN_WORK
    if spec.layout == "one_to_one":
        widths = [w for w in _widths(spec.post, spec.dtype) if w <= 2 * lanes(spec.dtype)]
        return MatrixKnobs(vector_width=widths[0] if widths else 1, parallel=parallel)
    widths = _synapse_widths(spec)
    contiguous = spec.layout in ("dense", "masked")  # else the pre values are gathered
    fitting = [w for w in widths if w <= (lanes(spec.dtype) if contiguous else 4)]
    return MatrixKnobs(vector_width=fitting[0] if fitting else 1,
                       row_block=4 if spec.post % 4 == 0 else 1, parallel=parallel)


def _matrix_candidates(spec: MatrixSpec) -> list[MatrixKnobs]:
    if spec.layout == "one_to_one":
        return [MatrixKnobs(vector_width=w, parallel=p)
                for w in [*_widths(spec.post, spec.dtype), 1] for p in (False, True)]
    blocks = [1, *(b for b in BLOCKS if spec.post % b == 0)]
    return [MatrixKnobs(vector_width=w, row_block=b, parallel=p)
            for w in [*_synapse_widths(spec), 1] for b in blocks for p in (False, True)]


def _synapse_widths(spec: MatrixSpec) -> list[int]:
    """Lanes of partial results over a row: sums and means only (TVM splits no other
    reducer, and max/min skip NaN with a reducer of their own; see lowering)."""
    return _widths(spec.row, spec.dtype) if spec.operation in ("sum", "mean") else []


def schedule_matrix(sch: "s_tir.Schedule", spec: MatrixSpec, knobs: MatrixKnobs) -> None:
    """Rows outermost (in parallel), then blocks of `vector_width` synapses, then a tile
    of `row_block` rows x `vector_width` lanes of partial sums (an rfactor stage), which
    a last loop per row adds up."""
    extent = spec.post if spec.layout == "one_to_one" else spec.row
    for factor, axis, what in ((knobs.vector_width, extent, "vector_width"),
                               (knobs.row_block, spec.post, "row_block")):
        if axis % factor:
            raise KnobError(f"{what} {factor} does not divide {axis} (a {spec.layout} "
                            f"projection of {spec.post} rows of {spec.row})")
    if spec.layout == "one_to_one" and knobs.row_block != 1:
        raise KnobError("row_block of a one-to-one projection must be 1")
    if spec.layout != "one_to_one" and knobs.vector_width > 1 and \
            spec.operation not in ("sum", "mean"):
        raise KnobError(f"vector_width {knobs.vector_width}: the synapses of a "
                        f"{spec.operation} projection are reduced one at a time")
    names = _stage_names(sch)
    for name in names:
        if name.startswith(Stage.PADDED):  # pre-only parts of the psp: elementwise over pre
            widths = [w for w in _widths(spec.pre, spec.dtype) if w <= lanes(spec.dtype)]
            _schedule_elementwise(sch, name, spec.pre_shape, widths[0] if widths else 1,
                                  knobs.parallel)
    shape = spec.post_shape
    loops = sch.get_loops(sch.get_sblock(Stage.OUTPUT))
    if spec.layout == "one_to_one" or len(loops) == len(shape):  # nothing to reduce
        _schedule_elementwise(sch, Stage.OUTPUT, shape, knobs.vector_width, knobs.parallel)
        return
    block = sch.get_sblock(Stage.OUTPUT)
    if len(shape) == 2:  # a batch: its rows one after the other
        sch.fuse(loops[0], loops[1])
    row, synapses = sch.get_loops(block)
    target, reduce_loop, lane = block, synapses, None
    if knobs.vector_width > 1:
        _, inner = sch.split(synapses, [None, knobs.vector_width])
        target = sch.rfactor(inner, len(shape))  # partial[(batch,) row, lane]
        row, reduce_loop, lane = sch.get_loops(target)
    tile = [lane] if lane is not None else []
    if knobs.row_block > 1:
        row, rows = sch.split(row, [None, knobs.row_block])
        sch.reorder(row, reduce_loop, rows, *tile)
        sch.unroll(rows)
    if lane is not None:
        sch.vectorize(lane)
    if knobs.parallel:
        sch.parallel(row)
    sch.decompose_reduction(target, reduce_loop)
    if Stage.FINISH in names:
        _schedule_elementwise(sch, Stage.FINISH, shape, 1, False)


def schedule(sch: "s_tir.Schedule", spec, knobs: Knobs) -> None:
    if isinstance(spec, MatrixSpec):
        schedule_matrix(sch, spec, knobs)
    elif isinstance(spec, NeuronSpec):
        schedule_neuron(sch, spec, knobs)
    else:
        schedule_window(sch, spec, knobs)


def _parallel_outer(sch, loops: list, extents: list[int]) -> None:
    """Fuse leading loops until there is work for every thread, then run them in parallel."""
    want = 4 * num_threads()
    count, product = 0, 1
    while count < len(loops) and product < want:
        product *= extents[count]
        count += 1
    if count:
        sch.parallel(sch.fuse(*loops[:count]) if count > 1 else loops[0])


def _schedule_elementwise(sch, block: str, shape: tuple[int, ...], width: int,
                          parallel: bool) -> None:
    loops = sch.get_loops(sch.get_sblock(block))
    if width > 1 and shape[-1] % width == 0:
        outer, inner = sch.split(loops[-1], [None, width])
        sch.vectorize(inner)
        loops = loops[:-1] + [outer]
        shape = shape[:-1] + (shape[-1] // width,)
    if parallel:
        _parallel_outer(sch, loops, list(shape))


def schedule_window(sch: "s_tir.Schedule", spec: WindowSpec, knobs: WindowKnobs,
                    prefix: str = "") -> None:
    """Loop order: parallel outer output loops, the window taps, then a register tile of
    `block` x `vector_width` outputs (block on `block_axis`, vector on `vector_axis`).
    `prefix`: that of the stage names (one bank of filter groups, see lowering.window)."""
    _check_tile(spec, knobs)
    if knobs.filter_groups:
        schedule_groups(sch, spec, knobs)
        return
    if knobs.tap_vector > 1:
        schedule_taps(sch, spec, knobs, prefix)
        return
    # A batch large enough to share the threads runs each element's padded inputs inside its
    # own iteration, where they stay in cache, instead of padding the whole batch first.
    per_element = spec.batch >= num_threads() and knobs.parallel and \
        0 not in (knobs.block_axis, knobs.vector_axis)
    padded = [n for n in _stage_names(sch) if n.startswith(prefix + Stage.PADDED)]
    for name in [] if per_element else padded:
        if name.startswith(prefix + Stage.PADDED):
            shape = tuple(_block_extents(sch, name))
            # whole registers only: LLVM vectorises odd-sized rows better than short vectors
            widths = [w for w in _widths(shape[-1], spec.dtype) if w >= lanes(spec.dtype)]
            _schedule_elementwise(sch, name, shape, widths[-1] if widths else 1,
                                  knobs.parallel)
    block = sch.get_sblock(prefix + Stage.OUTPUT)
    loops = sch.get_loops(block)
    n_out = len(spec.post)
    rk_loops = loops[n_out:]
    outer, extents, tile = [], [], []
    for a, loop in enumerate(loops[:n_out]):
        factor = {knobs.vector_axis: knobs.vector_width,
                  knobs.block_axis: knobs.block}.get(a, 1)
        if factor > 1:
            head, loop = sch.split(loop, [None, factor])
            outer.append(head)
            extents.append(spec.post[a] // factor)
            tile.append((a, loop))
        else:
            outer.append(loop)
            extents.append(spec.post[a])
    # the vector loop innermost, the block loop just outside it
    tile.sort(key=lambda item: item[0] == knobs.vector_axis)
    tile_loops = [loop for _, loop in tile]
    if tile_loops:
        sch.reorder(*outer, *rk_loops, *tile_loops)
        if rk_loops:  # accumulate the tile in registers, write it back once
            local = sch.cache_write(block, 0, "local")
            sch.reverse_compute_at(local, outer[-1])
            if knobs.vector_axis is not None:
                sch.vectorize(sch.get_loops(local)[-1])
    # Unrolling by pragma skips loops that loop partitioning left without a constant extent.
    if knobs.unroll and rk_loops:
        sch.annotate(rk_loops[0], "pragma_auto_unroll_max_step", MAX_UNROLL_STEPS)
        sch.annotate(rk_loops[0], "pragma_unroll_explicit", 1)
    for axis, loop in tile:
        if axis == knobs.vector_axis:
            sch.vectorize(loop)
        else:
            sch.annotate(loop, "pragma_auto_unroll_max_step", knobs.block)
            sch.annotate(loop, "pragma_unroll_explicit", 1)
    if per_element:
        for name in padded:
            stage = sch.get_sblock(name)
            sch.compute_at(stage, outer[0])
            inner = sch.get_loops(stage)[-1]
            extent = int(sch.get(inner).extent)
            widths = [w for w in _widths(extent, spec.dtype) if w >= lanes(spec.dtype)]
            if widths:
                sch.vectorize(sch.split(inner, [None, widths[-1]])[1])
        sch.parallel(outer[0])
    elif knobs.parallel:
        _parallel_outer(sch, outer, extents)
    if rk_loops:
        sch.decompose_reduction(block, rk_loops[0])


def schedule_groups(sch: "s_tir.Schedule", spec: WindowSpec, knobs: WindowKnobs) -> None:
    """Filters of several sizes as one bank per size: each with the defaults of its own
    geometry (parallel as `knobs` says), then the outputs side by side."""
    if spec.footprints is None:
        raise KnobError("filter_groups is for a bank of filters of several sizes")
    for k, (group, _) in enumerate(filter_groups(spec)):
        sch.compute_inline(sch.get_sblock(f"g{k}_{Stage.GATHER}"))
        own = dataclasses.replace(default_knobs(group), parallel=knobs.parallel)
        schedule_window(sch, group, own, prefix=f"g{k}_")
    _schedule_elementwise(sch, Stage.OUTPUT, spec.post, 1, knobs.parallel)


def schedule_taps(sch: "s_tir.Schedule", spec: WindowSpec, knobs: WindowKnobs,
                  prefix: str = "") -> None:
    """`tap_vector` partial sums over the taps, flattened: each output is a dot product of
    a window of pre values and a filter read in its own (contiguous) layout; the outputs
    run in parallel."""
    if spec.taps % knobs.tap_vector or spec.operation not in ("sum", "mean"):
        raise KnobError(f"tap_vector {knobs.tap_vector} needs a sum or mean over a number of "
                        f"taps it divides, got {spec.operation} over {spec.taps}")
    if knobs.block > 1 and (spec.batch % knobs.block or spec.batch == 1):
        raise KnobError(f"block {knobs.block} with tap_vector must divide a batch, got batch "
                        f"{spec.batch}")
    for name in _stage_names(sch):
        if name.startswith(prefix + Stage.PADDED):
            shape = tuple(_block_extents(sch, name))
            widths = [w for w in _widths(shape[-1], spec.dtype) if w >= lanes(spec.dtype)]
            _schedule_elementwise(sch, name, shape, widths[-1] if widths else 1,
                                  knobs.parallel)
        elif name == prefix + Stage.WEIGHTS:  # the filters are read in their own layout
            sch.compute_inline(sch.get_sblock(name))
    block = sch.get_sblock(prefix + Stage.OUTPUT)
    n_out = len(spec.post)
    taps = sch.get_loops(block)[n_out:]
    fused = sch.fuse(*taps) if len(taps) > 1 else taps[0]
    _, lanes_loop = sch.split(fused, [None, knobs.tap_vector])
    partial = sch.rfactor(lanes_loop, n_out)
    loops = sch.get_loops(partial)  # outputs..., tap blocks, lanes
    outputs, tap_blocks, lane = loops[:n_out], loops[-2], loops[-1]
    if knobs.block > 1:  # batch elements side by side: each filter vector loaded once
        head, rows = sch.split(outputs[0], [None, knobs.block])
        outputs = [head, *outputs[1:]]
        sch.reorder(*outputs, tap_blocks, rows, lane)
        sch.unroll(rows)
    sch.vectorize(lane)
    if knobs.parallel:
        sch.parallel(sch.fuse(*outputs) if len(outputs) > 1 else outputs[0])
    sch.decompose_reduction(partial, tap_blocks)


def _check_tile(spec: WindowSpec, knobs: WindowKnobs) -> None:
    """The tile's axes exist and its factors divide them (else the knobs are for another
    geometry)."""
    for axis, factor, what in ((knobs.vector_axis, knobs.vector_width, "vector"),
                               (knobs.block_axis, knobs.block, "block")):
        if axis is not None and (axis >= len(spec.post) or spec.post[axis] % factor):
            raise KnobError(f"{what}_axis {axis} with factor {factor} does not fit the "
                            f"post shape {spec.post}")


def schedule_neuron(sch: "s_tir.Schedule", spec: NeuronSpec, knobs: UpdateKnobs) -> None:
    if spec.reduction:
        schedule_reduction(sch, spec, knobs)
        return
    # the outputs are sibling blocks in one loop nest, after any random draw's own stage
    update = next(n for n in _stage_names(sch) if n.startswith(Stage.UPDATE))
    _schedule_elementwise(sch, update, (spec.size,), knobs.vector_width, knobs.parallel)


def schedule_reduction(sch: "s_tir.Schedule", spec: NeuronSpec, knobs: UpdateKnobs) -> None:
    """Each operation's sum (max, min) is split three ways: one part per thread (parallel),
    then `vector_width` partial results side by side in a vector, then the neurons each
    lane runs over; the parts are combined afterwards (two small rfactor stages)."""
    if knobs.vector_width not in REDUCTION_WIDTHS:
        raise KnobError(f"vector_width {knobs.vector_width} of a reduction must be one of "
                        f"{REDUCTION_WIDTHS}")
    for name in _stage_names(sch):
        if not name.startswith(Stage.REDUCE):
            continue
        loops = sch.get_loops(sch.get_sblock(name))
        runs = int(sch.get(loops[-1]).extent) // knobs.vector_width  # a multiple of 64 / width
        # threads get equal shares: the most parts up to the thread count that divide evenly
        parts = max(p for p in range(1, (num_threads() if knobs.parallel else 1) + 1)
                    if runs % p == 0)
        chunk, _run, _lane = sch.split(loops[-1], [parts, None, knobs.vector_width])
        per_part = sch.rfactor(chunk, 0)
        per_lane = sch.rfactor(sch.get_loops(per_part)[-1], 0)
        part_loop, _, run_loop, lane_loop = sch.get_loops(per_lane)
        if parts > 1:
            sch.parallel(part_loop)
        if knobs.vector_width > 1:
            sch.vectorize(lane_loop)
        sch.decompose_reduction(per_lane, run_loop)


def _stage_names(sch: "s_tir.Schedule") -> list[str]:
    return [sch.get(b).name_hint for b in sch.get_child_blocks(sch.get_sblock("root"))]


def _block_extents(sch: "s_tir.Schedule", name: str) -> list[int]:
    return [int(sch.get(lp).extent) for lp in sch.get_loops(sch.get_sblock(name))]
