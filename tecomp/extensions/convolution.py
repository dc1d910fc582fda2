"""Shared-weight projections, as in ANNarchy's `ANNarchy.extensions.convolution`.

    import tecomp as ann
    from tecomp.extensions.convolution import *

Every check of the page's shape rules happens here, at the call that breaks them; a
failing call leaves the projection as it was.

Each projection also has ANNarchy's everyday projection API: `pre`, `post`, `target`,
`name`, `size` and `len()` (every post neuron receives synapses), `post_ranks`,
`nb_synapses` (taps of one filter × post size: one synapse per tap and post neuron, taps
reaching padding included), `get`/`set` of `weights` (alias `w`) and `connectivity_matrix()`.
"""

import dataclasses
import math

import numpy as np

from .. import constants
from ..errors import EquationError, InvalidTypeError, InvalidValueError, UnknownAttributeError
from ..expr import Kind, constant_problem, names, parse
from ..network import check_projection
from ..population import Population
from ..specs import OPERATIONS, AxisMap, WindowSpec, tap_inputs
from ..values import ITEM_BYTES, fits, number, physical_memory, show, size_of
from .rules import (
    check_filters,
    check_padding,
    check_subsampling,
    check_weights,
    conv_axes,
    pad_filters,
    pool_extent,
    unpad_filters,
)

__all__ = ["Convolution", "Copy", "Pooling"]

# connectivity_matrix() refuses a dense matrix larger than this (post.size × pre.size × 8).
MAX_MATRIX_BYTES = 1 << 30


class _Window:
    """What Convolution and Pooling share: endpoints, target, psp, operation, delays."""

    default_psp = "pre.r"
    psp_names: set[str] = set()

    def __init__(self, pre: Population, post: Population, target: str, psp: str | None,
                 operation: str, name: str | None, own_psp: bool = True):
        who = type(self).__name__
        for role, pop in (("pre", pre), ("post", post)):
            if not isinstance(pop, Population):
                raise InvalidTypeError(f"{who}: {role} must be a Population, "
                                       f"got {type(pop).__name__}")
        check_projection(who, pre, post, target, name)
        if not isinstance(operation, str) or operation not in OPERATIONS:
            raise InvalidValueError(f"{who}: operation must be one of {', '.join(OPERATIONS)}, "
                                    f"got {show(operation)}")
        psp = self.default_psp if psp is None else psp
        if not isinstance(psp, str):
            raise InvalidTypeError(f"{who}: psp must be a string, got {type(psp).__name__}")
        tree = parse(psp, known=self.psp_names | constants.names(), dtype=pre.network.dtype)
        if names(tree, Kind.SUM):
            raise EquationError(f"{who}: psp cannot use sum({sorted(names(tree, 'sum'))[0]}); "
                                "it is a function of w and pre variables only", psp)
        unknown = names(tree, Kind.PRE) - set(pre.attributes)
        if unknown:
            raise EquationError(f"{who}: psp reads pre.{sorted(unknown)[0]}, but pre "
                                f"{pre.name} has only {', '.join(pre.attributes)}", psp)
        if own_psp:
            _check_per_neuron(who, tree, pre)
        self.pre, self.post, self.target = pre, post, target
        self.psp, self.operation = psp, operation
        self.name = name or pre.network.free_projection_name()
        self.delays = 0.0
        self._psp_tree = tree
        self._spec: WindowSpec | None = None
        pre.network.add_projection(self)

    @property
    def connected(self) -> bool:
        return self._spec is not None

    def spec(self, dtype: str = "float64") -> WindowSpec:
        """The pattern, for a network of that precision (compile() asks with the network's:
        a number that this precision no longer fits, since the precision changed after the
        call that gave it, is an error here, before anything is built)."""
        if self._spec is None:
            raise InvalidValueError(f"{self!r} has no connection pattern yet; call "
                                    f"{self._connect_hint}")
        if dtype != "float64":
            self._check_precision(dtype)
        return dataclasses.replace(self._spec, dtype=dtype)

    def _check_precision(self, dtype: str) -> None:
        spec, where = self._spec, f"{type(self).__name__} {self.name}"
        problem = constant_problem(spec.psp, dtype)
        if problem:
            raise InvalidValueError(f"{where}: psp {self.psp!r}: {problem}; the network's "
                                    f"precision is {dtype}")
        if isinstance(spec.padding, float) and fits(np.array(spec.padding), dtype):
            raise InvalidValueError(f"{where}: padding {fits(np.array(spec.padding), dtype)}, "
                                    f"the network's precision")
        weights = self.kernel_weights() if self.weight_source() is self else None
        if weights is not None and fits(weights, dtype):
            raise InvalidValueError(f"{where}: weight {fits(weights, dtype)}, the network's "
                                    "precision")

    def delay_steps(self, dt: float) -> int:
        who = type(self).__name__
        exact = self.delays / dt
        if not exact <= 2**63 - 1:
            raise InvalidValueError(f"{who}: delays={self.delays} ms is more than 2**63 - 1 "
                                    f"steps of dt={dt} ms")
        steps = round(exact)
        if not math.isclose(steps * dt, self.delays, rel_tol=1e-9, abs_tol=1e-12):
            raise InvalidValueError(f"{who}: delays={self.delays} ms is not a "
                                    f"multiple of dt={dt} ms")
        # a delayed projection keeps steps + 1 past values of each pre variable it reads
        need = (steps + 1) * self.pre.size * ITEM_BYTES * max(1, len(names(self._psp_tree,
                                                                           Kind.PRE)))
        memory = physical_memory()
        if steps and memory is not None and need > memory:
            raise InvalidValueError(f"{who}: delays={self.delays} ms is {steps} steps of "
                                    f"dt={dt} ms; the history of pre {self.pre.name} they need "
                                    f"would take {size_of(need)}, more than this machine's "
                                    f"memory ({size_of(memory)})")
        return steps

    def _check_delays(self, delays) -> float:
        rule = "one number of ms >= 0"
        delays = number(delays, type(self).__name__, "delays", rule)
        if delays < 0:
            raise InvalidValueError(f"{type(self).__name__}: delays must be {rule}, "
                                    f"got {delays!r}")
        previous, self.delays = self.delays, delays
        try:
            self.delay_steps(self.pre.network.dt)
        finally:
            self.delays = previous
        return delays

    def _check_open(self) -> None:
        self.pre.network.check_open(f"{type(self).__name__}.connect")

    # -- what the compiled network reads (see tecomp.plan and tecomp.engine) ---------------
    def kernel_inputs(self) -> dict[str, np.ndarray]:
        """The kernel's arguments after the pre values, in order: the weights (none for a
        pooling), the subsampling centres (int32) when they are explicit, then the tap mask
        and scales of filters of several sizes."""
        inputs = {}
        if self.kernel_weights() is not None:
            inputs["weights"] = self.kernel_weights()
        if self.centre_table() is not None:
            inputs["centres"] = np.asarray(self.centre_table(), dtype=np.int32)
        for k, values in enumerate(self.tap_inputs()):  # filters of several sizes
            inputs[f"taps{k}"] = values
        visible = constants.visible(self.pre.network)
        for name in self.constant_names():  # one value each, kept in step by the Constant
            inputs[name] = np.array([visible[name].value])
        return inputs

    def constant_names(self) -> tuple[str, ...]:
        """The Constants the psp reads (an error for one this network does not have)."""
        wanted = self.spec().constants
        visible = constants.visible(self.pre.network)
        for name in wanted:
            if name not in visible:
                raise InvalidValueError(f"{type(self).__name__} {self.name}: its psp reads "
                                        f"{name!r}, which is no Constant of this network; "
                                        f"create it with net.constant({name!r}, value)")
        return wanted

    def kernel_weights(self) -> np.ndarray | None:
        """The weights the kernel takes as an argument (None for pooling)."""
        return None

    def centre_table(self) -> np.ndarray | None:
        """The explicit subsampling centres (a kernel argument), or None."""
        return None

    def weight_source(self) -> "_Window":
        """The projection whose weight buffer this one reads (itself, or a Copy's source)."""
        return self

    # -- save() and load() (see tecomp.saving) ---------------------------------------------
    def _owns_weights(self) -> bool:
        return self.weight_source() is self and self.kernel_weights() is not None

    def saved_state(self) -> dict[str, np.ndarray]:
        """What save() writes: the weights, when this projection owns them (filters of
        several sizes as their padded bank)."""
        if not self._owns_weights():
            return {}
        weights = self.weights
        if isinstance(weights, list):
            weights = pad_filters(weights)[0]
        return {"w": np.asarray(weights, dtype=np.float64)}

    def state_difference(self, stored: dict) -> str | None:
        weights, mine = stored.get("w"), self.kernel_weights() if self._owns_weights() else None
        if (weights is None) != (mine is None) or (mine is not None and
                                                   weights.shape != mine.shape):
            return (f"weights of shape {None if weights is None else weights.shape} in the "
                    f"file, {None if mine is None else mine.shape} in the network")
        return None

    def checked_state(self, stored: dict, who: str) -> dict:
        if not self._owns_weights():
            return {}
        weights = check_weights(stored["w"], self.spec().bank, "weights",
                                self.pre.network.dtype)
        if self.spec().footprints is not None:
            weights = unpad_filters(weights, self.spec().footprints)
        return {"w": weights}

    def restore_state(self, state: dict) -> None:
        if "w" in state:
            self.weights = state["w"]

    def tap_inputs(self) -> list[np.ndarray]:
        """The kernel arguments after the centre table: for a bank of filters of several
        sizes, the tap mask and (mean) each filter's scale (`tecomp.specs.tap_inputs`);
        none otherwise. They follow from the pattern alone, so a Copy has its own."""
        return tap_inputs(self.spec())

    # -- ANNarchy's projection API -----------------------------------------------------------
    @property
    def size(self) -> int:
        """Number of post neurons receiving synapses: all of them, once connected."""
        self.spec()  # an error before the connect_...() call
        return self.post.size

    def __len__(self) -> int:
        return self.size

    @property
    def post_ranks(self) -> list[int]:
        """Ranks of the post neurons receiving synapses: every post rank."""
        return list(range(self.size))

    @property
    def nb_synapses(self) -> int:
        """Taps of one filter (or pooling window) × post size: one synapse per tap and post
        neuron, taps that reach padding included (ANNarchy 5.0.4.1 has no count for shared
        weights: its `nb_synapses` fails on these projections). Filters of several sizes
        count their own taps each."""
        spec = self.spec()
        return math.prod(spec.positions) * sum(spec.filter_taps)

    def _attribute_names(self) -> tuple[str, ...]:
        return ("weights", "w") if self.weight_source().kernel_weights() is not None else ()

    def _check_name(self, name, who: str) -> None:
        if name not in self._attribute_names():
            known = ", ".join(self._attribute_names()) or "none (a pooling has no weights)"
            raise UnknownAttributeError(f"{who}: {self!r} has no attribute {show(name)}; it has "
                                        f"{known}")

    def get(self, name: str) -> np.ndarray:
        """`get('weights')` (or `'w'`): the filter or bank, as `proj.weights`."""
        self._check_name(name, f"{type(self).__name__}.get")
        return self.weights

    def set(self, values: dict) -> None:
        """`set({'weights': array})` (or `'w'`): replace the filter or bank, as
        `proj.weights = array`."""
        who = f"{type(self).__name__}.set"
        if not isinstance(values, dict):
            raise InvalidTypeError(f"{who}: expected a dict {{name: value}}, got "
                                   f"{type(values).__name__}")
        for name in values:
            self._check_name(name, who)
        if len(values) > 1:
            raise InvalidValueError(f"{who}: 'weights' and 'w' are one attribute; give one")
        for value in values.values():
            self.weights = value

    def connectivity_matrix(self, fill: float = 0.0) -> np.ndarray:
        """A dense (post.size, pre.size) float64 matrix: row = post rank, column = pre rank,
        the weight of that tap (1.0 for a pooling window), `fill` where the post neuron has no
        synapse from the pre neuron (ANNarchy's convention). Taps that reach numeric padding
        have no pre neuron and are not in it; with `padding="border"`, taps clamped onto the
        same border neuron add up. Only the weights are shown, not the psp or the operation.
        Refused (an error, no allocation) beyond MAX_MATRIX_BYTES."""
        who = f"{type(self).__name__}.connectivity_matrix"
        spec = self.spec()
        fill = number(fill, who, "fill", "a number", finite=False, dtype=None)
        need = self.post.size * self.pre.size * ITEM_BYTES
        if need > MAX_MATRIX_BYTES:
            raise InvalidValueError(f"{who}: a dense matrix of {self.post.size} post × "
                                    f"{self.pre.size} pre neurons would take {size_of(need)}, "
                                    f"more than {size_of(MAX_MATRIX_BYTES)}; read `weights` "
                                    "and the window centres instead")
        post, pre, weight = self._synapses(spec)
        matrix = np.zeros((self.post.size, self.pre.size))
        np.add.at(matrix, (post, pre), weight)
        connected = np.zeros(matrix.shape, dtype=bool)
        connected[post, pre] = True
        matrix[~connected] = fill
        return matrix

    def _synapses(self, spec: WindowSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(post rank, pre rank, weight) of every tap that reaches a pre neuron."""
        source = self.weight_source()
        weights = source.weights if source.kernel_weights() is not None else \
            np.ones(spec.window)
        if isinstance(weights, list):  # filters of several sizes: their padded bank
            weights = pad_filters(weights)[0]
        filters = weights if spec.bank else weights[np.newaxis]
        count = len(filters)
        taps = np.indices(spec.window).reshape(len(spec.window), -1).T  # (T, window dims)
        centres = self._centre_rows(spec)  # (P, pre dims)
        index, inside = [], np.ones((len(centres), len(taps)), dtype=bool)
        for a, m in enumerate(spec.axes):
            if m.mode == "keep":
                i = np.broadcast_to(centres[:, a:a + 1], inside.shape)
            elif m.mode == "span":
                i = np.broadcast_to(taps[np.newaxis, :, m.window_axis], inside.shape)
            else:
                size = spec.window[m.window_axis]
                i = centres[:, a:a + 1] + taps[np.newaxis, :, m.window_axis] - (size - 1) // 2
            inside &= (i >= 0) & (i < spec.pre[a])
            index.append(np.clip(i, 0, spec.pre[a] - 1))
        pre = np.ravel_multi_index(tuple(index), spec.pre)  # (P, T)
        post = np.arange(len(centres))[:, None] * count + np.arange(count)[None, :]  # (P, F)
        shape = (len(centres), count, len(taps))
        keep = np.ones(shape, dtype=bool) if spec.padding == "border" else \
            np.broadcast_to(inside[:, None, :], shape)
        if spec.masked:  # only each filter's own taps (window order, filters last)
            keep = keep & tap_inputs(spec)[0].reshape(-1, count).T.astype(bool)[None]
        return (np.broadcast_to(post[:, :, None], shape)[keep],
                np.broadcast_to(pre[:, None, :], shape)[keep],
                np.broadcast_to(filters.reshape(count, -1)[None], shape)[keep])

    def _centre_rows(self, spec: WindowSpec) -> np.ndarray:
        """The window centre of every (spatial) post position, in pre coordinates: the
        subsampling table, or offset + stride × post index on each axis."""
        table = self.centre_table()
        if table is not None:
            return np.asarray(table, dtype=np.int64)
        rows = np.indices(spec.positions).reshape(len(spec.positions), -1).T
        columns = []
        for a, m in enumerate(spec.axes):
            if m.mode == "span":
                columns.append(np.full(len(rows), (spec.pre[a] - 1) // 2))
            elif m.mode == "keep":
                columns.append(rows[:, m.post_axis])
            else:
                columns.append(m.offset + m.stride * rows[:, m.post_axis])
        return np.stack(columns, -1).astype(np.int64)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.pre.name} -> {self.post.name}, "
                f"target={self.target!r})")


class Convolution(_Window):
    """A filter (or a bank of filters) shared by every post neuron: a cross-correlation.

    >>> import numpy as np, tecomp as ann
    >>> ann.clear()
    >>> pre = ann.Population((4, 4), ann.Neuron(parameters="r = 0.0"))
    >>> post = ann.Population((2, 2), ann.Neuron(equations="r = sum(exc)"))
    >>> proj = Convolution(pre, post, target="exc")
    >>> proj.connect_filter(np.ones((3, 3)))
    Convolution(pop0 -> pop1, target='exc')
    >>> proj.center(1, 1)
    (2, 2)
    """

    psp_names = {"w"}
    default_psp = "w * pre.r"
    _connect_hint = "connect_filter() or connect_filters()"

    def __init__(self, pre: Population, post: Population, target: str,
                 psp: str = "w * pre.r", operation: str = "sum", name: str | None = None):
        super().__init__(pre, post, target, psp, operation, name)
        self._weights: np.ndarray | None = None
        self._centres: np.ndarray | None = None

    def connect_filter(self, weights, delays: float = 0.0, keep_last_dimension: bool = False,
                       padding: float | str = 0.0, subsampling=None) -> "Convolution":
        """One filter: same dims as pre (or one less with keep_last_dimension=True)."""
        if not isinstance(keep_last_dimension, bool | np.bool_):
            raise InvalidTypeError(f"Convolution.connect_filter: keep_last_dimension must be "
                                   f"True or False, got {type(keep_last_dimension).__name__}")
        return self._connect(weights, False, delays, keep_last_dimension, padding, subsampling)

    def connect_filters(self, weights, delays: float = 0.0, keep_last_dimension: bool = False,
                        padding: float | str = 0.0, subsampling=None) -> "Convolution":
        """A bank: weights[f] is filter f, post's last axis has one neuron per filter.

        `weights` is an array (F, *filter), or a list (tuple) of filters of different sizes,
        all with as many dims as pre (multiple scales): each is centred as its own size
        dictates, exactly as `connect_filter` with that filter alone would centre it, with
        the same subsampling and padding. A list of filters of one shape is that array.

        >>> import numpy as np, tecomp as ann
        >>> ann.clear()
        >>> pre = ann.Population((8, 8), ann.Neuron(parameters="r = 0.0"))
        >>> post = ann.Population((4, 4, 3), ann.Neuron(equations="r = sum(exc)"))
        >>> proj = Convolution(pre, post, "exc")
        >>> proj.connect_filters([np.ones((3, 3)), np.ones((5, 5)), np.ones((1, 1))])
        Convolution(pop0 -> pop1, target='exc')
        >>> [w.shape for w in proj.weights]
        [(3, 3), (5, 5), (1, 1)]
        """
        if not isinstance(keep_last_dimension, bool | np.bool_) or keep_last_dimension:
            raise InvalidValueError("Convolution.connect_filters: a bank of filters cannot be "
                                    "combined with keep_last_dimension=True")
        return self._connect(weights, True, delays, False, padding, subsampling)

    def _connect(self, weights, bank, delays, keep_last, padding, subsampling):
        self._check_open()
        method = "connect_filters" if bank else "connect_filter"
        dtype = self.pre.network.dtype
        weights = check_filters(weights, method, dtype) if bank else \
            check_weights(weights, False, method, dtype)
        footprints = None
        if isinstance(weights, list):  # filters of several sizes: one padded bank
            weights, footprints = pad_filters(weights)
        delays = self._check_delays(delays)
        padding = check_padding(padding, dtype)
        window = weights.shape[1:] if bank else weights.shape
        axes = conv_axes(self.pre.geometry, self.post.geometry, window, weights.shape[0] if
                          bank else None, bool(keep_last), subsampling is not None, method)
        for a, m in enumerate(axes if footprints else ()):
            sizes = [own[a] for own in footprints]
            if m.mode == "span" and set(sizes) != {self.pre.geometry[a]}:
                raise InvalidValueError(
                    f"Convolution.{method}: post {self.post.geometry} has one dimension less "
                    f"than pre {self.pre.geometry}, so every filter's last size must equal "
                    f"pre's last size ({self.pre.geometry[a]}); the filters have {sizes}")
        spec = WindowSpec("Convolution", self.pre.geometry, self.post.geometry, window, axes,
                          self.operation, self._psp_tree, padding, weights=weights.shape,
                          table=subsampling is not None, footprints=footprints)
        centres = None if subsampling is None else check_subsampling(subsampling, spec)
        self._spec, self._weights, self._centres, self.delays = spec, weights, centres, delays
        return self

    def kernel_weights(self) -> np.ndarray | None:
        return self._weights

    def centre_table(self) -> np.ndarray | None:
        return self._centres

    @property
    def weights(self) -> np.ndarray | list[np.ndarray]:
        """The filter (or bank; a list for filters of several sizes), copies; assign the
        same shapes to replace it."""
        if self._weights is None:
            raise InvalidValueError(f"{self!r}: no weights yet; call {self._connect_hint}")
        engine = self.pre.network.engine
        live = self._weights if engine is None else engine.weights(self)
        footprints = self._spec.footprints
        return live.copy() if footprints is None else unpad_filters(live, footprints)

    @weights.setter
    def weights(self, value) -> None:
        if self._weights is None:
            raise InvalidValueError(f"{self!r}: call {self._connect_hint} before setting weights")
        dtype, footprints = self.pre.network.dtype, self._spec.footprints
        if footprints is not None:
            value = check_filters(value, "weights", dtype)
            shapes = tuple(w.shape for w in value)
            if shapes != footprints:
                raise InvalidValueError(f"Convolution.weights: new weights must be a list of "
                                        f"filters of the shapes {list(footprints)}, got "
                                        f"{list(shapes)}")
            value = pad_filters(list(value))[0]
        value = check_weights(value, self._spec.bank, "weights", dtype)
        if value.shape != self._weights.shape:
            raise InvalidValueError(f"Convolution.weights: new weights must have the shape "
                                    f"{self._weights.shape}, got {value.shape}")
        engine = self.pre.network.engine
        if engine is None:
            self._weights = value
        else:
            engine.weights(self)[...] = value

    w = weights  # ANNarchy's name of the weights attribute

    def centres(self) -> np.ndarray:
        """Window centres in pre coordinates, one row per (spatial) post position."""
        spec = self.spec()
        if self._centres is not None:
            return self._centres.copy()
        grids = [np.arange(n) for n in spec.positions]
        rows = np.stack(np.meshgrid(*grids, indexing="ij"), -1).reshape(-1, len(spec.positions))
        columns = []
        for a, m in enumerate(spec.axes):
            if m.mode == "span":
                columns.append(np.full(len(rows), (self.pre.geometry[a] - 1) // 2))
            else:
                step, start = (m.stride, m.offset) if m.mode == "conv" else (1, 0)
                columns.append(start + step * rows[:, m.post_axis])
        return np.stack(columns, -1).astype(np.int64)

    def center(self, *coords) -> tuple[int, ...]:
        """Pre coordinates of the window centre of a post neuron, given by coordinates or rank."""
        spec = self.spec()
        if len(coords) == 1 and isinstance(coords[0], tuple | list | np.ndarray):
            coords = tuple(coords[0])
        for c in coords:
            if isinstance(c, bool | np.timedelta64) or not isinstance(c, int | np.integer):
                raise InvalidTypeError(f"Convolution.center: coordinates and ranks are ints, "
                                       f"got {c!r}")
        if len(coords) == 1 and len(spec.positions) > 1:
            coords = self.post.coordinates_from_rank(int(coords[0]))
        if len(coords) == len(self.post.geometry):
            self.post.rank_from_coordinates(coords)  # range check
            coords = coords[:len(spec.positions)]
        if len(coords) != len(spec.positions) or any(
                not 0 <= c < n for c, n in zip(coords, spec.positions, strict=True)):
            raise InvalidValueError(f"Convolution.center: {coords} is neither a rank nor "
                                    f"coordinates of post {self.post.geometry}")
        rank = int(np.ravel_multi_index(tuple(coords), spec.positions))
        return tuple(int(c) for c in self.centres()[rank])


class Pooling(_Window):
    """Max (min, mean, sum) over non-overlapping windows of pre, one per post neuron.

    >>> import tecomp as ann
    >>> ann.clear()
    >>> pre = ann.Population((100, 100, 10), ann.Neuron(parameters="r = 0.0"))
    >>> post = ann.Population((50, 50), ann.Neuron(equations="r = sum(exc)"))
    >>> Pooling(pre, post, target="exc", operation="max").connect_pooling(extent=(2, 2, 10))
    Pooling(pop0 -> pop1, target='exc')
    """

    _connect_hint = "connect_pooling()"

    def __init__(self, pre: Population, post: Population, target: str, psp: str = "pre.r",
                 operation: str = "max", name: str | None = None):
        super().__init__(pre, post, target, psp, operation, name)

    def connect_pooling(self, extent=None, delays: float = 0.0) -> "Pooling":
        self._check_open()
        delays = self._check_delays(delays)
        extent = pool_extent(self.pre.geometry, self.post.geometry, extent)
        axes = tuple(AxisMap("conv", a, a, e, (e - 1) // 2) if a < len(self.post.geometry)
                     else AxisMap("span", None, a) for a, e in enumerate(extent))
        self._spec = WindowSpec("Pooling", self.pre.geometry, self.post.geometry, extent, axes,
                                self.operation, self._psp_tree, 0.0)
        self.delays = delays
        return self

    pooling = connect_pooling

    @property
    def weights(self):
        """A pooling has no weights."""
        raise UnknownAttributeError(f"{self!r} has no weights: a pooling applies its psp to "
                                    "pre values only")

    @weights.setter
    def weights(self, value) -> None:
        raise UnknownAttributeError(f"{self!r} has no weights to set: a pooling applies its psp "
                                    "to pre values only; use a Convolution for weights")

    w = weights


class Copy(_Window):
    """The pattern and the weights of an existing Convolution or Pooling, applied between
    two other populations of the same geometries; the weights stay shared with the source
    (replacing the source's weights changes both).

    >>> import numpy as np, tecomp as ann
    >>> ann.clear()
    >>> a, b = (ann.Population((8, 8), ann.Neuron(parameters="r = 0.0")) for _ in "ab")
    >>> c, d = (ann.Population((4, 4), ann.Neuron(equations="r = sum(exc)")) for _ in "cd")
    >>> proj = Convolution(a, c, "exc").connect_filter(np.ones((3, 3)))
    >>> Copy(b, d, "exc").connect_copy(proj).weights.shape
    (3, 3)
    """

    psp_names = {"w"}
    _connect_hint = "connect_copy()"

    def __init__(self, pre: Population, post: Population, target: str, psp: str | None = None,
                 operation: str | None = None, name: str | None = None):
        super().__init__(pre, post, target, "w * pre.r" if psp is None else psp,
                         "sum" if operation is None else operation, name, psp is not None)
        self._own = (psp is not None, operation is not None)
        self.source: Convolution | Pooling | None = None

    def connect_copy(self, projection: "Convolution | Pooling") -> "Copy":
        self._check_open()
        if not isinstance(projection, Convolution | Pooling) or not projection.connected:
            raise InvalidTypeError(f"Copy.connect_copy: expected a connected Convolution or "
                                   f"Pooling, got {projection!r}")
        for role in ("pre", "post"):
            mine, theirs = getattr(self, role).geometry, getattr(projection, role).geometry
            if mine != theirs:
                raise InvalidValueError(f"Copy.connect_copy: {role} geometry {mine} differs from "
                                        f"the copied projection's {theirs}")
        spec = projection.spec()
        psp = self._psp_tree if self._own[0] else spec.psp
        if spec.weights is None and "w" in names(psp, Kind.VAR):
            raise EquationError("Copy.connect_copy: the copied Pooling has no weights, so the "
                                "psp cannot use w", self.psp)
        unknown = names(psp, Kind.PRE) - set(self.pre.attributes)
        if unknown:
            raise InvalidValueError(f"Copy.connect_copy: the psp reads pre.{sorted(unknown)[0]}, "
                                    f"which pre {self.pre.name} lacks")
        _check_per_neuron("Copy.connect_copy", psp, self.pre)
        self._spec = dataclasses.replace(spec, psp=psp, operation=self.operation if
                                         self._own[1] else spec.operation)
        self.source, self.delays = projection, projection.delays
        self.psp = self.psp if self._own[0] else projection.psp
        self.operation = self._spec.operation
        return self

    def kernel_weights(self) -> np.ndarray | None:
        return None if self.source is None else self.source.kernel_weights()

    def centre_table(self) -> np.ndarray | None:
        return None if self.source is None else self.source.centre_table()

    def weight_source(self) -> "_Window":
        return self if self.source is None else self.source

    @property
    def weights(self) -> np.ndarray:
        """The source's weights (shared)."""
        if self.source is None or self.kernel_weights() is None:
            raise InvalidValueError(f"{self!r} has no weights; it copies {self.source!r}")
        return self.source.weights

    @weights.setter
    def weights(self, value) -> None:
        source = "its source" if self.source is None else f"its source {self.source.name}"
        raise InvalidValueError(f"Copy.weights: {self!r} shares the weights of {source}; set "
                                "the source's weights instead (both change)")

    w = weights


def _check_per_neuron(who: str, tree, pre: Population) -> None:
    """A projection reads one value per pre neuron: a population-wide pre parameter would need
    a broadcast nobody asked for (tecomp.plan checks it again at compile)."""
    shared = names(tree, Kind.PRE) & pre.neuron.shared
    if shared:
        name = sorted(shared)[0]
        raise InvalidValueError(f"{who}: its psp reads pre.{name}, a population-wide parameter "
                                f"of {pre.name}; declare it per neuron ('{name} = 0.0' in a "
                                f"parameters string, or Parameter(0.0, locality='local') in a "
                                "dict)")
