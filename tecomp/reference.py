"""Plain NumPy reference ("oracle") for tecomp's Convolution, Pooling and Projection.

This module states the semantics; the compiled kernels must agree with it. It imports
nothing from tecomp and nothing but NumPy.

Convolution (a cross-correlation, computed per filter):

* For a kernel of size ``K`` on an axis, tap ``t`` (0..K-1) reads pre index
  ``centre + t - (K-1)//2`` (odd kernels are centred, even ones reach one further forward).
* Every pre axis has a role:
  - ``conv``: paired with the post axis and the kernel axis of the same number. The centre of
    post index ``i`` is ``(s-1)//2 + s*i`` with stride ``s = pre_size // post_size``.
  - ``spanned`` (last pre axis, post has one dim less than pre, kernel's last dim == pre's
    last dim): the centre is ``(pre_size-1)//2`` so tap ``t`` reads pre index ``t``.
  - ``kept`` (``keep_last_dimension=True``, kernel has one dim less than pre): post
    ``[..., c]`` reads only pre ``[..., c]``.
* A bank (``bank=True``) holds filter ``f`` in ``weights[f]``; post's last axis has one
  neuron per filter and the other post axes ("spatial" post) are laid out as above.
* ``subsampling``: one row of pre coordinates per (spatial) post position in C order; it
  gives the centre on conv axes and the index on a kept axis (a spanned axis is ignored).
* ``padding``: a number is the rate of every pre neuron outside the geometry (it goes
  through ``psp`` with its weight and counts in every operation); ``"border"`` clamps the
  index to the nearest border neuron.
* ``operation`` over the taps of one filter of ``psp(w, pre)``: ``sum``, ``max`` (from -inf),
  ``min`` (from +inf), ``mean`` (the sum divided by the number of taps of one filter). max and
  min skip NaN terms (a NaN never compares greater), as ANNarchy's generated loops do.

Pooling: post neuron ``i`` covers pre indices ``i*e .. i*e+e-1`` on each axis (extent ``e``,
default ``pre // post``); pre axes beyond post's dims are covered whole. ``psp`` (of the pre
variables only) is applied per pre neuron, then ``max``, ``min``, ``sum`` or ``mean``
(divided by ``prod(extent)``) over the window. Leftover pre rows are not covered.

Projection (a regular projection, any connector), given as a dense (post, pre) weight matrix
with NaN where there is no synapse: post neuron ``i`` reduces ``psp(w[i, j], pre[j], post[i],
parameters)`` over the pre neurons ``j`` it has a synapse from, with ``sum``, ``max``, ``min``
(skipping NaN terms, as above) or ``mean`` (the sum divided by its number of synapses); a post
neuron without synapses gets 0 whatever the operation. Parameters are one value (the
projection's), one per post neuron (postsynaptic) or a (post, pre) matrix (per synapse).

Deterministic connectors as dense (post, pre) masks or weight matrices (ANNarchy's rules):
all-to-all (no synapse from a neuron to itself when pre is post, unless allowed), one-to-one
(the k-th pre rank to the k-th post rank), gaussian and dog over normalized coordinates
(``x_a / (n_a - 1)`` per axis, 0 on an axis of size 1) and the squared Euclidean distance
``d2`` between them: gaussian ``amp * exp(-d2 / (2 sigma^2))`` kept where it is
``> limit * amp``; dog ``amp_pos * exp(-d2 / (2 sigma_pos^2)) - amp_neg * exp(-d2 / (2
sigma_neg^2))`` kept where its absolute value is ``> limit * |amp_pos - amp_neg|``.

All computations are done in the dtype of ``pre_r`` (of the weights for projections), which is
also the result's dtype.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from types import SimpleNamespace

import numpy as np

_FUNCTIONS = {
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "fabs": np.fabs,
    "tanh": np.tanh,
    "sin": np.sin,
    "cos": np.cos,
    "pos": lambda x: np.maximum(x, 0),
    "positive": lambda x: np.maximum(x, 0),
    "neg": lambda x: np.minimum(x, 0),
    "negative": lambda x: np.minimum(x, 0),
    "clip": np.clip,
    "power": np.power,
}

# How far a compiled result may be from this reference, the one table every check uses:
# max |error| / max(1, max |expected|) for a result that reduces up to 64 terms. Longer
# reductions round further apart (like the square root of the number of terms).
TOLERANCE = {"float64": 1e-12, "float32": 1e-5}


def tolerance(dtype: str, terms: int = 1) -> float:
    """The allowed `relative_error` of a result of `dtype` that reduces `terms` terms."""
    return TOLERANCE[str(np.dtype(dtype))] * max(1.0, math.sqrt(terms / 64))


def relative_error(actual, expected) -> float:
    """max |actual - expected| / max(1, max |expected|); inf for a shape or inf/NaN mismatch."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    finite = np.isfinite(expected)
    if actual.shape != expected.shape or not np.array_equal(np.isfinite(actual), finite) or \
            not np.array_equal(actual[~finite], expected[~finite], equal_nan=True):
        return math.inf
    scale = max(1.0, float(np.abs(expected[finite]).max(initial=0.0)))
    return float(np.abs(actual[finite] - expected[finite]).max(initial=0.0)) / scale


_START = {"sum": 0.0, "mean": 0.0, "max": -np.inf, "min": np.inf}

# max/min skip NaN values (a tap compares as not greater, as in ANNarchy's `if (v > m) m = v`)
_POOL = {
    "sum": np.sum,
    "max": lambda window: np.fmax.reduce(window.ravel(), initial=-np.inf),
    "min": lambda window: np.fmin.reduce(window.ravel(), initial=np.inf),
    "mean": lambda window: np.sum(window) / window.size,
}


def evaluate_psp(psp: str, w, pre: Mapping[str, np.ndarray],
                 post: Mapping[str, np.ndarray] | None = None,
                 parameters: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """Evaluate ``psp`` with NumPy broadcasting; ``pre["r"]`` is ``pre.r`` in the string,
    ``post["x"]`` is ``post.x`` and ``parameters["g"]`` is ``g``."""
    code = re.sub(r"\bpost\.", "_post.", re.sub(r"\bpre\.", "_pre.", psp))
    namespace = {"__builtins__": {}, **_FUNCTIONS, **(parameters or {}), "w": w,
                 "_pre": SimpleNamespace(**pre), "_post": SimpleNamespace(**(post or {}))}
    # restricted namespace: no builtins, only w, pre.<var>, post.<var>, the parameters and
    # the functions above
    return eval(code, namespace)


def _shape(geometry: int | Sequence[int]) -> tuple[int, ...]:
    if np.ndim(geometry) == 0:
        return (int(geometry),)
    return tuple(int(n) for n in geometry)


def _layout(
    pre: tuple[int, ...],
    post: tuple[int, ...],
    kernel_shape: tuple[int, ...],
    bank: bool,
    keep_last_dimension: bool,
) -> tuple[tuple[int, ...], tuple[int, ...], list[str]]:
    """Return (spatial post shape, shape of one filter, role of every pre axis)."""
    if bank:
        if keep_last_dimension:
            raise ValueError("a bank cannot be combined with keep_last_dimension")
        if len(kernel_shape) == len(pre):  # the shape of one filter was given
            kernel_shape = (post[-1], *kernel_shape)
        if post[-1] != kernel_shape[0]:
            raise ValueError(f"post's last dim {post[-1]} != number of filters {kernel_shape[0]}")
        spatial, filt = post[:-1], kernel_shape[1:]
    else:
        spatial, filt = post, kernel_shape
    dp, dq, dk = len(pre), len(spatial), len(filt)
    conv = ["conv"] * (dp - 1)
    if not keep_last_dimension and dk == dp == dq:
        return spatial, filt, ["conv"] * dp
    if not keep_last_dimension and dk == dp and dq == dp - 1 >= 1 and filt[-1] == pre[-1]:
        return spatial, filt, [*conv, "spanned"]
    if keep_last_dimension and dk == dp - 1 >= 1 and dq == dp and spatial[-1] == pre[-1]:
        return spatial, filt, [*conv, "kept"]
    raise ValueError(
        f"no convolution layout for pre {pre}, post {post}, weights {kernel_shape}, "
        f"bank={bank}, keep_last_dimension={keep_last_dimension}"
    )


def conv_centres(
    pre_geometry: int | Sequence[int],
    post_geometry: int | Sequence[int],
    *,
    bank: bool = False,
    keep_last_dimension: bool = False,
    kernel_shape: Sequence[int],
    subsampling=None,
) -> np.ndarray:
    """Pre coordinates of the kernel centre for every (spatial) post position, in C order.

    Returns an int array of shape (n_positions, len(pre_geometry)). ``kernel_shape`` is
    ``weights.shape`` (for a bank, with or without the leading filter axis). On a kept axis
    the entry is the pre index read; on a spanned axis it is ``(pre_size-1)//2``.
    """
    pre, post = _shape(pre_geometry), _shape(post_geometry)
    spatial, _, roles = _layout(pre, post, tuple(kernel_shape), bank, keep_last_dimension)
    n_positions = int(np.prod(spatial))
    if subsampling is not None:
        centres = np.array(subsampling, dtype=np.int64)
        if centres.ndim == 1 and len(pre) == 1:
            centres = centres[:, np.newaxis]
        if centres.shape != (n_positions, len(pre)):
            raise ValueError(
                f"subsampling has shape {centres.shape}, needs ({n_positions}, {len(pre)})"
            )
    else:
        post_index = np.indices(spatial).reshape(len(spatial), -1).T  # (n_positions, dq)
        centres = np.zeros((n_positions, len(pre)), dtype=np.int64)
        for a, role in enumerate(roles):
            if role == "conv":
                if pre[a] % spatial[a] != 0:
                    raise ValueError(
                        f"pre size {pre[a]} on axis {a} is not a multiple of "
                        f"post size {spatial[a]}; pass subsampling="
                    )
                s = pre[a] // spatial[a]
                centres[:, a] = (s - 1) // 2 + s * post_index[:, a]
            elif role == "kept":
                centres[:, a] = post_index[:, a]
    for a, role in enumerate(roles):
        if role == "spanned":
            centres[:, a] = (pre[a] - 1) // 2
        elif role == "kept" and not np.all((centres[:, a] >= 0) & (centres[:, a] < pre[a])):
            raise ValueError(f"kept axis {a}: index outside 0..{pre[a] - 1}")
    return centres


def _one_filter(
    pre: dict[str, np.ndarray],
    kernel: np.ndarray,
    centres: np.ndarray,
    roles: list[str],
    padding: float | str,
    psp: str,
    operation: str,
) -> np.ndarray:
    """Apply one filter at every centre; ``centres`` has shape spatial + (n_pre_dims,)."""
    dtype = pre["r"].dtype
    spatial = centres.shape[:-1]
    sizes = pre["r"].shape
    result = np.full(spatial, _START[operation], dtype=dtype)
    for tap in np.ndindex(kernel.shape):
        index = []
        inside = np.ones(spatial, dtype=bool)
        for a, role in enumerate(roles):
            if role == "kept":
                index.append(centres[..., a])
                continue
            # conv and spanned axes (a spanned centre is (size-1)//2, so tap t reads t)
            i = centres[..., a] + tap[a] - (kernel.shape[a] - 1) // 2
            inside &= (i >= 0) & (i < sizes[a])
            index.append(np.clip(i, 0, sizes[a] - 1))  # "border" clamps; a number replaces
        values = {}
        for name, var in pre.items():
            v = var[tuple(index)]
            if not isinstance(padding, str):
                v = np.where(inside, v, dtype.type(padding))
            values[name] = v
        term = np.broadcast_to(np.asarray(evaluate_psp(psp, kernel[tap], values), dtype), spatial)
        if operation in ("sum", "mean"):
            result = result + term
        elif operation == "max":  # NaN taps are skipped
            result = np.fmax(result, term)
        else:
            result = np.fmin(result, term)
    if operation == "mean":
        result = result / dtype.type(kernel.size)
    return result.astype(dtype)


def convolution(
    pre_r: np.ndarray,
    weights: np.ndarray,
    post_geometry: int | Sequence[int],
    *,
    bank: bool = False,
    keep_last_dimension: bool = False,
    padding: float | str = 0.0,
    subsampling=None,
    psp: str = "w * pre.r",
    operation: str = "sum",
    pre_vars: Mapping[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Result of a Convolution projection (one step), shaped like ``post_geometry``."""
    pre_r = np.asarray(pre_r)
    dtype = pre_r.dtype
    weights = np.asarray(weights, dtype=dtype)
    post = _shape(post_geometry)
    if operation not in _START:
        raise ValueError(f"unknown operation {operation!r}")
    if isinstance(padding, str) and padding != "border":
        raise ValueError(f"unknown padding {padding!r}")
    spatial, _, roles = _layout(pre_r.shape, post, weights.shape, bank, keep_last_dimension)
    centres = conv_centres(
        pre_r.shape,
        post,
        bank=bank,
        keep_last_dimension=keep_last_dimension,
        kernel_shape=weights.shape,
        subsampling=subsampling,
    ).reshape(*spatial, pre_r.ndim)
    pre = {"r": pre_r}
    for name, var in (pre_vars or {}).items():
        pre[name] = np.asarray(var, dtype=dtype)
    filters = weights if bank else weights[np.newaxis]
    results = [_one_filter(pre, f, centres, roles, padding, psp, operation) for f in filters]
    return np.stack(results, axis=-1) if bank else results[0]


def pooling(
    pre_r: np.ndarray,
    post_geometry: int | Sequence[int],
    *,
    extent: Sequence[int] | None = None,
    psp: str = "pre.r",
    operation: str = "max",
    pre_vars: Mapping[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Result of a Pooling projection (one step), shaped like ``post_geometry``."""
    pre_r = np.asarray(pre_r)
    dtype = pre_r.dtype
    pre, post = pre_r.shape, _shape(post_geometry)
    dp, dq = len(pre), len(post)
    if operation not in _POOL:
        raise ValueError(f"unknown operation {operation!r}")
    if extent is None:
        if dq != dp or any(p % q for p, q in zip(pre, post, strict=False)):
            raise ValueError(f"pooling {pre} -> {post} needs an explicit extent")
        extent = [p // q for p, q in zip(pre, post, strict=True)]
    extent = [int(e) for e in extent]
    if len(extent) != dp or dq > dp:
        raise ValueError(f"extent {extent} does not fit pre {pre} and post {post}")
    for a in range(dp):
        covered = extent[a] * post[a] if a < dq else extent[a]
        if extent[a] < 1 or covered > pre[a] or (a >= dq and extent[a] != pre[a]):
            raise ValueError(f"extent {extent[a]} on axis {a} does not fit pre {pre}")
    variables = {"r": pre_r}
    for name, var in (pre_vars or {}).items():
        variables[name] = np.asarray(var, dtype=dtype)
    values = np.broadcast_to(np.asarray(evaluate_psp(psp, None, variables), dtype), pre)
    result = np.empty(post, dtype=dtype)
    for i in np.ndindex(post):
        # axes a >= dq are not sliced: the window covers them whole
        window = values[tuple(slice(i[a] * extent[a], (i[a] + 1) * extent[a]) for a in range(dq))]
        result[i] = _POOL[operation](window)
    return result


def convolution_filters(
    pre_r: np.ndarray,
    filters: Sequence[np.ndarray],
    post_geometry: int | Sequence[int],
    **options,
) -> np.ndarray:
    """A bank given as a list of filters, maybe of different sizes (``connect_filters`` of a
    list): filter ``f`` alone, as one ``convolution`` with the spatial post geometry,
    gives post ``[..., f]``. ``options`` are those of ``convolution`` (no ``bank``)."""
    post = _shape(post_geometry)
    if post[-1] != len(filters):
        raise ValueError(f"post's last dim {post[-1]} != number of filters {len(filters)}")
    return np.stack([convolution(pre_r, f, post[:-1], **options) for f in filters], axis=-1)


def projection(
    weights: np.ndarray,
    pre: Mapping[str, np.ndarray],
    post: Mapping[str, np.ndarray] | None = None,
    psp: str = "w * pre.r",
    operation: str = "sum",
    parameters: Mapping[str, float | np.ndarray] | None = None,
) -> np.ndarray:
    """Result (post,) of a regular projection (one step). ``weights``: (post, pre), NaN where
    there is no synapse; ``pre``/``post``: the populations' variables, flat; ``parameters``:
    a number, a (post,) array or a (post, pre) matrix each."""
    weights = np.asarray(weights)
    dtype = weights.dtype
    if operation not in _POOL:
        raise ValueError(f"unknown operation {operation!r}")
    n_post = weights.shape[0]
    pre = {name: np.asarray(v, dtype).reshape(-1) for name, v in pre.items()}
    post = {name: np.asarray(v, dtype).reshape(-1) for name, v in (post or {}).items()}
    parameters = {name: np.asarray(v, dtype) for name, v in (parameters or {}).items()}
    result = np.zeros(n_post, dtype=dtype)
    for i in range(n_post):
        js = np.flatnonzero(~np.isnan(weights[i]))
        if len(js) == 0:
            continue  # no dendrite: 0 whatever the operation
        values = {}
        for name, v in parameters.items():
            values[name] = v if v.ndim == 0 else v[i] if v.ndim == 1 else v[i, js]
        terms = evaluate_psp(psp, weights[i, js], {k: v[js] for k, v in pre.items()},
                             {k: v[i] for k, v in post.items()}, values)
        result[i] = _POOL[operation](np.broadcast_to(np.asarray(terms, dtype), js.shape))
    return result


def _ranks(ranks, size: int) -> np.ndarray:
    return np.arange(size) if ranks is None else np.asarray(ranks, dtype=np.int64)


def all_to_all_mask(pre_size: int, post_size: int, pre_ranks=None, post_ranks=None,
                    exclude_self: bool = False) -> np.ndarray:
    """(post, pre) bool: every pre rank to every post rank, not i to i when exclude_self."""
    mask = np.zeros((post_size, pre_size), dtype=bool)
    for i in _ranks(post_ranks, post_size):
        for j in _ranks(pre_ranks, pre_size):
            mask[i, j] = not (exclude_self and i == j)
    return mask


def one_to_one_mask(pre_size: int, post_size: int, pre_ranks=None, post_ranks=None) -> np.ndarray:
    """(post, pre) bool: the k-th pre rank to the k-th post rank."""
    pre, post = _ranks(pre_ranks, pre_size), _ranks(post_ranks, post_size)
    if len(pre) != len(post):
        raise ValueError(f"one-to-one needs as many pre as post ranks, got {len(pre)}, "
                         f"{len(post)}")
    mask = np.zeros((post_size, pre_size), dtype=bool)
    for i, j in zip(post, pre, strict=True):
        mask[i, j] = True
    return mask


def normalized_coordinates(geometry: int | Sequence[int]) -> np.ndarray:
    """(size, dims): each neuron's coordinates (C order of ranks) divided by n - 1 per axis,
    0 on an axis of size 1."""
    shape = _shape(geometry)
    coords = np.zeros((math.prod(shape), len(shape)))
    for rank, index in enumerate(np.ndindex(shape)):
        for a, (x, n) in enumerate(zip(index, shape, strict=True)):
            coords[rank, a] = x / (n - 1) if n > 1 else 0.0
    return coords


def _distance_profile(pre_geometry, post_geometry, value, keep, exclude_self) -> np.ndarray:
    pre_xy, post_xy = normalized_coordinates(pre_geometry), normalized_coordinates(post_geometry)
    if pre_xy.shape[1] != post_xy.shape[1]:
        raise ValueError("pre and post need the same number of dimensions")
    weights = np.full((len(post_xy), len(pre_xy)), np.nan)
    for i, p in enumerate(post_xy):
        for j, q in enumerate(pre_xy):
            v = value(float(np.sum((p - q) ** 2)))
            if keep(v) and not (exclude_self and i == j):
                weights[i, j] = v
    return weights


def gaussian_weights(pre_geometry, post_geometry, amp: float, sigma: float,
                     limit: float = 0.01, exclude_self: bool = False) -> np.ndarray:
    """(post, pre) weights of ANNarchy's gaussian connector, NaN where no synapse."""
    return _distance_profile(pre_geometry, post_geometry,
                             lambda d2: amp * math.exp(-d2 / (2 * sigma ** 2)),
                             lambda v: v > limit * amp, exclude_self)


def dog_weights(pre_geometry, post_geometry, amp_pos: float, sigma_pos: float, amp_neg: float,
                sigma_neg: float, limit: float = 0.01, exclude_self: bool = False) -> np.ndarray:
    """(post, pre) weights of ANNarchy's difference-of-Gaussians connector, NaN where none."""
    def value(d2):
        return (amp_pos * math.exp(-d2 / (2 * sigma_pos ** 2))
                - amp_neg * math.exp(-d2 / (2 * sigma_neg ** 2)))

    return _distance_profile(pre_geometry, post_geometry, value,
                             lambda v: abs(v) > limit * abs(amp_pos - amp_neg), exclude_self)
