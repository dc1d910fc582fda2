"""The page's rules for weights, padding, shapes, subsampling and pooling extents.

Each check raises a tecomp error that names the rule and the values, before anything is
changed, so a failing call leaves its projection as it was.
"""

import math

import numpy as np

from ..errors import InvalidValueError
from ..specs import AxisMap, WindowSpec
from ..values import array as real_array
from ..values import number, show


def check_weights(weights, bank: bool, method: str, dtype: str = "float64") -> np.ndarray:
    """A new float64 array of finite real weights (no bools) that fit the precision."""
    array = real_array(weights, f"Convolution.{method}", "weights", "numbers", dtype=dtype,
                       wrong_type=InvalidValueError)
    need = 2 if bank else 1
    if array.ndim < need or array.size == 0:
        raise InvalidValueError(f"Convolution.{method}: weights must be a non-empty array with "
                                f"at least {need} dimension(s), got shape {array.shape}")
    if array.ndim > 4 + bank:
        raise InvalidValueError(f"Convolution.{method}: a filter has at most 4 dimensions, "
                                f"got weights of shape {array.shape}")
    return array


def check_filters(weights, method: str, dtype: str = "float64") -> np.ndarray | list:
    """A bank: an array (F, *window), or a list (tuple) of filters. A list whose filters all
    have one shape is that array; otherwise a list of new float64 arrays, each checked like
    one filter, all with the same number of dimensions."""
    if not isinstance(weights, list | tuple):
        return check_weights(weights, True, method, dtype)
    who = f"Convolution.{method}"
    if not weights:
        raise InvalidValueError(f"{who}: a list of filters must hold at least one filter, "
                                "got an empty list")
    filters = [real_array(w, who, f"filter {f} of the list", "numbers", dtype=dtype,
                          wrong_type=InvalidValueError) for f, w in enumerate(weights)]
    shapes = [w.shape for w in filters]
    if len(set(shapes)) == 1:
        return check_weights(np.stack(filters), True, method, dtype)
    dims = sorted({len(s) for s in shapes})
    if len(dims) > 1:
        f = next(f for f, s in enumerate(shapes) if len(s) != len(shapes[0]))
        raise InvalidValueError(f"{who}: every filter of a list must have the same number of "
                                f"dimensions; filter 0 has shape {shapes[0]}, filter {f} has "
                                f"{shapes[f]}")
    for f, w in enumerate(filters):
        check_weights(w, False, f"{method}: filter {f} of the list", dtype)
    return filters


def pad_filters(filters: list[np.ndarray]) -> tuple[np.ndarray, tuple[tuple[int, ...], ...]]:
    """The bank (F, *largest size per axis) holding each filter at the offset that keeps its
    own centre (zeros around it), and each filter's own shape."""
    window = tuple(max(sizes) for sizes in zip(*(w.shape for w in filters), strict=True))
    bank = np.zeros((len(filters), *window))
    for f, w in enumerate(filters):
        bank[(f, *_footprint(window, w.shape))] = w
    return bank, tuple(w.shape for w in filters)


def unpad_filters(bank: np.ndarray, footprints) -> list[np.ndarray]:
    """The filters of a padded bank (copies), as `pad_filters` placed them."""
    return [bank[(f, *_footprint(bank.shape[1:], own))].copy()
            for f, own in enumerate(footprints)]


def _footprint(window, own) -> tuple[slice, ...]:
    """Where a filter of shape `own` sits in `window` (see specs.WindowSpec.offsets)."""
    return tuple(slice((big - 1) // 2 - (k - 1) // 2, (big - 1) // 2 - (k - 1) // 2 + k)
                 for big, k in zip(window, own, strict=True))


def check_padding(padding, dtype: str = "float64") -> float | str:
    if isinstance(padding, str):
        if padding != "border":
            raise InvalidValueError(f"Convolution: padding must be a number or 'border', "
                                    f"got {show(padding)}")
        return padding
    return number(padding, "Convolution", "padding", "a finite number or 'border'", dtype=dtype)


def conv_axes(pre, post, window, filters, keep_last, explicit, method) -> tuple[AxisMap, ...]:
    """Give each pre axis its role, checking the page's shape rules."""
    who = f"Convolution.{method}"
    dp, dk = len(pre), len(window)
    spatial = post[:-1] if filters is not None else post
    if filters is not None and post[-1] != filters:
        raise InvalidValueError(f"{who}: post's last axis must hold one neuron per filter: "
                                f"post {post} has {post[-1]}, the bank has {filters} filters")
    if keep_last:
        if dk != dp - 1 or len(post) != dp:
            raise InvalidValueError(f"{who}: with keep_last_dimension=True the filter needs one "
                                    f"dimension less than pre and post as many as pre; got "
                                    f"pre {pre}, filter {window}, post {post}")
        if post[-1] != pre[-1]:
            raise InvalidValueError(f"{who}: with keep_last_dimension=True post's last size must "
                                    f"equal pre's: pre {pre}, post {post}")
        roles = ["conv"] * (dp - 1) + ["keep"]
    elif dk != dp:
        raise InvalidValueError(f"{who}: the filter must have as many dimensions as pre "
                                f"(or one less with keep_last_dimension=True); got pre {pre}, "
                                f"filter {window}")
    elif len(spatial) == dp:
        roles = ["conv"] * dp
    elif len(spatial) == dp - 1 and spatial:
        if window[-1] != pre[-1]:
            raise InvalidValueError(f"{who}: post {post} has one dimension less than pre {pre}, "
                                    f"so the filter's last size must equal pre's last size "
                                    f"({pre[-1]}), got {window[-1]}")
        roles = ["conv"] * (dp - 1) + ["span"]
    else:
        raise InvalidValueError(f"{who}: post {post} does not fit pre {pre} and filter "
                                f"{window}: post needs as many dimensions as pre, or one less "
                                "when the filter spans pre's last axis"
                                + (", plus the filter axis" if filters is not None else ""))
    axes = []
    for a, role in enumerate(roles):
        if role == "span":
            axes.append(AxisMap("span", None, a))
        elif role == "keep":
            axes.append(AxisMap("keep", a))
        elif explicit:
            axes.append(AxisMap("conv", a, a))
        else:
            if pre[a] % spatial[a]:
                raise InvalidValueError(f"{who}: pre size {pre[a]} on axis {a} is not a multiple "
                                        f"of post size {spatial[a]}; pass subsampling= or "
                                        "change the geometry")
            s = pre[a] // spatial[a]
            axes.append(AxisMap("conv", a, a, s, (s - 1) // 2))
    return tuple(axes)


def check_subsampling(subsampling, spec: WindowSpec) -> np.ndarray:
    who = "Convolution: subsampling"
    table = real_array(subsampling, "Convolution", "subsampling",
                       "integer coordinates (a rectangular list)", dtype=None,
                       wrong_type=InvalidValueError)
    count = math.prod(spec.positions)
    if table.ndim == 1 and len(spec.pre) == 1:  # 1D: a flat list of centres
        table = table[:, None]
    what = "spatial post position" if spec.bank else "post neuron"
    if table.shape != (count, len(spec.pre)):
        raise InvalidValueError(f"{who} needs one row of {len(spec.pre)} pre coordinates per "
                                f"{what}, i.e. shape ({count}, {len(spec.pre)}); got {table.shape}")
    fractional = table != np.round(table)
    if fractional.any():
        row, column = (int(i) for i in np.argwhere(fractional)[0])
        raise InvalidValueError(f"{who} must hold integer coordinates: row {row} has "
                                f"{show(table[row, column])}")
    bad = (table < 0) | (table >= np.array(spec.pre))  # on floats: no int64 overflow
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise InvalidValueError(f"{who}: row {row} = {show([int(c) for c in table[row]])} is "
                                f"outside pre {spec.pre}")
    return table.astype(np.int64)


def pool_extent(pre, post, extent) -> tuple[int, ...]:
    who = "Pooling.connect_pooling"
    if len(post) > len(pre):
        raise InvalidValueError(f"{who}: post {post} has more dimensions than pre {pre}")
    if extent is None:
        if len(post) != len(pre):
            raise InvalidValueError(f"{who}: post {post} has fewer dimensions than pre {pre}; "
                                    "give extent= with one size per pre axis")
        for a, (p, q) in enumerate(zip(pre, post, strict=True)):
            if p % q:
                raise InvalidValueError(f"{who}: pre size {p} on axis {a} is not a multiple of "
                                        f"post size {q}; give extent= explicitly")
        return tuple(p // q for p, q in zip(pre, post, strict=True))
    extent = (extent,) if isinstance(extent, int | np.integer) else extent
    if not isinstance(extent, tuple | list) or len(extent) != len(pre) or not all(
            isinstance(e, int | np.integer) and not isinstance(e, bool | np.timedelta64)
            and e >= 1 for e in extent):
        raise InvalidValueError(f"{who}: extent must be {len(pre)} positive ints (one per pre "
                                f"axis), got {show(extent)}")
    extent = tuple(int(e) for e in extent)
    for a, e in enumerate(extent):
        if a >= len(post) and e != pre[a]:
            raise InvalidValueError(f"{who}: post has no axis {a}, so the extent must cover "
                                    f"pre's axis {a} whole ({pre[a]}), got {show(e)}")
        if a < len(post) and e * post[a] > pre[a]:
            raise InvalidValueError(f"{who}: extent {show(e)} x post size {post[a]} on axis {a} "
                                    f"reaches past pre size {pre[a]}")
    return extent
