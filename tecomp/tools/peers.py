"""What the benchmark times: tecomp and its peers, each as a `Runner` on one case's data.

A runner makes one step (tecomp, ANNarchy) or one call (NumPy reference, scipy.ndimage,
PyTorch) and gives its output shaped like the post population. A peer that is not
installed, or has no such operation, raises `Skip` with the reason. ANNarchy runs in a
child process (`python -m tecomp.tools.peers`, a `tecomp.child` server) that rebuilds the
tecomp network with ANNarchy's API, compiles its C++ in a folder of its own and then times
one run per request, so its steps interleave with the others.
"""

import importlib.util
import math
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

from tecomp import Projection, child, plan
from tecomp.child import Child, ChildFailed

from . import matrices
from .harness import Runner, Skip
from .suite import Case, network

ANNARCHY_VERSION = "5.0.4.1"
ANNARCHY_COMPILE_TIMEOUT = 900.0  # seconds; its first compile builds the whole C++ core
ANNARCHY_STEP_TIMEOUT = 120.0
# ANNarchy may live in a virtual environment of its own (without TVM): this variable names
# its python, which runs the child (tecomp's frontend imports without TVM).
ANNARCHY_PYTHON = "TECOMP_ANNARCHY_PYTHON"

__all__ = ["Runner", "Skip", "annarchy", "numpy_reference", "pytorch", "scipy_ndimage",
           "tecomp"]


def peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM of /proc/self/status. (getrusage's
    ru_maxrss would do, but Linux carries it over from the parent across fork and exec.)"""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- tecomp and the NumPy reference ------------------------------------------------------------
def tecomp(case: Case, x: np.ndarray, w, tuned: bool) -> Runner:
    """The case's network compiled by tecomp (`tuned`: with the tuned records there are),
    one `net.step()` per call."""
    net = network(x.dtype)
    pre, post, _ = case.build(net, weights=w)
    start = time.perf_counter()
    net.compile(tuned=tuned)
    seconds = time.perf_counter() - start
    pre.r = x
    runner = Runner("tecomp-tuned" if tuned else "tecomp", net.step, lambda _: post.r,
                    compile_s=seconds)
    runner.net, runner.pre, runner.post = net, pre, post
    return runner


def numpy_reference(case: Case, x: np.ndarray, w) -> Runner:
    return Runner("numpy", lambda: case.reference(x, w), lambda out: out)


# -- scipy.ndimage -----------------------------------------------------------------------------
def _psp_kind(case: Case) -> str:
    psp = (case.psp or "w*pre.r").replace(" ", "")
    return {"w*pre.r": "linear", "w*log(1+pre.r)": "log1p"}.get(psp, "other")


def _strides(case: Case) -> tuple[list[int], list[int]]:
    """Stride and first centre per spatial axis (the benchmark cases need no subsampling)."""
    spatial = case.post[:-1] if case.bank else case.post
    strides = [p // q for p, q in zip(case.pre, spatial, strict=False)]
    return strides, [(s - 1) // 2 for s in strides]


def scipy_ndimage(case: Case, x: np.ndarray, w) -> Runner:
    try:
        from scipy import ndimage
    except ImportError:
        raise Skip("scipy is not installed (pip install '.[peers]')") from None
    if case.kind == "Pooling":
        extent = tuple(dict(case.options)["extent"])
        filters = {"max": ndimage.maximum_filter, "min": ndimage.minimum_filter}
        if case.operation not in filters or len(case.post) != len(case.pre):
            raise Skip(f"scipy.ndimage has no {case.operation} pooling of this shape")
        window = tuple(slice(0, e * n, e) for e, n in zip(extent, case.post, strict=True))
        origin = [-(e // 2) for e in extent]  # window i..i+e-1 instead of centred
        return Runner("scipy", lambda: filters[case.operation](x, size=extent, origin=origin),
                      lambda out: out[window])
    if case.operation != "sum" or _psp_kind(case) == "other":
        raise Skip(f"scipy.ndimage has no filter for operation={case.operation!r} "
                   f"with psp={case.psp!r}")
    if len(case.window) != len(case.pre) or len(case.pre) != len(case.post) - case.bank:
        raise Skip("scipy.ndimage has no filter bank over channels (one correlate per "
                   "filter and channel)")
    if any(k % 2 == 0 for k in case.window):
        raise Skip("even kernel sizes: scipy.ndimage centres them differently")
    strides, offsets = _strides(case)
    taken = tuple(slice(o, None, s) for o, s in zip(offsets, strides, strict=True))
    filters = np.asarray(w, x.dtype).reshape(-1, *case.window)
    log = _psp_kind(case) == "log1p"

    def run():
        source = np.log1p(x) if log else x
        return [ndimage.correlate(source, f, mode="constant")[taken] for f in filters]

    return Runner("scipy", run, lambda outs: np.stack(outs, -1) if case.bank else outs[0])


# -- PyTorch (CPU, at its best: oneDNN, NCHW and channels-last) -------------------------------
def pytorch(case: Case, x: np.ndarray, w, threads: int, channels_last: bool = False) -> Runner:
    """PyTorch on the same data with `threads` intra-op threads, oneDNN (mkldnn) enabled,
    every call under `torch.inference_mode()`; input and weights in NCHW, or in channels-last
    memory format (oneDNN's preferred layout on CPU) when `channels_last`. The runner is
    named "torch-cl" or "torch-nchw"; the benchmark times both and compares with the
    faster."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        raise Skip("PyTorch is not installed (pip install '.[peers]')") from None
    torch.set_num_threads(threads)
    torch.backends.mkldnn.enabled = True
    name = "torch-cl" if channels_last else "torch-nchw"
    layout = torch.channels_last if channels_last else torch.contiguous_format
    info = {"layout": "channels-last" if channels_last else "NCHW", "threads":
            torch.get_num_threads(), "mkldnn": torch.backends.mkldnn.is_available()}
    image = torch.from_numpy(np.ascontiguousarray(x.reshape(*x.shape[:2], -1).transpose(2, 0, 1)))
    image = image[None].contiguous(memory_format=layout)  # (1, C, H, W), laid out before timing
    if case.kind == "Pooling":
        extent = tuple(dict(case.options)["extent"])
        if case.operation != "max" or len(case.pre) not in (2, 3) or \
                len(case.post) != len(case.pre) or extent[2:] not in ((), (1,)):
            raise Skip(f"no torch pooling for {case.operation} over extent {extent}")
        return _inference(torch, name, lambda: F.max_pool2d(image, extent[:2]), case, info)
    if len(case.pre) == 3 and not (case.bank and len(case.window) == 3):
        raise Skip("torch: only 2D maps or a bank spanning the channels")
    if len(case.pre) not in (2, 3) or _psp_kind(case) == "other":
        raise Skip(f"torch: no operation for psp={case.psp!r} on {len(case.pre)}D pre")
    weights = np.asarray(w, x.dtype).reshape(-1, *case.window)  # (F, kh, kw[, C])
    weights = torch.from_numpy(np.ascontiguousarray(
        weights.transpose(0, 3, 1, 2) if weights.ndim == 4 else weights[:, None]))
    weights = weights.contiguous(memory_format=layout)
    strides, offsets = _strides(case)
    pads = [(k - 1) // 2 - o for k, o in zip(case.window[:2], offsets, strict=False)]
    if min(pads) < 0:
        raise Skip("torch: stride larger than the kernel")
    log = _psp_kind(case) == "log1p"
    if case.operation == "sum":
        def run():
            return F.conv2d(torch.log1p(image) if log else image, weights, stride=strides[:2],
                            padding=pads)
    elif case.operation == "max" and not case.bank and not log and strides[:2] == [1, 1]:
        flat = weights.reshape(-1, 1)

        def run():  # unfold the windows, multiply by the weights, take the max over taps
            columns = F.unfold(image, case.window, padding=pads)  # (1, taps, H*W)
            return (columns * flat).amax(dim=1).reshape(1, 1, *case.post)
    else:
        raise Skip(f"torch: no {case.operation} convolution of this form")
    return _inference(torch, name, run, case, info)


def _inference(torch, name: str, run, case: Case, info: dict) -> Runner:
    def call():
        with torch.inference_mode():
            return run()
    return Runner(name, call, _from_nchw(case), **info)


def _from_nchw(case: Case):
    def convert(out):
        hwc = out[0].permute(1, 2, 0).numpy()
        return hwc[..., 0] if len(case.post) == 2 else hwc
    return convert


# -- ANNarchy (a child process per case, precision and thread count) ----------------------------
class AnnarchyRunner(Runner):
    def __init__(self, child: Child, out_path: Path, info: dict, log):
        super().__init__("annarchy", None, None, **info)
        self.child, self.out_path, self.log = child, out_path, log

    def timed(self) -> float:
        return float(_ask(self.child, {"do": "step"}, ANNARCHY_STEP_TIMEOUT, self.log)["seconds"])

    def output(self) -> np.ndarray:
        return np.load(self.out_path)

    def close(self) -> None:
        try:
            if self.child.process is not None and self.child.process.poll() is None:
                answer = _ask(self.child, {"do": "quit"}, 30.0, self.log)
                self.info["peak_rss_mb"] = answer["rss_mb"]
        except Skip:
            pass
        finally:
            self.child.close()
            self.log.close()


def describe(net) -> tuple[dict, dict[str, np.ndarray]]:
    """A tecomp network as plain data for ANNarchy: populations (geometry, neuron source),
    projections (kind, endpoints, psp, operation, connect method and its options), and
    the weights by projection index."""
    pops, projs, weights = [], [], {}
    for pop in net.populations:
        if any(not isinstance(v, float | int) for v in pop.neuron.parameters.values()):
            raise Skip(f"ANNarchy translation: population {pop.name} has structured parameters")
        pops.append({"name": pop.name, "geometry": list(pop.geometry),
                     "parameters": "\n".join(f"{k} = {float(v)!r}"
                                             for k, v in pop.neuron.parameters.items()),
                     "equations": "\n".join(eq.source for eq in pop.neuron.equations)})
    for i, kernel in enumerate(plan.network_plan(net).projections):
        proj, spec = kernel.projection, kernel.spec
        kind = "Projection" if isinstance(proj, Projection) else spec.kind
        item = {"kind": kind, "pre": proj.pre.name, "post": proj.post.name,
                "target": proj.target, "psp": proj.psp, "operation": proj.operation,
                "delays": proj.delays}
        if kind == "Projection":  # its synapses as a (post, pre) CSR matrix: from_sparse
            matrix = matrices.connectivity(proj)
            dense = matrix.nnz == math.prod(matrix.shape)
            item.update(method="connect_from_sparse",
                        options={"storage_format": "dense" if dense else "csr"})
            weights.update({f"w{i}_data": matrix.data, f"w{i}_indices": matrix.indices,
                            f"w{i}_indptr": matrix.indptr, f"w{i}_shape": matrix.shape})
        elif spec.kind == "Pooling":
            item.update(method="connect_pooling", options={"extent": list(spec.window)})
        elif spec.table:
            raise Skip("ANNarchy translation: explicit subsampling is broken in ANNarchy")
        else:
            keep = any(m.mode == "keep" for m in spec.axes)
            item.update(method="connect_filters" if spec.bank else "connect_filter",
                        options={"padding": spec.padding, "keep_last_dimension": keep})
            weights[f"w{i}"] = proj.weights
        projs.append(item)
    return {"dt": net.dt, "populations": pops, "projections": projs}, weights


def annarchy(net, inputs: dict, output: str, steps: int, threads: int, folder: Path,
             tag: str) -> Runner:
    """ANNarchy running the same network as `net` (see `describe`): `inputs` sets the rates
    of populations by name, each timed call simulates `steps` steps, `output()` is the
    population named `output` afterwards. The C++ goes to `folder/annarchy-<tag>` (the same
    tag reuses the build, e.g. for another thread count)."""
    python = os.environ.get(ANNARCHY_PYTHON) or sys.executable
    if python == sys.executable and importlib.util.find_spec("ANNarchy") is None:
        raise Skip(f"ANNarchy is not installed (pip install annarchy=={ANNARCHY_VERSION}, "
                   f"or {ANNARCHY_PYTHON}=the python of its virtual environment)")
    network, weights = describe(net)
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / f"{tag}-t{threads}"
    paths = {"weights": f"{base}-weights.npz", "inputs": f"{base}-inputs.npz",
             "out": f"{base}-out.npy"}
    np.savez(paths["weights"], **weights)
    np.savez(paths["inputs"], **inputs)
    request = {"do": "build", "network": network, "dtype": net.dtype, "threads": threads,
               "steps": steps, "output": output, "folder": str(folder),
               "directory": str(folder / f"annarchy-{tag}"), **paths}
    env = {"OMP_NUM_THREADS": str(threads),
           "PATH": f"{Path(python).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = open(f"{base}.log", "w")  # noqa: SIM115  (closed with the runner)
    child = Child([python, "-m", "tecomp.tools.peers"], env, stderr=log, name="ANNarchy")
    try:
        ready = _ask(child, request, ANNARCHY_COMPILE_TIMEOUT, log)
    except Skip:
        child.close()
        log.close()
        raise
    return AnnarchyRunner(child, Path(paths["out"]), {"compile_s": ready["compile_s"]}, log)


def _ask(child: Child, request: dict, timeout: float, log) -> dict:
    """The child's answer; its death, silence or error becomes a Skip with its log's tail."""
    try:
        answer = child.ask(request, timeout)
    except ChildFailed as failure:
        answer = {"error": str(failure)}
    if "error" in answer:
        log.flush()
        tail = Path(log.name).read_text(errors="replace").strip().splitlines()[-3:]
        raise Skip(f"ANNarchy failed: {answer['error']} | {' | '.join(tail)}; log: {log.name}")
    return answer


_state: dict = {}  # the child's ANNarchy network, populations and run length


def _handle(request: dict) -> dict:
    """The child side: build and compile the described network, run it once ("build"),
    then time runs ("step") until "quit"."""
    if request["do"] == "build":
        return _build(request)
    if request["do"] == "step":
        start = time.perf_counter()
        _state["net"].simulate(_state["duration"])
        return {"seconds": time.perf_counter() - start}
    if request["do"] == "quit":
        return {"rss_mb": peak_rss_mb()}
    raise ValueError(f"unknown request {request['do']!r}")


def _build(args: dict) -> dict:
    os.chdir(args["folder"])  # anything ANNarchy writes beside its build goes there
    import ANNarchy as ann
    from ANNarchy.extensions.convolution import Convolution, Pooling

    description = args["network"]
    net = ann.Network(dt=description["dt"])
    net.config(dtype=ann.float32 if args["dtype"] == "float32" else ann.float64,
               num_threads=args["threads"])
    pops = {p["name"]: net.create(tuple(p["geometry"]), ann.Neuron(
        parameters=p["parameters"], equations=p["equations"])) for p in description["populations"]}
    weights = np.load(args["weights"])
    kinds = {"Convolution": Convolution, "Pooling": Pooling}
    for i, p in enumerate(description["projections"]):
        if p["kind"] == "Projection":
            _connect_sparse(net, ann, pops[p["pre"]], pops[p["post"]], p, weights, i)
            continue
        proj = net.connect(kinds[p["kind"]](pops[p["pre"]], pops[p["post"]], p["target"],
                                            psp=p["psp"], operation=p["operation"]))
        extra = [weights[f"w{i}"]] if p["kind"] == "Convolution" else []
        options = {k: tuple(v) if isinstance(v, list) else v for k, v in p["options"].items()}
        getattr(proj, p["method"])(*extra, delays=p["delays"], **options)
    start = time.perf_counter()
    net.compile(directory=args["directory"], silent=True)
    compile_s = time.perf_counter() - start
    for name, x in np.load(args["inputs"]).items():
        pops[name].r = x
    duration = args["steps"] * description["dt"]
    net.simulate(duration)
    np.save(args["out"], np.asarray(pops[args["output"]].r))
    _state.update(net=net, duration=duration)
    return {"compile_s": compile_s}


def _connect_sparse(net, ann, pre, post, p: dict, weights, i: int) -> None:
    """A regular projection from its (post, pre) CSR matrix: ANNarchy's from_sparse takes
    the transpose, (pre, post), and builds dense storage for a full matrix (as its own
    all_to_all), CSR for a sparse one."""
    import scipy.sparse

    matrix = scipy.sparse.csr_matrix((weights[f"w{i}_data"], weights[f"w{i}_indices"],
                                      weights[f"w{i}_indptr"]),
                                     shape=tuple(weights[f"w{i}_shape"]))
    synapse = ann.Synapse(psp=p["psp"], operation=p["operation"])
    proj = net.connect(pre, post, p["target"], synapse=synapse)
    proj.from_sparse(matrix.T.tocsc(), delays=p["delays"], **p["options"])


if __name__ == "__main__":
    child.serve(_handle)
