"""TVM's runtime alone: load compiled kernels and hand them NumPy buffers.

A network whose kernels are all in the cache never needs TVM's compiler, whose import takes
over a second (`import tvm`); the runtime is `tvm_ffi` plus `libtvm_runtime.so`, loaded
here in about 0.1 s. `tvm_ffi` would also import `ml_dtypes` (0.8 s, for bfloat16 and float8
tensors, which tecomp never makes) and `torch` when installed (a work-around for a symbol
clash on Windows); both are skipped while it imports, and importable as usual afterwards.

TVM's thread pool reads TVM_NUM_THREADS when it starts, so the count is settled here, before
any kernel runs.
"""

import ctypes
import functools
import importlib.util
import os
import sys
import warnings


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)


def _thread_count() -> str:
    """TVM starts half the cores on x86 unless told, and reads TVM_NUM_THREADS when its pool
    starts. More threads than cores only slow every parallel kernel and the interpreter's
    exit (each idle worker spins), so a larger or unreadable value is capped, with a word."""
    given = os.environ.get("TVM_NUM_THREADS")
    if given is None:
        return str(cores())
    try:
        wanted = int(given)
    except ValueError:
        wanted = -1
    if 1 <= wanted <= cores():
        return given
    warnings.warn(f"tecomp: TVM_NUM_THREADS={given!r} is not between 1 and the {cores()} "
                  f"cores of this process; using {cores()}", stacklevel=2)
    return str(cores())


os.environ["TVM_NUM_THREADS"] = _thread_count()


def num_threads() -> int:
    return int(os.environ.get("TVM_NUM_THREADS", "1"))


@functools.cache
def ffi():
    """The `tvm_ffi` module, with TVM's runtime library loaded."""
    skipped = [name for name in ("ml_dtypes", "torch") if name not in sys.modules]
    for name in skipped:
        sys.modules[name] = None  # an ImportError inside tvm_ffi, which it handles
    try:
        import tvm_ffi
    finally:
        for name in skipped:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
    if "tvm" not in sys.modules:  # `import tvm` loads it itself
        found = importlib.util.find_spec("tvm")
        library = os.path.join(os.path.dirname(found.origin), "lib", "libtvm_runtime.so")
        ctypes.CDLL(library, ctypes.RTLD_GLOBAL)
    return tvm_ffi


def load_module(path: str):
    """A compiled kernel library (`module["main"]` is its function)."""
    return ffi().load_module(path)


def from_dlpack(array):
    """A TVM tensor sharing the memory of a NumPy array (64-byte aligned, contiguous)."""
    return ffi().from_dlpack(array)
