"""The notebooks run from top to bottom at small sizes (TECOMP_NOTEBOOK_QUICK=1), each in a
fresh kernel writing to a temporary copy (the committed outputs are never touched); they
are committed with outputs and plots, and stay thin. Plus the helpers they rely on."""

import importlib.util
import math
from pathlib import Path

import nbformat
import pytest

from tecomp.tools import plots, scaling

FOLDER = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))
EXPECTED = {"a_peers", "b_autotuning", "c_scaling", "d_precision", "e_end_to_end",
            "f_many_networks"}


def _execute_script():
    spec = importlib.util.spec_from_file_location("notebooks_execute", FOLDER / "execute.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _outputs(nb, kind: str) -> list:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs
            if o.output_type == kind or kind in o.get("data", {})]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_at_quick_sizes(path, tmp_path):
    committed = path.read_bytes()
    out = tmp_path / path.name
    # a cell that raises (a failed check against the reference included) fails here
    _execute_script().execute(path, quick=True, out=out, timeout=600)
    nb = nbformat.read(out, as_version=4)
    assert not _outputs(nb, "error")
    assert _outputs(nb, "image/png"), "no plot"
    assert "quick (TECOMP_NOTEBOOK_QUICK=1)" in "".join(o.get("text", "") for o in
                                                        _outputs(nb, "stream"))
    assert path.read_bytes() == committed


def test_notebooks_are_committed_with_their_outputs_and_stay_thin():
    assert {p.stem for p in NOTEBOOKS} == EXPECTED
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert nb.cells[0].cell_type == "markdown", f"{path.name}: no introduction"
        assert all(c.execution_count for c in code), f"{path.name}: not executed"
        assert _outputs(nb, "image/png") and not _outputs(nb, "error"), path.name
        for cell in code:  # the logic lives in the package
            lines = cell.source.splitlines()
            assert len(lines) <= 12, f"{path.name}: a cell of {len(lines)} lines"
            assert not any(line.startswith(("def ", "class ")) for line in lines), path.name


def test_execute_script_selects_notebooks_by_name():
    execute = _execute_script()
    assert [p.stem for p in execute.notebooks(["a", "c_scaling.ipynb"])] == ["a_peers",
                                                                             "c_scaling"]
    assert execute.notebooks() == NOTEBOOKS
    with pytest.raises(SystemExit, match="no notebook named"):
        execute.notebooks(["z"])


@pytest.mark.parametrize(("value", "quick"), [("1", True), ("yes", True), ("0", False),
                                               ("", False), (None, False)])
def test_quick_reads_the_environment(monkeypatch, value, quick):
    if value is None:
        monkeypatch.delenv(scaling.QUICK_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(scaling.QUICK_VARIABLE, value)
    assert scaling.quick() is quick


def test_best_so_far_skips_failed_trials():
    trials = [{"ms": math.inf}, {"ms": 3.0}, {"ms": 4.0}, {"ms": math.inf}, {"ms": 1.5}]
    assert plots.best_so_far(trials) == [math.inf, 3.0, 3.0, 3.0, 1.5]


def test_metaschedule_rows_only_for_records_with_its_trials():
    spec = {"type": "NeuronSpec", "size": 16, "dtype": "float32"}
    plain = {"key": {"spec": spec, "threads": 1},
             "trials": [{"ms": 2.0, "source": "template"}]}
    both = {**plain, "trials": [*plain["trials"],
                                {"ms": 1.0, "source": "metaschedule", "search_s": 9.0}]}
    assert plots.metaschedule_rows([plain]) == []
    (row,) = plots.metaschedule_rows([plain, both])
    assert row["template best ms"] == 2.0 and row["MetaSchedule ms"] == 1.0


def test_every_committed_record_has_a_label():
    """Records of every template (windows, updates, regular projections) name their kernel
    in the tuning table."""
    labels = {plots.label(r["key"]["spec"]) for r in scaling.tuning_records()}
    assert "Proj dense sum 4096→4096 float32" in labels, labels
    assert "Conv sum 3×3 1024×1024→1024×1024 float64" in labels, labels
    assert plots.records_table(scaling.tuning_records()).count("\n") > 10


def test_markdown_table_formats_numbers_and_missing_cells():
    table = plots.markdown_table([{"a": 0.000123456, "b": None}], {"A": "a", "B": "b",
                                                                   "C": lambda r: "x"})
    assert table.splitlines() == ["| A | B | C |", "|---|---|---|", "| 0.000123 | — | x |"]


def test_measure_checks_then_times_in_a_child_process():
    (row,) = scaling.measure([scaling.conv_case(16, 3)], threads=1, repeats=3, budget=0.1)
    assert row["ok"] and row["threads"] == 1 and row["max_error"] < 1e-12
    assert row["n"] == 3 and row["median_ms"] > 0 and row["kernel_ms"] > 0
    assert scaling.failures([row]) == []
