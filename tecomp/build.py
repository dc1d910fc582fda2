"""Compiling scheduled kernels for this CPU, and the aligned buffers they run on.

Every TVM kernel assumes 64-byte aligned, contiguous arguments (LLVM emits aligned vector
loads), so every array handed to a kernel comes from `aligned_empty`.
"""

import functools
import os

import numpy as np

# TVM starts half the cores on x86 unless told; read when its thread pool starts.
os.environ.setdefault("TVM_NUM_THREADS", str(os.cpu_count() or 1))

import tvm

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
