"""Compiling scheduled kernels for this CPU, and the aligned buffers they run on.

Every TVM kernel assumes 64-byte aligned, contiguous arguments (LLVM emits aligned vector
loads), so every array handed to a kernel comes from `aligned_empty`.
"""

import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import InvalidValueError
from .runtime import cores, num_threads  # noqa: F401 - settles TVM_NUM_THREADS first

if TYPE_CHECKING:  # TVM's compiler is imported only to build
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


def user_dir() -> Path:
    """tecomp's cache folder: compiled kernels, tuned records, this machine's description."""
    return Path(os.environ.get("TECOMP_CACHE") or Path.home() / ".cache" / "tecomp")


def target_isa() -> str:
    """TECOMP_TARGET_ISA, checked: "" (unset: this CPU's own features) or "avx2" (any
    case). Another value is an error rather than a build for this CPU that looks like one
    for the ISA asked for."""
    given = os.environ.get("TECOMP_TARGET_ISA", "")
    value = given.strip().lower()
    if value not in ("", "avx2"):
        raise InvalidValueError(f"TECOMP_TARGET_ISA must be 'avx2' (build for an AVX2-only "
                                f"CPU) or unset (this CPU), got {given!r}")
    return value


@functools.cache
def host_target() -> "tvm.target.Target":
    """LLVM for this CPU with the features the OS really enables (a VM may hide AVX-512;
    `mcpu` alone would let LLVM emit instructions that crash with SIGILL).

    TECOMP_TARGET_ISA=avx2 builds for this CPU without its AVX-512 (and newer) features: an
    AVX2-only machine of the same family, which runs here (to measure defaults and tune
    records for AVX2 machines)."""
    import tvm

    cpu = tvm.get_global_func("tvm.codegen.llvm.GetHostCPUName")()
    features = dict(tvm.get_global_func("tvm.codegen.llvm.GetHostCPUFeatures")())
    if target_isa() == "avx2":  # an AVX2-only CPU, simulated here
        features = {name: on and not name.startswith(("avx512", "amx", "avx10"))
                    for name, on in features.items()}
    mattr = [("+" if on else "-") + name for name, on in sorted(features.items())]
    return tvm.target.Target({"kind": "llvm", "mcpu": cpu, "mattr": mattr,
                              "num-cores": os.cpu_count() or 1})


@functools.cache
def host() -> dict:
    """What kernels are compiled for here: {"target" (the LLVM target, as text), "llvm"
    (major version), "tvm" (version), "vector_bytes", "fma_units"}. Asking LLVM needs TVM's compiler
    (over a second to import), so the answer is kept in the cache folder under a
    fingerprint of the CPU and of the installed TVM, and read back by later processes."""
    fingerprint = _fingerprint()
    path = user_dir() / "machine.json"
    if fingerprint is not None:
        try:
            known = json.loads(path.read_text())
            if isinstance(known, dict) and _described(known.get(fingerprint)):
                return known[fingerprint]
        except (OSError, ValueError, RecursionError):
            known = {}
    else:
        known = {}
    described = _describe()
    if fingerprint is not None:
        try:  # one file per machine and TVM; a failed write costs the next start time only
            path.parent.mkdir(parents=True, exist_ok=True)
            known = known if isinstance(known, dict) else {}
            with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False,
                                             suffix=".tmp") as stream:
                json.dump(known | {fingerprint: described}, stream)
            os.replace(stream.name, path)
        except OSError:
            pass
    return described


def _described(entry) -> bool:
    """Whether a machine.json entry is one `_describe` could have written (an edited or
    damaged one is described again, never trusted)."""
    return (isinstance(entry, dict) and set(entry) == {"target", "llvm", "tvm",
                                                        "vector_bytes", "fma_units"}
            and isinstance(entry["target"], str) and isinstance(entry["tvm"], str)
            and (entry["llvm"] is None or type(entry["llvm"]) is int)
            and type(entry["vector_bytes"]) is int and entry["vector_bytes"] in (16, 32, 64)
            and type(entry["fma_units"]) is int and entry["fma_units"] in (1, 2))


def _describe() -> dict:
    import tvm

    target = host_target()
    has = tvm.get_global_func("target.target_has_feature")
    llvm = tvm.get_global_func("target.llvm_version_major", allow_missing=True)
    width = 64 if has("avx512f", target) else 32 if has("avx", target) else 16
    return {"target": str(target), "llvm": llvm() if llvm else None, "tvm": tvm.__version__,
            "vector_bytes": width,
            "fma_units": fma_units(str(target.attrs.get("mcpu", "")), width)}


def fma_units(cpu: str, width: int) -> int:
    """Full-width vector FMAs a core starts per cycle: 1 on a Zen 4 core with AVX-512 (it
    runs each 512-bit FMA as two 256-bit halves), else taken as 2, as on Xeon server cores
    with AVX-512 and on AVX2 cores. Some client and entry Xeon cores have one 512-bit unit;
    their tile is still within the registers, and LLVM's CPU name cannot single them out in
    a VM (the benchmark's Xeon, 2 units measured, reads `rocketlake`)."""
    return 1 if cpu == "znver4" and width == 64 else 2


def _fingerprint() -> str | None:
    """The CPU (model, flags, core count) and the installed TVM; None where the CPU cannot
    be read cheaply (then LLVM is asked every time)."""
    try:
        with open("/proc/cpuinfo") as stream:
            lines = [line for line in stream.read().split("\n\n")[0].splitlines()
                     if line.split(":")[0].strip() in ("vendor_id", "model name", "flags",
                                                        "Features", "CPU part")]
        version = importlib.metadata.version("apache-tvm")
    except (OSError, importlib.metadata.PackageNotFoundError):
        return None
    if not lines:
        return None
    text = "\n".join([*lines, str(os.cpu_count()), platform.machine(), version,
                      target_isa()])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def isa_class(target: str) -> str:
    """The vector ISA class of an LLVM target's text: "avx512", "avx2", "neon" or "generic".
    Schedules tuned on one CPU of a class are a good start on another (see cache)."""
    if "+avx512f" in target:
        return "avx512"
    if "+avx2" in target:
        return "avx2"
    if "+neon" in target or "aarch64" in target or "arm64" in target:
        return "neon"
    return "generic"


def vector_bytes() -> int:
    """Width of the widest vector register the target may use."""
    return int(host()["vector_bytes"])


def accumulators() -> int:
    """How many vector registers a kernel's output tile may hold as accumulators. With 32
    registers (AVX-512, AArch64) and two full-width FMA units, all but 4 (two weight
    vectors, the broadcast input, one spare): 28, so that both units have many chains in
    flight (B3 on a Xeon, kernel alone: 3.31 ms with 8; 2.88 with 16 against 2.73 with 28
    in float32, 5.76 against 5.36 ms in float64, medians of one interleaved run).
    Otherwise a quarter of the registers per unit: 8 with AVX2's 16 (16 spill: B3 4.87
    against 6.25 ms) and on a Zen 4 core, whose one 512-bit FMA per cycle 8 keep busy (16
    ran B2 float64 at 3.2 against 2.0 ms)."""
    width = vector_bytes()
    registers = 32 if width == 64 or platform.machine() in ("aarch64", "arm64") else 16
    units = fma_units_here()
    return registers - 4 if registers == 32 and units == 2 else registers * units // 4


def fma_units_here() -> int:
    """`fma_units` of the target kernels are compiled for."""
    return int(host()["fma_units"])


# Splits loops at `likely` range tests, so inline padding leaves a branch-free main body.
PASS_CONFIG = {"s_tir.LoopPartition": {"partition_const_loop": True}}


def compile_module(mod: "tvm.IRModule"):
    """Compile a scheduled module for this CPU; returns the executable (`[\"main\"]`)."""
    import tvm

    with tvm.transform.PassContext(opt_level=3, config=PASS_CONFIG):
        return tvm.compile(mod, target=host_target())
