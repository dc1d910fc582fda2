"""Compiling scheduled kernels for this CPU, and the aligned buffers they run on.

Every TVM kernel assumes 64-byte aligned, contiguous arguments (LLVM emits aligned vector
loads), so every array handed to a kernel comes from `aligned_empty`.
"""

import functools
import os
import warnings

import numpy as np


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

import tvm  # noqa: E402 - after TVM_NUM_THREADS is settled

ALIGNMENT = 64


def aligned_empty(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """A zeroed C-contiguous array whose data starts on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    raw = np.zeros(count * dtype.itemsize + ALIGNMENT, dtype=np.uint8)
    start = (-raw.ctypes.data) % ALIGNMENT
    return raw[start:start + count * dtype.itemsize].view(dtype).reshape(shape)


def aligned_copy(array: np.ndarray, dtype: str) -> np.ndarray:
    out = aligned_empty(np.shape(array), dtype)
    out[...] = array
    return out


@functools.cache
def host_target() -> "tvm.target.Target":
    """LLVM for this CPU with the features the OS really enables (a VM may hide AVX-512;
    `mcpu` alone would let LLVM emit instructions that crash with SIGILL)."""
    cpu = tvm.get_global_func("tvm.codegen.llvm.GetHostCPUName")()
    features = tvm.get_global_func("tvm.codegen.llvm.GetHostCPUFeatures")()
    mattr = [("+" if on else "-") + name for name, on in sorted(features.items())]
    return tvm.target.Target({"kind": "llvm", "mcpu": cpu, "mattr": mattr,
                              "num-cores": os.cpu_count() or 1})


@functools.cache
def vector_bytes() -> int:
    """Width of the widest vector register the target may use."""
    target = host_target()
    has = tvm.get_global_func("target.target_has_feature")
    if has("avx512f", target):
        return 64
    return 32 if has("avx", target) else 16


def num_threads() -> int:
    return int(os.environ.get("TVM_NUM_THREADS", "1"))


# Splits loops at `likely` range tests, so inline padding leaves a branch-free main body.
PASS_CONFIG = {"s_tir.LoopPartition": {"partition_const_loop": True}}


def compile_module(mod: "tvm.IRModule"):
    """Compile a scheduled module for this CPU; returns the executable (`[\"main\"]`)."""
    with tvm.transform.PassContext(opt_level=3, config=PASS_CONFIG):
        return tvm.compile(mod, target=host_target())
