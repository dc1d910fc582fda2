"""A spec in, a compiled CPU function out: lowering, then a schedule, then LLVM.

Knobs come from a tuned record when one matches (see `cache`), else from the template's
defaults. Compiled kernels are kept as shared libraries in the user cache, so a second
process that compiles the same network builds nothing.
"""

import sys
import warnings

import tvm
from tvm import s_tir, te

from . import build, cache, lowering, schedules
from .knobs import Knobs, TraceKnobs, WindowKnobs
from .specs import NeuronSpec, WindowSpec

_loaded: dict = {}
_untuned_said = False


def _tensors(spec: WindowSpec | NeuronSpec, knobs: Knobs | None = None) -> list:
    """The TE arguments of a spec: inputs, then outputs."""
    if isinstance(spec, NeuronSpec):
        inputs, outputs = lowering.neuron(spec)
        return inputs + outputs
    inline = isinstance(knobs, WindowKnobs) and knobs.inline_padding
    inputs, output = lowering.window(spec, inline_padding=inline)
    return [*inputs, output]


def signature(spec: WindowSpec | NeuronSpec) -> list[tuple[tuple[int, ...], str]]:
    """(shape, dtype) of each kernel argument, in call order."""
    return [(tuple(int(n) for n in t.shape), str(t.dtype)) for t in _tensors(spec)]


def prim_func(spec: WindowSpec | NeuronSpec, knobs: Knobs | None = None) -> tvm.IRModule:
    """The unscheduled module of a spec; arguments: inputs, then outputs."""
    return tvm.IRModule({"main": te.create_prim_func(_tensors(spec, knobs))})


def scheduled(spec: WindowSpec | NeuronSpec, knobs: Knobs | None = None) -> tvm.IRModule:
    """The kernel of a spec under template knobs (default: the template's defaults) or
    under a MetaSchedule trace."""
    knobs = schedules.default_knobs(spec) if knobs is None else knobs
    if isinstance(knobs, TraceKnobs):
        from .tuning import metaschedule  # imports MetaSchedule only for records that need it

        return metaschedule.apply(spec, knobs)
    sch = s_tir.Schedule(prim_func(spec, knobs))
    schedules.schedule(sch, spec, knobs)
    return sch.mod


def choose_knobs(spec: WindowSpec | NeuronSpec, tuned: bool = True) -> tuple[Knobs, bool]:
    """The knobs a spec is built with, and whether they come from a tuned record (else the
    template's defaults)."""
    record = cache.lookup(spec) if tuned else None
    if record is not None:
        return record.knobs, True
    return schedules.default_knobs(spec), False


def compile_kernel(spec: WindowSpec | NeuronSpec, knobs: Knobs | None = None,
                   tuned: bool = True):
    """The compiled `main` function of a spec: from memory, from the kernel cache, or built."""
    if knobs is None:
        knobs, found = choose_knobs(spec, tuned)
        if tuned and not found and isinstance(spec, WindowSpec):
            _say_how_to_tune()
    memo = (spec, knobs)
    if memo not in _loaded:
        path = cache.library_path(spec, knobs)
        function = cache.load_library(path, spec)
        if function is None:
            executable = build.compile_module(scheduled(spec, knobs))
            try:
                cache.store_library(path, executable, spec)
            except OSError as err:  # a read-only cache costs rebuilds, nothing else
                warnings.warn(f"tecomp: cannot cache the kernel in {path}: {err}", stacklevel=2)
            function = executable["main"]
        _loaded[memo] = function
    return _loaded[memo]


def _say_how_to_tune() -> None:
    global _untuned_said
    if not _untuned_said:
        _untuned_said = True
        print("tecomp: some kernels use default schedules; `tecomp-tune your_script.py` "
              "tunes them for this machine (cached per geometry)", file=sys.stderr)
