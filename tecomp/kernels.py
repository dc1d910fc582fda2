"""A spec in, a compiled CPU function out: lowering, then a schedule, then LLVM.

Knobs come from a tuned record when one matches (see `cache`), else from the template's
defaults. Compiled kernels are kept as shared libraries in the user cache, so a second
process that compiles the same network builds nothing.
"""

import sys
import warnings
from typing import TYPE_CHECKING

from . import build, cache, schedules
from .knobs import Knobs, TraceKnobs, WindowKnobs
from .specs import MatrixSpec, NeuronSpec, WindowSpec

if TYPE_CHECKING:  # TVM's compiler is imported only when a kernel must be built
    import tvm

_untuned_said = False
# Whether tecomp prints its hints (the line saying that some kernels use default schedules).
# A public switch: `Network.compile(silent=True)` turns it off while it builds; set it to
# False to silence the hints for the whole process. Warnings are not hints and stay.
HINTS = True
# How many kernels this process compiled (not loaded from the kernel cache): a copy of a
# parallel_run should compile none.
BUILT = 0


def _tensors(spec: WindowSpec | NeuronSpec, knobs: Knobs | None = None) -> list:
    """The TE arguments of a spec: inputs, then outputs."""
    from . import lowering

    if isinstance(spec, NeuronSpec):
        inputs, outputs = (lowering.reduction if spec.reduction else lowering.neuron)(spec)
        return inputs + outputs
    if isinstance(spec, MatrixSpec):
        inputs, output = lowering.matrix(spec)
        return [*inputs, output]
    inline = isinstance(knobs, WindowKnobs) and knobs.inline_padding
    groups = isinstance(knobs, WindowKnobs) and knobs.filter_groups
    inputs, output = lowering.window(spec, inline_padding=inline, filter_groups=groups)
    return [*inputs, output]


def signature(spec: WindowSpec | NeuronSpec) -> list[tuple[tuple[int, ...], str]]:
    """(shape, dtype) of each kernel argument, in call order."""
    # a scalar argument (the draw counter of an update with random draws) has shape ()
    return [(tuple(int(n) for n in t.shape), str(t.dtype)) if hasattr(t, "shape") else
            ((), str(t.ty)) for t in _tensors(spec)]


def prim_func(spec: WindowSpec | NeuronSpec, knobs: Knobs | None = None) -> "tvm.IRModule":
    """The unscheduled module of a spec; arguments: inputs, then outputs."""
    import tvm
    from tvm import te

    return tvm.IRModule({"main": te.create_prim_func(_tensors(spec, knobs))})


def scheduled(spec: WindowSpec | NeuronSpec, knobs: Knobs | None = None) -> "tvm.IRModule":
    """The kernel of a spec under template knobs (default: the template's defaults) or
    under a MetaSchedule trace."""
    knobs = schedules.default_knobs(spec) if knobs is None else knobs
    if isinstance(knobs, TraceKnobs):
        from .tuning import metaschedule  # imports MetaSchedule only for records that need it

        return metaschedule.apply(spec, knobs)
    from tvm import s_tir

    sch = s_tir.Schedule(prim_func(spec, knobs))
    schedules.schedule(sch, spec, knobs)
    return sch.mod


def choose_knobs(spec: WindowSpec | NeuronSpec, tuned: bool = True) -> tuple[Knobs, bool]:
    """The knobs a spec is built with, and whether they come from a tuned record (else the
    template's defaults): one tuned here, else one tuned on another CPU of the same vector
    ISA class (said once per process)."""
    record = cache.lookup(spec) if tuned else None
    if record is None and tuned:
        record = cache.lookup_travelled(spec)
        if record is not None:
            _say_travelled(record)
    if record is not None:
        return record.knobs, True
    return schedules.default_knobs(spec), False


def compile_kernel(spec: WindowSpec | NeuronSpec, knobs: Knobs | None = None,
                   tuned: bool = True):
    """The compiled `main` function of a spec: from the kernel cache, or built (and cached).

    Nothing is kept in memory here: a kernel stays loaded while something holds its
    function (a compiled network), and is unloaded with the last of them."""
    if knobs is not None:
        return _load_or_build(spec, knobs)
    knobs, found = choose_knobs(spec, tuned)
    if tuned and not found and isinstance(spec, WindowSpec | MatrixSpec):
        _say_how_to_tune()
    if not found:
        return _load_or_build(spec, knobs)
    try:
        return _load_or_build(spec, knobs)
    except Exception as err:  # a record the template accepts but TVM cannot build
        warnings.warn(f"tecomp: the tuned record of a {type(spec).__name__} does not build "
                      f"({type(err).__name__}: {str(err)[:200]}); using the default schedule",
                      stacklevel=3)
        return _load_or_build(spec, schedules.default_knobs(spec))


def _load_or_build(spec: WindowSpec | NeuronSpec, knobs: Knobs):
    path = cache.library_path(spec, knobs)
    function = cache.load_library(path, spec)
    if function is None:
        global BUILT
        BUILT += 1
        executable = build.compile_module(scheduled(spec, knobs))
        try:
            cache.store_library(path, executable, spec)
        except OSError as err:  # a read-only or full cache costs rebuilds, nothing else
            warnings.warn(f"tecomp: cannot cache the kernel in {path}: {err}", stacklevel=4)
        function = executable["main"]
    return function


_travelled_said = False


def _say_travelled(record) -> None:
    global _travelled_said
    if HINTS and not _travelled_said:
        _travelled_said = True
        print(f"tecomp: some kernels use schedules tuned on another "
              f"{build.isa_class(record.key['target'])} CPU; `tecomp-tune your_script.py` "
              "tunes them for this one", file=sys.stderr)


def _say_how_to_tune() -> None:
    global _untuned_said
    if HINTS and not _untuned_said:
        _untuned_said = True
        print("tecomp: some kernels use default schedules; `tecomp-tune your_script.py` "
              "tunes them for this machine (cached per geometry)", file=sys.stderr)
