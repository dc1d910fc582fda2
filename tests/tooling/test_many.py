"""tools.many at tiny sizes: batches and copies of the examples are checked against the
NumPy reference before they are timed; the per-copy overhead and the at-scale arithmetic
follow their stated definitions; the tables and the figure draw from the rows."""

import numpy as np
import pytest

from tecomp.network import Network
from tecomp.tools import examples, many, plots


def test_inputs_and_their_reference_have_one_entry_per_input():
    ex = examples.e2(Network(precision="float"))
    batch = many.inputs(ex, 2, "float32")
    assert batch.shape == (2, 128, 128, 3) and batch.dtype == np.float32
    assert many.expected(ex, batch).shape == (2, 1, 1, 10)


@pytest.mark.parametrize("name", ["E1", "E2"])
def test_batches_are_checked_then_timed(name):
    row = many.measure_batch(name, 2, "float32", repeats=2, budget=0.1)
    allowed = getattr(examples, name.lower())(Network()).tolerance("float32")
    for system in ("run_batch", "batched steps", "sequential"):
        assert row["errors"][system] <= allowed
        assert row["stats"][system]["n"] == 2 and row["per_input_ms"][system] > 0
    assert row["speedup_over_sequential"] > 0 and row["steps"] in (3, 5)
    assert "run_batch" in plots.batch_table([row])


def test_a_wrong_network_is_caught_before_timing(monkeypatch):
    monkeypatch.setattr(many, "expected", lambda ex, batch: np.zeros((len(batch), 48, 64, 3)))
    with pytest.raises(RuntimeError, match="differs from the NumPy reference"):
        many.measure_batch("E1", 1, "float32", repeats=1, budget=0.1)


def test_copies_run_sequentially_on_processes_and_on_dask():
    pytest.importorskip("distributed")
    row = many.measure_copies(2, 2, "float32", repeats=1, budget=0.1)
    assert set(row["stats"]) == {"sequential", "local", "dask"}, row["skipped"]
    assert all(e < 1e-5 for e in row["errors"].values())
    assert row["cluster_start_s"] > 0 and row["input_bytes"] == 480 * 640 * 3 * 4
    fig = plots.many_networks([], row)
    assert len(fig.axes) == 2
    assert "dask" in plots.copies_table(row)


def _row(wall_s: dict, compute_s: dict, number=10, workers=2) -> dict:
    return {"number": number, "workers": workers, "steps": 3, "input_bytes": 1000,
            "cluster_start_s": 1.0, "compute_s": compute_s,
            "stats": {k: {"median_ms": 1e3 * v} for k, v in wall_s.items()}}


def test_overhead_is_the_wall_time_beyond_the_spread_simulations():
    row = _row({"sequential": 1.0, "dask": 1.5}, {"sequential": 0.1, "dask": 0.2})
    row.update(many.overheads(row))
    assert row["per_copy_s"]["dask"] == pytest.approx(0.15)
    assert row["overhead_per_copy_s"]["sequential"] == pytest.approx(0.0)
    assert row["overhead_per_copy_s"]["dask"] == pytest.approx((1.5 - 10 * 0.2 / 2) / 10)
    assert row["speedup"]["dask"] == pytest.approx(1 / 1.5)


def test_at_scale_spreads_worker_time_and_bounds_it_by_the_scheduler():
    row = _row({"sequential": 1.0, "dask": 1.5}, {"sequential": 0.1, "dask": 0.2})
    row.update(many.overheads(row))
    s = many.at_scale(row, copies=10_000, machines=100, scheduler_ms=0.0)
    # a copy holds its worker for 0.2 s plus 2 workers x 0.05 s of overhead
    assert s["worker_s_per_copy"] == pytest.approx(0.3)
    assert s["wall_s"] == pytest.approx(10_000 * 0.3 / 200)
    assert s["steps_to_amortize"] == pytest.approx(0.1 / (0.2 / 3))
    slow = many.at_scale(row, copies=10_000, machines=100, scheduler_ms=5.0)
    assert slow["wall_s"] == pytest.approx(50.0)
    assert "10,000 copies on 100 machines" in many.at_scale_text(row)
