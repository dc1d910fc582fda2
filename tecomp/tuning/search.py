"""Autotuning: search a template's knobs by building and timing real candidates.

Candidates are built and timed in a worker process (`worker.py`), so one that crashes or
hangs scores `inf` and is recorded, and the user's process never goes down with it. The
search starts from the defaults, samples the knob space at random, then mutates the best
candidates, within a budget of trials and seconds. Every trial's timing is kept in the record.
"""

import math
import os
import random
import statistics
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .. import cache, plan, schedules
from ..child import Child, ChildFailed, python_module
from ..errors import InvalidValueError
from ..knobs import Knobs, knobs_to_dict
from ..specs import MatrixSpec, NeuronSpec, WindowSpec, to_dict

CANDIDATE_TIMEOUT = 60.0  # seconds to build and time one candidate
# The fastest of many noisy trials owes part of its lead to luck: B3's record on the Xeon
# beat the defaults by 2 % in its trial and ran 5 % slower per step. So the defaults and the
# CONFIRM_TOP fastest other candidates are timed CONFIRM_ROUNDS more times, in turns, and
# the record keeps the best median. The search gets SEARCH_SHARE of a kernel's seconds.
CONFIRM_TOP = 3
CONFIRM_ROUNDS = 3
SEARCH_SHARE = 0.85


@dataclass
class TuneResult:
    spec: WindowSpec | NeuronSpec
    default_ms: float
    best_ms: float
    knobs: Knobs
    trials: list[dict] = field(default_factory=list)  # as recorded: knobs in JSON form
    seconds: float = 0.0
    record: Path | None = None  # where the record was written, if it was

    @property
    def speedup(self) -> float:
        return self.default_ms / self.best_ms if self.best_ms > 0 else math.nan

    @property
    def source(self) -> str:
        """"template" or "metaschedule": who found the best schedule."""
        best = knobs_to_dict(self.knobs)
        return next((t["source"] for t in self.trials if t["knobs"] == best), "template")


class Worker:
    """A process that builds and times candidates; restarted when one kills it."""

    def __init__(self, threads: int | None = None, command: list[str] | None = None):
        env = {} if threads is None else {"TVM_NUM_THREADS": str(threads)}
        self.child = Child(command or python_module("tecomp.tuning.worker"), env, name="worker")

    def measure(self, spec, knobs: Knobs, timeout: float = CANDIDATE_TIMEOUT) -> dict:
        """{"ms": median ms or inf, "error": None or why it failed, "build_s": ...}."""
        request = {"spec": to_dict(spec), "knobs": knobs_to_dict(knobs)}
        try:
            return self.child.ask(request, timeout)
        except ChildFailed as failure:
            return {"ms": math.inf, "error": str(failure), "build_s": None}

    def close(self) -> None:
        self.child.close()


def _neighbours(knobs: Knobs, space: list[Knobs]) -> list[Knobs]:
    """Valid settings that differ from `knobs` in exactly one knob."""
    mine = knobs_to_dict(knobs)
    return [k for k in space
            if sum(v != mine[name] for name, v in knobs_to_dict(k).items()) == 1]


def tune_spec(spec: WindowSpec | NeuronSpec, trials: int = 64, seconds: float = 120.0,
              threads: int | None = None, worker: Worker | None = None, seed: int = 0,
              progress: bool = True, save: bool = True, folder: Path | None = None,
              metaschedule: int = 0) -> TuneResult:
    """Search the knobs of one spec; the best is written to the cache when `save`.

    With `metaschedule` > 0, MetaSchedule also searches with that many trials, its best
    schedule is timed by the same worker, and the faster of the two is kept. A cache that
    cannot be written costs the record (with a warning), never the result."""
    check_budget(trials, seconds, threads, metaschedule)
    start = time.perf_counter()
    own_worker = worker is None
    worker = worker or Worker(threads)
    try:
        log = _search(spec, trials, SEARCH_SHARE * seconds, worker, random.Random(seed),
                      progress, threads)
        if metaschedule and isinstance(spec, WindowSpec):
            log.append(_metaschedule_trial(spec, metaschedule, worker, threads))
        finalists = _confirm(spec, log, worker, start + seconds)
    finally:
        if own_worker:
            worker.close()
    # once some were timed again, the best is one of them: a trial timed once is not
    # compared with medians that its luck never had to face
    best = min(finalists or log, key=_median_ms)
    default_ms = _median_ms(log[0])
    result = TuneResult(spec, default_ms, _median_ms(best), best["candidate"], _recorded(log),
                        time.perf_counter() - start)
    if save and math.isfinite(result.best_ms):
        try:
            result.record = cache.save(spec, best["candidate"], result.best_ms, default_ms,
                                       result.trials, threads, folder)
        except OSError as err:
            warnings.warn(f"tecomp: tuned {label(spec)} but cannot write its record "
                          f"({err}); the result is returned, not cached", stacklevel=2)
    return result


def _confirm(spec, log: list[dict], worker: Worker, deadline: float) -> list[dict]:
    """Time the defaults (log[0]) and the CONFIRM_TOP fastest other trials again, in turns,
    CONFIRM_ROUNDS times while `deadline` (a `time.perf_counter()` value) is ahead; each
    trial keeps its new times in "confirm_ms". Returns the trials timed again (none when
    fewer than two are finite or no time is left): the finalists."""
    others = sorted((t for t in log[1:] if math.isfinite(t["ms"])), key=lambda t: t["ms"])
    chosen = [t for t in log[:1] if math.isfinite(t["ms"])] + others[:CONFIRM_TOP]
    if len(chosen) < 2 or time.perf_counter() >= deadline:
        return []
    for _ in range(CONFIRM_ROUNDS):
        for trial in chosen:
            if time.perf_counter() >= deadline:
                return chosen
            trial.setdefault("confirm_ms", []).append(
                worker.measure(spec, trial["candidate"])["ms"])
    return chosen


def _median_ms(trial: dict) -> float:
    """A trial's median time over its first timing and those of `_confirm` that gave one
    (a candidate that failed when timed again, a timeout, is not held to that)."""
    return statistics.median([trial["ms"], *(ms for ms in trial.get("confirm_ms", ())
                                             if math.isfinite(ms))])


def check_budget(trials, seconds, threads, metaschedule=0) -> None:
    """Refuse a budget that makes no sense before any work starts."""
    for name, value, low in (("trials", trials, 1), ("metaschedule", metaschedule, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidValueError(f"tune: {name} must be an int >= {low}, got {value!r}")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or \
            not math.isfinite(seconds) or seconds <= 0:
        raise InvalidValueError(f"tune: seconds must be a finite number > 0, got {seconds!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        raise InvalidValueError(f"tune: threads must be an int >= 1, got {threads!r}")


def _recorded(log: list[dict]) -> list[dict]:
    """Trials as the record keeps them: knobs in their JSON form."""
    return [{"knobs": knobs_to_dict(t["candidate"]),
             **{k: v for k, v in t.items() if k != "candidate"}} for t in log]


def _search(spec, trials: int, seconds: float, worker: Worker, rng: random.Random,
            progress: bool, threads: int | None = None) -> list[dict]:
    """Template candidates, the defaults first: a random half, then mutations of the best.
    The defaults are always timed (they are the record's reference); no other trial starts
    after `seconds`."""
    from tqdm import tqdm

    start = time.perf_counter()
    space = schedules.candidates(spec)
    default = schedules.default_knobs(spec)
    budget = max(1, min(trials, len(space)))
    # a record tuned on another CPU of this vector ISA class is the first guess after the
    # defaults
    travelled = cache.lookup_travelled(spec)
    start_from = [travelled.knobs] if travelled is not None and travelled.knobs in space \
        else []
    # this machine's own record, if any, is timed again with the rest (`cache.save` lets a
    # tune that timed it replace it)
    own = cache.lookup(spec, threads)
    if own is not None and own.knobs in space:
        start_from.insert(0, own.knobs)
    queue = [default, *start_from] + rng.sample(space, min(len(space), trials // 2))
    tried: dict[Knobs, dict] = {}
    with tqdm(total=budget, desc=label(spec), disable=not progress, leave=False,
              unit="trial") as bar:
        while queue and len(tried) < budget and (not tried or
                                                 time.perf_counter() - start < seconds):
            knobs = queue.pop(0)
            if knobs not in tried:
                tried[knobs] = {"candidate": knobs, **worker.measure(spec, knobs),
                                "source": "template"}
                bar.update(1)
                bar.set_postfix(best_ms=min(t["ms"] for t in tried.values()))
            if not queue:  # exploit: mutate the best settings so far
                best = sorted(tried.values(), key=lambda t: t["ms"])[:3]
                queue = [k for t in best for k in _neighbours(t["candidate"], space)
                         if k not in tried]
                rng.shuffle(queue)
                queue = queue or [k for k in space if k not in tried][:8]
    return list(tried.values())


def _metaschedule_trial(spec, trials: int, worker: Worker, threads: int | None) -> dict:
    from . import metaschedule

    env = dict(os.environ, **({"TVM_NUM_THREADS": str(threads)} if threads else {}))
    started = time.perf_counter()
    saved = os.environ.copy()
    os.environ.update(env)  # its runner processes inherit the thread count
    try:
        knobs = metaschedule.search(spec, trials)
    except Exception as err:  # a failed search only loses the second opinion
        return {"candidate": schedules.default_knobs(spec), "ms": math.inf,
                "error": f"MetaSchedule: {err}"[:500], "build_s": None,
                "source": "metaschedule"}
    finally:
        os.environ.clear()
        os.environ.update(saved)
    search_s = time.perf_counter() - started
    if knobs is None:
        return {"candidate": schedules.default_knobs(spec), "ms": math.inf,
                "error": "MetaSchedule found no schedule", "build_s": None,
                "source": "metaschedule", "search_s": search_s}
    return {"candidate": knobs, **worker.measure(spec, knobs), "source": "metaschedule",
            "search_s": search_s}


def label(spec) -> str:
    """A one-line description of a kernel (progress bars, tables)."""
    if isinstance(spec, WindowSpec):
        return f"{spec.kind} {spec.operation} {spec.pre}->{spec.post} {spec.dtype}"
    if isinstance(spec, MatrixSpec):
        return (f"Projection {spec.layout} {spec.operation} {spec.pre}->{spec.post} "
                f"({spec.row} per row) {spec.dtype}")
    return f"update {spec.size} {spec.dtype}"


def tune(net, trials: int = 64, seconds: float = 120.0, threads: int | None = None,
         progress: bool = True, folder: Path | None = None,
         metaschedule: int = 0) -> list[TuneResult]:
    """Tune every kernel of a network, before or after compile(); a network compiled
    afterwards uses the tuned schedules (and, for a projection that may take several
    layouts, the faster layout)."""
    return tune_specs(specs_to_tune(net), trials, seconds, threads, progress, folder,
                      metaschedule)


def specs_to_tune(net) -> list:
    """The kernels of a network, plus every other layout its projections may take."""
    specs = plan.network_plan(net).specs
    for proj in net.projections:
        for spec in getattr(proj, "layout_specs", lambda dtype: [])(net.dtype):
            if spec not in specs:
                specs.append(spec)
    return specs


def tune_missing(specs: list, seconds: float, threads: int | None = None,
                 progress: bool = True, trials: int = 64) -> list[TuneResult]:
    """Tune the specs that have no record for this machine yet, `seconds` in all, the
    worker's start included: each kernel gets an even share of what is left when it starts,
    no trial starts once the time is spent (one under way finishes, about a second), and
    kernels not reached keep their defaults. Nothing at all (no worker started, nothing
    printed) when every spec has a record."""
    check_budget(trials, seconds, threads)
    deadline = time.perf_counter() + seconds
    missing = [spec for spec in dict.fromkeys(specs) if cache.lookup(spec, threads) is None]
    if not missing:
        return []
    return tune_specs(missing, trials, seconds, threads, progress, deadline=deadline)


def tune_specs(specs: list, trials: int = 64, seconds: float = 120.0,
               threads: int | None = None, progress: bool = True, folder: Path | None = None,
               metaschedule: int = 0, deadline: float | None = None) -> list[TuneResult]:
    """Tune several specs with one worker process, `seconds` each, or with a `deadline`
    (a `time.perf_counter()` value) an even share each of the time left, which no
    kernel's search outlasts by more than the trial under way; each record is
    written as soon as its kernel is tuned, so an interrupted run keeps what it finished."""
    check_budget(trials, seconds, threads, metaschedule)
    worker = Worker(threads)
    results = []
    try:
        for k, spec in enumerate(specs):
            share = seconds
            if deadline is not None:
                share = (deadline - time.perf_counter()) / (len(specs) - k)
                if share <= 0:
                    break
            results.append(tune_spec(spec, trials, share, threads, worker, progress=progress,
                                     folder=folder, metaschedule=metaschedule))
        return results
    finally:
        worker.close()


