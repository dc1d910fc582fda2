"""Tuned schedule records (readable JSON) and compiled kernels (shared libraries) on disk.

A record is found by a key that holds everything the best schedule depends on: the spec
(geometries, window, operation, psp, padding, strides, dtype), the target (CPU name and
features), the TVM and tvm-ffi versions, the template version and the thread count.

Records live in the user cache (`TECOMP_CACHE`, default `~/.cache/tecomp`) and in the
committed records shipped with the package (the repository's `schedules/` folder, installed
as `tecomp.records`; `TECOMP_SCHEDULES` overrides it). Unreadable, foreign or stale records
are skipped with a warning. Writes go to a temporary file that replaces the target
atomically, under a lock that merges concurrent tuners' trials.

A compiled kernel is keyed by the record key, its knobs and `code_digest()`: a hash of the
whole core package (every module that can shape generated code) and tecomp's version.
"""

import contextlib
import fcntl
import functools
import hashlib
import importlib.resources
import json
import math
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from . import build, runtime
from .errors import KnobError
from .knobs import Knobs, TraceKnobs, knobs_from_dict, knobs_to_dict
from .schedules import TEMPLATE_VERSION, candidates, template
from .specs import MatrixSpec, NeuronSpec, WindowSpec, from_dict, to_dict
from .version import VERSION

FORMAT = 1
PACKAGE = Path(__file__).resolve().parent
# Tooling, not library: it never shapes a kernel, so changing it keeps the kernel cache.
TOOLING = ("tools",)


@dataclass(frozen=True)
class Record:
    """A tuned schedule as read from disk: the key it was tuned for, the best knobs and
    their time, the template defaults' time and every trial."""

    path: Path
    key: dict
    knobs: Knobs
    best_ms: float
    default_ms: float
    trials: list
    updated: str = ""

    @property
    def spec(self) -> WindowSpec | NeuronSpec:
        return from_dict(self.key["spec"])

    @property
    def threads(self) -> int:
        return self.key["threads"]


user_dir = build.user_dir


def committed_dir() -> Path:
    """The committed records: `schedules/` in a checkout, `tecomp/records` when installed."""
    if os.environ.get("TECOMP_SCHEDULES"):
        return Path(os.environ["TECOMP_SCHEDULES"])
    return Path(str(importlib.resources.files("tecomp.records")))


@functools.cache
def _environment_static() -> dict:
    host = build.host()
    return {"target": host["target"], "tvm": host["tvm"],
            "tvm_ffi": runtime.ffi().__version__, "llvm": host["llvm"],
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
    if isinstance(spec, MatrixSpec):
        return (f"projection-{spec.layout}-{spec.operation}-{spec.pre}-{spec.post}x{spec.row}-"
                f"{spec.dtype}-{key_digest}.json")
    return f"neuron-{spec.size}-{spec.dtype}-{key_digest}.json"


def lookup(spec: WindowSpec | NeuronSpec, threads: int | None = None) -> Record | None:
    """The best valid record for this spec and environment, or None."""
    wanted = key(spec, threads)
    name = record_name(spec, digest(wanted))
    valid = set(candidates(spec))
    best = None
    for folder in (user_dir() / "records", committed_dir()):
        path = folder / name
        record = _read(path, template(spec)) if path.exists() else None
        if record is None:
            continue
        if record.key != wanted:
            warnings.warn(f"tecomp: ignoring {path}: it was tuned for another spec or "
                          "environment", stacklevel=2)
        elif record.knobs not in valid and not isinstance(record.knobs, TraceKnobs):
            warnings.warn(f"tecomp: ignoring {path}: its knobs are not valid for this "
                          "template version", stacklevel=2)
        elif best is None or record.best_ms < best.best_ms:
            best = record
    return best


def lookup_travelled(spec, threads: int | None = None) -> Record | None:
    """A record tuned on another CPU of this CPU's vector ISA class (build.isa_class), for
    the same spec, versions and thread count: a good start where no exact record exists.
    One from a CPU of the same model name (`mcpu`: another Zen 4, another Xeon of that generation)
    comes first, as its cores schedule alike; then the fastest."""
    wanted = key(spec, threads)
    mine = build.isa_class(wanted["target"])
    prefix = record_name(spec, "")[:-len(".json")]
    valid = set(candidates(spec))
    found = []
    for folder in (user_dir() / "records", committed_dir()):
        for path in sorted(folder.glob(f"{prefix}*.json")) if folder.is_dir() else []:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # foreign files are skipped silently here
                record = _read(path, template(spec))
            if record is None or not isinstance(record.key, dict) or \
                    not isinstance(record.key.get("target"), str):
                continue
            same = all(record.key.get(k) == v for k, v in wanted.items() if k != "target")
            if same and build.isa_class(record.key["target"]) == mine and \
                    (record.knobs in valid or isinstance(record.knobs, TraceKnobs)):
                found.append(record)
    return min(found, key=lambda r: (_cpu(r.key["target"]) != _cpu(wanted["target"]),
                                     r.best_ms), default=None)


def _cpu(target: str) -> str | None:
    """The `mcpu` of a target's text (JSON), or None."""
    try:
        cpu = json.loads(target).get("mcpu")
    except (ValueError, AttributeError, RecursionError):
        return None
    return cpu if isinstance(cpu, str) else None


def is_current(record: Record) -> bool:
    """Whether a record was tuned for this machine, these versions and its thread count."""
    try:
        return key(record.spec, record.key.get("threads")) == record.key
    except (KeyError, TypeError, ValueError, AttributeError):
        return False


def _read(path: Path, kind: str | None = None) -> Record | None:
    """A record, or None (with a warning) for anything unreadable, foreign or absurd."""
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format') if isinstance(data, dict) else data!r}")
        if kind is None:
            kind = {"NeuronSpec": "update", "MatrixSpec": "matrix"}.get(
                data["key"]["spec"]["type"], "window")
        if any(isinstance(data[k], bool) for k in ("best_ms", "default_ms")):
            raise ValueError("best_ms and default_ms must be times in ms, not true/false")
        best, default = float(data["best_ms"]), float(data["default_ms"])
        if not (math.isfinite(best) and best > 0):
            raise ValueError(f"best_ms {data['best_ms']!r} is not a positive time")
        return Record(path, data["key"], knobs_from_dict(kind, data["knobs"]), best, default,
                      list(data.get("trials", [])), str(data.get("updated", "")))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, KnobError,
            RecursionError) as err:
        warnings.warn(f"tecomp: ignoring unreadable schedule record {path}: {err}", stacklevel=3)
        return None


def save(spec: WindowSpec | NeuronSpec, knobs: Knobs, best_ms: float, default_ms: float,
         trials: list[dict], threads: int | None = None, folder: Path | None = None) -> Path:
    """Write (or merge into) the record of a spec; trials add up. The new schedule replaces
    the old one when its tune timed the old one too (as `tuning` does: its best already
    beat it); else (a concurrent tuner) the faster wins."""
    wanted = key(spec, threads)
    folder = Path(folder) if folder is not None else user_dir() / "records"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / record_name(spec, digest(wanted))
    with _locked(path):
        old = _read(path, template(spec)) if path.exists() else None
        record = {"format": FORMAT, "key": wanted, "knobs": knobs_to_dict(knobs),
                  "best_ms": best_ms, "default_ms": default_ms, "trials": trials,
                  "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        if old is not None and old.key == wanted:
            record["trials"] = old.trials + trials
            timed_again = knobs_to_dict(old.knobs) in [t.get("knobs") for t in trials]
            if old.best_ms <= best_ms and not timed_again:
                record.update(knobs=knobs_to_dict(old.knobs), best_ms=old.best_ms)
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


def records(folder: Path | None = None) -> list[Record]:
    """Every readable record of the user cache and the committed folder (for --list)."""
    folders = [folder] if folder else [user_dir() / "records", committed_dir()]
    found = []
    for f in folders:
        for path in sorted(Path(f).glob("*.json")) if Path(f).is_dir() else []:
            record = _read(path)
            if record is not None:
                found.append(record)
    return found


def core_modules() -> list[Path]:
    """Every module of the library proper (what `code_digest` hashes)."""
    return sorted(p for p in PACKAGE.rglob("*.py")
                  if p.relative_to(PACKAGE).parts[0] not in TOOLING)


@functools.cache
def code_digest() -> str:
    """A hash of tecomp's version and of every core module: a compiled kernel is stale as
    soon as anything that could shape its code changes."""
    return digest([VERSION] + [[str(p.relative_to(PACKAGE)), p.read_text()]
                               for p in core_modules()])


def library_path(spec: WindowSpec | NeuronSpec, knobs: Knobs) -> Path:
    """Where the compiled kernel of a spec with these knobs is kept."""
    return user_dir() / "kernels" / \
        f"{digest([key(spec), knobs_to_dict(knobs), code_digest()])}.so"


def load_library(path: Path, spec: WindowSpec | NeuronSpec):
    """The `main` function of a cached kernel, or None when it must be (re)built.

    A library is only loaded once its sidecar vouches for it: same size, same SHA-256,
    built for this very spec. Loading a truncated or overwritten shared library can kill
    the process (SIGBUS, SIGSEGV), so anything else is set aside, with one warning."""
    if not path.exists():
        return None
    problem = _library_problem(path, spec)
    if problem is None:
        try:
            return runtime.load_module(str(path))["main"]
        except Exception as err:  # a file the checksum vouched for but the loader refused
            problem = f"it does not load ({err})"
    _set_aside(path)
    warnings.warn(f"tecomp: set aside the cached kernel {path.name}: {problem}; "
                  "rebuilding it", stacklevel=3)
    return None


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def _library_problem(path: Path, spec) -> str | None:
    """Why the library at `path` cannot be trusted for `spec`, or None."""
    try:
        about = json.loads(_sidecar(path).read_text())
        data = path.read_bytes()
    except (OSError, ValueError, RecursionError) as err:
        return f"no readable checksum ({type(err).__name__})"
    if not isinstance(about, dict) or about.get("size") != len(data):
        return f"its size is {len(data)} bytes, not the {about.get('size')} recorded" \
            if isinstance(about, dict) else "a malformed checksum file"
    if about.get("sha256") != hashlib.sha256(data).hexdigest():
        return "its checksum does not match"
    if about.get("spec") != json.loads(json.dumps(to_dict(spec))):
        return "it was built for another kernel"
    return None


def _set_aside(path: Path) -> None:
    """Move a distrusted library (and its sidecar) out of the way, keeping it to inspect."""
    aside = path.parent / "rejected"
    with contextlib.suppress(OSError):
        aside.mkdir(exist_ok=True)
        for part in (path, _sidecar(path)):
            if part.exists():
                os.replace(part, aside / part.name)


def store_library(path: Path, executable, spec: WindowSpec | NeuronSpec) -> None:
    """Export a compiled kernel atomically, its size, checksum and spec beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".so")
    os.close(fd)
    try:
        executable.export_library(tmp)
        data = Path(tmp).read_bytes()
        write_atomic(_sidecar(path), json.dumps({
            "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "spec": to_dict(spec), "tecomp": VERSION}))
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
