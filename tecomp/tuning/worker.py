"""The tuner's worker process: builds and times one candidate per request.

Run as `python -m tecomp.tuning.worker` by `search.Worker`; a candidate that crashes or
hangs this process costs the tuner one restart, never the user's process. Each candidate is
checked against the template defaults on the same random inputs before it is timed.
"""

import math
import time

import numpy as np
import tvm

from .. import build, kernels, schedules
from ..child import serve
from ..knobs import knobs_from_dict
from ..reference import relative_error, tolerance
from ..specs import MatrixSpec, NeuronSpec, WindowSpec, from_dict


class _Baselines(dict):
    """Per spec: the random arguments and the outputs the default schedule gives them."""

    def __missing__(self, spec):
        args = arguments(spec, np.random.default_rng(0))
        kernels.compile_kernel(spec, schedules.default_knobs(spec))(*args)
        self[spec] = (args, [a.copy() if isinstance(a, np.ndarray) else a for a in args])
        return self[spec]


BUILT_KEPT = 8  # built candidates kept: the search times its best few again at the end


def measure(request: dict, baselines: _Baselines, built: dict | None = None) -> dict:
    """{"ms": median ms or inf, "error": None or why it failed, "build_s": ...}; `built`
    keeps the last BUILT_KEPT executables, so timing a candidate again builds nothing."""
    spec = from_dict(request["spec"])
    built = {} if built is None else built
    try:
        knobs = knobs_from_dict(schedules.template(spec), request["knobs"])
        args, expected = baselines[spec]
        key = (spec, knobs)
        if key not in built:
            started = time.perf_counter()
            built[key] = (build.compile_module(kernels.scheduled(spec, knobs)),
                          time.perf_counter() - started)
            while len(built) > BUILT_KEPT:
                del built[next(iter(built))]
        executable, build_s = built[key]
        n_in = len(args) - _outputs(spec)
        fresh = args[:n_in] + [build.aligned_empty(a.shape, a.dtype) for a in args[n_in:]]
        executable["main"](*fresh)
        allowed = tolerance(spec.dtype, spec.taps if isinstance(spec, WindowSpec | MatrixSpec)
                            else 1)
        for got, want in zip(fresh[n_in:], expected[n_in:], strict=True):
            if relative_error(got, want) > allowed:  # reordered sums round apart, no more
                raise ValueError("wrong result against the default schedule")
        if isinstance(spec, MatrixSpec):
            # A regular projection streams its weights from memory in every step, after the
            # other kernels have used the caches. Timed warm, a matrix that fits a large L3
            # (B7's 134 MB in a 480 MB L3) would be scored at cache speed: each call starts
            # with the weights and indices flushed (pre, the first argument, stays).
            timer = executable.mod.time_evaluator(
                "main", tvm.cpu(), number=1, repeat=15,
                f_preproc="cache_flush_cpu_non_first_arg")
        else:
            timer = executable.mod.time_evaluator("main", tvm.cpu(), number=1, repeat=5,
                                                  min_repeat_ms=20)
        ms = 1e3 * float(np.median(timer(*fresh).results))
        return {"ms": ms, "error": None, "build_s": build_s}
    except Exception as err:  # a bad candidate scores inf; the worker goes on
        return {"ms": math.inf, "error": f"{type(err).__name__}: {err}"[:500], "build_s": None}


def _outputs(spec) -> int:
    return len(spec.outputs) if isinstance(spec, NeuronSpec) else 1


def arguments(spec, rng: np.random.Generator) -> list:
    """Random inputs (and zeroed outputs) in aligned buffers, in kernel argument order."""
    arrays = []
    for shape, dtype in kernels.signature(spec):
        if shape == ():  # a scalar argument (the draw counter of random draws): a number
            arrays.append(int(rng.integers(0, 1000)))
            continue
        if dtype == "uint8":  # a mask of present synapses
            values = rng.integers(0, 2, shape)
        elif dtype == "int32" and isinstance(spec, MatrixSpec):  # padded rows: ranks, counts
            values = rng.integers(0, spec.pre, shape) if len(shape) == 2 else \
                rng.integers(0, spec.row + 1, shape)
        elif dtype == "int32":  # a subsampling table: centres inside pre
            values = np.stack([rng.integers(0, n, shape[0]) for n in spec.pre], -1)
        else:
            values = rng.uniform(0.1, 1.0, shape)
        arrays.append(build.aligned_copy(values, dtype))
    return arrays


if __name__ == "__main__":
    baselines, built = _Baselines(), {}
    serve(lambda request: measure(request, baselines, built))
