"""The shape of the house: layers, the kernel cache key, typed knobs, one function table."""

import ast
import dataclasses
import math
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import tecomp
from tecomp import build, cache, kernels, reference, schedules, stages
from tecomp.errors import KnobError
from tecomp.expr import FUNCTIONS, Kind, fold, parse
from tecomp.knobs import UpdateKnobs, WindowKnobs, knobs_from_dict, knobs_to_dict
from tecomp.specs import AxisMap, WindowSpec

PACKAGE = Path(tecomp.__file__).parent
# Each core module's layer; imports (lazy ones included) may stay in a layer or go down.
LAYERS = {
    "errors": 0, "version": 0, "expr": 1, "reference": 1, "child": 1, "values": 1, "denormals": 1,
    "distributions": 1, "philox": 1,
    "odes": 2, "neuron": 2, "specs": 2, "knobs": 2, "constants": 2, "synapse": 2,
    "connectivity": 2,
    "build": 3, "lowering": 3, "schedules": 3, "cache": 3, "kernels": 3, "stages": 2,
    "runtime": 1,
    "tuning": 3, "tuning.search": 3, "tuning.worker": 3, "tuning.metaschedule": 3,
    "plan": 3, "engine": 4,
    "network": 5, "parallel": 5, "population": 5, "monitor": 5, "extensions": 5,
    "views": 5, "conditions": 5, "saving": 5, "projection": 5, "batch": 5,
    "extensions.convolution": 5, "extensions.rules": 5, "extensions.image": 5, "__init__": 6,
}
ENTRY_POINTS = {"__main__"}  # the command-line dispatcher may name the tools


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def imports_of(path: Path) -> set[str]:
    """The tecomp modules a file imports, at the top or inside functions."""
    package = list(path.relative_to(PACKAGE).parent.parts)  # what `from .` means here
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").startswith("tecomp"):
                target = node.module.removeprefix("tecomp").lstrip(".")
            else:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}".lstrip(".")
                found.add(sub if (PACKAGE / sub.replace(".", "/")).with_suffix(".py").exists()
                          or (PACKAGE / sub.replace(".", "/")).is_dir() else target)
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("tecomp").lstrip(".") for a in node.names
                      if a.name.startswith("tecomp")}
    return {m or "__init__" for m in found} - {module_name(path)}


def core_files() -> list[Path]:
    return [p for p in cache.core_modules() if module_name(p) not in ENTRY_POINTS]


def test_every_core_module_has_a_layer():
    assert {module_name(p) for p in core_files()} == set(LAYERS)


def test_imports_never_climb_a_layer_and_the_core_never_imports_the_tools():
    for path in core_files():
        here = module_name(path)
        for target in imports_of(path):
            assert not target.startswith("tools"), f"{here} imports the tooling ({target})"
            assert LAYERS[target] <= LAYERS[here], f"{here} (layer {LAYERS[here]}) " \
                f"imports {target} (layer {LAYERS[target]})"


def test_the_tools_use_the_public_api_only():
    for path in sorted((PACKAGE / "tools").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and "tecomp" in node.module:
                assert not any(a.name.startswith("_") for a in node.names), path
                assert node.module != "tecomp.cache", f"{path.name}: use tecomp.tuning"


def transitive_imports(start: str) -> set[str]:
    files = {module_name(p): p for p in core_files()}
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name not in seen and name in files:
            seen.add(name)
            todo.extend(imports_of(files[name]))
    return seen


def test_the_kernel_digest_covers_every_module_that_shapes_code(monkeypatch):
    hashed = {module_name(p) for p in cache.core_modules()}
    for start in ("lowering", "schedules", "kernels", "build"):
        missing = transitive_imports(start) - hashed
        assert not missing, f"{start} imports modules the kernel digest leaves out: {missing}"
    assert {"specs", "expr", "knobs"} <= transitive_imports("kernels")
    before = cache.code_digest()
    cache.code_digest.cache_clear()
    monkeypatch.setattr(cache, "VERSION", "0.0.0-other")
    try:
        assert cache.code_digest() != before  # the version is part of the key
    finally:
        cache.code_digest.cache_clear()


def test_a_changed_core_module_changes_the_digest(monkeypatch):
    before = cache.code_digest()
    original = Path.read_text

    def edited(path, *args, **kwargs):
        text = original(path, *args, **kwargs)
        return text + "\n# changed\n" if path.name == "specs.py" else text

    cache.code_digest.cache_clear()
    monkeypatch.setattr(Path, "read_text", edited)
    try:
        assert cache.code_digest() != before
    finally:
        monkeypatch.undo()
        cache.code_digest.cache_clear()
    assert cache.code_digest() == before


def test_committed_records_ship_as_package_data(tmp_path):
    assert list(cache.committed_dir().glob("*.json"))
    root = PACKAGE.parent
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "-w", str(tmp_path), str(root)], check=True,
                   capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("tecomp-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {Path(n).name for n in names if n.startswith("tecomp/records/")}
    assert {p.name for p in (root / "schedules").glob("*.json")} <= shipped
    assert not any(n.startswith("schedules/") for n in names)


# -- knobs --------------------------------------------------------------------------------

def test_a_misspelt_or_mistyped_knob_fails_where_it_is_written():
    with pytest.raises(KnobError, match=r"unknown knob 'vector_widht'.*vector_width"):
        knobs_from_dict("window", {"vector_widht": 8})
    with pytest.raises(KnobError, match="unknown knob 'vector_axis'"):
        knobs_from_dict("update", {"vector_axis": 0})
    with pytest.raises(KnobError, match="parallel must be True or False"):
        WindowKnobs(parallel="yes")
    with pytest.raises(KnobError, match="vector_width must be an int >= 1"):
        UpdateKnobs(vector_width=0)
    with pytest.raises(KnobError, match="needs a vector_axis"):
        WindowKnobs(vector_width=8)
    with pytest.raises(KnobError, match="must differ"):
        WindowKnobs(vector_axis=1, vector_width=8, block_axis=1, block=4)
    with pytest.raises(KnobError, match="JSON object"):
        knobs_from_dict("window", ["garbage"])


def spec_2d(psp: str = "w * pre.r") -> WindowSpec:
    return WindowSpec("Convolution", (16, 24), (16, 24), (3, 3),
                      (AxisMap("conv", 0, 0), AxisMap("conv", 1, 1)), "sum", parse(psp), 0.5,
                      weights=(3, 3))


def test_every_candidate_survives_its_json_form():
    spec = spec_2d()
    for knobs in schedules.candidates(spec):
        assert knobs_from_dict(schedules.template(spec), knobs_to_dict(knobs)) == knobs
    default = schedules.default_knobs(spec)
    assert dataclasses.replace(default) in schedules.candidates(spec)


# -- one function table -------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_function_folds_lowers_and_agrees_with_the_reference(name, rng):
    """The parser's arity, the constant folder and the TE lowering read one entry, and the
    independent NumPy reference computes the same function."""
    function = FUNCTIONS[name]
    args = ["pre.r", "0.25", "0.75"][:function.arity]
    psp = f"w * {name}({', '.join(args)})"
    with pytest.raises(Exception, match="takes"):
        parse(f"{name}({', '.join(['1.0'] * (function.arity + 1))})")
    folded = fold(parse(f"{name}({', '.join(['0.5', '0.25', '0.75'][:function.arity])})"))
    expected = function.evaluate(*[0.5, 0.25, 0.75][:function.arity])
    assert folded == (Kind.CONST, pytest.approx(expected))
    assert float(reference.evaluate_psp(psp, 1.0, {"r": np.array(0.5)})) == \
        pytest.approx(expected)
    spec = spec_2d(psp)
    x = rng.uniform(0.05, 0.95, spec.pre)
    w = rng.uniform(-1, 1, spec.window)
    out = build.aligned_empty(spec.post, "float64")
    kernels.compile_kernel(spec, schedules.default_knobs(spec))(
        build.aligned_copy(x, "float64"), build.aligned_copy(w, "float64"), out)
    want = reference.convolution(x, w, spec.post, psp=psp, padding=0.5)
    assert reference.relative_error(out, want) <= reference.tolerance("float64", spec.taps)
    assert math.isfinite(float(out.sum()))


def test_stage_names_are_shared_constants():
    source = (PACKAGE / "schedules.py").read_text()
    for literal in ('"Y"', '"P_"', '"WT"', '"G_"'):
        assert literal not in source
    assert stages.Stage.OUTPUT == "Y"
