"""Typed schedule knobs: one frozen record per template, checked when it is made.

A misspelt knob, a knob of another template or a value of the wrong type fails here, where
it is written (a record read from disk, a tuner's candidate), not inside a worker. Whether a
setting suits a given spec (a width that divides the axis, ...) is the template's answer:
`schedules.candidates(spec)` lists every valid one.

>>> WindowKnobs(vector_axis=1, vector_width=8, parallel=True).vector_width
8
>>> knobs_from_dict("window", {"vector_widht": 8})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
tecomp.errors.KnobError: unknown knob 'vector_widht' for the window template; its knobs: ...
"""

import dataclasses
import json
from dataclasses import dataclass

from .errors import KnobError


def _check(record, ints: tuple[str, ...], optional: tuple[str, ...], flags: tuple[str, ...]):
    for name in ints + optional:
        value = getattr(record, name)
        if value is None and name in optional:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < (
                0 if name in optional else 1):
            raise KnobError(f"{type(record).__name__}.{name} must be an int >= "
                            f"{0 if name in optional else 1}, got {value!r}")
    for name in flags:
        if not isinstance(getattr(record, name), bool):
            raise KnobError(f"{type(record).__name__}.{name} must be True or False, "
                            f"got {getattr(record, name)!r}")


@dataclass(frozen=True)
class WindowKnobs:
    """A Convolution or Pooling kernel: a register tile of `block` x `vector_width` outputs
    (block on `block_axis`, vector on `vector_axis`), parallel outer loops, unrolled taps,
    and the padding algorithm (see lowering). Or, with `tap_vector` > 1, that many partial
    sums side by side over all the taps of a window much larger than the output (a read-out
    layer), and no output tile. `filter_groups` (filters of several sizes) chooses the
    algorithm: one bank per size, each with its own window, then their outputs side by
    side, instead of one bank padded to the largest size."""

    vector_axis: int | None = None
    vector_width: int = 1
    block_axis: int | None = None
    block: int = 1
    parallel: bool = False
    unroll: bool = True
    inline_padding: bool = False
    tap_vector: int = 1
    filter_groups: bool = False

    def __post_init__(self) -> None:
        _check(self, ("vector_width", "block", "tap_vector"), ("vector_axis", "block_axis"),
               ("parallel", "unroll", "inline_padding", "filter_groups"))
        if self.filter_groups and (self.vector_axis is not None or self.block_axis is not None
                                   or self.inline_padding or self.tap_vector > 1):
            raise KnobError("WindowKnobs: filter_groups schedules each bank of one size with "
                            "its own defaults; it takes no tile, tap_vector or inline_padding")
        if self.tap_vector > 1 and (self.vector_axis is not None or self.block_axis not in
                                    (None, 0) or self.inline_padding):
            raise KnobError("WindowKnobs: tap_vector > 1 takes no vector_axis, no "
                            "inline_padding, and blocks on axis 0 only (a batch)")
        if (self.vector_axis is None) != (self.vector_width == 1):
            raise KnobError(f"WindowKnobs: a vector_width > 1 needs a vector_axis and the other "
                            f"way round, got axis {self.vector_axis}, width {self.vector_width}")
        if (self.block_axis is None) != (self.block == 1):
            raise KnobError(f"WindowKnobs: a block > 1 needs a block_axis and the other way "
                            f"round, got axis {self.block_axis}, block {self.block}")
        if self.block_axis is not None and self.block_axis == self.vector_axis:
            raise KnobError(f"WindowKnobs: block_axis and vector_axis must differ, both are "
                            f"{self.block_axis}")


@dataclass(frozen=True)
class UpdateKnobs:
    """A population update: vector width of the elementwise loop, parallel or not."""

    vector_width: int = 1
    parallel: bool = False

    def __post_init__(self) -> None:
        _check(self, ("vector_width",), (), ("parallel",))


@dataclass(frozen=True)
class MatrixKnobs:
    """A regular projection: `vector_width` partial results side by side over each row's
    synapses (over post neurons for one-to-one), `row_block` rows sharing the loads of one
    pre value, rows in parallel or not."""

    vector_width: int = 1
    row_block: int = 1
    parallel: bool = False

    def __post_init__(self) -> None:
        _check(self, ("vector_width", "row_block"), (), ("parallel",))


@dataclass(frozen=True)
class TraceKnobs:
    """A schedule found by MetaSchedule, kept as its JSON trace."""

    trace: str

    def __post_init__(self) -> None:
        try:
            json.loads(self.trace)
        except (TypeError, ValueError, RecursionError):
            raise KnobError(f"TraceKnobs.trace must be a schedule trace in JSON, got "
                            f"{str(self.trace)[:40]!r}") from None


Knobs = WindowKnobs | UpdateKnobs | MatrixKnobs | TraceKnobs
TEMPLATES = {"window": WindowKnobs, "update": UpdateKnobs, "matrix": MatrixKnobs}


def knobs_from_dict(template: str, data) -> Knobs:
    """Knobs from their JSON form (a record, a worker request); raises KnobError."""
    if not isinstance(data, dict):
        raise KnobError(f"knobs must be a JSON object, got {type(data).__name__}")
    kind = TraceKnobs if "trace" in data else TEMPLATES[template]
    known = [f.name for f in dataclasses.fields(kind)]
    for name in data:
        if name not in known:
            raise KnobError(f"unknown knob {name!r} for the {template} template; its knobs: "
                            f"{', '.join(known)}")
    return kind(**data)


def knobs_to_dict(knobs: Knobs) -> dict:
    return dataclasses.asdict(knobs)
