"""Tuned schedule records (readable JSON) and compiled kernels (shared libraries) on disk.

A record is found by a key that holds everything the best schedule depends on: the spec
(geometries, window, operation, psp, padding, strides, dtype), the target (CPU name and
features), the TVM and tvm-ffi versions, the template version and the thread count.

Records live in the user cache (`TECOMP_CACHE`, default `~/.cache/tecomp`) and in the
project's committed `schedules/` folder (`TECOMP_SCHEDULES` overrides it). Unreadable,
foreign or stale records are skipped with a warning. Writes go to a temporary file that
replaces the target atomically, under a lock that merges concurrent tuners' trials.
"""

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

import tvm
import tvm_ffi

from . import build
from .schedules import TEMPLATE_VERSION, candidates
from .specs import NeuronSpec, WindowSpec, to_dict

FORMAT = 1


def user_dir() -> Path:
    return Path(os.environ.get("TECOMP_CACHE") or Path.home() / ".cache" / "tecomp")


def committed_dir() -> Path:
    return Path(os.environ.get("TECOMP_SCHEDULES") or
                Path(__file__).resolve().parent.parent / "schedules")


@functools.cache
def _environment_static() -> dict:
    llvm = tvm.get_global_func("target.llvm_version_major", allow_missing=True)
    return {"target": str(build.host_target()), "tvm": tvm.__version__,
            "tvm_ffi": tvm_ffi.__version__, "llvm": llvm() if llvm else None,
            "template": TEMPLATE_VERSION}


def key(spec: WindowSpec | NeuronSpec, threads: int | None = None) -> dict:
    """Everything a tuned schedule depends on, as it reads back from JSON."""
    return json.loads(json.dumps({"spec": to_dict(spec), **_environment_static(),
                                  "threads": build.num_threads() if threads is None
                                  else threads}))


def digest(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:20]


def record_name(spec: WindowSpec | NeuronSpec, key_digest: str) -> str:
    if isinstance(spec, WindowSpec):
        shape = "x".join(map(str, spec.pre)) + "-" + "x".join(map(str, spec.post))
        return f"{spec.kind.lower()}-{spec.operation}-{shape}-{spec.dtype}-{key_digest}.json"
    return f"neuron-{spec.size}-{spec.dtype}-{key_digest}.json"


def lookup(spec: WindowSpec | NeuronSpec, threads: int | None = None) -> dict | None:
    """The best valid record for this spec and environment, or None."""
    wanted = key(spec, threads)
    name = record_name(spec, digest(wanted))
    valid = {json.dumps(k, sort_keys=True) for k in candidates(spec)}
    best = None
    for folder in (user_dir() / "records", committed_dir()):
        path = folder / name
        if not path.exists():
            continue
        record = _read(path)
        if record is None:
            continue
        if record.get("key") != wanted:
            warnings.warn(f"tecomp: ignoring {path}: it was tuned for another spec or "
                          "environment", stacklevel=2)
        elif json.dumps(record.get("knobs"), sort_keys=True) not in valid and \
                not isinstance(record["knobs"].get("trace"), str):
            warnings.warn(f"tecomp: ignoring {path}: its knobs are not valid for this "
                          "template version", stacklevel=2)
        elif best is None or record["best_ms"] < best["best_ms"]:
            best = record
    return best


def _read(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
        if record.get("format") != FORMAT or not isinstance(record.get("knobs"), dict):
            raise ValueError(f"format {record.get('format')!r}")
        float(record["best_ms"])
        return record
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        warnings.warn(f"tecomp: ignoring unreadable schedule record {path}: {err}", stacklevel=3)
        return None


def save(spec: WindowSpec | NeuronSpec, knobs: dict, best_ms: float, default_ms: float,
         trials: list[dict], threads: int | None = None, folder: Path | None = None) -> Path:
    """Write (or merge into) the record of a spec; the faster schedule wins, trials add up."""
    wanted = key(spec, threads)
    folder = Path(folder) if folder is not None else user_dir() / "records"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / record_name(spec, digest(wanted))
    with _locked(path):
        old = _read(path) if path.exists() else None
        record = {"format": FORMAT, "key": wanted, "knobs": knobs, "best_ms": best_ms,
                  "default_ms": default_ms, "trials": trials,
                  "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        if old is not None and old.get("key") == wanted:
            record["trials"] = old.get("trials", []) + trials
            if old["best_ms"] <= best_ms:
                record.update(knobs=old["knobs"], best_ms=old["best_ms"])
        write_atomic(path, json.dumps(record, indent=1, sort_keys=True))
    return path


def write_atomic(path: Path, text: str | bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(path: Path):
    with open(path.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def records(folder: Path | None = None) -> list[tuple[Path, dict]]:
    """Every readable record of the user cache and the committed folder (for --list)."""
    folders = [folder] if folder else [user_dir() / "records", committed_dir()]
    found = []
    for f in folders:
        for path in sorted(Path(f).glob("*.json")) if Path(f).is_dir() else []:
            record = _read(path)
            if record is not None:
                found.append((path, record))
    return found


@functools.cache
def code_digest() -> str:
    """A hash of the modules that turn a spec and knobs into code: a compiled kernel is
    stale as soon as any of them changes."""
    here = Path(__file__).parent
    return digest([(here / f"{name}.py").read_text()
                   for name in ("lowering", "schedules", "build", "metaschedule")])


def library_path(spec: WindowSpec | NeuronSpec, knobs: dict) -> Path:
    """Where the compiled kernel of a spec with these knobs is kept."""
    return user_dir() / "kernels" / f"{digest([key(spec), knobs, code_digest()])}.so"


def load_library(path: Path):
    """The `main` function of a cached kernel, or None if it is missing or unloadable."""
    if not path.exists():
        return None
    try:
        return tvm.runtime.load_module(str(path))["main"]
    except Exception as err:  # a truncated or foreign file: rebuild it
        warnings.warn(f"tecomp: ignoring unloadable kernel {path}: {err}", stacklevel=3)
        return None


def store_library(path: Path, executable) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".so")
    os.close(fd)
    executable.export_library(tmp)
    os.replace(tmp, path)
