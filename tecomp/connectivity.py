"""Connection patterns of regular projections: which pre neurons each post neuron receives,
with which weights and delays (ANNarchy's connectors, in NumPy).

Every connector returns a `Connectivity`: the post neurons that receive synapses (their
dendrites, ascending ranks) and, per dendrite, its pre ranks (ascending) with one weight and
one delay per synapse, stored as CSR arrays. Ranks are those of the whole populations, also
when the projection was built on views. Random patterns and random values draw from the
network's generator (`Network(seed=...)`), so a seeded network draws the same connectivity.
Every check happens before anything is drawn or stored.
"""

import math
from dataclasses import dataclass

import numpy as np

from .distributions import RandomDistribution
from .errors import InvalidTypeError, InvalidValueError
from .values import array as real_array
from .values import check_elements, number, show


@dataclass(frozen=True, eq=False)
class Connectivity:
    post_ranks: np.ndarray  # (D,) int64, ascending: post neurons with at least one synapse
    indptr: np.ndarray  # (D + 1,) int64: dendrite d's synapses are indptr[d]:indptr[d + 1]
    pre_ranks: np.ndarray  # (nnz,) int64, ascending within each dendrite
    weights: np.ndarray  # (nnz,) float64
    delays: np.ndarray  # (nnz,) float64, ms

    @property
    def nb_synapses(self) -> int:
        return int(self.indptr[-1])

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.indptr)

    def rows(self) -> np.ndarray:
        """The post rank of every synapse."""
        return np.repeat(self.post_ranks, self.counts)


def from_rows(post_ranks, rows: list[np.ndarray], weights, delays, rng,
              who: str) -> Connectivity:
    """A Connectivity from one array of pre ranks per post rank (empty rows are dropped),
    with weights and delays given as a number, a distribution, or one value per synapse in
    the order of `rows`."""
    lengths = np.array([len(row) for row in rows], dtype=np.int64)
    nnz = int(lengths.sum())
    check_elements(nnz, who, "the pattern's synapses", arrays=3)
    post = np.repeat(np.asarray(post_ranks, dtype=np.int64), lengths)
    pre = np.concatenate([np.asarray(r, dtype=np.int64) for r in rows]) if nnz else \
        np.zeros(0, np.int64)
    w = synapse_values(weights, nnz, rng, who, "weights")
    d = synapse_values(delays, nnz, rng, who, "delays")
    order = np.lexsort((pre, post))
    post, pre, w, d = post[order], pre[order], w[order], d[order]
    dendrites, counts = np.unique(post, return_counts=True)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return Connectivity(dendrites.astype(np.int64), indptr, pre, w, d)


def synapse_values(value, count: int, rng, who: str, what: str) -> np.ndarray:
    """`count` float64 values from a number, a RandomDistribution (drawn from `rng` unless it
    has its own) or an array of `count` values. Delays must be >= 0; weights finite."""
    if isinstance(value, RandomDistribution):
        values = value.get_values(count, value.rng if value.rng is not None else rng)
        if not np.isfinite(values).all():
            raise InvalidValueError(f"{who}: {what} drawn from {value!r} are not all finite")
    elif isinstance(value, np.ndarray | list | tuple):
        values = real_array(value, who, what).reshape(-1)
        if values.size != count:
            raise InvalidValueError(f"{who}: {what} must be a number, a random distribution or "
                                    f"one value per synapse ({count}), got {values.size} values")
    else:
        rule = "a number or a random distribution (tecomp.Uniform(...), ...)"
        values = np.full(count, number(value, who, what, rule))
    if what == "delays" and (values < 0).any():
        raise InvalidValueError(f"{who}: delays must be >= 0 ms, got {values[values < 0][0]}")
    return values


def check_probability(p, who: str) -> float:
    p = number(p, who, "probability", "a number from 0 to 1")
    if not 0.0 <= p <= 1.0:
        raise InvalidValueError(f"{who}: probability must be from 0 to 1, got {p}")
    return p


def check_count(n, who: str, what: str, most: int, why: str) -> int:
    if isinstance(n, bool | np.bool_) or not isinstance(n, int | np.integer):
        raise InvalidTypeError(f"{who}: {what} must be an int, got {show(n)}")
    if not 0 <= n <= most:
        raise InvalidValueError(f"{who}: {what} must be from 0 to {most} ({why}), got {n}")
    return int(n)


def all_to_all(pre: np.ndarray, post: np.ndarray, exclude_self: bool) -> list[np.ndarray]:
    return [pre[pre != i] if exclude_self else pre for i in post]


def one_to_one(pre: np.ndarray, post: np.ndarray) -> list[np.ndarray]:
    return [pre[k:k + 1] for k in range(len(post))]


def fixed_probability(pre, post, p: float, exclude_self: bool, rng) -> list[np.ndarray]:
    rows = []
    for i in post:
        row = pre[rng.random(len(pre)) < p]
        rows.append(row[row != i] if exclude_self else row)
    return rows


def fixed_number_pre(pre, post, n: int, exclude_self: bool, rng) -> list[np.ndarray]:
    """n distinct pre neurons per post neuron (never itself when exclude_self)."""
    return [rng.choice(pre[pre != i] if exclude_self else pre, size=n, replace=False)
            for i in post]


def fixed_number_post(pre, post, n: int, exclude_self: bool, rng) -> list[np.ndarray]:
    """Each pre neuron sends n synapses to distinct post neurons."""
    incoming: list[list[int]] = [[] for _ in post]
    slot = {int(rank): k for k, rank in enumerate(post)}
    for j in pre:
        choices = post[post != j] if exclude_self else post
        for i in rng.choice(choices, size=n, replace=False):
            incoming[slot[int(i)]].append(int(j))
    return [np.array(row, dtype=np.int64) for row in incoming]


def normalized_coordinates(ranks: np.ndarray, geometry: tuple[int, ...]) -> np.ndarray:
    """Coordinates scaled to [0, 1] per axis (0 on an axis of size 1), as ANNarchy's
    gaussian and dog connectors place neurons."""
    coords = np.stack(np.unravel_index(ranks, geometry), -1).astype(np.float64)
    scale = np.array([n - 1 if n > 1 else 1 for n in geometry], dtype=np.float64)
    return coords / scale


def profile(pre, post, pre_geometry, post_geometry, exclude_self, value_of,
            keep) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Rows and weights of a distance-based pattern: weight value_of(d2) of the squared
    normalized distance, kept where keep(weight) is true."""
    pre_xy = normalized_coordinates(pre, pre_geometry)
    rows, weights = [], []
    for i, xy in zip(post, normalized_coordinates(post, post_geometry), strict=True):
        w = value_of(((pre_xy - xy) ** 2).sum(axis=1))
        mask = keep(w) & ((pre != i) if exclude_self else True)
        rows.append(pre[mask])
        weights.append(w[mask])
    return rows, weights


def gaussian_value(amp: float, sigma: float):
    return lambda d2: amp * np.exp(-d2 / (2.0 * sigma ** 2))


def dog_value(amp_pos: float, sigma_pos: float, amp_neg: float, sigma_neg: float):
    return lambda d2: (amp_pos * np.exp(-d2 / (2.0 * sigma_pos ** 2))
                       - amp_neg * np.exp(-d2 / (2.0 * sigma_neg ** 2)))


def from_matrix(matrix, pre: np.ndarray, post: np.ndarray, pre_post: bool,
                who: str) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Rows, weights (row order) and the (post, pre) mask of synapses of a dense matrix;
    NaN or None: no synapse."""
    if (isinstance(matrix, np.ndarray) and matrix.dtype.kind == "O") or \
            isinstance(matrix, list | tuple):
        raw = np.array(matrix, dtype=object) if not isinstance(matrix, np.ndarray) else matrix
        if raw.ndim == 2:
            raw = np.where(np.vectorize(lambda v: v is None, otypes=[bool])(raw), np.nan, raw)
        matrix = raw
    values = real_array(matrix, who, "weights", "a 2-D matrix of numbers (NaN or None: no "
                        "synapse)", finite=False)
    if values.ndim != 2:
        raise InvalidValueError(f"{who}: weights must be a 2-D matrix, got shape {values.shape}")
    if pre_post:
        values = values.T
    want = (len(post), len(pre))
    if values.shape != want:
        order = "(pre, post)" if pre_post else "(post, pre)"
        raise InvalidValueError(f"{who}: the matrix must have the shape {order} = "
                                f"{want[::-1] if pre_post else want}, got "
                                f"{values.shape[::-1] if pre_post else values.shape}")
    if np.isinf(values).any():
        raise InvalidValueError(f"{who}: weights must be finite where a synapse exists (NaN or "
                                "None marks no synapse), got inf")
    present = ~np.isnan(values)
    rows = [pre[present[k]] for k in range(len(post))]
    return rows, values[present], present


def check_same_dims(pre_geometry, post_geometry, who: str) -> None:
    if len(pre_geometry) != len(post_geometry):
        raise InvalidValueError(f"{who}: pre {pre_geometry} and post {post_geometry} must have "
                                "the same number of dimensions (neurons are placed by their "
                                "normalized coordinates)")


def finite_positive(value, who: str, what: str) -> float:
    x = number(value, who, what, "a number > 0")
    if x <= 0 or not math.isfinite(x):
        raise InvalidValueError(f"{who}: {what} must be > 0, got {x}")
    return x
