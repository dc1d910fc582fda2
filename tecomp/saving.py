"""`save()` and `load()`: a network's state in a `.npz` file (ANNarchy's `ann.save`/`ann.load`).

The file holds every population's attributes (parameters and variables) and every
projection's weights, under ANNarchy's names: `time_step`, the lists `obj_names/populations`
and `obj_names/projections`, and for each object `<name>/<attribute>` (`<pop>/r`,
`<proj>/w`), with the structure beside them (`<pop>/geometry`, `<pop>/attributes`,
`<proj>/type`, `<proj>/pre`, `<proj>/post`, `<proj>/target`). Unlike ANNarchy's, the file
holds plain arrays only (no pickled Python objects), so loading one runs no code, and the
convolution projections' weights are saved (ANNarchy skips them). Only `.npz` is written
and read (ANNarchy also pickles to other extensions).

`load()` first compares the file with the network: a file saved from another network (other
populations, geometries, attributes, projections or weight shapes) is an error that names
every difference, and nothing is loaded; so is a value the network's precision cannot hold.
The saved `time_step` is not restored: the network keeps its own time.
"""

import os
import tempfile
import zipfile
from typing import TYPE_CHECKING

import numpy as np

from .errors import InvalidTypeError, InvalidValueError
from .values import show

if TYPE_CHECKING:
    from .network import Network


def npz_path(filename, who: str) -> str:
    """A path of a .npz file (tecomp's only file format: plain arrays, no pickle), or an
    error naming the rule."""
    if not isinstance(filename, str | os.PathLike):
        raise InvalidTypeError(f"{who}: filename must be a path, got {show(filename)}")
    path = os.fspath(filename)
    if not isinstance(path, str) or not path.endswith(".npz"):
        raise InvalidValueError(f"{who}: tecomp reads and writes .npz files only (NumPy's "
                                f"compressed archive), got {show(path)}")
    return path


def describe(net: "Network", populations: bool = True,
             projections: bool = True) -> dict[str, np.ndarray]:
    """The arrays `save()` writes, by key."""
    data = {"time_step": np.array(net.current_step, dtype=np.int64)}
    pops = net.populations if populations else []
    projs = net.projections if projections else []
    data["obj_names/populations"] = np.array([p.name for p in pops], dtype=str)
    data["obj_names/projections"] = np.array([p.name for p in projs], dtype=str)
    for pop in pops:
        data[f"{pop.name}/geometry"] = np.array(pop.geometry, dtype=np.int64)
        data[f"{pop.name}/attributes"] = np.array(pop.attributes, dtype=str)
        for name in pop.attributes:
            value = pop.live(name)
            data[f"{pop.name}/{name}"] = np.array(value[0] if name in pop.neuron.shared
                                                  else value, dtype=np.float64)
    for proj in projs:
        for key in ("pre", "post"):
            data[f"{proj.name}/{key}"] = np.array(getattr(proj, key).name)
        data[f"{proj.name}/type"] = np.array(type(proj).__name__)
        data[f"{proj.name}/target"] = np.array(proj.target)
        for key, value in proj.saved_state().items():
            data[f"{proj.name}/{key}"] = value
    return data


def save(net: "Network", filename: str | os.PathLike, populations: bool = True,
         projections: bool = True) -> None:
    """Write the network's state to `filename` (.npz); missing folders are created, and the
    file is replaced only once it is complete."""
    path = npz_path(filename, "save")
    data = describe(net, populations, projections)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, suffix=".npz.tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez_compressed(stream, **data)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def _read(path: str) -> dict[str, np.ndarray]:
    if not os.path.isfile(path):
        raise InvalidValueError(f"load: cannot read {path}: no such file")
    if not zipfile.is_zipfile(path):
        raise InvalidValueError(f"load: cannot read {path}: it is not a .npz archive (NumPy's "
                                "zip format, as save() writes)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except ValueError as err:
        if "pickle" in str(err):
            raise InvalidValueError(f"load: {path} holds pickled Python objects (a file saved "
                                    "by ANNarchy?); tecomp reads only the plain arrays its "
                                    "own save() writes") from None
        raise InvalidValueError(f"load: cannot read {path}: {err}") from None
    except (OSError, zipfile.BadZipFile, EOFError) as err:
        raise InvalidValueError(f"load: cannot read {path}: {err}") from None


def _text(data: dict, key: str) -> str | None:
    value = data.get(key)
    return str(value) if value is not None and value.dtype.kind == "U" and value.ndim == 0 \
        else None


def _names(data: dict, key: str, path: str) -> list[str]:
    value = data.get(key)
    if value is None or value.dtype.kind != "U" or value.ndim != 1:
        raise InvalidValueError(f"load: {path} was not written by tecomp's save() (it has no "
                                f"{key!r} list)")
    return [str(v) for v in value]


def _differences(net, data: dict, path: str, populations: bool, projections: bool) -> list:
    """Every way the file's structure differs from the network's."""
    found = []

    def compare(kind: str, saved: list[str], here: list[str]) -> list[str]:
        only_file = [n for n in saved if n not in here]
        only_here = [n for n in here if n not in saved]
        if only_file:
            found.append(f"{kind}s in the file but not in the network: "
                         f"{', '.join(only_file)}")
        if only_here:
            found.append(f"{kind}s in the network but not in the file: "
                         f"{', '.join(only_here)}")
        return [n for n in here if n in saved]

    if populations:
        pops = {p.name: p for p in net.populations}
        saved = _names(data, "obj_names/populations", path)
        for name in compare("population", saved, list(pops)):
            pop = pops[name]
            geometry = data.get(f"{name}/geometry")
            if geometry is None or tuple(int(g) for g in geometry.reshape(-1)) != pop.geometry:
                shown = None if geometry is None else tuple(int(g) for g in geometry.reshape(-1))
                found.append(f"population {name}: geometry {shown} in the file, "
                             f"{pop.geometry} in the network")
                continue
            attributes = _names(data, f"{name}/attributes", path)
            if sorted(attributes) != sorted(pop.attributes):
                found.append(f"population {name}: attributes {', '.join(attributes)} in the "
                             f"file, {', '.join(pop.attributes)} in the network")
                continue
            for attribute in pop.attributes:
                value = data.get(f"{name}/{attribute}")
                shape = () if attribute in pop.neuron.shared else pop.geometry
                if value is None or value.shape != shape:
                    found.append(f"population {name}: {attribute} has shape "
                                 f"{None if value is None else value.shape} in the file, "
                                 f"{shape} in the network")
    if projections:
        projs = {p.name: p for p in net.projections}
        saved = _names(data, "obj_names/projections", path)
        for name in compare("projection", saved, list(projs)):
            proj = projs[name]
            for key, here in (("type", type(proj).__name__), ("pre", proj.pre.name),
                              ("post", proj.post.name), ("target", proj.target)):
                there = _text(data, f"{name}/{key}")
                if there != here:
                    found.append(f"projection {name}: {key} {there!r} in the file, {here!r} "
                                 "in the network")
            problem = proj.state_difference({key.split("/", 1)[1]: value for key, value in
                                             data.items() if key.startswith(f"{name}/")})
            if problem:
                found.append(f"projection {name}: {problem}")
    return found


def load(net: "Network", filename: str | os.PathLike, populations: bool = True,
         projections: bool = True) -> None:
    """Read a file written by `save()` into a network of the same structure."""
    path = npz_path(filename, "load")
    data = _read(path)
    differences = _differences(net, data, path, populations, projections)
    if differences:
        raise InvalidValueError(f"load: {path} was saved from another network; nothing was "
                                "loaded:\n  " + "\n  ".join(differences))
    values = []  # (population, attribute, value) then (projection, None, weights), all checked
    for pop in net.populations if populations else []:
        for attribute in pop.attributes:
            key = f"{pop.name}/{attribute}"
            values.append((pop, attribute, pop.read_value(attribute, data[key], (),
                                                          f"load: {key}")))
    for proj in net.projections if projections else []:
        stored = {key.split("/", 1)[1]: value for key, value in data.items()
                  if key.startswith(f"{proj.name}/")}
        values.append((proj, None, proj.checked_state(stored, f"load: projection {proj.name}")))
    for owner, attribute, value in values:
        if attribute is None:
            owner.restore_state(value)
        else:
            owner.live(attribute)[...] = value
