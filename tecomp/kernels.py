"""A spec in, a compiled CPU function out: lowering, then a schedule, then LLVM."""

import functools

import tvm
from tvm import s_tir, te

from . import build, lowering, schedules
from .specs import NeuronSpec, WindowSpec


def prim_func(spec: WindowSpec | NeuronSpec) -> tvm.IRModule:
    """The unscheduled module of a spec; arguments: inputs, then outputs."""
    if isinstance(spec, NeuronSpec):
        inputs, outputs = lowering.neuron(spec)
    else:
        inputs, output = lowering.window(spec)
        outputs = [output]
    return tvm.IRModule({"main": te.create_prim_func(inputs + outputs)})


def scheduled(spec: WindowSpec | NeuronSpec, knobs: dict | None = None) -> tvm.IRModule:
    sch = s_tir.Schedule(prim_func(spec))
    schedules.schedule(sch, spec, schedules.default_knobs(spec) if knobs is None else knobs)
    return sch.mod


@functools.cache
def _compiled(spec, knob_items: tuple):
    return build.compile_module(scheduled(spec, dict(knob_items) if knob_items else None))


def compile_kernel(spec: WindowSpec | NeuronSpec, knobs: dict | None = None):
    """The compiled function of a spec (built once per process for equal specs and knobs)."""
    return _compiled(spec, tuple(sorted(knobs.items())) if knobs else ())
