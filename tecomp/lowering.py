"""Specs to TVM tensor expressions. Lowering states the algorithm only; it never schedules.

A window kernel is built from up to four stages:

- `P_<name>` (optional): the pre values a tap reads, padded on the axes where taps leave pre
  (`if_then_else` for a padding rate, clamped indices for "border"), with every pre-only
  part of the psp applied once per pre neuron (e.g. `log(1 + pre.r)`), not once per tap;
- `WT` (banks): the weights with the filter axis last, so filters sit side by side in memory;
- `Y`: one `te.compute` whose reduce axes `rk0, rk1, ...` run over the window.

One knob selects the algorithm rather than a schedule, and says so in its name:
`inline_padding` drops the padded stages and lets each tap test its own range (`likely`
conditions, which loop partitioning turns into a branch-free interior). The two algorithms
compute the same values; which one is faster depends on the geometry, so the tuner tries
both. Everything else a knob changes is schedule (`schedules.py`).
"""

import functools
import itertools
import math
import operator
import re
from types import SimpleNamespace

from tvm import te, tirx

from . import philox
from .expr import (
    ARITHMETIC,
    CASTS,
    FUNCTIONS,
    ITE,
    Expr,
    Kind,
    children,
    global_parts,
    names,
    split_psp,
)
from .specs import MatrixSpec, NeuronSpec, WindowSpec, filter_groups
from .stages import REDUCE_BLOCK, Stage

_CALLS = FUNCTIONS | {ITE.name: ITE} | CASTS
_LOGIC = {"<": tirx.LT, "<=": tirx.LE, ">": tirx.GT, ">=": tirx.GE, "==": tirx.EQ, "!=": tirx.NE,
          "and": tirx.And, "or": tirx.Or}


def to_te(expr: Expr, leaf, dtype: str):
    """Translate an expression tree; `leaf(node)` gives the TE value of var/pre/sum/let nodes."""
    kind = expr[0]
    if kind == Kind.CONST:
        return tirx.const(expr[1], dtype)
    if kind in (Kind.VAR, Kind.PRE, Kind.POST, Kind.SUM, Kind.LET, Kind.GLOBAL, Kind.RAND):
        return leaf(expr)  # a random draw is a stage of its own (see `neuron`)
    args = [to_te(c, leaf, dtype) for c in children(expr)]
    if kind == Kind.NEG:
        return -args[0]
    if kind == Kind.NOT:
        return tirx.Not(args[0])
    if kind in (Kind.CMP, Kind.BOOL):
        return _LOGIC[expr[1]](*args)
    if kind == Kind.BIN:
        a, b = args
        op = expr[1]
        if op == "**":
            return _power(a, expr[3], b, dtype)
        if op in ARITHMETIC:
            return ARITHMETIC[op](a, b)
        return tirx.Div(a, b)  # the node itself: folding x / 0.0 would raise, NumPy gives inf
    if expr[1] == "power":
        return _power(args[0], expr[2][1], args[1], dtype)
    return _CALLS[expr[1]].lower(_tvm(dtype), *args)


@functools.cache
def _tvm(dtype: str) -> SimpleNamespace:
    """What a Function's `lower` receives."""
    return SimpleNamespace(te=te, tirx=tirx, dtype=dtype)


def _power(base, exponent_tree: Expr, exponent, dtype: str):
    """Small integer powers as products: exact like NumPy's and far cheaper than pow()."""
    if exponent_tree[0] == Kind.CONST and exponent_tree[1] in (1.0, 2.0, 3.0, 4.0):
        result = base
        for _ in range(int(exponent_tree[1]) - 1):
            result = result * base
        return result
    return FUNCTIONS["power"].lower(_tvm(dtype), base, exponent)


# What a term that is not there gives, per operation (taps outside a filter's footprint,
# synapses a row does not have).
_NEUTRAL = {"sum": 0.0, "mean": 0.0, "max": -math.inf, "min": math.inf}


def _reducer(operation: str, dtype: str):
    if operation in ("sum", "mean"):
        return te.sum
    # max/min start from -inf/+inf (te.max/te.min start from the largest finite value) and
    # take a term only when it compares greater (smaller): NaN terms are skipped, whatever
    # the order the taps are visited in (x86 max instructions are not symmetric in NaN).
    if operation == "max":
        return te.comm_reducer(lambda acc, x: tirx.Select(x > acc, x, acc),
                               lambda t: tirx.const(-math.inf, t), name="max_inf")
    return te.comm_reducer(lambda acc, x: tirx.Select(x < acc, x, acc),
                           lambda t: tirx.const(math.inf, t), name="min_inf")


def window(spec: WindowSpec, inline_padding: bool = False, filter_groups: bool = False, *,
           shared: tuple | None = None, prefix: str = ""):
    """TE for a Convolution or Pooling. Returns (inputs, output) for `create_prim_func`.

    Inputs: one placeholder per pre variable of the psp (pre shape), then the weights, then
    the subsampling table (int32, one row of pre coordinates per centre), then for a bank of
    several sizes the tap mask and the filters' scales (`specs.tap_inputs`), then one (1,)
    value per Constant the psp reads. With `inline_padding`, taps test their own range
    (`likely` conditions, for loop partitioning) instead of reading a padded stage. With
    `filter_groups`, a bank of several sizes is one bank per size (stages prefixed `g<k>_`,
    their filters gathered from the padded bank), side by side in `Y`; the mask and scales
    are then unused. `shared` and `prefix` are for those banks: the placeholders they read
    and the prefix of their stage names.
    """
    dtype = spec.dtype
    if shared is None:
        constants = {c: te.placeholder((1,), dtype, f"one_{c}") for c in spec.constants}
        pre_x = {v: te.placeholder(spec.pre, dtype, f"pre_{v}") for v in spec.pre_vars}
        weights = None if spec.weights is None else \
            te.placeholder(spec.weights, dtype, "weights")
        table = (te.placeholder((math.prod(spec.positions), len(spec.pre)), "int32",
                                "centres") if spec.table else None)
    else:
        constants, pre_x, weights, table = shared
    filters = len(spec.footprints or ())
    mask = te.placeholder(spec.window + (filters,), dtype, "tap_mask") if spec.masked else None
    per_filter = te.placeholder((filters,), dtype, "filter_scale") if spec.scaled else None
    inputs = [pre_x[v] for v in spec.pre_vars] + [t for t in (weights, table, mask, per_filter)
                                                   if t is not None] + list(constants.values())
    if filter_groups and spec.footprints is not None:
        return inputs, _filter_groups(spec, inline_padding, (constants, pre_x, weights, table))
    term, hoisted = split_psp(spec.psp)
    reach = [(0, 0) if inline_padding else spec.reach(a) for a in range(len(spec.pre))]
    sources = _input_stages(spec, pre_x, hoisted, reach, prefix)
    if spec.bank:  # filters innermost: the filter loop can be vectorised
        n = len(spec.window)
        wt = te.compute(spec.window + spec.weights[:1],
                        lambda *i: weights[(i[n],) + i[:n]], name=prefix + Stage.WEIGHTS)
    rk = [te.reduce_axis((0, k), f"rk{a}") for a, k in enumerate(spec.window)]
    reducer = _reducer(spec.operation, dtype)
    scale = tirx.const(1.0 / spec.taps, dtype)

    def body(*out):
        index = _tap_index(spec, out, rk, table)
        taps = tuple(r.var for r in rk)
        ranged = [a for a in range(len(spec.pre)) if spec.reach(a) != (0, 0)]
        if inline_padding and spec.padding == "border":
            index = tuple(tirx.Min(tirx.Max(x, 0), spec.pre[a] - 1) if a in ranged else x
                          for a, x in enumerate(index))
        else:
            index = tuple(x + lo for x, (lo, _) in zip(index, reach, strict=True))

        def leaf(node, rate=None):
            if node[0] == Kind.PRE:
                return sources[node[1]][index] if rate is None else rate
            if node[1] in constants:
                return constants[node[1]][0]
            return wt[taps + (out[-1],)] if spec.bank else weights[taps]

        value = to_te(term, leaf, dtype)
        if inline_padding and spec.padding != "border" and ranged:
            rate = tirx.const(spec.padding, dtype)
            outside = to_te(spec.psp, lambda node: leaf(node, rate), dtype)
            inside = tirx.all(*[tirx.all(tirx.likely(index[a] >= 0),
                                         tirx.likely(index[a] < spec.pre[a])) for a in ranged])
            value = tirx.if_then_else(inside, value, outside)
        if mask is not None:  # a tap outside filter f's own footprint: the neutral element
            value = tirx.Select(mask[taps + (out[-1],)] != tirx.const(0, dtype), value,
                                tirx.const(_NEUTRAL[spec.operation], dtype))
        if spec.operation == "mean":
            value = value * (scale if per_filter is None else per_filter[out[-1]])
        return reducer(value, axis=rk) if rk else value

    output = te.compute(spec.post, body, name=prefix + Stage.OUTPUT)
    return inputs, output


def _filter_groups(spec: WindowSpec, inline_padding: bool, shared: tuple):
    """`Y` of a bank of several sizes as one bank per size (see `window`)."""
    constants, pre_x, weights, table = shared
    parts = []
    for k, (group, members) in enumerate(filter_groups(spec)):
        chosen = te.compute(group.weights, _gather(weights, members, spec.offsets(members[0])),
                            name=f"g{k}_{Stage.GATHER}")
        _, output = window(group, inline_padding, shared=(constants, pre_x, chosen, table),
                           prefix=f"g{k}_")
        parts.append((members, output))

    def side_by_side(*out):
        value = None
        for members, output in parts:
            for j, f in enumerate(members):
                part = output[(*out[:-1], j)]
                value = part if value is None else tirx.Select(out[-1] == f, part, value)
        return value

    return te.compute(spec.post, side_by_side, name=Stage.OUTPUT)


def _gather(weights, members: tuple[int, ...], offsets: tuple[int, ...]):
    """fcompute of one size's filters, cut from the padded bank."""
    def stage(j, *taps):
        f = j + members[0] if members == tuple(range(members[0], members[-1] + 1)) else \
            functools.reduce(lambda chosen, item: tirx.Select(j == item[0], item[1], chosen),
                             enumerate(members), tirx.const(members[0], "int32"))
        return weights[(f, *(o + t for o, t in zip(offsets, taps, strict=True)))]

    return stage


def matrix(spec: MatrixSpec):
    """TE for a regular projection. Returns (inputs, output) for `create_prim_func`.

    Inputs, in order: the pre variables of the psp (pre,) (with `ring`, each followed by
    its ring (ring, ring_row)), its post variables (post,), the per-synapse arrays
    (`spec.synapse_shape`, w first), with `ring` the per-synapse delays (int32, same
    shape), for "ell" the pre ranks (post, row) and the row counts (post,) as int32 (for
    "masked" the (post, row) uint8 mask of present synapses and the counts), the
    per-post-neuron parameters (post,), the one-value parameters (1,), with `ring` the
    step counter (an int64 scalar: steps run so far, plus 1). Output: (post,). With
    `batch`, pre and post variables and the output have a leading batch axis (the rings
    hold the batch's values side by side in a row); everything else is shared.

    `Y` reduces over the stored synapses (`rk`), the pre-only parts of the psp computed once
    per pre neuron (`P_<name>` stages, as for a window); a synapse that is not there (ELL
    padding, the left-out diagonal) gives the operation's neutral term. `finish` divides a
    mean by the row's count and gives 0 to a post neuron without synapses.
    """
    dtype = spec.dtype
    lead = (spec.batch,) if spec.batch > 1 else ()
    pre_x = {v: te.placeholder((*lead, spec.pre), dtype, f"pre_{v}") for v in spec.pre_vars}
    post_x = {v: te.placeholder((*lead, spec.post), dtype, f"post_{v}")
              for v in spec.post_vars}
    synapse = {v: te.placeholder(spec.synapse_shape, dtype, f"syn_{v}")
               for v in spec.synapse_vars}
    ell, masked = spec.layout == "ell", spec.layout == "masked"
    ranks = te.placeholder((spec.post, spec.row), "int32", "pre_ranks") if ell else None
    present = te.placeholder((spec.post, spec.row), "uint8", "present") if masked else None
    counts = te.placeholder((spec.post,), "int32", "counts") if ell or masked else None
    dendrite = {v: te.placeholder((spec.post,), dtype, f"dendrite_{v}")
                for v in spec.dendrite_vars}
    projection = {v: te.placeholder((1,), dtype, f"one_{v}") for v in spec.projection_vars}
    rings = {v: te.placeholder((spec.ring, spec.ring_row), dtype, f"ring_{v}")
             for v in spec.pre_vars} if spec.ring else {}
    delays = te.placeholder(spec.synapse_shape, "int32", "delays") if spec.ring else None
    step = te.var("step", "int64") if spec.ring else None
    # with delays, each synapse reads its own past: no pre-only part is shared by all
    term, hoisted = split_psp(spec.psp) if not spec.ring else (spec.psp, {})
    sources = dict(pre_x)
    for name, expr in hoisted.items():
        sources[name] = te.compute((*lead, spec.pre), _pre_stage(expr, pre_x, dtype),
                                   name=Stage.PADDED + name)

    def value(b, i, k, j):
        """The psp of synapse k of post neuron i (pre neuron j), in batch element b."""
        def leaf(node):
            kind, name = node[:2]
            if kind == Kind.PRE and spec.ring:
                d = delays[(i,) if spec.layout == "one_to_one" else (i, k)]
                slot = tirx.floormod(step - d.astype("int64"), spec.ring).astype("int32")
                column = b[0] * spec.pre + j if b else j
                return tirx.Select(d == 0, pre_x[name][(*b, j)], rings[name][slot, column])
            if kind == Kind.PRE:
                return sources[name][(*b, j)]
            if kind == Kind.POST:
                return post_x[name][(*b, i)]
            if name in synapse:
                return synapse[name][(i,) if spec.layout == "one_to_one" else (i, k)]
            return dendrite[name][i] if name in dendrite else projection[name][0]

        return to_te(term, leaf, dtype)

    pre_inputs = [t for v in spec.pre_vars for t in (pre_x[v], rings.get(v)) if t is not None]
    inputs = [*pre_inputs, *post_x.values(), *synapse.values(),
              *(t for t in (delays, ranks, present, counts) if t is not None),
              *dendrite.values(),
              *projection.values(), *([step] if step is not None else [])]
    shape = (*lead, spec.post)
    if spec.layout == "one_to_one":
        return inputs, te.compute(shape, lambda *o: value(o[:-1], o[-1], None, o[-1]),
                                  name=Stage.OUTPUT)
    count = spec.row - (1 if spec.diagonal else 0)
    if count <= 0:  # no synapse at all (all-to-all of one neuron onto itself)
        return inputs, te.compute(shape, lambda *o: tirx.const(0.0, dtype), name=Stage.OUTPUT)
    rk = te.reduce_axis((0, spec.row), "rk0")
    neutral = tirx.const(_NEUTRAL[spec.operation], dtype)

    def body(*o):
        b, i = o[:-1], o[-1]
        j = ranks[i, rk] if ell else rk
        term_value = value(b, i, rk, j)
        there = rk < counts[i] if ell else present[i, rk] != 0 if masked else \
            (rk != i if spec.diagonal else None)
        if there is not None:
            term_value = tirx.if_then_else(there, term_value, neutral)
        return _reducer(spec.operation, dtype)(term_value, axis=rk)

    total = te.compute(shape, body, name=Stage.OUTPUT)
    if ell or masked:
        if spec.operation == "sum":
            return inputs, total  # an empty row sums to 0 already
        zero = tirx.const(0.0, dtype)

        def finish(*o):
            i = o[-1]
            result = total[o] / counts[i].astype(dtype) if spec.operation == "mean" \
                else total[o]
            return tirx.Select(counts[i] > 0, result, zero)

        return inputs, te.compute(shape, finish, name=Stage.FINISH)
    if spec.operation == "mean":
        scale = tirx.const(1.0 / count, dtype)
        return inputs, te.compute(shape, lambda *o: total[o] * scale, name=Stage.FINISH)
    return inputs, total


def _pre_stage(expr: Expr, pre_x: dict, dtype: str):
    """fcompute of a pre-only part of a psp, once per pre neuron (of each batch element)."""
    return lambda *j: to_te(expr, lambda node: pre_x[node[1]][j], dtype)


def _input_stages(spec: WindowSpec, pre_x: dict, hoisted: dict[str, Expr], reach,
                  prefix: str = "") -> dict:
    """The tensor each pre leaf of the term reads, padded by `reach` on each axis."""
    padded = any(lo or hi for lo, hi in reach)
    shape = tuple(n + lo + hi for n, (lo, hi) in zip(spec.pre, reach, strict=True))
    leaves = {v: (Kind.PRE, v) for v in spec.pre_vars} | hoisted
    sources = {}
    for name, expr in leaves.items():
        if not padded and expr[0] == Kind.PRE:
            sources[name] = pre_x[expr[1]]
        else:
            sources[name] = te.compute(shape, _padded_stage(spec, expr, pre_x, reach, padded),
                                       name=prefix + Stage.PADDED + name)
    return sources


def _padded_stage(spec: WindowSpec, expr: Expr, pre_x: dict, reach: list, padded: bool):
    """fcompute of an input stage: `expr` of the pre values, padded rate outside pre."""
    dtype = spec.dtype

    def stage(*i):
        inner = [x - lo for x, (lo, _) in zip(i, reach, strict=True)]
        if spec.padding == "border" and padded:
            inner = [tirx.Min(tirx.Max(x, 0), n - 1)
                     for x, n in zip(inner, spec.pre, strict=True)]
        value = to_te(expr, lambda node: pre_x[node[1]][tuple(inner)], dtype)
        if not padded or spec.padding == "border":
            return value
        rate = tirx.const(spec.padding, dtype)
        outside = to_te(expr, lambda node: rate, dtype)
        inside = tirx.all(*[tirx.all(x >= 0, x < n) for x, n, (lo, hi) in
                            zip(inner, spec.pre, reach, strict=True) if lo or hi])
        return tirx.if_then_else(inside, value, outside)

    return stage


def _tap_index(spec: WindowSpec, out, rk, table) -> tuple:
    """The pre index (unpadded, possibly outside pre) read by post neuron `out` at taps `rk`."""
    if table is not None:
        strides = [math.prod(spec.positions[a + 1:]) for a in range(len(spec.positions))]
        rank = sum((out[a] * s for a, s in enumerate(strides)), tirx.const(0, "int32"))
    index = []
    for a, m in enumerate(spec.axes):
        if m.mode == "span":
            index.append(rk[m.window_axis].var)
            continue
        if table is not None:
            centre = table[rank, a]
        else:
            step, start = (m.stride, m.offset) if m.mode == "conv" else (1, 0)
            centre = out[m.post_axis] * step + start
        if m.mode == "keep":
            index.append(centre)
        else:
            back = (spec.window[m.window_axis] - 1) // 2
            index.append(centre + rk[m.window_axis].var - back)
    return tuple(index)


def neuron(spec: NeuronSpec):
    """TE for a population update: one elementwise stage with one output per variable.

    Inputs: the per-neuron attributes read (flat), the one-value ones (shape (1,)), with
    random draws the seed words ((2,) uint32) and the draw counter (an int64 scalar), then
    each target's projection outputs (flat). Each output binds the lets it needs with `Let`,
    so a value used twice is written (and computed) once per output, not once per use.

    Each random draw is a stage of its own before the update (`tecomp.philox.draw_stage`:
    Philox4x32-10 of (neuron, counter, draw index) under the seed, one loop over the
    neurons), read as `R[i]`; a parameter that is no number is read from a one-value stage.
    """
    dtype = spec.dtype
    attrs = {a: te.placeholder((spec.size,), dtype, f"in_{a}") for a in spec.inputs}
    scalars = {a: te.placeholder((1,), dtype, f"one_{k}_{re.sub(r'[^A-Za-z0-9_]', '_', a)}")
               for k, a in enumerate(spec.scalars)}
    random = [te.placeholder((2,), "uint32", "rng_seed"),
              te.var("rng_step", "int64")] if spec.draws else []
    stages = {node: _draw_stage(node, spec, random, scalars) for node in spec.draws}
    feeds = {t: [te.placeholder((spec.size,), dtype, f"sum_{t}_{k}") for k in range(n)]
             for t, n in zip(spec.targets, spec.target_counts, strict=True)}
    lets = dict(spec.lets)

    def body(i):
        def value(expr: Expr, bound: dict):
            def leaf(node):
                kind, name = node[:2]
                if kind == Kind.SUM:
                    parts = [p[i] for p in feeds.get(name, ())]
                    return sum(parts[1:], parts[0]) if parts else tirx.const(0.0, dtype)
                if kind == Kind.LET:
                    return bound[name]
                if kind == Kind.RAND:
                    return stages[node][i]
                return scalars[name][0] if name in scalars else attrs[name][i]  # var, global

            return to_te(expr, leaf, dtype)

        results = []
        for k, expr in enumerate(spec.exprs):
            needed = _lets_needed(expr, spec.lets)
            bound = {n: tirx.Var(f"{n}_{k}", dtype) for n in needed}
            result = value(expr, bound)
            for name in reversed(needed):
                result = tirx.Let(bound[name], value(lets[name], bound), result)
            results.append(result)
        return results

    outputs = te.compute((spec.size,), body, name=Stage.UPDATE)
    outputs = list(outputs) if isinstance(outputs, list | tuple) else [outputs]
    inputs = [*attrs.values(), *scalars.values(), *random,
              *itertools.chain.from_iterable(feeds.values())]
    return inputs, outputs


# A population-wide operation: what each neuron contributes, how contributions combine (a
# reducer TVM can split across threads and vector lanes) and what the total becomes.
# Sums accumulate in float64 whatever the precision (ANNarchy sums in the network's type;
# a float32 sum of a million terms would drift by ~1e-4 relative, and each schedule would
# round differently); max and min are exact in any type.
_REDUCE = {
    "mean": ("sum", lambda x: x, lambda total, n: total / n),
    "norm1": ("sum", lambda x: te.abs(x), lambda total, n: total),
    "norm2": ("sum", lambda x: x * x, lambda total, n: te.sqrt(total)),
    "max": ("max", lambda x: x, lambda total, n: total),
    "min": ("min", lambda x: x, lambda total, n: total),
}
def reduction(spec: NeuronSpec):
    """TE for the population-wide operations of one population (a `reduction` spec):
    per operation, one stage `reduce_<k>` over every neuron (then a stage that finishes
    it: the mean's division, norm2's square root, the cast back to the network's type).

    Inputs: the per-neuron variables (flat); outputs: one shape-(1,) value per operation,
    in the order of `spec.outputs`. max and min use TVM's reducers (the only ones it can
    split across threads and lanes), which start from the lowest (highest) finite value:
    a population of nothing but -inf has the lowest finite value as its max."""
    dtype = spec.dtype
    attrs = {a: te.placeholder((spec.size,), dtype, f"in_{a}") for a in spec.inputs}
    outputs = []
    for k, expr in enumerate(spec.exprs):
        operation, variable = global_parts(expr[1])
        outputs.append(_reduce(k, operation, attrs[variable], spec.size, dtype))
    return list(attrs.values()), outputs


def _reduce(k: int, operation: str, x, size: int, dtype: str):
    """The stages of one population-wide operation; returns its one-value output. The
    neurons are reduced in two parts: `reduce_<k>` over the first multiple of REDUCE_BLOCK
    (the one a schedule splits into threads and vector lanes, whatever the size), and
    `tail_<k>` over the rest (fewer than REDUCE_BLOCK)."""
    combine, term, finish = _REDUCE[operation]
    main = size - size % REDUCE_BLOCK
    parts = []
    for name, start, stop in ((f"{Stage.REDUCE}{k}", 0, main), (f"tail_{k}", main, size)):
        if stop > start:
            parts.append(_reduce_part(name, combine, term, x, start, stop - start))
    combined = parts[0]
    if len(parts) == 2:
        join = {"sum": operator.add, "max": tirx.Max, "min": tirx.Min}[combine]
        first, second = parts
        combined = te.compute((1,), lambda i: join(first[i], second[i]), name=f"join_{k}")
    count = tirx.const(float(size), "float64")
    return te.compute((1,), lambda i: finish(combined[i], count).astype(dtype),
                      name=f"value_{k}")


def _reduce_part(name: str, combine: str, term, x, start: int, length: int):
    axis = te.reduce_axis((0, length), name.replace("_", ""))
    if combine == "sum":
        return te.compute((1,), lambda _: te.sum(term(x[start + axis].astype("float64")),
                                                  axis=axis), name=name)
    reducer = te.max if combine == "max" else te.min
    return te.compute((1,), lambda _: reducer(x[start + axis], axis=axis), name=name)


def _draw_stage(node: Expr, spec: NeuronSpec, random: list, scalars: dict):
    """The stage of one random draw: (size,) values. Its parameters are numbers, or (1,)
    tensors: a one-value input itself, or a (1,) stage computing the parameter from them
    (e.g. an int parameter read as an int)."""
    dtype = spec.dtype
    parameters = []
    for k, tree in enumerate(node[3]):
        if tree is None or tree[0] == Kind.CONST:
            parameters.append(None if tree is None else tree[1])
        elif tree[0] == Kind.VAR:
            parameters.append(scalars[tree[1]])
        else:
            parameters.append(_one_value_stage(tree, scalars, dtype,
                                               f"rng_parameter_{node[2]}_{k}"))
    seed, step = random
    return philox.draw_stage(node[1], tuple(parameters), seed, step, spec.size, node[2], dtype,
                             name=f"rng_{node[2]}")


def _one_value_stage(tree: Expr, scalars: dict, dtype: str, name: str):
    """A (1,) stage computing `tree` of one-value inputs."""
    value = to_te(tree, lambda n: scalars[n[1]][0], dtype)
    return te.compute((1,), lambda _: value, name=name)


def _lets_needed(expr: Expr, lets: tuple[tuple[str, Expr], ...]) -> list[str]:
    """The lets `expr` reads, directly or through other lets, in the order they are defined."""
    table = dict(lets)
    needed, todo = set(), list(names(expr, Kind.LET))
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo.extend(names(table[name], Kind.LET))
    return [name for name, _ in lets if name in needed]
