"""The machine's real limits, measured: peak FMA throughput and copy bandwidth.

    python -m tecomp.tools.limits            # this process's TVM_NUM_THREADS, both precisions
    python -m tecomp.tools.limits --quick

`measure()` gives, per precision, the GFLOP/s of a TVM kernel made only of independent FMA
chains held in registers (`peak_fma`), and the GB/s of a large array copy, read + write
bytes, the better of `np.copyto` and a parallel TVM copy (`copy_bandwidth`). The benchmark
(`tools.bench`) measures them in each of its workers, before and after its cases, keeps the
better of the two (other work on the machine only lowers a limit), and `judge` then says of
every case whether it is compute-bound (its flop per byte at least the machine balance,
peak GFLOP/s over copy GB/s) or memory-bound, and which share of that limit tecomp reached.
The copy a case is judged by is one of as many bytes as it moves (`case_copy`, measured by
the benchmark after the case's timings): a case whose data fit in the caches is held to the
caches' speed, not to memory's.

>>> limits = {"fma_gflops": {"float32": 200.0}, "copy_gbs": 25.0}
>>> judge(flops=2e9, nbytes=1e7, dtype="float32", limits=limits, gflops=150.0, gbs=0.75)
{'bound': 'compute', 'intensity': 200.0, 'balance': 8.0, 'name': 'peak FMA', 'limit': 200.0, \
'fraction': 0.75}

Importing this module does not import TVM; the kernels are built when measured.
"""

import argparse
import contextlib
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np

PRECISIONS = ("float32", "float64")
CHAINS = 12  # independent accumulator vectors per thread: FMA latency (4) x units (2), and more
# acc = acc * A + B converges to B / (1 - A) = 1 from any seed, so it never overflows nor
# reaches denormals however long it runs, and the result says the chains really ran.
A, B = 0.999, 0.001
FIXED_POINT = B / (1 - A)
# Nominal peak: the core's full-width FMA units (`build.fma_units`: 2, or 1 on a Zen 4 core,
# which runs a 512-bit FMA as two 256-bit halves) x vector lanes x 2 flop x "cpu MHz". In a
# VM, /proc/cpuinfo's "cpu MHz" is the base (TSC) clock, 2.6 GHz on the machines measured
# here, while the cores boost to about 3.5 GHz, so measured / nominal of 1.0-1.5 is
# plausible; far above says the kernel was optimised away, far below that it is not
# FMA-bound (or the machine is busy).


# -- peak FMA throughput -------------------------------------------------------------------------
def fma_kernel(dtype: str, threads: int, lanes: int, chains: int = CHAINS):
    """The compiled kernel (`["main"](seed, out, iterations)`): `threads` parallel tasks,
    each `chains` accumulator vectors of `lanes` lanes (registers), started from its row of
    `seed`, updated `acc = acc * A + B` `iterations` times (the chains unrolled, each a
    vector FMA), then written to its row of `out` (so the work cannot be optimised away)."""
    import tvm
    from tvm.script import tirx as T

    from tecomp import build

    n = chains * lanes
    a, b = T.FloatImm(dtype, A), T.FloatImm(dtype, B)

    @T.prim_func
    def main(seed: T.Buffer((threads, n), dtype), out: T.Buffer((threads, n), dtype),
             iterations: T.int32):
        for t in T.parallel(threads):
            acc = T.alloc_buffer((n,), dtype, scope="local")
            for j in T.vectorized(n):
                acc[j] = seed[t, j]
            for _ in range(iterations):
                for c in T.unroll(chains):
                    for k in T.vectorized(lanes):
                        acc[c * lanes + k] = acc[c * lanes + k] * a + b
            for j in T.vectorized(n):
                out[t, j] = acc[j]

    return build.compile_module(tvm.IRModule({"main": main}))


def _median_call(fn, repeats: int) -> float:
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def peak_fma(dtype: str, threads: int, seconds: float = 0.05, repeats: int = 7) -> dict:
    """GFLOP/s (2 flop per FMA lane) of `fma_kernel` on the host's widest vectors, the median
    of `repeats` calls of about `seconds` each; plus the checks that it did the work: the
    outputs reached the fixed point, and twice the iterations took at least 1.5 times as
    long."""
    from tecomp import build

    lanes = build.vector_bytes() // np.dtype(dtype).itemsize
    kernel = fma_kernel(dtype, threads, lanes)["main"]
    seed = build.aligned_empty((threads, CHAINS * lanes), dtype)
    seed[...] = np.random.default_rng(0).uniform(0.5, 1.5, seed.shape)
    out = build.aligned_empty(seed.shape, dtype)
    probe = 20_000
    once = _median_call(lambda: kernel(seed, out, probe), 3)
    iterations = max(probe, int(probe * seconds / max(once, 1e-9)))
    median = _median_call(lambda: kernel(seed, out, iterations), repeats)
    out[...] = 0
    twice = _median_call(lambda: kernel(seed, out, 2 * iterations), max(3, repeats // 2))
    error = float(np.max(np.abs(out - FIXED_POINT)))
    flops = 2 * threads * CHAINS * lanes * iterations
    return {"gflops": round(flops / median / 1e9, 1), "lanes": lanes, "chains": CHAINS,
            "iterations": iterations, "ms": round(1e3 * median, 2),
            "twice_ratio": round(twice / median, 2), "max_error": error,
            # more than twice is other work on the machine; much less, work not done
            "ok": bool(error < 1e-3 and twice / median > 1.5)}


def nominal_gflops(dtype: str, threads: int) -> float | None:
    """FMA units x vector lanes x 2 flop x "cpu MHz" x threads (see above)."""
    from tecomp import build

    with contextlib.suppress(OSError, StopIteration, ValueError):
        mhz = float(next(line.split(":")[1] for line in
                         Path("/proc/cpuinfo").read_text().splitlines()
                         if line.startswith("cpu MHz")))
        lanes = build.vector_bytes() // np.dtype(dtype).itemsize
        return round(threads * build.fma_units_here() * lanes * 2 * mhz / 1e3, 1)
    return None


# -- copy bandwidth ------------------------------------------------------------------------------
def copy_kernel(count: int, threads: int):
    """A compiled parallel float64 copy `f(source, target)` of `count` elements."""
    import tvm
    from tvm.script import tirx as T

    from tecomp import build

    block = 4096
    blocks = count // block

    @T.prim_func
    def main(source: T.Buffer((blocks, block), "float64"),
             target: T.Buffer((blocks, block), "float64")):
        for i in T.parallel(blocks):
            for j in T.vectorized(block):
                target[i, j] = source[i, j]

    del threads  # the pool's size (TVM_NUM_THREADS) splits the parallel loop
    return build.compile_module(tvm.IRModule({"main": main}))["main"], (blocks, block)


def copy_bandwidth(megabytes: int, threads: int, repeats: int = 7) -> dict:
    """GB/s of copying `megabytes` MiB (read + write bytes counted), the median of `repeats`
    calls, by `np.copyto` (one thread) and by a parallel TVM kernel; `gbs` is the better."""
    from tecomp import build

    kernel, shape = copy_kernel(megabytes * 2**20 // 8, threads)
    source, target = build.aligned_empty(shape, "float64"), build.aligned_empty(shape, "float64")
    source[...] = 1.0
    nbytes = 2 * source.nbytes
    numpy = nbytes / _median_call(lambda: np.copyto(target, source), repeats) / 1e9
    target[...] = 0.0
    tvm_gbs = nbytes / _median_call(lambda: kernel(source, target), repeats) / 1e9
    if not np.array_equal(target, source):
        raise RuntimeError("the TVM copy kernel did not copy")
    return {"megabytes": megabytes, "numpy_gbs": round(numpy, 1), "tvm_gbs": round(tvm_gbs, 1),
            "gbs": round(max(numpy, tvm_gbs), 1)}


# -- both, and what they say of a case -----------------------------------------------------------
def measure(threads: int | None = None, quick: bool = False,
            precisions=PRECISIONS) -> dict:
    """Peak FMA GFLOP/s per precision and copy GB/s, with `threads` (default: TVM's pool,
    TVM_NUM_THREADS as `tecomp.build` settles it).

    The kernels run with denormals flushed, as tecomp's steps do: TVM's worker threads are
    created by the first parallel call and keep the floating-point mode of that moment, so
    measured first in a process (the benchmark does), they would otherwise leave every later
    step's workers on slow IEEE denormals (a step on denormal inputs 23-59x slower on a
    Xeon)."""
    from tecomp import build, denormals

    threads = threads or build.num_threads()
    start = time.perf_counter()
    with denormals.flushed():
        fma = {dtype: peak_fma(dtype, threads, seconds=0.01 if quick else 0.05)
               for dtype in precisions}
        copy = copy_bandwidth(64 if quick else 512, threads)
    return {"threads": threads, "fma": fma, "copy": copy,
            "fma_gflops": {dtype: f["gflops"] for dtype, f in fma.items()},
            "copy_gbs": copy["gbs"], "copy_mb": copy["megabytes"],
            "nominal_gflops": {dtype: nominal_gflops(dtype, threads) for dtype in precisions},
            "seconds": round(time.perf_counter() - start, 2)}


def best(first: dict, again: dict) -> dict:
    """`first` with each limit raised to `again`'s where that is higher (measured again after
    the cases: other work on the machine only lowers a limit)."""
    out = {**first, "seconds": first["seconds"] + again["seconds"]}
    out["fma_gflops"] = {d: max(v, again["fma_gflops"].get(d, 0.0))
                         for d, v in first["fma_gflops"].items()}
    out["fma"] = {d: again["fma"][d] if again["fma_gflops"].get(d, 0.0) > v else first["fma"][d]
                  for d, v in first["fma_gflops"].items()}
    if again["copy_gbs"] > first["copy_gbs"]:
        out["copy"], out["copy_gbs"] = again["copy"], again["copy_gbs"]
    return out


def balance(limits: dict, dtype: str, copy_gbs: float | None = None) -> float:
    """The machine balance: flop per byte at which peak FMA and copy take the same time
    (the copy at `copy_gbs` when given, else the machine's 512 MiB one)."""
    return limits["fma_gflops"][dtype] / (copy_gbs or limits["copy_gbs"])


def judge(flops: float, nbytes: float, dtype: str, limits: dict, gflops: float,
          gbs: float, copy_gbs: float | None = None) -> dict:
    """Whether a kernel of `flops` and `nbytes` (the least it must move) is compute- or
    memory-bound on this machine, and its share (`fraction`) of that limit when it runs at
    `gflops` and `gbs`. `copy_gbs` is the copy rate of as many bytes as the case moves
    (`case_copy`: from the caches where they fit, as the case's own data stay there from
    step to step); without it, the machine's copy of 512 MiB."""
    copy = copy_gbs or limits["copy_gbs"]
    intensity, machine = flops / nbytes, balance(limits, dtype, copy)
    if intensity >= machine:
        name, limit, fraction = "peak FMA", limits["fma_gflops"][dtype], gflops
    else:
        name, limit, fraction = "copy", copy, gbs
    return {"bound": "compute" if name == "peak FMA" else "memory",
            "intensity": round(intensity, 2), "balance": round(machine, 2), "name": name,
            "limit": limit, "fraction": fraction / limit}


def case_copy(nbytes: float, threads: int) -> dict:
    """`copy_bandwidth` of as many bytes as a case moves (half read, half written; 1 MiB
    at least). A case's pre, post and weights are the same arrays every step, so where
    they fit in the last-level cache its steps run at cache speed: 2 x 16 MiB copy at 50
    GB/s on a Xeon with a 480 MB L3, against 26 GB/s for 2 x 512 MiB."""
    return copy_bandwidth(max(1, math.ceil(nbytes / 2 / 2**20)), threads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tecomp.tools.limits", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter calls, a 64 MiB copy")
    args = parser.parse_args(argv)
    print(json.dumps(measure(quick=args.quick), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
