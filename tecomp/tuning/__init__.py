"""Autotuning and the schedule records it leaves: the public face of tuning.

    import tecomp.tuning as tuning
    results = tuning.tune(net, trials=32)        # every kernel of a network
    for record in tuning.records(): ...          # what the cache holds

The search (`search`) builds and times candidates in a worker process (`worker`); the
records are JSON files in the user cache and in the committed folder (`tecomp.cache`).
"""

from pathlib import Path

from ..cache import Record, committed_dir, is_current, lookup, records, user_dir
from ..kernels import choose_knobs
from ..plan import network_plan
from .search import TuneResult, Worker, label, tune, tune_missing, tune_spec, tune_specs


def records_dir() -> Path:
    """Where tune() writes records unless told otherwise."""
    return user_dir() / "records"


def uses_tuned_record(spec) -> bool:
    """Whether compile() builds this spec from a tuned record (else the template defaults)."""
    return choose_knobs(spec)[1]


def network_specs(net) -> list:
    """The distinct kernel specs of a network, in the order a step runs them."""
    return network_plan(net).specs


__all__ = ["Record", "TuneResult", "Worker", "committed_dir", "is_current", "label", "lookup",
           "network_specs", "records", "records_dir", "tune", "tune_missing",
           "tune_spec", "tune_specs", "user_dir", "uses_tuned_record"]
