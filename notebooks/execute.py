"""Execute the notebooks in place, so that they carry their outputs (plots included).

    python notebooks/execute.py                 # all, at full size (minutes; a quiet machine)
    python notebooks/execute.py --quick a c     # a_peers and c_scaling, small sizes
    python notebooks/execute.py --bench-json bench-results/bench.json a_peers

--quick sets TECOMP_NOTEBOOK_QUICK=1 (what CI runs); without it the variable is removed.
--bench-json lets a_peers plot an earlier `python -m tecomp.tools.bench` run (TECOMP_BENCH_JSON).
"""

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def notebooks(names=()) -> list[Path]:
    """The notebooks of this folder, or those whose names start with one of `names`."""
    found = sorted(HERE.glob("*.ipynb"))
    if not names:
        return found
    chosen = [p for p in found if any(p.stem.startswith(n.removesuffix(".ipynb"))
                                      for n in names)]
    unknown = [n for n in names if not any(p.stem.startswith(n.removesuffix(".ipynb"))
                                           for p in found)]
    if unknown:
        raise SystemExit(f"no notebook named {unknown}; choose from {[p.stem for p in found]}")
    return chosen


@contextlib.contextmanager
def environment(**values):
    """os.environ with `values` set (None: removed), restored afterwards; the kernel
    inherits it."""
    saved = dict(os.environ)
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def execute(path: Path, quick: bool, out: Path | None = None, timeout: int | None = None,
            bench_json: Path | None = None) -> float:
    """Run every cell of `path` in a fresh kernel (working directory: this folder) and
    write the notebook with its outputs to `out` (default: in place); returns the seconds.
    A cell that raises stops it with nbclient's CellExecutionError."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(HERE)}})
    values = {"TECOMP_NOTEBOOK_QUICK": "1" if quick else None}
    if bench_json:
        values["TECOMP_BENCH_JSON"] = str(Path(bench_json).resolve())
    start = time.perf_counter()
    with environment(**values):
        client.execute()
    nbformat.write(nb, out or path)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="notebooks (a name or its start: a, c_scaling)")
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument("--bench-json", type=Path, help="bench.json of an earlier run for a_peers")
    parser.add_argument("--timeout", type=int, help="seconds per cell (default: none)")
    args = parser.parse_args(argv)
    total = 0.0
    for path in notebooks(args.names):
        print(f"{path.name} ...", end=" ", flush=True)
        seconds = execute(path, args.quick, timeout=args.timeout, bench_json=args.bench_json)
        total += seconds
        print(f"{seconds:.0f} s", flush=True)
    print(f"total {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
