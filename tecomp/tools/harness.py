"""The one measurement harness of the tools: build, check, then time, interleaved.

`measure(makers, expected, tolerance, repeats, budget)` builds every runner (a `Runner`
makes one step or call and gives its output), checks each one's first output against the
NumPy reference (`tecomp.reference.relative_error` against an allowed error from
`tecomp.reference.tolerance`), then times those that agree, round by round in a random
order (`interleave`), and gives the medians. A runner that cannot run raises `Skip`; one
that fails to build or disagrees with the reference is left out of the timing, with the
reason. The benchmark (`tools.bench`) and the notebooks' measurements (`tools.scaling`)
both measure through it.
"""

import gc
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from tecomp import reference

from .report import stats

SEED = 20240501
# Thread pools spin a few ms after a call (TVM, OpenMP): on 2 cores the next system's
# threads would wait for those spinning ones, so every call waits this long first.
SETTLE_S = 0.02
# Then untimed calls for this long (by the runner's own clock) before the timed one: in a
# running simulation steps follow each other, cores at full clock, caches warm, thread
# pools awake. After the settle, one call is not enough on a virtual machine: measured with
# one (B3, float32, 2 threads) tecomp's step took 2.47 ms and PyTorch's 2.47 ms against 2.15
# and 2.16 ms after 20 ms of calls, their kernels' warm time.
WARM_S = 0.02
WARM_CALLS_MAX = 1000  # a runner whose clock reads 0 still stops warming
SLOW_S = 0.05  # a call this long needs no untimed call before it


class Skip(Exception):
    """This runner cannot run this case; the message says why."""


class Runner:
    """`timed()` makes one step or call and returns its seconds; `output()` is the post
    rates it produced."""

    def __init__(self, name: str, run, output, **info):
        self.name, self._run, self._output, self.info = name, run, output, info
        self._last = None
        self.net = None  # a tecomp runner's network
        self.check_s = 0.0  # how long the call that checked the output took

    def timed(self) -> float:
        start = time.perf_counter()
        self._last = self._run()
        return time.perf_counter() - start

    def output(self) -> np.ndarray:
        return np.asarray(self._output(self._last))

    def close(self) -> None:
        pass


@dataclass
class Outcome:
    """What `measure` found, by runner name."""

    errors: dict[str, float] = field(default_factory=dict)  # relative error vs reference
    skipped: dict[str, str] = field(default_factory=dict)  # not timed, and why
    samples_ms: dict[str, list[float]] = field(default_factory=dict)
    info: dict[str, dict] = field(default_factory=dict)  # each checked runner's info
    outputs: dict[str, np.ndarray] = field(default_factory=dict)  # with keep_outputs
    aborted: str | None = None  # why nothing was timed: a required runner failed

    def ok(self, name: str) -> bool:
        """Whether `name` ran and agreed with the reference."""
        return name in self.errors and name not in self.skipped

    @property
    def stats(self) -> dict[str, dict]:
        """Median, quartiles, min and count of each timed runner's samples (ms)."""
        return {name: stats(s) for name, s in self.samples_ms.items() if s}


def _pick(value, name: str):
    """`value` itself, or its entry for `name` when it is a mapping (called if callable)."""
    if isinstance(value, Mapping):
        value = value[name]
    return value() if callable(value) else value


def measure(makers: Mapping[str, Callable[[], Runner]], expected, tolerance, repeats: int,
            budget: float, *, required: tuple[str, ...] = ("tecomp",), untimed=(),
            kernel: str | None = None, keep_outputs: bool = False) -> Outcome:
    """Build every runner (`makers`: {name: function returning a Runner}, in order), check
    its first output against `expected`, then time the runners that agree (`interleave`).

    `expected` is the reference output; or a `Runner` whose output is the reference (the
    NumPy one: called once first, then timed with the others); or a mapping by name whose
    values may be functions (called once the runner has built). `tolerance` is one value
    or a mapping by name. A failure of a `required` runner (build, Skip or check) stops
    everything: nothing more is built or timed. Runners in `untimed` are checked only.
    With `kernel`, every timed runner that has a network gets `info["kernel_ms"]`, that
    kernel's time from the engine's profile.
    """
    out = Outcome()
    runners: list[Runner] = []
    try:
        if isinstance(expected, Runner):
            runners.append(expected)
            expected.check_s = expected.timed()
            expected = expected.output()
        for name, make in makers.items():
            runner = _checked(name, make, expected, tolerance, out, keep_outputs)
            if runner is not None:
                runners.append(runner)
            elif name in required:
                out.aborted = out.skipped[name]
                return out
        timed = [r for r in runners if r.name not in untimed]
        if repeats and timed:
            failed: dict[str, str] = {}
            out.samples_ms = interleave(timed, repeats, budget, failed)
            out.skipped.update(failed)
            stopped = [name for name in required if name in failed]
            if stopped:
                out.aborted = failed[stopped[0]]
                return out
        for runner in timed:
            if kernel is not None and runner.net is not None and out.samples_ms:
                profile = runner.net.engine.profile(repeat=min(repeats, 30))
                runner.info["kernel_ms"] = 1e3 * profile[kernel]
        out.info = {r.name: r.info for r in runners}
    finally:
        for runner in runners:
            runner.close()
    return out


def _checked(name: str, make, expected, tolerance, out: Outcome,
             keep_outputs: bool) -> Runner | None:
    """The runner after one call whose output agrees with the reference, else None (the
    reason in `out.skipped`)."""
    try:
        runner = make()
    except Skip as why:
        out.skipped[name] = str(why)
        return None
    except Exception as err:  # a build failure is reported, not fatal
        out.skipped[name] = f"failed to build: {type(err).__name__}: {err}"
        return None
    try:
        runner.check_s = runner.timed()
        actual = runner.output()
    except Skip as why:
        runner.close()
        out.skipped[name] = str(why)
        return None
    error = reference.relative_error(actual, _pick(expected, name))
    out.errors[name] = error
    if keep_outputs:
        out.outputs[name] = actual
    allowed = _pick(tolerance, name)
    if error <= allowed:
        return runner
    runner.close()
    out.skipped[name] = (f"output differs from the NumPy reference: relative error "
                         f"{error:.3g} > {allowed:.3g}")
    return None


def interleave(runners: list[Runner], repeats: int, budget: float,
               failed: dict[str, str] | None = None) -> dict[str, list[float]]:
    """Rounds in which every runner, in a new random order, makes untimed calls for WARM_S
    (at least one; none for a call of SLOW_S or more) then one timed call: a step as in a
    running simulation (warm caches, its own threads awake), without the others' threads,
    which get SETTLE_S to stop spinning before each call.
    A runner that has spent `budget` seconds, warm-up included (after at least 3 samples),
    sits out. One that raises is left out from then on, without its samples, the reason in
    `failed` by name; the others go on."""
    order = random.Random(SEED)
    samples = {r.name: [] for r in runners}
    spent = dict.fromkeys(samples, 0.0)
    gc.disable()
    try:
        for _ in range(repeats):
            for runner in order.sample(runners, len(runners)):
                done = samples.get(runner.name)
                if done is None or (len(done) >= 3 and spent[runner.name] > budget):
                    continue
                time.sleep(SETTLE_S)
                try:
                    warmed = 0.0
                    if (done[-1] / 1e3 if done else runner.check_s) < SLOW_S:
                        for _ in range(WARM_CALLS_MAX):
                            warmed += runner.timed()
                            if warmed >= WARM_S:
                                break
                    seconds = runner.timed()
                except Exception as err:  # a peer that breaks mid-run costs only itself
                    del samples[runner.name]
                    if failed is not None:
                        failed[runner.name] = (f"failed while timed, after {len(done)} "
                                               f"samples: {type(err).__name__}: {err}")
                    continue
                done.append(1e3 * seconds)
                spent[runner.name] += warmed + seconds  # the budget counts the warm-up too
    finally:
        gc.enable()
    return samples
