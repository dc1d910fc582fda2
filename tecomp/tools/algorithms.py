"""Three algorithms for a CNN layer (a bank of 3x3 filters spanning the channels), timed
side by side: why the window template's direct convolution is the one tecomp keeps.

    python -m tecomp.tools.algorithms                    # B3: 64 x (3, 3, 64) on 112 x 112
    python -m tecomp.tools.algorithms --case E2 --precision float64

- direct: the window template with its default knobs (`schedules.default_knobs`), the
  kernel `compile()` builds: filters in the vector, a register tile of positions x filter
  vectors, the channels and taps reduced around it;
- im2col + GEMM: the windows copied into a (positions, 9 C) matrix, then a GEMM against the
  packed (9 C, F) weights with a register tile of positions x filter vectors;
- Winograd F(2, 3): 4x4 input tiles transformed (B^T d B), 16 GEMMs over the channels
  against the transformed filters (G g G^T), 2x2 outputs transformed back (A^T M A):
  2.25 times fewer multiplications, more data moved.

Each alternative is tried with a few register tiles (positions x filter vectors) and its
best time kept; every output is checked against the NumPy reference first. Each result is
the median of `--repeats` calls of the kernel alone, on this process's TVM_NUM_THREADS.
"""

import argparse
import json
import statistics
import time

import numpy as np

# (positions, filter vectors) register tiles tried for the two GEMM-based algorithms
TILES = ((4, 4), (8, 2), (2, 4), (6, 4))
# The layers compared: (height, width, channels, filters) of a 3x3 bank over the channels
# (and a small one, for a quick check of the three against the reference)
LAYERS = {"B3": (112, 112, 64, 64), "E2": (64, 64, 16, 32), "small": (8, 12, 8, 16)}
# Winograd F(2, 3) (Lavin and Gray, 2016): B^T, G, A^T
WINOGRAD_BT = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))
WINOGRAD_G = ((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1))
WINOGRAD_AT = ((1, 1, 1, 0), (0, 1, -1, -1))


def reference(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Same-size 3x3 convolution (zero padding) of (H, W, C) by (F, 3, 3, C), in float64."""
    height, width, _ = x.shape
    padded = np.pad(x.astype(np.float64), ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((height, width, w.shape[0]))
    for dy in range(3):
        for dx in range(3):
            out += padded[dy:dy + height, dx:dx + width] @ w[:, dy, dx, :].T.astype(np.float64)
    return out


def _padded(pre, dtype: str):
    from tvm import te, tirx

    height, width, channels = (int(n) for n in pre.shape)
    return te.compute((height + 2, width + 2, channels), lambda y, x, c: tirx.if_then_else(
        tirx.all(y >= 1, y <= height, x >= 1, x <= width), pre[y - 1, x - 1, c],
        tirx.const(0, dtype)), name="P")


def _constant(matrix, i, j, dtype: str):
    """matrix[i, j] for loop variables i, j (the transforms' small constant matrices)."""
    from tvm import tirx

    value = tirx.const(0, dtype)
    for r, row in enumerate(matrix):
        for s, entry in enumerate(row):
            if entry:
                value = tirx.Select(tirx.all(i == r, j == s), tirx.const(entry, dtype), value)
    return value


def _lanes(dtype: str) -> int:
    from tecomp.build import vector_bytes

    return vector_bytes() // np.dtype(dtype).itemsize


def _gemm_tile(sch, block: str, rows, cols, reduce, tile: tuple[int, int], lanes: int,
               outer: list) -> None:
    """A register tile of tile[0] rows x tile[1] vectors of columns, accumulated locally."""
    b = sch.get_sblock(block)
    ro, ri = sch.split(rows, [None, tile[0]])
    co, cv, ci = sch.split(cols, [None, tile[1], lanes])
    sch.reorder(*outer, ro, co, reduce, ri, cv, ci)
    local = sch.cache_write(b, 0, "local")
    sch.reverse_compute_at(local, co)
    sch.vectorize(sch.get_loops(local)[-1])
    sch.unroll(ri)
    sch.unroll(cv)
    sch.vectorize(ci)
    sch.parallel(sch.fuse(*outer, ro, co))
    sch.decompose_reduction(b, reduce)


def im2col(layer: tuple[int, int, int, int], dtype: str, tile: tuple[int, int]):
    """(inputs, output, schedule) of im2col + GEMM."""
    from tvm import te

    height, width, channels, filters = layer
    taps = 9 * channels
    pre = te.placeholder((height, width, channels), dtype, "pre")
    w = te.placeholder((filters, 3, 3, channels), dtype, "weights")
    padded = _padded(pre, dtype)
    cols = te.compute((height * width, taps), lambda p, k: padded[
        p // width + k // (3 * channels), p % width + (k // channels) % 3, k % channels],
        name="A")
    packed = te.compute((taps, filters), lambda k, f: w[
        f, k // (3 * channels), (k // channels) % 3, k % channels], name="B")
    k = te.reduce_axis((0, taps), "k")
    out = te.compute((height * width, filters),
                     lambda p, f: te.sum(cols[p, k] * packed[k, f], axis=k), name="Y")

    def schedule(sch):
        lanes = _lanes(dtype)
        for name in ("P", "A", "B"):
            loops = sch.get_loops(sch.get_sblock(name))
            if name != "B":
                sch.parallel(loops[0])
            sch.vectorize(sch.split(loops[-1], [None, lanes])[1])
        p, f, k = sch.get_loops(sch.get_sblock("Y"))
        _gemm_tile(sch, "Y", p, f, k, tile, lanes, [])

    return [pre, w], out, schedule


def winograd(layer: tuple[int, int, int, int], dtype: str, tile: tuple[int, int]):
    """(inputs, output, schedule) of Winograd F(2, 3) in four stages."""
    from tvm import te

    height, width, channels, filters = layer
    across = width // 2
    tiles = (height // 2) * across
    pre = te.placeholder((height, width, channels), dtype, "pre")
    w = te.placeholder((filters, 3, 3, channels), dtype, "weights")
    padded = _padded(pre, dtype)

    def c(matrix, i, j):
        return _constant(matrix, i, j, dtype)

    k1, k2 = te.reduce_axis((0, 3), "k1"), te.reduce_axis((0, 3), "k2")
    u = te.compute((4, 4, channels, filters), lambda e1, e2, ch, f: te.sum(
        c(WINOGRAD_G, e1, k1) * w[f, k1, k2, ch] * c(WINOGRAD_G, e2, k2), axis=[k1, k2]),
        name="U")
    r1, r2 = te.reduce_axis((0, 4), "r1"), te.reduce_axis((0, 4), "r2")
    v = te.compute((4, 4, tiles, channels), lambda e1, e2, t, ch: te.sum(
        c(WINOGRAD_BT, e1, r1) * padded[(t // across) * 2 + r1, (t % across) * 2 + r2, ch]
        * c(WINOGRAD_BT, e2, r2), axis=[r1, r2]), name="V")
    kc = te.reduce_axis((0, channels), "kc")
    m = te.compute((4, 4, tiles, filters), lambda e1, e2, t, f: te.sum(
        v[e1, e2, t, kc] * u[e1, e2, kc, f], axis=kc), name="M")
    q1, q2 = te.reduce_axis((0, 4), "q1"), te.reduce_axis((0, 4), "q2")
    out = te.compute((height, width, filters), lambda y, x, f: te.sum(
        c(WINOGRAD_AT, y % 2, q1) * m[q1, q2, (y // 2) * across + x // 2, f]
        * c(WINOGRAD_AT, x % 2, q2), axis=[q1, q2]), name="Y")

    def schedule(sch):
        lanes = _lanes(dtype)
        loops = sch.get_loops(sch.get_sblock("P"))
        sch.parallel(loops[0])
        sch.vectorize(sch.split(loops[2], [None, lanes])[1])
        e1, e2, ch, f, k1_, k2_ = sch.get_loops(sch.get_sblock("U"))
        sch.unroll(k1_)
        sch.unroll(k2_)
        sch.vectorize(sch.split(f, [None, lanes])[1])
        e1, e2, t, ch, r1_, r2_ = sch.get_loops(sch.get_sblock("V"))
        cho, chi = sch.split(ch, [None, lanes])
        sch.reorder(t, cho, e1, e2, r1_, r2_, chi)
        sch.parallel(t)
        for loop in (e1, e2, r1_, r2_):
            sch.unroll(loop)
        sch.vectorize(chi)
        e1, e2, t, f, kc_ = sch.get_loops(sch.get_sblock("M"))
        _gemm_tile(sch, "M", t, f, kc_, tile, lanes, [e1, e2])
        y, x, f, q1_, q2_ = sch.get_loops(sch.get_sblock("Y"))
        fo, fi = sch.split(f, [None, lanes])
        sch.reorder(y, x, fo, q1_, q2_, fi)
        sch.parallel(y)
        sch.unroll(q1_)
        sch.unroll(q2_)
        sch.vectorize(fi)

    return [pre, w], out, schedule


def _time(function, args, repeats: int) -> float:
    function(*args)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3


def _direct(layer, dtype: str):
    """The kernel compile() builds for this layer: the window template, default knobs."""
    import tecomp as ann
    from tecomp import kernels
    from tecomp.extensions.convolution import Convolution

    kernels.HINTS = False  # no hint about tuning in the middle of the JSON

    height, width, channels, filters = layer
    net = ann.Network(precision="float" if dtype == "float32" else "double")
    pre = net.create((height, width, channels), ann.Neuron(parameters="r = 0.0"))
    post = net.create((height, width, filters), ann.Neuron(equations="r = sum(exc)"))
    proj = Convolution(pre, post, "exc")
    proj.connect_filters(np.zeros((filters, 3, 3, channels)))
    return kernels.compile_kernel(proj.spec(dtype))


def compare(case: str, dtype: str, repeats: int = 30) -> dict:
    """Milliseconds of each algorithm for one layer (the best register tile of the GEMM
    ones), each output checked against `reference` first."""
    import tvm
    from tvm import s_tir, te

    from tecomp import build, runtime
    from tecomp.reference import relative_error, tolerance

    layer = LAYERS[case]
    height, width, channels, filters = layer
    rng = np.random.default_rng(0)
    x = rng.random((height, width, channels)).astype(dtype)
    w = rng.uniform(-1, 1, (filters, 3, 3, channels)).astype(dtype)
    expected = reference(x, w)
    flops = 2 * height * width * filters * 9 * channels
    results = {}

    def checked(name: str, function, out_shape) -> float:
        args = [build.aligned_copy(x, dtype), build.aligned_copy(w, dtype),
                build.aligned_empty(out_shape, dtype)]
        tensors = [runtime.from_dlpack(a) for a in args]
        function(*tensors)
        error = relative_error(args[2].reshape(expected.shape), expected)
        if error > tolerance(dtype, 9 * channels):
            raise AssertionError(f"{name}: relative error {error:.2e} against the reference")
        return _time(function, tensors, repeats)

    results["direct"] = {"ms": checked("direct", _direct(layer, dtype), expected.shape)}
    for name, make in (("im2col + GEMM", im2col), ("Winograd F(2,3)", winograd)):
        best = None
        for tile in TILES:
            inputs, out, schedule = make(layer, dtype, tile)
            sch = s_tir.Schedule(tvm.IRModule({"main": te.create_prim_func([*inputs, out])}))
            schedule(sch)
            function = build.compile_module(sch.mod)["main"]
            ms = checked(name, function, tuple(int(n) for n in out.shape))
            if best is None or ms < best["ms"]:
                best = {"ms": ms, "tile": list(tile)}
        results[name] = best
    for entry in results.values():
        entry["gflops_direct_equivalent"] = round(flops / entry["ms"] / 1e6, 1)
        entry["ms"] = round(entry["ms"], 3)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=sorted(LAYERS), default="B3")
    parser.add_argument("--precision", choices=("float32", "float64"), nargs="+",
                        default=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    out = {dtype: compare(args.case, dtype, args.repeats) for dtype in args.precision}
    print(json.dumps({"case": args.case, "layer (H, W, C, F)": LAYERS[args.case],
                      "results": out}, indent=1))


if __name__ == "__main__":
    main()
