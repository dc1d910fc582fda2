"""Flush denormal numbers to zero while kernels run.

Arithmetic on denormals (|x| < 1.2e-38 in float32, 2.2e-308 in float64) is 40-50x slower on
x86, and a decaying rate (`tau * dr/dt + r = 0`) reaches them after a few hundred steps, so a
network that fades out would slow to a crawl. While a network runs, tecomp sets the CPU's
flush-to-zero and denormals-are-zero modes (MXCSR FTZ/DAZ on x86-64, FPCR FZ on AArch64) and
restores the caller's mode afterwards, so the user's own NumPy code keeps IEEE arithmetic.

The mode belongs to a thread. TVM's worker threads are created by the first parallel kernel
call and keep the mode they were created with, so the choice is made once per process:
`tecomp.setup(denormals="keep")` before the first simulation keeps IEEE gradual underflow.
"""

import contextlib
import ctypes
import ctypes.util
import platform
import struct

# (byte offset of the control register in glibc's fenv_t, the bits that flush)
_LAYOUT = {"x86_64": (28, 0x8040), "AMD64": (28, 0x8040), "aarch64": (0, 1 << 24)}
_FENV_BYTES = 32


def _libm():
    name = ctypes.util.find_library("m")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


_LIBM = _libm()
SUPPORTED = _LIBM is not None and platform.machine() in _LAYOUT
FLUSH = True  # the process-wide choice; setup(denormals="keep") sets it False


@contextlib.contextmanager
def flushed():
    """Run the block with denormals flushed to zero (unless kept, or the CPU cannot)."""
    if not (FLUSH and SUPPORTED):
        yield
        return
    offset, bits = _LAYOUT[platform.machine()]
    saved = ctypes.create_string_buffer(_FENV_BYTES)
    if _LIBM.fegetenv(saved) != 0:
        yield
        return
    flushing = ctypes.create_string_buffer(saved.raw, _FENV_BYTES)
    struct.pack_into("<I", flushing, offset, struct.unpack_from("<I", saved.raw, offset)[0] | bits)
    _LIBM.fesetenv(flushing)
    try:
        yield
    finally:
        _LIBM.fesetenv(saved)
